"""HTTP/1.1 responses on asyncio streams: the status line, headers and a raw body (Content-Length,
chunked or to the close), and whether the connection may carry another request. Knows no policy,
no redirects, no decoding: fetch.py connects, writes the request and decides what to accept.
Every limit here fails with WireError.

Why not httpx: a feed refresh is hundreds of small GETs, most answered 304; httpx + httpcore +
anyio spent about 1.5 ms of CPU on each (pool bookkeeping, h11's state machine, layers of
wrappers), more than parsing a changed feed. This is the part of HTTP/1.1 a feed reader uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["Connection", "Head", "WireError", "IncompleteError", "read_head", "body_chunks"]

MAX_HEAD = 64 * 1024  # status line plus headers; browsers allow more, feeds never need it
MAX_HEADERS = 256
MAX_LINE = 64 * 1024  # the stream's buffer limit: one header or chunk-size line
READ_SIZE = 64 * 1024

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class WireError(Exception):
    """The server broke HTTP/1.1 framing (a bad status line, headers over the limits ...)."""


class IncompleteError(WireError):
    """The connection ended before the response did."""


@dataclass
class Head:
    status: int
    reason: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: list[tuple[str, str]]  # names lower-cased, in the order sent

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass(eq=False)
class Connection:
    """One open stream; `reusable` once a response has been read to its end with keep-alive."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    key: tuple[str, str, int]
    reused: bool = False
    reusable: bool = False
    idle_since: float = 0.0

    def close(self) -> None:
        self.reusable = False
        try:
            self.writer.close()
        except (OSError, RuntimeError):  # already closed, or the loop is gone
            pass

    def is_stale(self) -> bool:
        """A kept-alive connection the server closed (or wrote to unasked) is not reused."""
        return self.reader.at_eof() or bool(self.reader._buffer) or self.writer.is_closing()  # type: ignore[attr-defined]


async def _line(reader: asyncio.StreamReader, read_timeout: float | None) -> bytes:
    """One line with its end; less at the end of the stream. No timeout with None (the caller
    holds one)."""
    try:
        if read_timeout is None:
            return await reader.readuntil(b"\n")
        async with asyncio.timeout(read_timeout):
            return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError:
        raise WireError(f"a line over {MAX_LINE // 1024} KiB") from None


async def read_head(reader: asyncio.StreamReader, read_timeout: float) -> Head:
    """The status line and headers of one response (1xx interim responses skipped), each head
    within `read_timeout` (a head is small: it comes in one piece from any live server)."""
    while True:
        async with asyncio.timeout(read_timeout):
            head = await _read_one_head(reader)
        if head.status >= 200 or head.status == 101:
            if head.status == 101:
                raise WireError("unexpected 101 Switching Protocols")
            return head


async def _read_one_head(reader: asyncio.StreamReader) -> Head:
    first = await _line(reader, None)
    if not first:
        raise IncompleteError("the server closed the connection without answering")
    total = len(first)
    if not first.endswith(b"\n"):
        raise IncompleteError("the server closed the connection in the status line")
    parts = first.rstrip(b"\r\n").split(b" ", 2)
    version = parts[0]
    if (
        len(parts) < 2
        or version not in (b"HTTP/1.1", b"HTTP/1.0")
        or len(parts[1]) != 3
        or not parts[1].isdigit()
    ):
        raise WireError(f"not an HTTP/1.x status line: {first[:80]!r}")
    status = int(parts[1])
    if status < 100:
        raise WireError(f"invalid status code {status}")
    reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
    headers: list[tuple[str, str]] = []
    while True:
        line = await _line(reader, None)
        total += len(line)
        if total > MAX_HEAD:
            raise WireError(f"response headers over {MAX_HEAD // 1024} KiB")
        if not line.endswith(b"\n"):
            raise IncompleteError("the server closed the connection in the headers")
        line = line.rstrip(b"\r\n")
        if not line:
            break
        if line[0] in (0x20, 0x09):  # obs-fold: a continuation of the previous header
            if not headers:
                raise WireError("a folded line before any header")
            previous, text = headers[-1]
            headers[-1] = (previous, f"{text} {line.strip().decode('latin-1')}")
            continue
        name, colon, raw = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            raise WireError(f"invalid header line {line[:80]!r}")
        headers.append((name.decode("ascii").lower(), raw.strip().decode("latin-1")))
        if len(headers) > MAX_HEADERS:
            raise WireError(f"more than {MAX_HEADERS} headers")
    return Head(status, reason, version.decode("ascii"), headers)


def keeps_alive(head: Head) -> bool:
    tokens = {t.strip().lower() for v in head.get_all("connection") for t in v.split(",")}
    if head.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def framing(head: Head, *, no_body: bool) -> tuple[str, int]:
    """("none"|"length"|"chunked"|"close", length)."""
    if no_body or head.status in (204, 304) or head.status < 200:
        return "none", 0
    codings = [
        t.strip().lower()
        for v in head.get_all("transfer-encoding")
        for t in v.split(",")
        if t.strip()
    ]
    if codings:
        return ("chunked", 0) if codings[-1] == "chunked" else ("close", 0)
    lengths = {v.strip() for value in head.get_all("content-length") for v in value.split(",")}
    if lengths:
        if len(lengths) > 1:
            raise WireError("conflicting Content-Length headers")
        text = lengths.pop()
        if not text.isdigit() or len(text) > 18:
            raise WireError(f"invalid Content-Length {text[:30]!r}")
        return "length", int(text)
    return "close", 0


async def body_chunks(
    connection: Connection, head: Head, read_timeout: float, *, no_body: bool = False
) -> AsyncIterator[bytes]:
    """The raw body, as it arrives. Marks the connection reusable when it ended cleanly."""
    reader = connection.reader
    kind, length = framing(head, no_body=no_body)
    if kind == "none":
        connection.reusable = keeps_alive(head)
        return
    if kind == "length":
        remaining = length
        while remaining:
            async with asyncio.timeout(read_timeout):
                data = await reader.read(min(remaining, READ_SIZE))
            if not data:
                raise IncompleteError(
                    f"the server closed the connection early: {length - remaining} of "
                    f"{length} bytes"
                )
            remaining -= len(data)
            yield data
        connection.reusable = keeps_alive(head)
        return
    if kind == "close":
        while True:
            async with asyncio.timeout(read_timeout):
                data = await reader.read(READ_SIZE)
            if not data:
                return
            yield data
    while True:  # chunked
        line = await _line(reader, read_timeout)
        if not line.endswith(b"\n"):
            raise IncompleteError("the server closed the connection in a chunked body")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
            raise WireError(f"invalid chunk size {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            trailers = 0
            while True:  # trailer fields, ignored, then the final empty line
                line = await _line(reader, read_timeout)
                trailers += len(line)
                if trailers > MAX_HEAD:
                    raise WireError(f"trailers over {MAX_HEAD // 1024} KiB")
                if not line.endswith(b"\n"):
                    return  # the server closed after the last chunk: the body is complete
                if not line.strip():
                    break
            connection.reusable = keeps_alive(head)
            return
        while size:
            async with asyncio.timeout(read_timeout):
                data = await reader.read(min(size, READ_SIZE))
            if not data:
                raise IncompleteError("the server closed the connection inside a chunk")
            size -= len(data)
            yield data
        end = await _line(reader, read_timeout)
        if end.strip():
            raise WireError("a chunk without its line end")
        if not end:
            raise IncompleteError("the server closed the connection in a chunked body")
