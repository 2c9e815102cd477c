"""The saved-link and reading-state commands of the CLI: `save`, `read`, `unread`, `archive`,
`star`, `unstar` and `tag`. A thin layer: each reads its arguments, calls the store (or the
service for `save --now`) and prints one line per article."""

from __future__ import annotations

from typing import Any

import click

from . import store
from .cli import _db, _run, cli, service
from .cli_group import shown


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option("--note", help="A note kept with the link.")
@click.option("--title", help="Title to use until the page gives one.")
@click.option(
    "--now", is_flag=True, help="Download and extract the page now, not at the next fetch."
)
@click.pass_context
def save(
    ctx: click.Context,
    urls: tuple[str, ...],
    tags: tuple[str, ...],
    note: str | None,
    title: str | None,
    now: bool,
) -> None:
    """Save links to read later (downloaded by the next fetch, or now with --now)."""
    from .sanitize import normalise_input_url  # not the service facade: no network stack

    db = _db(ctx)
    bad = 0
    ids: list[int] = []
    for raw in urls:
        url = normalise_input_url(raw)
        if url is None:
            click.echo(f"Error: not an http(s) URL: {shown(raw)}", err=True)
            bad += 1
            continue
        article_id, created = store.save_link(db, url, tags=tags, note=note, title=title)
        ids.append(article_id)
        click.echo(f"{'Saved' if created else 'Updated'} {url}")
    if bad == len(urls):
        ctx.exit(1)
    if now:
        summary = _run(lambda client: service.save_now(db, client, ids))
        for url, error in summary.errors:
            click.echo(f"  failed: {url}: {error}", err=True)
        click.echo(summary.line())


def _article(ctx: click.Context, url: str) -> int:
    db = _db(ctx)
    article_id = store.article_id_for_url(db, url)
    if article_id is None:
        from .sanitize import normalise_input_url

        normal = normalise_input_url(url)
        article_id = store.article_id_for_url(db, normal) if normal else None
    if article_id is None:
        raise click.ClickException(f"no article with URL {url}")
    return article_id


def _state_command(name: str, done: str, help: str, **change: Any) -> None:
    @cli.command(name, help=help)
    @click.argument("urls", nargs=-1, required=True)
    @click.pass_context
    def command(ctx: click.Context, urls: tuple[str, ...]) -> None:
        ids = [_article(ctx, url) for url in urls]  # every URL known before anything changes
        for url, article_id in zip(urls, ids, strict=True):
            store.set_state(_db(ctx), article_id, **change)
            click.echo(f"{done} {url}")


_state_command("read", "Marked read:", "Mark articles read.", state="read")
_state_command("unread", "Marked unread:", "Mark articles unread.", state="unread")
_state_command("archive", "Archived:", "Archive articles.", state="archived")
_state_command("star", "Starred:", "Star articles.", starred=True)
_state_command("unstar", "Unstarred:", "Remove the star from articles.", starred=False)


@cli.command()
@click.argument("url")
@click.option("--add", "add", multiple=True, help="Tag to add (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Tag to remove (repeatable).")
@click.pass_context
def tag(ctx: click.Context, url: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Add or remove tags of an article."""
    tags = store.change_tags(_db(ctx), _article(ctx, url), add=add, remove=remove)
    click.echo(f"Tags of {url}: {', '.join(tags) if tags else '(none)'}")
