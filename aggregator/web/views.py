"""The reading room's own pages: home, article, saving a link, the dashboard, and the article
buttons. Reads through Datasette's database API; writes call `store` inside Datasette's write
thread (`execute_write_fn`), so there is one writer and no SQL of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from datasette.utils.asgi import Forbidden, NotFound, Response

from .. import store

if TYPE_CHECKING:
    import sqlite_utils

DATABASE = "aggregator"
log = logging.getLogger(__name__)
_fetch_lock = threading.Lock()


def short_date(value: Any) -> str:
    """`2024-05-01T09:30:00Z` -> `1 May 2024`."""
    import datetime as dt

    if not value:
        return ""
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day} {day.strftime('%b %Y')}"


def nav_links(datasette: Any) -> list[tuple[str, str]]:
    path = datasette.urls.path
    return [
        ("Home", path("/")),
        ("Articles", datasette.urls.table(DATABASE, "articles")),
        ("Search", path(f"/{DATABASE}/search")),
        ("Dashboard", path("/-/dashboard")),
        ("Feeds", datasette.urls.table(DATABASE, "feeds")),
        ("Save a link", path("/-/save")),
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


async def _checked_form(request: Any) -> dict[str, str]:
    """The POSTed form, refused unless it carries Datasette's CSRF cookie and the matching
    `csrftoken` field (Datasette's own check skips requests that carry no cookie at all)."""
    if request.method != "POST":
        raise Forbidden("POST only")
    form = await request.post_vars()
    cookie = request.cookies.get("ds_csrftoken", "")
    token = form.get("csrftoken", "")
    if not cookie or not token or not secrets.compare_digest(cookie, token):
        raise Forbidden("CSRF token missing or wrong: reload the page and try again")
    return dict(form)


# ---------------------------------------------------------------------------------------------
# Home

LIST_COLUMNS = (
    "id, title, url, site, feed_title, published, saved_at, reading_time, tags, state, starred"
)


async def home(request: Any, datasette: Any) -> Response:
    counts = (
        await _rows(
            datasette,
            """
        select (select count(*) from articles) as articles,
               (select count(*) from articles where saved = 1 and state = 'unread') as unread_saved,
               (select count(*) from articles where starred = 1) as starred,
               (select count(*) from articles where state = 'unread') as unread,
               (select count(*) from feeds) as feeds,
               (select count(*) from feeds where last_error is not null) as failing_feeds
    """,
        )
    )[0]
    lists = {
        "unread_saved": await _rows(
            datasette,
            f"""
            select {LIST_COLUMNS} from articles where saved = 1 and state = 'unread'
            order by saved_at desc limit 8""",
        ),
        "starred": await _rows(
            datasette,
            f"""
            select {LIST_COLUMNS} from articles where starred = 1
            order by sort_date desc limit 8""",
        ),
        "recent": await _rows(
            datasette,
            f"""
            select {LIST_COLUMNS} from articles where feed_id is not null
            order by sort_date desc limit 8""",
        ),
    }
    tags = await _rows(
        datasette,
        """
        select t.name, count(*) as n from tags t join articles_tags at on at.tag_id = t.id
        group by t.id order by n desc, t.name limit 40""",
    )
    failing = await _rows(
        datasette,
        """
        select id, title, url, status, last_error, last_error_at, error_count from feeds
        where last_error is not null or status in ('failing', 'gone')
        order by error_count desc, title limit 20""",
    )
    return await _render(
        datasette,
        request,
        "aggregator_home.html",
        {
            "counts": counts,
            "lists": lists,
            "tags": tags,
            "failing": failing,
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
    article_id = int(request.url_vars["id"])
    row = await _article_row(datasette, article_id)
    return await _render(
        datasette,
        request,
        "aggregator_article.html",
        {
            "a": row,
            "articles_url": datasette.urls.table(DATABASE, "articles"),
            "action_base": datasette.urls.path(f"/-/articles/{article_id}/"),
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
    form = await _checked_form(request)
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
    return Response.redirect(datasette.urls.path(f"/{DATABASE}/articles/{article_id}"), status=303)


# ---------------------------------------------------------------------------------------------
# Saving a link from the browser


async def save(request: Any, datasette: Any) -> Response:
    from ..service import normalise_input_url

    if request.method == "POST":
        form = await _checked_form(request)
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
                    "error": f"Not a web address that can be saved: {raw or '(empty)'}",
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
    config = datasette.plugin_config("aggregator") or {}
    db_path = config.get("db_path")
    if not config.get("fetch_saved", True) or not db_path:
        return

    def run() -> None:
        from ..fetch import AddressPolicy, make_client
        from ..service import fetch_pages

        async def main() -> None:
            async with make_client(
                policy=AddressPolicy.from_env(), proxy=os.environ.get("AGGREGATOR_PROXY") or None
            ) as client:
                db = store.open_db(db_path, migrate=False)
                try:
                    await fetch_pages(db, client, use_pool=False, only=[article_id])
                finally:
                    db.conn.close()

        with _fetch_lock:
            try:
                asyncio.run(main())
            except Exception:  # a failed background fetch is recorded or retried by `fetch`
                log.exception("background fetch of article %s failed", article_id)

    thread = threading.Thread(target=run, name=f"aggregator-fetch-{article_id}", daemon=True)
    tasks = datasette.__dict__.setdefault("_aggregator_fetches", [])
    tasks[:] = [t for t in tasks if t.is_alive()] + [thread]
    thread.start()


# ---------------------------------------------------------------------------------------------
# Dashboard


async def dashboard(request: Any, datasette: Any) -> Response:
    weeks = await _rows(
        datasette,
        """
        with dated as (
            select date(coalesce(published, sort_date), 'weekday 0', '-6 days') as week,
                   coalesce(feed_title, 'Saved by hand') as feed from articles
            where coalesce(published, sort_date) is not null)
        select week, feed, count(*) as n from dated
        where week >= (select date(max(week), '-364 days') from dated)
        group by week, feed order by week""",
    )
    tag_weeks = await _rows(
        datasette,
        """
        with dated as (
            select a.id, date(coalesce(a.published, a.sort_date), 'weekday 0', '-6 days') as week
            from articles a)
        select d.week, t.name as tag, count(*) as n from dated d
        join articles_tags at on at.article_id = d.id join tags t on t.id = at.tag_id
        where d.week >= (select date(max(week), '-364 days') from dated)
        group by d.week, t.name order by d.week""",
    )
    saved_read = await _rows(
        datasette,
        """
        with events as (
            select date(saved_at, 'weekday 0', '-6 days') as week, 'saved' as kind
            from articles where saved = 1 and saved_at is not null
            union all
            select date(read_at, 'weekday 0', '-6 days'), 'read'
            from articles where read_at is not null)
        select week, kind, count(*) as n from events
        where week >= (select date(max(week), '-364 days') from events)
        group by week, kind order by week""",
    )
    states = await _rows(
        datasette,
        """
        select state, count(*) as n from articles group by state order by n desc""",
    )
    feeds = await _rows(
        datasette,
        """
        select coalesce(title, url) as title, status, error_count, last_error,
               (select count(*) from feed_entries fe where fe.feed_id = feeds.id) as articles
        from feeds order by articles desc limit 30""",
    )
    data = {
        "weeks": weeks,
        "tag_weeks": tag_weeks,
        "saved_read": saved_read,
        "states": states,
        "feeds": feeds,
    }
    return await _render(
        datasette,
        request,
        "aggregator_dashboard.html",
        {
            "data": data,
            "articles_url": datasette.urls.table(DATABASE, "articles"),
            "quote": quote,
        },
    )
