"""Search and browse latency on a collection made by make_collection.py, served as a user runs it.

Starts `aggregator --db DB serve --port P` (a subprocess on a free port) and measures over HTTP,
one request at a time, p50 and p95 of:
  search      the canned `search` query page (/aggregator/search?q=...; ranked, <mark> snippets)
              for rare, mid-frequency and common words, two words, a phrase and a prefix, several
              queries per kind drawn from make_collection's Zipf vocabulary
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

import make_collection  # noqa: E402

from aggregator import store  # noqa: E402
from aggregator.web.facets import tag_query  # noqa: E402


def queries() -> dict[str, list[str]]:
    """Several queries per kind; ranks are positions in the Zipf vocabulary (0 = most common)."""
    w = make_collection.vocabulary()
    return {
        "rare": [w[r] for r in (12_000, 17_000, 21_000, 25_000, 29_000)],
        "mid": [w[r] for r in (400, 700, 1_000, 1_500, 2_500)],
        "common": [w[r] for r in (0, 2, 3, 5, 8)],
        "two words": [
            f"{w[a]} {w[b]}"
            for a, b in ((50, 800), (10, 3_000), (120, 400), (2, 9_000), (300, 600))
        ],
        "phrase": [f'"{w[a]} {w[b]}"' for a, b in ((0, 1), (3, 7), (20, 40), (100, 5), (60, 61))],
        # the first four letters of mid-frequency words, as someone types the start of a word
        "prefix": [w[r][:4] + "*" for r in (300, 600, 900, 1_300, 2_000)],
    }


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
    mix = queries()
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
    proc = serve(args.db, port)
    try:
        get(f"{base}/search?q=warmup")  # first request opens and caches the schema
        get(f"{base}/articles")
        search_all: list[float] = []
        for kind, qs in mix.items():
            seconds = []
            for _ in range(args.runs):
                for q in qs:
                    elapsed, body = get(f"{base}/search?" + urllib.parse.urlencode({"q": q}))
                    if b"<mark>" not in body:
                        raise SystemExit(f"no <mark> snippet for {q!r}")
                    seconds.append(elapsed)
            out[f"http search: {kind}"] = stats(seconds)
            search_all += seconds
        out["http search: all kinds"] = stats(search_all)
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
                if not rows:
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
