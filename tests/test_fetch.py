"""fetch.py against a real local server: limits, timeouts, redirects, conditional GET, address
policy (docs/reliability.md). Never touches the internet."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from aggregator import fetch
from aggregator.errors import (
    AggregatorError,
    BlockedAddressError,
    FetchError,
    HTTPStatusError,
    TooLargeError,
)
from aggregator.fetch import AddressPolicy
from aggregator.models import FetchResult
from aggregator.net import policy as net_policy
from tests import hostile
from tests.httpserver import LocalServer, Route


def quiet_resets(srv: LocalServer) -> None:
    """Hostile tests hang up on purpose; keep the server's tracebacks for real failures."""
    inner = srv._server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            inner(request, client_address)

    srv._server.handle_error = handle_error  # type: ignore[method-assign]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """conftest's server, but one that shuts down in 50 ms rather than 500 ms."""
    srv = LocalServer(poll_interval=0.05)
    quiet_resets(srv)
    srv.start()
    monkeypatch.setenv("AGGREGATOR_ALLOW_HOSTS", f"127.0.0.1:{srv.port}")
    yield srv
    srv.stop()


RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


def get(
    url: str, *, policy: AddressPolicy | None = None, proxy: str | None = None, **kw: Any
) -> FetchResult:
    """One fetch through make_client, like the service does it."""

    async def run() -> FetchResult:
        async with fetch.make_client(policy=policy, proxy=proxy) as client:
            return await fetch.fetch_url(client, url, **kw)

    return asyncio.run(run())


def fails(url: str, kind: type[FetchError] = FetchError, **kw: Any) -> FetchError:
    with pytest.raises(kind) as info:
        get(url, **kw)
    error = info.value
    assert error.url == url
    assert "\n" not in str(error)
    return error


def loopback(*ports: int) -> AddressPolicy:
    return AddressPolicy.parse(",".join(f"127.0.0.1:{p}" for p in ports))


# --------------------------------------------------------------------------- success paths


def test_plain_success_sends_our_headers(server: LocalServer) -> None:
    url = server.add("/feed", Route(body=RSS, content_type="application/rss+xml; charset=UTF-8"))
    result = get(url)
    assert result.status == 200 and result.content == RSS
    assert result.content_type == "application/rss+xml" and result.charset == "utf-8"
    assert result.final_url == url and result.permanent_redirect is None
    sent = server.hits("/feed")[0]
    assert "Aggregator" in sent["user-agent"]
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in sent["accept"]
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_gzip_success(server: LocalServer) -> None:
    body = RSS * 200
    url = server.add("/gz", Route(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}))
    assert get(url).content == body


def test_two_gzip_members_are_one_body(server: LocalServer) -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    url = server.add("/gz2", Route(body=data, headers={"Content-Encoding": "gzip"}))
    assert get(url).content == b"first second"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_success_wrapped_and_raw(server: LocalServer, wbits: int) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = RSS * 100
    data = comp.compress(body) + comp.flush()
    url = server.add("/df", Route(body=data, headers={"Content-Encoding": "deflate"}))
    assert get(url).content == body


def test_empty_body_is_returned_as_empty(server: LocalServer) -> None:
    url = server.add("/empty", Route(body=b""))
    result = get(url)
    assert result.status == 200 and result.content == b""


def test_fetch_url_sync_uses_the_env_policy(server: LocalServer) -> None:
    url = server.add("/sync", Route(body=RSS))
    assert fetch.fetch_url_sync(url, deadline=5).content == RSS


# --------------------------------------------------------------------------- transport faults


def test_connection_refused() -> None:
    port = hostile.closed_port()
    error = fails(f"http://127.0.0.1:{port}/feed", policy=loopback(port))
    assert str(error) == "connection refused"


def test_server_that_never_answers_times_out_on_read() -> None:
    with hostile.silent_listener() as port:
        started = time.monotonic()
        error = fails(
            f"http://127.0.0.1:{port}/", policy=loopback(port), read_timeout=1, deadline=10
        )
    assert "timed out after 1 s" in str(error)
    assert time.monotonic() - started < 3


