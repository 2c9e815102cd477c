"""Delicious JSON export (title, url, tags list, description, created epoch). Pure: bytes in, an
ImportBatch out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_epoch,
    json_objects,
    split_tags,
)
from aggregator.models import ImportBatch


def is_delicious(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    keys = set(document[0])
    return {"url", "created"} <= keys and bool(keys & {"others", "owner", "private"})


def read_delicious(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)
    for item in json_objects(data, path, "a Delicious export is a JSON array", found):
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(item.get("tags"), ","),
            note=item.get("description") or None,
            saved_at=date_from_epoch(item.get("created")),
        )
    return found.batch("delicious")
