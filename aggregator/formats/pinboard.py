"""Pinboard JSON export (`/v1/posts/all?format=json`: href, description = title, extended =
note, time, toread, space-separated tags).
Pure: bytes in, an ImportBatch out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_text,
    split_tags,
)
from aggregator.formats._documents import json_objects
from aggregator.models import ImportBatch


def is_pinboard(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    return "href" in document[0] and ("description" in document[0] or "time" in document[0])


def read_pinboard(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        found.add_link(
            item.get("href"),
            title=item.get("description"),
            tags=split_tags(item.get("tags"), " "),
            note=item.get("extended") or None,
            saved_at=date_from_text(item.get("time")),
            state="unread" if str(item.get("toread", "")).lower() == "yes" else "read",
        )

    found.each(json_objects(data, path, "a Pinboard export is a JSON array", found), add)
    return found.batch("pinboard")
