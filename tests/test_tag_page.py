"""The tag page (`/aggregator/articles?_tag=T`, or Datasette's `?tags__arraycontains=T`) at
any tag size: both forms of the tag filter give the same rows, the count is the kept count, and
every facet is there, exact for small selections and counted over the most recently added rows
(and labelled so) for large ones; a facet that cannot be counted is listed as timed out, never
silently missing. No timings."""

from __future__ import annotations

import json
import re
import sys
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from datasette.database import QueryInterrupted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.web import facets
from aggregator.web.app import build_datasette

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import make_collection  # noqa: E402

from tests.webclient import get

FACETS = ("tags", *store.FACET_COLUMNS)



@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tagpage") / "c.db"
    make_collection.build(str(path), 1_500, batch=500, quiet=True)
    return path


def tagged(db: Any, tag: str) -> list[int]:
    return [
        r[0]
        for r in db.execute(
            "SELECT articles.id FROM articles, json_each(articles.tags) j WHERE j.value = ? "
            "ORDER BY articles.id DESC",
            [tag],
        )
    ]


def test_both_filter_forms_same_rows_and_kept_count(
    collection: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = store.open_db(collection)
    top, rare = (
        db.execute(
            f"SELECT name FROM tags WHERE article_count > 0 "
            f"ORDER BY article_count {o}, name LIMIT 1"
        ).fetchone()[0]
        for o in ("DESC", "ASC")
    )
    ds = build_datasette(collection, fetch_saved=False)
    for tag in (top, rare):
        want = tagged(db, tag)
        pages = []
        for big in (0, 10**9):  # every tag "big" (walk newest first), then every tag small
            monkeypatch.setattr(facets, "BIG_TAG", big)
            for arg in facets.TAG_ARGS:  # the links' argument, and Datasette's array filter
                page = get(
                    ds, f"/aggregator/articles.json?{arg}={tag}&_size=max&_shape=objects"
                ).json()
                assert page["filtered_table_rows_count"] == len(want)
                pages.append([r["id"] for r in page["rows"]])
        assert all(p == pages[0] for p in pages) and set(pages[0]) == set(want)


def test_a_tag_link_filters_by_the_tag_alone(collection: Path) -> None:
    """The page a tag link leads to says what it shows, lists the tag as chosen in the tags
    facet with a way back, narrows further with another tag, carries the tag in its cards'
    list, and asks SQLite nothing that reads every article row (json_each over the tags)."""
    db = store.open_db(collection)
    (first, n_first), (second, _) = db.execute(
        "SELECT name, article_count FROM tags ORDER BY article_count DESC LIMIT 2"
    ).fetchall()
    ds = build_datasette(collection, fetch_saved=False)
    link = f"/aggregator/articles?{facets.tag_query(first, n_first)}"
    assert facets.TAG_PARAM in link and "arraycontains" not in link
    # the tags facet of the whole table links there
    assert f'href="{link.replace("&", "&amp;")}"' in get(ds, "/aggregator/articles").text
    page = get(ds, link).text
    assert f"{n_first:,} articles" in page and f'tags contains "{first}"' in unescape(page)
    assert re.search(r'href="/aggregator/articles/\d+\?from=articles%3F_tag%3D', page)
    data = get(ds, link.replace("/articles?", "/articles.json?") + "&_facet_size=max").json()
    assert "json_each" not in data["query"]["sql"]
    chosen = [r for r in data["facet_results"]["tags"]["results"] if r["selected"]]
    assert [r["value"] for r in chosen] == [first]
    back = get(ds, chosen[0]["toggle_url"].replace("http://localhost", "")).json()
    assert back["filtered_table_rows_count"] == db.execute(
        "SELECT count(*) FROM articles"
    ).fetchone()[0]
    both = next(r for r in data["facet_results"]["tags"]["results"] if r["value"] == second)
    narrowed = get(ds, both["toggle_url"].replace("http://localhost", "") + "&_size=max").json()
    assert {r[0] for r in narrowed["rows"]} == set(tagged(db, first)) & set(tagged(db, second))


def test_large_tag_facets_are_sampled_and_labelled(
    collection: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = store.open_db(collection)
    tag = db.execute("SELECT name FROM tags ORDER BY article_count DESC LIMIT 1").fetchone()[0]
    want = tagged(db, tag)
    monkeypatch.setattr(facets, "SAMPLE", 40)
    assert len(want) > 40
    ds = build_datasette(collection, fetch_saved=False)
    page = get(ds, f"/aggregator/articles.json?tags__arraycontains={tag}&_facet_size=max").json()
    assert page["filtered_table_rows_count"] == len(want)
    assert set(FACETS) <= set(page["facet_results"]) and not page.get("facets_timed_out")
    newest = want[:40]
    marks = ",".join("?" * len(newest))
    for column in FACETS:
        info = page["facet_results"][column]
        assert info["sample"] == {"size": 40, "of": len(want)}, column
        got = {r["value"]: r["count"] for r in info["results"]}
        if column == "tags":
            truth = dict(
                db.execute(
                    f"SELECT j.value, count(*) FROM articles, json_each(articles.tags) j "
                    f"WHERE articles.id IN ({marks}) GROUP BY j.value",
                    newest,
                ).fetchall()
            )
        else:
            truth = dict(
                db.execute(
                    f"SELECT {column}, count(*) FROM articles WHERE id IN ({marks}) "
                    f"AND {column} IS NOT NULL GROUP BY {column}",
                    newest,
                ).fetchall()
            )
        assert got == truth, column
    html = get(ds, f"/aggregator/articles?tags__arraycontains={tag}").text
    assert f"Counted in the 40 most recently added of {len(want):,}" in html
    # small selections stay exact and unlabelled
    monkeypatch.setattr(facets, "SAMPLE", 10**6)
    page = get(ds, f"/aggregator/articles.json?tags__arraycontains={tag}").json()
    assert all(page["facet_results"][c]["sample"] is None for c in FACETS)
    states = {r["value"]: r["count"] for r in page["facet_results"]["state"]["results"]}
    assert sum(states.values()) == len(want)


def test_facets_that_cannot_be_counted_are_listed_not_dropped(
    collection: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = store.open_db(collection)
    tag = db.execute("SELECT name FROM tags ORDER BY article_count DESC LIMIT 1").fetchone()[0]
    ds = build_datasette(collection, fetch_saved=False)
    real = ds.execute

    async def slow(database: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "limit :_facet_sample" in sql:
            raise QueryInterrupted(None, sql, {})
        return await real(database, sql, *args, **kwargs)

    monkeypatch.setattr(ds, "execute", slow)
    page = get(ds, f"/aggregator/articles.json?tags__arraycontains={tag}").json()
    assert set(FACETS) <= set(page["facet_results"])
    assert all(page["facet_results"][c]["timed_out"] for c in FACETS)
    html = get(ds, f"/aggregator/articles?tags__arraycontains={tag}").text
    assert "These facets took too long" in html


def test_cards_render_with_tags_links(collection: Path) -> None:
    db = store.open_db(collection)
    tag = db.execute("SELECT name FROM tags ORDER BY article_count DESC LIMIT 1").fetchone()[0]
    ds = build_datasette(collection, fetch_saved=False)
    html = get(ds, f"/aggregator/articles?tags__arraycontains={tag}").text
    assert html.count('<li class="card') == 50
    first = get(
        ds, f"/aggregator/articles.json?tags__arraycontains={tag}&_shape=objects&_size=1"
    ).json()["rows"][0]["id"]
    row = db.execute("SELECT id, tags FROM articles WHERE id = ?", [first]).fetchone()
    # the card's link carries the list it is in (?from=...)
    assert re.search(rf'href="/aggregator/articles/{row[0]}[?"]', html)
    assert all(f"{facets.TAG_PARAM}={t}" in html for t in json.loads(row[1]))


@pytest.fixture(scope="module")
def tag_truth(collection: Path) -> tuple[Any, list[str], dict[int, set[str]]]:
    db = store.open_db(collection)
    names = [r[0] for r in db.execute("SELECT name FROM tags ORDER BY article_count DESC")]
    rows = {i: set(json.loads(t or "[]")) for i, t in db.execute("SELECT id, tags FROM articles")}
    return build_datasette(collection, fetch_saved=False), names, rows


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_tags_in_either_argument_give_exactly_their_articles(
    tag_truth: tuple[Any, list[str], dict[int, set[str]]], data: st.DataObject
) -> None:
    """Real tags and any other text, in the links' argument or Datasette's, up to three: the
    page lists the articles carrying all of them, counted right, and never fails."""
    ds, names, rows = tag_truth
    chosen = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(facets.TAG_ARGS),
                st.sampled_from(names[:3] + names[-3:]) | st.text(max_size=40),
            ),
            min_size=1,
            max_size=3,
        )
    )
    query = "&".join(f"{arg}={quote(name, safe='')}" for arg, name in chosen)
    page = get(ds, f"/aggregator/articles.json?{query}&_size=max&_col=id&_nofacet=1")
    assert page.status_code == 200, page.text[:300]
    wanted = {name for _, name in chosen}
    truth = {i for i, tags in rows.items() if wanted <= tags}
    assert len(truth) <= 1000  # one page of `_size=max` holds them all in this collection
    assert page.json()["filtered_table_rows_count"] == len(truth)
    assert {r[0] for r in page.json()["rows"]} == truth
