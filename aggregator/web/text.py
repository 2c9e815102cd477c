"""Turning stored values into safe page text: search snippets with only their <mark> tags,
article HTML sanitised again on the way out, tag lists, short dates, and cell previews."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

from ..sanitize import sanitize_html

MARK_RE = re.compile(r"(</?mark>)")
LEADING_HEADING = re.compile(r"^\s*<h[12][^>]*>(.*?)</h[12]>", re.S | re.I)
PREVIEW_CHARS = 160
# A preview is made from the start of a value only: Datasette renders every cell of a page,
# and whole bodies would cost more than the rest of the page.
PREVIEW_SOURCE_CHARS = 2_000


def marked_snippet(value: Any) -> Markup:
    """A search snippet with only <mark> tags kept: everything else is escaped, whatever the
    SQL that produced it (the search query escapes too; this is the second wall)."""
    out = []
    for piece in MARK_RE.split(str(value or "")):
        if piece in ("<mark>", "</mark>"):
            out.append(piece)
        else:
            out.append(str(escape(html.unescape(piece))))
    text = "".join(out)
    # Balance marks a truncated snippet may have left open.
    opened = text.count("<mark>") - text.count("</mark>")
    return Markup(text + "</mark>" * max(0, opened))


def reading_html(value: Any, title: str | None = None) -> Markup:
    """Stored article HTML, sanitised again on the way out (it was sanitised when stored; a
    second pass costs little and covers rows written by older versions or by hand). A leading
    heading that repeats the title is dropped: the page shows the title already."""
    cleaned = sanitize_html(str(value or ""))
    match = LEADING_HEADING.match(cleaned)
    if match and title:
        heading = html.unescape(re.sub(r"<[^>]*>", "", match.group(1)))
        if " ".join(heading.split()).casefold() == " ".join(title.split()).casefold():
            cleaned = cleaned[match.end():]
    return Markup(cleaned)


def tag_list(value: Any) -> list[str]:
    """The tags of a row: a JSON array in the database, a list in Python."""
    if isinstance(value, list):
        return [str(t) for t in value]
    try:
        tags = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def short_date(value: Any) -> str:
    """`2024-05-01T09:30:00Z` -> `1 May 2024`."""
    if not value:
        return ""
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day} {day.strftime('%b %Y')}"


def preview(value: str, *, is_html: bool) -> Markup:
    """A short plain-text preview of a long text or HTML cell."""
    head = value[:PREVIEW_SOURCE_CHARS]
    text = re.sub(r"<[^>]*>", " ", head) if is_html else head
    text = re.sub(r"\s+", " ", html.unescape(text)).strip()
    return Markup(f'<span class="preview">{escape(text[:PREVIEW_CHARS])}…</span>')


class Deferred:
    """Cell HTML made only if a template writes it out. Datasette renders every cell of a
    table page through `render_cell`, but the articles pages show cards made from the rows, so
    the cells' previews and tag links would be made for nothing (~100 previews and 50 tag
    lists a page). Jinja and markupsafe write it through `__html__`, as they do Markup."""

    __slots__ = ("_make", "_made")

    def __init__(self, make: Callable[[], Markup]) -> None:
        self._make = make
        self._made: Markup | None = None

    def __html__(self) -> Markup:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __str__(self) -> str:
        return str(self.__html__())

    def __bool__(self) -> bool:
        return True


def facet_sort(facets: Any, order: list[str]) -> list[Any]:
    """Facets in the order the page lists them (Datasette sorts by number of values), each
    column once: a column also asked for with `?_facet=` keeps the facet metadata.yml
    configures (not hideable)."""
    rank = {name: i for i, name in enumerate(order)}
    chosen: dict[str, Any] = {}
    for facet in facets:
        held = chosen.get(facet["name"])
        if held is None or (held.get("hideable") and not facet.get("hideable")):
            chosen[facet["name"]] = facet
    return sorted(chosen.values(), key=lambda f: rank.get(f["name"], len(rank)))
