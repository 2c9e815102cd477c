"""OPML feed lists: read subscriptions (folders and `category` become tags) and write OPML 2.0.
Pure: bytes in, dataclasses out and back; no network (external entities are never fetched or
expanded), no SQL. The only lxml user in the package."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from lxml import etree

from aggregator.formats._common import Collector, decode_text, fail, split_tags
from aggregator.models import ImportBatch

MAX_OUTLINES = 10_000  # outlines (feeds and folders) in one file
MAX_DEPTH = 64  # folder levels; lxml itself stops at 256 without huge_tree
# Tags ("<") in one file, counted before parsing so that no tree of millions of elements is built:
# an outline takes one or two, and real files carry a few more in descriptions.
MAX_TAGS = 10 * MAX_OUTLINES

# A raw "&" that does not start an entity or character reference: common in hand-made and
# app-generated OPML (plenaryapp: 80 of 118 files) although it is not well-formed XML.
_RAW_AMP = re.compile(rb"&(?!(?:[A-Za-z][A-Za-z0-9._-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _parser(*, recover: bool = False) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def looks_like_opml(head: bytes) -> bool:
    return re.search(rb"<opml[\s>]", head, re.I) is not None


def parse_xml(data: bytes, path: str | None) -> tuple[Any, list[str]]:
    """The root element. Strict first; then with raw ampersands escaped; then a lenient
    tag-by-tag read (raw '<' and '"' inside attribute values occur in real files), but only for a
    complete document (one that still ends with </opml>) so that a truncated file is refused
    rather than half-read."""
    if b"<!ENTITY" in data:
        # Real OPML never declares entities; refusing them rules out XXE and billion laughs.
        raise fail("the file declares XML entities; refused", path)
    if data.count(b"<") > MAX_TAGS:
        raise fail(f"more than {MAX_OUTLINES} outlines (over {MAX_TAGS} tags); refused", path)
    warnings: list[str] = []
    try:
        return etree.fromstring(data, _parser()), warnings
    except etree.XMLSyntaxError as error:
        first_error = error
    fixed = _RAW_AMP.sub(b"&amp;", data)
    if fixed != data:
        try:
            root = etree.fromstring(fixed, _parser())
            warnings.append("unescaped '&' characters in the file were read as text")
            return root, warnings
        except etree.XMLSyntaxError:
            pass
    if not re.search(rb"</opml>\s*$", data, re.I):
        raise fail(f"broken or truncated OPML ({first_error})", path)
    warnings.append(f"the OPML is not well-formed; read leniently ({first_error})")
    return _lenient_tree(decode_text(data), path), warnings


_TOKEN = re.compile(r"<outline\b|</outline\s*>|</body\s*>", re.I)
_KNOWN_ATTR = re.compile(
    r"""(?:^|\s)(text|title|xmlUrl|htmlUrl|category|type|url)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I
)


def _lenient_tree(text: str, path: str | None) -> Any:
    """Rebuilds the outline tree of a malformed but complete OPML document. Real files carry
    raw '&', '<a href="...">' and stray quotes inside attribute values (plenaryapp), which no XML
    or HTML parser reads back correctly; here each <outline ...> runs to the next outline tag,
    and only the attributes we use are picked out of it."""
    root = etree.Element("opml")
    body = etree.SubElement(root, "body")
    start = re.search(r"<body\b[^>]*>", text, re.I)
    position = start.end() if start else 0
    stack: list[Any] = [body]
    tokens = list(_TOKEN.finditer(text, position))
    if len(tokens) > 2 * MAX_OUTLINES + 1:
        raise fail(f"more than {MAX_OUTLINES} outlines; refused", path)
    for index, token in enumerate(tokens):
        word = token.group(0).lower()
        if word.startswith("</body"):
            break
        if word.startswith("</outline"):
            if len(stack) > 1:
                stack.pop()
            continue
        end = tokens[index + 1].start() if index + 1 < len(tokens) else len(text)
        chunk = text[token.end() : end].rstrip()
        element = etree.SubElement(stack[-1], "outline")
        for match in _KNOWN_ATTR.finditer(chunk):
            name = match.group(1)
            if element.get(name) is None:
                value = match.group(2) if match.group(2) is not None else match.group(3)
                element.set(name, _xml_text(htmllib.unescape(value)))
        if not chunk.endswith("/>"):
            if len(stack) > MAX_DEPTH + 1:
                raise fail(f"outlines nested deeper than {MAX_DEPTH} levels; refused", path)
            stack.append(element)
    return root


