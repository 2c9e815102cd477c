"""The checks a table page's arguments pass before Datasette builds SQL of them: any address is
hostile (typed, edited, bookmarked, or made by the reading room's own links piling up), so a
filter, sort, facet or search that cannot work is refused with a 400 and one short sentence,
instead of SQLite's error text or a 500. Called from the `filters_from_request` hook."""

from __future__ import annotations

import json
from typing import Any

from datasette.utils.asgi import BadRequest

from . import facets

# Filters on one page: each is one more `and` in the query, and SQLite refuses an expression tree
# deeper than 1,000 (about 990 tags). A person narrowing a list uses a handful; the reading room's
# own links add one tag per facet click, so this is reached only by an edited address.
MAX_FILTERS = 30
# Arguments Datasette reads as a column name (their values), and those whose name carries one.
COLUMN_VALUES = ("_sort", "_sort_desc", "_facet", "_facet_array", "_facet_date")
# Arguments whose values become SQL or full-text syntax, not bound values.
SQL_VALUES = ("_search", "_sort", "_facet", "_col", "_nocol", "_where", "_through", "_fts")
NAME_SHOWN = 60  # characters of a name repeated in a message


def shown(name: str) -> str:
    """A name from the address as a message repeats it: one line, bounded."""
    flat = " ".join(str(name).split())
    return repr(flat if len(flat) <= NAME_SHOWN else flat[: NAME_SHOWN - 1] + "…")


def filter_column(key: str) -> str | None:
    """The column a filter argument names (Datasette's rule: `column__op` or `column`), or None
    for an argument that is not a column filter."""
    if key.startswith("_") and "__" not in key:
        return None
    return key.rsplit("__", 1)[0] if "__" in key else key


async def check(request: Any, database: Any, table: str) -> None:
    """Raise BadRequest, with a sentence for the person, when the table page's arguments cannot
    give a page; return quietly otherwise."""
    pairs = [(k, v) for k in request.args for v in request.args.getlist(k)]
    # values of filters are bound as parameters (a NUL finds nothing); names, sorts and
    # searches become SQL or FTS5 syntax, where a NUL is an error
    if any("\x00" in k or ("\x00" in v and k.startswith(SQL_VALUES)) for k, v in pairs):
        raise BadRequest("The address contains a NUL character, which no filter or search uses.")
    count = len(facets.narrowing_args(request))
    if count > MAX_FILTERS:
        raise BadRequest(
            f"Too many filters at once ({count:,}): at most {MAX_FILTERS}. "
            "Remove some of them to see the list."
        )
    columns = {*await database.table_columns(table), "rowid"}
    for key, value in pairs:
        column = filter_column(key)
        if key.startswith("_search_"):
            column = key[len("_search_") :]
        elif key in COLUMN_VALUES:
            column = value
        if column is not None and column not in columns:
            what = "sort by" if key.startswith("_sort") else "filter or count by"
            raise BadRequest(f"There is no column {shown(column)} to {what}.")
    if request.args.get("_sort") and request.args.get("_sort_desc"):
        raise BadRequest("Sort by one column at a time: _sort or _sort_desc, not both.")
    for through in request.args.getlist("_through"):
        try:
            data = json.loads(through)
            ok = isinstance(data, dict) and all(
                isinstance(data.get(k), str) for k in ("table", "column", "value")
            )
        except ValueError:
            ok = False
        if not ok:
            raise BadRequest("_through must be a JSON object with table, column and value.")
