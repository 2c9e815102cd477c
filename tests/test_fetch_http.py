"""The HTTP client under fetch_url against raw sockets: kept-alive connections reused, a
connection the server closed retried once, chunked bodies, broken framing, http:// proxies
(absolute form and CONNECT) and the checks made before a proxy is asked, request targets and
IDNA host names, stored validators that cannot be sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from aggregator import fetch
from aggregator.errors import AggregatorError, BlockedAddressError, FetchError
from aggregator.fetch import AddressPolicy, FetchResult
from aggregator.net import policy as net_policy

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


def head_lines(request: bytes) -> list[str]:
    """The request line as sent, then each header line with its name in lower case."""
    first, *rest = request.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
    return [first] + [f"{n.lower()}:{v}" for n, _, v in (line.partition(":") for line in rest)]


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
    lines = head_lines(requests[1])
    assert lines[0] == "GET /feed/1 HTTP/1.1" and f"host: 127.0.0.1:{port}" in lines


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
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nhello",
    ],
    ids=["chunk size", "two lengths", "status line", "header line", "length not ASCII"],
)
def test_broken_framing_is_a_one_line_protocol_error(raw_server: RawServer, raw: bytes) -> None:
    port = raw_server(one_answer(raw))
    with pytest.raises(FetchError, match="^protocol error: ") as info:
        fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))
    assert "\n" not in str(info.value)


def test_bare_lf_headers_and_a_body_to_the_close(raw_server: RawServer) -> None:
    port = raw_server(one_answer(b"HTTP/1.0 200 OK\nContent-Type: text/xml\n\n" + FEED))
    result = fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))[0]
    assert result.content == FEED and result.content_type == "text/xml"


def test_a_server_that_answers_nothing_is_an_incomplete_response(raw_server: RawServer) -> None:
    port = raw_server(one_answer(b""))
    with pytest.raises(FetchError, match="^incomplete response: .*closed the connection"):
        fetch_many([f"http://127.0.0.1:{port}/"], policy=allow(port))


# --------------------------------------------------------------------------- proxies


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names resolve to a public address (TEST-NET would be refused: a documentation prefix)."""
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14"]

    monkeypatch.setattr(net_policy, "resolve_host", resolver)
    return asked


def test_http_proxy_gets_the_absolute_form(raw_server: RawServer, public_dns: list[str]) -> None:
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
    lines = head_lines(seen[0])
    assert lines[0] == "GET http://feeds.example/a/feed.xml?x=1 HTTP/1.1"
    assert "host: feeds.example" in lines
    assert "proxy-authorization: Basic dXNlcjpwdw==" in lines
    assert public_dns == ["feeds.example"]  # checked here before the proxy was asked


def test_https_through_a_proxy_asks_connect(raw_server: RawServer, public_dns: list[str]) -> None:
    seen: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        with conn:
            seen.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    port = raw_server(proxy)
    with pytest.raises(FetchError, match="^proxy: the proxy answered HTTP 403 to CONNECT$"):
        fetch_many(["https://feeds.example/feed"], proxy=f"http://127.0.0.1:{port}")
    lines = head_lines(seen[0])
    assert lines[0] == "CONNECT feeds.example:443 HTTP/1.1"
    assert any(line.startswith("host: feeds.example") for line in lines)
    assert any(line.startswith("user-agent: Aggregator/") for line in lines)


@pytest.mark.parametrize(
    "host", ["localhost", "api.localhost.", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_a_proxy_is_not_asked_for_loopback_targets(raw_server: RawServer, host: str) -> None:
    seen: list[bytes] = []
    port = raw_server(lambda conn: seen.append(read_request(conn)))
    with pytest.raises(BlockedAddressError, match=r"^blocked address .*\(loopback"):
        fetch_many([f"http://{host}:8080/feed"], proxy=f"http://127.0.0.1:{port}")
    assert seen == []


def test_a_proxy_is_not_asked_for_names_that_resolve_to_private_addresses(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    port = raw_server(lambda conn: seen.append(read_request(conn)))
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: ["8.8.8.8", "10.0.0.7"])
    with pytest.raises(BlockedAddressError) as info:
        fetch_many(["http://intranet.example/feed"], proxy=f"http://127.0.0.1:{port}")
    assert str(info.value) == "blocked address 10.0.0.7 (private) for host intranet.example"
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: [])
    with pytest.raises(FetchError, match="^could not resolve host nowhere.example$"):
        fetch_many(["http://nowhere.example/feed"], proxy=f"http://127.0.0.1:{port}")
    assert seen == []


def test_a_name_allowlisted_as_written_goes_to_the_proxy_unresolved(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def proxy(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FEED), FEED))

    port = raw_server(proxy)
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: [])
    result = fetch_many(
        ["http://wiki.corp/feed"],
        proxy=f"http://127.0.0.1:{port}",
        policy=AddressPolicy.parse("wiki.corp"),
    )[0]
    assert result.content == FEED


def test_only_http_proxies_are_accepted() -> None:
    with pytest.raises(AggregatorError, match="only http:// proxies"):
        fetch.make_client(proxy="socks5://127.0.0.1:1080")


# --------------------------------------------------------------------------- what is sent


def test_request_target_host_header_and_credentials(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            seen.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FEED), FEED))

    port = raw_server(serve)
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: ["127.0.0.1"])
    url = f"http://user:p%40ss@Bücher.Example:{port}/a b/ü?q=ä#frag"
    result = fetch_many([url], policy=allow(port))[0]
    assert result.content == FEED and result.final_url == url
    lines = head_lines(seen[0])
    assert lines[0] == "GET /a%20b/%C3%BC?q=%C3%A4 HTTP/1.1"
    assert f"host: xn--bcher-kva.example:{port}" in lines
    assert "authorization: Basic dXNlcjpwQHNz" in lines  # user:p@ss
    with pytest.raises(FetchError, match="^invalid URL"):
        fetch_many(["http://h.example/a\r\nX-Injected: 1"], policy=allow(port))


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
    lines = head_lines(seen[0])
    assert b"X-Evil" not in seen[0] and "if-modified-since: Mon" in lines
    assert not any(line.startswith("if-none-match") for line in lines)


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
