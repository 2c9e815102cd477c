"""Hostile server behaviour for fetch tests: route callables for tests.httpserver, bare listening
sockets, and compression bombs built without compressing a gigabyte. Test helpers only."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

Handler = Callable[[BaseHTTPRequestHandler], None]


def closed_port() -> int:
    """A local port with nothing listening (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that completes the TCP handshake (the kernel's backlog) but never reads or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _head(h: BaseHTTPRequestHandler, headers: dict[str, str], status: int = 200) -> None:
    h.close_connection = True
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.flush()


def dribble(interval: float = 0.5, limit: float = 20.0) -> Handler:
    """Headers at once, then one body byte every `interval` seconds (for `limit` s at most)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            _head(h, {"Content-Type": "application/xml", "Content-Length": "100000"})
            end = time.monotonic() + limit
            while time.monotonic() < end:
                h.wfile.write(b"<")
                h.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass

    return handler


def endless_chunked(chunk: int = 64 * 1024, limit: int = 1 << 30) -> Handler:
    """A chunked body that does not end (stops at `limit` bytes or when the client goes away)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        data = b"x" * chunk
        frame = f"{chunk:x}\r\n".encode() + data + b"\r\n"
        try:
            _head(h, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"})
            sent = 0
            while sent < limit:
                h.wfile.write(frame)
                sent += chunk
        except OSError:
            pass

    return handler


def huge_length(length: int = 10 * 1024**3, hold: float = 10.0) -> Handler:
    """Announces `length` bytes, sends a few, then holds the connection open."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            _head(h, {"Content-Type": "application/xml", "Content-Length": str(length)})
            h.wfile.write(b"<rss>")
            h.wfile.flush()
            time.sleep(hold)
        except OSError:
            pass

    return handler


def short_body(claimed: int = 1000, sent: bytes = b"<rss><channel><title>half") -> Handler:
    """Content-Length larger than the data sent before the server closes the connection."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            _head(h, {"Content-Type": "application/xml", "Content-Length": str(claimed)})
            h.wfile.write(sent)
            h.wfile.flush()
        except OSError:
            pass

    return handler


def reset_midway(sent: bytes = b"<rss><channel><title>partial</title>" * 50) -> Handler:
    """Sends part of a chunked body, then resets the connection (RST, not FIN)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            _head(h, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"})
            h.wfile.write(f"{len(sent):x}\r\n".encode() + sent + b"\r\n")
            h.wfile.flush()
            time.sleep(0.2)
            conn = h.connection
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.rfile.close()  # drop the makefile reference so close() really closes: RST
            conn.close()
        except OSError:
            pass

    return handler


def deflate_bomb(size: int, wrapper: str = "gzip") -> bytes:
    """`size` zero bytes (a multiple of 1 MiB) compressed as gzip, zlib or raw deflate, about
    1000:1. Built from one repeated full-flush segment: a 1 GiB bomb takes well under a second."""
    mib = 1 << 20
    assert size % mib == 0 and size >= 2 * mib
    zeros = b"\0" * mib
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    middle = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    assert middle == first  # a full flush resets the history, so every segment is identical
    last = comp.compress(zeros) + comp.flush()
    raw = first * (size // mib - 1) + last
    if wrapper == "raw":
        return raw
    if wrapper == "zlib":
        adler = 1
        for _ in range(size // mib):
            adler = zlib.adler32(zeros, adler)
        return b"\x78\xda" + raw + struct.pack(">I", adler)
    crc = 0
    for _ in range(size // mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + raw + struct.pack("<II", crc, size & 0xFFFFFFFF)


def chunked(body: bytes, headers: dict[str, str], piece: int = 64 * 1024) -> Handler:
    """`body` sent chunked (so no Content-Length warns the client), with extra `headers`."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            _head(h, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked", **headers})
            for start in range(0, len(body), piece):
                part = body[start : start + piece]
                h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:
            pass

    return handler


class RawRoutes:
    """A threaded TCP server on 127.0.0.1 answering each request with the raw bytes its path
    maps to (status line, headers and body exactly as given: any framing, any header bytes),
    then closing the connection. `routes` may be changed between requests."""

    def __init__(self) -> None:
        import threading

        self.routes: dict[str, Callable[[], bytes]] = {}
        self.hits: dict[str, int] = {}
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _loop(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                path = data.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
                self.hits[path] = self.hits.get(path, 0) + 1
                route = self.routes.get(path)
                conn.sendall(route() if route else b"HTTP/1.1 404 Not Found\r\n\r\n")
                conn.shutdown(socket.SHUT_WR)
            except (OSError, IndexError):
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def raw_response(
    status: int, headers: list[tuple[str, str]], body: bytes, *, content_type: str
) -> bytes:
    """A whole HTTP/1.1 response as bytes, header values written as Latin-1 whatever they hold;
    Content-Length and Content-Type are added unless `headers` names them."""
    head = [f"HTTP/1.1 {status} Status".encode()]
    if not any(name == "Content-Length" for name, _ in headers):
        head.append(b"Content-Length: " + str(len(body)).encode())
    if not any(name == "Content-Type" for name, _ in headers):
        head.append(b"Content-Type: " + content_type.encode())
    head += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def verbatim(response: bytes) -> Handler:
    """A route that sends `response` as it is and closes the connection."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.wfile.write(response)
        h.wfile.flush()

    return send
