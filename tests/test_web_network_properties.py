"""The browser's routes that go to the network, shown with generated hostile servers: Hypothesis
builds whole HTTP answers (status lines with 1xx, 3xx loops, 429 and 5xx; Retry-After,
Content-Type charsets, Location, Content-Encoding and Content-Length values with non-ASCII
digits, huge numbers, NULs and bytes that are not text; bodies cut short, compressed wrongly, not
feeds at all, or pages whose feed links point anywhere), a raw server on 127.0.0.1 sends them
byte for byte, and a real Datasette with the plugin goes through `/-/subscribe`, `Refresh now`,
`Refresh all`, the refresh `serve --refresh-every` runs, and `/-/save`. What a person must see
whatever comes: a page (never a 500), one short line saying what happened, the feed's or page's
error on its own row, and a well-behaved feed on the same instance still refreshing."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import re
import time
import zlib
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.pipeline.subscribe import MAX_PAGE_FEED_LINKS
from aggregator.web import feeds as web_feeds
from aggregator.web import refresher
from aggregator.web.app import build_datasette
from tests.conftest import rows
from tests.hostile import RawRoutes, closed_port, deflate_bomb
from tests.webclient import Visitor, run

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
# The program's insides, which a person must never be shown ("HTTP 500 Internal Server Error"
# may be shown: it is what the site answered).
TECHNICAL = re.compile(
    r"Traceback|File \"|sqlite3\.|OperationalError|IntegrityError|went wrong on our side|"
    r"\bselect\b.+\bfrom\b",
    re.IGNORECASE,
)
MAX_LINE = 400  # a line a person reads, with a feed's address in it

# ---------------------------------------------------------------------------------------------
# A hostile site: every generated answer sent byte for byte by one raw server


@pytest.fixture(scope="module")
def site() -> Any:
    server = RawRoutes()
    yield server
    server.close()


@pytest.fixture
def allowed(site: RawRoutes, monkeypatch: pytest.MonkeyPatch) -> RawRoutes:
    """The raw server is the one private address the fetches may reach (as in conftest)."""
    monkeypatch.setenv("AGGREGATOR_ALLOW_HOSTS", f"127.0.0.1:{site.port}")
    return site


_serial = itertools.count()


def fresh_prefix() -> str:
    """A path prefix of its own for each example: addresses never repeat on the instance."""
    return f"/x{next(_serial)}"


def rss(title: str, guids: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{g}</title><link>http://127.0.0.1/{g}</link><guid>{g}</guid>"
        f"<description>About {g}.</description></item>"
        for g in guids
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>http://127.0.0.1/</link>{items}</channel></rss>"
    ).encode()


ATOM = (
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom \xc3\xa9</title>'
    b"<id>urn:a</id><updated>2026-12-01T00:00:00Z</updated><entry><title>E</title><id>urn:e"
    b'</id><updated>2026-12-01T00:00:00Z</updated><link href="http://127.0.0.1/e"/></entry></feed>'
)
JSON_FEED = (
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": '
    b'[{"id": "1", "url": "http://127.0.0.1/j", "content_text": "t"}]}'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
    )
    + b']><rss version="2.0"><channel><title>&i;</title></channel></rss>'
)
NOT_FEEDS = [
    b"",
    b"\x00" * 64,
    b"\xff\xfe\x00<\x00r\x00s\x00s",
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    b"<html><body>Only a page</body></html>",
    b'{"not": "a feed"}',
    b"<rss><channel><title>cut",
    b"<" * 5000,
    b"<rss>" + b"<x>" * 5000 + b"</rss>",
    b"\xef\xbb\xbf\xef\xbb\xbf<?xml version='1.0' encoding='x-unknown'?><rss/>",
    rss("T\x00\x01itle", ["a\x00b"]),
    rss("L" * 100_000, ["long"]),
    LAUGHS,
    ATOM,
    JSON_FEED,
    "<?xml version='1.0' encoding='utf-16'?><rss version='2.0'><channel><title>Wide</title>"
    "</channel></rss>".encode("utf-16"),
]

STATUSES = [
    100, 101, 103, 199, 200, 201, 203, 204, 206, 299, 300, 301, 302, 303, 304, 305, 307, 308,
    399, 400, 401, 403, 404, 406, 410, 418, 429, 451, 499, 500, 502, 503, 504, 599, 600, 999,
]  # fmt: skip
STATUS_LINES = [
    b"HTTP/1.1 200",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.1 200 \xff\xfe\x00",
    b"HTTP/1.1 404 " + b"N" * 5000,
    b"HTTP/1.1 abc Nope",
    b"HTTP/1.1 -1 Minus",
    b"HTTP/1.1 1000000000000000000000 Big",
    b"HTTP/2 200 OK",
    b"ICY 200 OK",
    b"HTTP/1.1 \xd9\xa2\xd9\xa0\xd9\xa0 Arabic",
    b"",
    b"garbage",
]
NUMBERS = [
    "0", "-1", "1", "30", "3600", "\u0663\u0660", "\uff11\uff12", "1e9", "3.5", " 5 ", "5, 6",
    "0x10", "", "NaN", "inf", "9" * 40, str(2**64), str(2**63), "-" + "9" * 30,
]  # fmt: skip
DATES = [
    "Sat, 05 Dec 2026 10:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "yesterday",
]
CONTENT_TYPES = [
    "application/rss+xml",
    "application/atom+xml",
    "text/xml; charset=utf-8",
    "text/html",
    "text/html; charset=x-unknown",
    "text/xml; charset=utf-7",
    "application/xml; charset=utf-16",
    "text/xml; charset=" + "a" * 500,
    'text/xml; charset="',
    "text/xml; charset=\u00e9",
    "application/json",
    "application/feed+json",
    "image/png",
    "",
    ";;;",
]
ENCODINGS = ["gzip", "deflate", "br", "zstd", "gzip, gzip", "identity", "x-unknown", "", "GZIP"]
HEADER_NAMES = [
    "Retry-After",
    "Content-Type",
    "Content-Encoding",
    "Content-Length",
    "Transfer-Encoding",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Expires",
    "Age",
    "Location",
    "Link",
    "Set-Cookie",
    "X-Other",
]
odd_values = st.one_of(
    st.sampled_from(NUMBERS),
    st.sampled_from(DATES),
    st.sampled_from(CONTENT_TYPES),
    st.sampled_from(ENCODINGS),
    st.sampled_from(
        ["\x00", "a\x00b", "max-age=" + "9" * 30, "max-age=-5", "no-store", "x" * 9000]
    ),
    st.text(max_size=20),
).map(lambda s: s.encode("utf-8", "surrogatepass"))
latin1_values = st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def targets(prefix: str, port: int) -> list[str]:
    """Where a Location or a feed link may point: the example's own paths (loops included)
    and places no fetch may go or arrive at."""
    base = f"http://127.0.0.1:{port}"
    return [
        f"{base}{prefix}/a",
        f"{base}{prefix}/b",
        f"{base}{prefix}/c",
        f"{prefix}/a",
        f"{prefix}/b",
        "b",
        "./c",
        "../../a",
        "?q=1",
        "#frag",
        f"{base}{prefix}/missing",
        f"http://127.0.0.1:{closed_port()}/",
        f"https://127.0.0.1:{port}{prefix}/a",
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
        "ftp://127.0.0.1/",
        "",
        " ",
        "\x00",
        "http://%zz/",
        "http://[zz]/",
        f"http://user:pw@127.0.0.1:{port}{prefix}/a",
        "http://" + "a" * 300 + "/",
        f"{base}{prefix}/" + "a" * 9000,
    ]


@st.composite
def answers(draw: Any, prefix: str, port: int, feed: bytes) -> bytes:
    """One whole HTTP answer: status line, headers (odd ones among them), framing and body."""
    where = st.sampled_from(targets(prefix, port))
    kind = draw(st.sampled_from(["feed", "not-feed", "page", "redirect", "status", "compressed"]))
    status = draw(st.sampled_from(STATUSES))
    if kind == "redirect":
        status = draw(st.sampled_from([301, 302, 303, 307, 308]))
    elif kind in ("feed", "page", "compressed"):
        status = draw(st.sampled_from([200, 200, 200, 203, 206, 299]))
    if draw(st.integers(0, 9)) == 0:
        line = draw(st.sampled_from(STATUS_LINES))
    else:
        line = f"HTTP/1.1 {status} Status".encode()
    headers: list[tuple[bytes, bytes]] = []
    if kind == "feed":
        body = feed
    elif kind == "not-feed":
        body = draw(st.sampled_from(NOT_FEEDS))
    elif kind == "page":
        links = draw(st.lists(where, max_size=6))
        types = st.sampled_from(
            ["application/rss+xml", "application/atom+xml", "application/json", "text/html", ""]
        )
        tags = "".join(
            f'<link rel="alternate" type="{draw(types)}" href="{href}" title="feed">'
            for href in links
        )
        body = f"<html><head><title>Site</title>{tags}</head><body>Hello</body></html>".encode(
            "utf-8", "surrogatepass"
        )
        headers.append((b"Content-Type", b"text/html; charset=utf-8"))
    elif kind == "compressed":
        encoding = draw(st.sampled_from(["gzip", "deflate", "br", "gzip, gzip", "GZIP"]))
        packed = draw(
            st.sampled_from(["right", "raw", "bomb", "cut"]),
        )
        if packed == "right" and encoding.lower() == "gzip":
            body = gzip.compress(feed)
        elif packed == "right" and encoding == "deflate":
            body = zlib.compress(feed)
        elif packed == "bomb":
            body = deflate_bomb(32 << 20, "zlib" if encoding == "deflate" else "gzip")
        elif packed == "cut":
            body = gzip.compress(feed)[:20]
        else:
            body = feed
        headers.append((b"Content-Encoding", encoding.encode()))
    else:
        body = draw(st.sampled_from([b"", b"<html>busy</html>", feed]))
    if kind == "redirect" or draw(st.booleans()):
        headers.append((b"Location", draw(where).encode("utf-8", "surrogatepass")))
    if status in (429, 503) or draw(st.integers(0, 3)) == 0:
        headers.append((b"Retry-After", draw(odd_values)))
    extra = st.tuples(
        st.sampled_from(HEADER_NAMES).map(str.encode), st.one_of(odd_values, latin1_values)
    )
    headers += draw(st.lists(extra, max_size=4))
    framing = draw(st.sampled_from(["length", "length", "short", "long", "odd", "none", "chunked"]))
    if framing == "length":
        headers.insert(0, (b"Content-Length", str(len(body)).encode()))
    elif framing == "short":
        headers.insert(0, (b"Content-Length", str(len(body) + 1000).encode()))
    elif framing == "long":
        headers.insert(0, (b"Content-Length", str(max(0, len(body) // 2)).encode()))
    elif framing == "odd":
        headers.insert(0, (b"Content-Length", draw(odd_values)))
    elif framing == "chunked":
        headers.insert(0, (b"Transfer-Encoding", b"chunked"))
        size = draw(st.sampled_from(["right", "wrong"]))
        if size == "right":
            body = (
                (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
            )
        else:
            body = b"zz\r\n" + body
    if not any(name.lower() == b"content-type" for name, _ in headers):
        headers.append((b"Content-Type", draw(st.sampled_from(CONTENT_TYPES)).encode()))
    head = b"\r\n".join([line, *(n + b": " + v for n, v in headers)])
    return head + b"\r\n\r\n" + body


@st.composite
def hostile_sites(draw: Any, port: int) -> tuple[str, dict[str, bytes]]:
    """A prefix and the answers of its three paths (/a is where the visitor starts)."""
    prefix = fresh_prefix()
    feed = rss(f"Feed {prefix}", [f"{prefix}-{i}" for i in range(draw(st.integers(0, 3)))])
    pages = {f"{prefix}/{name}": draw(answers(prefix, port, feed)) for name in ("a", "b", "c")}
    return prefix, pages


def install(site: RawRoutes, pages: dict[str, bytes]) -> None:
    for path, answer in pages.items():
        site.routes[path] = lambda answer=answer: answer


# ---------------------------------------------------------------------------------------------
# The instance, a visitor, and what a visitor sees


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webnet") / "net.db"
    store.open_db(path).conn.close()
    return path


@pytest.fixture(scope="module")
def ds(db_file: Path) -> Any:
    return build_datasette(db_file, fetch_saved=True, refresh_every=3600)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def messages(page: str) -> list[str]:
    return [
        text_of(m)
        for m in re.findall(r'<p class="message-(?:info|warning|error)">(.*?)</p>', page, re.S)
    ]


def feed_row(page: str, feed_id: int) -> dict[str, str]:
    """One feed's row on the feeds page: its status and its shown error."""
    block = re.search(rf'<li class="feed-row[^"]*" id="feed-{feed_id}".*?</li>', page, re.S)
    assert block, f"feed {feed_id} is not listed"
    status = re.search(r'<span class="status status-[a-z]+">(.*?)</span>', block.group(0))
    error = re.search(r'<p class="feed-error">(.*?)</p>', block.group(0), re.S)
    return {
        "status": status.group(1) if status else "",
        "error": text_of(error.group(1)) if error else "",
    }


