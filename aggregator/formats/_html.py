"""The HTML event reader of the bookmark formats (Netscape, Pocket's ril_export.html), over
libxml2's HTML parser (lxml). Pure: text in, events out; no network, no SQL.

Python's html.parser is not used: on malformed input ("<a" repeated) it takes quadratic time,
two minutes for 400 KB; libxml2's HTML parser reads any input in one pass."""

from __future__ import annotations

import codecs
import re
from typing import Any, Protocol

from lxml import etree

from aggregator.formats._common import decode_text, fail, text_encoding

# Tags ("<" characters) in one HTML bookmark file. Each becomes a few events handled in Python
# (about 600,000 a second), so this bounds the time of one file to seconds; a bookmark takes
# 3-6 tags, so 200,000 bookmarks fit.
MAX_HTML_TAGS = 2_000_000
_CHUNK = 1 << 20


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


def check_tags(data: bytes, path: str | None = None) -> None:
    """Refuse a file with more than MAX_HTML_TAGS tags ("<"), before any other work on it."""
    tags = data.count(b"<") or data.count("<".encode("utf-16-le"))
    if tags > MAX_HTML_TAGS:
        raise fail(f"more than {MAX_HTML_TAGS:,} tags; split the file", path)


def count_markup(data: bytes, pattern: str) -> int:
    """How often a pattern that starts with "<" occurs in a file's text (case-insensitive): on
    the bytes for the ASCII-compatible encodings, so that no copy of the text is made. Call
    check_tags first: it bounds the count."""
    encoding, _ = text_encoding(data)
    if encoding == "utf-16":
        return sum(1 for _ in re.finditer(pattern, decode_text(data), re.I))
    return sum(1 for _ in re.finditer(pattern.encode("ascii"), data, re.I))


def read_html(data: bytes, events: HTMLEvents, path: str | None = None) -> None:
    """Feed an HTML file to `events`, decoded as decode_text would (a megabyte at a time, so the
    whole text is never held). Anything the reader raises stops the parse and comes out of here;
    a file with more than MAX_HTML_TAGS tags is refused before parsing."""
    check_tags(data, path)
    encoding, bom = text_encoding(data)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    parser = etree.HTMLParser(
        target=_Target(events),
        recover=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
    )
    view = memoryview(data)[bom:]
    try:
        for start in range(0, len(view), _CHUNK):
            text = decoder.decode(view[start : start + _CHUNK])
            if text:
                parser.feed(text)
        parser.feed(decoder.decode(b"", final=True))
        parser.close()
    except etree.LxmlError as error:
        raise fail(f"unreadable HTML ({error})", path) from None
