"""Storage: all SQL of the project and its only sqlite-utils user. No network, no parsing.

`articles_tags` is the truth for tags; the JSON `tags` column on `articles` is kept in step for
Datasette's array facets. `articles_fts` (FTS5, external content) is kept in step by triggers;
rows are upserted, never INSERT OR REPLACEd (that corrupts FTS5 indexes). This package's modules
each own one topic; the names the rest of the project uses are re-exported here.
"""

from __future__ import annotations

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
from .bulk import FTS_AUTOMERGE, bulk_settings, store_articles_bulk
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

__all__ = [
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
