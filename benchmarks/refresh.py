"""Feed refresh benchmark: Aggregator (and optionally lemon24/reader) against a local server.

A server process on loopback serves N feeds (RSS 2.0 with escaped HTML, RSS 2.0 with
content:encoded, Atom, in turn) of 20 entries with about 2 KB of HTML each, with an added latency
per request, ETag and Last-Modified (answering 304 to conditional requests) and gzip. Feeds are
spread over many loopback addresses (127.0.1.1, 127.0.1.2, ...), about ten feeds per host, the
way a thousand real feeds live on many hosts; so a per-host limit does not throttle the run.

Phases, each a fresh subprocess (startup included, as a user would run it):
  first      Aggregator: `aggregator subscribe URL...` then `aggregator fetch`;
             reader: add_feed for each URL then update_feeds(workers=20)
  unchanged  every feed answers 304
  changed    10% of the feeds gained two entries (new body, new validators)

Peak memory is sampled from /proc every 10 ms over the measured process and all its
descendants (pool workers), RSS summed (an upper bound: shared pages count once per process).
reader runs from a separate venv (`--reader-python`, default /tmp/bench-venv/bin/python with
`pip install reader sgmllib3k`), made by this script when it is missing; nothing is installed in
the project's environment. `--rounds N` alternates the tools N times (fresh databases, server
reset) and reports each phase's median, with every round's time in the JSON line.
`--compare-with DIR` adds another checkout of Aggregator (with its own .venv) to the rotation,
to measure a change before and after in the same minutes. `--http-only` measures the HTTP layer
alone: CPU to import it and per conditional request (answered 304).

    .venv/bin/python benchmarks/refresh.py --feeds 300 1000 --vs-reader --rounds 3
    .venv/bin/python benchmarks/refresh.py --vs-reader --rounds 3 --compare-with ../before
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import gzip
import hashlib
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEEDS_PER_HOST = 10
NEW_PER_CHANGE = 2

# ---------------------------------------------------------------------------------------------
# Feed documents

_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there one all we their can has been if more when will would "
    "who so no data feed reader server python sqlite article search index release version update "
    "network memory latency storage query browser kernel compiler garden history science climate "
    "music market energy policy design language library engine window planet river mountain city"
).split()


def _paragraphs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(55, 75))]
        words[5] = f'<a href="/notes/{i}">{words[5]}</a>'
        words[12] = f"<strong>{words[12]}</strong>"
        words[20] = f"<em>{words[20]}</em>"
        out.append("<p>" + " ".join(words).capitalize() + ".</p>")
    return out


_PARAS = _paragraphs(7, 400)


def _entry_html(feed: int, serial: int) -> str:
    rng = random.Random(feed * 100_003 + serial)
    paras = [rng.choice(_PARAS) for _ in range(5)]
    return (
        f"<p>Entry {serial} of feed {feed}: {rng.choice(_WORDS)} {rng.choice(_WORDS)}.</p>"
        + "".join(paras)
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


BASE_TIME = 1_700_000_000


def feed_document(feed: int, generation: int, host: str, entries: int) -> tuple[bytes, str]:
    """The feed's body at a generation (each generation adds NEW_PER_CHANGE entries) and its
    Last-Modified."""
    newest = entries + generation * NEW_PER_CHANGE
    serials = range(newest - 1, newest - 1 - entries, -1)
    modified = BASE_TIME + generation * 3600 + feed
    site = f"http://{host}/site{feed}/"
    kind = feed % 3
    items = []
    for s in serials:
        when = BASE_TIME - (entries - s) * 3600 + feed
        title = f"Post {s} from feed {feed} about {_WORDS[(feed + s) % len(_WORDS)]}"
        link = f"{site}posts/{s}.html"
        html = _entry_html(feed, s)
        if kind == 1:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
            items.append(
                f'<entry><title>{_xml_escape(title)}</title><link rel="alternate" href="{link}"/>'
                f"<id>tag:{host},2024:feed{feed}/{s}</id><published>{stamp}</published>"
                f"<updated>{stamp}</updated><author><name>Author {feed % 17}</name></author>"
                f'<content type="html">{_xml_escape(html)}</content></entry>'
            )
        else:
            date = email.utils.formatdate(when, usegmt=True)
            body = (
                f"<description>{_xml_escape(html)}</description>"
                if kind == 0
                else f"<description>{_xml_escape(title)}</description>"
                f"<content:encoded><![CDATA[{html}]]></content:encoded>"
            )
            items.append(
                f"<item><title>{_xml_escape(title)}</title><link>{link}</link>"
                f'<guid isPermaLink="false">feed{feed}-{s}</guid><pubDate>{date}</pubDate>'
                f"<dc:creator>Author {feed % 17}</dc:creator>{body}</item>"
            )
    if kind == 1:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(modified))
        doc = (
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>Feed {feed}</title><link href="{site}"/><id>{site}</id>'
            f"<updated>{stamp}</updated>" + "".join(items) + "</feed>"
        )
    else:
        doc = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Feed {feed}</title><link>{site}</link><description>Benchmark feed {feed}"
            "</description>" + "".join(items) + "</channel></rss>"
        )
    return doc.encode("utf-8"), email.utils.formatdate(modified, usegmt=True)


# ---------------------------------------------------------------------------------------------
# The server (a separate process)


def host_of(feed: int) -> str:
    n = feed // FEEDS_PER_HOST + 1
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def feed_urls(count: int, port: int) -> list[str]:
    return [f"http://{host_of(i)}:{port}/feeds/{i}.xml" for i in range(count)]


def _serve(
    count: int, entries: int, latency: float, ready: "multiprocessing.connection.Connection"
) -> None:
    generations = [0] * count
    cache: dict[tuple[int, int], tuple[bytes, bytes, str, str]] = {}
    stats = {"requests": 0, "not_modified": 0}

    def document(feed: int, port: int) -> tuple[bytes, bytes, str, str]:
        key = (feed, generations[feed])
        if key not in cache:
            body, modified = feed_document(
                feed, generations[feed], f"{host_of(feed)}:{port}", entries
            )
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            cache[key] = (body, gzip.compress(body, 5), etag, modified)
        return cache[key]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                status, extra, payload = await respond(method, target, headers, port)
                keep = headers.get("connection", "").lower() != "close"
                out = [
                    f"HTTP/1.1 {status}",
                    f"Content-Length: {len(payload)}",
                    "Connection: " + ("keep-alive" if keep else "close"),
                ] + extra
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def respond(
        method: str, target: str, headers: dict[str, str], port: int
    ) -> tuple[str, list[str], bytes]:
        if target.startswith("/_control/"):
            action = target.split("/")[2].split("?")[0]
            # Documents are built (and gzipped) here, before the measured phase, never while a
            # tool is being timed: building one costs the server a few ms of CPU, which on two
            # cores would be taken from whichever tool runs in parallel.
            if action == "reset":  # cached documents are keyed by generation: still valid
                generations[:] = [0] * count
            elif action == "bump":
                fraction = float(target.split("fraction=")[1])
                step = max(1, round(1 / fraction)) if fraction else count + 1
                for i in range(0, count, step):
                    generations[i] += 1
                    document(i, port)
            elif action == "stats":
                return "200 OK", ["Content-Type: application/json"], json.dumps(stats).encode()
            return "200 OK", [], b"ok"
        stats["requests"] += 1
        await asyncio.sleep(latency)
        try:
            feed = int(target.rsplit("/", 1)[1].split(".")[0])
            assert 0 <= feed < count
        except (ValueError, IndexError, AssertionError):
            return "404 Not Found", [], b"not found"
        body, zipped, etag, modified = document(feed, port)
        common = [f"ETag: {etag}", f"Last-Modified: {modified}"]
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if (inm and inm == etag) or (not inm and ims and ims == modified):
            stats["not_modified"] += 1
            return "304 Not Modified", common, b""
        if "gzip" in headers.get("accept-encoding", ""):
            return (
                "200 OK",
                common
                + [
                    "Content-Type: application/rss+xml; charset=utf-8",
                    "Content-Encoding: gzip",
                    "Vary: Accept-Encoding",
                ],
                zipped,
            )
        return "200 OK", common + ["Content-Type: application/rss+xml; charset=utf-8"], body

    async def main() -> None:
        hosts = sorted({host_of(i) for i in range(count)})
        first = await asyncio.start_server(handle, hosts[0], 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        servers = [first] + [
            await asyncio.start_server(handle, h, port, backlog=1024) for h in hosts[1:]
        ]
        for i in range(count):  # build every document before the clock starts
            document(i, port)
        ready.send(port)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def control(port: int, action: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://{host_of(0)}:{port}/_control/{action}", timeout=60) as r:
        r.read()


# ---------------------------------------------------------------------------------------------
# Measuring a subprocess


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command; wall seconds, CPU seconds (user + system, of it and the descendants it
    waited for: steadier than wall time on a busy machine) and peak RSS (MB) of it plus its
    descendants."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            total = sum(_rss_kb(p) for p in _descendants(proc.pid))
            peak = max(peak, total)
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err.decode()[-2000:]}"
        )
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak / 1024,
        "stdout": out.decode()[-300:],
    }


READER_SCRIPT = """
import json, sys, time
from reader import make_reader
db, phase, urls_file, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
r = make_reader(db)
if phase == "first":
    for url in open(urls_file).read().split():
        r.add_feed(url, exist_ok=True)
