"""Pocket exports: the CSV (`part_000000.csv`, columns matched by header name), the older HTML
(`ril_export.html`, Unread / Read Archive sections), the API v3 JSON (`/v3/get`) and the
annotations of the 2025 export (`annotations/part_NNNNNN.json`: highlights with Unix times).
Pure: bytes in, an ImportBatch out; no network, no SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_epoch,
    fail,
    get,
    highlight_items,
    scalar,
    split_tags,
    truthy,
)
from aggregator.formats._documents import csv_header, csv_records, json_objects, load_json
from aggregator.formats._html import check_tags, count_markup, read_html
from aggregator.models import ImportBatch


def is_pocket_csv(data: bytes) -> bool:
    header = set(csv_header(data))
    # Matched by name, not position: Pocket has added and reordered columns over the years.
    return {"url", "time_added"} <= header and bool(header & {"title", "tags", "status"})


def is_pocket_html(text: str) -> bool:
    return bool(
        re.search(r"<title>\s*Pocket Export\s*</title>", text, re.I)
        # [^<>]: each try stops at the next tag (with [^>] "<a <a <a ..." took minutes)
        or re.search(r"<a\s[^<>]*?\btime_added=", text[:100_000], re.I)
    )


def _state(status: Any) -> str | None:
    status = (scalar(status) or "").strip().lower()
    if status in ("archive", "archived", "read"):
        return "archived"
    if status == "unread":
        return "unread"
    return None


def read_pocket_csv(
    data: bytes, *, path: str | None = None, into: Collector | None = None
) -> Collector:
    found = into or Collector(path)
    names, rows = csv_records(data, path, found)
    if "url" not in names:
        raise fail("a Pocket CSV needs a 'url' column", path)

    def add(row: dict[str, str]) -> None:
        found.add_link(
            row.get("url"),
            title=row.get("title"),
            tags=split_tags(row.get("tags"), "|"),
            saved_at=date_from_epoch(row.get("time_added")),
            state=_state(row.get("status")),
            starred=truthy(row.get("favorite", "")),
            excerpt=row.get("excerpt") or None,
        )

    found.each(rows, add)
    return found


class _RilExport:
    """ril_export.html: <h1>Unread</h1><ul><li><a href time_added tags>title</a>... then
    <h1>Read Archive</h1>."""

    def __init__(self, found: Collector) -> None:
        self.found = found
        self.section = ""
        self.in_h1 = False
        self.anchor: dict[str, str] | None = None
        self.text: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "h1":
            self.in_h1, self.text = True, []
        elif tag == "a":
            self.anchor, self.text = attrs, []

    def data(self, data: str) -> None:
        if self.in_h1 or self.anchor is not None:
            self.text.append(data)

    def end(self, tag: str) -> None:
        if tag == "h1" and self.in_h1:
            self.in_h1 = False
            self.section = "".join(self.text).strip().lower()
        elif tag == "a" and self.anchor is not None:
            attrs, self.anchor = self.anchor, None
            self.found.attempt(attrs.get("href") or "(no URL)", self._add, attrs)

    def _add(self, attrs: dict[str, str]) -> None:
        archived = "archive" in self.section or "read" == self.section
        self.found.add_link(
            attrs.get("href"),
            title="".join(self.text),
            tags=split_tags(attrs.get("tags"), ","),
            saved_at=date_from_epoch(attrs.get("time_added")),
            state="archived" if archived else "unread",
        )


def read_pocket_html(data: bytes, *, path: str | None = None) -> Collector:
    check_tags(data, path)
    if count_markup(data, r"<ul\b") != count_markup(data, r"</ul\s*>"):
        raise fail("truncated Pocket HTML export (a list is not closed)", path)
    found = Collector(path)
    read_html(data, _RilExport(found), path)
    return found


def _api_items(document: Any) -> list[Any] | None:
    """The items of an API answer (`{"list": {id: item}}`, or the bare list or mapping)."""
    if isinstance(document, Mapping) and isinstance(document.get("list"), (Mapping, list)):
        document = document["list"]
    if isinstance(document, Mapping):
        document = list(document.values())
    return document if isinstance(document, list) else None


def is_pocket_api(document: Any) -> bool:
    items = _api_items(document)
    if not items:
        return isinstance(document, Mapping) and document.get("list") in ([], {})
    first = items[0]
    return (
        isinstance(first, Mapping)
        and "item_id" in first
        and ("given_url" in first or "resolved_url" in first)
    )


def read_pocket_api(data: bytes, *, path: str | None = None) -> Collector:
    items = _api_items(load_json(data, path))
    if items is None:
        raise fail("not a Pocket API export", path)
    found = Collector(path)

    def add(item: Any) -> None:
        if not isinstance(item, Mapping):
            found.skip("not an object", None)
            return
        status = scalar(item.get("status", "0"))
        if status == "2":  # deleted in Pocket
            found.skip("deleted in Pocket", get(item, "given_url", "resolved_url"))
            return
        tags = item.get("tags")
        found.add_link(
            get(item, "given_url", "resolved_url"),
            title=get(item, "given_title", "resolved_title"),
            tags=list(tags.keys()) if isinstance(tags, Mapping) else split_tags(tags),
            saved_at=date_from_epoch(item.get("time_added")),
            state="archived" if status == "1" else "unread",
            starred=truthy(item.get("favorite")),
            excerpt=item.get("excerpt"),
        )

    found.each(items, add)
    return found


def _fits_annotations(data: bytes, path: str | None) -> bool:
    try:
        return is_pocket_annotations(load_json(data, path))
    except Exception:
        return False


def is_pocket_annotations(document: Any) -> bool:
    """`annotations/part_NNNNNN.json` of Pocket's 2025 export: [{url, title, highlights}]."""
    if not isinstance(document, list) or not document or not isinstance(document[0], Mapping):
        return False
    first = document[0]
    # exactly Pocket's record: other tools' exports (Omnivore) carry highlights among more keys
    return (
        "url" in first
        and isinstance(first.get("highlights"), list)
        and set(first) <= {"url", "title", "highlights"}
    )


def read_pocket_annotations(data: bytes, *, path: str | None = None) -> Collector:
    found = Collector(path)

    def add(item: Mapping[str, Any]) -> None:
        found.add_link(
            item.get("url"),
            title=item.get("title"),
            highlights=highlight_items(
                item.get("highlights"), quote="quote", note="note", created="created_at",
                epoch=True,
            ),
        )

    found.each(json_objects(data, path, "Pocket annotations are a JSON array", found), add)
    return found


def read_pocket(data: bytes, *, path: str | None = None) -> ImportBatch:
    """Any single Pocket file: CSV, HTML, API JSON or the annotations of the 2025 export, told
    apart by content."""
    head = data[:2048].lstrip()
    if head[:1] in (b"[", b"{"):
        if _fits_annotations(data, path):
            return read_pocket_annotations(data, path=path).batch("pocket")
        return read_pocket_api(data, path=path).batch("pocket")
    if head[:1] == b"<":
        return read_pocket_html(data, path=path).batch("pocket")
    return read_pocket_csv(data, path=path).batch("pocket")
