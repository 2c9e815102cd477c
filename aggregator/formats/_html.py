"""The HTML event reader of the bookmark formats (Netscape, Pocket's ril_export.html), over
libxml2's HTML parser (lxml). Pure: text in, events out; no network, no SQL.

Python's html.parser is not used: on malformed input ("<a" repeated) it takes quadratic time,
two minutes for 400 KB; libxml2's HTML parser reads any input in one pass."""

from __future__ import annotations

from typing import Any, Protocol

from lxml import etree

from aggregator.formats._common import fail

# Tags ("<" characters) in one HTML bookmark file. Each becomes a few events handled in Python
# (about 600,000 a second), so this bounds the time of one file to seconds; a bookmark takes
# 3-6 tags, so 200,000 bookmarks fit.
MAX_HTML_TAGS = 2_000_000


class HTMLEvents(Protocol):
    """What an HTML reader is told, in document order (tag names in lower case)."""

    def start(self, tag: str, attrs: dict[str, str]) -> None: ...

    def end(self, tag: str) -> None: ...

    def data(self, text: str) -> None: ...


class _Target:
    """lxml's parser target: passes events on, ignores comments and processing instructions."""

    def __init__(self, events: HTMLEvents) -> None:
        self.events = events

    def start(self, tag: Any, attrib: Any) -> None:
        if isinstance(tag, str):
            self.events.start(tag.lower(), {str(k).lower(): str(v) for k, v in attrib.items()})

    def end(self, tag: Any) -> None:
        if isinstance(tag, str):
            self.events.end(tag.lower())

    def data(self, text: str) -> None:
        self.events.data(text)

    def close(self) -> None:
        return None


def read_html(text: str, events: HTMLEvents, path: str | None = None) -> None:
    """Feed an HTML document to `events`. Anything the reader raises stops the parse and comes
    out of here; a document with more than MAX_HTML_TAGS tags is refused before parsing."""
    if text.count("<") > MAX_HTML_TAGS:
        raise fail(f"more than {MAX_HTML_TAGS:,} tags; split the file", path)
    parser = etree.HTMLParser(
        target=_Target(events),
        recover=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
    )
    try:
        parser.feed(text)
        parser.close()
    except etree.LxmlError as error:
        raise fail(f"unreadable HTML ({error})", path) from None
