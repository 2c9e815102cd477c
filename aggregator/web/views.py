"""The reading room's own pages: home, article, saving a link, the dashboard, and the article
buttons. Reads through Datasette's database API; writes call `store` inside Datasette's write
thread (`execute_write_fn`), so there is one writer and no SQL of its own."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from datasette.utils.asgi import Forbidden, NotFound, Response

from .. import store
from . import queries, settings
from .errors import one_line
from .security import foreign_write
from .settings import DATABASE

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)
_fetch_lock = threading.Lock()


def nav_links(datasette: Any) -> list[tuple[str, str]]:
    path = datasette.urls.path
    return [
        ("Home", path("/")),
        ("Articles", datasette.urls.table(DATABASE, "articles")),
        ("Search", path(f"/{DATABASE}/search")),
        ("Dashboard", path("/-/dashboard")),
        ("Feeds", path("/-/feeds")),
        ("Subscribe", path("/-/subscribe")),
        ("Save a link", path("/-/save")),
        ("Highlights", path("/-/highlights")),
    ]


def _db(datasette: Any) -> Any:
    return datasette.get_database(DATABASE)


async def _rows(datasette: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = await _db(datasette).execute(sql, params or {})
    return [dict(row) for row in result.rows]


async def _write(datasette: Any, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
    """Run a `store` function on Datasette's single write connection."""
    return await _db(datasette).execute_write_fn(lambda conn: fn(store.wrap(conn)), block=True)