def assert_one_line(line: str) -> None:
    assert line and "\n" not in line and len(line) <= MAX_LINE, line
    assert not TECHNICAL.search(line), line


def assert_page(response: Any) -> None:
    """A page a person can read: never a 500, never the program's insides."""
    assert response.status_code < 500, response.text[:2000]
    assert not TECHNICAL.search(response.text), response.text[:2000]


# The well-behaved feed: one new entry each time it is asked.
_good_serial = itertools.count()


def good_feed(site: RawRoutes) -> str:
    def answer() -> bytes:
        n = next(_good_serial)
        body = rss("Good Feed", [f"good-{i}" for i in range(n + 1)])
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    site.routes["/good.xml"] = answer
    return site.url("/good.xml")


def good_id(db_file: Path, site: RawRoutes) -> int:
    url = good_feed(site)
    db = store.open_db(db_file, migrate=False)
    try:
        feed_id, _ = store.add_feed(db, url, title="Good Feed")
    finally:
        db.conn.close()
    return int(feed_id)


def add_feed(db_file: Path, url: str) -> int:
    db = store.open_db(db_file, migrate=False)
    try:
        feed_id, _ = store.add_feed(db, url)
    finally:
        db.conn.close()
    return int(feed_id)


def articles_of(db_file: Path, feed_id: int) -> int:
    return int(rows(db_file, f"select count(*) from articles where feed_id = {feed_id}")[0][0])


