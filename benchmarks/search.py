"""Search and browse latency on a collection made by make_collection.py, served as a user runs it.

Starts `aggregator --db DB serve --port P` (a subprocess on a free port) and measures over HTTP,
one request at a time, p50 and p95 of:
  search      the `search` page (/aggregator/search?q=...&sort=...) in both sorts (best match,
              newest) for single words, two words, phrases and 3- and 4-letter prefixes, the
              words taken from the collection's own full-text vocabulary at document frequencies
              of 30, 15, 10, 2, 1 and 0.5 % and between 0.05 and 0.01 % (DF_LEVELS); with
              --drop-caches, one query per shape again right after the OS page cache is dropped
  table       the articles table page with its default facets (/aggregator/articles)
  tag page    the page a tag link leads to (/aggregator/articles?tags__arraycontains=T, with
              _nocount=1 for a tag on more than aggregator.web.facets.BIG_TAG articles, as the
              links are made) for the most used, a middling and a rare tag
and the same searches through `store.search_articles` (what `aggregator search` runs) in
process, plus a few `aggregator search` runs as a user starts them (process startup included).
Checks that the table page's facet_results hold every configured facet (a facet that passes
facet_time_limit_ms is silently missing) and prints which are missing if any.

    .venv/bin/python benchmarks/search.py --db /tmp/agg-1m.db [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aggregator import store  # noqa: E402
from aggregator.web.facets import tag_query  # noqa: E402

# Document frequencies the mix draws its words at (the share of articles a word is in).
DF_LEVELS = (0.30, 0.15, 0.10, 0.02, 0.01, 0.005, 0.0003)


def vocabulary_levels(db: Any, count: int) -> dict[float, list[str]]:
    """For each DF_LEVELS share, `count` words of the collection's own full-text vocabulary
    whose document frequency is nearest to it (the last level: between 0.05 % and 0.01 %)."""
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab "
        "USING fts5vocab(main, articles_fts, row)"
    )
    terms = [
        (t, d)
        for t, d in db.execute("SELECT term, doc FROM temp.bench_vocab").fetchall()
        if t.isalpha() and len(t) >= 4
    ]
    total = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    levels: dict[float, list[str]] = {}
    for share in DF_LEVELS:
        if share < 0.001:
            pool = [(t, d) for t, d in terms if 0.0001 * total <= d <= 0.0005 * total]
        else:
            pool = terms
        pool = sorted(pool, key=lambda td: abs(td[1] - share * total))
        levels[share] = [t for t, _ in pool[:count]]
    return levels


def queries(levels: dict[float, list[str]]) -> dict[str, list[str]]:
    """The mix by shape: each shape takes its words from every level."""
    words = [w for ws in levels.values() for w in ws]
    by_level = list(levels.values())
    pairs = [(a[i % len(a)], b[(i + 1) % len(b)]) for i, (a, b) in enumerate(
        zip(by_level, by_level[1:] + by_level[:1], strict=True))]
    return {
        "word": words,
        "two words": [f"{a} {b}" for a, b in pairs],
        "phrase": [f'"{a} {b}"' for a, b in pairs],
        # what search-as-you-type sends after three and four keystrokes
        "prefix 3": [w[:3] + "*" for w in words],
        "prefix 4": [w[:4] + "*" for w in words],
    }


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ERRORS: list[str] = []


def get(url: str) -> tuple[float, bytes]:
    """Seconds and body; an error answer (Datasette says 400 when a query passes
    sql_time_limit_ms) is kept in ERRORS and counted with its time."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        ERRORS.append(f"{exc.code} after {time.perf_counter() - started:.2f} s: {url}")
    return time.perf_counter() - started, body


def stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