def _attr(element: Any, name: str) -> str | None:
    """An attribute by case-insensitive name (xmlUrl, xmlurl, XMLURL all occur)."""
    value = element.get(name)
    if value is not None:
        return str(value)
    lower = name.lower()
    for key, val in element.attrib.items():
        if isinstance(key, str) and key.lower() == lower:
            return str(val)
    return None


def _category_tags(value: str | None) -> list[str]:
    """OPML 2.0 `category`: comma-separated, each a slash-delimited path; every part a tag."""
    tags: list[str] = []
    for path in split_tags(value, ","):
        tags.extend(split_tags(path, "/"))
    return tags


def _local(tag: Any) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _add(
    found: Collector, outline: Any, feed_url: str, name: str, folders: tuple[str, ...]
) -> None:
    found.add_subscription(
        feed_url,
        title=name or _attr(outline, "title"),
        site_url=_attr(outline, "htmlUrl"),
        tags=[*folders, *_category_tags(_attr(outline, "category"))],
    )


def read_opml(data: bytes, *, path: str | None = None) -> ImportBatch:
    root, warnings = parse_xml(data, path)
    if _local(root.tag) != "opml":
        raise fail("not an OPML document (no <opml> root)", path)
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise fail("OPML without a <body>", path)
    found = Collector(path)
    found.warnings.extend(warnings)
    count = 0
    # Iterative walk: (element, folder titles above it). No recursion, so depth cannot blow up.
    stack: list[tuple[Any, tuple[str, ...]]] = [
        (child, ()) for child in reversed(list(body)) if _local(child.tag) == "outline"
    ]
    while stack:
        outline, folders = stack.pop()
        count += 1
        if count > MAX_OUTLINES:
            raise fail(f"more than {MAX_OUTLINES} outlines; refused", path)
        name = (_attr(outline, "text") or _attr(outline, "title") or "").strip()
        feed_url = _attr(outline, "xmlUrl")
        if feed_url is not None:
            found.attempt(feed_url, _add, found, outline, feed_url, name, folders)
        children = [child for child in outline if _local(child.tag) == "outline"]
        if children:
            if len(folders) >= MAX_DEPTH:
                raise fail(f"outlines nested deeper than {MAX_DEPTH} levels; refused", path)
            inner = folders if feed_url is not None or not name else (*folders, name)
            stack.extend((child, inner) for child in reversed(children))
        elif feed_url is None and _attr(outline, "type") in ("link", "rss"):
            found.skip("outline without a feed URL", _attr(outline, "url") or name)
    if not found.subscriptions and not found.warnings and count == 0:
        found.warnings.append("the OPML lists no feeds")
    return found.batch("opml")


# --- writing -----------------------------------------------------------------------------


def _xml_text(value: Any) -> str:
    return _XML_INVALID.sub("", str(value)) if value is not None else ""


def _category(tags: Sequence[str]) -> str:
    # "," and "/" separate categories and path parts in OPML; inside one tag they would split it.
    return ",".join(_xml_text(t).replace(",", " ").replace("/", " ").strip() for t in tags if t)


def write_opml(
    feeds: Sequence[Mapping[str, Any]], *, title: str, generated_at: str | None = None
) -> bytes:
    """OPML 2.0 as Miniflux, FreshRSS and listparser read it: feeds grouped in a folder outline
    named after their first tag, every tag also in `category`."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    moment = _moment(generated_at)
    etree.SubElement(head, "dateCreated").text = format_datetime(moment, usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[str, Any] = {}
    for feed in feeds:
        url = feed.get("url")
        if not url:
            continue
        tags = [str(t) for t in (feed.get("tags") or []) if str(t).strip()]
        name = _xml_text(feed.get("title") or url)
        parent = body
        if tags:
            first = _xml_text(tags[0]).strip()
            if first not in folders:
                folders[first] = etree.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        outline = etree.SubElement(parent, "outline")
        outline.set("type", "rss")
        outline.set("text", name)
        outline.set("title", name)
        outline.set("xmlUrl", _xml_text(url))
        if feed.get("site_url"):
            outline.set("htmlUrl", _xml_text(feed["site_url"]))
        if feed.get("description"):
            outline.set("description", _xml_text(feed["description"]))
        if tags:
            outline.set("category", _category(tags))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _moment(generated_at: str | None) -> datetime:
    if generated_at:
        try:
            moment = datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.now(timezone.utc)
