"""Pocket exports: the CSV (`part_000000.csv`, columns matched by header name), the older HTML
(`ril_export.html`, Unread / Read Archive sections) and the API v3 JSON (`/v3/get`).
Pure: bytes in, an ImportBatch out; no network, no SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from aggregator.formats._common import (
    Collector,
    csv_header,
    csv_records,
    date_from_epoch,
    decode_text,
    fail,
    get,
    load_json,
    split_tags,
    truthy,
)
from aggregator.models import ImportBatch


def is_pocket_csv(data: bytes) -> bool:
    header = set(csv_header(data))
    # Matched by name, not position: Pocket has added and reordered columns over the years.
    return {"url", "time_added"} <= header and bool(header & {"title", "tags", "status"})


def is_pocket_html(text: str) -> bool:
    return bool(
        re.search(r"<title>\s*Pocket Export\s*</title>", text, re.I)
        or re.search(r"<a\s[^>]*\btime_added=", text[:100_000], re.I)
    )


def _state(status: str | None) -> str | None:
    status = (status or "").strip().lower()
    if status in ("archive", "archived", "read"):
        return "archived"
    if status == "unread":
        return "unread"
    return None


def read_pocket_csv(
    data: bytes, *, path: str | None = None, into: Collector | None = None
) -> Collector:
    names, rows = csv_records(data, path)
    if "url" not in names:
        raise fail("a Pocket CSV needs a 'url' column", path)
    found = into or Collector(path)
    for row in rows:
        found.add_link(
            row.get("url"),
            title=row.get("title"),
            tags=split_tags(row.get("tags"), "|"),
            saved_at=date_from_epoch(row.get("time_added")),
            state=_state(row.get("status")),
            starred=truthy(row.get("favorite", "")),
            excerpt=row.get("excerpt") or None,
        )
    return found


class _RilExport(HTMLParser):
    """ril_export.html: <h1>Unread</h1><ul><li><a href time_added tags>title</a>... then
    <h1>Read Archive</h1>."""

    def __init__(self, found: Collector) -> None:
        super().__init__(convert_charrefs=True)
        self.found = found
        self.section = ""
        self.in_h1 = False
        self.anchor: dict[str, str | None] | None = None
        self.text: list[str] = []
        self.anchors = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h1":
            self.in_h1, self.text = True, []
        elif tag == "a":
            self.anchor, self.text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self.in_h1 or self.anchor is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self.in_h1:
            self.in_h1 = False
            self.section = "".join(self.text).strip().lower()
        elif tag == "a" and self.anchor is not None:
            attrs, self.anchor = self.anchor, None
            self.anchors += 1
            self.found.add_link(
                attrs.get("href"),
                title="".join(self.text),
                tags=split_tags(attrs.get("tags"), ","),
                saved_at=date_from_epoch(attrs.get("time_added")),
                state="archived"
                if "archive" in self.section or "read" == self.section
                else "unread",
            )


def read_pocket_html(data: bytes, *, path: str | None = None) -> Collector:
    text = decode_text(data)
    if len(re.findall(r"<ul\b", text, re.I)) != len(re.findall(r"</ul\s*>", text, re.I)):
        raise fail("truncated Pocket HTML export (a list is not closed)", path)
    found = Collector(path)
    parser = _RilExport(found)
    parser.feed(text)
    parser.close()
    return found


def _api_items(document: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(document, Mapping) and isinstance(document.get("list"), (Mapping, list)):
        document = document["list"]
    if isinstance(document, Mapping):
        document = list(document.values())
    if isinstance(document, list) and all(isinstance(item, Mapping) for item in document):
        return document
    return None


def is_pocket_api(document: Any) -> bool:
    items = _api_items(document)
    if not items:
        return isinstance(document, Mapping) and document.get("list") in ([], {})
    first = items[0]
    return "item_id" in first and ("given_url" in first or "resolved_url" in first)


def read_pocket_api(data: bytes, *, path: str | None = None) -> Collector:
    items = _api_items(load_json(data, path))
    if items is None:
        raise fail("not a Pocket API export", path)
    found = Collector(path)
    for item in items:
        status = str(item.get("status", "0"))
        if status == "2":  # deleted in Pocket
            found.skip("deleted in Pocket", get(item, "given_url", "resolved_url"))
            continue
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
    return found


def read_pocket(data: bytes, *, path: str | None = None) -> ImportBatch:
    """Any single Pocket file: CSV, HTML or API JSON, told apart by content."""
    head = data[:2048].lstrip()
    if head[:1] in (b"[", b"{"):
        return read_pocket_api(data, path=path).batch("pocket")
    if head[:1] == b"<":
        return read_pocket_html(data, path=path).batch("pocket")
    return read_pocket_csv(data, path=path).batch("pocket")
