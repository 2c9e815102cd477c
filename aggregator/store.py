"""Storage: schema, migrations, upserts, tags and full-text search. All SQL lives here; the only
sqlite-utils user. No network, no parsing.

`articles_tags` is the truth for tags; the JSON `tags` column on `articles` is kept in step for
Datasette's array facets. `articles_fts` (FTS5, external content) is kept in step by triggers;
rows are upserted, never INSERT OR REPLACEd (that corrupts FTS5 indexes).
"""

from __future__ import annotations

import json
import operator
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import DatabaseError

if TYPE_CHECKING:
    import sqlite_utils

MAX_TAG = 100
MAX_TAGS = 200
MAX_CONTENT_UPDATES = 24  # hash-only rewrites of one entry before we stop (reader uses 24)
ARTICLE_STATES = ("unread", "read", "archived")


def now_iso(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


def site_of(url: str | None) -> str | None:
    """sanitize.site_of, imported on first use (nh3 and the rest: ~5 ms that a command reading
    the database never needs; the records of a refresh come with their site)."""
    from .sanitize import site_of as site

    return site(url)


# ---------------------------------------------------------------------------------------------
# Opening and migrating


PAGE_SIZE = 32_768  # for new databases


class Database:
    """What `open_db` gives: the sqlite3 connection (`conn`) and `execute`, all that this module
    uses. The rest of sqlite-utils' Database API (`db["articles"]`, `db.query`, ...) answers
    too, through a sqlite_utils.Database over the same connection made on first use: importing
    sqlite-utils takes ~50 ms and making its Database scans every installed package's entry
    points for plugins (~20 ms), which a command that only runs SQL never needs. The functions
    here take either kind; they are annotated with sqlite-utils' type, which this one stands
    for (see open_db)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._utils: sqlite_utils.Database | None = None

    def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> sqlite3.Cursor:
        if parameters is None:
            return self.conn.execute(sql)
        return self.conn.execute(sql, parameters)

    @property
    def utils(self) -> sqlite_utils.Database:
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("conn", "_utils"):
            raise AttributeError(name)
        return getattr(self.utils, name)

    def __getitem__(self, name: str) -> Any:
        return self.utils[name]


def wrap(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """A connection opened elsewhere (Datasette's) as what this module's functions take."""
    # Stands for sqlite_utils.Database (see Database): mypy checks callers against that.
    return cast("sqlite_utils.Database", Database(conn))


class _Migration:
    __slots__ = ("name", "fn", "transactional")

    def __init__(self, name: str, fn: Callable[[Any], None], transactional: bool) -> None:
        self.name, self.fn, self.transactional = name, fn, transactional


class Migrations:
    """Our schema migrations, registered as with sqlite-utils' Migrations (whose bookkeeping
    table, `_sqlite_migrations`, they share): `@migrations()` over `def m007_...(db)`. Opening
    a database reads the names applied with one SELECT; only when one is pending is
    sqlite-utils imported to apply it (each in its own transaction with its record)."""

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


@contextmanager
def _opening(path: Path) -> Iterator[None]:
    """sqlite3 errors while opening or migrating as a one-line DatabaseError."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not a database" in message or "malformed" in message:
            raise DatabaseError(
                f"{path} is not an Aggregator database or is corrupt ({message})"
            ) from None
        if "readonly" in message or "unable to open" in message:
            raise DatabaseError(
                f"cannot write to {path}: {message} (the database and its folder must be writable)"
            ) from None
        raise DatabaseError(f"cannot open {path}: {message}") from None


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
            # 32 KB pages hold about seven rows each (measured: 16% of the table unused -> 8%).
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


TEMP_STORE_MEMORY = 2


@contextmanager
def transaction(db: sqlite_utils.Database, *, memory_journal: bool = False) -> Iterator[None]:
    """One short write transaction (BEGIN IMMEDIATE so writers queue on the busy timeout).
    Inside another one (a batch of feeds written together) a savepoint: a failure undoes this
    part only, and the caller may go on with the rest of the batch.

    `memory_journal`: keep the transaction's statement journals in memory. A statement that
    writes several rows or fires triggers (an article INSERT: FTS5, facet counts, 13 indexes)
    first copies every page it changes to a statement journal, which SQLite spills to a new
    temporary file past 64 KiB, two of our 32 KB pages: storing a feed of 20 entries wrote
    ~0.5 MB to a new file in /var/tmp and deleted it (in memory: 2.3 -> 1.9 ms of CPU per
    feed in its own transaction, 3-7% less in batches of 10-50 feeds, where the file is
    reused). For transactions whose statements stay small (store_entries: a few hundred rows
    at most), not for a DELETE or UPDATE over a whole feed, whose journal memory would grow
    with it. SQLite reads `temp_store` when the transaction begins; it is restored after it
    (which would drop the connection's TEMP tables: this module makes none)."""
    conn = db.conn
    if memory_journal and not conn.in_transaction:
        before = int(conn.execute("PRAGMA temp_store").fetchone()[0])
        if before != TEMP_STORE_MEMORY:
            conn.execute(f"PRAGMA temp_store = {TEMP_STORE_MEMORY}")
            try:
                with transaction(db):
                    yield
            finally:
                if not conn.in_transaction:
                    conn.execute(f"PRAGMA temp_store = {before}")
            return
    if conn.in_transaction:
        conn.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # an error SQLite rolled back on its own leaves none
                conn.execute("ROLLBACK TO part")
                conn.execute("RELEASE part")
            raise
        else:
            conn.execute("RELEASE part")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


FTS_COLUMNS = ("title", "text", "author", "feed_title")
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
    db.execute(
        f"CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN "
        f"INSERT INTO articles_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )
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
    and merges less (measured about 1.3x faster for 50,000 articles; memory only while writing)."""
    db.execute("ALTER TABLE tags ADD COLUMN article_count INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "UPDATE tags SET article_count = (SELECT count(*) FROM articles_tags at "
        "WHERE at.tag_id = tags.id)"
    )
    db.execute(_TAG_COUNT_TRIGGER)
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
    triggers: the articles page without filters reads them instead of grouping a million rows
    per facet (~50 ms each at 1M). Filtered pages still count their own rows."""
    db.execute(
        "CREATE TABLE facet_counts (facet TEXT NOT NULL, value NOT NULL, n INTEGER NOT NULL, "
        "PRIMARY KEY (facet, value)) WITHOUT ROWID"
    )
    count_facets(db)
    for sql in _facet_count_triggers():
        db.execute(sql)


@migrations()
def m006_facet_columns_index(db: sqlite_utils.Database) -> None:
    """The facet columns by id, in one narrow index: facets of a large filtered page (a tag on
    a quarter of the articles) are counted over its 5,000 most recently added rows, and reading
    those through this index takes ~10 ms instead of ~50-300 ms of scattered article rows.
    ~2-8 s on a million articles; rows arrive in id order, so inserts only append to it."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_articles_facets "
        f"ON articles(id, {', '.join(FACET_COLUMNS)})"
    )


# ---------------------------------------------------------------------------------------------
# Small helpers


def _one(db: sqlite_utils.Database, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def _rows(
    db: sqlite_utils.Database, sql: str, params: Sequence[Any] | dict[str, Any] = ()
) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Tags as text: trimmed, whitespace collapsed, capped in length and number, first spelling
    kept (tags compare case-insensitively)."""
    out: dict[str, str] = {}
    for tag in tags:
        if tag is None:
            continue
        t = re.sub(r"\s+", " ", str(tag)).strip()[:MAX_TAG]
        t = re.sub(r"[\x00-\x1f\x7f]", "", t)
        if t and t.lower() not in out:
            out[t.lower()] = t
        if len(out) >= MAX_TAGS:
            break
    return list(out.values())


# ---------------------------------------------------------------------------------------------
# Feeds


def get_feed(db: sqlite_utils.Database, url: str) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM feeds WHERE url = ?", [url])
    return rows[0] if rows else None


def get_feed_by_id(db: sqlite_utils.Database, feed_id: int) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM feeds WHERE id = ?", [feed_id])
    return rows[0] if rows else None


def add_feed(
    db: sqlite_utils.Database,
    url: str,
    *,
    title: str | None = None,
    site_url: str | None = None,
    tags: Iterable[str] = (),
    full_text: bool | None = None,
    status: str = "ok",
    note: str | None = None,
) -> tuple[int, bool]:
    """Add a feed, or merge tags (and fill blanks) into the existing one. Returns (id, created)."""
    tags = normalise_tags(tags)
    with transaction(db):
        existing = get_feed(db, url)
        if existing:
            merged = normalise_tags(json.loads(existing["tags"]) + tags)
            updates: dict[str, Any] = {"tags": json.dumps(merged, ensure_ascii=False)}
            if title and not existing["title"]:
                updates["title"] = title
            if site_url and not existing["site_url"]:
                updates["site_url"] = site_url
            if full_text is not None:
                updates["full_text"] = int(full_text)
            sets = ", ".join(f"{k} = :{k}" for k in updates)
            db.execute(f"UPDATE feeds SET {sets} WHERE id = :id", {**updates, "id": existing["id"]})
            if tags:
                ids = [
                    r[0]
                    for r in db.execute(
                        "SELECT article_id FROM feed_entries WHERE feed_id = ?", [existing["id"]]
                    )
                ]
                _add_tags(db, ids, tags)
            return int(existing["id"]), False
        cursor = db.execute(
            "INSERT INTO feeds (url, title, site_url, tags, full_text, status, created_at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                url,
                title,
                site_url,
                json.dumps(tags, ensure_ascii=False),
                None if full_text is None else int(full_text),
                status,
                now_iso(),
                note,
            ],
        )
        return int(cursor.lastrowid or 0), True


def add_feeds_bulk(
    db: sqlite_utils.Database, feeds: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Add many feeds in one transaction (imports). Each mapping: url, title, site_url, tags.
    Returns (added, updated)."""
    added = updated = 0
    with transaction(db):
        for feed in feeds:
            _, created = add_feed(
                db,
                feed["url"],
                title=feed.get("title"),
                site_url=feed.get("site_url"),
                tags=feed.get("tags") or (),
            )
            if created:
                added += 1
            else:
                updated += 1
    return added, updated


def remove_feed(db: sqlite_utils.Database, url: str) -> bool:
    """Delete a feed and its articles, except articles the user saved, starred, noted or tagged
    by hand, or that another feed also carries: those stay."""
    with transaction(db):
        feed = get_feed(db, url)
        if not feed:
            return False
        feed_id = feed["id"]
        db.execute(
            """
            DELETE FROM articles WHERE id IN (
                SELECT fe.article_id FROM feed_entries fe JOIN articles a ON a.id = fe.article_id
                WHERE fe.feed_id = :f AND a.saved = 0 AND a.starred = 0 AND a.note IS NULL
                  AND NOT EXISTS (SELECT 1 FROM feed_entries o
                                  WHERE o.article_id = fe.article_id AND o.feed_id != :f)
            )
            """,
            {"f": feed_id},
        )
        db.execute("DELETE FROM feed_entries WHERE feed_id = ?", [feed_id])
        db.execute("UPDATE articles SET feed_id = NULL WHERE feed_id = ?", [feed_id])
        db.execute("DELETE FROM feeds WHERE id = ?", [feed_id])
        return True


def list_feeds(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = _rows(db, "SELECT * FROM feeds ORDER BY lower(coalesce(title, url))")
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
    return rows


def feeds_due(
    db: sqlite_utils.Database, *, now: str | None = None, all: bool = False
) -> list[dict[str, Any]]:
    """Feeds to refresh: active ones (`ok`, `failing`) whose next check time has come, or every
    active one with `all`. Gone and paused feeds never: `aggregator resume` brings them back."""
    if all:
        return _rows(db, "SELECT * FROM feeds WHERE status IN ('ok', 'failing') ORDER BY id")
    return _rows(
        db,
        "SELECT * FROM feeds WHERE status IN ('ok', 'failing') "
        "AND (next_check_at IS NULL OR next_check_at <= ?) ORDER BY id",
        [now or now_iso()],
    )


def update_feed(db: sqlite_utils.Database, feed_id: int, **fields: Any) -> None:
    if not fields:
        return
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    with transaction(db):
        db.execute(f"UPDATE feeds SET {sets} WHERE id = :_id", {**fields, "_id": feed_id})


def record_feed_error(
    db: sqlite_utils.Database,
    feed_id: int,
    message: str,
    *,
    status: str = "failing",
    next_check_at: str | None = None,
) -> None:
    now = now_iso()
    with transaction(db):
        db.execute(
            "UPDATE feeds SET last_error = ?, last_error_at = ?, last_fetched_at = ?, "
            "error_count = error_count + 1, status = ?, next_check_at = ? WHERE id = ?",
            [message[:500], now, now, status, next_check_at, feed_id],
        )


def move_feed(db: sqlite_utils.Database, feed_id: int, new_url: str) -> bool:
    """Point a feed at its new permanent address. False when another feed already has it."""
    with transaction(db):
        if get_feed(db, new_url):
            return False
        db.execute("UPDATE feeds SET url = ? WHERE id = ?", [new_url, feed_id])
        return True


def retitle_articles(db: sqlite_utils.Database, feed_id: int, title: str) -> None:
    """Give a feed's articles its new title (their `feed_title`, shown and searched)."""
    with transaction(db):
        db.execute(
            "UPDATE articles SET feed_title = ? WHERE feed_id = ? AND feed_title IS NOT ?",
            [title, feed_id, title],
        )


# ---------------------------------------------------------------------------------------------
# Articles from feeds


_ENTRY_COLUMNS = (
    "id",
    "url",
    "title",
    "author",
    "published",
    "updated",
    "sort_date",
    "first_seen_at",
    "feed_id",
    "feed_title",
    "site",
    "categories",
    "excerpt",
    "text",
    "content_html",
    "word_count",
    "reading_time",
    "image",
    "content_hash",
    "updated_at",
    "fetch_status",
)
_ENTRY_INSERT_ROWS = 400  # rows per multi-row INSERT (21 parameters each, under SQLite's limit)
_OLD_ENTRY = (
    "SELECT id, title, author, published, updated, content_hash, content_updates, "
    "full_text, url FROM articles WHERE id IN ({marks})"
)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_entries(
    db: sqlite_utils.Database,
    feed_id: int,
    records: Sequence[Mapping[str, Any]],
    *,
    feed_fields: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Upsert a feed's prepared entry records in one transaction and update the feed row.

    Each record: key, url, title, author, published, updated, content_html, text, excerpt,
    word_count, reading_time, categories (list), image, content_hash, site. Identity is the
    entry's key within its feed; an entry whose URL is already an article (from another feed,
    or saved by hand) joins that article. Returns (new, updated).

    A handful of statements per feed, whatever its size: known keys and URLs are looked up for
    the whole batch, new articles go in with one multi-row INSERT (so the FTS5 trigger flushes
    its index once per feed, not once per row: measured 2x less work), their feed entries with
    one executemany."""
    now = now_iso()
    new = updated = 0
    with transaction(db, memory_journal=True):
        row = db.execute("SELECT title, url, tags FROM feeds WHERE id = ?", [feed_id]).fetchone()
        if row is None:
            return 0, 0
        title, url, tags_json = row
        if feed_fields:
            sets = ", ".join(f"{k} = :{k}" for k in feed_fields)
            db.execute(f"UPDATE feeds SET {sets} WHERE id = :_id", {**feed_fields, "_id": feed_id})
            title = feed_fields.get("title", title)
            url = feed_fields.get("url", url)
            tags_json = feed_fields.get("tags", tags_json)
        if not records:
            return 0, 0
        feed_title = title or url
        feed_tags = json.loads(tags_json or "[]")

        by_key: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(rec["key"] for rec in records))):
            marks = ",".join("?" * len(chunk))
            by_key.update(
                db.execute(
                    "SELECT key, article_id FROM feed_entries "
                    f"WHERE feed_id = ? AND key IN ({marks})",
                    [feed_id, *chunk],
                ).fetchall()
            )
        by_url: dict[str, int] = {}
        urls = list(
            dict.fromkeys(
                rec["url"] for rec in records if rec["key"] not in by_key and rec.get("url")
            )
        )
        for chunk in _chunks(urls):
            marks = ",".join("?" * len(chunk))
            by_url.update(
                db.execute(
                    f"SELECT url, id FROM articles WHERE url IN ({marks})", list(chunk)
                ).fetchall()
            )
        old_rows: dict[int, dict[str, Any]] = {}
        known = list(dict.fromkeys(by_key.values()))
        for chunk in _chunks(known):
            for old in _rows(db, _OLD_ENTRY.format(marks=",".join("?" * len(chunk))), list(chunk)):
                old_rows[old["id"]] = old

        tagged: list[int] = []
        pending: list[tuple[Any, ...]] = []  # rows of new articles, inserted together
        pending_urls: set[str] = set()
        next_id = 0
        joined = False

        def flush() -> None:
            for chunk in _chunks(pending, _ENTRY_INSERT_ROWS):
                marks = ",".join(["(" + ",".join("?" * len(_ENTRY_COLUMNS)) + ")"] * len(chunk))
                db.execute(
                    f"INSERT INTO articles ({', '.join(_ENTRY_COLUMNS)}) VALUES {marks}",
                    [v for r in chunk for v in r[:-1]],
                )  # the last is the key
            db.conn.executemany(
                "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
                "VALUES (?, ?, ?, ?)",
                [(feed_id, r[-1], r[0], now) for r in pending],
            )
            pending.clear()
            pending_urls.clear()

        for rec in records:
            article_id = by_key.get(rec["key"])
            if article_id is None and rec.get("url"):
                if rec["url"] in pending_urls:
                    flush()  # the same link twice in one document: the second joins the first
                    by_url[rec["url"]] = int(
                        _one(db, "SELECT id FROM articles WHERE url = ?", [rec["url"]])
                    )
                article_id = by_url.get(rec["url"])
                if article_id is not None:
                    # A changed guid with a stable link, or a story from a second feed.
                    db.execute(
                        "DELETE FROM feed_entries WHERE feed_id = ? AND article_id = ?",
                        [feed_id, article_id],
                    )
                    db.execute(
                        "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
                        "VALUES (?, ?, ?, ?)",
                        [feed_id, rec["key"], article_id, now],
                    )
                    tagged.append(article_id)
                    joined = True
            if article_id is None:
                if not next_id:
                    next_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
                article_id, next_id = next_id, next_id + 1
                v = _entry_values(rec)
                published = rec.get("published")
                pending.append(
                    (
                        article_id,
                        v["url"],
                        v["title"],
                        v["author"],
                        v["published"],
                        v["updated"],
                        min(published, now) if published else now,
                        now,
                        feed_id,
                        feed_title,
                        v["site"],
                        v["categories"],
                        v["excerpt"],
                        v["text"],
                        v["content_html"],
                        v["word_count"],
                        v["reading_time"],
                        v["image"],
                        v["content_hash"],
                        now,
                        rec.get("fetch_status"),
                        rec["key"],
                    )
                )
                if v["url"]:
                    pending_urls.add(v["url"])
                tagged.append(article_id)
                new += 1
            elif _update_entry(db, article_id, rec, now, old=old_rows.get(article_id)):
                updated += 1
        if pending:
            flush()
        if feed_tags and tagged:
            _add_tags(db, tagged, feed_tags)
        if joined:
            db.execute(
                "UPDATE feeds SET article_count = (SELECT count(*) FROM feed_entries "
                "WHERE feed_id = ?) WHERE id = ?",
                [feed_id, feed_id],
            )
        elif new:
            db.execute(
                "UPDATE feeds SET article_count = article_count + ? WHERE id = ?", [new, feed_id]
            )
    return new, updated


def _entry_values(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "url": rec.get("url"),
        "title": rec.get("title") or "",
        "author": rec.get("author"),
        "published": rec.get("published"),
        "updated": rec.get("updated"),
        "site": rec.get("site") or site_of(rec.get("url")),
        "categories": json.dumps(list(rec.get("categories") or []), ensure_ascii=False),
        "excerpt": rec.get("excerpt"),
        "text": rec.get("text") or "",
        "content_html": rec.get("content_html") or "",
        "word_count": rec.get("word_count") or 0,
        "reading_time": rec.get("reading_time") or 0,
        "image": rec.get("image"),
        "content_hash": rec.get("content_hash"),
    }


def _update_entry(
    db: sqlite_utils.Database,
    article_id: int,
    rec: Mapping[str, Any],
    now: str,
    *,
    old: Mapping[str, Any] | None = None,
) -> bool:
    """Update a known entry in place when it changed. User fields (tags, note, state, starred,
    saved) are never touched. Content changes without a new `updated` date are capped, so a feed
    that embeds the time does not rewrite itself forever. `old`: its row, when already read."""
    if old is None:
        row = _rows(db, _OLD_ENTRY.format(marks="?"), [article_id])
        if not row:
            return False
        old = row[0]
    values = _entry_values(rec)
    meta_changed = (
        values["title"] != old["title"]
        or values["author"] != old["author"]
        or values["published"] != old["published"]
        or values["updated"] != old["updated"]
    )
    content_changed = values["content_hash"] != old["content_hash"]
    if not meta_changed and not content_changed:
        return False
    if content_changed and not meta_changed and old["content_updates"] >= MAX_CONTENT_UPDATES:
        return False
    sets = [
        "title = :title",
        "author = :author",
        "published = :published",
        "updated = :updated",
        "categories = :categories",
        "image = coalesce(:image, image)",
        "updated_at = :now",
    ]
    if content_changed:
        sets.append("content_hash = :content_hash")
        sets.append("content_updates = content_updates + " + ("0" if meta_changed else "1"))
        if not old["full_text"]:
            sets += [
                "content_html = :content_html",
                "text = :text",
                "excerpt = :excerpt",
                "word_count = :word_count",
                "reading_time = :reading_time",
            ]
    if values["url"] and values["url"] != old["url"]:
        taken = _one(
            db, "SELECT id FROM articles WHERE url = ? AND id != ?", [values["url"], article_id]
        )
        if taken is None:
            sets.append("url = :url")
            sets.append("site = :site")
    db.execute(
        f"UPDATE articles SET {', '.join(sets)} WHERE id = :id",
        {**values, "now": now, "id": article_id},
    )
    return True


# ---------------------------------------------------------------------------------------------
# Tags


def _tag_ids(db: sqlite_utils.Database, names: Sequence[str]) -> list[int]:
    ids = []
    for name in names:
        db.execute("INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING", [name])
        ids.append(int(_one(db, "SELECT id FROM tags WHERE name = ?", [name])))
    return ids


def _sync_tags_json(db: sqlite_utils.Database, article_ids: Sequence[int]) -> None:
    for start in range(0, len(article_ids), 500):
        chunk = list(article_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"""
            UPDATE articles SET tags = coalesce((
                SELECT json_group_array(name) FROM (
                    SELECT t.name FROM articles_tags at JOIN tags t ON t.id = at.tag_id
                    WHERE at.article_id = articles.id ORDER BY t.name COLLATE NOCASE)
            ), '[]') WHERE id IN ({marks})
            """,
            chunk,
        )


def _add_tags(db: sqlite_utils.Database, article_ids: Sequence[int], tags: Sequence[str]) -> None:
    tags = normalise_tags(tags)
    if not tags or not article_ids:
        return
    tag_ids = _tag_ids(db, tags)
    db.conn.executemany(
        "INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(a, t) for a in article_ids for t in tag_ids],
    )
    _sync_tags_json(db, list(article_ids))


def _remove_tags(
    db: sqlite_utils.Database, article_ids: Sequence[int], tags: Sequence[str]
) -> None:
    for tag in normalise_tags(tags):
        for article_id in article_ids:
            db.execute(
                "DELETE FROM articles_tags WHERE article_id = ? AND tag_id = "
                "(SELECT id FROM tags WHERE name = ?)",
                [article_id, tag],
            )
    _sync_tags_json(db, list(article_ids))


def article_id_for_url(db: sqlite_utils.Database, url: str) -> int | None:
    value = _one(db, "SELECT id FROM articles WHERE url = ?", [url])
    return None if value is None else int(value)


def change_tags(
    db: sqlite_utils.Database,
    article_id: int,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> list[str]:
    with transaction(db):
        _add_tags(db, [article_id], add)
        if remove:
            _remove_tags(db, [article_id], remove)
        return list(
            json.loads(_one(db, "SELECT tags FROM articles WHERE id = ?", [article_id]) or "[]")
        )


# ---------------------------------------------------------------------------------------------
# Saved links and reading state


def save_link(
    db: sqlite_utils.Database,
    url: str,
    *,
    tags: Sequence[str] = (),
    note: str | None = None,
    title: str | None = None,
    saved_at: str | None = None,
    state: str | None = None,
    starred: bool | None = None,
    excerpt: str | None = None,
    content: Mapping[str, Any] | None = None,
) -> tuple[int, bool]:
    """Save a link: a new pending article, or the existing one marked saved. Saving again merges
    tags, keeps the first saved_at, and replaces the note only when a new one is given.
    Returns (article id, created)."""
    now = now_iso()
    with transaction(db):
        existing = _rows(
            db, "SELECT id, saved, saved_at, title, fetch_status FROM articles WHERE url = ?", [url]
        )
        if existing:
            row = existing[0]
            article_id = int(row["id"])
            first = row["saved_at"]
            if saved_at and first:
                first = min(first, saved_at)
            first = first or saved_at or now
            sets = {"saved": 1, "saved_at": first, "updated_at": now}
            if note:
                sets["note"] = note
            if title and not row["title"]:
                sets["title"] = title
            if state in ARTICLE_STATES:
                sets["state"] = state
            if starred:
                sets["starred"] = 1
            if (row["fetch_status"] is None and not row["title"]) or row["fetch_status"] in (
                "error",
                "failed",
            ):
                # never fetched, or failed before: saving it again asks for the page again
                sets["fetch_status"] = "pending"
                sets["next_fetch_at"] = None
            assignments = ", ".join(f"{k} = :{k}" for k in sets)
            db.execute(
                f"UPDATE articles SET {assignments} WHERE id = :id", {**sets, "id": article_id}
            )
            created = False
        else:
            when = saved_at or now
            values = {
                "url": url,
                "title": title or "",
                "sort_date": min(when, now),
                "now": now,
                "site": site_of(url),
                "saved_at": when,
                "note": note,
                "state": state if state in ARTICLE_STATES else "unread",
                "starred": int(bool(starred)),
                "excerpt": excerpt,
                "fetch_status": "pending",
            }
            if content:
                values.update(
                    {
                        k: content.get(k)
                        for k in ("text", "content_html", "word_count", "reading_time")
                    }
                )
            cursor = db.execute(
                """
                INSERT INTO articles (url, title, sort_date, first_seen_at, site, saved, saved_at,
                    note, state, starred, excerpt, fetch_status, updated_at, text, content_html,
                    word_count, reading_time)
                VALUES (:url, :title, :sort_date, :now, :site, 1, :saved_at, :note, :state,
                    :starred, :excerpt, :fetch_status, :now, coalesce(:text, ''),
                    coalesce(:content_html, ''), coalesce(:word_count, 0),
                    coalesce(:reading_time, 0))
                """,
                {
                    "text": None,
                    "content_html": None,
                    "word_count": None,
                    "reading_time": None,
                    **values,
                },
            )
            article_id = int(cursor.lastrowid or 0)
            created = True
        if tags:
            _add_tags(db, [article_id], tags)
        return article_id, created


BULK_INDEX_AFTER = 1_000  # new rows from which a bulk save indexes them for search in one go
BULK_CACHE_KIB = 65_536  # SQLite page cache while a bulk save inserts

_BULK_INSERT = """
    INSERT INTO articles (url, title, sort_date, first_seen_at, site, saved, saved_at, note, state,
        starred, excerpt, fetch_status, full_text, updated_at, text, content_html, word_count,
        reading_time, tags)
    VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_BULK_USER_FIELDS = ("saved", "saved_at", "note", "state", "starred", "fetch_status")


def _merge_repeats(links: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One record per URL: tags combined, first title, earliest saved_at, later values win."""
    merged: dict[str, Mapping[str, Any]] = {}
    copied: set[str] = set()
    for link in links:
        first = merged.get(link["url"])
        if first is None:
            merged[link["url"]] = link
            continue
        if link["url"] not in copied:  # copied only when a URL repeats
            copied.add(link["url"])
            merged[link["url"]] = first = {**first, "tags": list(first.get("tags") or ())}
        item: dict[str, Any] = first  # type: ignore[assignment]
        item["tags"] += list(link.get("tags") or ())
        item["title"] = item.get("title") or link.get("title")
        when = link.get("saved_at")
        if when and (not item.get("saved_at") or when < item["saved_at"]):
            item["saved_at"] = when
        for key in ("note", "excerpt", "state", "content"):
            if link.get(key):
                item[key] = link[key]
        item["starred"] = bool(item.get("starred") or link.get("starred"))
    return merged


def _ai_trigger_sql() -> str:
    cols = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    return (
        f"CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN "
        f"INSERT INTO articles_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )


_AUTHORITY = re.compile(r"^[^:/?#]*://([^/?#]*)")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _resolve_tags(
    db: sqlite_utils.Database, lists: Iterable[Sequence[str]]
) -> dict[tuple[str, ...], list[tuple[int, str]]]:
    """Each list of tags as (tag id, stored spelling) pairs, created where new, in the order of
    the JSON `tags` column (the stored names under SQLite's NOCASE, which folds ASCII only)."""
    cleaned: dict[str, str | None] = {}
    wanted: dict[tuple[str, ...], list[str]] = {}
    for tags in lists:  # normalise_tags, one distinct tag at a time
        key = tuple(tags)
        if not key or key in wanted:
            continue
        names: dict[str, str] = {}
        for raw in key:
            if raw not in cleaned:
                cleaned[raw] = next(iter(normalise_tags([raw])), None)
            name = cleaned[raw]
            if name is not None and len(names) < MAX_TAGS:
                names.setdefault(name.lower(), name)
        wanted[key] = list(names.values())
    by_name: dict[str, tuple[int, str]] = {}
    distinct = sorted({name for names in wanted.values() for name in names})
    for start in range(0, len(distinct), 500):  # the tags known already, then the new ones
        chunk = distinct[start : start + 500]
        marks = ",".join("?" * len(chunk))
        # keyed as the column's NOCASE compares: ASCII letters folded, nothing else
        found = {
            str(n).translate(_ASCII_LOWER): (int(i), str(n))
            for i, n in db.execute(f"SELECT id, name FROM tags WHERE name IN ({marks})", chunk)
        }
        for name in chunk:
            fold = name.translate(_ASCII_LOWER)
            if fold not in found:
                db.execute(
                    "INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING", [name]
                )
                row = db.execute("SELECT id, name FROM tags WHERE name = ?", [name]).fetchone()
                found[fold] = (int(row[0]), str(row[1]))
            by_name[name] = found[fold]
    order = {stored: stored.translate(_ASCII_LOWER) for _, stored in by_name.values()}
    out: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for key, chosen in wanted.items():
        resolved = dict(by_name[name] for name in chosen)
        out[key] = sorted(resolved.items(), key=lambda pair: order[pair[1]])
    return out


def save_links_bulk(
    db: sqlite_utils.Database, links: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Save many links in one transaction with set-based SQL (imports). The rules of save_link
    (tags merged, earliest saved_at kept, a note replaced only by a new one, a blank title
    filled, state and star taken from the file), except that an existing row is written only when
    a value changes, so saving the same links twice changes nothing. Each mapping: url, title,
    tags, note, saved_at, state, starred, excerpt, and content (text, content_html, word_count,
    reading_time) when the file holds the article. Many new rows are indexed for full-text search
    in one statement after they are inserted, not row by row. Returns (added, existing)."""
    now = now_iso()
    merged = _merge_repeats(links)
    if not merged:
        return 0, 0
    with transaction(db):
        found: dict[str, dict[str, Any]] = {}
        urls = list(merged)
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for known in _rows(
                db,
                "SELECT id, url, saved, saved_at, title, note, state, starred, "
                f"fetch_status FROM articles WHERE url IN ({marks})",
                chunk,
            ):
                found[known["url"]] = known
        tag_lists = _resolve_tags(db, (link.get("tags") or () for link in merged.values()))
        encoded = {
            name: json.dumps(name, ensure_ascii=False)
            for pairs in tag_lists.values()
            for _, name in pairs
        }
        sites: dict[str, str | None] = {}
        changed: list[dict[str, Any]] = []
        retitled: list[dict[str, Any]] = []
        fresh: list[tuple[Any, ...]] = []  # rows in the order of _BULK_INSERT's columns
        fresh_tags: list[list[tuple[int, str]]] = []
        old_pairs: list[tuple[int, int]] = []
        for url, link in merged.items():
            tags = tag_lists.get(tuple(link.get("tags") or ()), [])
            row = found.get(url)
            if row is None:
                when = link.get("saved_at") or now
                content = link.get("content") or {}
                authority = _AUTHORITY.match(url)
                key = authority.group(1) if authority else url
                if key not in sites:
                    sites[key] = site_of(url)
                state = link.get("state")
                fresh.append(
                    (
                        url,
                        link.get("title") or "",
                        min(when, now),
                        now,
                        sites[key],
                        when,
                        link.get("note"),
                        state if state in ARTICLE_STATES else "unread",
                        int(bool(link.get("starred"))),
                        link.get("excerpt"),
                        "ok" if content else "pending",
                        int(bool(content)),
                        now,
                        content.get("text") or "",
                        content.get("content_html") or "",
                        content.get("word_count") or 0,
                        content.get("reading_time") or 0,
                        # the JSON column as _sync_tags_json writes it, without a second pass
                        "[" + ",".join(encoded[name] for _, name in tags) + "]",
                    )
                )
                fresh_tags.append(tags)
                continue
            old_pairs += [(int(row["id"]), tag_id) for tag_id, _ in tags]
            first = row["saved_at"]
            if link.get("saved_at") and first:
                first = min(first, link["saved_at"])
            new = {
                "saved": 1,
                "saved_at": first or link.get("saved_at") or now,
                "note": link.get("note") or row["note"],
                "state": link["state"] if link.get("state") in ARTICLE_STATES else row["state"],
                "starred": 1 if link.get("starred") else row["starred"],
                "fetch_status": row["fetch_status"],
            }
            if row["fetch_status"] is None and not row["title"]:
                new["fetch_status"] = "pending"
            if link.get("title") and not row["title"]:
                retitled.append({"id": row["id"], "title": link["title"], "now": now})
            if any(new[k] != row[k] for k in _BULK_USER_FIELDS):
                changed.append({**new, "id": row["id"], "now": now})
        if changed:
            db.conn.executemany(
                "UPDATE articles SET saved = :saved, saved_at = :saved_at, note = :note, "
                "state = :state, starred = :starred, fetch_status = :fetch_status, "
                "updated_at = :now WHERE id = :id",
                changed,
            )
        if retitled:  # apart, so that only these rows go through the full-text update trigger
            db.conn.executemany(
                "UPDATE articles SET title = :title, updated_at = :now WHERE id = :id", retitled
            )
        insert_pair = (
            "INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )
        if fresh:
            first_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
            # Index after inserting: one FTS5 statement instead of a trigger per row. Only when
            # the trigger is the one this module made (else it is left to do its work).
            trigger = _one(
                db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_ai'"
            )
            index_after = len(fresh) >= BULK_INDEX_AFTER and trigger == _ai_trigger_sql()
            if index_after:
                db.execute("DROP TRIGGER articles_ai")
            if len(fresh) >= BULK_INDEX_AFTER:
                # A page cache that holds the indexes being filled (measured: 100,000 rows go
                # in 1.7x faster with 64 MB than with the default 2 MB). The connection keeps
                # it: an import calls this once per chunk.
                cache_size = int(_one(db, "PRAGMA cache_size"))
                if cache_size > -BULK_CACHE_KIB:
                    db.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
            facet_trigger = _facet_count_triggers()[0]
            count_after = (
                len(fresh) >= BULK_INDEX_AFTER
                and _one(
                    db,
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND name = 'articles_facets_ai'",
                )
                == facet_trigger
            )
            if count_after:  # six upserts per row -> six GROUP BYs over the new rows
                db.execute("DROP TRIGGER articles_facets_ai")
            db.conn.executemany(_BULK_INSERT, fresh)
            if count_after:
                count_facets(db, from_id=first_id)
                db.execute(facet_trigger)
            if index_after:
                cols = ", ".join(FTS_COLUMNS)
                db.execute(
                    f"INSERT INTO articles_fts(rowid, {cols}) "
                    f"SELECT id, {cols} FROM articles WHERE id >= ? ORDER BY id",
                    [first_id],
                )
                db.execute(trigger)
            # Rows got consecutive ids from first_id (INTEGER PRIMARY KEY takes max + 1).
            last = int(_one(db, "SELECT max(id) FROM articles"))
            if last != first_id + len(fresh) - 1:
                raise DatabaseError(f"bulk insert: ids {first_id}..{last} for {len(fresh)} rows")
            _insert_new_pairs(
                db,
                [(first_id + i, tag_id) for i, tags in enumerate(fresh_tags) for tag_id, _ in tags],
            )
        # On existing rows only pairs not there yet count: their JSON column is rewritten.
        have: set[tuple[int, int]] = set()
        touched = sorted({a for a, _ in old_pairs})
        for start in range(0, len(touched), 500):
            some = touched[start : start + 500]
            marks = ",".join("?" * len(some))
            have.update(
                db.execute(
                    f"SELECT article_id, tag_id FROM articles_tags WHERE article_id IN ({marks})",
                    some,
                ).fetchall()
            )
        missing = [pair for pair in old_pairs if pair not in have]
        db.conn.executemany(insert_pair, missing)
        _sync_tags_json(db, sorted({a for a, _ in missing}))
    return len(fresh), len(merged) - len(fresh)


_TAG_COUNT_TRIGGER = (
    "CREATE TRIGGER articles_tags_ai AFTER INSERT ON articles_tags BEGIN "
    "UPDATE tags SET article_count = article_count + 1 WHERE id = new.tag_id; END"
)


def _insert_new_pairs(db: sqlite_utils.Database, pairs: Sequence[tuple[int, int]]) -> None:
    """Insert article-tag pairs that cannot exist yet (articles just inserted), counting them
    per tag in one UPDATE each instead of the per-row trigger (measured: the trigger was most
    of the 1.3 s that 80,000 pairs took)."""
    if not pairs:
        return
    trigger = _one(
        db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_tags_ai'"
    )
    ours = trigger == _TAG_COUNT_TRIGGER
    if ours:
        db.execute("DROP TRIGGER articles_tags_ai")
    db.conn.executemany("INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?)", pairs)
    if ours:
        db.execute(_TAG_COUNT_TRIGGER)
        per_tag: dict[int, int] = {}
        for _, tag_id in pairs:
            per_tag[tag_id] = per_tag.get(tag_id, 0) + 1
        db.conn.executemany(
            "UPDATE tags SET article_count = article_count + ? WHERE id = ?",
            [(n, tag_id) for tag_id, n in per_tag.items()],
        )


BULK_FTS_HASH_BYTES = 256 * 1024 * 1024


def _set_fts_config(db: sqlite_utils.Database, key: str, value: int) -> None:
    db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES (?, ?)", [key, value])


BULK_SETTINGS_CACHE_KIB = 262_144  # page cache of a bulk ingest (256 MB; restored after)
FTS_AUTOMERGE = 4  # FTS5's default
BULK_FTS_AUTOMERGE = 16


def _fts_config(db: sqlite_utils.Database, key: str, default: int) -> int:
    value = _one(db, "SELECT v FROM articles_fts_config WHERE k = ?", [key])
    return default if value is None else int(value)


@contextmanager
def bulk_settings(db: sqlite_utils.Database) -> Iterator[None]:
    """Connection settings for one bulk write, restored after it: a page cache that holds the
    indexes being filled, no fsync at commit (synchronous = OFF: an application crash still
    loses nothing committed; a power cut during the import may, which an import can redo),
    and FTS5 merging segments by 16 instead of 4 (`automerge`). A bulk write flushes one large
    segment per call (BULK_FTS_HASH_BYTES); merged 4 at a time, a 1,000,000-article build
    rewrites its index about twice (each merge copied again by the WAL checkpoint), by 16
    about once (measured: 8,154 -> 8,526 articles/s, and the file 1.685 -> 1.643 x the text
    and HTML: the late merges by 4 left ~450 MB of freed pages at the end). A level then holds
    at most 15 segments (the database of the figures in docs/benchmarks.md had 13); the
    incremental path's merges by 4 resume after, in small steps. Restored after the commit,
    in its own small write: the merging happens when the transaction commits. Does nothing
    inside a caller's transaction (SQLite ignores the pragmas there)."""
    if db.conn.in_transaction:
        yield
        return
    cache_size, synchronous = (
        int(_one(db, "PRAGMA cache_size")),
        int(_one(db, "PRAGMA synchronous")),
    )
    automerge = _fts_config(db, "automerge", FTS_AUTOMERGE)
    db.execute(f"PRAGMA cache_size = {min(cache_size, -BULK_SETTINGS_CACHE_KIB)}")
    db.execute("PRAGMA synchronous = OFF")
    if automerge != BULK_FTS_AUTOMERGE:
        _set_fts_config(db, "automerge", BULK_FTS_AUTOMERGE)
    try:
        yield
    finally:
        if automerge != BULK_FTS_AUTOMERGE:
            _set_fts_config(db, "automerge", automerge)
        db.execute(f"PRAGMA cache_size = {cache_size}")
        db.execute(f"PRAGMA synchronous = {synchronous}")


def store_articles_bulk(db: sqlite_utils.Database, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert many new articles in one transaction (bulk ingest: benchmarks, large imports of
    whole articles): rows first, then the full-text index in one INSERT ... SELECT over the new
    rows (the per-row trigger is dropped meanwhile), then join rows. Records whose URL is
    already stored are skipped. Each record: the columns of `articles` it sets (url, title,
    author, published, text, content_html, excerpt, word_count, reading_time, site, feed_id,
    feed_title, saved, saved_at, state, starred, ...), plus `key` (its feed entry key, when it
    has a feed_id) and `tags` (a list). Returns how many were inserted."""
    now = now_iso()
    with bulk_settings(db), transaction(db):
        urls = [r["url"] for r in records if r.get("url")]
        known: set[str] = set()
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                u
                for (u,) in db.execute(
                    f"SELECT url FROM articles WHERE url IN ({marks})", chunk
                ).fetchall()
            )
        fresh = [r for r in records if not r.get("url") or r["url"] not in known]
        if not fresh:
            return 0
        tag_cache: dict[tuple[str, ...], tuple[list[int], str]] = {}
        stored_name: dict[str, tuple[int, str]] = {}

        def resolve(raw: tuple[str, ...]) -> tuple[list[int], str]:
            if raw not in tag_cache:
                names = normalise_tags(raw)
                for name in names:
                    if name.lower() not in stored_name:
                        (tag_id,) = _tag_ids(db, [name])
                        stored_name[name.lower()] = (
                            tag_id,
                            str(_one(db, "SELECT name FROM tags WHERE id = ?", [tag_id])),
                        )
                pairs = sorted((stored_name[n.lower()] for n in names), key=lambda p: p[1].lower())
                tag_cache[raw] = (
                    [i for i, _ in pairs],
                    json.dumps([n for _, n in pairs], ensure_ascii=False, separators=(",", ":")),
                )
            return tag_cache[raw]

        first_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
        columns = (
            "url",
            "title",
            "author",
            "published",
            "updated",
            "sort_date",
            "first_seen_at",
            "feed_id",
            "feed_title",
            "site",
            "tags",
            "excerpt",
            "text",
            "content_html",
            "word_count",
            "reading_time",
            "saved",
            "saved_at",
            "state",
            "starred",
            "updated_at",
            "fetch_status",
            "full_text",
        )
        defaults: dict[str, Any] = dict.fromkeys(columns)
        defaults.update(
            title="",
            text="",
            content_html="",
            word_count=0,
            reading_time=0,
            saved=0,
            state="unread",
            starred=0,
            full_text=0,
        )
        row_of = operator.itemgetter(*columns)  # one C call per row instead of 23 dict.get
        rows = []
        pairs: list[tuple[int, int]] = []
        entries: list[tuple[int, str, int, str]] = []
        for offset, rec in enumerate(fresh):
            article_id = first_id + offset
            tag_ids, tags_json = resolve(tuple(rec.get("tags") or ()))
            published = rec.get("published")
            when = rec.get("saved_at") if rec.get("saved") and not published else published
            values = {
                **defaults,
                **rec,
                "sort_date": min(when, now) if when else now,
                "first_seen_at": now,
                "updated_at": now,
                "tags": tags_json,
            }
            rows.append((article_id, *row_of(values)))
            pairs += [(article_id, tag_id) for tag_id in tag_ids]
            if rec.get("feed_id") is not None:
                entries.append(
                    (int(rec["feed_id"]), str(rec.get("key") or rec["url"]), article_id, now)
                )
        trigger = _one(
            db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_ai'"
        )
        index_after = trigger == _ai_trigger_sql()
        if index_after:
            db.execute("DROP TRIGGER articles_ai")
            # One FTS5 segment per call, written at the commit, instead of one per 16 MB of
            # pending index (m004): fewer, larger segments to merge. Measured over a
            # 1,000,000-article build in batches of 50,000: this INSERT plus the commits
            # 67.6 -> 61.2 s, the INSERT no longer reading segments back. Memory (up to this
            # size) only while the transaction is open; restored before it ends (the commit
            # writes whatever is pending, whatever the setting).
            hash_before = _fts_config(db, "hashsize", FTS_HASH_BYTES)
            if hash_before != BULK_FTS_HASH_BYTES:
                _set_fts_config(db, "hashsize", BULK_FTS_HASH_BYTES)
        facet_trigger = _facet_count_triggers()[0]
        count_after = (
            _one(
                db,
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                "AND name = 'articles_facets_ai'",
            )
            == facet_trigger
        )
        if count_after:  # six upserts per row -> six GROUP BYs over the new rows
            db.execute("DROP TRIGGER articles_facets_ai")
        marks = ", ".join("?" * (len(columns) + 1))
        db.conn.executemany(
            f"INSERT INTO articles (id, {', '.join(columns)}) VALUES ({marks})", rows
        )
        if count_after:
            count_facets(db, from_id=first_id)
            db.execute(facet_trigger)
        if index_after:
            # From the values in hand (not INSERT ... SELECT, which reads every new row back):
            # measured 1.2-1.4x less CPU for the index of 50,000 articles.
            cols = ", ".join(FTS_COLUMNS)
            at = [columns.index(c) + 1 for c in FTS_COLUMNS]
            db.conn.executemany(
                f"INSERT INTO articles_fts(rowid, {cols}) VALUES (?, ?, ?, ?, ?)",
                [(row[0], *(row[i] for i in at)) for row in rows],
            )
            db.execute(trigger)
        _insert_new_pairs(db, pairs)
        before = db.conn.total_changes
        db.conn.executemany(
            "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            entries,
        )
        if entries:
            # Add the entries just made (as store_entries does), not a recount of every entry
            # of each feed touched: at 1,000,000 articles that recount read the whole
            # feed_entries table for each batch.
            per_feed: dict[int, int] = {}
            if db.conn.total_changes - before == len(entries):
                for feed_id, *_ in entries:
                    per_feed[feed_id] = per_feed.get(feed_id, 0) + 1
            else:  # some keys were known already: count what went in
                per_feed.update(
                    db.execute(
                        "SELECT feed_id, count(*) FROM feed_entries INDEXED BY "
                        "idx_feed_entries_article WHERE article_id >= ? GROUP BY feed_id",
                        [first_id],
                    ).fetchall()
                )
            db.conn.executemany(
                "UPDATE feeds SET article_count = article_count + ? WHERE id = ?",
                [(n, feed_id) for feed_id, n in per_feed.items()],
            )
        if index_after and hash_before != BULK_FTS_HASH_BYTES:
            _set_fts_config(db, "hashsize", hash_before)
    return len(fresh)


def set_state(
    db: sqlite_utils.Database,
    article_id: int,
    *,
    state: str | None = None,
    starred: bool | None = None,
) -> None:
    sets: dict[str, Any] = {"updated_at": now_iso()}
    if state is not None:
        if state not in ARTICLE_STATES:
            raise ValueError(f"unknown state {state!r}")
        sets["state"] = state
        if state in ("read", "archived"):
            sets["read_at"] = now_iso()
        else:
            sets["read_at"] = None
    if starred is not None:
        sets["starred"] = int(starred)
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    with transaction(db):
        db.execute(f"UPDATE articles SET {assignments} WHERE id = :id", {**sets, "id": article_id})


def pages_due(
    db: sqlite_utils.Database, *, now: str | None = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Articles whose page is to be downloaded: saved links pending, and retries whose time came."""
    return _rows(
        db,
        "SELECT a.id, a.url, a.title, a.author, a.published, a.content_html, a.fetch_attempts, "
        "a.feed_id, a.saved, f.full_text AS feed_full_text, f.summaries AS feed_summaries "
        "FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.url IS NOT NULL AND "
        "(a.fetch_status = 'pending' OR (a.fetch_status = 'error' AND a.next_fetch_at <= ?)) "
        "ORDER BY a.id LIMIT ?",
        [now or now_iso(), limit],
    )


def learn_feed_summaries(db: sqlite_utils.Database, feed_id: int, summaries: bool) -> int:
    """Remember whether a feed's entries are summaries of longer pages. When they are, queue
    the pages of its entries that have no full text yet; returns how many were queued."""
    with transaction(db):
        db.execute("UPDATE feeds SET summaries = ? WHERE id = ?", [int(summaries), feed_id])
        if not summaries:
            return 0
        cursor = db.execute(
            "UPDATE articles SET fetch_status = 'pending' WHERE feed_id = ? AND full_text = 0 "
            "AND fetch_status IS NULL AND url IS NOT NULL",
            [feed_id],
        )
        return int(cursor.rowcount or 0)


def record_page(db: sqlite_utils.Database, article_id: int, fields: Mapping[str, Any]) -> None:
    """Store what extraction found on an article's page. Blank fields do not erase known ones."""
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    fields = {
        **fields,
        "fetch_status": fields.get("fetch_status", "ok"),
        "fetch_error": None,
        "updated_at": now_iso(),
    }
    if "site" in fields and not fields["site"]:
        del fields["site"]
    assignments = ", ".join(f"{k} = :{k}" for k in fields)
    with transaction(db):
        db.execute(
            f"UPDATE articles SET {assignments} WHERE id = :_id", {**fields, "_id": article_id}
        )


def record_page_error(
    db: sqlite_utils.Database,
    article_id: int,
    message: str,
    *,
    next_fetch_at: str | None,
    status: str = "error",
) -> None:
    with transaction(db):
        db.execute(
            "UPDATE articles SET fetch_status = ?, fetch_error = ?, "
            "fetch_attempts = fetch_attempts + 1, next_fetch_at = ?, updated_at = ? WHERE id = ?",
            [status, message[:500], next_fetch_at, now_iso(), article_id],
        )


# ---------------------------------------------------------------------------------------------
# Reading: export and search


_SELECT_ARTICLE = """
    SELECT a.id, a.url, a.title, a.author, a.published, a.updated, f.url AS feed_url,
           a.feed_title AS feed_title, a.site, a.tags, a.text, a.content_html, a.excerpt,
           a.saved, a.saved_at, a.state, a.starred, a.note, a.word_count, a.reading_time,
           a.lang, a.image, a.site_name
    FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
"""


def _article_dict(row: dict[str, Any]) -> dict[str, Any]:
    row["tags"] = json.loads(row.get("tags") or "[]")
    row["saved"] = bool(row["saved"])
    row["starred"] = bool(row["starred"])
    if row.get("feed_url") is None:
        row["feed_title"] = None
    return row


MIN_PREFIX = 3  # shorter `ab*` is searched as the word `ab` (a 2-letter prefix merges ~1M rows)
SEARCH_CANDIDATES = 1_000  # a search ranks the most recent matches, this many at most
# A search's rank (lower first, then newest) from the times the query matched in the title (t),
# author (au) and feed title (fe) of a candidate, counted by highlight(); each count saturates
# as bm25's term frequency does (k1 = 1.2). The body decides which rows match, not their order.
SEARCH_SCORE = "-(10 * t * 2.2 / (t + 1.2) + 2 * au * 2.2 / (au + 1.2) + fe * 2.2 / (fe + 1.2))"


def fts_query(text: str, *, phrases: bool = True) -> str:
    """A user's search words as a safe FTS5 query: "quoted phrases" kept, words quoted (so
    punctuation cannot cause syntax errors), `word*` a prefix (of MIN_PREFIX letters at least),
    OR and NOT kept as operators. With phrases=False a phrase becomes its words, grouped (the
    ranking query: counting the rows of a phrase of common words takes ~0.5 s at 1M articles,
    of its words ~30 ms each); a query with NOT keeps its phrases, or it would match less."""
    terms: list[str] = []
    split = not phrases and not re.search(r"(^|\s)NOT(\s|$)", text)
    for match in re.finditer(r'"([^"]*)"|(\S+)', text):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            if split and phrase.split():
                words = [w.replace('"', "") for w in phrase.split()]
                terms.append("(" + " ".join(f'"{w}"' for w in words) + ")")
            elif phrase.strip():
                terms.append('"' + phrase.replace('"', "") + '"')
            continue
        if word in ("OR", "NOT", "AND"):
            if terms and terms[-1] not in ("OR", "NOT", "AND"):
                terms.append(word)
            continue
        core = word.rstrip("*").replace('"', "")
        prefix = word.endswith("*") and len(core) >= MIN_PREFIX
        if not re.search(r"\w", core):
            continue
        terms.append(f'"{core}"' + ("*" if prefix else ""))
    while terms and terms[-1] in ("OR", "NOT", "AND"):
        terms.pop()
    return " ".join(terms)


def _filters(
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, tag in enumerate(normalise_tags(tags)):
        where.append(
            f"EXISTS (SELECT 1 FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            f"WHERE at.article_id = a.id AND t.name = :tag{i})"
        )
        params[f"tag{i}"] = tag
    if feed_url:
        where.append(
            "a.id IN (SELECT fe.article_id FROM feed_entries fe JOIN feeds f2 "
            "ON f2.id = fe.feed_id WHERE f2.url = :feed_url)"
        )
        params["feed_url"] = feed_url
    if state == "starred":
        where.append("a.starred = 1")
    elif state:
        where.append("a.state = :state")
        params["state"] = state
    if since:
        where.append("a.sort_date >= :since")
        params["since"] = since
    if saved is not None:
        where.append("a.saved = :saved")
        params["saved"] = int(saved)
    return where, params


def query_articles(
    db: sqlite_utils.Database,
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    query: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), newest first, or by relevance when a
    full-text query is given."""
    where, params = _filters(tags=tags, feed_url=feed_url, state=state, since=since, saved=saved)
    sql = _SELECT_ARTICLE
    order = "a.sort_date DESC, a.id DESC"
    if query:
        match = fts_query(query)
        if not match:
            return []
        sql += " JOIN articles_fts ON articles_fts.rowid = a.id"
        where.append("articles_fts MATCH :match")
        params["match"] = match
        order = "bm25(articles_fts, 10.0, 1.0, 2.0, 1.0), a.sort_date DESC"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    try:
        return [_article_dict(r) for r in _rows(db, sql, params)]
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            return []
        raise


def get_articles(db: sqlite_utils.Database, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), in the order of `ids` (the web exports
    the rows a Datasette page selected, in that page's order)."""
    found: dict[int, dict[str, Any]] = {}
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"{_SELECT_ARTICLE} WHERE a.id IN ({marks})", chunk):
            found[int(row["id"])] = _article_dict(row)
    return [found[i] for i in wanted if i in found]


def search_articles(
    db: sqlite_utils.Database,
    query: str,
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Ranked full-text search with a snippet, among the SEARCH_CANDIDATES most recent matches:
    the same ranking as the web's canned `search` query (metadata.yml): where the query matched
    -- title 10, author 2, feed title 1, repeats saturating as in bm25 -- then newest. Not bm25,
    which counts every term's documents over the whole index (~25 ms per common word at 1M
    articles); see docs/benchmarks.md."""
    match = fts_query(query)
    if not match:
        return []
    where, params = _filters(tags=tags, feed_url=feed_url)
    # on the full-text rows (a `rowid IN` handed to FTS5 would re-run the match per row)
    where = [
        w.replace("a.id IN (", "+articles_fts.rowid IN (").replace("a.id", "articles_fts.rowid")
        for w in where
    ]
    params.update({"match": match, "limit": limit, "candidates": SEARCH_CANDIDATES})
    sql = f"""
        WITH hits AS (
            SELECT rowid AS id FROM articles_fts
            WHERE articles_fts MATCH :match {"".join(" AND " + w for w in where)}
            ORDER BY rowid DESC LIMIT :candidates
        ),
        hit_counts AS MATERIALIZED (
            SELECT articles_fts.rowid AS id,
              coalesce(length(highlight(articles_fts, 0, char(57344), '')) - length(title), 0)
                AS t,
              coalesce(length(highlight(articles_fts, 2, char(57344), '')) - length(author), 0)
                AS au,
              coalesce(length(highlight(articles_fts, 3, char(57344), ''))
                - length(feed_title), 0) AS fe
            FROM articles_fts
            WHERE articles_fts MATCH :match
              AND articles_fts.rowid >= (SELECT min(id) FROM hits)
              AND +articles_fts.rowid IN (SELECT id FROM hits)
        ),
        ranked AS MATERIALIZED (
            SELECT id, {SEARCH_SCORE} AS rank
            FROM hit_counts ORDER BY rank, id DESC LIMIT :limit
        )
        SELECT a.id, a.url, a.title, a.author, a.published, a.feed_title, a.site, a.tags,
               a.saved, a.state, a.starred,
               snippet(articles_fts, 1, '[', ']', '…', 16) AS snippet,
               (SELECT rank FROM ranked WHERE ranked.id = articles_fts.rowid) AS rank
        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
        WHERE articles_fts MATCH :match
          AND articles_fts.rowid >= (SELECT min(id) FROM ranked)
          AND +articles_fts.rowid IN (SELECT id FROM ranked)
        ORDER BY rank, a.id DESC
    """
    try:
        rows = _rows(db, sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            return []
        raise
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
        row["saved"] = bool(row["saved"])
        row["starred"] = bool(row["starred"])
    return rows


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    row = _rows(
        db,
        "SELECT (SELECT count(*) FROM articles) AS articles, "
        "(SELECT count(*) FROM feeds) AS feeds, "
        "(SELECT count(*) FROM articles WHERE saved = 1) AS saved, "
        "(SELECT count(*) FROM feeds WHERE last_error IS NOT NULL) AS failing_feeds",
    )[0]
    return {k: int(v) for k, v in row.items()}


# ---------------------------------------------------------------------------------------------
# Safety: one writer at a time, health checks, backups

LOCK_WAIT = 5.0  # seconds a second writer waits for the first before giving up


@contextmanager
def writer_lock(
    path: str | Path, *, wait: float = LOCK_WAIT, what: str = "fetch"
) -> Iterator[None]:
    """Hold `<db>.lock` (an exclusive POSIX record lock) for a long write (`fetch`, `import`).
    A second writer waits up to `wait` seconds, then raises LockedError. The kernel drops the
    lock when its process dies, even by kill -9, so a crash never leaves it stuck; unlike
    flock, it is not shared with forked pool workers, which could outlive a killed run."""
    import errno
    import fcntl
    import os

    from .errors import LockedError

    lock_path = Path(f"{path}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseError(
            f"cannot write to {lock_path.parent}: {exc.strerror} "
            "(the database and its folder must be writable)"
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise DatabaseError(f"cannot lock {lock_path}: {exc.strerror}") from None
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another aggregator process is writing to {path} (waited {wait:g} s "
                        f"for {lock_path.name}); try the {what} again when it has finished"
                    ) from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the pid is a courtesy for humans; the record lock is the lock
        yield
    finally:
        os.close(fd)  # releases the lock


def quick_check(db: sqlite_utils.Database, path: str | Path) -> None:
    """Refuse to write to a corrupt database: PRAGMA quick_check, one line on failure."""
    try:
        result = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        result = [str(exc)]
    if result != ["ok"]:
        detail = " ".join("; ".join(result).split())[:200]  # one line
        raise DatabaseError(
            f"{path} is corrupt ({detail}); nothing was written. Restore your "
            "latest backup (made with `aggregator backup FILE`) or move the file aside"
        )


LARGE_DB_BYTES = 256 * 1024 * 1024
RECHECK_HOURS = 24


def check_before_writing(db: sqlite_utils.Database, path: str | Path) -> None:
    """`quick_check` before a write, without making every write of a large collection pay for a
    full scan (4 s at a million articles): a database over LARGE_DB_BYTES is scanned at most
    once a day; the hour of its last clean scan is kept in the header (`PRAGMA user_version`,
    which nothing else here uses). In between, its schema must still read."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        size = 0
    if size > LARGE_DB_BYTES:
        hour = int(time.time() // 3600)
        try:
            last = int(db.execute("PRAGMA user_version").fetchone()[0])
            if 0 <= hour - last < RECHECK_HOURS:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return
        except sqlite3.DatabaseError:
            pass  # the full scan below says what is wrong
    quick_check(db, path)
    if size > LARGE_DB_BYTES:
        try:
            db.execute(f"PRAGMA user_version = {int(time.time() // 3600)}")
        except sqlite3.DatabaseError:
            pass  # read-only: the write that follows reports it


def check_database(db: sqlite_utils.Database) -> list[str]:
    """Problems found by integrity_check, the full-text index's integrity-check against the
    articles table, and foreign_key_check; an empty list when the database is sound."""
    problems: list[str] = []
    try:
        result = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            problems += [f"integrity_check: {r}" for r in result[:20]]
    except sqlite3.DatabaseError as exc:
        problems.append(f"integrity_check: {exc}")
    try:
        db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        problems.append(f"full-text index (articles_fts): {exc}")
    try:
        for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check").fetchall()[:20]:
            problems.append(f"foreign key: {table} row {rowid} points at a missing {parent} row")
    except sqlite3.DatabaseError as exc:
        problems.append(f"foreign_key_check: {exc}")
    return problems


def backup_database(db: sqlite_utils.Database, dest: str | Path, *, force: bool = False) -> None:
    """Copy the database with VACUUM INTO (a consistent snapshot, even while a fetch writes),
    check the copy, then move it into place. An existing `dest` is kept unless `force`."""
    import os

    dest = Path(dest)
    if dest.is_dir():
        raise DatabaseError(f"backup destination is a folder: {dest}")
    if dest.exists() and not force:
        raise DatabaseError(f"{dest} already exists; use --force to replace it")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        db.execute("VACUUM INTO ?", [str(tmp)])
        copy = sqlite3.connect(str(tmp))
        try:
            result = [r[0] for r in copy.execute("PRAGMA integrity_check").fetchall()]
        finally:
            copy.close()
        if result != ["ok"]:
            raise DatabaseError(f"the backup failed its integrity check: {'; '.join(result)[:200]}")
        os.replace(tmp, dest)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot back up to {dest}: {exc}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot back up to {dest}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