def feed_state(db_file: Path, feed_id: int) -> tuple[Any, ...]:
    return rows(
        db_file, f"select last_fetched_at, last_error, status from feeds where id = {feed_id}"
    )[0]


# ---------------------------------------------------------------------------------------------
# Subscribe


@SETTINGS
@given(data=st.data())
def test_subscribing_to_any_site_answers_in_one_line(
    ds: Any, db_file: Path, allowed: RawRoutes, data: Any
) -> None:
    prefix, pages = data.draw(hostile_sites(allowed.port))
    install(allowed, pages)
    visitor = Visitor(ds)
    before = rows(db_file, "select count(*) from feeds")[0][0]
    response = visitor.post("/-/subscribe", {"url": allowed.url(f"{prefix}/a")})
    assert_page(response)
    assert response.status_code in (200, 422), response.status_code
    found = re.search(r'class="subscribe-result[^"]*"[^>]*>(.*?)</p>', response.text, re.S)
    assert found, response.text[:2000]
    line = text_of(found.group(1))
    assert_one_line(line)
    after = rows(db_file, "select count(*) from feeds")[0][0]
    if response.status_code == 422:
        assert line.startswith("Nothing was subscribed:"), line
        assert after == before
    else:
        assert line.startswith(("Subscribed to", "Already subscribed to")), line


