"""Delicious JSON export (title, url, tags list, description, created epoch). Pure: bytes in, an
ImportBatch out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_epoch,
    split_tags,
)
from aggregator.formats._documents import json_objects
from aggregator.models import ImportBatch


def is_delicious(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    keys = set(document[0])
    return {"url", "created"} <= keys and bool(keys & {"others", "owner", "private"})


def read_delicious(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(item.get("tags"), ","),
            note=item.get("description") or None,
            saved_at=date_from_epoch(item.get("created")),
        )

    found.each(json_objects(data, path, "a Delicious export is a JSON array", found), add)
    return found.batch("delicious")
