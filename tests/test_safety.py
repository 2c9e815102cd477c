"""Process and data safety with real processes: one writer at a time, kill -9 in the middle of
a fetch, transactional migrations, backup and check, read-only and corrupt databases.
(reliability.md cases 75, 77, 80-83.)"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator import store
from aggregator.cli import cli
from tests.httpserver import LocalServer

AGG = [sys.executable, "-c", "from aggregator.cli import cli; cli(prog_name='aggregator')"]
FEEDS = 30
ENTRIES = 20
WORDS = " ".join(["harbour"] * 150)  # long enough not to be taken for a summary


def agg(db: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGG, "--db", str(db), *args], capture_output=True, text=True, timeout=timeout
    )


def start(db: Path, *args: str, output: int = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([*AGG, "--db", str(db), *args], stdout=output, stderr=output, text=True)


def processes_on(db: Path) -> list[int]:
    """Processes (a fetch and its pool workers share a command line) working on `db`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(db).encode() in cmdline and b"aggregator" in cmdline:
                found.append(int(entry.name))
    return found


def rss(server: LocalServer, n: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {n} post {j}</title><link>{server.base}/f{n}/p{j}</link>"
        f"<guid>{server.base}/f{n}/p{j}</guid><description>{WORDS} {n}-{j}</description></item>"
        for j in range(ENTRIES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
        f"<link>{server.base}/f{n}/</link>{items}</channel></rss>"
    ).encode()


def slow(body: bytes, delay: float) -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass

    return handler


def subscribe_offline(db: Path, tmp_path: Path, urls: list[str]) -> None:
    """Subscriptions through an OPML import: nothing is fetched until `fetch`."""
    outlines = "".join(
        f'<outline type="rss" text="f{i}" xmlUrl="{u}"/>' for i, u in enumerate(urls)
    )
    opml = tmp_path / "subs.opml"
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
    result = CliRunner().invoke(cli, ["--db", str(db), "import", str(opml)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture
def slow_feeds(server: LocalServer, db_path: Path, tmp_path: Path) -> list[str]:
    urls = [server.add(f"/feed{n}.xml", slow(rss(server, n), 0.4)) for n in range(FEEDS)]
    subscribe_offline(db_path, tmp_path, urls)
    return urls


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)


def feed_hits(server: LocalServer) -> int:
    with server.lock:
        return sum(1 for _, path, _ in server.requests if path.startswith("/feed"))


def committed_feeds(db: Path) -> int:
    return int(query(db, "SELECT count(DISTINCT feed_id) FROM feed_entries")[0][0])


def assert_sound(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def test_kill_9_at_any_moment_loses_nothing_and_the_next_run_finishes(
    server: LocalServer, db_path: Path, slow_feeds: list[str]
) -> None:
    # Two runs killed at different moments, then one that finishes.
    for after_requests in (4, 14):
        target = feed_hits(server) + after_requests
        stored = committed_feeds(db_path)
        log = (db_path.parent / f"killed-{after_requests}.log").open("w")
        proc = start(db_path, "fetch", "--concurrency", "2", output=log.fileno())
        try:
            wait_for(lambda: feed_hits(server) >= target)  # noqa: B023 (called in this iteration)
            # and a batch committed (feeds are written in batches of savepoints; a batch
            # commits when no feed has ended for 50 ms): killed mid-run, with work stored
            wait_for(lambda: committed_feeds(db_path) > stored)  # noqa: B023
        except AssertionError:
            proc.kill()
            raise AssertionError(
                f"the fetch did not get going: {proc.wait()} {Path(log.name).read_text()[-2000:]}"
            ) from None
        log.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # its pool workers do not outlive it (they would hold its pipes and memory forever)
        wait_for(lambda: not processes_on(db_path), timeout=10)
        # Each feed is one savepoint: a feed has all its entries or none of them.
        per_feed = query(
            db_path,
            "SELECT f.url, count(fe.key) FROM feeds f LEFT JOIN "
            "feed_entries fe ON fe.feed_id = f.id GROUP BY f.id",
        )
        assert {n for _, n in per_feed} <= {0, ENTRIES}
        committed = sum(1 for _, n in per_feed if n)
        assert 0 < committed < FEEDS  # killed in the middle, with work committed
        assert query(db_path, "SELECT count(*) FROM articles")[0][0] == committed * ENTRIES
        assert_sound(db_path)

    done = agg(db_path, "fetch", "--concurrency", "4")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    # every entry present exactly once, every feed healthy
    assert query(db_path, "SELECT count(*), count(DISTINCT url) FROM articles") == [
        (FEEDS * ENTRIES, FEEDS * ENTRIES)
    ]
    assert query(db_path, "SELECT count(*) FROM feed_entries")[0][0] == FEEDS * ENTRIES
    assert (
        query(
            db_path,
            "SELECT count(*) FROM feeds WHERE status = 'ok' AND last_error IS NULL "
            f"AND article_count = {ENTRIES}",
        )[0][0]
        == FEEDS
    )
    titles = {t for (t,) in query(db_path, "SELECT title FROM articles")}
    assert titles == {f"Feed {n} post {j}" for n in range(FEEDS) for j in range(ENTRIES)}
    assert_sound(db_path)
    checked = agg(db_path, "check")
    assert checked.returncode == 0 and "ok" in checked.stdout


def test_a_second_writer_waits_briefly_then_exits_with_one_line(
    server: LocalServer, db_path: Path, slow_feeds: list[str], tmp_path: Path
) -> None:
    first = start(db_path, "fetch", "--concurrency", "1")  # about 12 s of slow feeds
    try:
        wait_for(lambda: feed_hits(server) >= 1)
        began = time.monotonic()
        second = agg(db_path, "fetch")
        waited = time.monotonic() - began
        assert second.returncode == 1
        assert second.stdout == ""
        assert second.stderr.startswith("Error: another aggregator process is writing to ")
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert 4 <= waited < 30  # it waited briefly for the lock, then gave up
        opml = tmp_path / "more.opml"
        opml.write_text(
            '<opml version="2.0"><body><outline xmlUrl="http://x.test/f"/></body></opml>'
        )
        imported = agg(db_path, "import", str(opml))
        assert imported.returncode == 1 and "try the import again" in imported.stderr
        # a backup taken while the fetch writes is a committed state that passes its checks
        copy = tmp_path / "during.db"
        backed = agg(db_path, "backup", str(copy))
        assert backed.returncode == 0, backed.stderr
        assert_sound(copy)
        per_feed = query(copy, "SELECT article_count FROM feeds")
        assert query(copy, "SELECT count(*) FROM articles")[0][0] == sum(n for (n,) in per_feed)
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert query(db_path, "SELECT count(*) FROM articles")[0][0] == FEEDS * ENTRIES
    assert query(db_path, "SELECT count(*) FROM feeds WHERE url = 'http://x.test/f'") == [(0,)]


# ---------------------------------------------------------------------------------------------
# Migrations


def test_a_failing_migration_is_rolled_back_and_stays_pending(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.open_db(db_path).conn.close()
    registered = list(store.migrations._migrations)

    def m999_broken(db: object) -> None:
        db.execute("CREATE TABLE half_done (x)")  # type: ignore[attr-defined]
        db.execute("ALTER TABLE articles ADD COLUMN half_column TEXT")  # type: ignore[attr-defined]
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store.migrations, "_migrations", registered.copy())
    store.migrations(name="m999_test")(m999_broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        store.open_db(db_path)
    assert query(db_path, "SELECT name FROM sqlite_master WHERE name = 'half_done'") == []
    assert "half_column" not in {r[1] for r in query(db_path, "PRAGMA table_info(articles)")}
    assert ("m999_test",) not in query(db_path, "SELECT name FROM _sqlite_migrations")
    assert_sound(db_path)

    monkeypatch.setattr(store.migrations, "_migrations", registered.copy())
    store.migrations(name="m999_test")(lambda db: db.execute("CREATE TABLE half_done (x)"))
    store.open_db(db_path).conn.close()
    applied = "SELECT count(*) FROM _sqlite_migrations WHERE name = 'm999_test'"
    assert query(db_path, applied) == [(1,)]


def test_killed_during_a_migration_it_stays_pending_and_the_rerun_applies_it(
    db_path: Path, tmp_path: Path
) -> None:
    store.open_db(db_path).conn.close()
    marker = tmp_path / "migrating"
    script = textwrap.dedent(f"""
        import pathlib, sys, time
        from aggregator import store
        @store.migrations(name="m999_slow")
        def slow(db):
            db.execute("ALTER TABLE feeds ADD COLUMN slow_column TEXT")
            db.execute("UPDATE feeds SET slow_column = 'x'")
            if sys.argv[1] == "hang":
                pathlib.Path({str(marker)!r}).write_text("1")
                time.sleep(60)
        store.open_db({str(db_path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, "hang"])
    wait_for(marker.exists, timeout=30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert "slow_column" not in {r[1] for r in query(db_path, "PRAGMA table_info(feeds)")}
    applied = "SELECT count(*) FROM _sqlite_migrations WHERE name = 'm999_slow'"
    assert query(db_path, applied) == [(0,)]
    assert_sound(db_path)
    subprocess.run([sys.executable, "-c", script, "go"], check=True, timeout=60)
    assert "slow_column" in {r[1] for r in query(db_path, "PRAGMA table_info(feeds)")}
    assert query(db_path, applied) == [(1,)]


# ---------------------------------------------------------------------------------------------
# backup and check


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_backup_copies_checks_and_refuses_to_overwrite(db_path: Path, tmp_path: Path) -> None:
    assert run("save", "https://example.org/a", "--tag", "keep").exit_code == 0
    copy = tmp_path / "backup.db"
    result = run("backup", str(copy))
    assert result.exit_code == 0, result.output
    assert f"to {copy} (integrity ok)" in result.output
    assert query(copy, "SELECT url, tags FROM articles") == [("https://example.org/a", '["keep"]')]
    assert_sound(copy)
    assert run("save", "https://example.org/b").exit_code == 0
    again = run("backup", str(copy))
    assert again.exit_code == 1
    assert again.output == f"Error: {copy} already exists; use --force to replace it\n"
    assert query(copy, "SELECT count(*) FROM articles") == [(1,)]  # untouched
    forced = run("backup", str(copy), "--force")
    assert forced.exit_code == 0, forced.output
    assert query(copy, "SELECT count(*) FROM articles") == [(2,)]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_check_reports_integrity_full_text_and_foreign_key_problems(db_path: Path) -> None:
    for url in ("https://example.org/a", "https://example.org/b"):
        assert run("save", url, "--title", "Tidal charts").exit_code == 0
    good = run("check")
    assert good.exit_code == 0
    assert good.output.endswith(": ok (integrity, full-text index, foreign keys)\n")
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER articles_au")  # an update the full-text index never hears of
    conn.execute("UPDATE articles SET title = 'Something else entirely'")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO articles_tags (article_id, tag_id) VALUES (1, 999)")
    conn.commit()
    conn.close()
    bad = run("check")
    assert bad.exit_code == 1
    assert "problem: full-text index (articles_fts):" in bad.output
    assert "problem: foreign key: articles_tags row" in bad.output
    assert "Error: " in bad.output and "problem(s) found" in bad.output


# ---------------------------------------------------------------------------------------------
# read-only and corrupt databases


@pytest.fixture
def ro_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder the test makes read-only; writable again afterwards so pytest can remove it."""
    path = tmp_path / "ro"
    path.mkdir()
    yield path
    path.chmod(0o755)


@pytest.mark.parametrize("file_mode", [0o644, 0o666])
def test_read_only_database_or_folder_gives_one_line(ro_dir: Path, file_mode: int) -> None:
    db = ro_dir / "a.db"
    store.open_db(db).conn.close()
    db.chmod(file_mode)  # 0644: nothing writable; 0666: the file is, its folder (WAL -shm) is not
    for f in ro_dir.glob("a.db-*"):
        f.unlink()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Root writes anywhere: run the commands as root without the capabilities that override
        # file modes, so the modes below apply to it as to anybody (the checkout and its .venv may
        # sit in a private folder that another user could not even read).
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop capabilities")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    if file_mode == 0o644:
        db.chmod(0o444)
    ro_dir.chmod(0o555)
    for args in (["fetch"], ["save", "https://example.org/x"], ["feeds"], ["import", "/dev/null"]):
        result = subprocess.run(
            [*prefix, *AGG, "--db", str(db), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("Error: ")
        if args[0] != "import":
            assert "cannot write to" in result.stderr and "must be writable" in result.stderr


def test_corrupt_and_truncated_databases_are_refused_before_any_write(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    result = agg(garbage, "fetch")
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {garbage} is not an Aggregator database or is corrupt (file is not a database)\n"
    )

    def build(name: str) -> Path:
        path = tmp_path / name
        db = store.open_db(path)
        content = {
            "text": "tide " * 300,
            "content_html": "<p>tide</p>",
            "word_count": 300,
            "reading_time": 1,
        }
        store.save_links_bulk(
            db,
            [
                {
                    "url": f"https://e.test/{i}",
                    "title": f"Post {i}",
                    "tags": ["x"],
                    "content": content,
                }
                for i in range(2000)
            ],
        )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
        return path

    truncated = build("truncated.db")
    os.truncate(truncated, truncated.stat().st_size // 2)
    damaged = build("damaged.db")
    size = damaged.stat().st_size
    with damaged.open("r+b") as f:  # garbage over pages in the middle: size and header intact
        f.seek(size // 4096 // 2 * 4096)
        f.write(os.urandom(3 * 4096))
    opml = tmp_path / "subs.opml"
    opml.write_text('<opml version="2.0"><body><outline xmlUrl="http://x.test/f"/></body></opml>')
    for path in (truncated, damaged):
        before = path.read_bytes()
        for args in (["fetch"], ["save", "https://example.org/new"], ["import", str(opml)]):
            result = agg(path, *args)
            assert result.returncode == 1, (path, args)
            assert result.stderr.count("\n") == 1, result.stderr
            assert "Traceback" not in result.stderr
            assert "corrupt" in result.stderr, result.stderr
        assert path.read_bytes() == before  # nothing written
        checked = agg(path, "check")
        assert checked.returncode == 1 and "Traceback" not in checked.stderr


def test_large_database_is_scanned_before_writing_at_most_once_a_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "big.db"
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["--db", str(db_path), "save", "https://example.org/a"]).exit_code == 0
    )
    scans: list[str] = []
    real_quick_check = store.quick_check

    def counting(db: object, path: object) -> None:
        scans.append(str(path))
        real_quick_check(db, path)  # type: ignore[arg-type]

    monkeypatch.setattr(store.safety, "quick_check", counting)
    monkeypatch.setattr(store.safety, "LARGE_DB_BYTES", 0)  # treat this small file as a large one
    for url in ("https://example.org/b", "https://example.org/c"):
        assert runner.invoke(cli, ["--db", str(db_path), "save", url]).exit_code == 0
    assert len(scans) == 1  # the first write scanned; the second, within the day, did not
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == int(time.time() // 3600)
        conn.execute("PRAGMA user_version = 1")  # the last scan was long ago
    assert (
        runner.invoke(cli, ["--db", str(db_path), "star", "https://example.org/a"]).exit_code == 0
    )
    assert len(scans) == 2
    # a small database is scanned before every write
    monkeypatch.setattr(store.safety, "LARGE_DB_BYTES", 10**12)
    assert (
        runner.invoke(cli, ["--db", str(db_path), "read", "https://example.org/a"]).exit_code == 0
    )
    assert (
        runner.invoke(cli, ["--db", str(db_path), "read", "https://example.org/b"]).exit_code == 0
    )
    assert len(scans) == 4
