"""The best-match lists: for each word or indexed prefix that many articles contain, its
BEST_LIST_SIZE best articles by the search's bm25, so that a best-match search of one common
word reads a short list instead of scoring a third of the collection (store.search reads them).

Scoring every match costs about a microsecond a match (docs/benchmarks.md, "Search"): a word in
30 % of a million articles takes a third of a second. A list is exact for the articles it has
seen (up to `built_max_id`); the search scores the articles added since, so the first page is the
one a full scoring gives, as of the list's making (bm25's document frequencies and average length
move little between refreshes). Lists are made again, the oldest first and under a time budget,
once BEST_LIST_STALE of the articles came after them.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from .connection import _one, transaction
from .schema import FTS_PREFIXES
from .search import BM25

if TYPE_CHECKING:
    import sqlite_utils

# A word or prefix in more articles than this gets a list: scoring this many matches takes a few
# tens of milliseconds.
BEST_LIST_MIN_DOCS = 40_000
BEST_LIST_SIZE = 200  # a page of 50, and room for articles deleted since
BEST_LIST_STALE = 0.05


def best_lists_due(db: sqlite_utils.Database, *, min_docs: int = BEST_LIST_MIN_DOCS) -> bool:
    """Whether refresh_best_lists has work: a collection where a word may be in more than
    `min_docs` articles, with lists missing, or older than BEST_LIST_STALE of its articles."""
    count = int(_one(db, "SELECT count(*) FROM articles") or 0)
    if count < min_docs:
        return False
    oldest = _one(db, "SELECT min(built_max_id) FROM search_best_tokens")
    if oldest is None:
        return True
    newer = int(_one(db, "SELECT count(*) FROM articles WHERE id > ?", [oldest]) or 0)
    return newer > BEST_LIST_STALE * count


def _wanted(db: sqlite_utils.Database, min_docs: int) -> dict[str, tuple[str, int]]:
    """token -> (FTS5 expression, articles) for every word in more than `min_docs` articles and
    every indexed prefix whose words add up to more (an upper bound: an article with two words of
    the prefix counts twice)."""
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.articles_fts_vocab "
        "USING fts5vocab(main, articles_fts, row)"
    )
    wanted: dict[str, tuple[str, int]] = {}
    prefixes: Counter[str] = Counter()
    for term, docs in db.execute("SELECT term, doc FROM temp.articles_fts_vocab").fetchall():
        if '"' in term:
            continue
        if docs >= min_docs:
            wanted["w:" + term] = (f'"{term}"', int(docs))
        for n in FTS_PREFIXES:
            if len(term) >= n:
                prefixes[term[:n]] += int(docs)
    for prefix, docs in prefixes.items():
        if docs >= min_docs:
            wanted["p:" + prefix] = (f'"{prefix}"*', docs)
    return wanted


def refresh_best_lists(
    db: sqlite_utils.Database,
    *,
    budget_seconds: float | None = None,
    min_docs: int = BEST_LIST_MIN_DOCS,
) -> int:
    """Make the missing lists, then renew the oldest, until all are current or `budget_seconds`
    have passed. Each list is written in its own short transaction, so readers and the fetcher
    wait milliseconds at a time. Returns how many lists were written."""
    started = time.monotonic()
    max_id = int(_one(db, "SELECT coalesce(max(id), 0) FROM articles") or 0)
    wanted = _wanted(db, min_docs)
    built = {
        str(t): int(m)
        for t, m in db.execute("SELECT token, built_max_id FROM search_best_tokens").fetchall()
    }
    with transaction(db):
        for token in [t for t in built if t not in wanted]:
            db.execute("DELETE FROM search_best WHERE token = ?", [token])
            db.execute("DELETE FROM search_best_tokens WHERE token = ?", [token])
    todo = sorted(
        (t for t in wanted if built.get(t, -1) < max_id),
        key=lambda t: (t in built, built.get(t, 0), -wanted[t][1]),
    )
    written = 0
    for token in todo:
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            break
        expression, docs = wanted[token]
        top = db.execute(
            f"SELECT {BM25}, rowid FROM articles_fts WHERE articles_fts MATCH ? "
            f"ORDER BY 1 LIMIT {BEST_LIST_SIZE}",
            [expression],
        ).fetchall()
        with transaction(db):
            db.execute("DELETE FROM search_best WHERE token = ?", [token])
            db.conn.executemany(
                "INSERT INTO search_best (token, score, article_id) VALUES (?, ?, ?)",
                [(token, score, article_id) for score, article_id in top],
            )
            db.execute(
                "INSERT INTO search_best_tokens (token, docs, built_max_id, built_at) "
                "VALUES (?, ?, ?, datetime('now')) ON CONFLICT (token) DO UPDATE SET "
                "docs = excluded.docs, built_max_id = excluded.built_max_id, "
                "built_at = excluded.built_at",
                [token, docs, max_id],
            )
        written += 1
    return written
