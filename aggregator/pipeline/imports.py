"""Importing a file of subscriptions and links: read and recognise it whole, then store its
records in one transaction, each record in its own failure domain (a record the store refuses is
skipped with a one-line reason; the good ones are kept). Nothing is fetched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import AggregatorError
from ..models import ImportBatch, Link, Subscription
from .boundary import describe, is_run_failure

if TYPE_CHECKING:
    import sqlite_utils

Progress = Callable[[int], None]

IMPORT_CHUNK = 5_000  # links saved per bulk statement group (and per progress step)


@dataclass
class ImportSummary:
    format: str
    feeds_added: int = 0
    feeds_existing: int = 0
    links_added: int = 0
    links_existing: int = 0
    warnings: list[str] = field(default_factory=list)
    # One line per record the store refused (those the reader left out are among the warnings).
    skipped: list[str] = field(default_factory=list)
    highlights_added: int = 0
    highlights_existing: int = 0

    def line(self) -> str:
        count = len(self.skipped)
        skipped = f", {count} refused by the database" if count else ""
        marks = ""
        if self.highlights_added or self.highlights_existing:
            marks = (
                f", {self.highlights_added} new highlights "
                f"({self.highlights_existing} already there)"
            )
        return (
            f"Imported {self.format}: {self.feeds_added} new feeds ({self.feeds_existing} already "
            f"there), {self.links_added} new links ({self.links_existing} already there)"
            f"{marks}{skipped}"
        )


def read_import_file(path: str | Path, *, format: str = "auto") -> ImportBatch:
    """Read and recognise an import file whole; nothing is stored. Raises AggregatorError, with
    one line, for a file that is unusable as a whole (whatever the reader raised)."""
    from ..formats import MAX_IMPORT_BYTES, check_import_size, read_import

    path = Path(path)
    try:
        check_import_size(path.stat().st_size, path.name)  # before reading it whole
        with path.open("rb") as file:
            # a pipe or a device (/dev/zero) says nothing of its size: read one byte past the
            # cap at most, and refuse what passes it
            data = file.read(MAX_IMPORT_BYTES + 1)
        check_import_size(len(data), path.name)
    except IsADirectoryError:
        raise AggregatorError(f"cannot import {path}: it is a folder") from None
    except OSError as exc:
        raise AggregatorError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return read_import(data, format=format, filename=path.name)
    except AggregatorError:
        raise
    except Exception as exc:  # any type: the file controls what the reader meets
        raise AggregatorError(f"cannot import {path.name}: {describe(exc)}") from None


def _link_record(link: Link, extra: Sequence[str]) -> dict[str, Any]:
    """The mapping `store.save_links_bulk` takes for one link (its HTML sanitised)."""
    content = None
    if link.content_html:
        # imported here, for links that carry HTML only: an import statement run per link
        # was a fifth of a large import's Python time
        from ..sanitize import count_words, html_to_text, reading_time, sanitize_html

        html = sanitize_html(link.content_html, base_url=link.url)
        text = html_to_text(html)
        words = count_words(text)
        content = {
            "content_html": html,
            "text": text,
            "word_count": words,
            "reading_time": reading_time(words),
        }
    return {
        "url": link.url,
        "title": link.title,
        "tags": list(link.tags) + list(extra),
        "note": link.note,
        "saved_at": link.saved_at,
        "state": link.state,
        "starred": link.starred,
        "excerpt": link.excerpt,
        "content": content,
    }


def _import_feed(
    db: sqlite_utils.Database, sub: Subscription, extra: Sequence[str], summary: ImportSummary
) -> None:
    try:
        with store.transaction(db):  # a savepoint: a refused feed leaves nothing behind
            _, created = store.add_feed(
                db,
                sub.url,
                title=sub.title,
                site_url=sub.site_url,
                tags=list(sub.tags) + list(extra),
            )
    except Exception as exc:  # any type: the file controls the values
        if is_run_failure(exc):
            raise
        summary.skipped.append(f"feed {sub.url[:200]}: {describe(exc)}")
        return
    if created:
        summary.feeds_added += 1
    else:
        summary.feeds_existing += 1


def _import_links(
    db: sqlite_utils.Database,
    links: Sequence[Link],
    extra: Sequence[str],
    summary: ImportSummary,
) -> None:
    """One chunk of links in bulk; when the store refuses the chunk, link by link, so that only
    the bad ones are skipped."""
    records: list[dict[str, Any]] = []
    for link in links:
        try:
            records.append(_link_record(link, extra))
        except Exception as exc:  # any type: the file controls the values
            summary.skipped.append(f"link {link.url[:200]}: {describe(exc)}")
    try:
        with store.transaction(db):
            added, existing = store.save_links_bulk(db, records)
    except Exception as exc:  # some record the store refuses: find it
        if is_run_failure(exc):
            raise
        added = existing = 0
        for record in records:
            try:
                with store.transaction(db):
                    one_added, one_existing = store.save_links_bulk(db, [record])
            except Exception as exc:  # any type: the file controls the values
                if is_run_failure(exc):
                    raise
                summary.skipped.append(f"link {str(record['url'])[:200]}: {describe(exc)}")
                continue
            added += one_added
            existing += one_existing
    summary.links_added += added
    summary.links_existing += existing
    for link in links:
        if link.highlights:
            _import_highlights(db, link, summary)


def _import_highlights(db: sqlite_utils.Database, link: Link, summary: ImportSummary) -> None:
    """A link's highlights, kept even before its page is fetched (flagged until its text holds
    them; the fetch re-anchors them). The same quote again is not a second highlight."""
    article_id = store.article_id_for_url(db, link.url)
    if article_id is None:
        return
    for mark in link.highlights:
        try:
            with store.transaction(db):
                _, new = store.add_highlight(
                    db,
                    article_id,
                    mark.quote,
                    note=mark.note,
                    created_at=mark.created_at,
                    require_anchor=False,
                )
        except Exception as exc:  # any type: the file controls the values
            if is_run_failure(exc):
                raise
            summary.skipped.append(f"highlight of {link.url[:200]}: {describe(exc)}")
            continue
        if new:
            summary.highlights_added += 1
        else:
            summary.highlights_existing += 1


def import_batch(
    db: sqlite_utils.Database,
    batch: ImportBatch,
    *,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> ImportSummary:
    """Store what an import file holds in one transaction (a crash or a full disk leaves the
    database as it was): feeds one by one (a few hundred), links in bulk. A record the store
    refuses is skipped, with its reason in `summary.skipped`; the others are kept. Nothing is
    fetched: the next `fetch` downloads feeds and pages. `progress` is told of each item."""
    summary = ImportSummary(format=batch.format, warnings=list(batch.warnings))
    extra = list(tags)
    with store.transaction(db):
        for sub in batch.subscriptions:
            _import_feed(db, sub, extra, summary)
            if progress:
                progress(1)
        for start in range(0, len(batch.links), IMPORT_CHUNK):
            chunk = batch.links[start : start + IMPORT_CHUNK]
            _import_links(db, chunk, extra, summary)
            if progress:
                progress(len(chunk))
    return summary


def import_file(
    db: sqlite_utils.Database,
    path: str | Path,
    *,
    format: str = "auto",
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> ImportSummary:
    """Import subscriptions and links from a file (see `import_batch`). Nothing is fetched:
    the next `fetch` downloads feeds and pages."""
    batch = read_import_file(path, format=format)
    return import_batch(db, batch, tags=tags, progress=progress)
