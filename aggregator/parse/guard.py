"""XML feed bytes made safe for every parser before any of them sees them. Pure: no I/O.

1. The text is read with a WHATWG encoding (aggregator.encodings; a label such as `punycode`
   never reaches Python's codecs) and handed on as UTF-8 under a declaration that says so, so
   neither fastparse (expat) nor feedparser decodes anything with a label from the document.
2. A DTD that would make a parser do unbounded work is refused: external and parameter entities
   (XXE), entities built from other entities (billion laughs), and internal entities whose
   references would expand past a total cap (quadratic blowup: feedparser re-declares a
   document's entities, and its loose parser appends an entity's text on every reference).
   Attribute defaults are refused too: a parser copies them onto every element.
3. Character references to no character (`&#xD800;`) become U+FFFD: feedparser fails on them.
4. Start tags with very many attributes are refused: feedparser's strict parser looks each
   attribute up by a linear scan, quadratic in their number (20,000 on one tag took 4 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..encodings import codec_for_label, stray_bytes_as_cp1252
from ..errors import ParseError

MAX_DECLARATIONS = 64  # entity declarations in one document (real feeds: a handful)
MAX_ENTITY_VALUE = 1024  # bytes of one entity's replacement text
MAX_EXPANSION = 1 << 20  # bytes all references of a document may expand to
MAX_ATTRIBUTES = 64  # attributes on one start tag


@dataclass(frozen=True)
class SafeXml:
    body: bytes  # UTF-8, its XML declaration (if any) saying so
    encoding: str  # the Python codec the original bytes were read with
    warnings: tuple[str, ...] = ()


def prepare_xml(body: bytes, *, url: str, charset: str | None = None) -> SafeXml:
    """`body` as UTF-8 bytes every parser may read, or ParseError("refused: ...")."""
    safe = transcode(body, charset=charset)
    reason = entity_refusal(safe.body) or attribute_refusal(safe.body)
    if reason:
        raise ParseError(f"refused: {reason}", url=url)
    if b"&#" in safe.body:
        return replace(safe, body=_LARGE_REFERENCE.sub(_character, safe.body))
    return safe


# ---------------------------------------------------------------------------------------------
# Encodings

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16le"), (b"\xfe\xff", "utf-16be"))
# A declaration's encoding, read from bytes (any ASCII-compatible encoding) or from the text.
_DECLARATION = re.compile(rb"\A\s*<\?xml\s[^>]*>")
_DECLARED = re.compile(rb"""\bencoding\s*=\s*["']([^"'>]*)["']""")
# What every parser gets first, on a line of its own: feedparser reads the encoding from the
# first line with a greedy pattern (`<?.*encoding=...`) that would otherwise find a label
# anywhere on a one-line document.
UTF8_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


def transcode(body: bytes, *, charset: str | None = None) -> SafeXml:
    """The document read as text and encoded as UTF-8. The order: a byte order mark, then
    UTF-8 when the bytes are valid UTF-8, then the Content-Type charset and the XML
    declaration (known labels only, the first the bytes are valid in), then UTF-8 with stray
    bytes read as windows-1252."""
    for bom, bom_label in _BOMS:
        if body.startswith(bom):
            codec = codec_for_label(bom_label) or "utf-8"
            return _relabel(body[len(bom) :].decode(codec, errors="replace"), codec, [])
    if body[:2] in (b"<\x00", b"\x00<"):  # UTF-16 without a byte order mark
        codec = "utf-16-le" if body[:1] == b"<" else "utf-16-be"
        return _relabel(body.decode(codec, errors="replace"), codec, [])

    warnings: list[str] = []
    declared: list[tuple[str, str]] = []  # (label, codec)
    declaration = _DECLARATION.match(body)
    match = _DECLARED.search(declaration[0]) if declaration else None
    labels: tuple[tuple[str, str | bytes | None], ...] = (
        ("Content-Type", charset),
        ("XML declaration", match[1] if match else None),
    )
    for where, label in labels:
        if not label:
            continue
        shown = (label.decode("ascii", "replace") if isinstance(label, bytes) else label)[:64]
        found = codec_for_label(label)
        if found is None:
            warnings.append(f"unknown encoding {shown!r} in the {where}: ignored")
        elif found.startswith("utf-16"):
            # readable as ASCII, so not UTF-16 whatever it says
            warnings.append(f"encoding {shown!r} in the {where} does not match the bytes")
        else:
            declared.append((shown, found))

    try:
        text = body.decode("utf-8")
        if declared and declared[0][1] != "utf-8" and not text.isascii():
            warnings.append(f"declared {declared[0][0]!r} but the bytes are UTF-8: read as UTF-8")
        return SafeXml(_declared_utf8(body), "utf-8", tuple(warnings))
    except UnicodeDecodeError:
        pass
    for shown, codec in declared:
        if codec == "utf-8":
            continue
        try:
            return _relabel(body.decode(codec), codec, warnings)
        except UnicodeDecodeError:
            warnings.append(f"the bytes are not valid {shown!r}")
    if declared and declared[0][1] != "utf-8":
        codec = declared[0][1]
        return _relabel(body.decode(codec, errors="replace"), codec, warnings)
    warnings.append("bytes that are not UTF-8 read as windows-1252")
    # what a declared UTF-8 document with stray Latin-1 bytes means
    text = stray_bytes_as_cp1252(body.decode("utf-8", errors="surrogateescape"))
    return _relabel(text, "utf-8", warnings)


def _relabel(text: str, codec: str, warnings: list[str]) -> SafeXml:
    return SafeXml(_declared_utf8(text.encode("utf-8")), codec, tuple(warnings))


def _declared_utf8(data: bytes) -> bytes:
    """UTF-8 `data` with its own XML declaration (and any white space before it) replaced by
    UTF8_DECLARATION."""
    declaration = _DECLARATION.match(data)
    return UTF8_DECLARATION + (data[declaration.end() :] if declaration else data.lstrip())


# ---------------------------------------------------------------------------------------------
# Character references

# References that may name no character: a surrogate, past U+10FFFF, U+FFFE or U+FFFF. expat
# refuses the document; feedparser's loose parser then fails on the whole of it (chr(0xD800)
# cannot be encoded, chr(0x110000) does not exist). They become U+FFFD.
_LARGE_REFERENCE = re.compile(rb"&#(?:[xX]0*([0-9A-Fa-f]{4,})|0*([0-9]{5,}));")


def _character(match: re.Match[bytes]) -> bytes:
    hex_digits, digits = match.group(1, 2)
    if len(hex_digits or digits) > 8:
        return b"&#xFFFD;"
    code = int(hex_digits, 16) if hex_digits else int(digits)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF or code in (0xFFFE, 0xFFFF):
        return b"&#xFFFD;"
    return match.group()


# ---------------------------------------------------------------------------------------------
# Entity declarations

_ENTITY_DECLARATION = re.compile(
    rb"<!ENTITY\s+(%\s*)?([^\s\"'%>]+)\s+(\"[^\"]*\"|'[^']*'|SYSTEM\b|PUBLIC\b)"
)
_NAMED_REFERENCE = re.compile(rb"[&%][^\s&%;<>\"'#][^\s&%;<>\"']*;")
# A character reference to "&" or "%" in an entity value is replaced when the entity is
# declared, and what it gives is read as a reference when the entity is used (`&#38;lol;`).
_CHARACTER_REFERENCE = re.compile(rb"&#(?:([0-9]{1,10})|x([0-9A-Fa-f]{1,8}));")
_W3C_ENTITIES = re.compile(
    rb"\s*[\"']-//W3C//ENTITIES [^\"']*[\"']\s*[\"']https?://www\.w3\.org/[^\"']*[\"']\s*>"
)
_NAME_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:") | frozenset(
    range(0x80, 0x100)
)
_DECLARATION_STOP = re.compile(rb"[\"'>\[]")
_ATTLIST_DEFAULT = re.compile(rb"<!ATTLIST[^>\"']*[\"']")


def prolog_end(body: bytes) -> int:
    """Where the first element starts: everything before it (the prolog, with the DTD) is
    where any parser may read declarations. Comments, processing instructions and quoted
    strings in declarations are stepped over; an unterminated one makes the whole document
    prolog. The result is never before where expat or feedparser (which stops at the first
    `<` and word character) see the first element."""
    pos, end = 0, len(body)
    while True:
        i = body.find(b"<", pos)
        if i == -1 or i + 1 >= end:
            return end
        if body.startswith(b"<!--", i):
            j = body.find(b"-->", i + 4)
            if j == -1:
                return end
            pos = j + 3
        elif body.startswith(b"<?", i):
            j = body.find(b"?>", i + 2)
            if j == -1:
                return end
            pos = j + 2
        elif body.startswith(b"<![CDATA[", i):
            return i
        elif body.startswith(b"<!", i):
            pos = _declaration_end(body, i + 2)
        elif body[i + 1] in _NAME_START:
            return i
        else:
            pos = i + 1


def _declaration_end(body: bytes, pos: int) -> int:
    """After the `>` (or `[` of an internal subset) that ends a declaration, quotes skipped."""
    while True:
        m = _DECLARATION_STOP.search(body, pos)
        if m is None:
            return len(body)
        quote = m.group()
        if quote in (b'"', b"'"):
            j = body.find(quote, m.end())
            if j == -1:
                return len(body)
            pos = j + 1
        else:
            return m.end()


def _builds_references(value: bytes) -> bool:
    for m in _CHARACTER_REFERENCE.finditer(value):
        code = int(m[1]) if m[1] else int(m[2], 16)
        if code in (0x25, 0x26):
            return True
    return False


def entity_refusal(body: bytes) -> str | None:
    """Why a document's declarations are refused, or None. Plain entities such as
    `<!ENTITY nbsp "&#160;">` are accepted while all their references together stay under
    MAX_EXPANSION bytes; so are XHTML's W3C entity sets and a DOCTYPE naming an external DTD
    (never fetched). Every `<!ENTITY` of the prolog is looked at, in comments too: feedparser
    re-declares what it finds there."""
    if b"<!" not in body:
        return None
    prolog = body[: prolog_end(body)]
    if _ATTLIST_DEFAULT.search(prolog):
        return "the document's DTD gives attributes default values (copied onto every element)"
    if b"<!ENTITY" not in prolog:
        return None
    values: dict[bytes, int] = {}
    for count, match in enumerate(_ENTITY_DECLARATION.finditer(prolog), 1):
        if count > MAX_DECLARATIONS:
            return "the document declares too many entities"
        value = match.group(3)
        if value == b"PUBLIC" and _W3C_ENTITIES.match(prolog, match.end()):
            continue  # XHTML's named character sets (`%HTMLlat1;`): never fetched, harmless
        if match.group(1):
            return "the document declares parameter entities (XML entity attack)"
        if value in (b"SYSTEM", b"PUBLIC"):
            return "the document declares an external entity (XXE attack)"
        if _NAMED_REFERENCE.search(value) or _builds_references(value):
            return "the document declares entities built from other entities (XML bomb)"
        if b"<" in value:
            return "the document declares entities holding markup"
        if len(value) - 2 > MAX_ENTITY_VALUE:
            return "the document declares an oversized entity (XML bomb)"
        name = match.group(2)
        values[name] = max(values.get(name, 0), len(value) - 2)
    total = 0
    for name, size in values.items():
        total += size * body.count(b"&" + name + b";")
        if total > MAX_EXPANSION:
            return (
                "the document's entity references expand to more than "
                f"{MAX_EXPANSION // 1024} KiB (XML bomb)"
            )
    return None


# ---------------------------------------------------------------------------------------------
# Attributes

# A start tag with more than MAX_ATTRIBUTES well-formed attributes (a `<` cannot occur in an
# attribute value, so each try ends at the next tag: linear in the document). Possessive
# quantifiers and an atomic group: each part can match its text in one way only, so a failed
# try has nothing to backtrack into (the same matches as without them, less work).
_CROWDED_TAG = re.compile(
    rb"<[A-Za-z_:][^\s<>/]*+(?>\s++[^\s<>=/]++\s*+=\s*+(?:\"[^\"<]*+\"|'[^'<]*+')){%d}"
    % (MAX_ATTRIBUTES + 1)
)


def attribute_refusal(body: bytes) -> str | None:
    if body.count(b"=") <= MAX_ATTRIBUTES or not _CROWDED_TAG.search(body):
        return None
    return f"an element of the document has more than {MAX_ATTRIBUTES} attributes"
