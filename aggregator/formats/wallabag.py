"""wallabag JSON exports, v1 (is_read, is_fav, comma-separated tags) and v2 (is_archived,
is_starred, tag list, annotations as highlights), with the full article HTML (passed on raw in
Link.content_html: the service sanitises it before storing). Pure: bytes in, an ImportBatch
out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_text,
    highlight_items,
    split_tags,
    truthy,
)
from aggregator.formats._documents import json_objects
from aggregator.models import ImportBatch


def is_wallabag(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    keys = set(document[0])
    return (
        "url" in keys
        and bool(keys & {"is_archived", "is_read"})
        and bool(keys & {"is_starred", "is_fav"})
    )


def read_wallabag(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        archived = truthy(item.get("is_archived", item.get("is_read")))
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(item.get("tags"), ","),
            saved_at=date_from_text(item.get("created_at")),
            state="archived" if archived else "unread",
            starred=truthy(item.get("is_starred", item.get("is_fav"))),
            content_html=item.get("content"),
            # v2 annotations (annotator.js): the marked `quote`, the reader's `text` beside it
            highlights=highlight_items(
                item.get("annotations"), quote="quote", note="text", created="created_at"
            ),
        )

    found.each(json_objects(data, path, "a wallabag export is a JSON array", found), add)
    return found.batch("wallabag")
