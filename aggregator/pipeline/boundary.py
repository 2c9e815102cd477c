"""The boundary around one item (feed, page, import record): which errors belong to the item
(recorded on it, the run goes on) and which to the run itself (the database as a whole fails),
and the one line an unexpected error of an item is recorded as."""

from __future__ import annotations

import errno
import sqlite3


def is_run_failure(exc: BaseException) -> bool:
    """True for a failure of the database as a whole (disk full, I/O error, a corrupt or
    read-only file): no other item could be written either, so the run stops with one line.
    A busy or locked database is the item's: it is retried by the next run."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EIO, errno.EROFS)
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return "locked" not in message and "busy" not in message
    return type(exc) is sqlite3.DatabaseError  # "file is not a database", "malformed"


def describe(exc: BaseException, limit: int = 300) -> str:
    """One line for an unexpected error of one item (its type says where it came from)."""
    text = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:limit]
