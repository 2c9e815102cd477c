"""The schema: tables, indexes, triggers and the migrations that make them, and `open_db`, which
opens a database at the current schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseError
from .connection import PAGE_SIZE, Database, _one, _opening, wrap

if TYPE_CHECKING:
    import sqlite_utils


class _Migration:
    __slots__ = ("name", "fn", "transactional")

    def __init__(self, name: str, fn: Callable[[Any], None], transactional: bool) -> None:
        self.name, self.fn, self.transactional = name, fn, transactional


class Migrations:
    """Our schema migrations, registered as with sqlite-utils' Migrations (whose bookkeeping
    table, `_sqlite_migrations`, they share): `@migrations()` over `def m007_...(db)`. Opening
    a database reads the names applied with one SELECT; only when one is pending is
    sqlite-utils imported, and its Migrations applies them (each in its own transaction with
    its record). This registry stands in front of sqlite-utils' so that opening a database does
    not import it: see "Store start-up" in docs/benchmarks.md."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._migrations: list[_Migration] = []

    def __call__(
        self, *, name: str | None = None, transactional: bool = True
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
            key = name or fn.__name__
            if any(m.name == key for m in self._migrations):
                raise ValueError(f"migration {key!r} is already registered")
            self._migrations.append(_Migration(key, fn, transactional))
            return fn

        return register

    def pending(self, db: sqlite_utils.Database) -> list[str]:
        try:
            applied = {
                str(name)
                for (name,) in db.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [self.name]
                ).fetchall()
            }
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            applied = set()
        return [m.name for m in self._migrations if m.name not in applied]

    def apply(self, db: sqlite_utils.Database) -> None:
        if not self.pending(db):
            return
        from sqlite_utils import Migrations as UtilsMigrations

        utils = db.utils if isinstance(db, Database) else db
        real = UtilsMigrations(self.name)
        for m in self._migrations:
            real(name=m.name, transactional=m.transactional)(m.fn)
        real.apply(utils)


migrations = Migrations("aggregator")


def open_db(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating and migrating on first use) the database in WAL mode with a busy timeout.
    Raises DatabaseError with a one-line reason when it cannot be opened or is not ours."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise DatabaseError(f"database path is a directory: {path}")
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"cannot create the database folder {path.parent}: {exc.strerror}"
            ) from None
    with _opening(path):
        new_file = not path.exists() or path.stat().st_size == 0
        conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if new_file:
            # Before the first table (and WAL) fixes it: an article row (~4-5 KB of text, HTML
            # and excerpt) overflows 4 KB pages and wastes the rest of its last overflow page;
            # 32 KB pages hold about seven rows each and waste half as much ("Bulk ingest and
            # size" in docs/benchmarks.md).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        db = wrap(conn)
        if migrate:
            migrations.apply(db)
    return db


def migrate(db: sqlite_utils.Database, path: str | Path) -> None:
    """Apply pending migrations to a database opened with migrate=False (after checking it)."""
    with _opening(Path(path)):
        migrations.apply(db)


