"""HTML sanitising and text normalising shared by parsing and extraction. Pure; the only nh3 user.

Feed and page HTML is written by strangers: only an allowlist of tags and attributes survives,
links are made absolute against the article and only http(s)/mailto links are kept.
"""

from __future__ import annotations

import functools
import html as htmllib
import re
import unicodedata
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import nh3

MAX_FIELD = 1_000_000  # characters kept of one HTML/text field
MAX_TITLE = 1_000

_TAGS = {
    "a",
    "abbr",
    "acronym",
    "address",
    "article",
    "aside",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "main",
    "mark",
    "ol",
    "p",
    "picture",
    "pre",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "section",
    "small",
    "source",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
}
_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "srcset"},
    "source": {"srcset", "type", "media"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "type"},
    "time": {"datetime"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "abbr": {"title"},
}
_URL_ATTRS = {
    ("a", "href"),
    ("img", "src"),
    ("blockquote", "cite"),
    ("q", "cite"),
    ("del", "cite"),
    ("ins", "cite"),
}
_SRCSET_ATTRS = {("img", "srcset"), ("source", "srcset")}
# Tags whose *content* is dropped too, not only the tag.
_CLEAN_CONTENT = {
    "script",
    "style",
    "template",
    "iframe",
    "object",
    "embed",
    "noscript",
    "svg",
    "math",
    "form",
    "select",
    "textarea",
    "button",
    "head",
    "title",
}

# C0 and C1 controls (but tab and newlines) and lone surrogates
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACE = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_TAG = re.compile(r"<[^>]*>")
# One scan each instead of a generator over the characters (\s is str.isspace, for str)
# An absolute URL urljoin gives back as it is, whatever the base (parsing and unparsing it
# changes nothing: lower-case scheme, a host, no params, no empty query, no fragment), and a base
# urljoin cannot fail on.
_SIMPLE_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9\-._~/%!$&()*+,=:@]*)?"
    r"(?:\?[A-Za-z0-9\-._~/%!$&()*+,=:@?]+)?\Z"
)
_URL_ODD = re.compile(r"[ \n\r\t<>\"']")
_WHITESPACE = re.compile(r"\s")

# The common case, no control characters at all, is told in bytes, several times faster than
# _CONTROL's scan: printable ASCII and newlines deleted (and, of UTF-8, every byte of a
# non-ASCII character), nothing may be left; U+0080-U+009F are the pairs C2 80-C2 9F in UTF-8.
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\n"
_PRINTABLE_TAB_CR = _PRINTABLE + b"\t\r"
_PRINTABLE_UTF8 = _PRINTABLE + bytes(range(0x80, 0x100))
_PRINTABLE_TAB_CR_UTF8 = _PRINTABLE_TAB_CR + bytes(range(0x80, 0x100))
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
# Of UTF-8 text: C1 controls (U+0085 is a space too) and the non-ASCII spaces of str.split
# but the zero-width one (U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
# U+3000); tab and CR are left to the translate.
_ODD_UTF8 = re.compile(
    rb"\xc2[\x80-\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80"
)


def _strip_controls(s: str) -> str:
    """`_CONTROL.sub("", s)`, returning clean strings (the common case) as they are."""
    if s.isascii():
        if s.encode("ascii").translate(None, _PRINTABLE_TAB_CR):
            return _CONTROL.sub("", s)
        return s
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _CONTROL.sub("", s)
    if b.translate(None, _PRINTABLE_TAB_CR_UTF8) or _C1_UTF8.search(b):
        return _CONTROL.sub("", s)
    return s


def _is_plain(s: str) -> bool:
    """Whether s has no control characters and no whitespace but single spaces inside lines
    and newlines: what `_text_of` would give back of it line by line, edges aside."""
    if "  " in s or " \n" in s or "\n " in s:
        return False
    if s.isascii():
        return not s.encode("ascii").translate(None, _PRINTABLE)
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not b.translate(None, _PRINTABLE_UTF8) and not _ODD_UTF8.search(b)