async def _render(
    datasette: Any, request: Any, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    body = await datasette.render_template(template, context, request=request)
    return Response.html(body, status=status)


def bookmarklet(request: Any, datasette: Any) -> str:
    base = f"{request.scheme}://{request.host}{datasette.urls.path('/-/save')}"
    return (
        "javascript:(function(){location.href='" + base + "?url='+encodeURIComponent("
        "location.href)+'&title='+encodeURIComponent(document.title);})();"
    )


# ---------------------------------------------------------------------------------------------
# Writes: CSRF


def refuse_foreign_write(request: Any) -> None:
    """Refuse anything but a POST from this site (Origin, Sec-Fetch-Site)."""
    if request.method != "POST":
        raise Forbidden("POST only")
    headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
    reason = foreign_write("POST", headers)
    if reason:
        raise Forbidden(reason)


def check_csrf_token(request: Any, datasette: Any, token: str) -> None:
    """Refuse a write unless it carries Datasette's CSRF cookie, signed by this server, and the
    matching `csrftoken` field. The plugin's write routes check this themselves instead of
    Datasette's CSRF middleware (the `skip_csrf` hook), whose refusals read "form-urlencoded
    POST field did not match cookie": here a person is told what to do."""
    from itsdangerous import BadSignature

    cookie = request.cookies.get("ds_csrftoken", "")
    if not cookie or not token or not secrets.compare_digest(cookie, token):
        raise Forbidden("CSRF token missing or wrong: reload the page and try again")
    try:
        datasette.unsign(cookie, "csrftoken")
    except BadSignature:  # a token of another server, or of this one before it restarted
        raise Forbidden("This form has expired: reload the page and try again") from None


async def checked_form(request: Any, datasette: Any) -> dict[str, str]:
    """The POSTed form, refused when cross-site or without the CSRF token."""
    refuse_foreign_write(request)
    form = await request.post_vars()
    check_csrf_token(request, datasette, form.get("csrftoken", ""))
    return dict(form)


_checked_form = checked_form


# ---------------------------------------------------------------------------------------------
# Home and dashboard: the rows of canned queries (web/queries.py)


async def _query_rows(
    datasette: Any, names: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for key, name in names.items():
        found[key] = await _rows(datasette, queries.QUERIES[name]["sql"])
    return found


async def home(request: Any, datasette: Any) -> Response:
    found = await _query_rows(datasette, queries.HOME)
    return await _render(
        datasette,
        request,
        "aggregator_home.html",
        {
            "counts": found.pop("counts")[0],
            "tags": found.pop("tags"),
            "failing": found.pop("failing"),
            "unread_feeds": found.pop("unread_feeds"),
            "unread_tags": found.pop("unread_tags"),
            "lists": found,
            "query_urls": {k: datasette.urls.query(DATABASE, v) for k, v in queries.HOME.items()},
            "bookmarklet": bookmarklet(request, datasette),
            "metadata": datasette.metadata(),
            "articles_url": datasette.urls.table(DATABASE, "articles"),
        },
    )


# ---------------------------------------------------------------------------------------------
# Article


async def _article_row(datasette: Any, article_id: int) -> dict[str, Any]:
    rows = await _rows(
        datasette,
        """
        select a.*, f.url as feed_url, f.site_url as feed_site_url from articles a
        left join feeds f on f.id = a.feed_id where a.id = :id""",
        {"id": article_id},
    )
    if not rows:
        raise NotFound("No such article")
    return rows[0]


async def article(request: Any, datasette: Any) -> Response:
    from . import reading
    from .highlights import for_article

    article_id = int(request.url_vars["id"])
    row = await _article_row(datasette, article_id)
    ref = reading.parse_from(request.args.get("from"))
    # placed in its list before it is marked read: a list of unread articles still holds it
    near = (
        await reading.neighbours(datasette, request, ref, article_id)
        if ref
        else reading.Neighbours()
    )
    # not after one of this page's own buttons (`done`): `Mark unread` must stay unread
    if settings.read(datasette).mark_read_on_open and not request.args.get("done"):
        await reading.mark_read_on_open(datasette, row)

    marks = await for_article(datasette, article_id)
    return await _render(
        datasette,
        request,
        "aggregator_article.html",
        {
            "a": row,
            "highlights": marks,
            # the quotes for static/highlights.js, in an attribute (escaped by the template)
            "highlights_json": json.dumps([{"id": h["id"], "quote": h["quote"]} for h in marks]),
            "articles_url": datasette.urls.table(DATABASE, "articles"),
            "action_base": datasette.urls.path(f"/-/articles/{article_id}/"),
            "reading_from": ref.value if ref else "",
            "list_url": ref.page_url(datasette) if ref else None,
            "previous_url": (
                reading.article_href(datasette, near.previous, ref) if near.previous else None
            ),
            "next_unread_url": (
                reading.article_href(datasette, near.next_unread, ref)
                if near.next_unread
                else None
            ),
        },
    )


ACTIONS: dict[str, dict[str, Any]] = {
    "star": {"starred": True},
    "unstar": {"starred": False},
    "archive": {"state": "archived"},
    "unarchive": {"state": "unread"},
    "read": {"state": "read"},
    "unread": {"state": "unread"},
}


async def article_action(request: Any, datasette: Any) -> Response:
    article_id = int(request.url_vars["id"])
    action = request.url_vars["action"]
    form = await _checked_form(request, datasette)
    row = await _article_row(datasette, article_id)
    if action in ACTIONS:
        kwargs = ACTIONS[action]
        await _write(datasette, lambda db: store.set_state(db, article_id, **kwargs))
    elif action == "tags":
        wanted = store.normalise_tags(form.get("tags", "").split(","))
        current = [str(t) for t in json.loads(row["tags"] or "[]")]
        have = {t.lower() for t in current}
        want = {t.lower() for t in wanted}
        add = [t for t in wanted if t.lower() not in have]
        remove = [t for t in current if t.lower() not in want]
        await _write(
            datasette, lambda db: store.change_tags(db, article_id, add=add, remove=remove)
        )
    else:
        raise NotFound("Unknown action")
    # `done`: the article page does not mark it read again (web/reading.py); `from` keeps its list
    args = {"done": action, **({"from": form["from"]} if form.get("from") else {})}
    return Response.redirect(
        datasette.urls.path(f"/{DATABASE}/articles/{article_id}") + "?" + urlencode(args),
        status=303,
    )


# ---------------------------------------------------------------------------------------------
# Saving a link from the browser


async def save(request: Any, datasette: Any) -> Response:
    from ..service import normalise_input_url

    if request.method == "POST":
        form = await _checked_form(request, datasette)
        raw = form.get("url", "").strip()
        url = normalise_input_url(raw) if raw else None
        tags = store.normalise_tags(form.get("tags", "").split(","))
        note = form.get("note", "").strip() or None
        title = form.get("title", "").strip() or None
        if not url:
            return await _render(
                datasette,
                request,
                "aggregator_save.html",
                {
                    "error": "Not a web address that can be saved: "
                    + (one_line(raw, 100) or "(empty)"),
                    "form": form,
                },
                status=400,
            )
        article_id, created = await _write(
            datasette, lambda db: store.save_link(db, url, tags=tags, note=note, title=title)
        )
        start_background_fetch(datasette, article_id)
        target = datasette.urls.path(f"/{DATABASE}/articles/{article_id}")
        response = Response.redirect(
            target + ("?saved=new" if created else "?saved=again"), status=303
        )
        return response
    form = {k: request.args.get(k, "") for k in ("url", "title", "tags", "note")}
    return await _render(datasette, request, "aggregator_save.html", {"form": form, "error": None})


def start_background_fetch(datasette: Any, article_id: int) -> None:
    """Download the saved page off the server's event loop, on its own connection; the
    address policy of `fetch.make_client` applies (the URL came from the web)."""
    db_path = _db(datasette).path
    if not settings.read(datasette).fetch_saved or not db_path:
        return

    def run() -> None:
        from ..service import fetch_saved_pages

        with _fetch_lock:
            fetch_saved_pages(db_path, [article_id])  # never raises: errors go on the article

    threading.Thread(target=run, name=f"aggregator-fetch-{article_id}", daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Dashboard


async def dashboard(request: Any, datasette: Any) -> Response:
    return await _render(
        datasette,
        request,
        "aggregator_dashboard.html",
        {
            "data": await _query_rows(datasette, queries.DASHBOARD),
            "query_urls": {
                k: datasette.urls.query(DATABASE, v) for k, v in queries.DASHBOARD.items()
            },
            "articles_url": datasette.urls.table(DATABASE, "articles"),
            "quote": quote,
        },
    )
