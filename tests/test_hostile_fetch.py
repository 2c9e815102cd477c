"""Acceptance for issue 6: one `aggregator fetch` (a real process) over honest feeds mixed with
slow, dribbling, endless, huge, gzip-bomb, redirect-loop, 404, 410, 503, empty, binary, HTML,
XML-bomb and XXE endpoints. It finishes in time with bounded memory, keeps every honest entry
(a 3,000-entry feed too), records an error on every broken feed, stops polling the 410 one,
leaks no local file, leaves the database sound, and never prints a traceback; `subscribe`
refuses each broken URL with one line. The web layer's Host guard and CSP are checked too.

Each request is held to AGGREGATOR_DEADLINE=10 s here (30 s by default) to keep the test short;
the run's length is the deadline plus the work, whatever the number of slow feeds."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests import hostile
from tests.conftest import rows
from tests.httpserver import LocalServer, Route

AGG = [sys.executable, "-c", "from aggregator.cli import cli; cli(prog_name='aggregator')"]
DEADLINE = 10
SECRET = "LOCAL-FILE-CONTENT-5b1e"
RSS = "application/rss+xml"
WORDS = " ".join(["lighthouse"] * 30)


def rss(title: str, base: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>{title} {i}</title><link>{base}/posts/{title}/{i}</link>"
        f"<guid>{base}/posts/{title}/{i}</guid><pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate>"
        f"<description>{WORDS} {title} {i}</description></item>"
        for i in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


def atom(base: str, count: int) -> bytes:
    entries = "".join(
        f"<entry><id>urn:atom:{i}</id><title>Atom {i}</title><link href='{base}/posts/atom/{i}'/>"
        f"<updated>2024-05-0{i + 1}T10:00:00Z</updated><content>{WORDS}</content></entry>"
        for i in range(count)
    )
    return (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>'
        f"<id>urn:atom</id><updated>2024-05-01T10:00:00Z</updated>{entries}</feed>"
    ).encode()


def json_feed(base: str, count: int) -> bytes:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JSON",
            "items": [
                {
                    "id": f"j{i}",
                    "url": f"{base}/posts/json/{i}",
                    "title": f"JSON {i}",
                    "content_text": WORDS,
                }
                for i in range(count)
            ],
        }
    ).encode()


def sleeper(seconds: float) -> hostile.Handler:
    """Accepts the request, then says nothing for `seconds`."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)

    return handler


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += (
                int(
                    next(
                        line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")
                    )
                )
                * 1024
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run_measured(
    args: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float, int, int]:
    """Run a command; return it, its wall time, the peak RSS of its process tree (sampled) and
    the largest ru_maxrss of any process in it (from a wrapper's RUSAGE_CHILDREN)."""
    wrapper = (
        "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
        "sys.stderr.write('MAXRSS %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN)"
        ".ru_maxrss); sys.exit(rc)"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", wrapper, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=300)
    done.set()
    sampler.join()
    elapsed = time.monotonic() - started
    lines = err.splitlines()
    maxrss = int(lines[-1].split()[1]) * 1024 if lines and lines[-1].startswith("MAXRSS") else 0
    err = "\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else "")
    return (
        subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
        elapsed,
        peak[0],
        maxrss,
    )


@pytest.fixture
def internal() -> Iterator[LocalServer]:
    """A second local server standing for the internal network: it must receive nothing."""
    srv = LocalServer(poll_interval=0.1).start()
    srv.add("/evil.dtd", Route(body=b'<!ENTITY leak "DTD-WAS-LOADED">', content_type="text/plain"))
    yield srv
    srv.stop()


def broken_endpoints(server: LocalServer, internal: LocalServer, secret: Path) -> dict[str, str]:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(4000)
    laughs = "".join(
        f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10 if i else "lol"}">' for i in range(10)
    )
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:{internal.port}/evil.dtd"'
        f' [<!ENTITY x SYSTEM "file://{secret}">]><rss version="2.0"><channel><title>XXE &x;'
        "</title><item><title>&x;</title><link>http://xxe.test/1</link>"
        "<description>&x; &leak;</description></item></channel></rss>"
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{laughs}]><rss version="2.0"><channel>'
        "<title>Bomb</title><item><title>&l9;</title><link>http://bomb.test/1</link>"
        "</item></channel></rss>"
    )
    server.redirect("/loop-b", server.url("/loop-a"), status=302)
    routes = {
        "/slow": sleeper(60),
        "/dribbling": hostile.dribble(interval=1.0, limit=60),
        "/endless": hostile.endless_chunked(),
        "/huge-length": hostile.huge_length(hold=30),
        "/huge-body": Route(body=b"<rss>" + b"x" * (20 * 1024 * 1024), content_type=RSS),
        "/gzip-bomb": hostile.chunked(hostile.deflate_bomb(1 << 30), {"Content-Encoding": "gzip"}),
        "/loop-a": Route(
            status=302, headers={"Location": server.url("/loop-b")}, content_type="text/plain"
        ),
        "/missing": Route(status=404, body=b"not here", content_type="text/plain"),
        "/gone": Route(status=410, body=b"gone", content_type="text/plain"),
        "/unavailable": Route(
            status=503, body=b"busy", content_type="text/plain", headers={"Retry-After": "120"}
        ),
        "/empty": Route(body=b"", content_type=RSS),
        "/binary": Route(body=png, content_type=RSS),
        "/html": Route(
            body=b"<!DOCTYPE html><html><head><title>Home</title></head><body>"
            b"<p>no feed here</p></body></html>",
            content_type=RSS,
        ),
        "/xml-bomb": Route(body=bomb.encode(), content_type=RSS),
        "/xxe": Route(body=xxe.encode(), content_type=RSS),
    }
    return {path: server.add(path, route) for path, route in routes.items()}


