"""Import and export formats: recognise a file by its content, read it whole into an ImportBatch,
and write articles or feeds in an export format. Pure: bytes in, dataclasses out (and mappings in,
bytes out); no network, no SQL, no files opened here.

    detect_format(data, filename=None) -> "opml" | "pocket" | "netscape" | ...
    read_import(data, format="auto", filename=None) -> ImportBatch   (all or nothing)
    write_export(format, articles=..., feeds=..., title=..., group_by=..., generated_at=...)
        -> bytes

Each format lives in its own module; this one only sniffs, dispatches, unpacks zip archives and
merges entries that repeat a URL (tags combined, first title kept, earliest date kept).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aggregator.errors import ImportFormatError
from aggregator.formats import (
    atom,
    browsers,
    csvexport,
    delicious,
    elcurator,
    htmlpage,
    instapaper,
    markdown,
    native,
    netscape,
    omnivore,
    opml,
    pinboard,
    pocket,
    readability,
    wallabag,
)
from aggregator.formats._common import NOT_IMPORTABLE, clean_tags, decode_text, fail, load_json
from aggregator.models import ImportBatch, Link, Subscription

__all__ = ["EXPORT_FORMATS", "FORMATS", "detect_format", "read_import", "write_export"]

FORMATS = (
    "opml",
    "pocket",
    "netscape",
    "instapaper",
    "wallabag",
    "omnivore",
    "json",
    "firefox",
    "chrome",
    "pinboard",
    "delicious",
    "elcurator",
    "readability",
)
EXPORT_FORMATS = ("json", "csv", "md", "html", "opml", "atom", "netscape")

_READERS: dict[str, Callable[..., ImportBatch]] = {
    "opml": opml.read_opml,
    "pocket": pocket.read_pocket,
    "netscape": netscape.read_netscape,
    "instapaper": instapaper.read_instapaper,
    "wallabag": wallabag.read_wallabag,
    "omnivore": omnivore.read_omnivore,
    "json": native.read_native,
    "firefox": browsers.read_firefox,
    "chrome": browsers.read_chrome,
    "pinboard": pinboard.read_pinboard,
    "delicious": delicious.read_delicious,
    "elcurator": elcurator.read_elcurator,
    "readability": readability.read_readability,
}
# Order matters: the more specific shapes first; our own export is the catch-all for arrays.
_JSON_SHAPES: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("chrome", browsers.is_chrome),
    ("firefox", browsers.is_firefox),
    ("readability", readability.is_readability),
    ("pocket", pocket.is_pocket_api),
    ("wallabag", wallabag.is_wallabag),
    ("omnivore", omnivore.is_omnivore),
    ("pinboard", pinboard.is_pinboard),
    ("delicious", delicious.is_delicious),
    ("elcurator", elcurator.is_elcurator),
    ("json", native.is_native),
)
_BINARY_MAGIC = (
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"%PDF",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"7z\xbc\xaf",
    b"Rar!",
    b"SQLite format 3",
    b"\x00\x00\x01\x00",
    b"RIFF",
    b"OggS",
    b"ID3",
)
_ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_MEMBERS = 1_000
MAX_ZIP_TOTAL = 256 * 1024 * 1024  # bytes unpacked, all members together


def _not_importable(filename: str | None, detail: str = "") -> ImportFormatError:
    name = filename or "the file"
    return ImportFormatError(f"{name} {NOT_IMPORTABLE}{detail}", url=filename)


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename.rsplit("/", 1)[-1]:
        return ""
    return filename.rsplit(".", 1)[-1].lower()


def _sniff(data: bytes, filename: str | None) -> list[str]:
    """The formats the content allows, best first. Raises for empty, binary or broken JSON."""
    head = data[:65536]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise _not_importable(filename, " (it is empty)")
    if stripped.startswith(_BINARY_MAGIC):
        raise _not_importable(filename, " (it is a binary file)")
    if stripped.startswith(_ZIP_MAGIC):
        return [_zip_format(data, filename)]
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _not_importable(filename, " (it is a binary file)")
    text = decode_text(head).lstrip("\ufeff \t\r\n")
    if text[:1] in ("{", "["):
        document = load_json(data, filename)
        return [name for name, test in _JSON_SHAPES if test(document)]
    if text[:1] == "<":
        found: list[str] = []
        if opml.looks_like_opml(head):
            found.append("opml")
        if netscape.looks_like_netscape(text):
            found.append("netscape")
        if pocket.is_pocket_html(text):
            found.append("pocket")
        return found
    found = []
    if pocket.is_pocket_csv(data):
        found.append("pocket")
    if instapaper.is_instapaper_csv(data):
        found.append("instapaper")
    return found


def _prefer_by_extension(candidates: list[str], filename: str | None) -> str:
    """Content decided the candidates; the file name only breaks a tie."""
    ext = _extension(filename)
    base = (filename or "").rsplit("/", 1)[-1].lower()
    if len(candidates) > 1:
        if base.startswith("ril_export") and "pocket" in candidates:
            return "pocket"
        if ext in ("opml", "xml") and "opml" in candidates:
            return "opml"
        if ext in ("html", "htm") and "netscape" in candidates:
            return "netscape"
    return candidates[0]


def detect_format(data: bytes, *, filename: str | None = None) -> str:
    """The import format of a file, from its content first; the extension only breaks ties."""
    candidates = _sniff(data, filename)
    if not candidates:
        head = data[:4096].lower()
        if b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head:
            raise _not_importable(filename, " (it is a feed: subscribe to it instead)")
        raise _not_importable(filename)
    return _prefer_by_extension(candidates, filename)


# --- zip archives ------------------------------------------------------------------------


def _zip_members(data: bytes, filename: str | None) -> list[tuple[str, bytes]]:
    """The readable members of a zip archive, with bounds against zip bombs."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as error:
        raise fail(f"broken or truncated zip archive ({error})", filename) from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise fail(f"zip archive with more than {MAX_ZIP_MEMBERS} files; refused", filename)
    members: list[tuple[str, bytes]] = []
    total = 0
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename
        if name.startswith("__MACOSX/") or _extension(name) not in (
            "csv",
            "json",
            "html",
            "htm",
            "opml",
            "xml",
        ):
            continue
        try:
            with archive.open(info) as member:
                content = member.read(MAX_ZIP_TOTAL - total + 1)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
            raise fail(f"broken zip member {name} ({error})", filename) from None
        total += len(content)
        if total > MAX_ZIP_TOTAL:
            raise fail("zip archive unpacks to more than 256 MiB; refused", filename)
        members.append((name, content))
    return members


