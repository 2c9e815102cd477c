"""Bounded readers of whole documents for the import formats: JSON under a budget of values, CSV
row by row with bad rows skipped. Pure: bytes in, Python values out; no network, no SQL.

Both refuse a file only when it is unusable as a whole (broken, truncated, too big); a bad record
inside a usable file is the Collector's to skip."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from aggregator.formats._common import (
    MAX_IMPORT_BYTES,
    MAX_ITEMS,
    Collector,
    decode_text,
    fail,
    text_stream,
)

# JSON values in one document, counted from above as strings + commas + opening brackets (at most
# twice the real number). json.loads builds every value (up to ~70 bytes each for `[{},{},...]`),
# so this bounds its memory to a few hundred MB whatever the file's shape; real exports count
# 20-50 per bookmark.
MAX_JSON_VALUES = 5_000_000
MAX_JSON_INT_DIGITS = 19  # longer integers are read as floats: never a 4,300-digit int
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)

# A field is read whole, however long (the file is at most MAX_IMPORT_BYTES, and every field is
# capped when kept): with the csv module's default limit of 128 KiB, a longer quoted field that
# spans lines threw the reader out of step, and the rest of that row came back as bogus rows.
# The limit is process-wide; set once here, only ever raised.
csv.field_size_limit(max(csv.field_size_limit(), MAX_IMPORT_BYTES))


def _json_values(data: bytes, limit: int) -> int:
    """How many values a JSON document holds, at most (strings, plus commas and opening brackets
    outside strings, plus one), counted without parsing; stops counting once past `limit`. A
    quick upper bound from byte counts first; strings are skipped over only when that bound is
    above the limit (their commas and brackets are text, not values)."""
    strings = (data.count(b'"') - data.count(b'\\"')) // 2  # never more than the real count
    if strings > limit:
        return strings
    marks = (b",", b"{", b"[")
    bound = strings + sum(data.count(mark) for mark in marks) + 1
    if bound <= limit or b'"' not in data:
        return bound
    count, position = 1, 0
    while (quote := data.find(b'"', position)) >= 0:
        count += 1 + sum(data.count(mark, position, quote) for mark in marks)
        if count > limit:
            return count
        string = _JSON_STRING.match(data, quote)
        if string is None:  # never closed: json.loads refuses the document, quickly
            return count
        # (each string is matched once, from its opening quote: a search would try again from
        # every later quote, quadratic time on `"\"\"\"...`)
        position = string.end()
    return count + sum(data.count(mark, position) for mark in marks)


def _bounded_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_JSON_INT_DIGITS else float(text)


def load_json(data: bytes, path: str | None = None) -> Any:
    """A JSON document, or ImportFormatError for a broken one or one holding more values than
    MAX_JSON_VALUES. Integers too long for SQLite come back as floats (dates made of them are
    then out of range and ignored)."""
    values = _json_values(data, MAX_JSON_VALUES)
    if values > MAX_JSON_VALUES:
        raise fail(f"more than {MAX_JSON_VALUES:,} JSON values; split the file", path)
    try:
        return json.loads(decode_text(data), parse_int=_bounded_int)
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


def csv_records(
    data: bytes, path: str | None, found: Collector
) -> tuple[list[str], list[dict[str, str]]]:
    """Header names (trimmed, lower case) and rows keyed by them. A row that cannot be read (a
    stray quote, more or fewer fields than the header) is skipped with a reason. A last row with
    fewer fields, or a quote open at the end, means a truncated file and refuses it whole, as do
    more than MAX_ITEMS rows."""
    reader = csv.reader(text_stream(data), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise fail(f"broken CSV header ({error})", path) from None
    if not header:
        raise fail("empty CSV", path)
    names = [name.strip().lower() for name in header]
    records: list[dict[str, str]] = []
    # A bad row is skipped, unless it is the last and looks cut short (fewer fields than the
    # header, or a quote still open at the end): then the file is truncated and refused.
    pending: tuple[str, str, bool] | None = None  # reason, where, looks cut short
    rows = 0
    while True:
        fault: str | None = None
        short = False
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            row, fault, short = [], f"unreadable CSV row ({error})", "end of data" in str(error)
        if pending is not None:
            found.skip(pending[0], pending[1])
            pending = None
        if fault is None and (not row or row == [""]):
            continue
        rows += 1
        if rows > MAX_ITEMS:
            raise fail(f"more than {MAX_ITEMS} rows; split the file", path)
        if fault is None and len(row) != len(names):
            fault = f"{len(row)} fields where the header has {len(names)}"
            short = len(row) < len(names)
        if fault is not None:
            pending = (fault, f"line {reader.line_num}", short)
            continue
        records.append(dict(zip(names, row, strict=True)))
    if pending is not None:
        if pending[2]:
            raise fail(f"broken or truncated CSV (last row: {pending[0]})", path)
        found.skip(pending[0], pending[1])
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
