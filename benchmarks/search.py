"""Search and browse latency on a collection made by make_collection.py, served as a user runs it.

Starts `aggregator --db DB serve --port P` (a subprocess on a free port) and measures over HTTP,
one request at a time, p50 and p95 of:
  search      the `search` page (/aggregator/search?q=...&sort=...) in both sorts (best match,
              newest) for single words, two words, phrases and 3- and 4-letter prefixes, the
              words taken from the collection's own full-text vocabulary at document frequencies
              of 30, 15, 10, 2, 1 and 0.5 % and between 0.05 and 0.01 % (DF_LEVELS); with
              --drop-caches, one query per shape again right after the OS page cache is dropped
  table       the articles table page with its default facets (/aggregator/articles)
  tag page    the page a tag link leads to (the link the whole table's tags facet makes for
              the tag, as the server makes it) for the most used, a middling and a rare tag
and the same searches through `store.search_articles` (what `aggregator search` runs) in
process, plus a few `aggregator search` runs as a user starts them (process startup included).
Checks that the table page's facet_results hold every configured facet (a facet that passes
facet_time_limit_ms is silently missing) and prints which are missing if any. The server runs
without its background refresh (`--refresh-every 0`): its first run, a minute after start, would
fetch the collection's feeds while the pages are measured.

With --compare-with CHECKOUT (another checkout of the project with its own .venv; repeatable),
that checkout's `aggregator serve` runs beside this one (on its --compare-db, default --db) and
the table and tag pages are measured on every server, in turns request by request, so all see
the same load.

    .venv/bin/python benchmarks/search.py --db /tmp/agg-1m.db [--runs 5]
    .venv/bin/python benchmarks/search.py --db NEW.db --pages-only \
        --compare-with ../before --compare-db OLD.db --runs 10
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


def stats(seconds: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


def serve(db: str, port: int, checkout: Path = ROOT) -> subprocess.Popen[bytes]:
    command = [str(checkout / ".venv/bin/aggregator"), "--db", db, "serve", "--port", str(port)]
    options = subprocess.run(
        [*command[:-2], "--help"], capture_output=True, text=True, check=True
    ).stdout
    if "--refresh-every" in options:  # a checkout older than the background refresh has none
        command += ["--refresh-every", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def tag_link(base: str, tag: str) -> str:
    """The page the whole table's tags facet links to for `tag` (as this server makes it)."""
    data = json.loads(get(f"{base}/articles.json?_facet_size=max&_size=1")[1])
    toggle = next(
        r["toggle_url"] for r in data["facet_results"]["tags"]["results"] if r["value"] == tag
    )
    url = urllib.parse.urlsplit(toggle)
    pairs = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        if k not in ("_facet_size", "_size")
    ]
    return f"{base}/articles?{urllib.parse.urlencode(pairs)}"


def pages(
    bases: dict[str, str], tags: dict[str, str], runs: int
) -> dict[str, dict[str, list[float]]]:
    """Seconds per request of the table page and the tag pages on each server; the servers take
    turns request by request (the first one first in even rounds, last in odd ones)."""
    urls = {
        name: {
            "table page + facets": f"{base}/articles",
            **{f"{label} page": tag_link(base, tag) for label, tag in tags.items()},
        }
        for name, base in bases.items()
    }
    for by_page in urls.values():
        for url in by_page.values():
            get(url)  # each page once before timing: its schema and pages read
    seconds: dict[str, dict[str, list[float]]] = {
        name: {page: [] for page in by_page} for name, by_page in urls.items()
    }
    order = list(bases)
    for i in range(runs * 2):
        for page in urls[order[0]]:
            for name in order if i % 2 == 0 else order[::-1]:
                seconds[name][page].append(get(urls[name][page])[0])
    return seconds


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
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="measure only the table and tag pages (no searches, no `aggregator search`)",
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        action="append",
        default=[],
        help="another checkout of the project (with its .venv) whose server is measured beside "
        "this one on the table and tag pages (repeatable)",
    )
    parser.add_argument(
        "--compare-db",
        action="append",
        default=[],
        help="the collection each --compare-with checkout serves, in the same order "
        "(default: --db)",
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
    compared: dict[str, dict[str, Any]] = {}
    db = store.open_db(args.db)
    tag_rows = db.execute(
        "SELECT name, article_count FROM tags ORDER BY article_count DESC"
    ).fetchall()
    tags = {
        "top tag": tag_rows[0][0],
        "middling tag": tag_rows[len(tag_rows) // 10][0],
        "rare tag": tag_rows[-1][0],
    }
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    levels = vocabulary_levels(db, args.words) if not args.pages_only else {}
    mix = queries(levels) if not args.pages_only else {}
    if levels:
        print("words by document frequency:", json.dumps(levels))
    proc = serve(args.db, port)
    others: list[subprocess.Popen[bytes]] = []
    bases = {"this": base}
    try:
        for i, checkout in enumerate(args.compare_with):
            other_port = free_port()
            other_db = args.compare_db[i] if i < len(args.compare_db) else args.db
            others.append(serve(other_db, other_port, checkout.resolve()))
            bases[f"{checkout} on {other_db}"] = f"http://127.0.0.1:{other_port}/aggregator"
        get(f"{base}/search?q=warmup")  # first request opens and caches the schema
        get(f"{base}/articles")
        for sort in ("relevance", "newest") if not args.pages_only else ():
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
        timed = pages(bases, tags, args.runs)
        for name, by_page in timed.items():
            into = out if name == "this" else compared.setdefault(name, {})
            for page, seconds in by_page.items():
                into[f"http {page}"] = stats(seconds)
                label = page.removesuffix(" page")
                if label in tags:
                    into[f"http {page}"]["tag"] = tags[label]
        data = json.loads(get(f"{base}/articles.json")[1])
        wanted = ["tags", "feed_title", "site", "author", "state", "starred", "published_month"]
        missing = [f for f in wanted if f not in data.get("facet_results", {})]
        out["http table page + facets"]["facets_missing"] = missing
        if args.drop_caches:  # last: every later read of the file is cold too
            for sort in ("relevance", "newest"):
                cold: list[float] = []
                for q in [qs[0] for qs in mix.values()]:
                    drop_caches()
                    url = f"{base}/search?" + urllib.parse.urlencode({"q": q, "sort": sort})
                    cold.append(get(url)[0])
                out[f"http search {sort}: after dropping the OS cache"] = stats(cold)
    finally:
        for running in (proc, *others):
            running.terminate()
            running.wait(10)
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
    if cli_all:
        out["search_articles: all kinds"] = stats(cli_all)
    seconds = []
    for q in [qs[0] for qs in mix.values()][: args.cli_runs]:  # none with --pages-only
        started = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv/bin/aggregator"), "--db", args.db, "search", q],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ},
        )
        seconds.append(time.perf_counter() - started)
    if seconds:
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
    for other_name, other_out in compared.items():
        print(f"beside it, {other_name}, the same requests in turns:")
        print(f"{'measure':<48} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'this/that':>9}")
        for name, m in other_out.items():
            ratio = out[name]["p50_ms"] / m["p50_ms"]
            print(f"{name:<48} {m['n']:>4} {m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} {ratio:>9.2f}")
    for error in ERRORS:
        print("error:", error)
    print(
        json.dumps(
            {
                "benchmark": "search",
                "articles": articles,
                "runs": args.runs,
                **out,
                **({"compared": compared} if compared else {}),
                "errors": ERRORS,
            }
        )
    )


if __name__ == "__main__":
    main()
