"""Strict reading of response header values a server controls: numbers of ASCII digits with a
bounded length, HTTP dates within years 1970-9999, the media type and charset label of
Content-Type. A value that does not read is None (ignored), never an exception."""

from __future__ import annotations

import calendar
import email.utils
import re
from collections.abc import Iterable, Mapping
from typing import Union

__all__ = [
    "HeadersLike",
    "combined",
    "parse_content_type",
    "parse_digits",
    "parse_http_date",
]

HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]]]

MAX_DATE_LENGTH = 100  # an IMF-fixdate is 29 characters; obsolete forms are a little longer
MAX_LABEL_LENGTH = 40  # longer than any charset label of the WHATWG Encoding Standard
MAX_MEDIA_TYPE_LENGTH = 200
_DIGITS = {n: re.compile(f"[0-9]{{1,{n}}}") for n in (10, 19)}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_digits(value: str | None, *, max_digits: int = 10) -> int | None:
    """The number in `value` (surrounding white space allowed) when it is 1 to `max_digits`
    ASCII digits, else None: `²`, `-5`, `1e9` and a thousand digits are not numbers here."""
    if value is None:
        return None
    pattern = _DIGITS.get(max_digits) or re.compile(f"[0-9]{{1,{max_digits}}}")
    text = value.strip()
    return int(text) if pattern.fullmatch(text) else None


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP date (IMF-fixdate or an obsolete form, GMT when no
    zone is given), or None when it does not read or falls outside years 1970-9999."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_DATE_LENGTH or not text.isascii():
        return None
    try:
        parsed = email.utils.parsedate_tz(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    offset = parsed[9] or 0
    if abs(offset) > 24 * 3600:  # zones are within a day of UTC
        return None
    if not (1970 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    if not (0 <= hour <= 24 and 0 <= minute <= 59 and 0 <= second <= 61):
        return None
    try:
        stamp = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return float(stamp - offset)


def combined(headers: HeadersLike) -> dict[str, str]:
    """Header values by lower-case name, repeated fields joined with ", " (RFC 9110 5.3)."""
    found: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        name = key.lower()
        found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def parse_content_type(value: str | None) -> tuple[str, str | None]:
    """(media type in lower case or "", charset label in lower case or None). The label is only
    read here, never looked up: `aggregator.encodings` decides what it means."""
    if not value:
        return "", None
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if len(media) > MAX_MEDIA_TYPE_LENGTH or not media.isascii():
        media = ""
    charset = None
    for param in params.split(";"):
        key, _, raw = param.partition("=")
        if key.strip().lower() != "charset":
            continue
        label = raw.strip().strip("\"'").strip().lower()
        if label and len(label) <= MAX_LABEL_LENGTH and _TOKEN.fullmatch(label):
            charset = label
        break
    return media, charset
