"""The highlight commands of the CLI: `highlight`, `highlights`, `unhighlight`. A thin layer:
each reads its options, calls the store, prints one line or the list."""

from __future__ import annotations

import json

import click

from . import store
from .cli import _db, cli
from .cli_links import _article


@cli.command()
@click.argument("url")
@click.option("--quote", required=True, help="The passage, as it is in the article's text.")
@click.option("--note", help="A note beside the passage.")
@click.pass_context
def highlight(ctx: click.Context, url: str, quote: str, note: str | None) -> None:
    """Highlight a passage of an article (whitespace and case aside, it must be in its text)."""
    highlight_id, new = store.add_highlight(_db(ctx), _article(ctx, url), quote, note=note)
    click.echo(f"{'Highlighted' if new else 'Already highlighted'} (id {highlight_id}): {url}")


@cli.command()
@click.option("--tag", "tags", multiple=True, help="Only articles with this tag (repeatable).")
@click.option("--url", help="Only this article's highlights.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md"]),
    default="text",
    show_default=True,
)
@click.pass_context
def highlights(ctx: click.Context, tags: tuple[str, ...], url: str | None, fmt: str) -> None:
    """List highlights, newest first (one article's in the order of its text)."""
    rows = store.list_highlights(_db(ctx), tags=tags, url=url)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if fmt == "md":
        # here, not at the top: every command loads this module, and the formats package
        # (lxml, nh3) would add ~50 ms to `fetch` and the others
        from .formats.markdown import escape_md, highlight_lines

        by_article: dict[int, list[dict[str, object]]] = {}
        for row in rows:
            by_article.setdefault(int(row["article_id"]), []).append(row)
        lines = ["# Highlights", ""]
        for marks in by_article.values():
            first = marks[0]
            lines.append(f"## [{escape_md(str(first['title'] or first['url']))}](<{first['url']}>)")
            lines += highlight_lines(marks, indent="")
        click.echo("\n".join(lines).rstrip())
        return
    if not rows:
        click.echo("No highlights.", err=True)
        return
    for row in rows:
        flag = "" if row["anchored"] else "  (no longer in the article's text)"
        click.echo(f"[{row['id']}] {row['title'] or row['url']}{flag}")
        click.echo(f"  “{row['quote']}”")
        if row["note"]:
            click.echo(f"  Note: {row['note']}")


@cli.command()
@click.argument("highlight_id", type=int)
@click.pass_context
def unhighlight(ctx: click.Context, highlight_id: int) -> None:
    """Remove a highlight by its id (`aggregator highlights` shows them)."""
    if not store.remove_highlight(_db(ctx), highlight_id):
        raise click.ClickException(f"no highlight with id {highlight_id}")
    click.echo(f"Removed highlight {highlight_id}")
