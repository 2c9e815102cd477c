"""Page metadata: title, author, date, site name, language, lead image, excerpt, JSON-LD
articleBody and advertised feeds, from meta tags, Open Graph, article:*, JSON-LD and the DOM.

Pure: reads the tree, never changes it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import lxml.etree as etree

from aggregator.sanitize import clean_text, safe_url

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


def clean_author(value: str | None) -> str | None:
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


class Metadata:
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
        self.author = clean_author(author) or clean_author(_byline_from_dom(root))
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


# Feed links

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


def feed_links_of(root: etree._Element, url: str) -> tuple[str, ...]:
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