# ---------------------------------------------------------------------------------------------
# Refresh now, Refresh all, the scheduled refresh


def check_feed_shown(ds: Any, db_file: Path, page: str, feed_id: int) -> None:
    """The feed was checked, and its row shows its error (if it has one) in one line."""
    fetched, error, status = feed_state(db_file, feed_id)
    assert fetched, "the check was not recorded"
    shown = feed_row(page, feed_id)
    if error:
        assert shown["error"], f"the error {error!r} is not shown"
        assert_one_line(shown["error"])
    else:
        assert not shown["error"]


@SETTINGS
@given(data=st.data())
def test_refresh_now_of_any_answer_says_what_happened_and_keeps_the_others(
    ds: Any, db_file: Path, allowed: RawRoutes, data: Any
) -> None:
    prefix, pages = data.draw(hostile_sites(allowed.port))
    install(allowed, pages)
    good = good_id(db_file, allowed)
    feed_id = add_feed(db_file, allowed.url(f"{prefix}/a"))
    visitor = Visitor(ds)
    response = visitor.post(f"/-/feeds/{feed_id}/refresh")
    assert_page(response)
    assert response.status_code == 303
    page = visitor.get("/-/feeds")
    assert_page(page)
    shown = messages(page.text)
    assert len(shown) == 1, shown
    assert_one_line(shown[0])
    assert shown[0].startswith(("Refreshed", "Could not refresh")), shown[0]
    check_feed_shown(ds, db_file, page.text, feed_id)
    # the well-behaved feed on the same instance still refreshes
    before = articles_of(db_file, good)
    visitor.post(f"/-/feeds/{good}/refresh")
    page = visitor.get("/-/feeds")
    assert messages(page.text)[0].startswith("Refreshed Good Feed:"), messages(page.text)
    assert articles_of(db_file, good) > before
    assert feed_row(page.text, good) == {"status": "ok", "error": ""}


