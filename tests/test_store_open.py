"""store: opening without sqlite-utils, the migration check, transactions (savepoints inside a
batch, statement journals in memory for store_entries)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aggregator import store


def test_opening_and_refreshing_do_not_import_sqlite_utils(tmp_path: Path) -> None:
    db_path = tmp_path / "a.db"
    store.open_db(db_path).conn.close()  # created and migrated
    script = f"""
import sys
from aggregator import store
db = store.open_db({str(db_path)!r})
feed_id, _ = store.add_feed(db, "http://example.org/feed")
store.store_entries(db, feed_id, [{{"key": "k1", "url": "http://example.org/1", "title": "One",
    "text": "one two", "content_html": "<p>one two</p>", "content_hash": "h1",
    "site": "example.org"}}])
store.feeds_due(db)
assert "sqlite_utils" not in sys.modules, "sqlite_utils imported"
# what opening and a refresh do not need is loaded on first use (start-up time)
for name in ("links", "bulk", "highlights", "safety", "search", "ranking"):
    assert "aggregator.store." + name not in sys.modules, name
assert store.save_links_bulk and store.writer_lock and store.safety.quick_check
print(db.execute("SELECT count(*) FROM articles").fetchone()[0])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "1"


def test_the_sqlite_utils_api_is_there_on_first_use(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "a.db")
    store.add_feed(db, "http://example.org/feed", title="A feed")
    assert db["feeds"].count == 1  # type: ignore[union-attr]
    assert [r["title"] for r in db.query("SELECT title FROM feeds")] == ["A feed"]
    assert "articles" in db.table_names()


def test_a_migration_added_later_is_applied_on_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "a.db"
    store.open_db(db_path).conn.close()
    monkeypatch.setattr(store.migrations, "_migrations", list(store.migrations._migrations))
    store.migrations(name="m999_later")(lambda db: db.execute("CREATE TABLE later (x)"))
    db = store.open_db(db_path)
    assert store.migrations.pending(db) == []
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'later'").fetchone()


def test_store_entries_journals_in_memory_and_restores_temp_store(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "a.db")
    feed_id, _ = store.add_feed(db, "http://example.org/feed")
    seen: list[int] = []
    with store.transaction(db, memory_journal=True):
        seen.append(db.execute("PRAGMA temp_store").fetchone()[0])
    records = [
        {"key": f"k{i}", "url": f"http://example.org/{i}", "title": f"T{i}", "text": "x " * 500}
        for i in range(30)
    ]
    assert store.store_entries(db, feed_id, records) == (30, 0)
    assert seen == [store.TEMP_STORE_MEMORY]
    assert db.execute("PRAGMA temp_store").fetchone()[0] == 0


def test_a_failure_inside_a_batch_undoes_only_its_own_part(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "a.db")
    a, _ = store.add_feed(db, "http://example.org/a")
    b, _ = store.add_feed(db, "http://example.org/b")
    rec = {"key": "k", "url": "http://example.org/1", "title": "One", "text": "one"}
    with store.transaction(db, memory_journal=True):
        store.store_entries(db, a, [rec])
        with pytest.raises(RuntimeError):
            with store.transaction(db):
                store.store_entries(db, b, [{**rec, "key": "other", "url": "http://e.org/2"}])
                raise RuntimeError("this feed fails")
    rows = db.execute("SELECT url FROM articles").fetchall()
    assert rows == [("http://example.org/1",)]
    assert db.execute("SELECT count(*) FROM feed_entries").fetchone()[0] == 1