def normalise_input_url(url: str) -> str | None:
    """A URL as a person types it (`example.org/feed`, spaces around it) as a safe absolute
    http(s) URL, or None."""
    url = url.strip()
    if (
        url
        and "://" not in url
        and not url.startswith(("javascript:", "data:", "file:", "mailto:"))
    ):
        url = "https://" + url
    return safe_url(url)


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None for anything else (javascript:, data:, file:, junk)."""
    if not url:
        return None
    if _SIMPLE_URL.match(url) and (not base or _SIMPLE_URL.match(base)):
        return url  # what urljoin and the checks below give back (a quarter of the cost)
    url = _CONTROL.sub("", url).strip()
    if not url:
        return None
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if _URL_ODD.search(absolute):
        absolute = absolute.replace(" ", "%20")
        if any(c in absolute for c in "\n\r\t<>\"'"):
            return None
    if _WHITESPACE.search(absolute):  # other Unicode spaces and line separators
        if any(c.isspace() for c in parts.netloc):
            return None
        absolute = "".join(quote(c) if c.isspace() else c for c in absolute)
    return absolute


def site_of(url: str | None) -> str | None:
    """The site of a URL for grouping: its host name, lower case, without `www.`."""
    if not url:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    return host[4:] if host.startswith("www.") else host or None


def _link_url(url: str, base: str | None) -> str | None:
    if url.startswith("#"):
        return url
    if url.lower().startswith("mailto:"):
        return url
    return safe_url(url, base)


def _srcset_url(value: str, base: str | None) -> str | None:
    kept = []
    for candidate in value.split(","):
        bits = candidate.strip().split(None, 1)
        if not bits:
            continue
        url = safe_url(bits[0], base)
        if url:
            kept.append(" ".join([url, *bits[1:]]))
    return ", ".join(kept) or None


# nh3's output is serialised by html5ever: every attribute is `name="value"` with `"`, `&`, `<`
# and `>` escaped in the value, and every `<` of text is escaped. So these patterns find every
# URL attribute of the allowed tags, in order, and nothing else.
_URL_TAG = re.compile(r'<(?:a|img|source|blockquote|q|del|ins)(\s[^>"]*(?:"[^"]*"[^>"]*)*)>')
_URL_ATTR_OPENINGS = tuple((name, f' {name}="') for name in ("href", "src", "cite", "srcset"))
# An absolute http(s) URL that safe_url gives back as it is (ASCII, no spaces or quotes).
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?"
    r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?\Z"
)


# The commonest link, `<a href="http://..." rel="...">` with a URL _PLAIN_URL takes (no `&`),
# is one the per-tag work gives back as it is: _URL_TAG_TO_FIX passes over it.
_URL_TAG_TO_FIX = re.compile(
    r'<(?:a(?! href="https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?'
    r'(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$()*+,;=%]*)?" rel="noopener noreferrer nofollow">)'
    r'|img|source|blockquote|q|del|ins)(\s[^>"]*(?:"[^"]*"[^>"]*)*)>'
)
# A link or image path from the root with no dot or empty segment (nor query, `&` or `:`), the
# first attribute of its tag: _joiner makes it origin + path, done by one substitution with a
# plain string (a template with groups is expanded in Python, slower than the per-tag work).
_ROOT_PATH = r'(?=/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?)?")'
_ROOT_PATH_HREF = re.compile('<a href="' + _ROOT_PATH)
_ROOT_PATH_SRC = re.compile('<img src="' + _ROOT_PATH)
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?")
_PLAIN_RELATIVE = re.compile(r"[A-Za-z0-9\-._~/?#\[\]@!$&()*+,;=%]+\Z")  # no scheme, no space
_BASE_PARTS = re.compile(r"(https?://[^/?#]+)([^?#]*)")


@functools.lru_cache(maxsize=64)  # the entries of a feed share their base
def _joiner(base: str | None) -> Any:
    """A function making a plain relative reference absolute against `base` the way urljoin
    would (None when it cannot tell cheaply: the caller uses safe_url then)."""
    if not base or not _PLAIN_URL.match(base):
        return lambda value: None
    m = _BASE_PARTS.match(base)
    assert m is not None
    origin, path = m.group(1), m.group(2) or "/"
    directory = origin + path[: path.rfind("/") + 1]

    def join(value: str) -> str | None:
        if (
            not _PLAIN_RELATIVE.match(value)
            or value.startswith((".", "?", "#"))
            or "/." in value
            or "//" in value
        ):
            return None  # protocol-relative, dot or empty segments, query or fragment only
        return (origin if value[0] == "/" else directory) + value

    return join


def _escape_attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _fix_url_attributes(html: str, base: str | None) -> str:
    """Each href/src/cite made absolute against `base` (or dropped) and each srcset candidate
    too, as safe_url decides; `#fragment` and mailto: links stay."""

    join = _joiner(base)

    def fixed_value(name: str, raw: str) -> str | None:
        """The attribute's new value as written (raw if it stays), None to drop it."""
        value = htmllib.unescape(raw) if "&" in raw else raw
        if name == "srcset":
            fixed = _srcset_url(value, base)
        elif _PLAIN_URL.match(value):
            return raw
        else:
            fixed = join(value) or _link_url(value, base)
        if fixed is None:
            return None
        return raw if fixed == value else _escape_attribute(fixed)

    def tag(m: re.Match[str]) -> str:
        # Found with str.find, not a regex per attribute (a third of the cost): an attribute
        # starts after a space, and no value holds a `"`, so ` href="` is always the attribute.
        t = m.group(0)
        for name, opening in _URL_ATTR_OPENINGS:
            i = t.find(opening)
            if i == -1:
                continue
            start = i + len(opening)
            end = t.index('"', start)
            raw = t[start:end]
            fixed = fixed_value(name, raw)
            if fixed is None:
                t = t[:i] + t[end + 1 :]
            elif fixed is not raw:
                t = t[:start] + fixed + t[end:]
        return t

    if base and _PLAIN_URL.match(base):
        origin = _ORIGIN.match(base)
        assert origin is not None
        # (no backslash in an origin: the replacement is taken literally)
        html = _ROOT_PATH_HREF.sub('<a href="' + origin.group(0), html)
        if "<img" in html:
            html = _ROOT_PATH_SRC.sub('<img src="' + origin.group(0), html)
    return _URL_TAG_TO_FIX.sub(tag, html)


