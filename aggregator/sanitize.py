"""HTML sanitising and text normalising shared by parsing and extraction. Pure; the only nh3 user.

Feed and page HTML is written by strangers: only an allowlist of tags and attributes survives,
links are made absolute against the article and only http(s)/mailto links are kept.
"""

from __future__ import annotations

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


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None for anything else (javascript:, data:, file:, junk)."""
    if not url:
        return None
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
    if any(c in absolute for c in " \n\r\t<>\"'"):
        absolute = absolute.replace(" ", "%20")
        if any(c in absolute for c in "\n\r\t<>\"'"):
            return None
    if any(c.isspace() for c in absolute):  # other Unicode spaces and line separators
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
_TAG_ATTR = re.compile(r'([^\s"\'>/=]+)="([^"]*)"')
_URL_ATTR_NAMES = frozenset({"href", "src", "cite", "srcset"})
# An absolute http(s) URL that safe_url gives back as it is (ASCII, no spaces or quotes).
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?"
    r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?\Z"
)


_PLAIN_RELATIVE = re.compile(r"[A-Za-z0-9\-._~/?#\[\]@!$&()*+,;=%]+\Z")  # no scheme, no space
_BASE_PARTS = re.compile(r"(https?://[^/?#]+)([^?#]*)")


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

    def attribute(m: re.Match[str]) -> str:
        name, raw = m.group(1), m.group(2)
        if name not in _URL_ATTR_NAMES:
            return m.group(0)
        value = htmllib.unescape(raw) if "&" in raw else raw
        if name == "srcset":
            fixed = _srcset_url(value, base)
        elif _PLAIN_URL.match(value):
            return m.group(0)
        else:
            fixed = join(value) or _link_url(value, base)
        if fixed is None:
            return 'data-dropped=""'  # removed below (keeps the separating spaces simple)
        return m.group(0) if fixed == value else f'{name}="{_escape_attribute(fixed)}"'

    def tag(m: re.Match[str]) -> str:
        fixed = _TAG_ATTR.sub(attribute, m.group(0))
        return fixed.replace(' data-dropped=""', "") if 'data-dropped=""' in fixed else fixed

    return _URL_TAG.sub(tag, html)


def sanitize_html(fragment: str | None, *, base_url: str | None = None) -> str:
    """Allowlisted HTML with absolute http(s) links; everything else removed."""
    if not fragment:
        return ""
    fragment = _CONTROL.sub("", fragment[:MAX_FIELD])
    try:
        # No attribute_filter: a Python callback per attribute cost more than the cleaning.
        # nh3 drops absolute URLs of other schemes; relative ones (and srcset, which nh3 does
        # not check) are resolved or dropped on its canonical output.
        out: str = nh3.clean(
            fragment,
            tags=_TAGS,
            clean_content_tags=_CLEAN_CONTENT,
            attributes=_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    except Exception:  # nh3 raises on pathological input; fall back to escaped text
        return htmllib.escape(html_to_text(fragment))
    if 'href="' in out or 'src="' in out or 'cite="' in out or 'srcset="' in out:
        out = _fix_url_attributes(out, base_url)
    return out


def _any_case(*names: str) -> str:
    """An alternation of ASCII names in any letter case, without re.I (twice as fast here)."""
    return "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in n) for n in names)


_BLOCK = re.compile(
    r"</?(?:"
    + _any_case(
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
    + r"|[hH][1-6])\b[^>]*>"
)
_DROP = re.compile(
    r"<(script|style|template|noscript|svg|math|head|title)\b.*?</\1\s*>", re.I | re.S
)
_DROP_START = re.compile(
    r"<(?:"
    + _any_case("script", "style", "template", "noscript", "svg", "math", "head", "title")
    + r")\b"
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLANK_LINES = re.compile(r"\n{3,}")


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
    s = _BLOCK.sub("\n\n", s)
    s = _TAG.sub("", s)
    if "&" in s:
        s = htmllib.unescape(s)
    s = _CONTROL.sub("", s)
    # spaces collapsed, each line stripped, at most one blank line in a row (str.split: every
    # Unicode space; the zero-width space is one more, as in _SPACE)
    if "\u200b" in s:
        s = s.replace("\u200b", " ")
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


def count_words(text: str) -> int:
    """Words in text; CJK characters count one each, as reading-time estimators do."""
    if not text:
        return 0
    if text.isascii():  # O(1) in CPython: no CJK, words are what split() finds
        return len(text.split())
    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]", text))
    words = len(re.findall(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+", text))
    return words + cjk


def reading_time(words: int) -> int:
    """Minutes at 230 words a minute, at least 1 for any text."""
    return max(1, round(words / 230)) if words else 0
