"""Highlights that other tools leave in their exports, imported through the CLI on a real SQLite
file: Pocket's 2025 export (annotations beside the CSV, in the zip or on their own), wallabag v2
annotations and Omnivore highlights. Every quote and note is kept; importing twice adds none."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.conftest import rows, run

POCKET_CSV = (
    "title,url,time_added,tags,status\n"
    "Bread,https://pages.example/bread,1700000000,food,unread\n"
    "Owls,https://pages.example/owls,1700000100,,archive\n"
)
POCKET_ANNOTATIONS = [
    {
        "url": "https://pages.example/bread",
        "title": "Bread",
        "highlights": [
            {"quote": "starch granules absorb water", "created_at": 1700000500},
            {"quote": "the loaf cools", "created_at": 1700000600},
        ],
    },
    {
        "url": "https://pages.example/only-annotated",
        "title": "Only annotated",
        "highlights": [{"quote": "a passage", "created_at": 1700000700}],
    },
]


def highlights(db_path: Path) -> list[tuple[str, str, str | None]]:
    return [
        (r[0], r[1], r[2])
        for r in rows(
            db_path,
            "SELECT a.url, h.quote, h.note FROM highlights h JOIN articles a "
            "ON a.id = h.article_id ORDER BY a.url, h.quote",
        )
    ]


def test_pocket_zip_with_annotations(db_path: Path, tmp_path: Path) -> None:
    archive = tmp_path / "pocket.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("part_000000.csv", POCKET_CSV)
        z.writestr("annotations/part_000000.json", json.dumps(POCKET_ANNOTATIONS))
    out = run("import", str(archive))
    assert "3 new highlights" in out.output
    assert highlights(db_path) == [
        ("https://pages.example/bread", "starch granules absorb water", None),
        ("https://pages.example/bread", "the loaf cools", None),
        ("https://pages.example/only-annotated", "a passage", None),
    ]
    created = rows(db_path, "SELECT min(created_at) FROM highlights")[0][0]
    assert created.startswith("2023-11-14")  # Unix seconds read as such
    again = run("import", str(archive))
    assert "0 new highlights (3 already there)" in again.output
    assert len(highlights(db_path)) == 3


def test_pocket_annotations_file_on_its_own(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "part_000000.json"
    path.write_text(json.dumps(POCKET_ANNOTATIONS))
    run("import", str(path))
    assert len(highlights(db_path)) == 3


def test_wallabag_v2_annotations_keep_quote_and_note(db_path: Path, tmp_path: Path) -> None:
    export = [
        {
            "is_archived": 0,
            "is_starred": 1,
            "tags": ["science"],
            "title": "Bread",
            "url": "https://pages.example/bread",
            "content": "<p>When bread bakes, starch granules absorb water.</p>",
            "created_at": "2024-03-04T10:00:00+00:00",
            "annotations": [
                {
                    "text": "why it goes stale",
                    "quote": "starch granules absorb water",
                    "ranges": [{"start": "/p[1]", "startOffset": 18, "end": "/p[1]", "endOffset": 46}],
                    "created_at": "2024-03-05T08:00:00+00:00",
                },
                {"text": "", "quote": "When bread bakes", "ranges": []},
            ],
        }
    ]
    path = tmp_path / "wallabag.json"
    path.write_text(json.dumps(export))
    run("import", str(path))
    run("import", str(path))
    assert highlights(db_path) == [
        ("https://pages.example/bread", "When bread bakes", None),
        ("https://pages.example/bread", "starch granules absorb water", "why it goes stale"),
    ]
    listed = json.loads(run("highlights", "--format", "json").output)
    assert {h["quote"] for h in listed} == {"When bread bakes", "starch granules absorb water"}


def test_omnivore_highlights(db_path: Path, tmp_path: Path) -> None:
    export = [
        {
            "title": "Owls",
            "url": "https://pages.example/owls",
            "slug": "owls",
            "labels": ["birds"],
            "savedAt": "2024-01-01T00:00:00.000Z",
            "state": "Archived",
            "highlights": [
                {"quote": "owls hunt at dusk", "annotation": "check this", "createdAt": "2024-01-02T00:00:00.000Z"},
                {"quote": None, "annotation": "a note with no quote is left out"},
            ],
        }
    ]
    path = tmp_path / "metadata_0_to_1.json"
    path.write_text(json.dumps(export))
    run("import", str(path))
    assert highlights(db_path) == [("https://pages.example/owls", "owls hunt at dusk", "check this")]
