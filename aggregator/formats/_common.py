"""Helpers shared by the format modules: decoding, dates, tags, link building, errors.
Pure: no I/O beyond the bytes given, no SQL, no network."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from aggregator.errors import ImportFormatError
from aggregator.models import ImportBatch, Link, Subscription
from aggregator.sanitize import clean_text, safe_url

NOT_IMPORTABLE = "is not a bookmark, feed list or read-later export"
MAX_ITEMS = 200_000  # links or feeds in one file; beyond this the file is refused as a whole
MAX_TAGS = 100  # per link
MAX_TAG_LENGTH = 100
MAX_NOTE = 100_000

_EPOCH_MIN = datetime(1971, 1, 1, tzinfo=timezone.utc).timestamp()
_EPOCH_MAX = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+\s*")
_BARE_HOST = re.compile(
    r"(?://)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?::\d+)?(?:[/?#]|$)"
)


def fail(message: str, path: str | None = None) -> ImportFormatError:
    """An ImportFormatError naming the file when we know it."""
    where = f"{path}: " if path else ""
    return ImportFormatError(f"{where}{message}", url=path)


def decode_text(data: bytes) -> str:
    """Text of a file: BOMs honoured, UTF-8 preferred, cp1252 as the old-Windows fallback."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def load_json(data: bytes, path: str | None = None) -> Any:
    try:
        return json.loads(decode_text(data))
    except (ValueError, RecursionError) as error:
        raise fail(f"broken or truncated JSON ({error})", path) from None


def json_objects(
    data: bytes, path: str | None, not_a_list: str, found: Collector
) -> Iterator[Mapping[str, Any]]:
    """The objects of an export that is a JSON array of objects; anything else in the array is
    skipped with a warning, and a document that is not an array refuses the file with the
    message `not_a_list`."""
    document = load_json(data, path)
    if not isinstance(document, list):
        raise fail(not_a_list, path)
    for item in document:
        if isinstance(item, Mapping):
            yield item
        else:
            found.skip("not an object", None)


