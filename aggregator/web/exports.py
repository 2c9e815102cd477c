"""Output renderers `.md`, `.atom`, `.bookmarks` and `.safecsv` for the articles table (with
any filters) and the `search` query: the ids the page selected, turned into export objects by
`store` and written by `formats.write_export`, so the bytes match `aggregator export` of the
same articles. The table's whole selection (not just its page) is read back through Datasette's
own JSON API, page after page, so the filters are Datasette's and the plugin's, applied by
Datasette. `.safecsv` of any other table or query is its rows as Datasette's CSV would give
them, each text cell guarded against spreadsheet formulas (formats.guard_csv_cell): the CSV
links of every page lead there."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette.utils import path_with_format
from datasette.utils.asgi import Response

from .. import store
from ..formats import guard_csv_cell, write_export
from .settings import DATABASE

TITLE = "Aggregator export"
FORMATS = {
    # extension: (write_export format, content type, download file name)
    "md": ("md", "text/plain; charset=utf-8", None),
    "atom": ("atom", "application/atom+xml; charset=utf-8", None),
    "bookmarks": ("netscape", "text/html; charset=utf-8", "bookmarks.html"),
    "safecsv": ("csv", "text/csv; charset=utf-8", "articles.csv"),
}
CSV = "safecsv"
MAX_EXPORT = 50_000
# Arguments of the page that do not select rows: dropped when reading the selection back.
NOT_SELECTING = {"_size", "_next", "_facet", "_facet_size", "_group_by", "_shape", "_col", "_nocol"}


def can_render(table: str | None, query_name: str | None, database: str) -> bool:
    return database == DATABASE and (table == "articles" or query_name == "search")


async def table_ids(datasette: Any, request: Any) -> list[int]:
    """The ids of every article the table page selects, in its order (up to MAX_EXPORT), read
    from Datasette's JSON for the same arguments, as the same visitor."""
    pairs = [
        (k, v)
        for k, v in parse_qsl(request.query_string, keep_blank_values=True)
        if k not in NOT_SELECTING
    ]
    pairs += [("_col", "id"), ("_size", "max"), ("_nofacet", "1"), ("_nocount", "1")]
    path = datasette.urls.table(DATABASE, "articles", format="json")
    ids: list[int] = []
    next_token: str | None = None
    while len(ids) < MAX_EXPORT:
        query = pairs + ([("_next", next_token)] if next_token else [])
        response = await datasette.client.get(
            f"{path}?{urlencode(query)}",
            cookies=request.cookies,
            headers={"host": request.headers.get("host", "localhost")},
        )
        if response.status_code != 200:
            raise ValueError(f"the selection could not be read ({response.status_code})")
        data = response.json()
        column = data["columns"].index("id")
        ids.extend(int(row[column]) for row in data["rows"])
        next_token = data.get("next")
        if not next_token:
            break
    return ids[:MAX_EXPORT]


async def render(
    datasette: Any,
    request: Any,
    sql: str | None,
    table: str | None,
    query_name: str | None,
    database: str,
    data: dict[str, Any],
    fmt: str,
) -> Response:
    if not can_render(table, query_name, database):
        return Response.text("This view cannot be exported in that format.", status=404)
    if table == "articles":
        try:
            ids = await table_ids(datasette, request)
        except ValueError as exc:
            return Response.text(f"Cannot export this selection: {exc}", status=400)
    else:  # the search query's rows are all on its page, in rank order
        columns = list(data.get("columns") or [])
        if "id" not in columns:
            return Response.text("Cannot export this selection.", status=400)
        ids = [int(row[columns.index("id")]) for row in data.get("rows") or []]
    db = datasette.get_database(database)
    articles = await db.execute_fn(lambda conn: store.get_articles(store.wrap(conn), ids))
    kind, content_type, filename = FORMATS[fmt]
    group_by = request.args.get("_group_by") if fmt == "md" else None
    if group_by not in ("tag", "date"):
        group_by = None
    body = write_export(kind, articles=articles, title=TITLE, group_by=group_by)
    return _response(request, body, content_type, filename)


def _response(request: Any, body: bytes, content_type: str, filename: str | None) -> Response:
    headers = {}
    if content_type.startswith("text/csv") and not request.args.get("_dl"):
        content_type = "text/plain; charset=utf-8"  # shown in the browser, as Datasette's CSV
    if filename:
        disposition = "attachment" if request.args.get("_dl") else "inline"
        headers["content-disposition"] = f'{disposition}; filename="{filename}"'
    return Response(body, content_type=content_type, headers=headers)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # a foreign key expanded with its label
        value = value.get("label") if value.get("label") is not None else value.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bytes):
        return f"<binary: {len(value)} bytes>"
    return guard_csv_cell(str(value))


def rows_csv(data: dict[str, Any]) -> bytes:
    """The page's columns and rows as CSV (RFC 4180, CRLF), text cells guarded."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    columns = list(data.get("columns") or [])
    writer.writerow([guard_csv_cell(str(c)) for c in columns])
    for row in data.get("rows") or []:
        values = [row[c] for c in columns] if isinstance(row, dict) else list(row)
        writer.writerow([_csv_text(v) for v in values])
    return out.getvalue().encode("utf-8")


async def render_csv(
    datasette: Any,
    request: Any,
    sql: str | None,
    table: str | None,
    query_name: str | None,
    database: str,
    data: dict[str, Any],
) -> Response:
    if can_render(table, query_name, database):
        return await render(datasette, request, sql, table, query_name, database, data, CSV)
    name = f"{table or query_name or database}.csv"
    return _response(request, rows_csv(data), "text/csv; charset=utf-8", name)


def renderers() -> list[dict[str, Any]]:
    def make(fmt: str) -> Any:
        async def render_fmt(
            datasette: Any,
            request: Any,
            sql: str | None,
            table: str | None,
            query_name: str | None,
            database: str,
            data: dict[str, Any],
        ) -> Any:
            return await render(datasette, request, sql, table, query_name, database, data, fmt)

        return render_fmt

    found = [
        {"extension": fmt, "render": make(fmt), "can_render": can_render}
        for fmt in FORMATS
        if fmt != CSV
    ]
    return [*found, {"extension": CSV, "render": render_csv, "can_render": lambda: True}]


def csv_url(datasette: Any, request: Any) -> str:
    """The page's guarded CSV (what Datasette's own templates link as CSV)."""
    return str(
        datasette.urls.path(
            path_with_format(request=request, format=CSV, extra_qs={"_size": "max"})
        )
    )
