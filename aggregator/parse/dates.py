"""Feed dates -> UTC ISO 8601 (`2024-05-01T09:30:00Z`) inside a sane range. Pure.

A date is a value a stranger wrote: any year, any length. What comes out is either None or a
moment between 1970 and the end of 2100: later dates are clamped to the end of 2100 (a feed that
dates its posts far in the future still sorts last, by first-seen time), earlier ones are None,
because before 1970 feeds only write placeholders (Go's zero time 0001-01-01, a zero timestamp)
and an unknown date falls back to first-seen time. Nothing here raises for any input.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser.datetimes

FIRST_YEAR = 1970
LAST_YEAR = 2100
LATEST = f"{LAST_YEAR}-12-31T23:59:59Z"
MAX_DATE_CHARS = 100  # no date form is longer; a longer value is not a date

# The two date forms feeds use most, read the way feedparser's first handler to accept them
# does (w3dtf, then rfc822 with a day name, which w3dtf refuses); anything else, and any value
# they cannot build a date from, goes through feedparser's chain of handlers.
_W3DTF = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2}(?:\.[0-9]+)?)"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UT|UTC|Z|([+-])([0-9]{2})([0-9]{2}))"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def feedparser_date(value: str) -> Any:
    """feedparser.datetimes._parse_date(value): the same 9-tuple, common forms read directly.
    Values longer than any date are not parsed (None)."""
    if not isinstance(value, str) or len(value) > MAX_DATE_CHARS:
        return None
    try:
        m = _W3DTF.fullmatch(value)
        if m:
            year, month, day, hour, minute = (int(g) for g in m.group(1, 2, 3, 4, 5))
            second = int(float(m.group(6)))
        else:
            m = _RFC822.fullmatch(value)
            if m is None:
                return _feedparser_parse(value)
            day, month, year = int(m.group(1)), _MONTHS[m.group(2)], int(m.group(3))
            hour, minute, second = (int(g) for g in m.group(4, 5, 6))
        sign = m.group(7)
        tzhour = tzmin = 0
        if sign:
            tzhour, tzmin = int(m.group(8)), int(m.group(9))
            if sign == "-":
                tzhour, tzmin = -tzhour, -tzmin
        stamp = datetime(year, month, day, hour, minute, second)
        return (stamp - timedelta(0, 0, 0, 0, tzmin, tzhour)).utctimetuple()
    except (OverflowError, ValueError):
        return _feedparser_parse(value)


def _feedparser_parse(value: str) -> Any:
    try:
        return feedparser.datetimes._parse_date(value)
    except Exception:  # a handler of feedparser's that fails in a way it does not expect
        return None


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def iso_of_tuple(parsed: Any) -> str | None:
    """A feedparser 9-tuple (or time.struct_time) -> ISO 8601 in range, or None."""
    return in_range(_format_tuple(parsed))


def _format_tuple(parsed: Any) -> str | None:
    if not parsed:
        return None
    try:
        y, mo, d, h, mi, s = parsed[:6]
        if (
            type(y) is type(mo) is type(d) is type(h) is type(mi) is type(s) is int
            and 1000 <= y <= 9999
            and 1 <= mo <= 12
            and 1 <= d <= _MONTH_DAYS[mo]
            and 0 <= h < 24
            and 0 <= mi < 60
            and 0 <= s < 60
        ):
            # a valid moment: what the round trip through timegm and gmtime would print
            return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)
    except (TypeError, ValueError):
        pass
    try:
        moment = time.gmtime(calendar.timegm(parsed))
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tm_year > 9999:
        return LATEST
    if moment.tm_year < 1000:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)


def in_range(iso: str | None) -> str | None:
    """An ISO 8601 UTC moment (`YYYY-MM-DDTHH:MM:SSZ`) clamped to the range, or None."""
    if not iso or not _ISO.fullmatch(iso):
        return None
    year = int(iso[:4])
    if year < FIRST_YEAR:
        return None
    if year > LAST_YEAR:
        return LATEST
    return iso


def parse_date(value: str | None) -> str | None:
    """RFC 3339 / ISO 8601 / RFC 822 date -> UTC ISO 8601 with a T and Z in range, or None."""
    if not value or not isinstance(value, str) or len(value) > MAX_DATE_CHARS:
        return None
    value = value.strip()
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return iso_of_tuple(_feedparser_parse(value))  # RFC 822 and friends
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return in_range(dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    except (OverflowError, ValueError):
        # only the year can be out of range here (0001 moved west, 9999 moved east)
        return LATEST if dt.year > LAST_YEAR else None