def test_connect_timeout_covers_slow_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    monkeypatch.setattr(net_policy, "resolve_host", slow)
    started = time.monotonic()
    error = fails("http://slow-dns.example/", connect_timeout=0.5)
    assert str(error) == "connect timed out after 0.5 s"
    assert time.monotonic() - started < 2


def test_dribbling_body_is_cut_at_the_deadline(server: LocalServer) -> None:
    url = server.add("/drip", hostile.dribble(interval=0.3))
    started = time.monotonic()
    error = fails(url, deadline=2, read_timeout=5)
    elapsed = time.monotonic() - started
    assert str(error) == "timed out after 2 s"
    assert 1.8 < elapsed < 3.5


def test_endless_chunked_body_stops_at_the_cap(server: LocalServer) -> None:
    url = server.add("/endless", hostile.endless_chunked())
    error = fails(url, TooLargeError, max_bytes=2 * 1024 * 1024, deadline=10)
    assert str(error) == "response too large (over 2 MiB)"


def test_huge_content_length_refused_before_reading(server: LocalServer) -> None:
    url = server.add("/huge", hostile.huge_length())
    started = time.monotonic()
    error = fails(url, TooLargeError, deadline=5)
    assert str(error) == "response too large (over 15 MiB)"
    assert time.monotonic() - started < 2  # the server holds the body back for 10 s


def test_body_shorter_than_content_length_is_an_error(server: LocalServer) -> None:
    url = server.add("/short", hostile.short_body())
    error = fails(url)
    assert str(error).startswith("incomplete response")


def test_connection_reset_midway_returns_nothing(server: LocalServer) -> None:
    url = server.add("/reset", hostile.reset_midway())
    error = fails(url, deadline=5)
    assert str(error) == "connection reset by peer"


