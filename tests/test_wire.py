"""The HTTP/1.1 client (aggregator/wire.py under fetch.Client) against raw sockets: kept-alive
connections reused, a connection the server closed retried once, chunked bodies, bare-LF
headers, http:// proxies (absolute form and CONNECT), request targets and IDNA host names."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from aggregator import fetch
from aggregator.errors import FetchError
from aggregator.fetch import AddressPolicy, FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
RawServer = Callable[[Callable[[socket.socket], None]], int]


def allow(*ports: int) -> AddressPolicy:
    return AddressPolicy.parse(",".join(f"127.0.0.1:{p}" for p in ports))


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def fetch_many(urls: list[str], **client: Any) -> list[FetchResult]:
    """Fetch the URLs one after another through one client (so connections can be reused)."""

    async def run() -> list[FetchResult]:
        async with fetch.make_client(**client) as c:
            return [await fetch.fetch_url(c, url, deadline=10) for url in urls]

    return asyncio.run(run())


def keep_alive_server(
    requests: list[bytes], connections: list[int], *, close_after: int | None = None
) -> Callable[[socket.socket], None]:
    """Answers every request on a connection with FEED, keeping it open (or closing it after
    `close_after` answers, without saying so)."""

    def serve(conn: socket.socket) -> None:
        connections.append(1)
        answered = 0
        with conn:
            while True:
                request = read_request(conn)
                if not request:
                    return
                requests.append(request)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(FEED), FEED)
                )
                answered += 1
                if close_after is not None and answered >= close_after:
                    return

    return serve


def test_a_kept_alive_connection_is_reused(raw_server: RawServer) -> None:
    requests: list[bytes] = []
    connections: list[int] = []
    port = raw_server(keep_alive_server(requests, connections))
    urls = [f"http://127.0.0.1:{port}/feed/{i}" for i in range(3)]
    results = fetch_many(urls, policy=allow(port))
    assert [r.content for r in results] == [FEED] * 3
    assert len(connections) == 1 and len(requests) == 3
    assert requests[1].startswith(b"GET /feed/1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)


def test_a_connection_the_server_closed_is_retried_on_a_new_one(raw_server: RawServer) -> None:
    requests: list[bytes] = []
    connections: list[int] = []
    port = raw_server(keep_alive_server(requests, connections, close_after=1))
    urls = [f"http://127.0.0.1:{port}/feed/{i}" for i in range(3)]
    results = fetch_many(urls, policy=allow(port))
    assert [r.content for r in results] == [FEED] * 3
    assert len(connections) == 3


def one_answer(raw: bytes) -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            conn.sendall(raw)

    return serve


def test_chunked_body_with_extensions_and_trailers(raw_server: RawServer) -> None:
    half = len(FEED) // 2
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x;name=value\r\n%s\r\n" % (half, FEED[:half])
        + b"%X\r\n%s\r\n" % (len(FEED) - half, FEED[half:])
        + b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    port = raw_server(one_answer(raw))
    assert fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))[0].content == FEED


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "conflicting"),
        (b"SPDY/3 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "invalid header line"),
    ],
)
def test_broken_framing_is_a_protocol_error(
    raw_server: RawServer, raw: bytes, message: str
) -> None:
    port = raw_server(one_answer(raw))
    with pytest.raises(FetchError, match=f"^protocol error: .*{message}"):
        fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))


def test_bare_lf_headers_and_a_body_to_the_close(raw_server: RawServer) -> None:
    port = raw_server(one_answer(b"HTTP/1.0 200 OK\nContent-Type: text/xml\n\n" + FEED))
    result = fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))[0]
    assert result.content == FEED and result.content_type == "text/xml"


def test_a_server_that_answers_nothing_is_an_incomplete_response(raw_server: RawServer) -> None:
    port = raw_server(one_answer(b""))
    with pytest.raises(FetchError, match="^incomplete response: .*without answering"):
        fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))


def test_http_proxy_gets_the_absolute_form(raw_server: RawServer) -> None:
    seen: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        with conn:
            seen.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FEED), FEED))

    port = raw_server(proxy)
    result = fetch_many(
        ["http://feeds.example/a/feed.xml?x=1"], proxy=f"http://user:pw@127.0.0.1:{port}"
    )[0]
    assert result.content == FEED
    head = seen[0].decode()
    assert head.startswith("GET http://feeds.example/a/feed.xml?x=1 HTTP/1.1\r\n")
    assert "Host: feeds.example\r\n" in head
    assert "Proxy-Authorization: Basic dXNlcjpwdw==\r\n" in head


def test_https_through_a_proxy_asks_connect(raw_server: RawServer) -> None:
    seen: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        with conn:
            seen.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    port = raw_server(proxy)
    with pytest.raises(FetchError, match="^proxy: the proxy answered HTTP 403 to CONNECT$"):
        fetch_many(["https://feeds.example/feed"], proxy=f"http://127.0.0.1:{port}")
    assert seen[0].startswith(b"CONNECT feeds.example:443 HTTP/1.1\r\nHost: feeds.example:443")


def test_only_http_proxies_are_accepted() -> None:
    with pytest.raises(fetch.AggregatorError, match="only http:// proxies"):
        fetch.make_client(proxy="socks5://127.0.0.1:1080")


def test_request_target_and_host_header() -> None:
    target = fetch._check_url("http://Bücher.Example:8080/a b/ü?q=ä#frag", first=True)
    assert target.host == "xn--bcher-kva.example" and target.port == 8080
    assert target.host_header == "xn--bcher-kva.example:8080"
    assert target.path == "/a%20b/%C3%BC?q=%C3%A4"
    assert fetch._check_url("https://[::1]/", first=True).host_header == "[::1]"
    assert fetch._check_url("https://user:p%40ss@h.example/", first=True).authorization == (
        "Basic dXNlcjpwQHNz"
    )
    with pytest.raises(FetchError, match="^invalid URL"):
        fetch._check_url("http://h.example/a\r\nX-Injected: 1", first=True)


def test_stored_validators_with_line_breaks_are_not_sent(raw_server: RawServer) -> None:
    seen: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            seen.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 304 Not Modified\r\n\r\n")

    port = raw_server(serve)

    async def run() -> FetchResult:
        async with fetch.make_client(policy=allow(port)) as c:
            return await fetch.fetch_url(
                c, f"http://127.0.0.1:{port}/", etag='"a"\r\nX-Evil: 1', last_modified="Mon"
            )

    assert asyncio.run(run()).status == 304
    assert b"X-Evil" not in seen[0] and b"If-Modified-Since: Mon\r\n" in seen[0]


def test_many_concurrent_requests_share_few_connections(raw_server: RawServer) -> None:
    requests: list[bytes] = []
    connections: list[int] = []
    port = raw_server(keep_alive_server(requests, connections))

    async def run() -> list[FetchResult]:
        async with fetch.make_client(policy=allow(port), max_connections=4) as c:
            return await asyncio.gather(
                *(fetch.fetch_url(c, f"http://127.0.0.1:{port}/{i}") for i in range(40))
            )

    results = asyncio.run(run())
    assert all(r.content == FEED for r in results)
    assert len(requests) == 40 and len(connections) <= 4
