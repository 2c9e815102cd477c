"""The one builder of `articles` rows, used by every path that inserts articles, and the last
guard against hostile values: whatever a feed, a page or a file gave, a row it builds binds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any

# Every column an insert sets, in the order of the rows article_row builds; the others take the
# schema's defaults. A new column is one entry here (and one in _NOT_NULL when it has a default).
ARTICLE_COLUMNS = (
    "id",
    "url",
    "title",
    "author",
    "published",
    "updated",
    "sort_date",
    "first_seen_at",
    "feed_id",
    "feed_title",
    "site",
    "site_name",
    "tags",
    "categories",
    "excerpt",
    "text",
    "content_html",
    "word_count",
    "reading_time",
    "lang",
    "image",
    "saved",
    "saved_at",
    "note",
    "state",
    "starred",
    "fetch_status",
    "full_text",
    "content_hash",
    "updated_at",
)
# What a NOT NULL column gets when a value is missing or None (as the schema's DEFAULT).
_NOT_NULL: dict[str, Any] = {
    "title": "",
    "tags": "[]",
    "categories": "[]",
    "text": "",
    "content_html": "",
    "word_count": 0,
    "reading_time": 0,
    "saved": 0,
    "state": "unread",
    "starred": 0,
    "full_text": 0,
}
_JSON_COLUMNS = ("tags", "categories")

INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # SQLite's INTEGER
MAX_TEXT_CHARS = 4_000_000  # a long value (text, HTML, note), above every cap before the store
MAX_SHORT_CHARS = 10_000  # any other value (titles, names, dates, states)
MAX_ERROR_CHARS = 500  # an error message kept on a feed or an article
_LONG = frozenset(
    ("url", "text", "content_html", "excerpt", "note", "image", "description", "last_error")
    + _JSON_COLUMNS
)

# Per column, in column order: its limit and its fallback for None; and where each column is.
_LIMITS = tuple(MAX_TEXT_CHARS if c in _LONG else MAX_SHORT_CHARS for c in ARTICLE_COLUMNS)
_DEFAULT_ROW = tuple(_NOT_NULL.get(c) for c in ARTICLE_COLUMNS)
_AT = {c: i for i, c in enumerate(ARTICLE_COLUMNS)}
INSERT_ROWS = 400  # rows per multi-row INSERT: 400 x 30 parameters, under SQLite's 32,766
INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ARTICLE_COLUMNS))})"
)


def insert_articles_sql(rows: int) -> str:
    """One INSERT of `rows` article rows (a feed's new entries in one statement: the FTS5 trigger
    then flushes its index once, not once per row)."""
    one = "(" + ",".join("?" * len(ARTICLE_COLUMNS)) + ")"
    return f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) VALUES {','.join([one] * rows)}"


def insert_columns(keys: Iterable[str]) -> tuple[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    """For rows of article_row made from values that set only `keys`: the INSERT that names
    those columns, and a function that takes them out of a row. The columns left out take the
    schema's defaults, which are what article_row binds for them (_NOT_NULL mirrors the
    schema). For bulk inserts: binding all 30 parameters where an imported link sets 19 cost
    ~0.5 s of CPU per 100,000 rows ("Import" in docs/benchmarks.md)."""
    wanted = set(keys)
    columns = tuple(c for c in ARTICLE_COLUMNS if c in wanted)
    at = [_AT[c] for c in columns]
    pick = itemgetter(*at) if len(at) > 1 else (lambda row: (row[at[0]],))
    sql = f"INSERT INTO articles ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return sql, pick


def article_row(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row of ARTICLE_COLUMNS for `values` (keys not among them are ignored; `id` None lets
    SQLite choose it), every value made bindable (see bindable); None or missing in a NOT NULL
    column is the schema's default."""
    # Walks the values given (a link sets ~19 of the 30 columns), not every column: the
    # others keep their defaults.
    row = list(_DEFAULT_ROW)
    at = _AT.get
    for column, v in values.items():
        i = at(column)
        if i is None or v is None:
            continue
        kind = type(v)
        if kind is str:
            if len(v) > _LIMITS[i] or not v.isascii():
                v = bounded_text(v, _LIMITS[i], json_list=column in _JSON_COLUMNS)
        elif kind is not int or not INT_MIN <= v <= INT_MAX:
            v = bindable(v, _LIMITS[i], _DEFAULT_ROW[i])
        row[i] = v
    return tuple(row)


def bounded(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value of a row's columns (articles or feeds) made bindable, with its column's limit."""
    out = {}
    for column, v in values.items():
        kind = type(v)
        if kind is str:
            if len(v) > MAX_SHORT_CHARS or not v.isascii():
                long = column in _LONG
                limit = MAX_TEXT_CHARS if long else MAX_SHORT_CHARS
                v = bounded_text(v, limit, json_list=column in _JSON_COLUMNS)
        elif v is not None and (kind is not int or not INT_MIN <= v <= INT_MAX):
            limit = MAX_TEXT_CHARS if column in _LONG else MAX_SHORT_CHARS
            v = bindable(v, limit, None, column in _JSON_COLUMNS)
        out[column] = v
    return out


def bindable(
    value: Any, limit: int = MAX_SHORT_CHARS, default: Any = None, json_list: bool = False
) -> Any:
    """A value SQLite binds, whatever it was: integers clamped to its 64-bit range, strings
    through bounded_text, a float NaN as `default`, bytes as they are, lists and tuples as JSON,
    anything else as its text."""
    if value is None:
        return default
    if isinstance(value, str):
        return bounded_text(str(value), limit, json_list=json_list)
    if isinstance(value, int):  # bool too
        return min(max(int(value), INT_MIN), INT_MAX)
    if isinstance(value, float):
        return default if value != value else float(value)
    if isinstance(value, bytes):
        return value[:limit]
    if isinstance(value, (list, tuple)):
        value = json.dumps(list(value), ensure_ascii=False, default=str)
        return bounded_text(value, limit, json_list=True)
    return bounded_text(str(value), limit)


def bounded_text(text: str, limit: int, *, json_list: bool = False) -> str:
    """`text` without lone surrogates (an unpaired UTF-16 half cannot be encoded for SQLite) and
    at most `limit` characters; a JSON list over the limit is `[]` rather than broken JSON."""
    if len(text) > limit:
        if json_list:
            return "[]"
        text = text[:limit]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16: a pair of halves becomes its character, a lone half U+FFFD.
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
