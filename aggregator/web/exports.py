"""Output renderers `.md`, `.atom` and `.bookmarks` for the articles table (with any filters)
and the `search` query: the ids the page selected, turned into export objects by `store` and
written by `formats.write_export`, so the bytes match `aggregator export` of the same articles.
The table's whole selection (not just its page) is read back through Datasette's own JSON API,
page after page, so the filters are Datasette's and the plugin's, applied by Datasette."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette.utils.asgi import Response

from .. import store
from ..formats import write_export
from .settings import DATABASE

TITLE = "Aggregator export"
FORMATS = {
    # extension: (write_export format, content type, download file name)
    "md": ("md", "text/plain; charset=utf-8", None),
    "atom": ("atom", "application/atom+xml; charset=utf-8", None),
    "bookmarks": ("netscape", "text/html; charset=utf-8", "bookmarks.html"),
}
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
    headers = {}
    if filename:
        headers["content-disposition"] = f'inline; filename="{filename}"'
    return Response(body, content_type=content_type, headers=headers)


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

    return [{"extension": fmt, "render": make(fmt), "can_render": can_render} for fmt in FORMATS]