# Built once: nh3.clean() with these options builds the same cleaner on every call, which cost
# as much as the cleaning itself. No attribute_filter: a Python callback per attribute cost more
# than the cleaning. nh3 drops absolute URLs of other schemes; relative ones (and srcset, which
# nh3 does not check) are resolved or dropped on its canonical output.
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_CLEAN_CONTENT,
    attributes=_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


# nh3 is quadratic in the characters it escapes within one text node (`&` and U+00A0; a
# million of them in a row: 10-20 s). In a fragment with more of them than honest HTML holds,
# long runs of text are split by empty comments, which the cleaner drops (strip_comments):
# the output is the same, each text node short.
MAX_ESCAPES = 5_000
_LONG_TEXT = re.compile(r"[^<>]{2048,}")
_TEXT_PIECE = 1024


def _split_text(match: re.Match[str]) -> str:
    run = match.group()
    pieces, start = [], 0
    while len(run) - start > _TEXT_PIECE:
        cut = start + _TEXT_PIECE
        amp = run.rfind("&", cut - 40, cut)
        if amp > start and ";" not in run[amp:cut]:
            cut = amp  # never inside a character reference
        pieces.append(run[start:cut])
        start = cut
    pieces.append(run[start:])
    return "<!---->".join(pieces)


def sanitize_html(fragment: str | None, *, base_url: str | None = None) -> str:
    """Allowlisted HTML with absolute http(s) links; everything else removed."""
    if not fragment:
        return ""
    fragment = _strip_controls(fragment[:MAX_FIELD])
    if fragment.count("&") + fragment.count("\xa0") > MAX_ESCAPES:
        fragment = _LONG_TEXT.sub(_split_text, fragment)
    try:
        out: str = _CLEANER.clean(fragment)
    except Exception:  # nh3 raises on pathological input; fall back to escaped text
        return htmllib.escape(html_to_text(fragment))
    if 'href="' in out or 'src="' in out or 'cite="' in out or 'srcset="' in out:
        out = _fix_url_attributes(out, base_url)
    return out


def _any_case(*names: str) -> str:
    """An alternation of ASCII names in any letter case, without re.I (twice as fast here)."""
    return "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in n) for n in names)


