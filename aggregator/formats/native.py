"""Our own JSON export: an array of article objects with the export fields (url, title, tags,
note, saved_at, state, starred, excerpt, content_html, ...). Written by write_json, read back by
read_native so an export round-trips. Pure: no network, no SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats._common import Collector, date_from_text, split_tags, truthy
from aggregator.formats._documents import json_objects
from aggregator.models import ARTICLE_FIELDS, ImportBatch

STATES = ("unread", "read", "archived")
_MARKERS = {"saved_at", "state", "starred", "feed_url", "word_count", "saved", "note"}


def is_native(document: Any) -> bool:
    """An array of objects with a url and some of our export fields (an empty array counts)."""
    if not isinstance(document, list):
        return False
    if not document:
        return True
    first = document[0]
    return isinstance(first, Mapping) and "url" in first and bool(_MARKERS & set(first))


def read_native(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        state = item.get("state")
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(item.get("tags"), ","),
            note=item.get("note"),
            # A feed entry never saved carries its published date over (as netscape's ADD_DATE).
            saved_at=(
                date_from_text(item.get("saved_at")) or date_from_text(item.get("published"))
            ),
            state=state if isinstance(state, str) and state in STATES else None,
            starred=truthy(item.get("starred")),
            excerpt=item.get("excerpt"),
            # Raw as far as we know (anyone may have edited the file): the service sanitises it.
            content_html=item.get("content_html"),
        )

    not_a_list = "an Aggregator export is a JSON array of articles"
    found.each(json_objects(data, path, not_a_list, found), add)
    return found.batch("json")


def export_row(article: Mapping[str, Any]) -> dict[str, Any]:
    """The article with exactly the export fields, in their order; missing ones as None."""
    row = {name: article.get(name) for name in ARTICLE_FIELDS}
    row["tags"] = [str(tag) for tag in (article.get("tags") or [])]
    row["saved"] = bool(article.get("saved"))
    row["starred"] = bool(article.get("starred"))
    row["highlights"] = [
        {"quote": h.get("quote"), "note": h.get("note"), "created_at": h.get("created_at")}
        for h in article.get("highlights") or []
    ]
    return row


def write_json(articles: Sequence[Mapping[str, Any]]) -> bytes:
    rows = [export_row(article) for article in articles]
    return json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