@SETTINGS
@given(data=st.data())
def test_refresh_all_and_the_scheduled_refresh_record_each_feed_apart(
    ds: Any, db_file: Path, allowed: RawRoutes, data: Any
) -> None:
    sites = [data.draw(hostile_sites(allowed.port)) for _ in range(2)]
    ids = []
    for prefix, pages in sites:
        install(allowed, pages)
        ids.append(add_feed(db_file, allowed.url(f"{prefix}/a")))
    good = good_id(db_file, allowed)
    before = articles_of(db_file, good)
    scheduled = data.draw(st.booleans(), label="scheduled")
    visitor = Visitor(ds)
    if scheduled:
        # what `serve --refresh-every` runs on its schedule, with its own wait
        runner = web_feeds._runner(ds)
        store_db = store.open_db(db_file, migrate=False)
        try:  # everything due now, as a feed just subscribed is
            for feed_id in [*ids, good]:
                store.update_feed(store_db, feed_id, next_check_at=None)
        finally:
            store_db.conn.close()
        line = runner.run(
            every_feed=False, what="scheduled refresh", wait=refresher.BACKGROUND_LOCK_WAIT
        )
        assert_one_line(line)
    else:

        async def press() -> dict[str, Any]:
            # one loop for the whole visit, as a server has: the run is a task on it
            await ds.client.post(
                "/-/feeds/refresh-all", data={"csrftoken": visitor.token}, cookies=visitor.cookies
            )
            for _ in range(1200):
                progress = (await ds.client.get("/-/feeds/progress.json")).json()
                if not progress["running"]:
                    return progress
                await asyncio.sleep(0.05)
            raise AssertionError("the run did not end")

        progress = run(press())
        assert progress["last_error"] is None, progress
        assert_one_line(progress["last_result"])
    page = visitor.get("/-/feeds")
    assert_page(page)
    for feed_id in ids:
        check_feed_shown(ds, db_file, page.text, feed_id)
    assert articles_of(db_file, good) > before
    assert feed_row(page.text, good) == {"status": "ok", "error": ""}


# ---------------------------------------------------------------------------------------------
# Saving a link: the page is fetched in the background


