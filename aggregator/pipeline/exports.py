"""Exporting: the articles a filter selects (or, as OPML, the subscriptions) written in one of
the export formats. Reads only; nothing is fetched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import AggregatorError

if TYPE_CHECKING:
    import sqlite_utils


@dataclass(frozen=True)
class Export:
    data: bytes
    count: int
    noun: str  # what was counted: "articles" or "feeds"


def export_articles(
    db: sqlite_utils.Database,
    fmt: str,
    *,
    tags: Sequence[str] = (),
    query: str | None = None,
    feed_url: str | None = None,
    state: str | None = None,
    since: str | None = None,
    group_by: str | None = None,
) -> Export:
    """The export of the articles with all of `tags`, matching `query`, of `feed_url`, in
    `state`, since the date `since` (YYYY-MM-DD or ISO 8601); for OPML, the subscriptions with
    all of `tags` (or the one at `feed_url`). Raises AggregatorError for a date it cannot read."""
    from ..formats import write_export

    since_iso = None
    if since:
        from ..parse import parse_date

        since_iso = parse_date(since if "T" in since else since + "T00:00:00Z")
        if since_iso is None:
            raise AggregatorError(f"not a date: {since}")
    articles: list[dict[str, Any]] = []
    feeds: list[dict[str, Any]] = []
    if fmt == "opml":
        feeds = store.list_feeds(db)
        if feed_url:
            feeds = [f for f in feeds if f["url"] == feed_url]
        if tags:
            wanted = {t.lower() for t in tags}
            feeds = [f for f in feeds if wanted <= {t.lower() for t in f["tags"]}]
    else:
        articles = store.query_articles(
            db, tags=tags, feed_url=feed_url, query=query, state=state, since=since_iso
        )
    data = write_export(fmt, articles=articles, feeds=feeds, group_by=group_by)
    if fmt == "opml":
        return Export(data, len(feeds), "feeds")
    return Export(data, len(articles), "articles")
