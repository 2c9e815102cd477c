"""Article extraction: web page bytes -> Article (main text, sanitised HTML, metadata, feed links).

Pure: no network, no SQL, no files. The only trafilatura user; the body comes from trafilatura,
metadata from meta tags, Open Graph, article:* and JSON-LD read with lxml.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from copy import deepcopy
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import lxml.etree as etree
import lxml.html
import trafilatura
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.xml import xmltotxt

from aggregator import encodings
from aggregator.models import Article
from aggregator.sanitize import (
    clean_text,
    count_words,
    html_to_text,
    reading_time,
    safe_url,
    sanitize_html,
)

__all__ = ["decode_html", "extract_article", "find_feed_links", "is_html_content_type"]

MAX_BYTES = 5_000_000  # bytes of a page looked at; the rest is dropped before decoding
MAX_CHARS = 2_500_000  # characters of decoded HTML handed to the parser
MAX_DEPTH = 120  # element nesting kept; deeper subtrees are flattened to their text
MAX_TEXT_NODE = 200_000  # characters kept of a single text node (a 9 MB single line)
EXCERPT_CHARS = 300

# ---------------------------------------------------------------------------------------------
# Character encoding
# ---------------------------------------------------------------------------------------------

# WHATWG Encoding Standard labels whose Python codec differs from the label's plain meaning:
# browsers decode these as the Windows superset, and so must we to show the same text.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    """The Python codec for an encoding label, or None when it is not a WHATWG label."""
    return encodings.codec_for_label(label)


def _meta_charset(head: bytes) -> str | None:
    # One pattern covers <meta charset=x> and <meta http-equiv=Content-Type content="..charset=x">
    for match in _META_CHARSET.finditer(head):
        codec = _codec(match.group(1).decode("ascii", "replace"))
        if codec:
            # A page cannot declare itself UTF-16 in ASCII bytes; WHATWG reads that as UTF-8.
            return "utf-8" if codec.startswith("utf-16") else codec
    return None


def _detect(body: bytes) -> str:
    sample = body[:200_000]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(sample) - 3 and len(sample) < len(body):
            return "utf-8"  # only the cut in the middle of a character failed
    try:
        from charset_normalizer import from_bytes  # installed with trafilatura

        best = from_bytes(sample[:65_536]).best()
        if best is not None and best.encoding:
            return encodings.known_codec(best.encoding) or "cp1252"
    except Exception:  # pragma: no cover - the detector is a best effort
        pass
    return "cp1252"


def decode_html(body: bytes, *, http_charset: str | None = None) -> str:
    """Decode a page the way a browser does (WHATWG encoding sniffing), never raising.

    Order of precedence:
      1. a byte order mark (UTF-8, UTF-16 LE/BE) — it beats everything, the HTTP header too;
      2. the HTTP ``Content-Type`` charset (``http_charset``), when it is a known label;
      3. ``<meta charset>`` / ``<meta http-equiv="Content-Type" content="...charset=...">`` in the
         first 1024 bytes, then anywhere in the first 64 KiB if none was there (a meta UTF-16
         label means UTF-8);
      4. the bytes themselves: valid UTF-8 is UTF-8, otherwise charset_normalizer's guess;
      5. windows-1252.
    Labels are mapped as browsers do (ISO-8859-1 and ASCII -> windows-1252, Shift_JIS -> cp932,
    GB2312/GBK -> GB18030, ...). Invalid bytes become U+FFFD.
    """
    body = body[:MAX_BYTES]
    codec: str | None = None
    for bom, name in _BOMS:
        if body.startswith(bom):
            codec, body = name, body[len(bom) :]
            break
    if codec is None:
        codec = _codec(http_charset)
    if codec is None:
        codec = _meta_charset(body[:1024]) or _meta_charset(body[:65_536])
    if codec is None:
        codec = _detect(body)
    try:
        return body.decode(codec, errors="replace")
    except (LookupError, ValueError):  # pragma: no cover - codecs.lookup vetted the name
        return body.decode("cp1252", errors="replace")


def is_html_content_type(content_type: str) -> bool:
    """True for text/html and application/xhtml+xml, with or without parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

