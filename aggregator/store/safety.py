"""Safety: one writer at a time (a lock file), health checks before writing, and backups."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatabaseError, LockedError

if TYPE_CHECKING:
    import sqlite_utils


LOCK_WAIT = 5.0  # seconds a second writer waits for the first before giving up


@contextmanager
def writer_lock(
    path: str | Path, *, wait: float = LOCK_WAIT, what: str = "fetch"
) -> Iterator[None]:
    """Hold `<db>.lock` (an exclusive POSIX record lock) for a long write (`fetch`, `import`).
    A second writer waits up to `wait` seconds, then raises LockedError. The kernel drops the
    lock when its process dies, even by kill -9, so a crash never leaves it stuck; unlike
    flock, it is not shared with forked pool workers, which could outlive a killed run."""
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
    full scan (seconds on a large collection): a database over LARGE_DB_BYTES is scanned at most
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
