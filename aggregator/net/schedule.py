"""When a server may be asked again, from what it said: Retry-After, Cache-Control (max-age,
no-cache, no-store) less Age, and Expires, each capped at MAX_RETRY_AFTER. Unreadable values
are ignored. Pure: no I/O."""

from __future__ import annotations

import time

from aggregator.net.headers import HeadersLike, combined, parse_digits, parse_http_date

__all__ = ["MAX_RETRY_AFTER", "cache_lifetime", "next_check_delay", "parse_retry_after"]

# The longest wait a server can ask for (Retry-After, Cache-Control, Expires) or a feed's TTL
# can set: a week, so a feed that asked for a year is still looked at.
MAX_RETRY_AFTER = 7 * 24 * 3600.0
_MAX_SECONDS_DIGITS = 10  # 300 years of seconds: anything longer is capped anyway


def _seconds(value: str | None) -> float | None:
    """Delta-seconds of ASCII digits; a longer run of digits than a date could need is capped
    rather than refused, since it says "a very long time"."""
    if value is None:
        return None
    text = value.strip()
    number = parse_digits(text, max_digits=_MAX_SECONDS_DIGITS)
    if number is not None:
        return float(number)
    if 0 < len(text) <= 4096 and text.isascii() and text.isdigit():
        return float(10**_MAX_SECONDS_DIGITS)
    return None


def parse_retry_after(
    value: str | None, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), at most `cap`
    (7 days); 0 for a date in the past; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return min(seconds, cap)
    when = parse_http_date(value)
    if when is None:
        return None
    now = time.time() if now is None else now
    return min(max(0.0, when - now), cap)


def cache_lifetime(
    headers: HeadersLike, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds the response may be considered fresh, from Cache-Control (no-store / no-cache -> 0,
    max-age minus Age) or else Expires (an invalid date or `0` -> 0); None when neither is given.
    Capped at `cap` (7 days)."""
    found = combined(headers)
    control = found.get("cache-control")
    if control:
        directives: dict[str, str] = {}
        for part in control.split(","):
            key, _, value = part.strip().partition("=")
            directives[key.strip().lower()] = value.strip().strip('"')
        if "no-store" in directives or "no-cache" in directives:
            return 0.0
        max_age = _seconds(directives.get("max-age"))
        if max_age is not None:
            age = _seconds(found.get("age")) or 0.0
            return min(max(0.0, max_age - age), cap)
    if "expires" in found:
        when = parse_http_date(found["expires"])
        if when is None:  # RFC 9111: an invalid date, `0` included, means already expired
            return 0.0
        now = time.time() if now is None else now
        return min(max(0.0, when - now), cap)
    return None


def next_check_delay(
    headers: HeadersLike, ttl_minutes: int | None = None, now: float | None = None
) -> float | None:
    """Seconds before a feed that answered may be asked again: the longer of what its headers
    allow (cache_lifetime) and its TTL, at most MAX_RETRY_AFTER; None for "on the next run"."""
    seconds = cache_lifetime(headers, now) or 0.0
    if ttl_minutes and ttl_minutes > 0:
        seconds = max(seconds, float(ttl_minutes) * 60.0)
    return min(seconds, MAX_RETRY_AFTER) if seconds > 0 else None
