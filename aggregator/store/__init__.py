"""Storage: all SQL of the project and its only sqlite-utils user. No network, no parsing.

`articles_tags` is the truth for tags; the JSON `tags` column on `articles` is kept in step for
Datasette's array facets. `articles_fts` (FTS5, external content) is kept in step by triggers;
rows are upserted, never INSERT OR REPLACEd (that corrupts FTS5 indexes). This package's modules
each own one topic; the names the rest of the project uses are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .articles import (
    ARTICLE_STATES,
    MAX_CONTENT_UPDATES,
    MAX_TAG,
    MAX_TAGS,
    article_id_for_url,
    change_tags,
    normalise_tags,
    pages_due,
    record_page,
    record_page_error,
    set_state,
    store_entries,
)
from .connection import (
    PAGE_SIZE,
    TEMP_STORE_MEMORY,
    Database,
    now_iso,
    site_of,
    transaction,
    wrap,
)
from .feeds import (
    add_feed,
    add_feeds_bulk,
    feeds_due,
    get_feed,
    get_feed_by_id,
    learn_feed_summaries,
    list_feeds,
    move_feed,
    record_feed_error,
    remove_feed,
    retitle_articles,
    update_feed,
)
from .schema import (
    FACET_COLUMNS,
    FTS_COLUMNS,
    FTS_HASH_BYTES,
    Migrations,
    count_facets,
    migrate,
    migrations,
    open_db,
)

# Loaded on first use: search and ranking bring the query language (aggregator.query), which a
# command that only writes never needs; links, bulk writes, highlights and the safety checks
# (with fcntl) are not needed to open the database and read what is due. Together they were
# ~2 ms of a ~9 ms open (see "Store start-up" in docs/benchmarks.md).
_LAZY = {
    "FTS_AUTOMERGE": "bulk",
    "bulk_settings": "bulk",
    "store_articles_bulk": "bulk",
    "add_highlight": "highlights",
    "highlights_by_article": "highlights",
    "list_highlights": "highlights",
    "reanchor": "highlights",
    "remove_highlight": "highlights",
    "save_link": "links",
    "save_links_bulk": "links",
    "LOCK_WAIT": "safety",
    "backup_database": "safety",
    "check_before_writing": "safety",
    "check_database": "safety",
    "quick_check": "safety",
    "writer_lock": "safety",
    "DEFAULT_SORT": "search",
    "SEARCH_PAGE": "search",
    "SORTS": "search",
    "fts_query": "search",
    "get_articles": "search",
    "query_articles": "search",
    "register_search_functions": "search",
    "search_articles": "search",
    "search_sql": "search",
    "BEST_LIST_MIN_DOCS": "ranking",
    "best_lists_due": "ranking",
    "refresh_best_lists": "ranking",
}

_LAZY_MODULES = frozenset(_LAZY.values())

if TYPE_CHECKING:
    from .bulk import FTS_AUTOMERGE, bulk_settings, store_articles_bulk
    from .highlights import (
        add_highlight,
        highlights_by_article,
        list_highlights,
        reanchor,
        remove_highlight,
    )
    from .links import save_link, save_links_bulk
    from .ranking import BEST_LIST_MIN_DOCS, best_lists_due, refresh_best_lists
    from .safety import (
        LOCK_WAIT,
        backup_database,
        check_before_writing,
        check_database,
        quick_check,
        writer_lock,
    )
    from .search import (
        DEFAULT_SORT,
        SEARCH_PAGE,
        SORTS,
        fts_query,
        get_articles,
        query_articles,
        register_search_functions,
        search_articles,
        search_sql,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:  # `store.safety`: the module itself
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "add_highlight",
    "highlights_by_article",
    "list_highlights",
    "reanchor",
    "remove_highlight",
    "ARTICLE_STATES",
    "Database",
    "FACET_COLUMNS",
    "FTS_AUTOMERGE",
    "FTS_COLUMNS",
    "FTS_HASH_BYTES",
    "LOCK_WAIT",
    "MAX_CONTENT_UPDATES",
    "MAX_TAG",
    "MAX_TAGS",
    "Migrations",
    "PAGE_SIZE",
    "BEST_LIST_MIN_DOCS",
    "DEFAULT_SORT",
    "SEARCH_PAGE",
    "SORTS",
    "best_lists_due",
    "refresh_best_lists",
    "TEMP_STORE_MEMORY",
    "add_feed",
    "add_feeds_bulk",
    "article_id_for_url",
    "backup_database",
    "bulk_settings",
    "change_tags",
    "check_before_writing",
    "check_database",
    "count_facets",
    "feeds_due",
    "fts_query",
    "get_articles",
    "get_feed",
    "get_feed_by_id",
    "learn_feed_summaries",
    "list_feeds",
    "migrate",
    "migrations",
    "move_feed",
    "normalise_tags",
    "now_iso",
    "open_db",
    "pages_due",
    "query_articles",
    "quick_check",
    "record_feed_error",
    "record_page",
    "record_page_error",
    "remove_feed",
    "retitle_articles",
    "save_link",
    "save_links_bulk",
    "search_articles",
    "search_sql",
    "register_search_functions",
    "set_state",
    "site_of",
    "store_articles_bulk",
    "store_entries",
    "transaction",
    "update_feed",
    "wrap",
    "writer_lock",
]