@SETTINGS
@given(data=st.data())
def test_saving_any_page_records_its_fetch_on_the_article(
    ds: Any, db_file: Path, allowed: RawRoutes, data: Any
) -> None:
    prefix, pages = data.draw(hostile_sites(allowed.port))
    install(allowed, pages)
    visitor = Visitor(ds)
    response = visitor.post("/-/save", {"url": allowed.url(f"{prefix}/a"), "title": "Saved"})
    assert_page(response)
    assert response.status_code == 303
    target = response.headers["location"]
    article_id = int(re.search(r"/articles/(\d+)", target).group(1))
    deadline = time.monotonic() + 120
    while rows(db_file, f"select fetch_status from articles where id = {article_id}")[0][0] in (
        "pending",
        None,
    ):
        assert time.monotonic() < deadline, "the background fetch did not end"
        time.sleep(0.05)
    page = visitor.get(target)
    assert_page(page)
    assert page.status_code == 200
    status, error = rows(
        db_file, f"select fetch_status, fetch_error from articles where id = {article_id}"
    )[0]
    if error:
        shown = re.search(r"The page could not be fetched: (.*?)</p>", page.text, re.S)
        if status != "pending":
            assert shown, f"the error {error!r} is not shown"
            assert_one_line(text_of(shown.group(1)))


# ---------------------------------------------------------------------------------------------
# Found by the properties above: what a server sends may be long, what a person reads is short


def test_a_long_title_or_a_long_redirect_gives_short_messages_and_rows(
    ds: Any, db_file: Path, allowed: RawRoutes
) -> None:
    """A feed's own title of 100,000 characters, then a redirect to a blocked address 9,000
    characters long (the error quotes it): the message of Refresh now and the feed's row stay
    one short line (a message travels in a cookie, which a browser drops past 4 KB)."""
    prefix = fresh_prefix()
    allowed.routes[f"{prefix}/a"] = lambda: raw_answer(200, rss("L" * 100_000, ["x"]))
    feed_id = add_feed(db_file, allowed.url(f"{prefix}/a"))
    visitor = Visitor(ds)
    visitor.post(f"/-/feeds/{feed_id}/refresh")
    visitor.get("/-/feeds")
    far = "http://10.0.0.1/" + "a" * 9000
    allowed.routes[f"{prefix}/a"] = lambda: raw_answer(302, b"", location=far)
    response = visitor.post(f"/-/feeds/{feed_id}/refresh")
    assert len(response.headers.get("set-cookie", "")) < 4096
    page = visitor.get("/-/feeds")
    shown = messages(page.text)
    assert len(shown) == 1 and shown[0].startswith("Refreshed L"), shown
    assert "blocked address" in shown[0]
    assert_one_line(shown[0])
    error = feed_row(page.text, feed_id)["error"]
    assert "blocked address" in error
    assert_one_line(error)


def raw_answer(status: int, body: bytes, *, location: str | None = None) -> bytes:
    head = f"HTTP/1.1 {status} Status\r\nContent-Type: application/rss+xml\r\n"
    if location is not None:
        head += f"Location: {location}\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_a_page_with_hundreds_of_feed_links_is_not_fetched_link_by_link(
    ds: Any, db_file: Path, allowed: RawRoutes
) -> None:
    """Subscribing to a page that names 300 feeds, none of them a feed: a bounded number of
    fetches (the page's first links and the usual paths), then one line saying none was found."""
    prefix = fresh_prefix()
    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="{prefix}/f{i}">'
        for i in range(300)
    )
    page = f"<html><head><title>Many</title>{links}</head><body>Hi</body></html>".encode()
    allowed.routes[f"{prefix}/"] = lambda: raw_answer(200, page)
    for i in range(300):
        allowed.routes[f"{prefix}/f{i}"] = lambda: raw_answer(404, b"")
    response = Visitor(ds).post("/-/subscribe", {"url": allowed.url(f"{prefix}/")})
    assert response.status_code == 422
    named = re.compile(rf"{prefix}/f[0-9]+$")
    asked = sum(n for path, n in allowed.hits.items() if named.match(path))
    assert asked == MAX_PAGE_FEED_LINKS, asked