def _zip_readable(data: bytes, filename: str | None) -> list[tuple[str, str, bytes]]:
    """(member name, format, bytes) for every member we can read; other members are ignored
    (Omnivore archives hold article HTML beside the metadata JSON)."""
    readable = []
    for name, content in _zip_members(data, filename):
        if content.lstrip(b"\xef\xbb\xbf \t\r\n")[:4] == _ZIP_MAGIC:
            continue  # no archives within archives
        try:
            candidates = _sniff(content, name)
        except ImportFormatError:
            continue
        if candidates:
            readable.append((name, _prefer_by_extension(candidates, name), content))
    if not readable:
        raise _not_importable(filename, " (nothing readable in the zip archive)")
    return readable


def _zip_format(data: bytes, filename: str | None) -> str:
    return _zip_readable(data, filename)[0][1]


def _read_zip(data: bytes, filename: str | None, format: str) -> ImportBatch:
    batches = []
    for name, member_format, content in _zip_readable(data, filename):
        if format not in ("auto", member_format):
            continue
        batches.append(_read_one(content, member_format, f"{filename or 'zip'}:{name}"))
    if not batches:
        raise fail(f"no {format} file in the zip archive", filename)
    return ImportBatch(
        format=batches[0].format,
        subscriptions=tuple(s for b in batches for s in b.subscriptions),
        links=tuple(link for b in batches for link in b.links),
        warnings=tuple(w for b in batches for w in b.warnings),
    )


# --- reading -----------------------------------------------------------------------------


def _read_one(data: bytes, format: str, filename: str | None) -> ImportBatch:
    reader = _READERS[format]
    try:
        return reader(data, path=filename)
    except ImportFormatError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as error:
        # A file of the right shape with the wrong insides: refuse it whole, say where.
        raise fail(
            f"cannot be read as {format} ({type(error).__name__}: {error})", filename
        ) from error


