"""Output renderers `.md`, `.atom` and `.bookmarks` for the articles table (with any filters)
and the `search` query: the ids the page selected, turned into export objects by `store` and
written by `formats.write_export`, so the bytes match `aggregator export` of the same articles."""

from __future__ import annotations

import re
from typing import Any

from datasette.utils.asgi import Response

from .. import store
from ..formats import write_export

TITLE = "Aggregator export"
FORMATS = {
    # extension: (write_export format, content type, download file name)
    "md": ("md", "text/plain; charset=utf-8", None),
    "atom": ("atom", "application/atom+xml; charset=utf-8", None),
    "bookmarks": ("netscape", "text/html; charset=utf-8", "bookmarks.html"),
}
MAX_EXPORT = 50_000
_LIMIT_RE = re.compile(r"\s+limit\s+\d+(\s+offset\s+\d+)?\s*$", re.IGNORECASE)
_FROM = " from articles "


def can_render(table: str | None, query_name: str | None, database: str) -> bool:
    return database == "aggregator" and (table == "articles" or query_name == "search")


def selection_sql(sql: str, table: str | None) -> str | None:
    """The ids of every row the page's SQL selects, in its order, without its page limit."""
    if table == "articles":
        start = sql.lower().find(_FROM)
        if not sql.lower().startswith("select ") or start == -1:
            return None
        return "select id" + _LIMIT_RE.sub("", sql[start:])
    return f"select id from ({sql})"


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
    if not sql or not can_render(table, query_name, database):
        return Response.text("This view cannot be exported in that format.", status=404)
    id_sql = selection_sql(sql, table)
    if id_sql is None:
        return Response.text("Cannot export this selection.", status=400)
    params = (data.get("query") or {}).get("params") or {}
    if query_name == "search":
        # A canned query's parameters are the request's; unset ones are blank.
        params = {name: request.args.get(name, "") for name in ("q", "tag", "feed")}
    db = datasette.get_database(database)
    result = await db.execute(
        f"{id_sql} limit {MAX_EXPORT}", params, truncate=False, custom_time_limit=20_000
    )
    ids = [row[0] for row in result.rows]
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
