"""Instapaper CSV export (URL,Title,Selection,Folder[,Timestamp][,Tags]). Folder "Archive" →
archived, "Starred" → starred, "Unread" → unread, any other folder → a tag. Pure: bytes in, an
ImportBatch out; no network, no SQL."""

from __future__ import annotations

import json

from aggregator.formats._common import Collector, date_from_epoch, fail, split_tags
from aggregator.formats._documents import csv_header, csv_records
from aggregator.models import ImportBatch


def is_instapaper_csv(data: bytes) -> bool:
    header = set(csv_header(data))
    return {"url", "title", "folder"} <= header and ("selection" in header or "timestamp" in header)


def _tags(value: str | None) -> list[str]:
    """Newer exports add a Tags column holding a JSON list."""
    if not value:
        return []
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value, parse_int=str, parse_float=str)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, list):
            return split_tags(parsed)
    return split_tags(value, ",")


def read_instapaper(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)
    names, rows = csv_records(data, path, found)
    if "url" not in names:
        raise fail("an Instapaper CSV needs a 'URL' column", path)

    def add(row: dict[str, str]) -> None:
        folder = (row.get("folder") or "").strip()
        key = folder.casefold()
        tags = _tags(row.get("tags"))
        if key not in ("", "unread", "archive", "starred"):
            tags.insert(0, folder)
        found.add_link(
            row.get("url"),
            title=row.get("title"),
            tags=tags,
            note=row.get("selection") or None,
            saved_at=date_from_epoch(row.get("timestamp")),
            state="archived" if key == "archive" else "unread",
            starred=key == "starred",
        )

    found.each(rows, add)
    return found.batch("instapaper")
