"""HTML sanitising and text normalising shared by parsing and extraction. Pure; the only nh3 user.

Feed and page HTML is written by strangers: only an allowlist of tags and attributes survives,
links are made absolute against the article and only http(s)/mailto links are kept.
"""

from __future__ import annotations

import html as htmllib
import re
import unicodedata
from urllib.parse import quote, urljoin, urlsplit

import nh3

MAX_FIELD = 1_000_000  # characters kept of one HTML/text field
MAX_TITLE = 1_000

_TAGS = {
    "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "blockquote", "br",
    "caption", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt",
    "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "i", "img", "ins", "kbd", "li", "main", "mark", "ol", "p", "picture", "pre", "q", "rp", "rt",
    "ruby", "s", "samp", "section", "small", "source", "span", "strike", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u",
    "ul", "var", "wbr",
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
_URL_ATTRS = {("a", "href"), ("img", "src"), ("blockquote", "cite"), ("q", "cite"),
              ("del", "cite"), ("ins", "cite")}
_SRCSET_ATTRS = {("img", "srcset"), ("source", "srcset")}
# Tags whose *content* is dropped too, not only the tag.
_CLEAN_CONTENT = {"script", "style", "template", "iframe", "object", "embed", "noscript",
                  "svg", "math", "form", "select", "textarea", "button", "head", "title"}

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


def sanitize_html(fragment: str | None, *, base_url: str | None = None) -> str:
    """Allowlisted HTML with absolute http(s) links; everything else removed."""
    if not fragment:
        return ""
    fragment = _CONTROL.sub("", fragment[:MAX_FIELD])

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if (tag, attr) in _URL_ATTRS:
            return _link_url(value, base_url)
        if (tag, attr) in _SRCSET_ATTRS:
            kept = []
            for candidate in value.split(","):
                bits = candidate.strip().split(None, 1)
                if not bits:
                    continue
                url = safe_url(bits[0], base_url)
                if url:
                    kept.append(" ".join([url, *bits[1:]]))
            return ", ".join(kept) or None
        return value

    try:
        return nh3.clean(
            fragment,
            tags=_TAGS,
            clean_content_tags=_CLEAN_CONTENT,
            attributes=_ATTRIBUTES,
            attribute_filter=attribute_filter,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    except Exception:  # nh3 raises on pathological input; fall back to escaped text
        return htmllib.escape(html_to_text(fragment))


_BLOCK = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|pre|tr|table|section|article|header|footer|"
    r"figure|figcaption|dd|dt|dl|hr)\b[^>]*>",
    re.I,
)
_DROP = re.compile(r"<(script|style|template|noscript|svg|math|head|title)\b.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment: no tags, no script or style bodies, entities decoded once,
    paragraphs separated by blank lines."""
    if not fragment:
        return ""
    s = _COMMENT.sub(" ", fragment[:MAX_FIELD])
    s = _DROP.sub(" ", s)
    s = _BLOCK.sub("\n\n", s)
    s = _TAG.sub("", s)
    s = htmllib.unescape(s)
    s = _CONTROL.sub("", s)
    lines = [_SPACE.sub(" ", line).strip() for line in s.split("\n")]
    out: list[str] = []
    for line in lines:
        if line:
            out.append(line)
        elif out and out[-1] != "":
            out.append("")
    return "\n".join(out).strip()


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
    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]", text))
    words = len(re.findall(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+", text))
    return words + cjk


def reading_time(words: int) -> int:
    """Minutes at 230 words a minute, at least 1 for any text."""
    return max(1, round(words / 230)) if words else 0