# --------------------------------------------------------------------------- encodings and bombs


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(server: LocalServer) -> None:
    bomb = hostile.deflate_bomb(1 << 30, "gzip")  # 1 GiB of zeros in about 1 MiB
    url = server.add("/bomb", Route(body=bomb, headers={"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        error = fails(url, TooLargeError)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(error) == "response too large (over 15 MiB)"
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("wrapper", ["zlib", "raw"])
def test_deflate_bombs_stop_at_the_cap(server: LocalServer, wrapper: str) -> None:
    bomb = hostile.deflate_bomb(64 << 20, wrapper)
    url = server.add("/dbomb", Route(body=bomb, headers={"Content-Encoding": "deflate"}))
    error = fails(url, TooLargeError, max_bytes=4 << 20)
    assert str(error) == "response too large (over 4 MiB)"


def test_compressed_bytes_count_even_when_they_decode_to_nothing(server: LocalServer) -> None:
    # Raw deflate made of empty stored blocks: 3 MB on the wire, zero bytes decoded.
    body = b"\x00\x00\x00\xff\xff" * 600_000 + b"\x03\x00"
    url = server.add("/nothing", hostile.chunked(body, {"Content-Encoding": "deflate"}))
    assert str(fails(url, TooLargeError, max_bytes=1 << 20)) == "response too large (over 1 MiB)"
    assert get(url, max_bytes=4 << 20).content == b""


def test_bomb_just_under_the_cap_decodes(server: LocalServer) -> None:
    bomb = hostile.deflate_bomb(4 << 20, "gzip")
    url = server.add("/fits", Route(body=bomb, headers={"Content-Encoding": "gzip"}))
    assert get(url, max_bytes=4 << 20).content == b"\0" * (4 << 20)


def test_stacked_encodings_refused(server: LocalServer) -> None:
    body = gzip.compress(gzip.compress(b"\0" * (8 << 20)))
    url = server.add("/gzgz", Route(body=body, headers={"Content-Encoding": "gzip, gzip"}))
    error = fails(url)
    assert str(error) == "stacked content encodings refused: gzip, gzip"


def test_invalid_gzip_is_a_clear_error(server: LocalServer) -> None:
    url = server.add(
        "/badgz", Route(body=b"this is not gzip at all", headers={"Content-Encoding": "gzip"})
    )
    error = fails(url)
    assert str(error).startswith("invalid gzip data")


def test_truncated_gzip_is_an_error(server: LocalServer) -> None:
    data = gzip.compress(RSS * 50)[:-20]
    url = server.add("/cutgz", Route(body=data, headers={"Content-Encoding": "gzip"}))
    assert "truncated" in str(fails(url))


@pytest.mark.parametrize("coding", ["compress", "br", "zstd"])
def test_unknown_encoding_refused(server: LocalServer, coding: str) -> None:
    url = server.add("/enc", Route(body=RSS, headers={"Content-Encoding": coding}))
    assert str(fails(url)) == f"unsupported content encoding: {coding}"


# --------------------------------------------------------------------------- redirects


def test_301_chain_is_permanent(server: LocalServer) -> None:
    final = server.add("/new", Route(body=RSS))
    server.redirect("/mid", final, status=308)
    start = server.redirect("/old", server.url("/mid"), status=301)
    result = get(start)
    assert result.content == RSS and result.url == start
    assert result.final_url == final and result.permanent_redirect == final


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_is_followed_not_permanent(
    server: LocalServer, status: int
) -> None:
    final = server.add("/new", Route(body=RSS))
    server.redirect("/mid", final, status=301)
    start = server.redirect("/old", server.url("/mid"), status=status)
    result = get(start)
    assert result.content == RSS and result.final_url == final
    assert result.permanent_redirect is None


def test_redirect_loop(server: LocalServer) -> None:
    server.redirect("/a", server.url("/b"), status=302)
    url = server.redirect("/b", server.url("/a"), status=302)
    assert str(fails(url)) == "too many redirects (more than 10)"
    assert len(server.hits("/a")) + len(server.hits("/b")) == 11


def test_redirect_chain_of_30(server: LocalServer) -> None:
    for i in range(30):
        server.redirect(f"/r{i}", server.url(f"/r{i + 1}"))
    server.add("/r30", Route(body=RSS))
    assert str(fails(server.url("/r0"))) == "too many redirects (more than 10)"
    assert not server.hits("/r30") and not server.hits("/r11")
    # ... while ten hops are fine
    assert get(server.url("/r20")).final_url == server.url("/r30")


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/", "javascript:alert(1)"],
)
def test_redirect_to_other_schemes_refused(server: LocalServer, target: str) -> None:
    url = server.redirect("/go", target)
    error = fails(url)
    scheme = target.split(":", 1)[0]
    assert str(error) == f"redirect to a URL with a scheme that is not allowed: {scheme}"


def test_start_url_with_other_scheme_refused() -> None:
    assert "scheme that is not allowed: file" in str(fails("file:///etc/passwd"))


def test_redirect_to_other_loopback_port_blocked(server: LocalServer) -> None:
    other = LocalServer(poll_interval=0.05)
    quiet_resets(other)
    other.start()
    try:
        other.add("/secret", Route(body=b"internal"))
        url = server.redirect("/go", other.url("/secret"))
        error = fails(url, BlockedAddressError)
        assert str(error).startswith("blocked address 127.0.0.1 (loopback)")
        assert "on redirect to" in str(error)
        assert other.requests == []
    finally:
        other.stop()


def test_redirect_to_metadata_address_blocked(server: LocalServer) -> None:
    url = server.redirect("/meta", "http://169.254.169.254/latest/meta-data/")
    error = fails(url, BlockedAddressError)
    assert str(error).startswith("blocked address 169.254.169.254 (link-local)")


# --------------------------------------------------------------------------- address policy


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "127.0.0.1"]
)
def test_loopback_spellings_refused_without_allowlist(
    server: LocalServer, host: str
) -> None:
    # Only another port is allowlisted: each spelling resolves to 127.0.0.1:PORT and is refused.
    error = fails(
        f"http://{host}:{server.port}/", BlockedAddressError, policy=loopback(server.port + 1)
    )
    assert "(loopback" in str(error)
    assert server.requests == []