FTS_COLUMNS = ("title", "text", "author", "feed_title")
_FTS_COLS = ", ".join(FTS_COLUMNS)
FTS_INSERT_TRIGGER = (
    "CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN "
    f"INSERT INTO articles_fts(rowid, {_FTS_COLS}) "
    f"VALUES (new.id, {', '.join(f'new.{c}' for c in FTS_COLUMNS)}); END"
)
FTS_HASH_BYTES = 16 * 1024 * 1024


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            title TEXT,
            site_url TEXT,
            description TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            full_text INTEGER,
            status TEXT NOT NULL DEFAULT 'ok',
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            ttl_minutes INTEGER,
            created_at TEXT NOT NULL,
            last_fetched_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            error_count INTEGER NOT NULL DEFAULT 0,
            next_check_at TEXT,
            note TEXT,
            article_count INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TEXT,
            updated TEXT,
            sort_date TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL,
            feed_title TEXT,
            site TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            categories TEXT NOT NULL DEFAULT '[]',
            excerpt TEXT,
            text TEXT NOT NULL DEFAULT '',
            content_html TEXT NOT NULL DEFAULT '',
            word_count INTEGER NOT NULL DEFAULT 0,
            reading_time INTEGER NOT NULL DEFAULT 0,
            lang TEXT,
            image TEXT,
            saved INTEGER NOT NULL DEFAULT 0,
            saved_at TEXT,
            note TEXT,
            state TEXT NOT NULL DEFAULT 'unread',
            starred INTEGER NOT NULL DEFAULT 0,
            read_at TEXT,
            fetch_status TEXT,
            fetch_error TEXT,
            fetch_attempts INTEGER NOT NULL DEFAULT 0,
            next_fetch_at TEXT,
            full_text INTEGER NOT NULL DEFAULT 0,
            content_hash TEXT,
            content_updates INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE feed_entries (
            feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            first_seen_at TEXT NOT NULL,
            PRIMARY KEY (feed_id, key)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE)"
    )
    db.execute(
        """
        CREATE TABLE articles_tags (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
            PRIMARY KEY (article_id, tag_id)
        ) WITHOUT ROWID
        """
    )
    for sql in (
        "CREATE INDEX idx_articles_tags_tag ON articles_tags(tag_id, article_id)",
        "CREATE INDEX idx_feed_entries_article ON feed_entries(article_id)",
        "CREATE INDEX idx_articles_sort_date ON articles(sort_date)",
        "CREATE INDEX idx_articles_feed ON articles(feed_id, sort_date)",
        "CREATE INDEX idx_articles_feed_title ON articles(feed_title)",
        "CREATE INDEX idx_articles_author ON articles(author)",
        "CREATE INDEX idx_articles_site ON articles(site)",
        "CREATE INDEX idx_articles_state ON articles(state)",
        "CREATE INDEX idx_articles_starred ON articles(starred)",
        "CREATE INDEX idx_articles_saved ON articles(saved, saved_at)",
        "CREATE INDEX idx_articles_fetch ON articles(fetch_status, next_fetch_at)",
        "CREATE INDEX idx_feeds_next_check ON feeds(status, next_check_at)",
    ):
        db.execute(sql)
    db.execute(
        """
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, text, author, feed_title,
            content="articles", content_rowid="id",
            tokenize="unicode61 remove_diacritics 2"
        )
        """
    )
    cols = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    old = ", ".join(f"old.{c}" for c in FTS_COLUMNS)
    db.execute(FTS_INSERT_TRIGGER)
    db.execute(
        f"CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN "
        f"INSERT INTO articles_fts(articles_fts, rowid, {cols}) "
        f"VALUES ('delete', old.id, {old}); END"
    )
    db.execute(
        f"CREATE TRIGGER articles_au AFTER UPDATE OF {cols} ON articles BEGIN "
        f"INSERT INTO articles_fts(articles_fts, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO articles_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )


@migrations()
def m002_published_month(db: sqlite_utils.Database) -> None:
    """A month to facet on in Datasette (`2024-05`), computed from the published date or, for an
    undated entry, the date it sorts by; indexed like every faceted column."""
    db.execute(
        "ALTER TABLE articles ADD COLUMN published_month TEXT "
        "GENERATED ALWAYS AS (substr(coalesce(published, sort_date), 1, 7)) VIRTUAL"
    )
    db.execute("CREATE INDEX idx_articles_published_month ON articles(published_month)")


@migrations()
def m003_page_site_name_and_feed_summaries(db: sqlite_utils.Database) -> None:
    """The site name a fetched page gives (og:site_name, JSON-LD publisher), and what fetching
    pages taught us about a feed: its entries are summaries of longer pages (1), the whole
    articles (0), or not known yet (NULL). The user's `full_text` switch overrides it."""
    db.execute("ALTER TABLE articles ADD COLUMN site_name TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN summaries INTEGER")


@migrations()
def m004_tag_counts_and_fts_hash(db: sqlite_utils.Database) -> None:
    """How many articles carry each tag, kept in step with `articles_tags` by triggers, so the
    tags facet of the whole table is a read of 300 rows instead of json_each over every article.
    And a 16 MB in-memory FTS5 hash (default 1 MB): a bulk index writes fewer, larger segments
    and merges less (memory only while writing)."""
    db.execute("ALTER TABLE tags ADD COLUMN article_count INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "UPDATE tags SET article_count = (SELECT count(*) FROM articles_tags at "
        "WHERE at.tag_id = tags.id)"
    )
    db.execute(TAG_COUNT_TRIGGER)
    db.execute(
        "CREATE TRIGGER articles_tags_ad AFTER DELETE ON articles_tags BEGIN "
        "UPDATE tags SET article_count = article_count - 1 WHERE id = old.tag_id; END"
    )
    db.execute("CREATE INDEX idx_tags_article_count ON tags(article_count)")
    db.execute(
        "INSERT INTO articles_fts(articles_fts, rank) VALUES ('hashsize', ?)", [FTS_HASH_BYTES]
    )


FACET_COLUMNS = ("feed_title", "site", "author", "state", "starred", "published_month")


def _facet_count_triggers() -> list[str]:
    def bump(ref: str, sign: str) -> str:
        return "; ".join(
            f"INSERT INTO facet_counts (facet, value, n) SELECT '{c}', {ref}.{c}, {sign}1 "
            f"WHERE {ref}.{c} IS NOT NULL ON CONFLICT (facet, value) DO UPDATE SET n = n {sign} 1"
            for c in FACET_COLUMNS
        )

    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in FACET_COLUMNS)
    return [
        f"CREATE TRIGGER articles_facets_ai AFTER INSERT ON articles BEGIN {bump('new', '+')}; END",
        f"CREATE TRIGGER articles_facets_ad AFTER DELETE ON articles BEGIN {bump('old', '-')}; END",
        "CREATE TRIGGER articles_facets_au AFTER UPDATE OF feed_title, site, author, state, "
        f"starred, published, sort_date ON articles WHEN {changed} "
        f"BEGIN {bump('old', '-')}; {bump('new', '+')}; END",
    ]


FACET_INSERT_TRIGGER = _facet_count_triggers()[0]


def count_facets(db: sqlite_utils.Database, *, from_id: int = 0) -> None:
    """Add the facet values of articles from_id.. to facet_counts (bulk paths, triggers off)."""
    for c in FACET_COLUMNS:
        db.execute(
            f"INSERT INTO facet_counts (facet, value, n) SELECT * FROM (SELECT '{c}', {c}, "
            f"count(*) FROM articles WHERE id >= ? AND {c} IS NOT NULL GROUP BY {c}) WHERE true "
            "ON CONFLICT (facet, value) DO UPDATE SET n = n + excluded.n",
            [from_id],
        )


@migrations()
def m005_facet_counts(db: sqlite_utils.Database) -> None:
    """The whole table's facet counts (value -> articles), kept in step with `articles` by
    triggers: the articles page without filters reads them instead of grouping every row per
    facet. Filtered pages still count their own rows."""
    db.execute(
        "CREATE TABLE facet_counts (facet TEXT NOT NULL, value NOT NULL, n INTEGER NOT NULL, "
        "PRIMARY KEY (facet, value)) WITHOUT ROWID"
    )
    count_facets(db)
    for sql in (FACET_INSERT_TRIGGER, *_facet_count_triggers()[1:]):
        db.execute(sql)


@migrations()
def m006_facet_columns_index(db: sqlite_utils.Database) -> None:
    """The facet columns by id, in one narrow index: facets of a large filtered page (a tag on
    a quarter of the articles) are counted over its 5,000 most recently added rows, read
    through this index instead of from scattered article rows. Rows arrive in id order, so
    inserts only append to it."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_articles_facets "
        f"ON articles(id, {', '.join(FACET_COLUMNS)})"
    )


# Prefixes of these lengths have their own entries in the full-text index, so `tou*` reads one
# list instead of merging the lists of every word that starts with `tou` (size and ingest cost:
# docs/benchmarks.md, "Search").
FTS_PREFIXES = (3, 4)


@migrations()
def m007_search_prefixes_and_best_lists(db: sqlite_utils.Database) -> None:
    """The full-text index again, with prefix indexes (FTS_PREFIXES), and the tables of the
    best-match lists (store.ranking). Rebuilding the index reads every article once."""
    db.execute("DROP TABLE articles_fts")
    db.execute(
        f"""
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, text, author, feed_title,
            content="articles", content_rowid="id",
            tokenize="unicode61 remove_diacritics 2",
            prefix='{" ".join(str(n) for n in FTS_PREFIXES)}'
        )
        """
    )
    db.execute(
        "INSERT INTO articles_fts(articles_fts, rank) VALUES ('hashsize', ?)", [FTS_HASH_BYTES]
    )
    db.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
    db.execute(
        "CREATE TABLE search_best (token TEXT NOT NULL, score REAL NOT NULL, "
        "article_id INTEGER NOT NULL, PRIMARY KEY (token, score, article_id)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE search_best_tokens (token TEXT PRIMARY KEY, docs INTEGER NOT NULL, "
        "built_max_id INTEGER NOT NULL, built_at TEXT NOT NULL) WITHOUT ROWID"
    )


@migrations()
def m008_highlights(db: sqlite_utils.Database) -> None:
    """Highlights and their notes (store.highlights), with a full-text index of their own that
    the search reads beside the articles'."""
    from .highlights import SCHEMA

    for sql in SCHEMA:
        db.execute(sql)


@contextmanager
def trigger_off(db: sqlite_utils.Database, sql: str, *, when: bool = True) -> Iterator[bool]:
    """Without the trigger that `sql` creates while the block runs, when `when` and the trigger
    is exactly that one (another version is left to do its work); made again after the block.
    Yields whether it was dropped. Inside the caller's transaction: an error rolls back the
    drop with the rest."""
    name = sql.split()[2]  # CREATE TRIGGER <name> ...
    current = _one(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [name])
    off = when and current == sql
    if off:
        db.execute(f"DROP TRIGGER {name}")
    yield off
    if off:
        db.execute(sql)


def index_for_search(db: sqlite_utils.Database, *, from_id: int) -> None:
    """Add articles from_id.. to the full-text index in one statement (FTS insert trigger off)."""
    db.execute(
        f"INSERT INTO articles_fts(rowid, {_FTS_COLS}) "
        f"SELECT id, {_FTS_COLS} FROM articles WHERE id >= ? ORDER BY id",
        [from_id],
    )


TAG_COUNT_TRIGGER = (
    "CREATE TRIGGER articles_tags_ai AFTER INSERT ON articles_tags BEGIN "
    "UPDATE tags SET article_count = article_count + 1 WHERE id = new.tag_id; END"
)
