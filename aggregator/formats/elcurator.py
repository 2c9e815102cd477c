"""elCurator JSON export (created_at "YYYY-MM-DD HH:MM:SS UTC", title, url, description, tags).
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


def is_elcurator(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    return {"url", "created_at", "is_saved"} <= set(document[0])


def read_elcurator(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(item.get("tags"), ","),
            note=item.get("description") or None,
            saved_at=date_from_text(item.get("created_at")),
        )

    found.each(json_objects(data, path, "an elCurator export is a JSON array", found), add)
    return found.batch("elcurator")
