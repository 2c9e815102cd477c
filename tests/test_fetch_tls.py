"""Transport cases test_fetch.py leaves out: headers that dribble (slowloris), a huge header
block, a self-signed certificate, a TLS handshake that never completes. (reliability.md
cases 4, 35, 36, 37.) The certificate is made at test time with the `openssl` command."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aggregator.errors import FetchError
from aggregator.fetch import AddressPolicy, fetch_url_sync
from tests import hostile
from tests.httpserver import LocalServer, Route

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def allow(port: int) -> AddressPolicy:
    return AddressPolicy.parse(f"127.0.0.1:{port}")


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def test_headers_that_dribble_are_cut_at_the_deadline(raw_server: Callable) -> None:  # case 4
    def slowloris(conn: socket.socket) -> None:
        try:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(600):  # a header byte every 0.2 s: no read ever waits long
                conn.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            pass

    port = raw_server(slowloris)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 3 s$"):
        fetch_url_sync(
            f"http://127.0.0.1:{port}/feed", policy=allow(port), deadline=3.0, read_timeout=20.0
        )
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("shape", ["one 200 KB header", "10,000 headers of 100 bytes"])
def test_a_huge_header_block_is_a_protocol_error(raw_server: Callable, shape: str) -> None:
    block = (
        b"X-Big: " + b"a" * 200_000 + b"\r\n"
        if shape.startswith("one")
        else b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(10_000))
    )

    def huge_headers(conn: socket.socket) -> None:
        try:
            read_request(conn)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\n" + block + b"Content-Length: %d\r\n\r\n" % len(FEED) + FEED
            )
        except OSError:
            pass

    port = raw_server(huge_headers)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^protocol error: "):
        fetch_url_sync(f"http://127.0.0.1:{port}/feed", policy=allow(port), deadline=10.0)
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is not installed: no self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LocalServer]:
    server = LocalServer(poll_interval=0.1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    server.base = f"https://127.0.0.1:{server.port}"
    server.add("/feed.xml", Route(body=FEED, content_type="application/rss+xml"))
    server.start()
    yield server
    server.stop()


def test_self_signed_certificate_is_refused_by_default(tls_server: LocalServer) -> None:  # 36
    url = tls_server.url("/feed.xml")
    with pytest.raises(FetchError, match=r"^TLS certificate verification failed: .*self.signed"):
        fetch_url_sync(url, policy=allow(tls_server.port), deadline=10.0)
    # verification off (a deliberate choice in code; there is no per-feed switch yet) reads it
    result = fetch_url_sync(url, policy=allow(tls_server.port), verify=False, deadline=10.0)
    assert result.content == FEED


def test_a_tls_handshake_that_never_completes_times_out() -> None:  # case 37
    with hostile.silent_listener() as port:  # accepts TCP, never speaks TLS
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetch_url_sync(
                f"https://127.0.0.1:{port}/feed",
                policy=allow(port),
                connect_timeout=2.0,
                read_timeout=2.0,
                deadline=10.0,
            )
        assert time.monotonic() - started < 6


def test_https_through_an_http_proxy_tunnel(raw_server: Callable, tls_server: LocalServer) -> None:
    """CONNECT to the proxy, then TLS with the target inside the tunnel (the target's name, not
    the proxy's, is what TLS checks; verification is off here for the self-signed test cert)."""
    asked: list[bytes] = []
    opened: list[socket.socket] = []

    def relay(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:  # shutdown, not close: a close waits for the other thread's recv to return
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def proxy(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        asked.append(head)
        target = socket.create_connection(("127.0.0.1", tls_server.port))
        opened.extend((conn, target))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=relay, args=(target, conn), daemon=True).start()
        relay(conn, target)

    port = raw_server(proxy)
    url = tls_server.url("/feed.xml")
    via = {"proxy": f"http://127.0.0.1:{port}", "policy": allow(tls_server.port), "deadline": 10.0}
    try:
        result = fetch_url_sync(url, verify=False, **via)
        assert result.content == FEED and result.final_url == url
        assert asked[0].startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n" % tls_server.port)
        # with verification on, the self-signed certificate is refused through the tunnel too
        with pytest.raises(FetchError, match=r"^TLS certificate verification failed"):
            fetch_url_sync(url, **via)
    finally:  # a handshake the server still waits for would hold its accept loop
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
