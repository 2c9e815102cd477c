"""The command line: a thin layer over `aggregator.service` (the pipeline) and the store. Each
command opens the database, calls one function and turns known errors into one-line messages
and exit codes."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import store
from .cli_group import MAX_ERROR, Group, shown
from .errors import AggregatorError
from .pipeline.limits import CONCURRENCY, DEADLINE, PAGE_CONCURRENCY, PER_HOST

if TYPE_CHECKING:
    import sqlite_utils

    from . import service as service  # re-exported for cli_links
else:

    class _OnFirstUse:
        """A module imported when a command first uses it: `service` brings asyncio and the
        fetch layer, which `feeds`, `search`, `export` and `check` never need."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    service = _OnFirstUse("aggregator.service")

DEFAULT_DB = "data/aggregator.db"


@click.group(cls=Group)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    envvar="AGGREGATOR_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database (env AGGREGATOR_DB); created and migrated on first use.",
)
@click.version_option(package_name="aggregator")
@click.pass_context
def cli(ctx: click.Context, db_path: str) -> None:
    """Aggregator: your feeds and saved links in one SQLite database, served by Datasette."""
    ctx.obj = {"db_path": db_path}


# Commands that only read: every other command checks the database first
# (store.check_before_writing).
_READERS = frozenset({"feeds", "search", "export", "serve", "check", "backup", "highlights"})


def _db(ctx: click.Context) -> sqlite_utils.Database:
    if "db" not in ctx.obj:
        path = ctx.obj["db_path"]
        if ctx.info_name in _READERS:
            ctx.obj["db"] = store.open_db(path)
        else:  # never write (not even a migration) into a corrupt file
            db = store.open_db(path, migrate=False)
            try:
                store.check_before_writing(db, path)
                store.migrate(db, path)
            except BaseException:
                db.conn.close()
                raise
            ctx.obj["db"] = db
    db_: sqlite_utils.Database = ctx.obj["db"]
    return db_


def _deadline() -> float:
    """Seconds one feed request may take in all: DEADLINE, or env AGGREGATOR_DEADLINE."""
    try:
        seconds = float(os.environ.get("AGGREGATOR_DEADLINE") or DEADLINE)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:  # nan and inf too: a deadline is a number of seconds
        raise click.ClickException("AGGREGATOR_DEADLINE must be a number of seconds up to 3600")
    return max(1.0, seconds)


