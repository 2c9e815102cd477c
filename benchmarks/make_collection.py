"""Make a realistic synthetic collection through Aggregator's own storage code.

--articles N articles: 90% from feeds (one feed per ~500 articles, feed titles, authors), 10%
saved links (saved_at, some starred, some archived); about 1.5 KB of text each, words drawn
from a 30,000-word vocabulary with a Zipf distribution (so common words really are common and
rare ones rare); 0-4 tags each from 300, skewed (a few tags on most tagged articles); dates
spread over eight years, denser recently. Rows go in through `store.store_articles_bulk`
(rows first, the full-text index after, per batch) into a database made by `store.open_db`.

    .venv/bin/python benchmarks/make_collection.py --articles 1000000 --db /tmp/agg-1m.db
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCABULARY = 30_000
TAGS = 300
SPAN_DAYS = 8 * 365
BASE = 1_764_000_000  # late 2025


def vocabulary(size: int = VOCABULARY, seed: int = 1) -> list[str]:
    """Pronounceable made-up words, most frequent first (deterministic)."""
    rng = random.Random(seed)
    onsets = "b c d f g h j k l m n p r s t v w z br cr dr fr gr pr st tr ch sh th".split()
    vowels = "a e i o u ai ea io ou".split()
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < size:
        syllables = 1 if len(words) < 200 else rng.choice((2, 2, 3, 3, 4))
        w = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        if w not in seen and len(w) >= 2:
            seen.add(w)
            words.append(w)
    return words


def zipf_cum_weights(size: int, s: float = 1.07) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, size + 1)))


def tag_names() -> list[str]:
    words = vocabulary()
    return [f"{words[200 + i]}-{i}" for i in range(TAGS)]


def generate(n: int, *, seed: int = 42, feeds: int | None = None, start: int = 0):  # type: ignore[no-untyped-def]
    """Yield (feed index or None, record) for articles start .. start + n - 1."""
    rng = random.Random(seed if not start else f"{seed}-{start}")
    words = vocabulary()
    cum = zipf_cum_weights(len(words))
    tags = tag_names()
    tag_cum = zipf_cum_weights(len(tags), 1.2)
    feed_count = feeds or max(1, n // 500)
    authors = [f"{words[300 + i].capitalize()} {words[900 + i].capitalize()}" for i in range(400)]
    for i in range(start, start + n):
        drawn = rng.choices(words, cum_weights=cum, k=rng.randint(210, 290))
        paras = [" ".join(drawn[j : j + 50]).capitalize() + "." for j in range(0, len(drawn), 50)]
        text = "\n\n".join(paras)
        title = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(4, 9))).capitalize()
        age = int(SPAN_DAYS * 86400 * (rng.random() ** 1.6))
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE - age))
        k = rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 4))
        article_tags = list(dict.fromkeys(rng.choices(tags, cum_weights=tag_cum, k=k)))
        rec = {
            "title": title,
            "text": text,
            "content_html": "".join(f"<p>{p}</p>" for p in paras),
            "excerpt": text[:280],
            "word_count": len(drawn),
            "reading_time": max(1, round(len(drawn) / 230)),
            "tags": article_tags,
        }
        if rng.random() < 0.9:
            f = int(feed_count * (rng.random() ** 2))  # some feeds far busier than others
            rec.update(
                {
                    "url": f"https://site{f}.example/{i}",
                    "published": when,
                    "key": f"id-{i}",
                    "author": rng.choice(authors),
                    "site": f"site{f}.example",
                }
            )
            yield f, rec
        else:
            rec.update(
                {
                    "url": f"https://links{i % 997}.example/read/{i}",
                    "saved": 1,
                    "saved_at": when,
                    "site": f"links{i % 997}.example",
                    "starred": int(rng.random() < 0.05),
                    "state": rng.choice(("unread", "unread", "read", "archived")),
                }
            )
            yield None, rec


def _batch(count: int, seed: int, feeds: int, start: int) -> list[tuple[int | None, dict]]:  # type: ignore[type-arg]
    return list(generate(count, seed=seed, feeds=feeds, start=start))


def build(
    db_path: str, n: int, *, batch: int = 50_000, seed: int = 42, quiet: bool = False
) -> dict[str, float]:
    from aggregator import store

    db = store.open_db(db_path)
    # the bulk ingest's page cache, kept between batches too
    db.execute(f"PRAGMA cache_size = {-store.bulk.BULK_SETTINGS_CACHE_KIB}")
    feed_count = max(1, n // 500)
    words = vocabulary()
    feeds = [
        {
            "url": f"https://site{f}.example/feed.xml",
            "title": f"The {words[f % 5000].capitalize()} Journal {f}",
            "site_url": f"https://site{f}.example/",
            "tags": [],
        }
        for f in range(feed_count)
    ]
    started = time.perf_counter()
    store.add_feeds_bulk(db, feeds)
    ids = {url: fid for fid, url in db.execute("SELECT id, url FROM feeds").fetchall()}
    titles = {f: feeds[f]["title"] for f in range(feed_count)}
    gen_seconds = 0.0
    store_seconds = 0.0
    store_cpu = 0.0  # of this thread, where SQLite runs: less swayed by other processes
    done = 0
    text_bytes = html_bytes = 0
    # Generating the text is slower than storing it: a second process makes the next batch
    # while this one stores (only the storing is timed as articles/s). It runs at the lowest
    # priority (nice 19): on a machine with two cores and one other busy process it otherwise
    # takes CPU from the storing process and lowers the measured rate ("Bulk ingest at
    # 1,000,000 articles" in docs/benchmarks.md); niced, it uses the CPU the store leaves.
    pool = multiprocessing.get_context("fork").Pool(1, initializer=os.nice, initargs=(19,))
    starts = list(range(0, n, batch))
    pending = [
        pool.apply_async(_batch, (min(batch, n - s), seed, feed_count, s)) for s in starts[:2]
    ]
    del starts[:2]
    while done < n:
        t0 = time.perf_counter()
        chunk = []
        ready = pending.pop(0).get()
        if starts:  # one batch in the making while this one is stored, not the whole run
            s = starts.pop(0)
            pending.append(pool.apply_async(_batch, (min(batch, n - s), seed, feed_count, s)))
        for f, rec in ready:
            if f is not None:
                rec["feed_id"] = ids[feeds[f]["url"]]
                rec["feed_title"] = titles[f]
            text_bytes += len(rec["text"].encode()) + len(rec["title"].encode())
            html_bytes += len(rec["content_html"].encode())
            chunk.append(rec)
        t1, c1 = time.perf_counter(), time.thread_time()
        store.store_articles_bulk(db, chunk)
        t2 = time.perf_counter()
        store_cpu += time.thread_time() - c1
        gen_seconds += t1 - t0
        store_seconds += t2 - t1
        done += len(chunk)
        if not quiet:
            print(
                f"  {done:>9,} articles  {done / (store_seconds or 1):,.0f}/s into the db",
                file=sys.stderr,
            )
    pool.close()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.conn.close()
    size = os.path.getsize(db_path)
    return {
        "articles": n,
        "feeds": feed_count,
        "generate_seconds": round(gen_seconds, 2),
        "store_seconds": round(store_seconds, 2),
        "articles_per_s": round(n / store_seconds),
        "store_cpu_seconds": round(store_cpu, 2),
        "articles_per_cpu_s": round(n / store_cpu),
        "total_seconds": round(time.perf_counter() - started, 2),
        "db_bytes": size,
        "text_bytes": text_bytes,
        "db_to_text": round(size / text_bytes, 3),
        "html_bytes": html_bytes,
        # the stored text: title, text and content_html (both kept; the excerpt not counted)
        "db_to_text_and_html": round(size / (text_bytes + html_bytes), 3),
        "bytes_per_article": round(size / n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, required=True)
    parser.add_argument("--db", required=True, help="database file to create (must not exist)")
    parser.add_argument("--batch", type=int, default=50_000, help="articles per transaction")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-best-lists",
        action="store_true",
        help="skip making the search's best-match lists (ingest figures alone)",
    )
    args = parser.parse_args()
    if Path(args.db).exists():
        raise SystemExit(f"{args.db} exists: give a new path")
    res = build(args.db, args.articles, batch=args.batch, seed=args.seed)
    if not args.no_best_lists:
        # What `aggregator fetch` does a few seconds at a time, all at once: the search's
        # best-match lists for the words and prefixes in many articles (store.ranking).
        from aggregator import store

        started = time.perf_counter()
        db = store.open_db(args.db)
        res["best_lists"] = float(store.refresh_best_lists(db))
        res["best_lists_seconds"] = round(time.perf_counter() - started, 1)
        db.conn.close()
        print(f"{res['best_lists']} best-match lists in {res['best_lists_seconds']} s")
    print(
        f"{'articles':>10} {'feeds':>6} {'store s':>8} {'articles/s':>10} {'db MB':>8} "
        f"{'db/text':>8} "
        f"{'db/(text+html)':>14} {'B/article':>9}"
    )
    print(
        f"{res['articles']:>10,} {res['feeds']:>6} {res['store_seconds']:>8.1f} "
        f"{res['articles_per_s']:>10,} "
        f"{res['db_bytes'] / 1e6:>8.1f} {res['db_to_text']:>8.2f} "
        f"{res['db_to_text_and_html']:>14.3f} "
        f"{res['bytes_per_article']:>9}"
    )
    print(json.dumps({"benchmark": "make_collection", **res}))


if __name__ == "__main__":
    main()
