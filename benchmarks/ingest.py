"""Ingest benchmark: articles per second into the database with full-text indexing.

  bulk         `store.store_articles_bulk` in batches (rows first, FTS index after) into a new db
  incremental  `store.store_entries`, 20 entries per call (one feed refresh each; FTS triggers)

Each phase gives wall seconds and the CPU seconds of the thread that runs SQLite (which a busy
machine sways less).

Articles come from make_collection's generator (about 1.5-1.9 KB of Zipf text, tags, dates).
Database size is reported per article and against the stored text (text alone, and text plus
its HTML, which the schema also keeps).

    .venv/bin/python benchmarks/ingest.py [--articles 100000] [--incremental 20000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import make_collection  # noqa: E402

from aggregator import store  # noqa: E402


def size_of(path: Path, db: object) -> int:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    return os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--articles", type=int, default=100_000, help="bulk phase (default 100,000)"
    )
    parser.add_argument(
        "--incremental", type=int, default=20_000, help="incremental phase (default 20,000)"
    )
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        path = Path(tmp) / "bulk.db"
        res = make_collection.build(str(path), args.articles, batch=args.batch, quiet=True)
        db = store.open_db(path)
        html = db.execute(
            "SELECT sum(length(CAST(content_html AS BLOB))) FROM articles"
        ).fetchone()[0]
        out["bulk"] = {
            "articles": args.articles,
            "seconds": res["store_seconds"],
            "articles_per_s": res["articles_per_s"],
            "cpu_seconds": res["store_cpu_seconds"],
            "articles_per_cpu_s": res["articles_per_cpu_s"],
            "db_bytes": res["db_bytes"],
            "bytes_per_article": res["bytes_per_article"],
            "db_to_text": res["db_to_text"],
            "db_to_text_and_html": round(res["db_bytes"] / (res["text_bytes"] + html), 3),
        }
        db.conn.close()

        path2 = Path(tmp) / "incr.db"
        db = store.open_db(path2)
        feeds = max(1, args.incremental // 200)
        ids = [
            store.add_feed(db, f"https://site{f}.example/feed.xml", title=f"Feed {f}")[0]
            for f in range(feeds)
        ]
        records = []
        text_bytes = 0
        for i, (_, rec) in enumerate(
            itertools.islice(make_collection.generate(args.incremental, seed=7), args.incremental)
        ):
            records.append(
                {
                    "key": f"k{i}",
                    "url": rec["url"],
                    "title": rec["title"],
                    "author": rec.get("author"),
                    "published": rec.get("published") or rec.get("saved_at"),
                    "updated": None,
                    "content_html": rec["content_html"],
                    "text": rec["text"],
                    "excerpt": rec["excerpt"],
                    "word_count": rec["word_count"],
                    "reading_time": rec["reading_time"],
                    "categories": rec["tags"],
                    "image": None,
                    "content_hash": str(i),
                    "site": rec["site"],
                }
            )
            text_bytes += len(rec["text"].encode()) + len(rec["title"].encode())
        started, cpu = time.perf_counter(), time.thread_time()
        for n, start in enumerate(range(0, len(records), 20)):
            store.store_entries(db, ids[n % feeds], records[start : start + 20])
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        size = size_of(path2, db)
        out["incremental"] = {
            "articles": args.incremental,
            "seconds": round(seconds, 2),
            "articles_per_s": round(args.incremental / seconds),
            "cpu_seconds": round(cpu, 2),
            "articles_per_cpu_s": round(args.incremental / cpu),
            "db_bytes": size,
            "bytes_per_article": round(size / args.incremental),
            "db_to_text": round(size / text_bytes, 3),
        }
    print(
        f"{'phase':<12} {'articles':>9} {'seconds':>8} {'articles/s':>10} {'CPU s':>7} "
        f"{'/CPU s':>8} {'B/article':>9} {'db/text':>8}"
    )
    for phase, m in out.items():
        print(
            f"{phase:<12} {m['articles']:>9,} {m['seconds']:>8.1f} {m['articles_per_s']:>10,} "
            f"{m['cpu_seconds']:>7.1f} {m['articles_per_cpu_s']:>8,} "
            f"{m['bytes_per_article']:>9} {m['db_to_text']:>8.2f}"
        )
    print(json.dumps({"benchmark": "ingest", **out}))


if __name__ == "__main__":
    main()
