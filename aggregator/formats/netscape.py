"""Netscape bookmark HTML (every browser, Shaarli, Pinboard, linkding, wallabag): read links with
their folders as tags, and write the format back. Pure: bytes in, dataclasses out and back; no
network, no SQL.

Folders become tags: every folder a link sits in, at any depth, gives one tag named after the
folder; the browsers' root folders ("Bookmarks Toolbar", "Bookmarks Menu", "Other Bookmarks",
"Mozilla Firefox", ...) give none, since every bookmark sits in one of them.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_epoch,
    epoch_from_iso,
    fail,
    split_tags,
)
from aggregator.formats._html import check_tags, count_markup, read_html
from aggregator.models import ImportBatch

ROOT_FOLDERS = frozenset(
    name.casefold()
    for name in (
        "Bookmarks Toolbar",
        "Bookmarks Bar",
        "Bookmarks Menu",
        "Other Bookmarks",
        "Mozilla Firefox",
        "Unsorted Bookmarks",
        "Mobile Bookmarks",
        "Favorites Bar",
        "Favourites Bar",
        "Other Favorites",
        "Bookmarks",
    )
)
# Firefox marks its root folders with these attributes whatever the language.
_ROOT_ATTRS = ("personal_toolbar_folder", "unfiled_bookmarks_folder")
MAX_DEPTH = 64


def looks_like_netscape(text: str) -> bool:
    head = text[:4096]
    return bool(
        re.search(r"<!DOCTYPE\s+NETSCAPE-Bookmark-file", head, re.I)
        or re.search(r"<DT>\s*<(A|H3)\b", text[:200_000], re.I)
    )


class _Reader:
    """A streaming reader over the loose Netscape markup: <DT><H3> names a folder whose links
    follow in the next <DL>; <DT><A> is a link; a <DD> right after it is its note."""

    def __init__(self, found: Collector, path: str | None) -> None:
        self.found = found
        self.path = path
        self.folders: list[str | None] = []  # one per open <DL>; None for a skipped root
        self.next_folder: str | None = None
        self.in_h3 = False
        self.h3_attrs: dict[str, str] = {}
        self.anchor: dict[str, str] | None = None
        self.pending: dict[str, Any] | None = None  # a link waiting for its <DD>
        self.in_dd = False
        self.text: list[str] = []
        self.bad_dates = 0

    # A link is complete once anything but its note text follows it.
    def _flush(self) -> None:
        if self.in_dd and self.pending is not None:
            self.pending["note"] = "".join(self.text)
        self.in_dd = False
        if self.pending is None:
            return
        item, self.pending = self.pending, None
        self.found.attempt(item["attrs"].get("href") or "(no URL)", self._add, item)

    def _add(self, item: dict[str, Any]) -> None:
        raw_date = item["attrs"].get("add_date")
        saved_at = date_from_epoch(raw_date)
        if raw_date and saved_at is None:
            self.bad_dates += 1
        attrs = item["attrs"]
        toread = (attrs.get("toread") or "").strip()
        self.found.add_link(
            attrs.get("href"),
            title=item["title"],
            tags=[*(f for f in self.folders if f), *split_tags(attrs.get("tags"), ",")],
            note=item.get("note"),
            saved_at=saved_at,
            state="unread" if toread == "1" else "read" if toread == "0" else None,
        )

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag in ("dt", "dl", "h3", "a", "hr"):
            self._flush()
        if tag == "dl":
            if len(self.folders) >= MAX_DEPTH:
                raise fail(f"folders nested deeper than {MAX_DEPTH} levels; refused", self.path)
            self.folders.append(self.next_folder)
            self.next_folder = None
        elif tag == "h3":
            self.in_h3, self.h3_attrs, self.text = True, attrs, []
        elif tag == "a":
            self.anchor, self.text = attrs, []
        elif tag == "dd" and self.pending is not None:
            self.in_dd, self.text = True, []

    def end(self, tag: str) -> None:
        if tag == "h3" and self.in_h3:
            self.in_h3 = False
            name = " ".join("".join(self.text).split())
            is_root = name.casefold() in ROOT_FOLDERS or any(
                (self.h3_attrs.get(key) or "").lower() == "true" for key in _ROOT_ATTRS
            )
            self.next_folder = None if is_root or not name else name
        elif tag == "a" and self.anchor is not None:
            self.pending = {"attrs": self.anchor, "title": "".join(self.text)}
            self.anchor = None
        elif tag == "dl":
            self._flush()
            if self.folders:
                self.folders.pop()

    def data(self, data: str) -> None:
        if self.in_h3 or self.anchor is not None or self.in_dd:
            self.text.append(data)


def read_netscape(data: bytes, *, path: str | None = None) -> ImportBatch:
    check_tags(data, path)
    opened = count_markup(data, r"<DL\b")
    closed = count_markup(data, r"</DL\s*>")
    if closed < opened:
        raise fail(f"truncated bookmark file ({opened - closed} folder lists not closed)", path)
    found = Collector(path)
    reader = _Reader(found, path)
    read_html(data, reader, path)
    reader._flush()
    if reader.bad_dates:
        found.warnings.append(f"{reader.bad_dates} bookmarks had an unreadable ADD_DATE")
    return found.batch("netscape")


# --- writing -----------------------------------------------------------------------------

_HEADER = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
"""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _esc(value: Any) -> str:
    return htmllib.escape(_CONTROL.sub("", str(value)), quote=True)


def write_netscape(articles: Sequence[Mapping[str, Any]], *, title: str) -> bytes:
    """A bookmark file every browser and bookmark service imports. Dates in seconds; tags with
    commas have them replaced by spaces (the attribute is comma-separated)."""
    lines = [_HEADER, f"<TITLE>{_esc(title)}</TITLE>", f"<H1>{_esc(title)}</H1>", "<DL><p>"]
    for article in articles:
        url = article.get("url")
        if not url:
            continue
        attrs = [f'HREF="{_esc(url)}"']
        added = epoch_from_iso(article.get("saved_at") or article.get("published"))
        modified = epoch_from_iso(article.get("updated")) or added
        if added is not None:
            attrs.append(f'ADD_DATE="{added}"')
        if modified is not None:
            attrs.append(f'LAST_MODIFIED="{modified}"')
        attrs.append('PRIVATE="1"')
        state = article.get("state")
        attrs.append(f'TOREAD="{1 if state == "unread" else 0}"')
        tags = [" ".join(str(t).replace(",", " ").split()) for t in article.get("tags") or []]
        tags = [t for t in tags if t]
        if tags:
            attrs.append(f'TAGS="{_esc(",".join(tags))}"')
        name = " ".join(str(article.get("title") or url).split())
        lines.append(f"    <DT><A {' '.join(attrs)}>{_esc(name)}</A>")
        note = article.get("note")
        if note:
            lines.append(f"    <DD>{_esc(note)}")
    lines.append("</DL><p>")
    return ("\n".join(lines) + "\n").encode("utf-8")