r.update_feeds(workers=workers, scheduled=False)  # every feed, as `aggregator fetch` does
print(json.dumps({"entries": r.get_entry_counts().total}))
"""


HTTP_SCRIPT = """
import asyncio, json, sys, time
started = time.process_time()
from aggregator import fetch
imported = time.process_time() - started
urls = sys.stdin.read().split()
PER_HOST, IN_FLIGHT = 6, 128  # the defaults of `aggregator fetch`

async def main():
    async with fetch.make_client() as client:
        tags = {r.url: r.etag for r in await asyncio.gather(
            *(fetch.fetch_url(client, u) for u in urls))}
    async with fetch.make_client() as client:  # new connections, as a new run has
        total, hosts = asyncio.Semaphore(IN_FLIGHT), {}
        async def one(url):
            host = hosts.setdefault(url.split("/")[2], asyncio.Semaphore(PER_HOST))
            async with host, total:
                return await fetch.fetch_url(client, url, etag=tags[url])
        cpu = time.process_time()
        results = await asyncio.gather(*(one(u) for u in urls))
        cpu = time.process_time() - cpu
    assert {r.status for r in results} == {304}, {r.status for r in results}
    return cpu

cpu = asyncio.run(main())
print(json.dumps({"import_cpu_ms": imported * 1000, "cpu_ms_per_request": cpu * 1000 / len(urls)}))
"""


def bench_http(count: int, args: argparse.Namespace) -> dict[str, object]:
    """CPU of the HTTP layer alone, per checkout: importing `aggregator.fetch`, and one
    conditional GET answered 304 (the unchanged refresh's request), on new connections with the
    CLI's limits, in a process of its own per round."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_serve, args=(count, args.entries, args.latency_ms / 1000, child), daemon=True
    )
    server.start()
    port = parent.recv()
    urls = " ".join(feed_urls(count, port))
    env = {**os.environ, "AGGREGATOR_ALLOW_HOSTS": "127.0.0.0/8"}
    roots = {"aggregator": ROOT}
    for other in args.compare_with or []:
        roots[f"aggregator@{Path(other).name}"] = Path(other).resolve()
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    try:
        for _ in range(args.rounds):
            for name, root in roots.items():
                out = subprocess.run(
                    [str(root / ".venv/bin/python"), "-c", HTTP_SCRIPT],
                    input=urls.encode(),
                    cwd=root,  # `-c` puts the working folder first on sys.path
                    env=env,
                    capture_output=True,
                )
                if out.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{out.stderr.decode()[-2000:]}")
                measured[name].append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.join()
    return {
        "feeds": count,
        **{
            name: {
                key: round(statistics.median(r[key] for r in rounds), 3)
                for key in ("import_cpu_ms", "cpu_ms_per_request")
            }
            | {"rounds": rounds}
            for name, rounds in measured.items()
        },
    }


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def bench_one(count: int, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_serve, args=(count, args.entries, args.latency_ms / 1000, child), daemon=True
    )
    server.start()
    port = parent.recv()
    urls = feed_urls(count, port)
    env = {**os.environ, "AGGREGATOR_ALLOW_HOSTS": "127.0.0.0/8"}
    # Aggregator checkouts to measure: this one, and any given with --compare-with (another
    # worktree with its own .venv, e.g. the commit before a change), alternating round by round.
    roots = {"aggregator": ROOT}
    for other in args.compare_with or []:
        roots[f"aggregator@{Path(other).name}"] = Path(other).resolve()
    # Byte-compile the package first, as `pip install` does for an installed package (reader's
    # modules in its venv are): an editable checkout run with PYTHONDONTWRITEBYTECODE set
    # would otherwise recompile changed modules in every measured process.
    for root in roots.values():
        subprocess.run(
            [str(root / ".venv/bin/python"), "-m", "compileall", "-q", str(root / "aggregator")],
            check=True,
            env={k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"},
        )
    env.pop("AGGREGATOR_DB", None)
    result: dict[str, object] = {"feeds": count, "entries_per_feed": args.entries}
    expected_first = count * args.entries
    expected_changed = expected_first + len(range(0, count, max(1, round(1 / args.changed)))) * (
        NEW_PER_CHANGE
    )
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in roots}
    runs["reader"] = []

    def aggregator(rep: int, name: str) -> dict[str, dict[str, float]]:
        root = roots[name]
        db = workdir / f"{name.replace('@', '-')}-{count}-{rep}.db"
        agg = [str(root / ".venv/bin/aggregator"), "--db", str(db)]
        # --no-full-text: feeds only, as reader does (no article pages are fetched)
        sub = run_measured(agg + ["subscribe", "--no-full-text", *urls], env)
        fetch1 = run_measured(agg + ["fetch"], env)
        first = {
            "seconds": sub["seconds"] + fetch1["seconds"],
            "cpu_seconds": sub["cpu_seconds"] + fetch1["cpu_seconds"],
            "peak_mb": max(sub["peak_mb"], fetch1["peak_mb"]),
            "subscribe_seconds": sub["seconds"],
            "fetch_seconds": fetch1["seconds"],
        }
        got = _count(db, "SELECT count(*) FROM articles")
        if got != expected_first:
            raise SystemExit(f"aggregator stored {got} articles, expected {expected_first}")
        unchanged = run_measured(agg + ["fetch"], env)
        control(port, f"bump?fraction={args.changed}")
        changed = run_measured(agg + ["fetch"], env)
        got = _count(db, "SELECT count(*) FROM articles")
        if got != expected_changed:
            raise SystemExit(
                f"aggregator stored {got} articles after the change, expected {expected_changed}"
            )
        return {"first": first, "unchanged": _slim(unchanged), "changed": _slim(changed)}

    def reader(rep: int) -> dict[str, dict[str, float]]:
        rdb = workdir / f"reader-{count}-{rep}.db"
        script = workdir / "reader_bench.py"
        script.write_text(READER_SCRIPT)
        urls_file = workdir / f"urls-{count}.txt"
        urls_file.write_text("\n".join(urls))
        base = [args.reader_python, str(script), str(rdb)]
        rfirst = run_measured(base + ["first", str(urls_file), str(args.reader_workers)], env)
        n = json.loads(rfirst["stdout"].strip().splitlines()[-1])["entries"]
        if n != expected_first:
            raise SystemExit(f"reader stored {n} entries, expected {expected_first}")
        runchanged = run_measured(base + ["update", str(urls_file), str(args.reader_workers)], env)
        control(port, f"bump?fraction={args.changed}")
        rchanged = run_measured(base + ["update", str(urls_file), str(args.reader_workers)], env)
        n = json.loads(rchanged["stdout"].strip().splitlines()[-1])["entries"]
        if n != expected_changed:
            raise SystemExit(f"reader stored {n} entries after the change, not {expected_changed}")
        return {"first": _slim(rfirst), "unchanged": _slim(runchanged), "changed": _slim(rchanged)}

    try:
        # Rounds alternate the tools, each on a fresh database and a reset server, so a change in
        # the machine's load falls on both; the table gives each phase's median over the rounds.
        for rep in range(args.rounds):
            for name in roots:
                control(port, "reset")
                runs[name].append(aggregator(rep, name))
            if args.vs_reader:
                control(port, "reset")
                runs["reader"].append(reader(rep))
    finally:
        server.terminate()
        server.join()
    for tool, measured in runs.items():
        if measured:
            result[tool] = {
                phase: {
                    **{
                        key: statistics.median(m[phase][key] for m in measured)
                        for key in measured[0][phase]
                        if key != "peak_mb"
                    },
                    "peak_mb": max(m[phase]["peak_mb"] for m in measured),
                    "rounds": [round(m[phase]["seconds"], 3) for m in measured],
                }
                for phase in ("first", "unchanged", "changed")
            }
    if args.vs_reader:
        for name in roots:
            key = "speedup" if name == "aggregator" else f"speedup@{name.split('@', 1)[1]}"
            result[key] = {
                phase: round(
                    result["reader"][phase]["seconds"] / result[name][phase]["seconds"],  # type: ignore[index]
                    2,
                )
                for phase in ("first", "unchanged", "changed")
            }
    return result


