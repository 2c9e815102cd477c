"""Page decoding: bytes -> str the way a browser decodes them, and which media types are HTML.

Pure. Encoding labels are looked up only through aggregator.encodings (WHATWG labels)."""

from __future__ import annotations

import codecs
import re

from aggregator import encodings

MAX_BYTES = 5_000_000  # bytes of a page looked at; the rest is dropped before decoding

# WHATWG Encoding Standard labels whose Python codec differs from the label's plain meaning:
# browsers decode these as the Windows superset, and so must we to show the same text.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    """The Python codec for an encoding label, or None when it is not a WHATWG label."""
    return encodings.codec_for_label(label)


def _meta_charset(head: bytes) -> str | None:
    # One pattern covers <meta charset=x> and <meta http-equiv=Content-Type content="..charset=x">
    for match in _META_CHARSET.finditer(head):
        codec = _codec(match.group(1).decode("ascii", "replace"))
        if codec:
            # A page cannot declare itself UTF-16 in ASCII bytes; WHATWG reads that as UTF-8.
            return "utf-8" if codec.startswith("utf-16") else codec
    return None


def _detect(body: bytes) -> str:
    sample = body[:200_000]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(sample) - 3 and len(sample) < len(body):
            return "utf-8"  # only the cut in the middle of a character failed
    try:
        from charset_normalizer import from_bytes  # installed with trafilatura

        best = from_bytes(sample[:65_536]).best()
        if best is not None and best.encoding:
            return encodings.known_codec(best.encoding) or "cp1252"
    except Exception:  # pragma: no cover - the detector is a best effort
        pass
    return "cp1252"


def decode_html(body: bytes, *, http_charset: str | None = None) -> str:
    """Decode a page the way a browser does (WHATWG encoding sniffing), never raising.

    Order of precedence:
      1. a byte order mark (UTF-8, UTF-16 LE/BE) — it beats everything, the HTTP header too;
      2. the HTTP ``Content-Type`` charset (``http_charset``), when it is a known label;
      3. ``<meta charset>`` / ``<meta http-equiv="Content-Type" content="...charset=...">`` in the
         first 1024 bytes, then anywhere in the first 64 KiB if none was there (a meta UTF-16
         label means UTF-8);
      4. the bytes themselves: valid UTF-8 is UTF-8, otherwise charset_normalizer's guess;
      5. windows-1252.
    Labels are mapped as browsers do (ISO-8859-1 and ASCII -> windows-1252, Shift_JIS -> cp932,
    GB2312/GBK -> GB18030, ...). Invalid bytes become U+FFFD.
    """
    body = body[:MAX_BYTES]
    codec: str | None = None
    for bom, name in _BOMS:
        if body.startswith(bom):
            codec, body = name, body[len(bom) :]
            break
    if codec is None:
        codec = _codec(http_charset)
    if codec is None:
        codec = _meta_charset(body[:1024]) or _meta_charset(body[:65_536])
    if codec is None:
        codec = _detect(body)
    try:
        return body.decode(codec, errors="replace")
    except (LookupError, ValueError):  # pragma: no cover - codecs.lookup vetted the name
        return body.decode("cp1252", errors="replace")


def is_html_content_type(content_type: str) -> bool:
    """True for text/html and application/xhtml+xml, with or without parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml")
