"""A response body read from its raw bytes and decoded (gzip, deflate) under a size cap counted
after decompression; one content coding at most (stacked codings are refused). Knows nothing of
HTTP itself: it is handed the raw chunks and the header values."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

from aggregator.errors import FetchError, TooLargeError
from aggregator.net.headers import parse_digits

__all__ = ["MiB", "Decoder", "content_coding", "read_body", "too_large"]

MiB = 1024 * 1024
_DECODE_STEP = 64 * 1024  # at most this much decompressed output per zlib call
_MAX_LENGTH_DIGITS = 19  # a Content-Length beyond 64 bits is no body anyone sends


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def too_large(max_bytes: int) -> TooLargeError:
    return TooLargeError(f"response too large (over {_size(max_bytes)})")


def content_coding(values: list[str]) -> str | None:
    """"gzip", "deflate" or None (identity) from the Content-Encoding values; FetchError for
    stacked or unknown codings."""
    codings = [
        c.strip().lower()
        for value in values
        for c in value.split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    if len(codings) > 1:
        shown = ", ".join(c[:20] for c in codings[:5])
        raise FetchError(f"stacked content encodings refused: {shown}")
    if not codings:
        return None
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return "gzip"
    if coding == "deflate":
        return "deflate"
    raise FetchError(f"unsupported content encoding: {coding[:50]}")


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    encodings: list[str],
    content_length: str | None,
    max_bytes: int,
) -> bytes:
    """The decoded body from the raw `chunks`; TooLargeError as soon as either the raw or the
    decoded bytes pass `max_bytes` (a declared Content-Length over it is refused unread)."""
    coding = content_coding(encodings)
    length = parse_digits(content_length, max_digits=_MAX_LENGTH_DIGITS)
    if length is not None and length > max_bytes:
        raise too_large(max_bytes)
    decoder = Decoder(coding, max_bytes)
    raw = 0
    async for chunk in chunks:
        raw += len(chunk)
        if raw > max_bytes:  # also bounds streams that decode to nothing
            raise too_large(max_bytes)
        decoder.feed(chunk)
    return decoder.finish()


class Decoder:
    """Incremental gzip/deflate decoding whose output never passes `max_bytes`: zlib is asked for
    at most one step of output per call, so a bomb costs no more memory than the cap."""

    def __init__(self, coding: str | None, max_bytes: int) -> None:
        self._coding = coding
        self._max = max_bytes
        self._out: list[bytes] = []
        self._total = 0
        self._held = b""  # bytes kept until a header can be recognised
        self._z: Any = None  # the current zlib decompressobj
        self._in_stream = False  # the current decompressor has been given data and is not at eof
        self._done = False  # after the last gzip member: the rest is ignored

    def _emit(self, data: bytes) -> None:
        if data:
            self._total += len(data)
            if self._total > self._max:
                raise too_large(self._max)
            self._out.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._coding is None:
            self._emit(chunk)
            return
        if not chunk or self._done:
            return
        try:
            self._inflate(self._held + chunk)
        except zlib.error as exc:
            raise FetchError(f"invalid {self._coding} data: {exc}") from None

    def _inflate(self, data: bytes) -> None:
        self._held = b""
        while data and not self._done:
            if self._z is None:
                if len(data) < 2:
                    self._held = data
                    return
                self._z = zlib.decompressobj(self._wbits(data))
            self._in_stream = True
            while True:
                out = self._z.decompress(data, _DECODE_STEP)
                self._emit(out)
                data = self._z.unconsumed_tail
                if self._z.eof or (not data and len(out) < _DECODE_STEP):
                    break
            if self._z.eof:
                self._in_stream = False
                data = self._z.unused_data + data
                # Another gzip member may follow (RFC 1952 allows several); anything else after
                # the end of the stream is ignored, as browsers do.
                if self._coding == "gzip" and data[:2] in (b"\x1f\x8b", b"\x1f"):
                    self._z = None
                else:
                    self._done = True

    def _wbits(self, head: bytes) -> int:
        if self._coding == "gzip":
            return 16 + zlib.MAX_WBITS
        # "deflate" is meant to be zlib-wrapped (RFC 1950) but many servers send raw deflate.
        wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS

    def finish(self) -> bytes:
        if self._coding is not None and not self._done:
            if self._held or self._in_stream:
                try:
                    self._emit(self._z.flush() if self._z is not None else b"")
                except zlib.error as exc:
                    raise FetchError(f"invalid {self._coding} data: {exc}") from None
                if self._z is None or not self._z.eof:
                    raise FetchError(f"invalid {self._coding} data: the stream is truncated")
        return b"".join(self._out)