def _slim(m: dict[str, float]) -> dict[str, float]:
    return {"seconds": m["seconds"], "cpu_seconds": m["cpu_seconds"], "peak_mb": m["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--feeds", type=int, nargs="+", default=[300], help="feed counts to run (default 300)"
    )
    parser.add_argument("--entries", type=int, default=20, help="entries per feed (default 20)")
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="added latency per request (default 20)"
    )
    parser.add_argument(
        "--changed", type=float, default=0.1, help="fraction of feeds changed (default 0.1)"
    )
    parser.add_argument(
        "--vs-reader", action="store_true", help="also run lemon24/reader and print ratios"
    )
    parser.add_argument(
        "--reader-python",
        default="/tmp/bench-venv/bin/python",
        help="python of a venv with reader and sgmllib3k installed",
    )
    parser.add_argument("--reader-workers", type=int, default=20)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each tool this many times, alternating; medians are reported (default 1)",
    )
    parser.add_argument(
        "--compare-with",
        action="append",
        metavar="DIR",
        help="another Aggregator checkout with its own .venv (e.g. a worktree of the commit "
        "before a change), run alternately with this one; may be repeated",
    )
    parser.add_argument(
        "--http-only",
        action="store_true",
        help="measure only the HTTP layer: CPU of importing it and of one 304 request",
    )
    parser.add_argument("--workdir", help="where the databases go (default: a temporary folder)")
    args = parser.parse_args()
    if args.vs_reader and not Path(args.reader_python).exists():
        venv = Path(args.reader_python).parent.parent
        print(f"creating the reader venv at {venv} (reader + sgmllib3k, not in the project)")
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin/pip"), "install", "--quiet", "reader", "sgmllib3k"], check=True
        )

    if args.http_only:
        for n in args.feeds:
            print(json.dumps({"benchmark": "refresh-http", **bench_http(n, args)}, default=str))
        return

    with tempfile.TemporaryDirectory(prefix="refresh-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [bench_one(n, args, workdir) for n in args.feeds]

    width = max(10, *(len(k) for res in results for k in res if k.startswith("aggregator")))
    print(
        f"{'feeds':>6} {'tool':<{width}} {'phase':<10} {'seconds':>8} {'cpu s':>7} {'feeds/s':>8} "
        f"{'entries/s':>9} {'peak MB':>8} {'speedup':>8}"
    )
    for res in results:
        n = int(res["feeds"])  # type: ignore[arg-type]
        per = int(res["entries_per_feed"])  # type: ignore[arg-type]
        for tool in [k for k in res if k.startswith("aggregator")] + ["reader"]:
            if tool not in res:
                continue
            for phase, m in res[tool].items():  # type: ignore[union-attr]
                parsed = (
                    n * per
                    if phase == "first"
                    else (
                        0
                        if phase == "unchanged"
                        else len(range(0, n, max(1, round(1 / args.changed)))) * per
                    )
                )
                m["feeds_per_s"] = round(n / m["seconds"], 1)
                m["entries_per_s"] = round(parsed / m["seconds"], 1)
                speedup = "speedup" + tool[len("aggregator") :]
                ratio = res.get(speedup, {}).get(phase, "") if tool != "reader" else ""  # type: ignore[union-attr]
                print(
                    f"{n:>6} {tool:<{width}} {phase:<10} {m['seconds']:>8.2f} "
                    f"{m['cpu_seconds']:>7.2f} {m['feeds_per_s']:>8.1f} "
                    f"{m['entries_per_s']:>9.0f} {m['peak_mb']:>8.1f} "
                    f"{str(ratio) + ('x' if ratio else ''):>8}"
                )
    print(
        json.dumps(
            {"benchmark": "refresh", "latency_ms": args.latency_ms, "results": results},
            default=lambda x: round(x, 3) if isinstance(x, float) else str(x),
        )
    )


if __name__ == "__main__":
    main()
