"""The pipeline's facade: the functions the CLI, the web layer and the tests call, each a stage
of `aggregator.pipeline` (fetch -> parse -> extract -> store). They take `db` and `client` as
parameters; no globals. Every feed, page and import record is its own failure domain there."""

from __future__ import annotations

from .pipeline.exports import Export, export_articles
from .pipeline.imports import ImportSummary, import_batch, import_file, read_import_file
from .pipeline.limits import CONCURRENCY, DEADLINE, PAGE_CONCURRENCY, PER_HOST
from .pipeline.maintenance import maintain_search
from .pipeline.pages import PageSummary, fetch_pages, fetch_saved_pages, save_now
from .pipeline.refresh import (
    MAX_BACKOFF,
    MIN_BACKOFF,
    RefreshSummary,
    backoff_seconds,
    refresh_feeds,
)
from .pipeline.sample import load_sample
from .pipeline.subscribe import SubscribeResult, subscribe, unsubscribe
from .sanitize import normalise_input_url

__all__ = [
    "CONCURRENCY",
    "DEADLINE",
    "MAX_BACKOFF",
    "MIN_BACKOFF",
    "PAGE_CONCURRENCY",
    "PER_HOST",
    "Export",
    "ImportSummary",
    "PageSummary",
    "RefreshSummary",
    "SubscribeResult",
    "backoff_seconds",
    "export_articles",
    "fetch_pages",
    "fetch_saved_pages",
    "import_batch",
    "import_file",
    "load_sample",
    "maintain_search",
    "normalise_input_url",
    "read_import_file",
    "refresh_feeds",
    "save_now",
    "subscribe",
    "unsubscribe",
]