def test_trailing_dot_is_not_the_allowlisted_name(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: ["127.0.0.1"])
    policy = AddressPolicy.parse(f"localhost:{server.port}")
    url = server.add("/feed", Route(body=RSS))
    assert get(url.replace("127.0.0.1", "localhost"), policy=policy).content == RSS
    error = fails(f"http://localhost.:{server.port}/feed", BlockedAddressError, policy=policy)
    assert str(error) == "blocked address 127.0.0.1 (loopback) for host localhost."
    assert len(server.requests) == 1


def test_rebinding_answer_with_one_internal_address_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: ["93.184.215.14", "127.0.0.1"])
    error = fails(
        f"http://feeds.example:{server.port}/", BlockedAddressError, policy=AddressPolicy()
    )
    assert str(error) == "blocked address 127.0.0.1 (loopback) for host feeds.example"
    assert server.requests == []


def test_connects_to_the_checked_ip_with_the_hostname_in_host(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(net_policy, "resolve_host", resolver)
    server.add("/feed", Route(body=RSS))
    result = get(f"http://feeds.example:{server.port}/feed")
    assert result.content == RSS and asked == ["feeds.example"]
    assert server.hits("/feed")[0]["host"] == f"feeds.example:{server.port}"


def test_unresolvable_host_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_policy, "resolve_host", lambda host, port: [])
    error = fails("http://nothing.example/", policy=AddressPolicy())
    assert str(error) == "could not resolve host nothing.example"


def test_env_proxy_ignored(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{hostile.closed_port()}"
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead)
    url = server.add("/feed", Route(body=RSS))
    assert get(url).content == RSS


def test_configured_dead_proxy_is_a_clear_error(server: LocalServer) -> None:
    url = server.add("/feed", Route(body=RSS))
    dead = f"http://127.0.0.1:{hostile.closed_port()}"
    assert str(fails(url, proxy=dead)) == "proxy: connection refused"
    assert server.requests == []


def test_proxy_still_checks_literal_ip_targets() -> None:
    dead = f"http://127.0.0.1:{hostile.closed_port()}"
    error = fails("http://10.1.2.3/feed", BlockedAddressError, proxy=dead, policy=AddressPolicy())
    assert str(error) == "blocked address 10.1.2.3 (private)"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("10.0.0.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "reserved"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "reserved"),
        ("198.19.255.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback, wrapped in IPv6"),
        ("::ffff:10.0.0.1", "private, wrapped in IPv6"),
        ("64:ff9b::7f00:1", "loopback, wrapped in IPv6"),
        ("64:ff9b::a9fe:a9fe", "link-local, wrapped in IPv6"),
    ],
)
def test_blocked_ranges(ip: str, reason: str) -> None:
    assert fetch.blocked_reason(ip) == reason
    with pytest.raises(BlockedAddressError, match=r"^blocked address .* \(" + reason):
        AddressPolicy().check(ip, 80, ip)


