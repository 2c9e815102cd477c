"""Browser bookmark backups in JSON: Firefox (`bookmarks-*.json`, places tree) and Chrome/Chromium
(the `Bookmarks` profile file). Folders become tags as in netscape.py. Pure: bytes in, an
ImportBatch out; no network, no SQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from aggregator.formats._common import (
    Collector,
    date_from_epoch,
    fail,
    iso,
    scalar,
    split_tags,
)
from aggregator.formats._documents import load_json
from aggregator.formats.netscape import ROOT_FOLDERS
from aggregator.models import ImportBatch

MAX_DEPTH = 64
_FIREFOX_ROOTS = {
    "placesRoot",
    "bookmarksMenuFolder",
    "toolbarFolder",
    "unfiledBookmarksFolder",
    "mobileFolder",
    "tagsFolder",
}
_WEBKIT_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)
_MICROS = re.compile(r"[0-9]{1,20}")
Visit = Callable[[Mapping[str, Any], tuple[str, ...]], "tuple[str, ...] | None"]


def is_firefox(document: Any) -> bool:
    return isinstance(document, Mapping) and (
        str(document.get("type", "")).startswith("text/x-moz-place")
        or document.get("root") == "placesRoot"
    )


def is_chrome(document: Any) -> bool:
    return isinstance(document, Mapping) and isinstance(document.get("roots"), Mapping)


def _walk(found: Collector, start: Any, children_key: str, visit: Visit, path: str | None) -> None:
    """Depth-first over a JSON folder tree without recursion; visit(node, folders) per node,
    each inside its own boundary (a node that raises is skipped, and so are its children)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(start, ())]
    while stack:
        node, folders = stack.pop()
        if not isinstance(node, Mapping):
            continue
        inner = found.attempt(shown_node(node), visit, node, folders)
        children = node.get(children_key)
        if isinstance(children, list) and inner is not None:
            if len(inner) > MAX_DEPTH:
                raise fail(f"folders nested deeper than {MAX_DEPTH} levels; refused", path)
            stack.extend((child, inner) for child in reversed(children))


def shown_node(node: Mapping[str, Any]) -> str:
    """How a warning names a node of the tree."""
    return (
        scalar(node.get("uri") or node.get("url") or node.get("title") or node.get("name"))
        or "(a node)"
    )


def _description(node: Mapping[str, Any]) -> str | None:
    """Older Firefox backups keep a bookmark's description in its annotations."""
    annos = node.get("annos")
    for anno in annos if isinstance(annos, list) else []:
        if isinstance(anno, Mapping) and anno.get("name") == "bookmarkProperties/description":
            return scalar(anno.get("value")) or None
    return None


def read_firefox(data: bytes, *, path: str | None = None) -> ImportBatch:
    document = load_json(data, path)
    if not is_firefox(document):
        raise fail("not a Firefox bookmark backup", path)
    found = Collector(path)

    def visit(node: Mapping[str, Any], folders: tuple[str, ...]) -> tuple[str, ...] | None:
        kind = node.get("type")
        if kind == "text/x-moz-place":
            found.add_link(
                node.get("uri"),
                title=node.get("title"),
                tags=[*folders, *split_tags(node.get("tags"), ",")],
                note=_description(node),
                saved_at=date_from_epoch(node.get("dateAdded")),  # microseconds
            )
            return None
        if kind == "text/x-moz-place-container":
            name = (scalar(node.get("title")) or "").strip()
            if node.get("root") in _FIREFOX_ROOTS or not name or name.casefold() in ROOT_FOLDERS:
                return folders
            return (*folders, name)
        return None  # separators

    _walk(found, document, "children", visit, path)
    return found.batch("firefox")


def _webkit_date(value: Any) -> str | None:
    """Chrome dates: microseconds since 1601-01-01 UTC, written as a string of ASCII digits."""
    text = scalar(value)
    if text is None or not _MICROS.fullmatch(text.strip()):
        return None
    micros = int(text.strip())
    if micros <= 0:
        return None
    try:
        moment = _WEBKIT_EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None
    return iso(moment) if 1971 <= moment.year < 2100 else None


def read_chrome(data: bytes, *, path: str | None = None) -> ImportBatch:
    document = load_json(data, path)
    if not is_chrome(document):
        raise fail("not a Chrome bookmark file", path)
    found = Collector(path)

    def visit(node: Mapping[str, Any], folders: tuple[str, ...]) -> tuple[str, ...] | None:
        if node.get("type") == "url":
            found.add_link(
                node.get("url"),
                title=node.get("name"),
                tags=folders,
                saved_at=_webkit_date(node.get("date_added")),
            )
            return None
        name = (scalar(node.get("name")) or "").strip()
        return (*folders, name) if name else folders

    for root in document["roots"].values():
        # The roots themselves (bookmark bar, other, mobile; named in the user's language)
        # give no tag: start below them.
        if isinstance(root, Mapping):
            for child in root.get("children") or []:
                _walk(found, child, "children", visit, path)
    return found.batch("chrome")
