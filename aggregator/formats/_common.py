"""Helpers shared by the format modules: decoding, strict dates, safe text and tags, the
per-record boundary (Collector) and errors.
Pure: no I/O beyond the bytes given, no SQL, no network.

Every value read from a file is hostile: numbers are ASCII digits only, dates are parsed strictly
and kept within 1971-2100, every string handed on has no lone surrogates or control characters
and a bounded length (so it binds in SQLite), and one bad record is skipped with a reason while
the others are kept. Only a file unusable as a whole raises ImportFormatError."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from aggregator.errors import ImportFormatError
from aggregator.models import Highlight, ImportBatch, Link, Subscription
from aggregator.sanitize import MAX_FIELD, MAX_TITLE, clean_text, safe_url

T = TypeVar("T")
R = TypeVar("R")

NOT_IMPORTABLE = "is not a bookmark, feed list or read-later export"
MAX_ITEMS = 200_000  # links or feeds in one file; beyond this the file is refused as a whole
MAX_TAGS = 100  # per link
MAX_TAG_LENGTH = 100
MAX_NOTE = 100_000
MAX_URL = 8_192  # characters; a longer URL skips its record (browsers and servers stop near here)
MAX_IMPORT_BYTES = 256 * 1024 * 1024  # one import file, or all members of a zip unpacked
MAX_REASONS = 5  # one-line reasons kept per kind of skipped record; the rest are counted

_EPOCH_MIN = datetime(1971, 1, 1, tzinfo=timezone.utc).timestamp()
_EPOCH_MAX = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()
# Control characters, and lone surrogates (legal in JSON, refused by SQLite's UTF-8 encoder).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH_TEXT = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
MAX_DATE_TEXT = 64
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BARE_HOST = re.compile(
    r"(?://)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?::[0-9]+)?(?:[/?#]|$)"
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


def text_encoding(data: bytes) -> tuple[str, int]:
    """The codec decode_text reads a file with, and the length of the BOM to skip; UTF-8 is
    checked a megabyte at a time, without a copy of the whole text."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252", 0
    return "utf-8", 0


def text_stream(data: bytes) -> io.TextIOWrapper:
    """The text of a file as decode_text reads it, decoded while it is read: a large file is
    never held twice (nor four times, when one character outside the BMP would make Python
    store the whole text at four bytes a character)."""
    encoding, bom = text_encoding(data)
    raw = io.BytesIO(data)  # shares the bytes until written to
    raw.seek(bom)
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")


# --- dates -------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """UTC ISO 8601 to the second: 2024-05-01T09:30:00Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment_from_epoch(number: float) -> str | None:
    if number != number or number <= 0:  # NaN, zero, negative
        return None
    for _ in range(3):  # milliseconds, microseconds, nanoseconds
        if number < _EPOCH_MAX:
            break
        number /= 1000
    if not _EPOCH_MIN <= number < _EPOCH_MAX:
        return None
    return iso(datetime.fromtimestamp(number, tz=timezone.utc))


