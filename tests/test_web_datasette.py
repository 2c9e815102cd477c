"""The plugin under plain Datasette: `datasette aggregator.db -m metadata.yml` with the package
installed serves the same reading room as `aggregator serve`; metadata.yml is one file, shipped
inside the package; the security settings apply only to the Datasette configured with them;
the home and dashboard numbers are canned queries with their own JSON and CSV."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from datasette.app import Datasette

from aggregator import store
from aggregator.web import facets, queries
from aggregator.web.app import build_datasette, load_metadata, packaged_metadata
from tests.serving import running
from tests.webclient import get

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent



@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made by the aggregator CLI from the shipped sample, named as plain Datasette
    needs it to be (the database name comes from the file name)."""
    path = tmp_path_factory.mktemp("plain") / "aggregator.db"
    subprocess.run(
        [str(BIN / "aggregator"), "--db", str(path), "load-sample", str(ROOT / "data" / "sample")],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def plain_datasette(sample_db: Path) -> Iterator[str]:
    """`datasette aggregator.db -m metadata.yml`, started from another folder than the
    repository: nothing is found through the current directory."""
    with running(
        lambda port: [
            str(BIN / "datasette"),
            str(sample_db),
            "-m",
            str(ROOT / "metadata.yml"),
            "--port",
            str(port),
        ],
        cwd=sample_db.parent,
        log_path=sample_db.parent / "datasette.log",
    ) as base:
        yield base


def test_plain_datasette_serves_the_articles_page_with_its_facets(plain_datasette: str) -> None:
    page = httpx.get(plain_datasette + "/aggregator/articles")
    assert page.status_code == 200
    data = httpx.get(plain_datasette + "/aggregator/articles.json").json()
    assert len(re.findall(r'<li class="card', page.text)) == len(data["rows"]) > 3
    for name in ("tags", "feed_title", "site", "author", "state", "published_month"):
        assert f'id="facet-{name}"' in page.text, name
    tags = {r["value"]: r["count"] for r in data["facet_results"]["tags"]["results"]}
    assert tags["reading"] == 3
    narrowed = httpx.get(plain_datasette + "/aggregator/articles?tags__arraycontains=reading")
    assert len(re.findall(r'<li class="card', narrowed.text)) == 3
    assert "3 articles" in narrowed.text


def test_plain_datasette_serves_the_ranked_search_and_the_article_page(
    plain_datasette: str,
) -> None:
    results = httpx.get(plain_datasette + "/aggregator/search", params={"q": "syndication"})
    assert results.status_code == 200
    first = re.search(r'<li class="card[^>]*>\s*<h3 class="card-title"><a [^>]*href="([^"]+)">([^<]+)', results.text)
    assert first and first.group(2) == "Why feeds outlived the platforms"
    assert "<mark>syndication</mark>" in results.text
    article = httpx.get(plain_datasette + first.group(1))
    assert article.status_code == 200
    assert "<h1>Why feeds outlived the platforms</h1>" in article.text
    assert 'class="reader-body"' in article.text and 'name="csrftoken"' in article.text


def test_plain_datasette_gets_the_security_settings_of_metadata_yml(plain_datasette: str) -> None:
    page = httpx.get(plain_datasette + "/")
    assert page.status_code == 200 and 'class="brand"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(plain_datasette + "/", headers={"host": "evil.example"}).status_code == 403


def test_security_applies_only_to_the_datasette_configured_with_it(sample_db: Path) -> None:
    guarded = build_datasette(sample_db, fetch_saved=False)
    other = Datasette([str(sample_db)])  # the plugin is loaded; nothing configures it here
    assert "content-security-policy" in get(guarded, "/").headers
    assert get(guarded, "/", headers={"host": "evil.example"}).status_code == 403
    response = get(other, "/aggregator/articles", headers={"host": "evil.example"})
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    # Switched on through the instance's own plugin settings.
    configured = Datasette(
        [str(sample_db)],
        metadata={"plugins": {"aggregator": {"security_headers": True, "allowed_hosts": ["a.lan"]}}},
    )
    assert get(configured, "/", headers={"host": "a.lan"}).status_code == 200
    assert get(configured, "/", headers={"host": "localhost"}).status_code == 403
    assert "content-security-policy" not in get(other, "/").headers


# ---------------------------------------------------------------------------------------------
# metadata.yml: one file, shipped with the package


def test_top_level_metadata_is_the_packaged_file() -> None:
    top = ROOT / "metadata.yml"
    assert top.is_symlink()
    assert top.resolve() == Path(str(packaged_metadata())).resolve()
    assert load_metadata()["databases"]["aggregator"]["tables"]["articles"]["facets"]


def test_a_regular_build_of_the_package_carries_metadata_yml(tmp_path: Path) -> None:
    """setuptools lays the package out as a wheel would (no source tree beside it), and the
    plugin finds its metadata there."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "aggregator", src / "aggregator", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build",
         "--build-base", str(tmp_path / "build")],
        cwd=src, check=True, capture_output=True,
    )
    lib = tmp_path / "build" / "lib"
    shipped = lib / "aggregator" / "web" / "metadata.yml"
    assert not shipped.is_symlink()
    assert shipped.read_bytes() == (ROOT / "metadata.yml").read_bytes()
    found = subprocess.run(
        [sys.executable, "-c",
         "from aggregator.web.app import packaged_metadata, load_metadata; "
         "print(packaged_metadata()); print(load_metadata()['title'])"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(lib)},
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    assert Path(found[0]) == shipped and found[1] == "Aggregator"


# ---------------------------------------------------------------------------------------------
# Canned queries


def test_home_and_dashboard_numbers_are_canned_queries_with_json_and_csv(sample_db: Path) -> None:
    ds = build_datasette(sample_db, fetch_saved=False)
    for name in [*queries.HOME.values(), *queries.DASHBOARD.values()]:
        assert get(ds, f"/aggregator/{name}.json").status_code == 200, name
    counts = get(ds, "/aggregator/home_counts.json?_shape=array").json()[0]
    db = store.open_db(sample_db, migrate=False)
    try:
        total = db.execute("select count(*) from articles").fetchone()[0]
        feeds = db.execute("select count(*) from feeds").fetchone()[0]
    finally:
        db.conn.close()
    assert counts["articles"] == total >= 100 and counts["feeds"] == feeds  # data/sample
    assert re.search(rf"<strong>{total}</strong> articles", get(ds, "/").text)
    states = list(csv.DictReader(io.StringIO(get(ds, "/aggregator/articles_by_state.csv").text)))
    assert sum(int(r["n"]) for r in states) == total


def test_a_big_tag_links_to_its_page_with_the_kept_count(
    sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facets, "BIG_TAG", 2)  # "reading" (3 articles) is big now
    ds = build_datasette(sample_db, fetch_saved=False)
    home = get(ds, "/").text
    assert 'href="/aggregator/articles?_tag=reading&amp;_nocount=1"' in home
    small = re.search(r'href="(/aggregator/articles\?_tag=[^"&]+)"', home)
    assert small, "a tag on at most BIG_TAG articles links without _nocount"
    page = get(ds, "/aggregator/articles?_tag=reading&_nocount=1")
    assert "3 articles" in page.text
    assert page.text.count('<li class="card') == 3
    data = get(ds, "/aggregator/articles.json?_tag=reading&_nocount=1").json()
    assert data["filtered_table_rows_count"] is None  # Datasette did not count the rows
    # Adding another filter goes back to Datasette's own count.
    feed = next(
        r for r in data["facet_results"]["feed_title"]["results"] if not r["selected"]
    )
    assert "_nocount" not in feed["toggle_url"]
    narrowed = get(ds, feed["toggle_url"].replace("http://localhost", "")).json()
    assert narrowed["filtered_table_rows_count"] == feed["count"]


def test_the_search_query_is_the_stores_search_sql(sample_db: Path) -> None:
    from aggregator.store.search import search_sql

    ds = build_datasette(sample_db, fetch_saved=False)
    data = get(ds, "/aggregator/search.json?q=reading&_shape=objects").json()
    assert data["query"]["sql"] == search_sql()
    assert data["rows"] and all("<mark>" in r["snippet"] for r in data["rows"])
    assert "search" not in (load_metadata()["databases"]["aggregator"].get("queries") or {})
