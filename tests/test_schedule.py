"""Scheduling as a user sees it through the CLI: status ok / failing / gone / paused, backoff
shown, 410 stops polling, Retry-After and Cache-Control honoured, `fetch` takes what is due and
`--all` forces every active feed. (reliability.md cases 27-30.)"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from aggregator.service import MAX_BACKOFF, backoff_seconds
from tests.conftest import run
from tests.httpserver import LocalServer, Route

RSS = "application/rss+xml"
BODY = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Tides</title>'
    b"<item><title>One</title><link>http://tides.test/1</link></item>"
    b"<item><title>Two</title><link>http://tides.test/2</link></item></channel></rss>"
)


def feed_json(url: str) -> dict:
    feeds = json.loads(run("feeds", "--format", "json").output)
    return next(f for f in feeds if f["url"] == url)


def seconds_until(iso: str) -> float:
    when = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return when.timestamp() - time.time()


def sequence(*responses: tuple[int, dict[str, str]]) -> Callable[[BaseHTTPRequestHandler], None]:
    """Answers the given (status, headers) in turn, then 200 with the feed for ever."""
    left = list(responses)

    def handler(h: BaseHTTPRequestHandler) -> None:
        status, headers = left.pop(0) if left else (200, {})
        body = BODY if status == 200 else b"no"
        h.send_response(status)
        h.send_header("Content-Type", RSS if status == 200 else "text/plain")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handler


def test_backoff_grows_and_is_capped_at_a_day() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [300, 600, 1200]
    assert backoff_seconds(50) == MAX_BACKOFF == 24 * 3600


def test_failing_then_recovering_shows_status_backoff_and_clears(
    server: LocalServer, db_path: Path
) -> None:
    url = server.add("/flaky.xml", sequence((200, {}), (500, {}), (503, {}), (200, {})))
    run("subscribe", url)
    assert feed_json(url)["status"] == "ok" and feed_json(url)["next_check_at"] is None
    run("fetch")  # 500
    feed = feed_json(url)
    assert feed["status"] == "failing" and feed["error_count"] == 1
    assert feed["last_error"] == "HTTP 500 Internal Server Error"
    assert 250 < seconds_until(feed["next_check_at"]) <= 300
    table = run("feeds").output
    shown = f"ERROR (1): HTTP 500 Internal Server Error  (next try {feed['next_check_at']})"
    assert f"failing  {shown}" in table
    run("fetch")  # not due yet: no request
    assert len(server.hits("/flaky.xml")) == 2
    run("fetch", "--all")  # forced: 503, the backoff doubles
    feed = feed_json(url)
    assert feed["error_count"] == 2 and feed["last_error"].startswith("HTTP 503")
    assert 550 < seconds_until(feed["next_check_at"]) <= 600
    run("fetch", "--all")  # 200: the error is cleared, no duplicates
    feed = feed_json(url)
    assert (feed["status"], feed["error_count"], feed["last_error"], feed["articles"]) == (
        "ok",
        0,
        None,
        2,
    )


def test_410_marks_the_feed_gone_and_stops_polling_until_resumed(
    server: LocalServer, db_path: Path
) -> None:
    url = server.add("/gone.xml", sequence((200, {}), (410, {})))
    run("subscribe", url)
    run("fetch")
    feed = feed_json(url)
    assert feed["status"] == "gone" and feed["articles"] == 2  # entries kept
    assert "410" in feed["last_error"] and "aggregator resume" in feed["last_error"]
    run("fetch")
    run("fetch", "--all")
    assert len(server.hits("/gone.xml")) == 2  # subscribe and the 410: nothing since
    assert "Resumed" in run("resume", url).output
    run("fetch")
    assert len(server.hits("/gone.xml")) == 3
    assert feed_json(url)["status"] == "ok"


def test_pause_stops_polling_even_with_all(server: LocalServer, db_path: Path) -> None:
    url = server.add("/quiet.xml", Route(body=BODY, content_type=RSS))
    run("subscribe", url)
    assert run("pause", url).output == f"Paused {url}\n"
    run("fetch", "--all")
    run("fetch")
    assert len(server.hits("/quiet.xml")) == 1
    assert feed_json(url)["status"] == "paused"
    missing = run("pause", "http://nowhere.test/feed", ok=False)
    assert missing.exit_code == 1
    assert missing.output == "Error: not subscribed: http://nowhere.test/feed\n"
    run("resume", url)
    run("fetch")
    assert len(server.hits("/quiet.xml")) == 2


def test_retry_after_on_429_and_503_is_respected_and_capped(
    server: LocalServer, db_path: Path
) -> None:
    in_two_hours = email.utils.formatdate(time.time() + 7200, usegmt=True)
    cases = {
        "/seconds.xml": ((429, {"Retry-After": "3600"}), 3600),
        "/date.xml": ((503, {"Retry-After": in_two_hours}), 7200),
        "/huge.xml": ((429, {"Retry-After": "99999999"}), 7 * 24 * 3600),
    }
    for path, (response, _) in cases.items():
        server.add(path, sequence((200, {}), response))
        run("subscribe", server.url(path))
    run("fetch")
    for path, (_, wait) in cases.items():
        feed = feed_json(server.url(path))
        assert feed["status"] == "failing"
        assert wait - 60 < seconds_until(feed["next_check_at"]) <= wait, path
    run("fetch")
    for path in cases:
        assert len(server.hits(path)) == 2, path  # not asked again before its time


def test_due_feeds_follow_the_server_headers_and_the_ttl(
    server: LocalServer, db_path: Path
) -> None:
    plain = server.add("/plain.xml", Route(body=BODY, content_type=RSS, etag='"v1"'))
    cached = server.add(
        "/cached.xml", Route(body=BODY, content_type=RSS, headers={"Cache-Control": "max-age=3600"})
    )
    ttl_body = BODY.replace(b"<title>Tides</title>", b"<title>Tides</title><ttl>90</ttl>")
    ttl = server.add("/ttl.xml", Route(body=ttl_body, content_type=RSS))
    run("subscribe", plain, cached, ttl)
    # no caching header: due again on the very next fetch, asked conditionally (answered 304)
    assert feed_json(plain)["next_check_at"] is None
    assert 3500 < seconds_until(feed_json(cached)["next_check_at"]) <= 3600
    assert 5300 < seconds_until(feed_json(ttl)["next_check_at"]) <= 5400
    run("fetch")
    run("fetch")
    assert len(server.hits("/plain.xml")) == 3
    assert server.hits("/plain.xml")[-1].get("if-none-match") == '"v1"'
    assert len(server.hits("/cached.xml")) == 1 and len(server.hits("/ttl.xml")) == 1
    run("fetch", "--all")
    assert len(server.hits("/cached.xml")) == 2 and len(server.hits("/ttl.xml")) == 2


def turns_hostile(status: int, headers: list[tuple[str, bytes]]) -> Callable[
    [BaseHTTPRequestHandler], None
]:
    """Answers honestly once (the subscription), then with `status` and raw header bytes."""
    calls: list[int] = []

    def handler(h: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        if len(calls) == 1:
            h.send_response(200)
            h.send_header("Content-Type", RSS)
            h.send_header("Content-Length", str(len(BODY)))
            h.end_headers()
            h.wfile.write(BODY)
            return
        body = BODY if status == 200 else b"no"
        h.close_connection = True
        lines = [b"HTTP/1.1 %d X\r\n" % status, b"Content-Type: application/rss+xml\r\n"]
        lines += [name.encode() + b": " + value + b"\r\n" for name, value in headers]
        if not any(name.lower() == "content-length" for name, _ in headers):
            lines.append(b"Content-Length: %d\r\n" % len(body))
        h.wfile.write(b"".join(lines) + b"\r\n" + body)

    return handler


def test_header_values_that_do_not_read_never_stop_the_run(
    server: LocalServer, db_path: Path
) -> None:
    """Unicode digits that str.isdigit() accepts and int() refuses, dates past year 9999 and
    numbers of thirty digits: each is ignored or makes that feed's error, and the honest feed
    beside them is refreshed."""
    week = 7 * 24 * 3600
    cases = {  # path: (status, headers, expected status, expected wait (low, high) or None)
        "/retry-sup.xml": (503, [("Retry-After", "²".encode("latin-1"))], "failing", (250, 300)),
        "/retry-huge.xml": (429, [("Retry-After", b"9" * 30)], "failing", (week - 60, week)),
        "/max-age.xml": (200, [("Cache-Control", "max-age=¹".encode("latin-1"))], "ok", None),
        "/age.xml": (
            200,
            [("Cache-Control", b"max-age=600"), ("Age", "³".encode("latin-1"))],
            "ok",
            (540, 600),
        ),
        "/expires.xml": (
            200,
            [("Expires", b"Thu, 01 Jan 9999999999 00:00:00 GMT")],
            "ok",
            None,
        ),
        "/length.xml": (200, [("Content-Length", "²".encode("latin-1"))], "failing", (250, 300)),
    }
    for path, (status, headers, _, _) in cases.items():
        server.add(path, turns_hostile(status, headers))
    honest_body = {"body": BODY}

    def honest(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", RSS)
        h.send_header("Content-Length", str(len(honest_body["body"])))
        h.end_headers()
        h.wfile.write(honest_body["body"])

    honest_url = server.add("/honest.xml", honest)
    run("subscribe", honest_url, *(server.url(p) for p in cases))
    honest_body["body"] = BODY.replace(
        b"</channel>", b"<item><title>Three</title><link>http://tides.test/3</link></item></channel>"
    )
    result = run("fetch")
    assert "Traceback" not in result.output
    assert feed_json(honest_url)["articles"] == 3
    for path, (_, _, status, wait) in cases.items():
        feed = feed_json(server.url(path))
        assert feed["status"] == status, (path, feed["last_error"])
        if status == "failing":
            assert feed["last_error"] and "\n" not in feed["last_error"], path
        if wait is None:
            assert feed["next_check_at"] is None, path
        else:
            assert wait[0] < seconds_until(feed["next_check_at"]) <= wait[1], path