def date_from_epoch(value: Any) -> str | None:
    """An epoch timestamp in seconds, milliseconds, microseconds or nanoseconds (told apart by
    magnitude, as linkding and Firefox write all of them) as UTC ISO 8601; None when absent,
    zero, unparseable or outside 1971-2100. Text must be ASCII digits (with an optional
    fraction): `float()` would also take "١٢٣", "1e400" and "nan"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _moment_from_epoch(float(value))
        except (OverflowError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _EPOCH_TEXT.fullmatch(text):
        return None
    return _moment_from_epoch(float(text))


def date_from_text(value: Any) -> str | None:
    """An ISO 8601-ish date string ("2016-09-08T11:55:58+0200", "...Z", "2015-09-09 11:10:32 UTC"),
    an RFC 822 date or an epoch number, as UTC ISO 8601; naive times are taken as UTC. None when
    unreadable or outside 1971-2100 (a year such as 9999999999 included)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return date_from_epoch(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_DATE_TEXT:
        return None
    if _EPOCH_TEXT.fullmatch(text):
        return date_from_epoch(text)
    if text.endswith(" UTC") or text.endswith(" GMT"):
        text = text[:-4]
    try:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = parsedate_to_datetime(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if not _EPOCH_MIN <= moment.timestamp() < _EPOCH_MAX:
            return None
        return iso(moment)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def epoch_from_iso(value: Any) -> int | None:
    """Seconds since the epoch of an ISO 8601 date (as our own exports hold), or None."""
    normalised = date_from_text(value)
    if normalised is None:
        return None
    moment = datetime.strptime(normalised, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


# --- text and tags -----------------------------------------------------------------------


def scalar(value: Any) -> str | None:
    """A value that is text in a file (a string, or a number written where text was expected) as
    a string; None for anything else (objects, lists, booleans, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def one_line(text: str) -> str:
    """Line breaks, with the spaces and tabs around them, made one space. (By splitting: the
    pattern `[ \t]*[\r\n]+` rescans a run of spaces from each of its characters, quadratic
    time, 0.14 s for one title of 4,000 spaces.)"""
    if "\n" not in text and "\r" not in text:
        return text
    return " ".join(part.strip(" \t") for part in _LINE_BREAKS.split(text) if part.strip())


def title_text(value: Any) -> str | None:
    """A title exactly as given: only surrounding whitespace trimmed, control characters, lone
    surrogates and line breaks removed (a title is one line). None when empty or not text."""
    text = scalar(value)
    if text is None:
        return None
    text = one_line(_CONTROL.sub("", text[: MAX_TITLE * 4]).strip())
    return text[:MAX_TITLE] or None


MAX_HIGHLIGHTS = 5_000  # per link


def highlight_items(
    value: Any, *, quote: str, note: str, created: str, epoch: bool = False
) -> list[tuple[Any, Any, str | None]]:
    """(quote, note, created_at) of a list of highlight objects, read with the given keys; a
    value that is not a list of objects gives none."""
    if not isinstance(value, list):
        return []
    found = []
    for item in value[:MAX_HIGHLIGHTS]:
        if isinstance(item, Mapping):
            when = item.get(created)
            date = date_from_epoch(when) if epoch else date_from_text(when)
            found.append((item.get(quote), item.get(note), date))
    return found


def marks(items: Iterable[tuple[Any, Any, str | None]]) -> tuple[Highlight, ...]:
    """Highlights as a format gives them, cleaned like notes; one without a quote is left out."""
    found: list[Highlight] = []
    for quote, note, created_at in items:
        text = note_text(quote)
        if text:
            found.append(Highlight(quote=text, note=note_text(note), created_at=created_at))
        if len(found) >= MAX_HIGHLIGHTS:
            break
    return tuple(found)


def note_text(value: Any) -> str | None:
    """Several lines of plain text (a note, an excerpt), capped. None when empty or not text."""
    text = scalar(value)
    if text is None:
        return None
    text = _CONTROL.sub("", text[: MAX_NOTE * 2]).strip()
    return text[:MAX_NOTE] or None


def html_text(value: Any) -> str | None:
    """Raw article HTML as an export holds it (sanitised later, when stored): text only, lone
    surrogates removed (the sanitiser and SQLite both refuse them), capped like any field."""
    if not isinstance(value, str):
        return None
    text = value[:MAX_FIELD].strip()
    if not text.isascii():
        text = _SURROGATE.sub("", text)
    return text or None


def split_tags(value: Any, separators: str = ",") -> list[str]:
    """Tags from a list or a separated string; items that are not text are left out."""
    if isinstance(value, (list, tuple)):
        items = [text for text in map(scalar, value) if text is not None]
    else:
        text = scalar(value)
        if text is None:
            return []
        items = re.split("[" + re.escape(separators) + "]", text)
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
    """JSON/CSV booleans as exports write them: true, 1, "1", "true", "yes". Objects and lists
    are not booleans: false."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    if isinstance(value, (bool, int, float)):
        return bool(value) and value == value  # NaN is not true
    return False


def checked_url(raw: str) -> str | None:
    """An absolute http(s) URL, or None. A scheme-less "www.example.com/feed" or "//host/x", as
    hand-edited OPML files hold, is taken as http (the fetcher follows redirects to https)."""
    if raw and "://" not in raw[:12] and _BARE_HOST.match(raw):
        raw = "http:" + raw if raw.startswith("//") else "http://" + raw
    return safe_url(raw)


def url_problem(value: Any) -> str | None:
    """Why a value cannot be a URL before it is even parsed, or None. Lone surrogates are not
    removed from a URL (that would make it another one): the record is skipped instead."""
    if not isinstance(value, str):
        return "URL is not text"
    if len(value) > MAX_URL:
        return f"URL longer than {MAX_URL} characters"
    if not value.isascii() and _SURROGATE.search(value):
        return "URL is not valid Unicode (lone surrogate)"
    return None


def shown(value: Any) -> str:
    """A value quoted in a warning: one line, at most 200 characters, safe to print."""
    text = scalar(value)
    if not text:
        return "(no URL)"
    return one_line(_CONTROL.sub("", text[:400]))[:200] or "(no URL)"


# --- building results --------------------------------------------------------------------


class Collector:
    """The per-record boundary of one file: accumulates links, subscriptions and warnings. A
    record that cannot be used is skipped and counted with a one-line reason (the first few of
    each kind are kept as warnings, the rest counted); a field of the wrong type is dropped with
    a warning and its record kept. Only the item bound raises, refusing the file as a whole."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.links: list[Link] = []
        self.subscriptions: list[Subscription] = []
        self.warnings: list[str] = []
        self.skipped = 0
        self._reasons: dict[str, int] = {}
        self._skip_reasons: set[str] = set()

    def _check_size(self) -> None:
        if len(self.links) + len(self.subscriptions) >= MAX_ITEMS:
            raise fail(f"more than {MAX_ITEMS} entries; split the file", self.path)

    def _warn(self, reason: str, line: str) -> None:
        count = self._reasons.get(reason, 0)
        self._reasons[reason] = count + 1
        if count < MAX_REASONS:
            self.warnings.append(line)
        elif count == MAX_REASONS:
            self.warnings.append(f"further entries: {reason} (see count at the end)")

    def skip(self, reason: str, url: Any) -> None:
        """Count a skipped record; warnings are grouped per reason to keep them readable."""
        self.skipped += 1
        self._skip_reasons.add(reason)
        self._warn(reason, f"skipped {shown(url)}: {reason}")

    def ignore(self, reason: str, url: Any) -> None:
        """Note a field dropped from a record that is kept."""
        self._warn(reason, f"{shown(url)}: {reason}")

    def attempt(self, where: str, handle: Callable[..., R], *args: Any) -> R | None:
        """handle(*args) inside the boundary of one record: whatever it raises, of any type,
        skips the record (named by `where`) with a reason and gives None. The item bound
        (ImportFormatError) still refuses the file."""
        try:
            return handle(*args)
        except ImportFormatError:
            raise
        except Exception as error:  # one record's failure is that record's alone
            self.skip(f"unreadable record ({type(error).__name__})", where)
            return None

    def each(self, items: Iterable[T], handle: Callable[[T], object]) -> None:
        """handle(item) for every item, each inside its own boundary (see attempt)."""
        for number, item in enumerate(items, start=1):
            self.attempt(f"record {number}", handle, item)

    def _url(self, url: Any, *, missing: str, bad: str) -> str | None:
        if url is None or url == "":
            self.skip(missing, None)
            return None
        problem = url_problem(url)
        if problem is not None:
            self.skip(problem, url)
            return None
        raw = url.strip()
        checked = checked_url(raw) if raw else None
        if checked is None:
            self.skip(bad if raw else missing, raw)
        return checked

    def _field(self, value: Any, name: str, url: str, text: Callable[[Any], str | None]) -> Any:
        if value is None:
            return None
        if scalar(value) is None:
            self.ignore(f"{name} is not text; left out", url)
            return None
        return text(value)

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
        content_html: Any = None,
        highlights: Iterable[tuple[Any, Any, str | None]] = (),
    ) -> Link | None:
        """`highlights`: (quote, note, created_at) of the passages the reader marked."""
        checked = self._url(url, missing="no URL", bad="not an http(s) link")
        if checked is None:
            return None
        self._check_size()
        link = Link(
            url=checked,
            title=self._field(title, "title", checked, title_text),
            tags=clean_tags(tags),
            note=self._field(note, "note", checked, note_text),
            saved_at=saved_at,
            state=state,
            starred=bool(starred),
            excerpt=self._field(excerpt, "excerpt", checked, note_text),
            content_html=html_text(content_html),
            highlights=marks(highlights),
        )
        self.links.append(link)
        return link

    def add_subscription(
        self, url: Any, *, title: Any = None, site_url: Any = None, tags: Iterable[str] = ()
    ) -> Subscription | None:
        checked = self._url(url, missing="no feed URL", bad="feed URL is not http(s)")
        if checked is None:
            return None
        self._check_size()
        site = site_url.strip() if isinstance(site_url, str) else None
        sub = Subscription(
            url=checked,
            title=self._field(title, "title", checked, title_text),
            site_url=safe_url(site) if site and url_problem(site) is None else None,
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
            skipped=self.skipped,
        )

    def final_warnings(self) -> tuple[str, ...]:
        extra = [
            f"{count} entries {'skipped ' if reason in self._skip_reasons else ''}in all: {reason}"
            for reason, count in self._reasons.items()
            if count > MAX_REASONS
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
