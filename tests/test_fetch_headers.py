"""Header values a server controls, read strictly: numbers of ASCII digits only, bounded,
dates within years 1970-9999, charset labels kept as short tokens. A value that does not read is
ignored, never an exception (a fetch that raised here would stop every feed after it)."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.fetch import MAX_RETRY_AFTER, cache_lifetime, next_check_delay, parse_retry_after
from aggregator.net.headers import parse_content_type, parse_digits, parse_http_date

NOW = 1_700_000_000.0
WEEK = 7 * 24 * 3600

# Unicode digits that str.isdigit() accepts and int() refuses, and other near-numbers
NOT_NUMBERS = ["²", "¹", "³", "١٢", "１２", "-5", "+5", "1.5e9", "0x10", "1_000", "12 34", "", " "]
HUGE_DATES = [
    "Thu, 01 Jan 9999999999 00:00:00 GMT",
    "Fri, 31 Dec 99999 23:59:59 GMT",
    "Wed, 99 Foo 2024 99:99:99 GMT",
    "Sun, 06 Nov 1994 08:49:37 +99999999",
]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_digits_are_ascii_only(value: str) -> None:
    assert parse_digits(value) is None


def test_digits_bounded_and_surrounding_space_allowed() -> None:
    assert parse_digits(" 120 ") == 120
    assert parse_digits("9" * 10) == 9_999_999_999
    assert parse_digits("9" * 11) is None
    assert parse_digits("1" * 5000) is None  # int() itself refuses over 4,300 digits


@pytest.mark.parametrize("value", HUGE_DATES)
def test_dates_out_of_range_are_ignored(value: str) -> None:
    assert parse_http_date(value) is None


def test_dates_in_range_are_read() -> None:
    assert parse_http_date(email.utils.formatdate(NOW, usegmt=True)) == NOW
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777.0
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777.0
    assert parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT") is not None
    assert parse_http_date("x" * 10_000) is None


@pytest.mark.parametrize("value", NOT_NUMBERS + HUGE_DATES)
def test_retry_after_that_does_not_read_is_ignored(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_of_many_digits_is_capped_not_refused() -> None:
    assert parse_retry_after("9" * 30, NOW) == WEEK


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "max-age=¹"},
        {"Cache-Control": "max-age=" + "9" * 5000},
        {"Cache-Control": "max-age=-1"},
        {"Cache-Control": "max-age=1e9"},
    ],
)
def test_max_age_that_does_not_read_gives_no_lifetime(headers: dict[str, str]) -> None:
    lifetime = cache_lifetime(headers, NOW)
    assert lifetime is None or lifetime == WEEK  # ignored, or "very long" and capped


def test_age_that_does_not_read_is_taken_as_zero() -> None:
    assert cache_lifetime({"Cache-Control": "max-age=600", "Age": "³"}, NOW) == 600
    assert cache_lifetime({"Cache-Control": "max-age=600", "Age": "-100"}, NOW) == 600


@pytest.mark.parametrize("value", HUGE_DATES + ["0", "yesterday"])
def test_expires_that_does_not_read_means_expired(value: str) -> None:
    assert cache_lifetime({"Expires": value}, NOW) == 0


def test_next_check_delay_combines_headers_and_ttl() -> None:
    assert next_check_delay({"Cache-Control": "max-age=60"}, ttl_minutes=10, now=NOW) == 600
    assert next_check_delay({"Cache-Control": "max-age=7200"}, ttl_minutes=10, now=NOW) == 7200
    assert next_check_delay({}, ttl_minutes=None, now=NOW) is None
    assert next_check_delay({"Expires": "Thu, 01 Jan 9999999999 00:00:00 GMT"}, now=NOW) is None
    assert next_check_delay({}, ttl_minutes=10**12, now=NOW) == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/rss+xml; charset=UTF-8", ("application/rss+xml", "utf-8")),
        ('text/xml; charset="windows-1251"', ("text/xml", "windows-1251")),
        ("text/html;charset=punycode", ("text/html", "punycode")),  # a label; never decoded here
        ("text/html; charset=" + "a" * 500, ("text/html", None)),
        ("text/html; charset=utf\u20118", ("text/html", None)),
        ("text/html; charset=utf-8\r\nX: y", ("text/html", None)),
        ("tëxt/html; charset=utf-8", ("", "utf-8")),
        ("", ("", None)),
    ],
)
def test_content_type_and_charset_label(value: str, expected: tuple[str, str | None]) -> None:
    assert parse_content_type(value) == expected


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Retry-After", "Cache-Control", "Age", "Expires", "Content-Type"]),
    value=st.text(max_size=200) | st.from_regex(r"[0-9²³¹]{0,6000}", fullmatch=True),
)
def test_any_header_value_reads_or_is_ignored(name: str, value: str) -> None:
    """Whatever the value, each reader returns a value in its range and raises nothing."""
    headers = {name: value, "Cache-Control": "max-age=" + value} if name == "Age" else {name: value}
    lifetime = cache_lifetime(headers, NOW)
    assert lifetime is None or 0 <= lifetime <= WEEK
    retry = parse_retry_after(value, NOW)
    assert retry is None or 0 <= retry <= WEEK
    media, charset = parse_content_type(value)
    assert charset is None or (charset.isascii() and len(charset) <= 40)
    assert media.isascii()
