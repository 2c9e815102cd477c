"""The work one document may cost a parser, bounded before it starts. Pure.

Both parsers spend their time per tag: feedparser about 20-35 µs (a 15 MB body of `<x/>` would
take two minutes), fastparse a few µs and an ElementTree node each; feedparser's relative-URI
resolver also reads escaped markup (`&lt;p&gt;`, two ampersands a tag) and is slow on bare
ampersands (3 million: 5 s); its strict parser spends about 4 µs an attribute (more on crowded
tags: 30,000 tags of 60 attributes took 7.5 s). So a document's markup is its `<`, half its `&`
and a quarter of its attributes (`="`). It is cut at an entry boundary and closed once it has
more than `max_entries` entries or more markup than its parser's budget; the entries before the
cut are kept. A document whose markup before its first entry passes the budget is refused.
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


def cut_document(body: bytes, *, max_entries: int, max_markup: int, url: str) -> Cut:
    """`body` cut before its first entry past `max_entries` or past `max_markup` tags, and
    closed; ParseError when there is no entry to cut before."""
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


def _markup(body: bytes, start: int, end: int) -> int:
    amps = body.count(b"&", start, end)
    attributes = body.count(b'="', start, end) + body.count(b"='", start, end)
    return body.count(b"<", start, end) + amps // 2 + attributes // 4


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