def _merge_links(links: Sequence[Link]) -> tuple[list[Link], int]:
    merged: dict[str, Link] = {}
    repeats = 0
    for link in links:
        seen = merged.get(link.url)
        if seen is None:
            merged[link.url] = link
            continue
        repeats += 1
        dates = [d for d in (seen.saved_at, link.saved_at) if d]
        merged[link.url] = replace(
            seen,
            title=seen.title or link.title,
            tags=clean_tags([*seen.tags, *link.tags]),
            note=seen.note or link.note,
            saved_at=min(dates) if dates else None,
            state=seen.state or link.state,
            starred=seen.starred or link.starred,
            excerpt=seen.excerpt or link.excerpt,
            content_html=seen.content_html or link.content_html,
        )
    return list(merged.values()), repeats


def _merge_subscriptions(subs: Sequence[Subscription]) -> tuple[list[Subscription], int]:
    merged: dict[str, Subscription] = {}
    repeats = 0
    for sub in subs:
        seen = merged.get(sub.url)
        if seen is None:
            merged[sub.url] = sub
            continue
        repeats += 1
        merged[sub.url] = replace(
            seen,
            title=seen.title or sub.title,
            site_url=seen.site_url or sub.site_url,
            tags=clean_tags([*seen.tags, *sub.tags]),
        )
    return list(merged.values()), repeats


def read_import(data: bytes, *, format: str = "auto", filename: str | None = None) -> ImportBatch:
    """Everything an import file holds, or ImportFormatError: never a silently partial batch.
    Entries that are not http(s) links are skipped with a warning; entries repeating a URL are
    merged into one (tags combined) with a warning giving the count."""
    if format != "auto" and format not in FORMATS:
        raise ImportFormatError(
            f"unknown import format {format!r}; known: {', '.join(FORMATS)}", url=filename
        )
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n"):
        raise _not_importable(filename, " (it is empty)")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:4] == _ZIP_MAGIC:
        batch = _read_zip(data, filename, format)
    else:
        chosen = detect_format(data, filename=filename) if format == "auto" else format
        batch = _read_one(data, chosen, filename)
    links, link_repeats = _merge_links(batch.links)
    subs, sub_repeats = _merge_subscriptions(batch.subscriptions)
    warnings = list(batch.warnings)
    if link_repeats:
        warnings.append(f"{link_repeats} repeated link URLs merged into one each (tags combined)")
    if sub_repeats:
        warnings.append(f"{sub_repeats} repeated feed URLs merged into one each (tags combined)")
    return ImportBatch(
        format=batch.format,
        subscriptions=tuple(subs),
        links=tuple(links),
        warnings=tuple(warnings),
    )


# --- writing -----------------------------------------------------------------------------


def write_export(
    format: str,
    *,
    articles: Sequence[Mapping[str, Any]] = (),
    feeds: Sequence[Mapping[str, Any]] = (),
    title: str = "Aggregator export",
    group_by: str | None = None,
    generated_at: str | None = None,
) -> bytes:
    """Articles (json, csv, md, html, atom, netscape) or feeds (opml) as the bytes of a file.
    `group_by` ("tag" or "date") applies to md and html; `generated_at` (ISO 8601) pins the
    timestamp written into md, html, opml and atom, for reproducible output."""
    if group_by not in (None, "tag", "date"):
        raise ValueError(f"group_by must be 'tag' or 'date', not {group_by!r}")
    if format == "json":
        return native.write_json(articles)
    if format == "csv":
        return csvexport.write_csv(articles)
    if format == "md":
        return markdown.write_markdown(
            articles, title=title, group_by=group_by, generated_at=generated_at
        )
    if format == "html":
        return htmlpage.write_html(
            articles, title=title, group_by=group_by, generated_at=generated_at
        )
    if format == "opml":
        return opml.write_opml(feeds, title=title, generated_at=generated_at)
    if format == "atom":
        return atom.write_atom(articles, title=title, generated_at=generated_at)
    if format == "netscape":
        return netscape.write_netscape(articles, title=title)
    raise ValueError(f"unknown export format {format!r}; known: {', '.join(EXPORT_FORMATS)}")
