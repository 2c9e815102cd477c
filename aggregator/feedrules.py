"""feedparser's rules that the fast reader (aggregator.fastparse) replays: which namespaces
it reads and under which prefix, which elements may hold relative URIs, which keys the parser
reads, and the patterns feedparser applies to values. Tables only: no parsing here."""

from __future__ import annotations

import re

ATOM_NS = "http://www.w3.org/2005/Atom"
# Namespaces feedparser treats as "no prefix" (its `namespaces` map to '').
NO_PREFIX = {
    "http://backend.userland.com/rss",
    "http://blogs.law.harvard.edu/tech/rss",
    "http://purl.org/rss/1.0/",
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://example.com/newformat#",
    "http://example.com/necho",
    "http://purl.org/echo/",
    "uri/of/echo/namespace#",
    "http://purl.org/pie/",
    "http://purl.org/atom/ns#",
    ATOM_NS.lower(),
    "http://purl.org/rss/1.0/modules/rss091#",
}
# The prefixed namespaces replayed here (others are read only when feedparser has no handler
# for the element, as plain values).
PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://search.yahoo.com/mrss/": "media",
    "http://search.yahoo.com/mrss": "media",
    "http://wellformedweb.org/commentAPI/": "wfw",
    "http://purl.org/rss/1.0/modules/slash/": "slash",
    "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://purl.org/syndication/thread/1.0": "thr",
    "http://www.georss.org/georss": "georss",
    "http://www.itunes.com/DTDs/PodCast-1.0.dtd": "itunes",
    "http://purl.org/rss/1.0/modules/rss091#": "",
}
CAN_BE_RELATIVE_URI = {
    "comments",
    "docs",
    "href",
    "icon",
    "id",
    "link",
    "logo",
    "url",
    "wfw_comment",
    "wfw_commentrss",
}
CAN_CONTAIN_RELATIVE_URIS = {
    "content",
    "copyright",
    "description",
    "info",
    "rights",
    "subtitle",
    "summary",
    "tagline",
    "title",
}
HTML_TYPES = {"application/xhtml+xml", "text/html"}
# Entry bodies: given as the feed wrote them (see _Replay.finish), unless they hold an end tag
# of a void element, which feedparser's serialiser drops and an HTML parser reads as <br>.
BODIES = {"content", "description", "summary"}
VOID_END_TAG = re.compile(
    r"</(?:area|base|basefont|br|col|command|embed|frame|hr|img|input|"
    r"isindex|keygen|link|meta|param|source|track|wbr)\b",
    re.I,
)
# The same on lower-cased ASCII text (where re.I folds nothing else), grouped by first letter:
# about half the time of the re.I alternation over a 2 KB body.
VOID_END_TAG_ASCII = re.compile(
    r"</(?:area|b(?:asefont|ase|r)|c(?:ol|ommand)|embed|frame|hr|i(?:mg|nput|sindex)|keygen|"
    r"link|meta|param|source|track|wbr)\b"
)
# Markup (a `<`, or two `&`) one document may hand to feedparser's relative-URI resolver, which
# is slow (sgmllib; docs/benchmarks.md, hostile feed documents). Past it, a value is kept as the
# feed wrote it (a body's links are still made absolute by the sanitiser; an end tag of a void
# element then reads as a <br>).
RESOLVER_BUDGET = 100_000
# Keys aggregator.parse reads: an unknown element that would land on one of them is not replayed.
READ_KEYS = {
    "title",
    "title_detail",
    "link",
    "links",
    "content",
    "summary",
    "id",
    "author",
    "authors",
    "author_detail",
    "published_parsed",
    "updated_parsed",
    "created_parsed",
    "tags",
    "media_thumbnail",
    "media_content",
    "enclosures",
    "subtitle",
    "subtitle_detail",
    "ttl",
}
ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
AMP_REF = re.compile("&([A-Za-z0-9_]+);")
# feedparser looks for an email in an author with a pattern quadratic in the length of a run of
# [A-Za-z0-9_.+-] (8,000 characters: 0.3 s; 300,000: minutes): both parsers look at this many
# characters of it (aggregator.parse bounds feedparser's the same way).
MAX_AUTHOR_SCAN = 256
# URLs that urllib's urljoin gives back unchanged whatever the base (when the base itself
# parses): an absolute http(s) URL with nothing its split-and-rejoin would drop or normalise
# (an empty query or fragment, `;` parameters, whitespace, brackets, an upper-case scheme, extra
# slashes), or a tag: or urn: URI (a scheme urljoin does not resolve, returned as given).
PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9][A-Za-z0-9.\-]*(?::[0-9]+)?"
    r"(?:/[A-Za-z0-9\-._~!$&'()*+,=:@%/]*)?"
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]+)?"
    r"(?:#[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]+)?"
    r"|(?:tag|urn):[!-.0-~][!-~]*"
)
# The characters feedparser's cp1252 table maps (a superset: the table only changes these).
C1 = re.compile("[\x80-\x9f]")
CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