def csv_records(data: bytes, path: str | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """Header names (trimmed, lower case) and rows keyed by them. Strict: a broken quote, a row
    with more or fewer fields than the header (a truncated file) or an over-long field refuses
    the whole file."""
    text = decode_text(data)
    try:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(rows, None)
        if not header:
            raise fail("empty CSV", path)
        names = [name.strip().lower() for name in header]
        records: list[dict[str, str]] = []
        for number, row in enumerate(rows, start=2):
            if not row or row == [""]:
                continue
            if len(row) != len(names):
                raise fail(
                    f"row {number} has {len(row)} fields, the header {len(names)} "
                    "(broken or truncated CSV)",
                    path,
                )
            records.append(dict(zip(names, row, strict=True)))
            if len(records) > MAX_ITEMS:
                raise fail(f"more than {MAX_ITEMS} rows; split the file", path)
    except csv.Error as error:
        raise fail(f"broken or truncated CSV ({error})", path) from None
    return names, records


def csv_header(data: bytes) -> list[str]:
    """The header names of a CSV file (lower case), or [] when the first line is not one."""
    first = decode_text(data[:4096]).splitlines()[:1]
    if not first:
        return []
    try:
        row = next(csv.reader(io.StringIO(first[0])), [])
    except csv.Error:
        return []
    return [name.strip().lower() for name in row]


# --- dates -------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """UTC ISO 8601 to the second: 2024-05-01T09:30:00Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_from_epoch(value: Any) -> str | None:
    """An epoch timestamp in seconds, milliseconds, microseconds or nanoseconds (told apart by
    magnitude, as linkding and Firefox write all of them) as UTC ISO 8601; None when absent,
    zero, unparseable or outside 1971-2100."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if number != number or number <= 0:  # NaN, zero, negative
        return None
    for _ in range(4):
        if number < _EPOCH_MAX:
            break
        number /= 1000
    if not _EPOCH_MIN <= number < _EPOCH_MAX:
        return None
    return iso(datetime.fromtimestamp(number, tz=timezone.utc))


def date_from_text(value: Any) -> str | None:
    """An ISO 8601-ish date string ("2016-09-08T11:55:58+0200", "...Z", "2015-09-09 11:10:32 UTC")
    or an epoch number, as UTC ISO 8601; naive times are taken as UTC. None when unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return date_from_epoch(value)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return date_from_epoch(text)
    if text.endswith(" UTC") or text.endswith(" GMT"):
        text = text[:-4]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if not _EPOCH_MIN <= moment.timestamp() < _EPOCH_MAX:
        return None
    return iso(moment)


def epoch_from_iso(value: Any) -> int | None:
    """Seconds since the epoch of an ISO 8601 date (as our own exports hold), or None."""
    normalised = date_from_text(value)
    if normalised is None:
        return None
    moment = datetime.strptime(normalised, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


# --- text and tags -----------------------------------------------------------------------


def title_text(value: Any) -> str | None:
    """A title exactly as given: only surrounding whitespace trimmed, control characters and
    line breaks removed (a title is one line). None when empty."""
    if value is None:
        return None
    text = _LINE_BREAKS.sub(" ", _CONTROL.sub("", str(value)).strip())
    return text[:1000] or None


def note_text(value: Any) -> str | None:
    if value is None:
        return None
    text = _CONTROL.sub("", str(value)).strip()
    return text[:MAX_NOTE] or None


def split_tags(value: Any, separators: str = ",") -> list[str]:
    """Tags from a list or a separated string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value if v is not None]
    else:
        items = re.split("[" + re.escape(separators) + "]", str(value))
    return [item for item in items if item.strip()]


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, single-spaced, deduplicated case-insensitively (first spelling kept)."""
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        text = clean_text(tag, is_html=False, limit=MAX_TAG_LENGTH)
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
        if len(out) >= MAX_TAGS:
            break
    return tuple(out)


def truthy(value: Any) -> bool:
    """JSON/CSV booleans as exports write them: true, 1, "1", "true", "yes"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def checked_url(raw: str) -> str | None:
    """An absolute http(s) URL, or None. A scheme-less "www.example.com/feed" or "//host/x", as
    hand-edited OPML files hold, is taken as http (the fetcher follows redirects to https)."""
    if raw and "://" not in raw[:12] and _BARE_HOST.match(raw):
        raw = "http:" + raw if raw.startswith("//") else "http://" + raw
    return safe_url(raw)


# --- building results --------------------------------------------------------------------


class Collector:
    """Accumulates links, subscriptions and warnings for one file, enforcing the item bound."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.links: list[Link] = []
        self.subscriptions: list[Subscription] = []
        self.warnings: list[str] = []
        self._skipped: dict[str, int] = {}

    def _check_size(self) -> None:
        if len(self.links) + len(self.subscriptions) >= MAX_ITEMS:
            raise fail(f"more than {MAX_ITEMS} entries; split the file", self.path)

    def skip(self, reason: str, url: Any) -> None:
        """Note a skipped entry; warnings are grouped per reason to keep them readable."""
        shown = str(url)[:200] if url else "(no URL)"
        count = self._skipped.get(reason, 0)
        self._skipped[reason] = count + 1
        if count < 5:
            self.warnings.append(f"skipped {shown}: {reason}")
        elif count == 5:
            self.warnings.append(f"further entries skipped: {reason} (see count at the end)")

    def add_link(
        self,
        url: Any,
        *,
        title: Any = None,
        tags: Iterable[str] = (),
        note: Any = None,
        saved_at: str | None = None,
        state: str | None = None,
        starred: bool = False,
        excerpt: Any = None,
        content_html: str | None = None,
    ) -> Link | None:
        raw = str(url).strip() if url is not None else ""
        checked = checked_url(raw) if raw else None
        if checked is None:
            self.skip("not an http(s) link" if raw else "no URL", raw)
            return None
        self._check_size()
        link = Link(
            url=checked,
            title=title_text(title),
            tags=clean_tags(tags),
            note=note_text(note),
            saved_at=saved_at,
            state=state,
            starred=bool(starred),
            excerpt=note_text(excerpt),
            content_html=content_html or None,
        )
        self.links.append(link)
        return link

    def add_subscription(
        self, url: Any, *, title: Any = None, site_url: Any = None, tags: Iterable[str] = ()
    ) -> Subscription | None:
        raw = str(url).strip() if url is not None else ""
        checked = checked_url(raw) if raw else None
        if checked is None:
            self.skip("feed URL is not http(s)" if raw else "no feed URL", raw)
            return None
        self._check_size()
        sub = Subscription(
            url=checked,
            title=title_text(title),
            site_url=safe_url(str(site_url)) if site_url else None,
            tags=clean_tags(tags),
        )
        self.subscriptions.append(sub)
        return sub

    def batch(self, format: str) -> ImportBatch:
        return ImportBatch(
            format=format,
            subscriptions=tuple(self.subscriptions),
            links=tuple(self.links),
            warnings=self.final_warnings(),
        )

    def final_warnings(self) -> tuple[str, ...]:
        extra = [
            f"{count} entries skipped in all: {reason}"
            for reason, count in self._skipped.items()
            if count > 5
        ]
        return tuple(self.warnings + extra)


def get(row: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-empty value among several possible keys."""
    for name in names:
        value = row.get(name)
        if value not in (None, ""):
            return value
    return None


# --- export helpers ----------------------------------------------------------------------


def article_date(article: Mapping[str, Any]) -> str | None:
    """The date a reading list shows: when it was saved, else published, else updated."""
    for key in ("saved_at", "published", "updated"):
        value = date_from_text(article.get(key))
        if value:
            return value
    return None


def group_articles(
    articles: Iterable[Mapping[str, Any]], group_by: str | None
) -> list[tuple[str | None, list[Mapping[str, Any]]]]:
    """Articles in sections: one section (heading None) without grouping; by "tag" an article
    appears under each of its tags (sorted, "Untagged" last); by "date" per day, newest first
    ("Undated" last). Order within a section is kept."""
    items = list(articles)
    if group_by is None:
        return [(None, items)]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    if group_by == "tag":
        for article in items:
            tags = [str(t) for t in article.get("tags") or [] if str(t).strip()]
            tags = tags or ["\uffffUntagged"]  # sorts last
            for tag in dict.fromkeys(tags):
                groups.setdefault(tag, []).append(article)
        ordered = sorted(groups, key=str.casefold)
        return [(key.lstrip("\uffff"), groups[key]) for key in ordered]
    for article in items:
        day = (article_date(article) or "")[:10] or "Undated"
        groups.setdefault(day, []).append(article)
    ordered = sorted((k for k in groups if k != "Undated"), reverse=True)
    if "Undated" in groups:
        ordered.append("Undated")
    return [(key, groups[key]) for key in ordered]
