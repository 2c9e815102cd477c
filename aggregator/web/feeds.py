"""The feeds page (`/-/feeds`): every subscription with its health and counts, the buttons that
act on one feed (refresh now, pause, resume, unsubscribe, full text), `Refresh all` with its
progress, and the subscriptions as OPML. Reads through Datasette's database API; short writes
call `store` on Datasette's write connection, refreshes run through web/refresher.py."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from datasette.database import QueryInterrupted
from datasette.utils.asgi import NotFound, Response

from .. import store
from ..errors import AggregatorError
from . import facets, refresher, settings, text
from .errors import one_line
from .settings import DATABASE
from .views import _render, _rows, _write, checked_form

SORTS = {
    "name": "lower(coalesce(f.title, f.url)), f.id",
    "status": "case f.status when 'gone' then 0 when 'failing' then 1 when 'paused' then 2 "
    "else 3 end, f.error_count desc, lower(coalesce(f.title, f.url)), f.id",
    "unread": "unread desc, lower(coalesce(f.title, f.url)), f.id",
}
FEEDS_SQL = """
select f.id, f.url, f.title, f.site_url, f.tags, f.status, f.full_text, f.last_error,
  f.last_error_at, f.error_count, f.last_fetched_at, f.last_success_at, f.next_check_at, f.note,
  f.article_count as articles, {unread} as unread
from feeds f {join}
order by {order}"""
# The unread counts read every unread article (about 0.4 s of CPU for 300,000 articles, most
# unread): past Datasette's time limit the page lists the feeds without them, and says so.
UNREAD_JOIN = """left join (
  select feed_id, count(*) as n from articles where state = 'unread' and feed_id is not null
  group by feed_id) u on u.feed_id = f.id"""
FULL_TEXT = {"auto": None, "always": 1, "never": 0}
FULL_TEXT_LABELS = {None: "auto", 1: "always", 0: "never"}
ACTIONS = ("refresh", "pause", "resume", "unsubscribe", "fulltext")
NAME_LIMIT = 120

# Plain words for the errors a feed's row records (the technical message is shown beside them).
HTTP_WORDS = {
    401: "The site asks for a login.",
    403: "The site refuses to give the feed to us.",
    404: "Nothing is at this address any more.",
    410: "The site says the feed is gone for good; it is no longer checked.",
    429: "The site asks us to come back later (too many requests).",
}
ERROR_WORDS = (
    ("could not resolve host", "The site's name was not found (it may have moved or be down)."),
    ("connection refused", "The site did not accept the connection (it may be down)."),
    ("timed out", "The site took too long to answer."),
    ("blocked address", "The address is on a private network, which is not fetched."),
    ("tls error", "The site's secure connection could not be checked."),
    ("too many redirects", "The address redirects in circles."),
    ("not a feed", "The address gives a page, not a feed."),
    ("no feed found", "No feed was found at this address."),
    ("too large", "The feed is too large to read."),
    ("could not store", "What the feed sent could not be stored."),
)


def plain_error(message: str | None) -> str:
    """A sentence for a feed's last error, for readers who do not speak HTTP."""
    if not message:
        return ""
    found = re.match(r"HTTP ([0-9]{3})\b", message)
    if found:
        status = int(found.group(1))
        if status in HTTP_WORDS:
            return HTTP_WORDS[status]
        if status >= 500:
            return "The site had a problem of its own (a server error)."
        return "The site answered with an error."
    lower = message.lower()
    for needle, words in ERROR_WORDS:
        if needle in lower:
            return words
    if "parse" in lower or "xml" in lower or "json" in lower:
        return "The feed could not be read."
    return "The last check failed."


