"""fastparse gives what feedparser gives: every feed of the shared corpora is parsed both ways
(with and without an HTTP content type) and the results must be equal on what issue 7 names
(titles, links, ids, dates, authors, content text) and on every other field an entry record is
built from (categories, image, enclosures, feed title, site and description, warnings). Content
is compared as text (`html_to_text` of the sanitised HTML, as `process.prepare_entry` stores it):
fastparse leaves entry bodies as the feed wrote them instead of re-serialising them the way
feedparser's relative-URI resolver does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import fastparse
from aggregator.models import ParsedFeed
from aggregator.parse import parse_feed, xmlfeed
from aggregator.parse.guard import transcode
from aggregator.sanitize import html_to_text, sanitize_html
from tests.conftest import CORPORA, DATA, corpus

CORPUS = CORPORA / "feeds"
# The sets of the shared corpora, named when they are present; the test skips with the reason
# when they are not (tests/data/feeds covers every parser path in a fresh clone).
SETS = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else ["(none)"]
URL = "http://example.com/feeds/feed.xml"
VARIANTS = ((None, None), ("application/rss+xml", "utf-8"))


def _files(name: str) -> list[Path]:
    out = []
    for folder, _, files in os.walk(CORPUS / name):
        for f in files:
            if f.endswith((".tsv", ".md", ".txt")) or f.startswith("LICENSE"):
                continue
            out.append(Path(folder) / f)
    return sorted(out)


def _text(html: str) -> str:
    return html_to_text(sanitize_html(html, base_url=URL))


def _compared(feed: ParsedFeed) -> object:
    entries = [
        {
            "key": e.key,
            "url": e.url,
            "title": e.title,
            "author": e.author,
            "published": e.published,
            "updated": e.updated,
            "categories": e.categories,
            "image": e.image,
            "enclosures": e.enclosures,
            "content_text": _text(e.content_html),
            "summary_text": _text(e.summary_html),
        }
        for e in feed.entries
    ]
    return {
        "version": feed.version,
        "title": feed.title,
        "site_url": feed.site_url,
        "description": feed.description,
        "ttl_minutes": feed.ttl_minutes,
        "warnings": feed.warnings,
        "entries": entries,
    }


def _parse(body: bytes, fast: bool, ctype: str | None, charset: str | None) -> object:
    try:
        return _compared(parse_feed(body, url=URL, content_type=ctype, charset=charset, fast=fast))
    except Exception as exc:  # the same error both ways counts as equal
        return (type(exc).__name__, str(exc))


def _uses_fast_path(body: bytes, ctype: str | None, charset: str | None) -> bool:
    """Whether parse_feed's XML path hands this document to fastparse (as UTF-8, as it does)."""
    safe = transcode(body, charset=charset)
    return (
        fastparse.read_feed(
            safe.body,
            url=URL,
            content_type=ctype or "application/xml",
            charset="utf-8",
            helpers=xmlfeed._fast_helpers(),
        )
        is not None
    )


def _compare(paths: list[Path]) -> int:
    """Each document parsed both ways (fast and feedparser) with and without a content type:
    equal results wherever fastparse reads it. Returns how many readings took the fast path."""
    fast_count = 0
    for path in paths:
        body = path.read_bytes()
        for ctype, charset in VARIANTS:
            if not _uses_fast_path(body, ctype, charset):
                continue
            fast_count += 1
            fast = _parse(body, True, ctype, charset)
            slow = _parse(body, False, ctype, charset)
            assert fast == slow, f"{path} ({ctype}): fastparse differs from feedparser"
    return fast_count


@pytest.mark.parametrize("name", SETS)
def test_fastparse_equals_feedparser_on_corpus(name: str) -> None:
    corpus("feeds")
    corpus("feeds", name)
    fast_count = _compare(_files(name))
    if name in ("feedjira-sample-feeds", "feedparser-tests", "gofeed-testdata"):
        assert fast_count > 50  # the fast path really is exercised


FIXTURES = sorted(p for p in (DATA / "feeds").glob("*") if p.suffix in (".xml", ".rdf"))


