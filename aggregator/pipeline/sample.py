"""The shipped sample collection, loaded from disk through the same parse and store steps as a
fetch (works offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import AggregatorError, ParseError

if TYPE_CHECKING:
    import sqlite_utils


def load_sample(db: sqlite_utils.Database, directory: str | Path) -> tuple[int, int]:
    """Load the sample collection from disk through the same parse and store steps as a fetch.
    `manifest.json` lists feeds (file, url, tags, marks) and saved pages (file, url, tags, note,
    state, starred). Sample feeds are stored paused, so `fetch` does not try to reach their
    made-up addresses. Returns (feeds, articles) loaded."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AggregatorError(f"cannot read the sample manifest {manifest_path}: {exc}") from None
    from ..process import parse_and_prepare

    feeds = articles = 0
    for item in manifest.get("feeds", []):
        body = (directory / item["file"]).read_bytes()
        prepared = parse_and_prepare(body, item["url"], item.get("content_type"))
        if prepared.feed is None:
            raise ParseError(f"sample feed {item['file']}: {prepared.error}", url=item["url"])
        feed_id, created = store.add_feed(
            db,
            item["url"],
            title=prepared.feed.title,
            site_url=prepared.feed.site_url,
            tags=item.get("tags", ()),
            status="paused",
            note="sample",
        )
        records = [{**r, "fetch_status": None} for r in prepared.records]
        new, _ = store.store_entries(
            db,
            feed_id,
            records,
            feed_fields={
                "last_fetched_at": store.now_iso(),
                "description": prepared.feed.description or None,
            },
        )
        if created:
            _mark_sample(db, item.get("marks", {}))
        feeds += 1
        articles += new
    for item in manifest.get("pages", []):
        body = (directory / item["file"]).read_bytes()
        article_id, created = store.save_link(
            db,
            item["url"],
            tags=item.get("tags", ()),
            note=item.get("note"),
            saved_at=item.get("saved_at"),
        )
        _store_page(db, article_id, body, url=item["url"], http_charset=None)
        if created:
            _mark_sample(db, {item["url"]: {k: item.get(k) for k in ("state", "starred")}})
        articles += int(created)
    return feeds, articles


def _mark_sample(db: sqlite_utils.Database, marks: dict[str, dict[str, Any]]) -> None:
    """The reading state the sample ships with (read or archived, starred, extra tags), by
    article url. Set only when the load creates the article, so loading the sample again never
    undoes what the reader changed since."""
    for url, mark in marks.items():
        article_id = store.article_id_for_url(db, url)
        if article_id is None:
            continue
        state = mark.get("state")
        if state is not None and state not in store.ARTICLE_STATES:
            raise AggregatorError(f"sample manifest: unknown state {state!r} for {url}")
        if state or mark.get("starred"):
            store.set_state(db, article_id, state=state, starred=mark.get("starred"))
        if mark.get("tags"):
            store.change_tags(db, article_id, add=mark["tags"])


def _store_page(
    db: sqlite_utils.Database,
    article_id: int,
    body: bytes,
    *,
    url: str,
    http_charset: str | None,
    feed_html: str | None = None,
) -> None:
    """Extract a downloaded page and store what it says about the article."""
    from ..extract import extract_article

    article = extract_article(body, url=url, http_charset=http_charset, feed_html=feed_html)
    store.record_page(
        db,
        article_id,
        {
            "title": article.title,
            "author": article.author,
            "published": article.published,
            "site_name": article.site_name,
            "lang": article.lang,
            "image": article.image,
            "excerpt": article.excerpt,
            "text": article.text,
            "content_html": article.content_html,
            "word_count": article.word_count,
            "reading_time": article.reading_time,
            "full_text": 1 if article.text else 0,
            "fetch_status": "ok" if article.text else "no_text",
        },
    )