_PARSER = lxml.html.HTMLParser(
    remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False
)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.I)
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "canvas",
)


def _parse(html: str) -> lxml.html.HtmlElement | None:
    html = _XML_DECL.sub("", html[:MAX_CHARS], count=1)
    if not html.strip():
        return None
    try:
        root = lxml.html.document_fromstring(html, parser=_PARSER)
    except (etree.ParserError, ValueError):
        try:
            root = lxml.html.fromstring(f"<html><body>{html}</body></html>", parser=_PARSER)
        except (etree.ParserError, ValueError):
            return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def _bound_tree(root: lxml.html.HtmlElement) -> None:
    """Keep pathological pages cheap: flatten subtrees nested deeper than MAX_DEPTH into their
    text and cut giant text nodes, so extraction time stays bounded."""
    stack: list[tuple[etree._Element, int]] = [(root, 0)]
    while stack:
        el, depth = stack.pop()
        if el.text and len(el.text) > MAX_TEXT_NODE:
            el.text = el.text[:MAX_TEXT_NODE]
        if el.tail and len(el.tail) > MAX_TEXT_NODE:
            el.tail = el.tail[:MAX_TEXT_NODE]
        if depth >= MAX_DEPTH and len(el):
            text = " ".join(t for t in el.itertext() if t.strip())[:MAX_TEXT_NODE]
            for child in list(el):
                el.remove(child)
            el.text = text
            continue
        stack.extend((child, depth + 1) for child in el if isinstance(child.tag, str))


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------

_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "report",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "reviewnewsarticle",
    "backgroundnewsarticle",
    "scholarlyarticle",
    "techarticle",
    "socialmediaposting",
    "liveblogposting",
    "discussionforumposting",
    "webpage",
    "review",
    "recipe",
    "howto",
    "creativework",
    "medicalwebpage",
    "qapage",
    "videoobject",
}