_BLOCK_NAMES = (
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "dd",
    "dt",
    "dl",
    "hr",
)
_BLOCK = re.compile(r"</?(?:" + _any_case(*_BLOCK_NAMES) + r"|[hH][1-6])\b[^>]*>")
# sanitize_html's output names its tags in lower case (html5ever writes them so): twice as fast
_BLOCK_LOWER = re.compile(r"</?(?:" + "|".join(_BLOCK_NAMES) + r"|h[1-6])\b[^>]*>")
_DROP = re.compile(
    r"<(script|style|template|noscript|svg|math|head|title)\b.*?</\1\s*>", re.I | re.S
)
_DROP_START = re.compile(
    r"<(?:"
    + _any_case("script", "style", "template", "noscript", "svg", "math", "head", "title")
    + r")\b"
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLANK_LINES = re.compile("\n\n\n+")  # not \n{3,}: a literal prefix is found much faster
# The entities html5ever writes in text (and html.escape, sanitize_html's fallback, writes)
_ENTITIES = (
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&nbsp;", "\u00a0"),
    ("&quot;", '"'),
    ("&#x27;", "'"),
)


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment: no tags, no script or style bodies, entities decoded once,
    paragraphs separated by blank lines."""
    if not fragment:
        return ""
    s = fragment[:MAX_FIELD]
    if "<!--" in s:
        s = _COMMENT.sub(" ", s)
    if _DROP_START.search(s):
        s = _DROP.sub(" ", s)
    return _text_of(_BLOCK.sub("\n\n", s))


def sanitized_text(html: str) -> str:
    """html_to_text of sanitize_html's output, faster: that output has no comments, none of the
    dropped elements (every `<` of text or attribute is escaped) and lower-case tag names."""
    if not html:
        return ""
    return _text_of(_BLOCK_LOWER.sub("\n\n", html[:MAX_FIELD]))


def _unescape(s: str) -> str:
    """htmllib.unescape(s); by str.replace when every `&` starts one of _ENTITIES or `&amp;`
    (then decoding each on its own, `&amp;` last, is decoding them all once)."""
    known = s.count("&amp;")
    for entity, _ in _ENTITIES:
        known += s.count(entity)
    if known != s.count("&"):
        return htmllib.unescape(s)
    for entity, char in _ENTITIES:
        s = s.replace(entity, char)
    return s.replace("&amp;", "&")


def _text_of(s: str) -> str:
    """The rest of html_to_text once block tags are newlines."""
    s = _TAG.sub("", s)
    if "&" in s:
        s = _unescape(s)
    # control characters removed, spaces collapsed, each line stripped, at most one blank line
    # in a row (str.split: every Unicode space; the zero-width space is one more, as in _SPACE)
    if "\u200b" in s:
        s = s.replace("\u200b", " ")
    if not _is_plain(s):  # else splitting and joining would give each line back as it is
        s = _CONTROL.sub("", s)
        s = "\n".join([" ".join(line.split()) for line in s.split("\n")])
    if "\n\n\n" in s:
        s = _BLANK_LINES.sub("\n\n", s)
    return s.strip()


def clean_text(value: str | None, *, is_html: bool = True, limit: int = MAX_TITLE) -> str:
    """A single-line plain text field (title, author, tag): whitespace collapsed, control
    characters removed, NFC-normalised. With `is_html`, markup is stripped and entities decoded
    (once); plain text is taken as it is."""
    if not value:
        return ""
    s = value[: limit * 4]
    if is_html:
        if "<" in s and ">" in s:
            s = _DROP.sub(" ", s)
            s = _TAG.sub("", s)
        if "&" in s:
            s = htmllib.unescape(s)
    s = _CONTROL.sub("", s)
    s = _SPACE.sub(" ", s.replace("\n", " ")).strip()
    return unicodedata.normalize("NFC", s)[:limit]


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_NOT_SPACE_OR_CJK = re.compile(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


def count_words(text: str) -> int:
    """Words in text; CJK characters count one each, as reading-time estimators do."""
    if not text:
        return 0
    if text.isascii() or not _CJK.search(text):  # no CJK: words are what split() finds
        return len(text.split())
    return len(_NOT_SPACE_OR_CJK.findall(text)) + len(_CJK.findall(text))


def count_text_words(text: str) -> int:
    """count_words of text as html_to_text gives it, without splitting it: its only spaces are
    single ones inside lines and newlines (at most two in a row), none at either end."""
    if not text:
        return 0
    if text.isascii() or not _CJK.search(text):
        return text.count(" ") + text.count("\n") - text.count("\n\n") + 1
    return count_words(text)


def reading_time(words: int) -> int:
    """Minutes at 230 words a minute, at least 1 for any text."""
    return max(1, round(words / 230)) if words else 0


# An article's excerpt (feeds and pages alike): the first characters of its text, cut at a word.
EXCERPT_CHARS = 300


def excerpt_of(text: str, limit: int = EXCERPT_CHARS) -> str | None:
    """The first `limit` characters of `text`, spaces collapsed, cut at a word with an ellipsis."""
    if len(text) > 2 * limit + 2:
        # Collapsing the spaces of a head of the text gives a head of the collapsed text (its
        # last word maybe cut short): when it is longer than the limit, it decides alone.
        head = " ".join(text[: 2 * limit + 2].split())
        if len(head) > limit:
            return head[:limit].rsplit(" ", 1)[0] + "…"
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"
