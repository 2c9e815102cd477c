"""The connection and its transactions: the small `Database` that `open_db` gives, one-line
errors while opening, `transaction` (BEGIN IMMEDIATE or a savepoint) and row helpers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..errors import DatabaseError

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")


def now_iso(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


def site_of(url: str | None) -> str | None:
    """sanitize.site_of, imported on first use (it brings nh3 and the rest, which a command
    reading the database never needs; the records of a refresh come with their site)."""
    from ..sanitize import site_of as site

    return site(url)


PAGE_SIZE = 32_768  # for new databases


class Database:
    """What `open_db` gives: the sqlite3 connection (`conn`) and `execute`, all that this module
    uses. The rest of sqlite-utils' Database API (`db["articles"]`, `db.query`, ...) answers
    too, through a sqlite_utils.Database over the same connection made on first use. Kept by
    hand rather than sqlite-utils' Database because importing sqlite-utils and making its
    Database (which scans every installed package's entry points for plugins) is most of a
    command's start-up: see "Store start-up" in docs/benchmarks.md. The functions here take
    either kind; they are annotated with sqlite-utils' type, which this one stands for."""

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
    and deleted a new file each time (the gain: "Feed refresh" in docs/benchmarks.md). For
    transactions whose statements stay small (store_entries: a few hundred rows at most), not
    for a DELETE or UPDATE over a whole feed, whose journal memory would grow with it. SQLite
    reads `temp_store` when the transaction begins; it is restored after it (which would drop
    the connection's TEMP tables: this package makes none)."""
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


CHUNK = 500  # values bound in one `IN (...)` list


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`items` in lists of at most `size` (bound parameters per statement stay bounded)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def marks(n: int) -> str:
    """`?,?,?` for n parameters."""
    return ",".join("?" * n)


def _one(db: sqlite_utils.Database, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def _rows(
    db: sqlite_utils.Database, sql: str, params: Sequence[Any] | dict[str, Any] = ()
) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