@pytest.mark.parametrize(
    "ip", ["93.184.215.14", "8.8.8.8", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_allowed(ip: str) -> None:
    assert fetch.blocked_reason(ip) is None
    AddressPolicy().check("example.com", 443, ip)


def test_allowlist_forms() -> None:
    policy = AddressPolicy.from_env(
        {"AGGREGATOR_ALLOW_HOSTS": " intranet.local , 127.0.0.1:8080,10.0.0.0/8,[::1]:9000 "}
    )
    policy.check("intranet.local", 1234, "192.168.0.5")  # host: any port, any address
    policy.check("127.0.0.1", 8080, "127.0.0.1")
    policy.check("other.name", 8080, "127.0.0.1")  # host:port matches the connected IP too
    policy.check("db.internal", 5432, "10.20.30.40")  # CIDR
    policy.check("::1", 9000, "::1")
    with pytest.raises(BlockedAddressError):
        policy.check("127.0.0.1", 8081, "127.0.0.1")
    with pytest.raises(BlockedAddressError):
        policy.check("intranet.local.", 80, "192.168.0.5")
    with pytest.raises(BlockedAddressError):
        policy.check("::ffff:127.0.0.1", 8080, "::ffff:127.0.0.1")
    assert AddressPolicy.from_env({}) == AddressPolicy()


def test_allowlist_bad_entry_is_a_clear_error() -> None:
    with pytest.raises(AggregatorError, match="cannot read entry 'host:notaport'"):
        AddressPolicy.parse("ok.example,host:notaport")


# ------------------------------------------------------------------ conditional GET and statuses


def test_conditional_get_304(server: LocalServer) -> None:
    lm = "Wed, 01 May 2024 09:30:00 GMT"
    url = server.add("/feed", Route(body=RSS, etag='"v1"', last_modified=lm))
    first = get(url)
    assert (first.etag, first.last_modified) == ('"v1"', lm)
    second = get(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified and second.content == b""
    assert second.etag == '"v1"'
    sent = server.hits("/feed")[1]
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == lm


def test_expires_zero_drops_validators(server: LocalServer) -> None:
    url = server.add("/feed", Route(body=RSS, etag='"t1"', headers={"Expires": "0"}))
    result = get(url)
    assert result.content == RSS and result.etag is None and result.last_modified is None


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone"), (500, "HTTP 500 Internal Server Error")],
)
def test_error_statuses(server: LocalServer, status: int, message: str) -> None:
    url = server.add("/x", Route(body=b"nope", status=status))
    error = fails(url, HTTPStatusError)
    assert str(error) == message and error.status == status and error.retry_after is None


def test_cloudflare_challenge_named(server: LocalServer) -> None:
    url = server.add("/cf", Route(status=403, headers={"cf-mitigated": "challenge"}))
    assert str(fails(url, HTTPStatusError)) == "HTTP 403 Forbidden (Cloudflare challenge)"


def test_429_retry_after_seconds(server: LocalServer) -> None:
    url = server.add("/slow", Route(status=429, headers={"Retry-After": "120"}))
    error = fails(url, HTTPStatusError)
    assert str(error) == "HTTP 429 Too Many Requests"
    assert error.status == 429 and error.retry_after == 120


def test_503_retry_after_http_date(server: LocalServer) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    url = server.add("/down", Route(status=503, headers={"Retry-After": when}))
    error = fails(url, HTTPStatusError)
    assert error.retry_after is not None and 3590 < error.retry_after <= 3600


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert fetch.parse_retry_after("120", now) == 120
    assert fetch.parse_retry_after(email.utils.formatdate(now + 600, usegmt=True), now) == 600
    assert fetch.parse_retry_after(email.utils.formatdate(now - 600, usegmt=True), now) == 0
    assert fetch.parse_retry_after("99999999", now) == 7 * 24 * 3600
    assert fetch.parse_retry_after("99999999", now, cap=31 * 86400) == 31 * 86400
    for junk in (None, "", "soon", "-5", "1.5e9"):
        assert fetch.parse_retry_after(junk, now) is None


def test_cache_lifetime() -> None:
    now = 1_700_000_000.0
    assert fetch.cache_lifetime({"Cache-Control": "public, max-age=3600"}, now) == 3600
    assert fetch.cache_lifetime({"cache-control": "max-age=3600", "Age": "600"}, now) == 3000
    assert fetch.cache_lifetime([("Cache-Control", "no-cache")], now) == 0
    assert (
        fetch.cache_lifetime({"Expires": email.utils.formatdate(now + 900, usegmt=True)}, now)
        == 900
    )
    assert fetch.cache_lifetime({"Expires": "0"}, now) == 0
    assert fetch.cache_lifetime({"Cache-Control": "max-age=99999999"}, now) == 7 * 24 * 3600
    assert fetch.cache_lifetime({"Content-Type": "text/xml"}, now) is None


def test_result_headers_feed_cache_lifetime(server: LocalServer) -> None:
    url = server.add("/cc", Route(body=RSS, headers={"Cache-Control": "max-age=1800"}))
    result = get(url)
    assert result.header("cache-control") == "max-age=1800"
    assert fetch.cache_lifetime(result.headers) == 1800
