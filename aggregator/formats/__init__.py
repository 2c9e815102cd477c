"""Import and export formats: recognise a file by its content, read it whole into an ImportBatch,
and write articles or feeds in an export format. Pure: bytes in, dataclasses out (and mappings in,
bytes out); no network, no SQL, no files opened here.

    detect_format(data, filename=None) -> "opml" | "pocket" | "netscape" | ...
    read_import(data, format="auto", filename=None) -> ImportBatch   (all or nothing)
    write_export(format, articles=..., feeds=..., title=..., group_by=..., generated_at=...)
        -> bytes

Each format lives in its own module; this one only sniffs, dispatches, unpacks zip archives and
merges entries that repeat a URL (tags combined, first title kept, earliest date kept).

Whatever a file holds, read_import either returns a batch (bad records skipped and counted in
`ImportBatch.skipped`, each kind of reason among the warnings) or raises ImportFormatError with
one line for a file unusable as a whole; no other exception comes out of it. Work is bounded:
MAX_IMPORT_BYTES per file, zip archives by member count, bytes per member and in all (counted
while unpacking, whatever the archive declares), JSON by its number of values, CSV, OPML and HTML
by rows, outlines and tags.
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
from aggregator.formats._common import (
    MAX_IMPORT_BYTES,
    NOT_IMPORTABLE,
    clean_tags,
    decode_text,
    fail,
    shown,
)
from aggregator.formats._documents import load_json
from aggregator.formats.csvexport import guard_csv_cell
from aggregator.models import ImportBatch, Link, Subscription

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "MAX_IMPORT_BYTES",
    "check_import_size",
    "detect_format",
    "guard_csv_cell",
    "read_import",
    "write_export",
]

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
    ("pocket", pocket.is_pocket_annotations),
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
MAX_ZIP_MEMBERS = 1_000  # entries listed in one archive, read or not
MAX_ZIP_MEMBER = 64 * 1024 * 1024  # bytes unpacked from one member
MAX_ZIP_TOTAL = MAX_IMPORT_BYTES  # bytes unpacked, all members together
_ZIP_READABLE = ("csv", "json", "html", "htm", "opml", "xml")
_ZIP_ARCHIVES = ("zip", "gz", "tgz", "tar", "bz2", "xz", "7z", "rar", "jar")


def _not_importable(filename: str | None, detail: str = "") -> ImportFormatError:
    name = filename or "the file"
    return ImportFormatError(f"{name} {NOT_IMPORTABLE}{detail}", url=filename)


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename.rsplit("/", 1)[-1]:
        return ""
    return filename.rsplit(".", 1)[-1].lower()


def _fits(test: Callable[[Any], bool], document: Any) -> bool:
    """A shape test on a document the file controls: any failure means no."""
    try:
        return test(document)
    except Exception:
        return False


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
    sample = head[:4096]
    # Binary files are full of NUL bytes; a text export may carry a stray one in a record (that
    # record's problem, not the file's). UTF-16 text has one in every other byte.
    if sample.count(b"\x00") * 20 > len(sample) and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _not_importable(filename, " (it is a binary file)")
    text = decode_text(head).lstrip("\ufeff \t\r\n")
    if text[:1] in ("{", "["):
        document = load_json(data, filename)
        return [name for name, test in _JSON_SHAPES if _fits(test, document)]
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


def check_import_size(size: int, filename: str | None = None) -> None:
    """Refuse a file of more than MAX_IMPORT_BYTES; callers that know the size of a file call
    this before reading it (read_import checks the bytes it is given as well)."""
    if size > MAX_IMPORT_BYTES:
        raise fail(f"larger than {MAX_IMPORT_BYTES >> 20} MiB; split the file", filename)


def detect_format(data: bytes, *, filename: str | None = None) -> str:
    """The import format of a file, from its content first; the extension only breaks ties."""
    check_import_size(len(data), filename)
    try:
        candidates = _sniff(data, filename)
    except ImportFormatError:
        raise
    except Exception as error:
        raise _unreadable(error, filename) from None
    if not candidates:
        head = data[:4096].lower()
        if b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head:
            raise _not_importable(filename, " (it is a feed: subscribe to it instead)")
        raise _not_importable(filename)
    return _prefer_by_extension(candidates, filename)


# --- zip archives ------------------------------------------------------------------------


def _unsafe_name(name: str) -> bool:
    """A member name that climbs out of the archive or is absolute (never written to disk here,
    but a sign of a crafted archive): such members are not read."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """A member's bytes, at most `budget`: the declared size is checked first, and the bytes are
    counted while unpacking (a declared size can lie)."""
    limit = min(MAX_ZIP_MEMBER, budget)
    if info.file_size > limit:
        raise ValueError(f"{info.file_size:,} bytes unpacked")
    with archive.open(info) as member:
        content = member.read(limit + 1)
    if len(content) > limit:
        raise ValueError(f"more than {limit:,} bytes unpacked")
    return content


def _zip_members(data: bytes, filename: str | None) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The readable members of a zip archive and warnings about the members left out, with
    bounds against zip bombs: MAX_ZIP_MEMBERS entries, MAX_ZIP_MEMBER bytes unpacked from one
    member and MAX_ZIP_TOTAL from all. Archives inside the archive, encrypted members and names
    that climb out of it are left out with a warning."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise fail(f"broken or truncated zip archive ({error})", filename) from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise fail(f"zip archive with more than {MAX_ZIP_MEMBERS} files; refused", filename)
    members: list[tuple[str, bytes]] = []
    warnings: list[str] = []
    total = 0
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename
        if name.startswith("__MACOSX/"):
            continue
        if _unsafe_name(name):
            warnings.append(f"zip member {shown(name)} left out: its path leaves the archive")
            continue
        if _extension(name) in _ZIP_ARCHIVES:
            warnings.append(f"zip member {shown(name)} left out: archives in archives are not read")
            continue
        if _extension(name) not in _ZIP_READABLE:
            continue
        if info.flag_bits & 0x1:
            warnings.append(f"zip member {shown(name)} left out: it is encrypted")
            continue
        try:
            content = _read_member(archive, info, MAX_ZIP_TOTAL - total)
        except ValueError as error:
            if MAX_ZIP_TOTAL - total < MAX_ZIP_MEMBER:
                raise fail(
                    f"zip archive unpacks to more than {MAX_ZIP_TOTAL >> 20} MiB; refused",
                    filename,
                ) from None
            raise fail(
                f"zip member {shown(name)} is too big ({error}; at most "
                f"{MAX_ZIP_MEMBER >> 20} MiB); refused",
                filename,
            ) from None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
            # A broken member, or a compression method zipfile does not implement.
            raise fail(f"broken zip member {shown(name)} ({error})", filename) from None
        except Exception as error:  # zlib.error and other decoder errors: the member is broken
            raise fail(
                f"broken zip member {shown(name)} ({type(error).__name__})", filename
            ) from None
        total += len(content)
        members.append((name, content))
    return members, warnings


def _zip_readable(
    data: bytes, filename: str | None
) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """(member name, format, bytes) for every member we can read, and warnings about the others
    (Omnivore archives hold article HTML beside the metadata JSON: other files are ignored)."""
    members, warnings = _zip_members(data, filename)
    readable = []
    refusals: list[ImportFormatError] = []
    for name, content in members:
        if content.lstrip(b"\xef\xbb\xbf \t\r\n")[:4] == _ZIP_MAGIC:
            warnings.append(f"zip member {shown(name)} left out: archives in archives are not read")
            continue
        try:
            candidates = _sniff(content, name)
        except ImportFormatError as error:
            refusals.append(error)
            continue
        if candidates:
            readable.append((name, _prefer_by_extension(candidates, name), content))
    if not readable:
        if refusals:
            raise fail(str(refusals[0]), filename)
        raise _not_importable(filename, " (nothing readable in the zip archive)")
    warnings.extend(f"left out of the zip archive: {error}" for error in refusals)
    return readable, warnings


def _zip_format(data: bytes, filename: str | None) -> str:
    return _zip_readable(data, filename)[0][0][1]


def _read_zip(data: bytes, filename: str | None, format: str) -> ImportBatch:
    readable, warnings = _zip_readable(data, filename)
    batches = []
    for name, member_format, content in readable:
        if format not in ("auto", member_format):
            continue
        batches.append(_read_one(content, member_format, f"{filename or 'zip'}:{shown(name)}"))
    if not batches:
        raise fail(f"no {format} file in the zip archive", filename)
    return ImportBatch(
        format=batches[0].format,
        subscriptions=tuple(s for b in batches for s in b.subscriptions),
        links=tuple(link for b in batches for link in b.links),
        warnings=(*warnings, *(w for b in batches for w in b.warnings)),
        skipped=sum(b.skipped for b in batches),
    )


# --- reading -----------------------------------------------------------------------------


def _unreadable(error: Exception, filename: str | None, format: str = "") -> ImportFormatError:
    """The one-line refusal of a file whose own structure broke a reader (records are isolated
    inside the readers, so what reaches here is the file's, or memory's)."""
    what = f"cannot be read as {format}" if format else "cannot be read"
    return fail(f"{what} ({type(error).__name__}: {shown(str(error))})", filename)


def _read_one(data: bytes, format: str, filename: str | None) -> ImportBatch:
    reader = _READERS[format]
    try:
        return reader(data, path=filename)
    except ImportFormatError:
        raise
    except Exception as error:
        raise _unreadable(error, filename, format) from None


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
            highlights=tuple(
                {h.quote: h for h in (*seen.highlights, *link.highlights)}.values()
            ),
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
    """Everything an import file holds, or ImportFormatError (one line) for a file unusable as a
    whole: never a silently partial batch. A record that cannot be used (not an http(s) link,
    wrong types, a URL that is not text ...) is skipped, counted in `skipped` and explained among
    the warnings, whose first line then gives the count; entries repeating a URL are merged into
    one (tags combined) with a warning giving the count."""
    if format != "auto" and format not in FORMATS:
        raise ImportFormatError(
            f"unknown import format {format!r}; known: {', '.join(FORMATS)}", url=filename
        )
    check_import_size(len(data), filename)
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise _not_importable(filename, " (it is empty)")
    try:
        if head[:4] == _ZIP_MAGIC:
            batch = _read_zip(data, filename, format)
        else:
            chosen = detect_format(data, filename=filename) if format == "auto" else format
            batch = _read_one(data, chosen, filename)
    except ImportFormatError:
        raise
    except Exception as error:  # recognising the file met something unforeseen: still one line
        raise _unreadable(error, filename) from None
    links, link_repeats = _merge_links(batch.links)
    subs, sub_repeats = _merge_subscriptions(batch.subscriptions)
    warnings = list(batch.warnings)
    if batch.skipped:
        kept = len(batch.links) + len(batch.subscriptions)
        warnings.insert(
            0, f"{batch.skipped} of {batch.skipped + kept} records skipped (reasons below)"
        )
    if link_repeats:
        warnings.append(f"{link_repeats} repeated link URLs merged into one each (tags combined)")
    if sub_repeats:
        warnings.append(f"{sub_repeats} repeated feed URLs merged into one each (tags combined)")
    return ImportBatch(
        format=batch.format,
        subscriptions=tuple(subs),
        links=tuple(links),
        warnings=tuple(warnings),
        skipped=batch.skipped,
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