def _walk_json(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    names = t if isinstance(t, list) else [t]
    return {str(n).lower().rsplit("/", 1)[-1] for n in names if n}


def _json_ld(root: etree._Element) -> list[dict[str, Any]]:
    """Article-like JSON-LD objects, most specific (an *Article type) first."""
    found: list[dict[str, Any]] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        if not raw or len(raw) > 2_000_000:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            try:  # a frequent defect: raw newlines or trailing commas inside strings
                data = json.loads(re.sub(r",\s*([}\]])", r"\1", raw.replace("\n", " ")))
            except ValueError:
                continue
        found.extend(o for o in _walk_json(data) if _types(o) & _ARTICLE_TYPES)
    found.sort(key=lambda o: 0 if any("article" in t or "posting" in t for t in _types(o)) else 1)
    return found


def _names(value: Any) -> list[str]:
    """Person or organisation names from a JSON-LD author/publisher value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        return _names(name) if isinstance(name, (str, list)) else []
    if isinstance(value, list):
        return [n for v in value for n in _names(v)]
    return []


def _ld_url(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _ld_url(value.get("url") or value.get("contentUrl") or value.get("@id"))
    if isinstance(value, list) and value:
        return _ld_url(value[0])
    return None


def _ld_str(objs: list[dict[str, Any]], *keys: str) -> str | None:
    for obj in objs:
        for key in keys:
            value = obj.get(key)
            if isinstance(value, list) and value and isinstance(value[0], str):
                value = value[0]
            if isinstance(value, str) and value.strip():
                return value
    return None


class _Meta:
    """<meta> values by lower-cased name/property, first occurrence wins."""

    def __init__(self, root: etree._Element) -> None:
        self.values: dict[str, str] = {}
        for meta in root.iter("meta"):
            content = meta.get("content")
            if content is None or not content.strip():
                continue
            for attr in ("property", "name", "itemprop", "http-equiv"):
                # property="dc:title og:title" names several properties at once
                for key in (meta.get(attr) or "").lower().split():
                    self.values.setdefault(key, content.strip())

    def first(self, *keys: str) -> str | None:
        for key in keys:
            if key in self.values:
                return self.values[key]
        return None


_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:»·/\\]\s+|\s+::\s+")


def _title_from_tag(root: etree._Element, site_name: str | None) -> str | None:
    """The document <title> without the site-name part ("Story | Site" -> "Story"), unless what
    remains is four words or fewer ("Mozilla - Wikipedia" stays whole), as Readability does."""
    tag = root.find(".//title")
    full = clean_text(tag.text_content() if tag is not None else "", is_html=False)
    short = _strip_site(root, full, site_name)
    if short and short != full and len(short.split()) <= 4:
        return full or None
    return short


def _strip_site(root: etree._Element, title: str, site_name: str | None) -> str | None:
    if not title:
        return None
    parts = [p for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2:
        return title
    h1s = {clean_text(h.text_content(), is_html=False) for h in root.iter("h1")}
    for part in parts:
        if part.strip() in h1s:
            return part.strip()
    if site_name:
        rest = [p for p in parts if p.strip().lower() != site_name.strip().lower()]
        if len(rest) < len(parts):
            return " - ".join(p.strip() for p in rest) if len(rest) > 1 else rest[0].strip()
    # Otherwise drop the last (or first) short part when what remains still reads as a title.
    first, last = parts[0].strip(), parts[-1].strip()
    head = title[: title.rfind(last)].rstrip(" |-–—:»·/\\")
    if len(head.split()) >= 3 and len(last.split()) <= 4:
        return head.strip()
    tail = title[len(first) :].lstrip(" |-–—:»·/\\")
    if len(tail.split()) >= 3 and len(first.split()) <= 4:
        return tail.strip()
    return title


_BYLINE_CLASS = re.compile(r"byline|author|writtenby|p-author", re.I)
_BY_PREFIX = re.compile(r"^\s*(?:by|von|par|por|di|door|av|af)\s*[:\-]?\s+", re.I)


def _byline_from_dom(root: etree._Element) -> str | None:
    for el in root.xpath('//*[@rel="author"] | //*[contains(@itemprop, "author")]'):
        name = el.xpath('.//*[@itemprop="name"]')
        text = clean_text((name[0] if name else el).text_content(), is_html=False)
        if 0 < len(text) < 100:
            return text
    for el in root.xpath("//body//*[@class or @id]"):
        if el.tag in ("body", "html", "article", "main", "section", "a") and len(el) > 3:
            continue
        ident = f"{el.get('class', '')} {el.get('id', '')}"
        if _BYLINE_CLASS.search(ident) and not re.search(
            r"avatar|image|photo|bio|comment", ident, re.I
        ):
            text = clean_text(el.text_content(), is_html=False)
            if 2 < len(text) < 100:
                return text
    return None


def _clean_author(value: str | None) -> str | None:
    if not value:
        return None
    text = clean_text(value)
    if not text or text.lower().startswith(("http://", "https://", "@")) or len(text) > 200:
        return None
    text = _BY_PREFIX.sub("", text).strip()
    return text or None


def normalise_date(value: str | None) -> str | None:
    """ISO 8601 UTC ("2024-05-01T09:30:00Z") from the date formats pages use, or None."""
    if not value:
        return None
    raw = value.strip()
    parsed: datetime | None = None
    if re.fullmatch(r"\d{10}(\d{3})?", raw):
        try:
            parsed = datetime.fromtimestamp(int(raw[:10]), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if parsed is None:
        iso = re.sub(r"\s*(Z|UTC|GMT)$", "+00:00", raw, flags=re.I)
        iso = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", iso)
        iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        match = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", raw)
        if not match:
            return None
        try:
            parsed = datetime(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    parsed = parsed.astimezone(timezone.utc)
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


_LANG = re.compile(r"^[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})*$")


def _clean_lang(value: str | None) -> str | None:
    if not value:
        return None
    lang = value.split(",")[0].strip().replace("_", "-")
    return lang if _LANG.match(lang) else None


class _Metadata:
    def __init__(self, root: etree._Element, url: str) -> None:
        meta = _Meta(root)
        ld = _json_ld(root)
        self.ld = ld
        self.site_name = (
            clean_text(
                meta.first("og:site_name", "application-name", "al:ios:app_name")
                or next((n for o in ld for n in _names(o.get("publisher"))), None)
            )
            or None
        )
        title = _ld_str(ld[:1], "headline") or meta.first(
            "dc:title",
            "dcterm:title",
            "og:title",
            "twitter:title",
            "dc.title",
            "dcterms.title",
            "parsely-title",
            "title",
            "headline",
        )
        self.title = clean_text(title) or _title_from_tag(root, self.site_name)
        if not self.title:
            h1 = root.find(".//h1")
            self.title = clean_text(h1.text_content(), is_html=False) if h1 is not None else None
        self.title = self.title or None
        authors = [a for o in ld[:1] for a in _names(o.get("author") or o.get("creator"))]
        author = ", ".join(
            dict.fromkeys(clean_text(a) for a in authors if clean_text(a))
        ) or meta.first(
            "dc:creator",
            "dcterm:creator",
            "author",
            "dc.creator",
            "dcterms.creator",
            "parsely-author",
            "sailthru.author",
            "byl",
            "article:author",
        )
        self.author = _clean_author(author) or _clean_author(_byline_from_dom(root))
        dates = [
            meta.first("article:published_time", "og:article:published_time"),
            _ld_str(ld, "datePublished", "dateCreated"),
            meta.first(
                "parsely-pub-date",
                "sailthru.date",
                "publishdate",
                "publish-date",
                "pubdate",
                "date",
                "dc.date",
                "dc.date.issued",
                "dcterms.date",
                "dcterms.created",
                "datepublished",
                "article.published",
                "citation_date",
                "citation_publication_date",
                "og:published_time",
                "published_time",
            ),
        ]
        for el in root.xpath(
            '//*[@itemprop="datePublished"] | //time[@pubdate] | '
            "//article//time[@datetime] | //time[@datetime]"
        )[:3]:
            dates.append(el.get("content") or el.get("datetime"))
        self.published = next((d for d in map(normalise_date, dates) if d), None)
        self.lang = (
            _clean_lang(root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang"))
            or _clean_lang(meta.first("content-language", "language", "dc.language"))
            or _clean_lang(_ld_str(ld, "inLanguage"))
            or _clean_lang(meta.first("og:locale"))
        )
        image = meta.first(
            "og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"
        ) or next((_ld_url(o.get("image")) for o in ld if o.get("image")), None)
        if not image:
            link = root.xpath('//link[@rel="image_src"]/@href')
            image = link[0] if link else None
        self.image = safe_url(image, url)
        self.excerpt = (
            clean_text(
                meta.first("og:description", "twitter:description", "description", "dc.description")
                or _ld_str(ld, "description"),
                limit=2000,
            )
            or None
        )
        body = _ld_str(ld, "articleBody")
        self.article_body = body.strip() if body else None


# ---------------------------------------------------------------------------------------------
# Feed links
# ---------------------------------------------------------------------------------------------

_FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
    "application/x.atom+xml",
    "application/x-atom+xml",
    "application/x-rss+xml",
    "text/xml",
    "application/xml",
}


def _feed_links(root: etree._Element, url: str) -> tuple[str, ...]:
    links: dict[str, None] = {}
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        media = (link.get("type") or "").split(";")[0].strip().lower()
        href = link.get("href")
        if "alternate" not in rels or not href:
            continue
        if media == "application/json":
            # JSON Feeds sometimes use plain application/json; the WordPress REST API link does
            # too but is not a feed.
            if "feed" not in (href + " " + (link.get("title") or "")).lower() or "wp-json" in href:
                continue
        elif media not in _FEED_TYPES:
            continue
        absolute = safe_url(href, url)
        if absolute:
            links.setdefault(absolute)
    return tuple(links)


def find_feed_links(body: bytes | str, *, url: str) -> tuple[str, ...]:
    """Feed URLs a page advertises with <link rel="alternate" type="application/rss+xml" (Atom,
    JSON Feed, RDF)>, absolute against the page URL (not <base href>), in page order, unique."""
    html = decode_html(body) if isinstance(body, bytes) else body
    root = _parse(html)
    return _feed_links(root, url) if root is not None else ()


# ---------------------------------------------------------------------------------------------
# Body
# ---------------------------------------------------------------------------------------------


def _trafilatura_body(root: lxml.html.HtmlElement, url: str) -> etree._Element | None:
    try:
        # No url: trafilatura would resolve relative links against the site root, losing the
        # path; sanitize_html resolves them against the page URL afterwards.
        doc = trafilatura.bare_extraction(
            root,
            url=None,
            favor_precision=True,
            include_comments=False,
            include_tables=True,
            # Images off: with them trafilatura also keeps captions and credits, which cost
            # more precision on the benchmark than the pictures are worth (the lead image is
            # in Article.image).
            include_images=False,
            include_links=True,
            include_formatting=True,
            with_metadata=False,
        )
    except Exception:  # trafilatura raises on odd trees; a failed page is not a crash
        return None
    body = getattr(doc, "body", None) if doc is not None else None
    return body if body is not None and len(body) else None


_PROMO = re.compile(
    r"^(?:related(?: (?:articles?|stories|posts|reading|content|coverage))?\s*:|"
    r"(?:read|see|watch) (?:more|also|next)\b|more (?:from|on|about)\b|"
    r"(?:follow|like) (?:us|him|her|them|\w+ on)\b|(?:subscribe|sign up)\b|"
    r"get (?:the latest|our|access)\b|have a (?:news )?tip\b|click here\b|listen (?:to|live)\b|"
    r"(?:copyright|©)|all rights reserved|share (?:this|on)\b|tell us what you think)",
    re.I,
)


def _link_share(el: etree._Element) -> float:
    text = " ".join("".join(el.itertext()).split())
    if not text:
        return 1.0
    linked = sum(len(" ".join("".join(r.itertext()).split())) for r in el.iter("ref"))
    return linked / len(text)


def _is_tail_boilerplate(el: etree._Element) -> bool:
    text = " ".join("".join(el.itertext()).split())
    if not text:
        return True
    if len(text) < 400 and _PROMO.match(text):
        return True
    # a run of links (related stories, tags, share buttons) closing the article
    return el.tag in ("list", "p", "head", "item") and _link_share(el) > 0.8 and len(text) < 1000


def _prune_body(body: etree._Element) -> None:
    """Drop what trafilatura lets through at the end of articles: promotion lines and blocks
    of links (related stories, newsletter and follow-us prompts), and inline "Related:" lines.
    Generic rules only, never for a particular site."""
    children = list(body)
    if len(children) < 3:
        return
    for child in children[:-1]:
        text = " ".join("".join(child.itertext()).split())
        if text and len(text) < 300 and re.match(r"^related\s*:", text, re.I):
            body.remove(child)
    children = list(body)
    kept_min = max(1, len(children) // 2)  # never eat into the first half of the article
    while len(children) > kept_min and _is_tail_boilerplate(children[-1]):
        body.remove(children.pop())


def _body_html(body: etree._Element) -> str:
    tree = convert_to_html(deepcopy(body))
    inner = tree.find("body")
    if inner is None:
        return ""
    return "".join(etree.tostring(child, encoding="unicode", method="html") for child in inner)


def _body_text(body: etree._Element) -> str:
    """Plain text of trafilatura's body: one paragraph per block, separated by blank lines."""
    tree = deepcopy(body)
    etree.strip_tags(tree, "ref", "hi")
    text = xmltotxt(tree, False)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)