def when(value: Any) -> str:
    """An ISO 8601 time as `4 Dec 2026 16:40 UTC`; empty for nothing."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)[:40]
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f"{moment.day} {moment.strftime('%b %Y %H:%M')} UTC"


def next_check(feed: dict[str, Any]) -> str:
    if feed["status"] == "paused":
        return "paused"
    if feed["status"] == "gone":
        return "not checked (gone)"
    due = feed["next_check_at"]
    if not due or str(due) <= store.now_iso():
        return "at the next refresh"
    return when(due)


def _runner(datasette: Any) -> refresher.Runner:
    db = datasette.get_database(DATABASE)
    return refresher.runner_for(datasette, db.path, settings.read(datasette).refresh_every)


def start_schedule(datasette: Any) -> None:
    """Start the background refreshes (from the `startup` hook, on the server's loop)."""
    _runner(datasette).start()


def every_text(seconds: int) -> str:
    """`1800` -> `30 minutes`: in the largest unit that divides it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} seconds"


def progress_data(datasette: Any) -> dict[str, Any]:
    data = asdict(_runner(datasette).progress())
    data["every"] = every_text(data["interval"])
    now = time.time()
    data["next_run_in"] = (
        max(0, int(data["next_run_at"] - now)) if data["next_run_at"] is not None else None
    )
    return data


async def feeds_page(request: Any, datasette: Any) -> Response:
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    counted = True
    try:
        sql = FEEDS_SQL.format(unread="coalesce(u.n, 0)", join=UNREAD_JOIN, order=SORTS[sort])
        rows = await _rows(datasette, sql)
    except QueryInterrupted:
        counted = False
        order = SORTS["name" if sort == "unread" else sort]
        rows = await _rows(datasette, FEEDS_SQL.format(unread="null", join="", order=order))
    articles_url = datasette.urls.table(DATABASE, "articles")
    for row in rows:
        row["tag_list"] = [
            (str(t), f"{articles_url}?{facets.tag_query(str(t), None)}")
            for t in text.tag_list(row["tags"])
        ]
        site = str(row["site_url"] or "")
        row["site_href"] = site if site.startswith(("https://", "http://")) else None
        row["plain_error"] = plain_error(row["last_error"])
        # the recorded error may quote a server's answer (a redirect's address): one short line
        row["last_error"] = one_line(row["last_error"]) if row["last_error"] else None
        row["last_check"] = when(row["last_fetched_at"]) or "never"
        row["next"] = next_check(row)
        row["full_text_choice"] = FULL_TEXT_LABELS.get(row["full_text"], "auto")
    return await _render(
        datasette,
        request,
        "aggregator_feeds.html",
        {
            "feeds": rows,
            "unread_counted": counted,
            "sort": sort,
            "sort_q": f"?sort={sort}",
            "sorts": list(SORTS),
            "progress": progress_data(datasette),
            "table_url": datasette.urls.table(DATABASE, "feeds"),
            "articles_url": articles_url,
        },
    )


async def progress_json(request: Any, datasette: Any) -> Response:
    return Response.json(progress_data(datasette), headers={"cache-control": "no-store"})


async def _feed(datasette: Any, feed_id: int) -> dict[str, Any]:
    rows = await _rows(datasette, "select * from feeds where id = :id", {"id": feed_id})
    if not rows:
        raise NotFound("No such feed: it may have been removed meanwhile")
    return rows[0]


def _back(datasette: Any, request: Any) -> Response:
    sort = request.args.get("sort", "")
    target = datasette.urls.path("/-/feeds") + (f"?sort={sort}" if sort in SORTS else "")
    return Response.redirect(target, status=303)


async def confirm_unsubscribe(request: Any, datasette: Any) -> Response:
    feed = await _feed(datasette, int(request.url_vars["id"]))
    return await _render(datasette, request, "aggregator_unsubscribe.html", {"feed": feed})


async def feed_action(request: Any, datasette: Any) -> Response:
    return await _act(request, datasette, int(request.url_vars["id"]), request.url_vars["action"])


def feed_name(feed: dict[str, Any]) -> str:
    """The feed in a message: its title (the feed's own, any length) or address, shortened.
    Messages travel in a cookie, which browsers drop past 4 KB."""
    return one_line(str(feed["title"] or feed["url"]), NAME_LIMIT)


async def _act(request: Any, datasette: Any, feed_id: int, action: str) -> Response:
    if action not in ACTIONS:
        raise NotFound("Unknown action")
    form = await checked_form(request, datasette)
    feed = await _feed(datasette, feed_id)
    name = feed_name(feed)
    if action == "pause":
        await _write(datasette, lambda db: store.update_feed(db, feed_id, status="paused"))
        datasette.add_message(request, f"Paused {name}: it is not checked until you resume it.")
    elif action == "resume":
        # As `aggregator resume`: a fresh start, checked at the next refresh.
        await _write(
            datasette,
            lambda db: store.update_feed(
                db, feed_id, status="ok", next_check_at=None, error_count=0
            ),
        )
        datasette.add_message(request, f"Resumed {name}: it is checked at the next refresh.")
    elif action == "fulltext":
        choice = form.get("full_text", "auto")
        if choice not in FULL_TEXT:
            choice = "auto"
        value = FULL_TEXT[choice]
        await _write(datasette, lambda db: store.update_feed(db, feed_id, full_text=value))
        datasette.add_message(request, f"Full text for {name}: {choice}.")
    elif action == "unsubscribe":
        from ..service import unsubscribe

        url = feed["url"]
        await _write(datasette, lambda db: unsubscribe(db, url))
        datasette.add_message(
            request, f"Unsubscribed from {name}. Saved and starred articles are kept."
        )
    elif feed["status"] == "paused":
        datasette.add_message(
            request, f"{name} is paused: resume it to check it again.", datasette.WARNING
        )
    else:
        await _refresh_one(request, datasette, feed)
    return _back(datasette, request)


async def _refresh_one(request: Any, datasette: Any, feed: dict[str, Any]) -> None:
    from .. import service

    name = feed_name(feed)
    db_path = datasette.get_database(DATABASE).path
    feed_id = int(feed["id"])

    async def work(db: Any, client: Any) -> Any:
        summary = await service.refresh_feeds(db, client, feed_ids=[feed_id])
        if not summary.feeds:
            raise AggregatorError("the feed was removed meanwhile")
        return summary

    def run() -> Any:
        with refresher.writer(db_path, wait=refresher.INTERACTIVE_LOCK_WAIT, what="refresh"):
            return refresher.run_with_db(db_path, work)

    try:
        summary = await refresher.off_loop(run)
    except Exception as exc:  # any type: the request is its own failure domain
        message = f"Could not refresh {name}: {refresher.one_line(exc)}"
        datasette.add_message(request, message, datasette.ERROR)
        return
    if summary.failed:
        error = one_line(str(summary.errors[0][1]), 200) if summary.errors else "failed"
        datasette.add_message(
            request, f"Refreshed {name}: the check failed ({error}).", datasette.WARNING
        )
        return
    new = summary.new_entries
    datasette.add_message(request, f"Refreshed {name}: {new} new entr{'y' if new == 1 else 'ies'}.")


def start_run(datasette: Any, *, every_feed: bool, what: str) -> bool:
    """Start a run of the feeds' runner in the background; False when one is running already
    (it is doing the work)."""
    import asyncio

    runner = _runner(datasette)
    try:
        runner.begin(what)
    except refresher.Busy:
        return False

    async def run() -> None:
        try:
            await refresher.off_loop(
                lambda: runner.run(
                    every_feed=every_feed,
                    what=what,
                    wait=refresher.INTERACTIVE_LOCK_WAIT,
                    begun=True,
                )
            )
        except Exception:  # any type: kept on the runner's progress, shown on the feeds page
            refresher.log.exception("%s failed", what)

    # asyncio keeps only weak references to tasks: the runner holds this one until it ends.
    task = asyncio.get_running_loop().create_task(run())
    runner.tasks.add(task)
    task.add_done_callback(runner.tasks.discard)
    return True


async def refresh_all(request: Any, datasette: Any) -> Response:
    await checked_form(request, datasette)
    if start_run(datasette, every_feed=True, what="refresh of every feed"):
        datasette.add_message(request, "Refreshing every feed; the progress is shown below.")
    else:
        datasette.add_message(request, "A refresh is running already; its progress is below.")
    return _back(datasette, request)


async def export_opml(request: Any, datasette: Any) -> Response:
    from ..formats import write_export

    rows = await _rows(datasette, "select * from feeds order by lower(coalesce(title, url))")
    for row in rows:
        row["tags"] = text.tag_list(row["tags"])
    body = write_export("opml", feeds=rows, title="Aggregator subscriptions")
    return Response(
        body.decode("utf-8"),
        content_type="text/x-opml; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="subscriptions.opml"'},
    )


def routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/feeds$", feeds_page),
        (r"^/-/feeds/progress\.json$", progress_json),
        (r"^/-/feeds/refresh-all$", refresh_all),
        (r"^/-/feeds/subscriptions\.opml$", export_opml),
        (r"^/-/feeds/(?P<id>[0-9]{1,18})/unsubscribe$", _unsubscribe_route),
        (r"^/-/feeds/(?P<id>[0-9]{1,18})/(?P<action>[a-z]{1,20})$", feed_action),
    ]


async def _unsubscribe_route(request: Any, datasette: Any) -> Response:
    """GET: the confirmation page; POST: the unsubscription."""
    if request.method == "POST":
        return await _act(request, datasette, int(request.url_vars["id"]), "unsubscribe")
    return await confirm_unsubscribe(request, datasette)