def test_one_fetch_over_a_hostile_mix(
    server: LocalServer, internal: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    base = server.base
    honest = {
        server.add("/honest/rss.xml", Route(body=rss("Honest", base, 10), content_type=RSS)): 10,
        server.add(
            "/honest/atom.xml", Route(body=atom(base, 5), content_type="application/atom+xml")
        ): 5,
        server.add(
            "/honest/feed.json",
            Route(body=json_feed(base, 3), content_type="application/feed+json"),
        ): 3,
        server.add("/honest/big.xml", Route(body=rss("Big", base, 3000), content_type=RSS)): 3000,
    }
    broken = broken_endpoints(server, internal, secret)
    db = tmp_path / "hostile.db"
    opml = tmp_path / "subscriptions.opml"
    outlines = "".join(
        f'<outline type="rss" text="f" xmlUrl="{u}"/>' for u in [*honest, *broken.values()]
    )
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
    env = {**os.environ, "AGGREGATOR_DEADLINE": str(DEADLINE)}
    subprocess.run(
        [*AGG, "--db", str(db), "import", str(opml)], check=True, env=env, capture_output=True
    )

    result, elapsed, peak, maxrss = run_measured([*AGG, "--db", str(db), "fetch"], env)
    output = result.stdout + result.stderr
    print(
        f"hostile fetch: {elapsed:.1f} s, peak RSS of the process tree {peak / 2**20:.0f} MB, "
        f"largest single process {maxrss / 2**20:.0f} MB"
    )
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert elapsed < 150, elapsed  # in practice: about the deadline plus the work
    assert elapsed < DEADLINE * 3 + 30, elapsed
    assert peak < 400 * 1024 * 1024, peak
    assert maxrss < 400 * 1024 * 1024, maxrss

    # every honest entry, exactly once
    for url, count in honest.items():
        got = rows(
            db,
            "SELECT count(*), count(DISTINCT a.url) FROM feed_entries fe JOIN feeds f "
            f"ON f.id = fe.feed_id JOIN articles a ON a.id = fe.article_id "
            f"WHERE f.url = '{url}'",
        )
        assert got == [(count, count)], url
    assert rows(
        db,
        "SELECT count(*) FROM feeds WHERE url LIKE '%/honest/%' AND status = 'ok' "
        "AND last_error IS NULL",
    ) == [(4,)]
    # an error on every broken feed, nothing stored from them
    errors = dict(rows(db, "SELECT url, last_error FROM feeds WHERE url NOT LIKE '%/honest/%'"))
    for path, url in broken.items():
        assert errors[url], path
    assert rows(
        db,
        "SELECT count(*) FROM feeds WHERE url NOT LIKE '%/honest/%' "
        "AND (error_count < 1 OR article_count > 0)",
    ) == [(0,)]
    assert "timed out after 10 s" in errors[broken["/slow"]]
    assert "timed out after 10 s" in errors[broken["/dribbling"]]
    assert "too large" in errors[broken["/endless"]] and "too large" in errors[broken["/gzip-bomb"]]
    assert "too many redirects" in errors[broken["/loop-a"]]
    assert rows(db, f"SELECT status FROM feeds WHERE url = '{broken['/gone']}'") == [("gone",)]

    # nothing leaked from the local file or the internal server
    conn = sqlite3.connect(db)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert SECRET not in dump and "DTD-WAS-LOADED" not in dump
    assert internal.requests == []
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    checked = subprocess.run([*AGG, "--db", str(db), "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    # the next fetch does not ask the gone feed again (nor, with --all, forcing the rest)
    gone_hits = len(server.hits("/gone"))
    for args in (["fetch"], ["fetch", "--all"]):
        again = subprocess.run(
            [*AGG, "--db", str(db), *args], capture_output=True, text=True, env=env, timeout=150
        )
        assert again.returncode == 0 and "Traceback" not in again.stdout + again.stderr
    assert len(server.hits("/gone")) == gone_hits == 1
    assert rows(db, "SELECT count(*) FROM articles") == [(sum(honest.values()),)]

    # subscribe refuses each broken URL with a one-line reason, stores nothing
    fresh = tmp_path / "fresh.db"
    started = time.monotonic()
    sub = subprocess.run(
        [*AGG, "--db", str(fresh), "subscribe", *broken.values()],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
    )
    assert time.monotonic() - started < 60
    assert sub.returncode == 1 and sub.stdout == "" and "Traceback" not in sub.stderr
    lines = sub.stderr.splitlines()
    assert len(lines) == len(broken), sub.stderr
    for url in broken.values():
        assert sum(line.startswith(f"Error: {url}: ") for line in lines) == 1, url
    assert rows(fresh, "SELECT count(*) FROM feeds") == [(0,)]
    assert internal.requests == []

    # the web layer (aggregator/web): Host guard and CSP
    web = pytest.importorskip("aggregator.web.app")
    datasette = web.build_datasette(db, fetch_saved=False)
    import asyncio

    async def probe() -> tuple[int, int, str]:
        evil = await datasette.client.get("/", headers={"host": "evil.example"})
        home = await datasette.client.get("/", headers={"host": "127.0.0.1:8001"})
        return evil.status_code, home.status_code, home.headers.get("content-security-policy", "")

    evil_status, home_status, csp = asyncio.run(probe())
    assert evil_status == 403 and home_status == 200
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'self'" in script_src and "unsafe-inline" not in script_src