def test_fastparse_equals_feedparser_on_our_fixtures() -> None:
    """Without the shared corpora too: tests/data/feeds holds RSS 2.0 (a podcast with
    namespaces, enclosures and a TTL), RSS 1.0, Atom (with and without xml:base), KOI8-R,
    windows-1252, UTF-16 and mixed UTF-8/Latin-1 documents and a malformed one."""
    assert _compare(FIXTURES) >= 12
    fast = {p.name for p in FIXTURES if _uses_fast_path(p.read_bytes(), None, None)}
    # each way through the parsers is taken by at least one of them
    assert {"podcast.xml", "atom_plain.xml", "koi8r.xml", "utf16_atom.xml"} <= fast
    assert {"rss10.rdf", "atom.xml", "malformed.xml"}.isdisjoint(fast)  # feedparser's
    loose = parse_feed((DATA / "feeds" / "malformed.xml").read_bytes(), url=URL)
    assert loose.warnings and loose.entries  # the strict parser failed, the loose one read it


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>T &amp; co</title><link>http://example.com/</link><description>D</description>
<item><title>One</title><link>/posts/1?a=1&amp;b=2</link><guid isPermaLink="false">g1</guid>
<pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate><dc:creator>Ann</dc:creator>
<description>&lt;p&gt;Summary &lt;a href="/x"&gt;x&lt;/a&gt;&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Body <a href="rel/y">y</a> &amp; more</p>]]></content:encoded>
<category>a</category><category domain="d">b</category>
<enclosure url="http://example.com/a.mp3" type="audio/mpeg" length="1"/></item>
<item><title>Two</title><guid>http://example.com/2</guid>
<author>bob@example.com (Bob)</author><description>Plain &amp;amp; text</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">A &lt;b&gt;feed&lt;/b&gt;</title>
<link href="http://example.com/"/><id>urn:x</id><updated>2024-05-01T09:30:00Z</updated>
<entry><title>E1</title><link rel="alternate" href="/e1"/><id>tag:example.com,2024:1</id>
<published>2024-05-01T09:30:00+02:00</published><updated>2024-05-02T09:30:00Z</updated>
<author><name>Ann</name><email>ann@example.com</email></author>
<summary>Short</summary><content type="html">&lt;p&gt;Long &lt;img src="i.png"&gt;&lt;/p&gt;</content>
<category term="t1"/></entry>
<entry><id>e2</id><title type="text">Plain &lt;b&gt;</title><content type="text">x &lt; y</content></entry>
</feed>"""


@pytest.mark.parametrize("doc", [RSS, ATOM], ids=["rss20", "atom10"])
@pytest.mark.parametrize("ctype,charset", VARIANTS)
def test_fastparse_handles_common_documents(
    doc: bytes, ctype: str | None, charset: str | None
) -> None:
    assert _uses_fast_path(doc, ctype, charset)
    assert _parse(doc, True, ctype, charset) == _parse(doc, False, ctype, charset)


def test_non_utf8_documents_take_the_fast_path_once_transcoded() -> None:
    doc = '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>\xe9t\xe9</title><item><title>\xe0 la</title></item></channel></rss>'.encode(
        "latin-1"
    )
    for ctype, charset in VARIANTS:
        assert _uses_fast_path(doc, ctype, charset)
        assert _parse(doc, True, ctype, charset) == _parse(doc, False, ctype, charset)
    assert parse_feed(doc, url=URL).title == "été"


@pytest.mark.parametrize(
    "doc",
    [
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>&x;</title></channel></rss>',
        b'<rss version="2.0"><channel><title>T</title><item><title>x</title><itunes:summary xmlns:itunes="http://www.itunes.com/DTDs/PodCast-1.0.dtd">s</itunes:summary></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>unclosed</item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel><title>x</title></channel></rdf:RDF>',
    ],
    ids=["doctype", "itunes", "malformed", "xhtml", "rss10"],
)
def test_fastparse_declines_what_it_does_not_replay(doc: bytes) -> None:
    assert not _uses_fast_path(doc, "application/xml", None)
    parse_feed(doc, url=URL, content_type="application/xml")  # feedparser still reads it


_URL_CHARS = "aZ09.-_~!$&'()*+,;=:@%?#/[] \t\\é"


@settings(max_examples=500, deadline=None)
@given(
    scheme=st.sampled_from(
        ["http://", "https://", "HTTP://", "http:///", "http:", "tag:", "urn:", "tag://", "TAG:"]
    ),
    host=st.sampled_from(["a", "ex.com", "a-b.c", "x.y:80", "h:", "1.2.3.4", "[::1]", ""]),
    rest=st.text(alphabet=_URL_CHARS, max_size=16),
    base=st.sampled_from([URL, "https://x.org/a/", "", "ftp://x/", "HTTP://EX.com/a?b#c", "/rel"]),
)
def test_plain_urls_are_what_urljoin_gives_back(
    scheme: str, host: str, rest: str, base: str
) -> None:
    """fastparse skips feedparser's urljoin for plain absolute URLs: it must give them back."""
    helpers = xmlfeed._fast_helpers()
    uri = scheme + host + rest
    replay = fastparse._Replay(base, helpers)
    assert replay.urljoin(uri) == helpers.urljoin(base, uri)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "</",
                "<",
                ">",
                " ",
                "br",
                "BR",
                "Br",
                "img",
                "IMG",
                "hr",
                "base",
                "basefont",
                "source",
                "ſource",
                "keygen",
                "Keygen",
                "link",
                "lInk",
                "x",
                "_",
                "1",
                "é",
                "p",
                "a",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_void_end_tag_check_matches_the_case_insensitive_pattern(text: str) -> None:
    assert fastparse._has_void_end_tag(text) == bool(fastparse.VOID_END_TAG.search(text))