def _run(coro_factory: Callable[[Any], Any]) -> Any:
    """Run an async service call with a fresh HTTP client (the address policy and proxy of the
    environment)."""
    from .fetch import make_env_client

    async def main() -> Any:
        async with make_env_client() as client:
            return await coro_factory(client)

    import asyncio

    return asyncio.run(main())


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when output is piped."""
    if total and sys.stderr.isatty():
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield bar.update
    else:
        yield lambda n: None


# ---------------------------------------------------------------------------------------------
# Feeds


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--tag", "tags", multiple=True, help="Tag for the feed and its articles (repeatable)."
)
@click.option(
    "--full-text/--no-full-text",
    default=None,
    help="Always / never fetch the linked page for full text (default: automatic).",
)
@click.pass_context
def subscribe(
    ctx: click.Context, urls: tuple[str, ...], tags: tuple[str, ...], full_text: bool | None
) -> None:
    """Subscribe to feeds: a feed URL, or a site or profile page whose feed is found."""
    db = _db(ctx)
    results = _run(
        lambda client: service.subscribe(db, client, urls, tags=tags, full_text=full_text)
    )
    failed = 0
    for res in results:
        if res.error:
            failed += 1
            click.echo(f"Error: {shown(res.url)}: {shown(res.error, limit=MAX_ERROR)}", err=True)
        elif res.created:
            name = res.title or res.feed_url
            click.echo(f"Subscribed to {name} <{res.feed_url}> ({res.entries} entries)")
        else:
            click.echo(f"Already subscribed to {res.title or res.feed_url} <{res.feed_url}>")
    if failed == len(results):
        ctx.exit(1)


@cli.command()
@click.argument("url")
@click.pass_context
def unsubscribe(ctx: click.Context, url: str) -> None:
    """Remove a feed and its articles (saved, starred or noted articles are kept)."""
    if not service.unsubscribe(_db(ctx), url):
        raise click.ClickException(f"not subscribed: {url}")
    click.echo(f"Unsubscribed from {url}")


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def feeds(ctx: click.Context, fmt: str) -> None:
    """List the feeds with their state and number of articles."""
    rows = store.list_feeds(_db(ctx))
    keys = (
        "url",
        "title",
        "site_url",
        "tags",
        "status",
        "last_fetched_at",
        "last_error",
        "error_count",
        "next_check_at",
        "article_count",
    )
    out = [{k: r[k] for k in keys} | {"articles": r["article_count"]} for r in rows]
    if fmt == "json":
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not out:
        click.echo("No feeds. Add one with: aggregator subscribe URL")
        return
    for r in out:
        error = f"  ERROR ({r['error_count']}): {r['last_error']}" if r["last_error"] else ""
        if r["status"] == "failing" and r["next_check_at"]:
            error += f"  (next try {r['next_check_at']})"
        tags = f"  [{', '.join(r['tags'])}]" if r["tags"] else ""
        click.echo(
            f"{r['title'] or '(untitled)'}  <{r['url']}>  {r['articles']} articles  "
            f"{r['status']}{tags}{error}"
        )


@cli.command()
@click.option(
    "--concurrency",
    default=CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Requests in flight at once.",
)
@click.option(
    "--per-host",
    default=PER_HOST,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Requests in flight to one host.",
)
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Refresh every active feed now, even those not due yet "
    "(paused and gone feeds wait for `aggregator resume`).",
)
@click.pass_context
def fetch(ctx: click.Context, concurrency: int, per_host: int, all_: bool) -> None:
    """Refresh the feeds that are due and download pages waiting for their text."""
    with store.writer_lock(ctx.obj["db_path"], what="fetch"):
        _fetch(ctx, concurrency, per_host, all_)


def _fetch(ctx: click.Context, concurrency: int, per_host: int, all_: bool) -> None:
    db = _db(ctx)
    due = len(store.feeds_due(db, all=all_)) if sys.stderr.isatty() else 0  # for the bar only
    deadline = _deadline()

    async def work(client: Any) -> Any:
        with _progress(due, "Fetching feeds") as tick:
            summary = await service.refresh_feeds(
                db,
                client,
                concurrency=concurrency,
                per_host=per_host,
                all=all_,
                progress=tick,
                deadline=deadline,
            )
        pages = None
        pending = len(store.pages_due(db))
        if pending:  # else skip it, and the extractor's imports
            with _progress(pending, "Fetching pages") as tick:
                pages = await service.fetch_pages(
                    db,
                    client,
                    concurrency=min(concurrency, PAGE_CONCURRENCY),
                    per_host=per_host,
                    progress=tick,
                )
        return summary, pages

    summary, pages = _run(work)
    service.maintain_search(db)
    for url, error in summary.errors[:20]:
        click.echo(f"  failed: {url}: {error}", err=True)
    if len(summary.errors) > 20:
        click.echo(
            f"  ... and {len(summary.errors) - 20} more failed feeds (see `aggregator feeds`)",
            err=True,
        )
    click.echo(summary.line())
    if pages is not None and pages.total:
        for url, error in pages.errors[:20]:
            click.echo(f"  failed: {url}: {error}", err=True)
        if len(pages.errors) > 20:
            click.echo(
                f"  ... and {len(pages.errors) - 20} more failed pages (retried later)", err=True
            )
        click.echo(pages.line())


@cli.command()
@click.argument("url")
@click.pass_context
def resume(ctx: click.Context, url: str) -> None:
    """Resume polling a feed that was paused or marked gone."""
    db = _db(ctx)
    feed = store.get_feed(db, url)
    if not feed:
        raise click.ClickException(f"not subscribed: {url}")
    store.update_feed(db, feed["id"], status="ok", next_check_at=None, error_count=0)
    click.echo(f"Resumed {url}")


@cli.command()
@click.argument("url")
@click.pass_context
def pause(ctx: click.Context, url: str) -> None:
    """Stop polling a feed (its articles are kept); `aggregator resume URL` starts it again."""
    db = _db(ctx)
    feed = store.get_feed(db, url)
    if not feed:
        raise click.ClickException(f"not subscribed: {url}")
    store.update_feed(db, feed["id"], status="paused")
    click.echo(f"Paused {url}")


# ---------------------------------------------------------------------------------------------
# Database safety


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_context
def backup(ctx: click.Context, file: str, force: bool) -> None:
    """Copy the database to FILE (VACUUM INTO, safe during a fetch), then check the copy."""
    store.backup_database(_db(ctx), file, force=force)
    click.echo(f"Backed up {ctx.obj['db_path']} to {file} (integrity ok)")


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Check the database: integrity, the full-text index, foreign keys. Exit 1 on a problem."""
    problems = store.check_database(_db(ctx))
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        raise click.ClickException(
            f"{ctx.obj['db_path']}: {len(problems)} problem(s) found; "
            "restore a backup (`aggregator backup FILE` makes one)"
        )
    click.echo(f"{ctx.obj['db_path']}: ok (integrity, full-text index, foreign keys)")


