"""Store start-up: what opening the database costs a command, in fresh processes.

  open         `store.open_db` of an existing database and `store.feeds_due` (what every
               write command does first), sqlite-utils not imported
  sqlite-utils `import sqlite_utils` and `sqlite_utils.Database(conn)` over the same file (what
               `open_db` would add if it gave sqlite-utils' Database and Migrations directly)

Each is run --runs times in a new interpreter; the medians of wall and CPU time are reported.

    .venv/bin/python benchmarks/store_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = """
import sys, time
sys.path.insert(0, {root!r})
t0, c0 = time.perf_counter(), time.process_time()
{body}
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(wall, cpu)
"""
BODIES = {
    "open": "from aggregator import store\ndb = store.open_db({db!r})\nstore.feeds_due(db)\n"
    "assert 'sqlite_utils' not in sys.modules",
    "sqlite-utils": "import sqlite3, sqlite_utils\n"
    "sqlite_utils.Database(sqlite3.connect({db!r}))",
}


def run(body: str, runs: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", MEASURE.format(root=str(ROOT), body=body)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        walls.append(float(out[0]))
        cpus.append(float(out[1]))
    return {
        "wall_ms": round(statistics.median(walls) * 1000, 1),
        "cpu_ms": round(statistics.median(cpus) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from aggregator import store

    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        db_path = str(Path(tmp) / "a.db")
        db = store.open_db(db_path)
        for i in range(50):
            store.add_feed(db, f"https://site{i}.example/feed.xml")
        db.conn.close()
        out = {name: run(body.format(db=db_path), args.runs) for name, body in BODIES.items()}
    for name, m in out.items():
        print(f"{name:<14} wall {m['wall_ms']:>7.1f} ms   CPU {m['cpu_ms']:>7.1f} ms")
    print(json.dumps({"benchmark": "store_startup", "runs": args.runs, **out}))


if __name__ == "__main__":
    main()
