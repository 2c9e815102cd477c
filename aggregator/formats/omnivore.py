"""Omnivore JSON export (`metadata_*.json`: title, url, state, labels, savedAt, description,
highlights with their annotations).
Pure: bytes in, an ImportBatch out; no network, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import Collector, date_from_text, highlight_items, split_tags
from aggregator.formats._documents import json_objects
from aggregator.models import ImportBatch


def is_omnivore(document: Any) -> bool:
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    keys = set(document[0])
    return "url" in keys and bool(keys & {"savedAt", "slug", "labels"})


def read_omnivore(data: bytes, *, path: str | None = None) -> ImportBatch:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        state = item.get("state")
        state = state.lower() if isinstance(state, str) else ""
        if state == "deleted":
            found.skip("deleted in Omnivore", item.get("url"))
            return
        labels = item.get("labels")
        if isinstance(labels, list):
            labels = [lab.get("name") if isinstance(lab, Mapping) else lab for lab in labels]
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            tags=split_tags(labels, ","),
            saved_at=date_from_text(item.get("savedAt")),
            state="archived" if state == "archived" else "unread",
            excerpt=item.get("description"),
            highlights=highlight_items(
                item.get("highlights"), quote="quote", note="annotation", created="createdAt"
            ),
        )

    found.each(json_objects(data, path, "an Omnivore export is a JSON array", found), add)
    return found.batch("omnivore")
