"""Readability export (`{"bookmarks": [{article__url, article__title, article__excerpt,
date_added, archive, favorite}]}`). Pure: bytes in, an ImportBatch out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    MAX_NOTE,
    Collector,
    date_from_text,
    fail,
    scalar,
    truthy,
)
from aggregator.formats._documents import load_json
from aggregator.models import ImportBatch
from aggregator.sanitize import html_to_text


def is_readability(document: Any) -> bool:
    return isinstance(document, Mapping) and isinstance(document.get("bookmarks"), list)


def read_readability(data: bytes, *, path: str | None = None) -> ImportBatch:
    document = load_json(data, path)
    if not is_readability(document):
        raise fail("not a Readability export", path)
    found = Collector(path)

    def add(item: Any) -> None:
        if not isinstance(item, Mapping):
            found.skip("not an object", None)
            return
        excerpt = scalar(item.get("article__excerpt"))
        found.add_link(
            item.get("article__url"),
            title=item.get("article__title"),
            saved_at=date_from_text(item.get("date_added")),
            state="archived" if truthy(item.get("archive")) else "unread",
            starred=truthy(item.get("favorite")),
            # Excerpts come HTML-escaped ("It&#x2019;s ... polluted&hellip;").
            excerpt=html_to_text(excerpt[:MAX_NOTE]) if excerpt else None,
        )

    found.each(document["bookmarks"], add)
    return found.batch("readability")
