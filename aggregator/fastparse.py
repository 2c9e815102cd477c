"""A fast reader for well-formed RSS 2.0 and Atom 1.0 documents that gives what feedparser gives.
Pure: no I/O, no SQL; feedparser is not imported here (aggregator.parse hands in its helpers).

feedparser walks a document with a Python SAX handler per element, which caps it near 30
feeds/s per core. This module builds the tree with expat (feedparser's strict parser) and the C
ElementTree builder and replays feedparser's rules for a known set of elements, in
document order, into the same dictionary shape (`feed`, `entries`, `version`). Anything outside
that set (DOCTYPE, xml:base, encodings other than UTF-8, XHTML or base64 content, elements
feedparser has special handlers for that are not replayed here, nesting beyond what is known)
returns None, and aggregator.parse runs feedparser itself. Entry bodies (content, description,
summary) come as the feed wrote them, not re-serialised by feedparser's relative-URI resolver:
the sanitiser resolves their links against the same base. `tests/test_fastparse.py` checks that
both give equal titles, links, ids, dates, authors, categories and content text on every feed of
the shared corpora.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .feedrules import (
    AMP_REF,
    ATOM_NS,
    BODIES,
    C1,
    CAN_BE_RELATIVE_URI,
    CAN_CONTAIN_RELATIVE_URIS,
    CONTENT_TYPES,
    EMAIL,
    ENCODING,
    HTML_TYPES,
    MAX_AUTHOR_SCAN,
    NO_PREFIX,
    PLAIN_URL,
    PREFIXES,
    READ_KEYS,
    RESOLVER_BUDGET,
    VOID_END_TAG,
    VOID_END_TAG_ASCII,
)


@dataclass(frozen=True)
class Helpers:
    """feedparser's own small functions, handed in by aggregator.parse."""

    urljoin: Callable[[str, str], str]
    looks_like_html: Callable[[str], bool]
    resolve_relative_uris: Callable[[str, str, str, str], str]
    parse_date: Callable[[str], Any]
    cp1252: dict[int, str]
    has_handler: Callable[[str], bool]


class _Decline(Exception):
    """The document uses something not replayed here: feedparser reads it."""


def read_feed(
    body: bytes, *, url: str, content_type: str | None, charset: str | None, helpers: Helpers
) -> dict[str, Any] | None:
    """feedparser's result (`version`, `feed`, `entries`, `bozo`) for a well-formed RSS 2.0 or
    Atom 1.0 document, or None when feedparser must read it."""
    try:
        root = _parse_tree(body, content_type=content_type, charset=charset)
        replay = _Replay(url, helpers)
        replay.no_content_type = not content_type
        return replay.run(root)
    except _Decline:
        return None


def _parse_tree(body: bytes, *, content_type: str | None, charset: str | None) -> ET.Element:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if not body.startswith(b"<") or body.startswith((b"\xfe\xff", b"\xff\xfe")):
        raise _Decline  # leading whitespace, UTF-16/32: feedparser's own sniffing decides
    head = body[:1024]
    if b"<!DOCTYPE" in body or b"<!ENTITY" in head or b"xml:base" in body:
        raise _Decline
    m = ENCODING.match(head)
    if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
        raise _Decline
    if charset and charset.lower() not in ("utf-8", "utf8"):
        raise _Decline
    ctype = (content_type or "").lower()
    if ctype and ctype not in ("application/xml", "text/xml") and not ctype.endswith("+xml"):
        raise _Decline  # feedparser reports a non-XML media type (bozo)
    if ctype.startswith("text/") and not charset and not body.isascii():
        raise _Decline  # RFC 3023 says us-ascii here; feedparser's fallbacks decide
    try:
        body.decode("utf-8")
        return _build_tree(body)
    except (UnicodeDecodeError, expat.ExpatError, ValueError):
        raise _Decline from None


