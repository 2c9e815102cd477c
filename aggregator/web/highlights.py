"""Highlights in the browser: making one from a selection on an article page, removing one, and
`/-/highlights`, every highlight newest first with its article, by tag, with a Markdown export.
Writes go through the store behind the same CSRF and origin checks as every write route."""

from __future__ import annotations

from typing import Any

from datasette.utils.asgi import NotFound, Response

from .. import store
from ..errors import AggregatorError
from ..formats.markdown import escape_md, highlight_lines
from .settings import DATABASE
from .views import _render, _rows, _write, checked_form


async def for_article(datasette: Any, article_id: int) -> list[dict[str, Any]]:
    """An article's highlights in the order of its text, for its page."""
    return await _rows(
        datasette,
        "select id, quote, note, anchored, created_at from highlights where article_id = :id "
        "order by coalesce(position, 1e18), id",
        {"id": article_id},
    )


def _article_path(datasette: Any, article_id: int, message: str = "") -> str:
    path = datasette.urls.path(f"/{DATABASE}/articles/{article_id}")
    return f"{path}?highlight={message}#highlights" if message else f"{path}#highlights"


async def add(request: Any, datasette: Any) -> Response:
    """POST quote (and note) from a selection of the article's text."""
    article_id = int(request.url_vars["id"])
    form = await checked_form(request, datasette)
    quote, note = form.get("quote", ""), form.get("note") or None
    if not (await _rows(datasette, "select 1 from articles where id = :id", {"id": article_id})):
        raise NotFound("No such article")

    def write(db: Any) -> str:
        try:
            store.add_highlight(db, article_id, quote, note=note)
            return "added"
        except AggregatorError:
            if not quote.strip():
                return "empty"
            # The selection came from the page as shown, which may differ from the stored text
            # (captions, list markers): keep it, flagged, rather than lose what the reader marked.
            store.add_highlight(db, article_id, quote, note=note, require_anchor=False)
            return "added"

    result = await _write(datasette, write)
    return Response.redirect(_article_path(datasette, article_id, result), status=303)


async def remove(request: Any, datasette: Any) -> Response:
    highlight_id = int(request.url_vars["id"])
    await checked_form(request, datasette)
    rows = await _rows(
        datasette, "select article_id from highlights where id = :id", {"id": highlight_id}
    )
    if not rows:
        raise NotFound("No such highlight")
    await _write(datasette, lambda db: store.remove_highlight(db, highlight_id))
    back = request.args.get("back") == "list"
    if back:
        return Response.redirect(datasette.urls.path("/-/highlights"), status=303)
    return Response.redirect(
        _article_path(datasette, int(rows[0]["article_id"]), "removed"), status=303
    )


_LIST_SQL = """
select h.id, h.article_id, h.quote, h.note, h.anchored, h.created_at, a.title, a.url, a.site
from highlights h join articles a on a.id = h.article_id
where (:tag = '' or exists (
  select 1 from articles_tags at join tags t on t.id = at.tag_id
  where at.article_id = h.article_id and t.name = lower(:tag)))
order by h.created_at desc, h.id desc
limit 1000
"""


async def page(request: Any, datasette: Any) -> Response:
    tag = (request.args.get("tag") or "").strip()
    rows = await _rows(datasette, _LIST_SQL, {"tag": tag})
    tags = await _rows(
        datasette,
        "select distinct t.name from tags t join articles_tags at on at.tag_id = t.id "
        "join highlights h on h.article_id = at.article_id order by t.name",
    )
    md = datasette.urls.path("/-/highlights.md") + (f"?tag={tag}" if tag else "")
    return await _render(
        datasette,
        request,
        "aggregator_highlights.html",
        {"rows": rows, "tag": tag, "tags": [t["name"] for t in tags], "md_url": md},
    )


async def markdown(request: Any, datasette: Any) -> Response:
    """The listed highlights as Markdown: each article a heading, its highlights block quotes
    with their notes under them."""
    tag = (request.args.get("tag") or "").strip()
    rows = await _rows(datasette, _LIST_SQL, {"tag": tag})
    by_article: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_article.setdefault(int(row["article_id"]), []).append(row)
    lines = ["# Highlights" + (f" tagged {escape_md(tag)}" if tag else ""), ""]
    for marks in by_article.values():
        first = marks[0]
        title = escape_md(str(first["title"] or first["url"] or "Untitled"))
        lines.append(f"## [{title}](<{first['url']}>)" if first["url"] else f"## {title}")
        lines += highlight_lines(marks, indent="")
    return Response(
        "\n".join(lines).rstrip() + "\n",
        content_type="text/markdown; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="highlights.md"'},
    )


def routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/articles/(?P<id>[0-9]{1,18})/highlight$", add),
        (r"^/-/highlights/(?P<id>[0-9]{1,18})/delete$", remove),
        (r"^/-/highlights$", page),
        (r"^/-/highlights\.md$", markdown),
    ]
