"""Import benchmark: `aggregator import` of a large Pocket CSV and of a 700-feed OPML.

Generates in a temporary folder a Pocket CSV as Pocket's 2024 export writes it (columns
title,url,time_added,cursor,tags,status in that order; quoted titles with commas, quotes and
unicode; 0-5 `|`-separated tags drawn from 300 with a skewed distribution; dates over ten
years; a third archived) with --links rows, a 10,000-row file cut from it, and an OPML of
--feeds feeds in nested folders. Each phase runs the CLI as a user does, in a fresh process
with its output piped (so no progress bar), startup included:

  opml        --feeds feeds into a fresh database, then the same file again (idempotent)
  pocket-10k  10,000 links into a fresh database
  pocket      --links links into a fresh database, then the same file again

Then, in this process, the same --links import split into reading the file (format layer) and
storing it (service.import_batch), and checks: row counts, FTS5 integrity-check, the JSON tags
column against the join table, database size.

    .venv/bin/python benchmarks/import.py [--links 100000] [--feeds 700] [--runs 1]

With --hostile, instead: hostile files that must be refused or read within bounds (a Pocket zip
whose member unpacks to 256 MiB of `[{},{},...]`, JSON just under and just over the budget of
values, a CSV of 10 million rows, Netscape HTML nested 1000 deep and 400 kB of "<a", OPML of
10,001 outlines or 1000 levels, an XXE DOCTYPE), each imported by the CLI in a fresh process:
wall seconds, peak RSS, exit code and the first line it printed.

    .venv/bin/python benchmarks/import.py --hostile
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGGREGATOR = str(Path(sys.executable).parent / "aggregator")

_WORDS = (
    "café naïve 日本語 data feed reader python sqlite article search index release update "
    "network memory storage query browser garden history science climate music market "
    "energy policy design language library engine planet river mountain city"
).split()


def make_pocket_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    tags = [f"topic-{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(300)]  # Zipf-like: a few tags on many links
    start = 1_400_000_000
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("title,url,time_added,cursor,tags,status\n")
        for i in range(rows):
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
            title = f'{words.capitalize()}, part {i}: a ""quoted"" word'
            chosen = sorted(set(rng.choices(tags, weights, k=rng.randint(0, 5))))
            host = f"site{rng.randint(1, 2_000)}.example"
            added = start + rng.randint(0, 315_000_000)
            status = "archive" if rng.random() < 0.33 else "unread"
            out.write(
                f'"{title}",https://{host}/posts/{i}?ref=pocket,{added},'
                f"{i * 7919 % 1_000_003},{'|'.join(chosen)},{status}\n"
            )


def make_opml(path: Path, feeds: int, seed: int = 2) -> None:
    rng = random.Random(seed)
    folders = [f"Folder {i}" for i in range(30)]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "<head><title>Benchmark subscriptions</title></head>",
        "<body>",
    ]
    per = max(1, feeds // len(folders))
    n = 0
    for folder in folders:
        lines.append(f'<outline text="{folder}" title="{folder}">')
        lines.append(f'<outline text="{folder} / nested">')
        for _ in range(per):
            if n >= feeds:
                break
            cat = rng.choice(("news", "tech,science", "/blogs/personal", ""))
            lines.append(
                f'<outline type="rss" text="Feed {n} &amp; co" title="Feed {n}" '
                f'xmlUrl="https://feeds{n % 97}.example/{n}/rss.xml" '
                f'htmlUrl="https://feeds{n % 97}.example/{n}/" category="{cat}"/>'
            )
            n += 1
        lines.append("</outline></outline>")
    while n < feeds:
        lines.append(
            f'<outline type="rss" text="Loose {n}" xmlUrl="https://loose.example/{n}.xml"/>'
        )
        n += 1
    lines += ["</body>", "</opml>"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_cli(db: Path, file: Path) -> dict[str, object]:
    """One `aggregator import` in a fresh process: wall seconds, CPU seconds (user + system,
    which a busy machine sways less than wall), peak RSS, its summary line."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [AGGREGATOR, "--db", str(db), "import", str(file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"import of {file} failed: {err.strip()}")
    return {
        "seconds": round(seconds, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "summary": out.strip().splitlines()[-1],
    }


def check(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES('integrity-check', 1)")
        stale = conn.execute(
            "SELECT count(*) FROM articles a WHERE tags != coalesce((SELECT json_group_array(name) "
            "FROM (SELECT t.name FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            "WHERE at.article_id = a.id ORDER BY t.name COLLATE NOCASE)), '[]')"
        ).fetchone()[0]
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM articles_fts), "
            "(SELECT count(*) FROM articles_tags), (SELECT count(*) FROM feeds)"
        ).fetchone()
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {
        "articles": counts[0],
        "fts_rows": counts[1],
        "article_tags": counts[2],
        "feeds": counts[3],
        "fts_integrity": "ok",
        "stale_tag_json": stale,
        "db_mb": round(size / 1e6, 1),
    }


