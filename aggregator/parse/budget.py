"""The work one document may cost a parser, bounded before it starts. Pure.

Both parsers spend their time per tag: feedparser about 20-35 µs (a 15 MB body of `<x/>` would
take two minutes), fastparse a few µs and an ElementTree node each; feedparser's relative-URI
resolver also reads escaped markup (`&lt;p&gt;`, two ampersands a tag) and is slow on bare
ampersands (3 million: 5 s); its strict parser spends about 4 µs an attribute (more on crowded
tags: 30,000 tags of 60 attributes took 7.5 s). So for feedparser a document's markup is its `<`,
half its `&` and a quarter of its attributes (`="`). fastparse builds nodes only for the
document's own elements: markup inside CDATA sections and escaped markup are text to it, which
the sanitiser reads in linear time, so its
budget counts the `<` and attributes outside CDATA sections (`structure_only`); the bodies it
still hands to feedparser's resolver have a budget of their own (feedrules.RESOLVER_BUDGET).
A document is cut at an entry boundary and closed once it has more than `max_entries` entries
or more markup than its parser's budget; the entries before the cut are kept. A document whose
markup before its first entry passes the budget is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

FAST_MARKUP = 300_000  # tags fastparse may build (about 1 s and 60 MB)
SLOW_MARKUP = 100_000  # tags feedparser may read (about 3 s)

_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(item|entry)[\s/>]")


@dataclass(frozen=True)
class Cut:
    body: bytes
    warning: str | None = None


def cut_document(
    body: bytes, *, max_entries: int, max_markup: int, url: str, structure_only: bool = False
) -> Cut:
    """`body` cut before its first entry past `max_entries` or past `max_markup` tags, and
    closed; ParseError when there is no entry to cut before. With `structure_only`, markup
    inside CDATA sections and ampersands are not counted."""
    # Every unit of markup takes at least one byte of its own and every entry six: most
    # documents are too short to pass either limit, and need no counting at all.
    if len(body) <= max_markup and len(body) // 6 <= max_entries:
        return Cut(body)
    _markup = _Structure(body).markup if structure_only else _all_markup
    tags = _markup(body, 0, len(body))
    # Each entry takes at least 6 bytes and a "<": a body too short or with too few "<" to
    # hold more than max_entries of them is not scanned.
    if tags <= max_markup and (len(body) // 6 <= max_entries or body.count(b"<") <= max_entries):
        return Cut(body)
    seen, previous = 0, 0
    last: re.Match[bytes] | None = None
    for count, match in enumerate(_ENTRY_START.finditer(body), 1):
        seen += _markup(body, previous, match.start())
        previous = match.start()
        if seen > max_markup:
            return _cut_before(body, last, f"more than {max_markup} tags", url)
        if count > max_entries:
            return _cut_before(body, match, f"more than {max_entries} entries", url)
        last = match
    if tags > max_markup:
        return _cut_before(body, last, f"more than {max_markup} tags", url)
    return Cut(body)


def _all_markup(body: bytes, start: int, end: int) -> int:
    amps = body.count(b"&", start, end)
    attributes = body.count(b'="', start, end) + body.count(b"='", start, end)
    return body.count(b"<", start, end) + amps // 2 + attributes // 4


def _tags(body: bytes, start: int, end: int) -> int:
    attributes = body.count(b'="', start, end) + body.count(b"='", start, end)
    return body.count(b"<", start, end) + attributes // 4


class _Structure:
    """Counts of tags outside CDATA sections, for ranges asked in increasing order (the calls
    of one cut_document), in time linear in the body."""

    def __init__(self, body: bytes) -> None:
        self.sections: list[tuple[int, int]] = []
        at = body.find(b"<![CDATA[")
        while at >= 0:
            end = body.find(b"]]>", at + 9)
            end = len(body) if end < 0 else end + 3
            self.sections.append((at, end))
            at = body.find(b"<![CDATA[", end)
        self.first = 0  # sections before it end before every range still to be asked

    def markup(self, body: bytes, start: int, end: int) -> int:
        if start == 0 and end == len(body):  # the whole body: asked once, first
            return _tags(body, 0, end) - sum(_tags(body, a, b) for a, b in self.sections)
        total = _tags(body, start, end)
        i = self.first
        while i < len(self.sections) and self.sections[i][0] < end:
            a, b = self.sections[i]
            if b > start:
                total -= _tags(body, max(a, start), min(b, end))
            if b <= end:
                self.first = i + 1
            i += 1
        return total


def _cut_before(body: bytes, entry: re.Match[bytes] | None, why: str, url: str) -> Cut:
    if entry is None:
        raise ParseError(f"refused: the document has {why} before its first entry", url=url)
    head = body[:2048].lower()
    closer = (
        b"</feed>"
        if entry.group(1) == b"entry"
        else b"</rdf:RDF>"
        if b"<rdf:rdf" in head
        else b"</channel></rss>"
    )
    kept = body[: entry.start()]
    return Cut(
        kept + closer, f"document cut after {len(_ENTRY_START.findall(kept))} entries: {why}"
    )