# ---------------------------------------------------------------------------------------------
# Reading


@cli.command()
@click.argument("query")
@click.option("--tag", "tags", multiple=True, help="Only articles with this tag (repeatable).")
@click.option("--feed", "feed_url", help="Only articles of this feed URL.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1_000))
@click.option(
    "--sort",
    type=click.Choice(store.SORTS),
    default=store.DEFAULT_SORT,
    show_default=True,
    help="relevance: best match over the whole collection, titles first; newest: newest first.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    tags: tuple[str, ...],
    feed_url: str | None,
    limit: int,
    sort: str,
    fmt: str,
) -> None:
    """Full-text search, as the web's search page does it: words, "a phrase", prefix*,
    a OR b, -word, tag:NAME, feed:TITLE, site:HOST."""
    from .query import parse_query  # here: only `search` needs the query language

    for note in parse_query(query).notes:
        click.echo(note, err=True)
    rows = store.search_articles(
        _db(ctx), query, sort=sort, tags=tags, feed_url=feed_url, limit=limit
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No matches.", err=True)
        return
    for row in rows:
        date = (row["published"] or "")[:10]
        click.echo(
            f"{row['title'] or '(untitled)'}  {date}  {row['feed_title'] or row['site'] or ''}"
        )
        click.echo(f"  {row['url']}")
        click.echo("  " + row["snippet"])


@cli.command()
@click.option("--tag", "tags", multiple=True, help="Articles with all of these tags.")
@click.option("--query", help="Full-text query.")
@click.option("--feed", "feed_url", help="Articles of this feed URL.")
@click.option("--state", type=click.Choice(["unread", "read", "archived", "starred"]))
@click.option("--since", help="Articles since this date (YYYY-MM-DD or ISO 8601).")
@click.option(
    "--format",
    "fmt",
    default="json",
    show_default=True,
    type=click.Choice(["json", "csv", "md", "html", "opml", "atom", "netscape"]),
)
@click.option("--group-by", type=click.Choice(["tag", "date"]), help="Group a Markdown list.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write (default: stdout).",
)
@click.pass_context
def export(
    ctx: click.Context,
    tags: tuple[str, ...],
    query: str | None,
    feed_url: str | None,
    state: str | None,
    since: str | None,
    fmt: str,
    group_by: str | None,
    output: str | None,
) -> None:
    """Export articles (or, as OPML, the subscriptions)."""
    from .pipeline.exports import export_articles

    out = export_articles(
        _db(ctx),
        fmt,
        tags=tags,
        query=query,
        feed_url=feed_url,
        state=state,
        since=since,
        group_by=group_by,
    )
    if output:
        Path(output).write_bytes(out.data)
        click.echo(f"Wrote {out.count} {out.noun} to {output}", err=True)
    else:
        click.echo(out.data.decode("utf-8"), nl=not out.data.endswith(b"\n"))


# ---------------------------------------------------------------------------------------------
# Serving


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Beyond loopback a login is required: set "
    "AGGREGATOR_PASSWORD_HASH to the output of `datasette hash-password`.",
)
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--metadata",
    type=click.Path(exists=True, dir_okay=False),
    help="Datasette metadata file (default: the project's metadata.yml).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Another Host name the server answers to (repeatable); loopback names and "
    "--host are always allowed, any other Host header gets 403.",
)
@click.option(
    "--refresh-every",
    "refresh_every",
    default=1800,
    show_default=True,
    type=click.IntRange(0, 10**8),
    metavar="SECONDS",
    help="Refresh due feeds and download waiting pages in the background this often "
    "(each feed's own schedule and backoff still apply); 0 turns it off.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    metadata: str | None,
    allow_hosts: tuple[str, ...],
    refresh_every: int,
) -> None:
    """Serve the database with Datasette (database `aggregator`)."""
    from .web.app import auth_configured, build_datasette, check_exposure

    try:
        auth = auth_configured()
        check_exposure(host, auth=auth)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    store.open_db(ctx.obj["db_path"]).conn.close()  # create and migrate first
    ds = build_datasette(
        ctx.obj["db_path"],
        metadata_path=metadata,
        host=host,
        port=port,
        auth=auth,
        allow_hosts=allow_hosts,
        refresh_every=refresh_every,
    )
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"Serving {ctx.obj['db_path']} at http://{shown}:{port}/"
        + (" (login required)" if auth else ""),
        err=True,
    )
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on")