def in_process(db: Path, file: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from aggregator import service, store

    database = store.open_db(db)
    started, cpu = time.perf_counter(), time.process_time()
    batch = service.read_import_file(file)
    read, read_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    service.import_batch(database, batch)
    stored, stored_cpu = time.perf_counter() - started, time.process_time() - cpu
    database.conn.close()
    return {
        "read_s": round(read, 3),
        "read_cpu_s": round(read_cpu, 3),
        "store_s": round(stored, 3),
        "store_cpu_s": round(stored_cpu, 3),
        "links_per_s_store": round(len(batch.links) / stored),
    }


def make_hostile(folder: Path) -> list[tuple[str, Path]]:
    """The hostile files of --hostile, written into `folder`."""
    import zipfile

    files: list[tuple[str, Path]] = []

    def add(name: str, filename: str, data: bytes | None = None) -> Path:
        path = folder / filename
        if data is not None:
            path.write_bytes(data)
        files.append((name, path))
        return path

    bomb = add("pocket zip, member of 256 MiB", "pocket.zip")
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("part_000000.json", "w", force_zip64=True) as member:
            member.write(b"[")
            chunk = b"{}," * (1 << 20)
            for _ in range(256 // 3 + 1):
                member.write(chunk)
            member.write(b"{}]")
    # counted as brackets + commas: 2,499,990 arrays come to just under the budget
    add("JSON, 2,499,990 empty arrays", "under.json", b"[" + b"[]," * 2_499_989 + b"[]]")
    add("JSON, 5,000,001 empty objects", "over.json", b"[" + b"{}," * 5_000_000 + b"{}]")
    line = "t,https://e.example/,1600000000,,unread\n"
    for name, rows in (("CSV, 10 million rows", 10_000_000), ("CSV, 6 million rows", 6_000_000)):
        path = add(name, f"part_{rows}.csv")
        with path.open("w") as out:
            out.write("title,url,time_added,tags,status\n")
            for _ in range(rows // 100_000):
                out.write(line * 100_000)
    deep = "<DL><p><DT><H3>f</H3>\n" * 1000 + "</DL><p>\n" * 1000
    add(
        "Netscape, 1000 levels", "deep.html", b"<!DOCTYPE NETSCAPE-Bookmark-file-1>" + deep.encode()
    )
    starts = b"<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>" + b"<a" * 200_000
    add("Netscape, 400 kB of '<a'", "starts.html", starts)
    outlines = b"".join(b'<outline xmlUrl="https://e.example/%d"/>' % i for i in range(10_001))
    add(
        "OPML, 10,001 outlines",
        "many.opml",
        b'<opml version="2.0"><body>' + outlines + b"</body></opml>",
    )
    nested = b'<outline text="x">' * 1000 + b"</outline>" * 1000
    add(
        "OPML, 1000 levels", "deep.opml", b'<opml version="2.0"><body>' + nested + b"</body></opml>"
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<opml version="2.0"><body><outline text="&x;" xmlUrl="https://e.example/"/></body></opml>'
    )
    add("OPML, XXE DOCTYPE", "xxe.opml", xxe)
    return files


def run_hostile() -> int:
    with tempfile.TemporaryDirectory(prefix="aggregator-hostile-") as tmp:
        folder = Path(tmp)
        print(f"{'file':<34} {'MB':>6} {'exit':>4} {'wall s':>7} {'peak MB':>8}  first line")
        for name, path in make_hostile(folder):
            size = path.stat().st_size / 1e6
            started = time.perf_counter()
            proc = subprocess.Popen(
                [AGGREGATOR, "--db", str(folder / f"{path.stem}.db"), "import", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            err = proc.stderr.read() if proc.stderr else ""
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            code = os.waitstatus_to_exitcode(status)
            first = (err.strip().splitlines() or [""])[0][:110]
            print(
                f"{name:<34} {size:>6.1f} {code:>4} {seconds:>7.2f} "
                f"{usage.ru_maxrss / 1024:>8.1f}  {first}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--links", type=int, default=100_000, help="rows of the Pocket CSV")
    parser.add_argument("--feeds", type=int, default=700, help="feeds in the OPML")
    parser.add_argument("--runs", type=int, default=1, help="repeat each phase, keep the best")
    parser.add_argument("--hostile", action="store_true", help="hostile files instead")
    args = parser.parse_args(argv)
    if args.hostile:
        return run_hostile()

    with tempfile.TemporaryDirectory(prefix="aggregator-import-") as tmp:
        folder = Path(tmp)
        big, small, opml = folder / "part_000000.csv", folder / "small.csv", folder / "subs.opml"
        make_pocket_csv(big, args.links)
        with big.open(encoding="utf-8") as src, small.open("w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i > 10_000:
                    break
                dst.write(line)
        make_opml(opml, args.feeds)

        results: list[dict[str, object]] = []
        checks: dict[str, object] = {}

        def phase(name: str, file: Path, items: int, again: bool) -> None:
            best: dict[str, dict[str, object]] = {}
            for run in range(args.runs):
                db = folder / f"{name}-{run}.db"
                steps = [("first", run_cli(db, file))]
                if again:
                    steps.append(("again", run_cli(db, file)))
                for step, figures in steps:
                    key = f"{name} ({step})"
                    if key not in best or figures["seconds"] < best[key]["seconds"]:  # type: ignore[operator]
                        best[key] = figures
                checks[name] = check(db)
            for key, figures in best.items():
                results.append(
                    {
                        "phase": key,
                        "items": items,
                        **figures,
                        "items_per_s": round(items / figures["seconds"]),
                    }
                )  # type: ignore[operator]

        phase("opml", opml, args.feeds, again=True)
        phase("pocket-10k", small, min(10_000, args.links), again=False)
        phase("pocket", big, args.links, again=True)
        split = in_process(folder / "split.db", big)

    print(
        f"{'phase':<22} {'items':>8} {'wall s':>8} {'CPU s':>7} {'items/s':>9} {'peak MB':>8}  "
        "summary"
    )
    for r in results:
        print(
            f"{r['phase']:<22} {r['items']:>8} {r['seconds']:>8.2f} {r['cpu_s']:>7.2f} "
            f"{r['items_per_s']:>9} {r['peak_rss_mb']:>8}  {r['summary']}"
        )
    print(
        f"\nin process, {args.links} links: reading the file {split['read_s']:.2f} s "
        f"(CPU {split['read_cpu_s']:.2f} s), storing {split['store_s']:.2f} s "
        f"(CPU {split['store_cpu_s']:.2f} s, {split['links_per_s_store']} links/s)"
    )
    for name, c in checks.items():
        print(f"check {name}: {c}")
    print(
        json.dumps(
            {
                "benchmark": "import",
                "links": args.links,
                "feeds": args.feeds,
                "cpus": os.cpu_count(),
                "results": results,
                "split": split,
                "checks": checks,
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