def _paragraphs_html(text: str) -> str:
    from html import escape

    paras = [p.strip() for p in re.split(r"\n\s*\n|\r\n|\n", text) if p.strip()]
    return "".join(f"<p>{escape(p)}</p>" for p in paras)


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text.lower())
    return {tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))}


def _overlap(part: str, whole: str) -> float:
    """Share of `part`'s word 4-grams that also occur in `whole`."""
    a = _shingles(part)
    return len(a & _shingles(whole)) / len(a) if a else 0.0


def extract_article(
    body: bytes | str,
    *,
    url: str,
    http_charset: str | None = None,
    feed_html: str | None = None,
    feed_title: str | None = None,
    feed_author: str | None = None,
    feed_published: str | None = None,
) -> Article:
    """The readable article of a page: main text without navigation, sidebars, related links,
    comments, banners, scripts or styles (trafilatura), plus title, author, published date
    (ISO 8601 UTC), site name, language, lead image, excerpt and feed links from meta tags,
    Open Graph, article:* and JSON-LD.

    What the feed says fills gaps: `feed_title`, `feed_author`, `feed_published` are used when
    the page has none; `feed_html` (the entry's own content) replaces the extracted body when it
    is at least as long as it (the feed carries the full article) or the page gave nothing.
    `<base href>` is ignored: links resolve against `url`. Never raises on bad HTML; huge or
    deeply nested pages are truncated so the time stays bounded.
    """
    html = decode_html(body, http_charset=http_charset) if isinstance(body, bytes) else body
    html = html[:MAX_CHARS]
    root = _parse(html)
    meta: _Metadata | None = None
    content_html = text = ""
    feed_links: tuple[str, ...] = ()
    if root is not None:
        for base in root.xpath("//base"):
            base.drop_tree()
        _bound_tree(root)
        meta = _Metadata(root, url)
        feed_links = _feed_links(root, url)
        for el in root.xpath("|".join(f"//{t}" for t in _DROP_TAGS)):
            if el.getparent() is not None:
                el.drop_tree()
        tbody = _trafilatura_body(root, url)
        if tbody is not None:
            _prune_body(tbody)
            content_html = sanitize_html(_body_html(tbody), base_url=url)
            text = _body_text(tbody)
    words = count_words(text)

    # JSON-LD articleBody rescues pages where the extractor found (next to) nothing.
    ld_body = meta.article_body if meta is not None else None
    if ld_body and count_words(ld_body) > max(50, 2 * words):
        is_markup = "<" in ld_body and ">" in ld_body
        content_html = sanitize_html(
            ld_body if is_markup else _paragraphs_html(ld_body), base_url=url
        )
        text = html_to_text(content_html)
        words = count_words(text)

    if feed_html:
        feed_content = sanitize_html(feed_html, base_url=url)
        feed_text = html_to_text(feed_content)
        feed_words = count_words(feed_text)
        if feed_words and (words < 30 or feed_words >= 0.8 * words):
            content_html, text, words = feed_content, feed_text, feed_words

    excerpt = meta.excerpt if meta else None
    if not excerpt and text:
        first = text.split("\n\n", 1)[0]
        excerpt = (
            first
            if len(first) <= EXCERPT_CHARS
            else (first[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…")
        )
    return Article(
        url=url,
        title=(meta.title if meta else None) or clean_text(feed_title) or None,
        author=(meta.author if meta else None) or _clean_author(feed_author),
        published=(meta.published if meta else None) or normalise_date(feed_published),
        site_name=meta.site_name if meta else None,
        lang=meta.lang if meta else None,
        image=meta.image if meta else None,
        excerpt=excerpt or None,
        text=text,
        content_html=content_html,
        word_count=words,
        reading_time=reading_time(words),
        feed_links=feed_links,
    )