def serve(db: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/aggregator"), "--db", db, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            get(f"http://127.0.0.1:{port}/-/versions.json")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(
                    f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                ) from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not answer in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True, help="a collection made by make_collection.py")
    parser.add_argument(
        "--runs", type=int, default=5, help="times each request is made (default 5)"
    )
    parser.add_argument(
        "--cli-runs", type=int, default=3, help="`aggregator search` processes started (default 3)"
    )
    parser.add_argument(
        "--words", type=int, default=3, help="words taken at each document frequency (default 3)"
    )
    parser.add_argument(
        "--drop-caches",
        action="store_true",
        help="also time one query of each shape right after dropping the OS page cache "
        "(needs root: writes /proc/sys/vm/drop_caches)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="do not read the database file through once before measuring (by default it is, "
        "so the figures are those of a collection in use, whose pages the OS has cached)",
    )
    args = parser.parse_args()
    if not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist: make it with make_collection.py")
    if not args.cold:
        started = time.perf_counter()
        with open(args.db, "rb") as f:  # sequentially, as a backup or a recent use would leave it
            while f.read(1 << 24):
                pass
        print(f"read {args.db} once in {time.perf_counter() - started:.1f} s (use --cold to skip)")
    port = free_port()
    base = f"http://127.0.0.1:{port}/aggregator"
    out: dict[str, Any] = {}
    db = store.open_db(args.db)
    tag_rows = db.execute(
        "SELECT name, article_count FROM tags ORDER BY article_count DESC"
    ).fetchall()
    counts = dict(tag_rows)
    tags = {
        "top tag": tag_rows[0][0],
        "middling tag": tag_rows[len(tag_rows) // 10][0],
        "rare tag": tag_rows[-1][0],
    }
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    levels = vocabulary_levels(db, args.words)
    mix = queries(levels)
    print("words by document frequency:", json.dumps(levels))
    proc = serve(args.db, port)
    try:
        get(f"{base}/search?q=warmup")  # first request opens and caches the schema
        get(f"{base}/articles")
        for sort in ("relevance", "newest"):
            search_all: list[float] = []
            for kind, qs in mix.items():
                seconds = []
                for _ in range(args.runs):
                    for q in qs:
                        url = f"{base}/search?" + urllib.parse.urlencode({"q": q, "sort": sort})
                        elapsed, body = get(url)
                        if b'<li class="card' not in body and kind != "phrase":
                            raise SystemExit(f"no results for {q!r} ({sort})")
                        seconds.append(elapsed)
                out[f"http search {sort}: {kind}"] = stats(seconds)
                search_all += seconds
            out[f"http search {sort}: whole mix"] = stats(search_all)
        seconds = [get(f"{base}/articles")[0] for _ in range(args.runs * 2)]
        out["http table page + facets"] = stats(seconds)
        data = json.loads(get(f"{base}/articles.json")[1])
        wanted = ["tags", "feed_title", "site", "author", "state", "starred", "published_month"]
        missing = [f for f in wanted if f not in data.get("facet_results", {})]
        out["http table page + facets"]["facets_missing"] = missing  # type: ignore[assignment]
        for label, tag in tags.items():
            url = f"{base}/articles?" + tag_query(tag, counts[tag])
            seconds = [get(url)[0] for _ in range(args.runs * 2)]
            out[f"http {label} page"] = {**stats(seconds), "tag": tag}  # type: ignore[dict-item]
        if args.drop_caches:  # last: every later read of the file is cold too
            for sort in ("relevance", "newest"):
                cold: list[float] = []
                for q in [qs[0] for qs in mix.values()]:
                    drop_caches()
                    url = f"{base}/search?" + urllib.parse.urlencode({"q": q, "sort": sort})
                    cold.append(get(url)[0])
                out[f"http search {sort}: after dropping the OS cache"] = stats(cold)
    finally:
        proc.terminate()
        proc.wait(10)
    cli_all: list[float] = []
    for kind, qs in mix.items():
        seconds = []
        for _ in range(args.runs):
            for q in qs:
                started = time.perf_counter()
                rows = store.search_articles(db, q)
                seconds.append(time.perf_counter() - started)
                if not rows and kind != "phrase":
                    raise SystemExit(f"search_articles found nothing for {q!r}")
        out[f"search_articles: {kind}"] = stats(seconds)
        cli_all += seconds
    out["search_articles: all kinds"] = stats(cli_all)
    seconds = []
    for q in [qs[0] for qs in mix.values()][: args.cli_runs]:
        started = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv/bin/aggregator"), "--db", args.db, "search", q],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ},
        )
        seconds.append(time.perf_counter() - started)
    out["`aggregator search` process (startup included)"] = stats(seconds)

    print(f"{articles:,} articles in {args.db}; {args.runs} runs of each request")
    print(f"{'measure':<48} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, m in out.items():
        extra = ""
        if "facets_missing" in m:
            extra = "  facets missing: " + (", ".join(m["facets_missing"]) or "none")
        if "tag" in m:
            extra = f"  ({m['tag']})"
        print(
            f"{name:<48} {m['n']:>4} {m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} "
            f"{m['max_ms']:>8.1f}{extra}"
        )
    for error in ERRORS:
        print("error:", error)
    print(
        json.dumps(
            {
                "benchmark": "search",
                "articles": articles,
                "runs": args.runs,
                **out,
                "errors": ERRORS,
            }
        )
    )


if __name__ == "__main__":
    main()