def _build_tree(body: bytes) -> ET.Element:
    """ET.fromstring(body), but expat joins the pieces of text itself (buffer_text) instead of
    calling the builder once per character reference, and tags keep expat's `uri}local` form
    (ElementTree's is `{uri}local`)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(None, "}")
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.Parse(body, True)
    return builder.close()


# Tag -> _name(): a document repeats a few tags many times. Bounded: tags come from documents.
_NAMES: dict[str, tuple[str, str]] = {}


def _name(el: ET.Element) -> tuple[str, str]:
    """(feedparser's handler suffix such as 'dc_creator' or 'title', namespace uri)."""
    tag = el.tag
    try:
        return _NAMES[tag]
    except (KeyError, TypeError):
        pass
    name = _tag_name(tag)
    if len(_NAMES) < 2048:
        _NAMES[tag] = name
    return name


def _tag_name(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        raise _Decline
    if "}" in tag:
        uri, _, local = tag.rpartition("}")
        if uri.lower() in NO_PREFIX:
            return local.lower(), uri
        prefix = PREFIXES.get(uri.lower())
        if prefix is None:
            raise _Decline  # a namespace whose feedparser prefix is not known here
        return (prefix + "_" if prefix else "") + local.lower(), uri
    return tag.lower(), ""


def _attrs(el: ET.Element) -> dict[str, str]:
    attrib = el.attrib
    if not attrib:
        return {}
    out = {}
    for key, value in attrib.items():
        if "}" in key:
            raise _Decline  # namespaced attributes (xml:lang is harmless but rare: decline)
        out[key.lower()] = value
    return out


def _enforce_href(attrs: dict[str, str]) -> None:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href


def _has_void_end_tag(text: str) -> bool:
    if text.isascii():
        return VOID_END_TAG_ASCII.search(text.lower()) is not None
    return VOID_END_TAG.search(text) is not None


def _text(el: ET.Element) -> str:
    if len(el):
        raise _Decline  # markup inside a text element: feedparser serialises it
    return el.text or ""


class _Replay:
    """feedparser's element handlers for the supported set, on one document."""

    def __init__(self, url: str, helpers: Helpers) -> None:
        self.base = url
        self.h = helpers
        self.atom = False
        self.no_content_type = False
        self.contentparams: dict[str, Any] = {}
        self.exact_bodies = True  # feedparser's serialisation of bodies (see finish)
        self.resolver_left = RESOLVER_BUDGET
        # urljoin(base, uri) is uri for a plain absolute URL unless the base makes urljoin
        # raise (feedparser then gives ''): joining one such URL onto the base tells which.
        self.plain_base = helpers.urljoin(url, "http://a/") == "http://a/"

    def urljoin(self, uri: str) -> str:
        if self.plain_base and PLAIN_URL.fullmatch(uri):
            return uri
        return self.h.urljoin(self.base, uri)

    # -- feedparser's pop() for an element expecting text --------------------------------------
    def finish(self, element: str, raw: str, *, guidislink: bool = False) -> str:
        out = raw.strip()
        if out and element in CAN_BE_RELATIVE_URI and (element != "id" or guidislink):
            out = self.urljoin(out)
        # looks_like_html and the resolver need a tag or a reference
        markup = "<" in out or "&" in out
        params = self.contentparams
        ctype = params.get("type", "text/html")
        if markup and not self.atom and ctype == "text/plain" and self.h.looks_like_html(out):
            params["type"] = ctype = "text/html"
        if (
            markup
            and ctype in HTML_TYPES
            and element in CAN_CONTAIN_RELATIVE_URIS
            and (element not in BODIES or self.exact_bodies or _has_void_end_tag(out))
        ):
            # feedparser re-serialises markup here (sgmllib, about 1 ms per 2 KB). Entry bodies
            # skip it: their links are made absolute against the same base when they are
            # sanitised, and their text is the same. It is kept for short fields and for an
            # entry without a link, whose key may be a hash of its content.
            cost = out.count("<") + out.count("&") // 2
            if cost <= self.resolver_left:
                self.resolver_left -= cost
                out = self.h.resolve_relative_uris(
                    out, self.base, "utf-8", params.get("type", "text/html")
                )
        if out.isascii():
            return out  # both steps below leave ASCII as it is
        try:
            out = out.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        return out.translate(self.h.cp1252) if C1.search(out) else out

    def push_content(self, attrs: dict[str, str], default: str) -> None:
        ctype = attrs.get("type", default).lower()
        ctype = CONTENT_TYPES.get(ctype, ctype)
        if ctype not in ("text/plain", "text/html") or "mode" in attrs or "src" in attrs:
            raise _Decline  # xhtml, base64, out-of-line content
        if not self.atom and "type" in attrs:
            raise _Decline
        self.contentparams = {"type": ctype, "language": None, "base": self.base}

    # -- the document ---------------------------------------------------------------------------
    def run(self, root: ET.Element) -> dict[str, Any]:
        name, uri = _name(root)
        feed: dict[str, Any] = {}
        entries: list[dict[str, Any]] = []
        feed_state = {"title_done": False, "has_content": False}
        if name == "rss" and uri == "":
            if not _attrs(root).get("version", "").startswith("2."):
                raise _Decline
            version = "rss20"
            if len(root) != 1 or _name(root[0])[0] != "channel" or _attrs(root[0]):
                raise _Decline
            for child in root[0]:
                if _name(child)[0] == "item":
                    entries.append(self.entry(child))
                else:
                    self.feed_element(child, feed, feed_state, after_entries=bool(entries))
        elif name == "feed" and uri == ATOM_NS:
            self.atom = True
            version = "atom10"
            if "version" in _attrs(root):
                raise _Decline
            for child in root:
                if _name(child)[0] == "entry":
                    entries.append(self.entry(child))
                else:
                    self.feed_element(child, feed, feed_state, after_entries=bool(entries))
        else:
            raise _Decline
        out: dict[str, Any] = {
            "version": version,
            "feed": feed,
            "entries": entries,
            "bozo": 0,
            "encoding": "utf-8",
        }
        if self.no_content_type:
            out["bozo"] = 1
            out["bozo_exception"] = "no Content-type specified"
        return out

    def feed_element(
        self, el: ET.Element, feed: dict[str, Any], state: dict[str, bool], *, after_entries: bool
    ) -> None:
        if _name(el)[0] == "title":
            if after_entries or state.get("seen_title"):
                raise _Decline  # feedparser's title depth rules differ there
            state["seen_title"] = True
        self.element(el, feed, in_feed=True, state=state)

    def entry(self, item: ET.Element) -> dict[str, Any]:
        if _attrs(item):
            raise _Decline  # rdf:about and CDF attributes
        ctx: dict[str, Any] = {}
        state = {"title_done": False, "has_content": False}
        self.exact_bodies = not any(_name(child)[0] == "link" for child in item)
        try:
            for child in item:
                self.element(child, ctx, in_feed=False, state=state)
        finally:
            self.exact_bodies = True
        links = ctx.get("links")
        if links is not None:
            ctx["enclosures"] = [
                {k: v for k, v in link.items() if k != "rel"}
                for link in links
                if link["rel"] == "enclosure"
            ]
        return ctx

    def element(
        self,
        el: ET.Element,
        ctx: dict[str, Any],
        *,
        in_feed: bool,
        state: dict[str, bool] | None = None,
    ) -> None:
        name, _ = _name(el)
        attrs = _attrs(el)
        state = state if state is not None else {"title_done": False, "has_content": False}
        if name == "title":
            self.push_content(attrs, "text/plain")
            value = self.finish("title", _text(el))
            if state["title_done"]:
                return
            ctx["title"] = value
            ctx["title_detail"] = dict(self.contentparams)
            if value:
                state["title_done"] = True
        elif name == "link":
            self.link(el, attrs, ctx, in_feed=in_feed)
        elif name in ("description", "summary", "subtitle", "tagline"):
            if name in ("description", "summary") and "summary" in ctx and not state["has_content"]:
                raise _Decline  # feedparser reads a second summary as content
            if in_feed and name != "description" and name not in ("subtitle", "tagline"):
                raise _Decline
            if not in_feed and name in ("subtitle", "tagline"):
                raise _Decline
            self.push_content(attrs, "text/html" if name == "description" else "text/plain")
            value = self.finish(name, _text(el))
            key = "subtitle" if in_feed else "summary"
            ctx[key] = value
            ctx[key + "_detail"] = dict(self.contentparams)
        elif name in ("content", "content_encoded"):
            if in_feed:
                raise _Decline
            state["has_content"] = True
            self.push_content(attrs, "text/html" if name == "content_encoded" else "text/plain")
            value = self.finish("content", _text(el))
            ctx.setdefault("content", []).append({**self.contentparams, "value": value})
            ctx.setdefault("summary", value)
        elif name in ("guid", "id"):
            guidislink = attrs.get("ispermalink", "true") == "true"
            value = self.finish("id", _text(el), guidislink=guidislink)
            ctx["id"] = value
            ctx.setdefault("guidislink", guidislink and "link" not in ctx)
            if guidislink:
                ctx.setdefault("link", value)
        elif name in ("pubdate", "published", "dcterms_issued", "issued"):
            value = self.finish("published", _text(el))
            ctx["published"] = value
            ctx["published_parsed"] = self.h.parse_date(value)
        elif name in ("updated", "lastbuilddate", "dc_date", "modified", "dcterms_modified"):
            value = self.finish("updated", _text(el))
            ctx["updated"] = value
            ctx["updated_parsed"] = self.h.parse_date(value)
        elif name in ("author", "dc_creator", "dc_author", "managingeditor"):
            self.author(el, ctx)
        elif name in ("category", "dc_subject"):
            self.category(el, attrs, ctx)
        elif name == "enclosure":
            _enforce_href(attrs)
            attrs["rel"] = "enclosure"
            ctx.setdefault("links", []).append(attrs)
            if el.text and el.text.strip() or len(el):
                raise _Decline
        elif name == "media_thumbnail":
            if len(el):
                raise _Decline
            ctx.setdefault("media_thumbnail", []).append(attrs)
            value = self.finish("url", el.text or "")
            ctx["url"] = value
            if value.strip() and "url" not in attrs:
                attrs["url"] = value
        elif name == "media_content":
            if len(el):
                raise _Decline
            ctx.setdefault("media_content", []).append(attrs)
        elif name == "ttl" and in_feed:
            ctx["ttl"] = self.finish("ttl", _text(el))
        elif name == "image" and in_feed:
            for sub in el:  # everything lands in feed['image'], which is not read
                if _name(sub)[0] not in ("url", "title", "link", "width", "height", "description"):
                    raise _Decline
                if len(sub):
                    raise _Decline
            if in_feed:
                ctx.setdefault("image", {})
        elif (
            name
            in (
                "language",
                "generator",
                "webmaster",
                "rights",
                "copyright",
                "icon",
                "logo",
                "cloud",
                "docs",
            )
            and in_feed
        ):
            if len(el):
                raise _Decline
            if name in ("rights", "copyright"):
                self.push_content(attrs, "text/plain")
                self.finish("rights", _text(el))
        else:
            self.unknown(el, name, attrs, ctx)

    def link(
        self, el: ET.Element, attrs: dict[str, str], ctx: dict[str, Any], *, in_feed: bool
    ) -> None:
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        _enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = self.urljoin(attrs["href"])
        links = ctx.setdefault("links", [])
        links.append(attrs)
        if "href" in attrs:
            if len(el) or (el.text or "").strip():
                raise _Decline
            ctype = attrs.get("type", "").lower()
            if attrs.get("rel") == "alternate" and ctype in HTML_TYPES:
                ctx["link"] = attrs["href"]
            return
        value = self.finish("link", _text(el))
        if not in_feed:
            value = value.replace("&amp;", "&")
        if "&" in value:
            value = AMP_REF.sub(r"&\g<1>", value)
        ctx["link"] = value
        if value or in_feed:
            links[-1]["href"] = value

    def author(self, el: ET.Element, ctx: dict[str, Any]) -> None:
        authors = ctx.setdefault("authors", [])
        authors.append({})
        for sub in el:
            sname, _ = _name(sub)
            if sname not in ("name", "email", "uri", "url") or len(sub):
                raise _Decline
            value = (sub.text or "").strip()
            if sname in ("uri", "url"):
                key, value = "href", self.finish("href", sub.text or "")
            else:
                key = sname
            detail = ctx.setdefault("author_detail", {})
            detail[key] = value
            self.sync_author(ctx)
            ctx["authors"][-1][key] = value
        own = (el.text or "") + "".join((sub.tail or "") for sub in el)
        ctx["author"] = self.finish("author", own)
        self.sync_author(ctx)

    def sync_author(self, ctx: dict[str, Any]) -> None:
        detail = ctx.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                ctx["author"] = f"{name} ({email})"
            elif name:
                ctx["author"] = name
            elif email:
                ctx["author"] = email
            return
        author, email = ctx.get("author"), None
        if not author:
            return
        if len(author) > MAX_AUTHOR_SCAN:
            author = ctx["author"] = author[:MAX_AUTHOR_SCAN]
        m = EMAIL.search(author)
        if m:
            email = m.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            ctx.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def category(self, el: ET.Element, attrs: dict[str, str], ctx: dict[str, Any]) -> None:
        tags = ctx.setdefault("tags", [])

        def add(term: str | None, scheme: str | None, label: str | None) -> None:
            if not term and not scheme and not label:
                return
            value = {"term": term, "scheme": scheme, "label": label}
            if value not in tags:
                tags.append(value)

        add(attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
        value = self.finish("category", _text(el))
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            add(value, None, None)

    def unknown(
        self, el: ET.Element, name: str, attrs: dict[str, str], ctx: dict[str, Any]
    ) -> None:
        """An element feedparser has no handler for: stored as a plain value (no attributes)
        or as a dictionary of its attributes; declined when it holds elements or would land on
        a key aggregator.parse reads."""
        if self.h.has_handler(name) or len(el) or name in READ_KEYS:
            raise _Decline
        if attrs:
            ctx[name] = attrs
            return
        ctx[name] = self.finish(name, el.text or "")
