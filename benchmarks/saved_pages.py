"""Saved pages as a user gets them, this checkout against others: the scrapinghub pages served by
the test suite's local HTTP server on 127.0.0.1 (decompressed, text/html without a charset), then
`aggregator save URL... --tag benchmark` and `aggregator fetch`, each a process of its own run
with each checkout's own `.venv`, the checkouts in turns for `--rounds` rounds. Reports wall
seconds of save and of fetch, pages/s over both, and CPU seconds of each command with everything
it started: this process is a child subreaper (Linux), so processes a command leaves to be
reparented (a fork server, multiprocessing's resource tracker, their workers) are reaped here and
their CPU counted in RUSAGE_CHILDREN. Then the stored text's F1 (as `extraction.py` scores it).

    .venv/bin/python benchmarks/saved_pages.py --compare-with ../before --rounds 4

Not covered: real hosts (latency, TLS, many hosts), pages other than these 91, the web's
background save. The server runs in this process: it takes CPU from the commands on a small
machine."""

from __future__ import annotations

import argparse
import ctypes
import gzip
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import evaluate  # noqa: E402
from tests.httpserver import LocalServer, Route  # noqa: E402

_ENV = os.environ.get("AGGREGATOR_CORPORA")
CORPUS = "extraction/scrapinghub-article-extraction-benchmark"
PR_SET_CHILD_SUBREAPER = 36


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(checkout: Path, args: list[str]) -> tuple[float, float]:
    """One command of `checkout`: wall seconds, and CPU seconds of it and all it started."""
    cpu, start = children_cpu(), time.monotonic()
    command = [str(checkout / ".venv/bin/python"), "-c", "from aggregator.cli import cli; cli()"]
    done = subprocess.run([*command, *args], cwd=checkout, capture_output=True, text=True)
    wall = time.monotonic() - start
    while True:  # what it left behind, reparented to this process
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    if done.returncode:
        raise SystemExit(f"{checkout}: {args[2]} failed: {done.stderr[-2000:]}")
    return wall, children_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-with", action="append", default=[], type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpora", type=Path, default=Path(_ENV) if _ENV else None)
    args = parser.parse_args()
    if args.corpora is None:
        parser.error("name the corpora folder with --corpora or AGGREGATOR_CORPORA")
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        parser.error("cannot become a child subreaper: CPU of reparented processes is lost")
    corpus = args.corpora / CORPUS
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    checkouts = [ROOT, *(p.resolve() for p in args.compare_with)]
    server = LocalServer(poll_interval=0.05).start()
    os.environ["AGGREGATOR_ALLOW_HOSTS"] = f"127.0.0.1:{server.port}"
    urls = {}
    for key in sorted(truth):
        page = gzip.decompress((corpus / "html" / f"{key}.html.gz").read_bytes())
        urls[key] = server.add(f"/articles/{key}.html", Route(body=page, content_type="text/html"))
    results: list[dict[str, object]] = []
    try:
        for round_ in range(args.rounds):
            for checkout in checkouts:
                with tempfile.TemporaryDirectory() as tmp:
                    db = str(Path(tmp) / "aggregator.db")
                    saved = run(
                        checkout, ["--db", db, "save", *urls.values(), "--tag", "benchmark"]
                    )
                    fetched = run(checkout, ["--db", db, "fetch"])
                    conn = sqlite3.connect(db)
                    stored = dict(conn.execute("SELECT url, text FROM articles").fetchall())
                    status = Counter(
                        r[0] for r in conn.execute("SELECT fetch_status FROM articles")
                    )
                    conn.close()
                score = evaluate(truth, {k: stored.get(u) or "" for k, u in urls.items()})
                row = {
                    "round": round_,
                    "checkout": str(checkout),
                    "save_s": round(saved[0], 3),
                    "save_cpu_s": round(saved[1], 3),
                    "fetch_s": round(fetched[0], 3),
                    "fetch_cpu_s": round(fetched[1], 3),
                    "pages_per_s": round(len(urls) / (saved[0] + fetched[0]), 1),
                    "f1": round(score["f1"], 4),
                    "fetch_status": dict(status),
                    "load": round(os.getloadavg()[0], 2),
                }
                results.append(row)
                print(
                    f"round {round_} {checkout}: save {saved[0]:.2f} s (CPU {saved[1]:.2f}), "
                    f"fetch {fetched[0]:.2f} s (CPU {fetched[1]:.2f}), "
                    f"{row['pages_per_s']} pages/s, F1 {row['f1']}, {dict(status)}, "
                    f"load {row['load']}",
                    flush=True,
                )
    finally:
        server.stop()
    print(json.dumps({"saved_pages": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