@cli.command("load-sample")
@click.argument("directory", type=click.Path(exists=True, file_okay=False), default="data/sample")
@click.pass_context
def load_sample(ctx: click.Context, directory: str) -> None:
    """Load the shipped sample collection from disk (works offline)."""
    feeds_n, articles_n = service.load_sample(_db(ctx), directory)
    click.echo(f"Loaded the sample: {feeds_n} feeds, {articles_n} new articles")


# ---------------------------------------------------------------------------------------------
# Import


@cli.command("import")
@click.argument("file", type=click.Path())  # a path: left as the file system gave it
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(
        ["auto", "opml", "pocket", "netscape", "instapaper", "wallabag", "omnivore", "json"]
    ),
)
@click.option("--tag", "tags", multiple=True, help="Add this tag to everything imported.")
@click.pass_context
def import_(ctx: click.Context, file: str, fmt: str, tags: tuple[str, ...]) -> None:
    """Import subscriptions (OPML) or saved links (Pocket, browsers, Instapaper, wallabag,
    Omnivore, JSON). Offline: the next `fetch` downloads them."""
    if not Path(file).exists():
        raise click.ClickException(f"no such file: {file}")
    # the import stage alone: the service facade would load the network stack (~0.2 s)
    from .pipeline.imports import import_batch, read_import_file

    batch = read_import_file(file, format=fmt)  # a bad file fails before the db opens
    with store.writer_lock(ctx.obj["db_path"], what="import"):
        db = _db(ctx)
        with _progress(len(batch.subscriptions) + len(batch.links), "Importing") as tick:
            summary = import_batch(db, batch, tags=tags, progress=tick)
    for warning in summary.warnings[:10]:
        click.echo(f"  warning: {warning}", err=True)
    if len(summary.warnings) > 10:
        click.echo(f"  ... and {len(summary.warnings) - 10} more warnings", err=True)
    for skipped in summary.skipped[:20]:
        click.echo(f"  skipped: {skipped}", err=True)
    if len(summary.skipped) > 20:
        click.echo(f"  ... and {len(summary.skipped) - 20} more records skipped", err=True)
    click.echo(summary.line())


from . import cli_highlights, cli_links  # noqa: E402,F401  (they register their commands on `cli`)
