"""Generated responses (Hypothesis) for a saved page, through the real `fetch_pages` path: a
local server answers one link with whatever is generated (status, headers with non-ASCII and huge
numbers, content codings that lie, charsets that are not web encodings, truncated, binary and
hostile bodies) beside an honest article. The honest page always gets its text; the generated one
ends with its text, as a link without text, or with its error recorded; never a traceback."""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import service, store
from aggregator.fetch import AddressPolicy, make_client
from tests.conftest import DATA, rows
from tests.hostile import raw_response, verbatim
from tests.httpserver import LocalServer

HTML = "text/html; charset=utf-8"
ARTICLE = (DATA / "pages" / "article.html").read_bytes()
_TEXT = "<p>" + "Words that make a paragraph of an article. " * 12 + "</p>"

_BODIES = st.sampled_from(
    [
        ARTICLE,
        ARTICLE[:700],
        b"",
        b"\x00" * 64 + ARTICLE,
        b"\xef\xbb\xbf" + ARTICLE,
        b"\xff\xfe" + "<html><body><p>utf-16 text</p></body></html>".encode("utf-16-le"),
        f'<html><head><meta charset="punycode"></head><body>{_TEXT}</body></html>'.encode(),
        f'<html><head><meta charset="utf-7"></head><body>{_TEXT}+AGEAYgBj-</body></html>'.encode(),
        b"<html><body>" + b"<div>" * 5000 + _TEXT.encode() + b"</div>" * 5000 + b"</body></html>",
        b"<html><body><p " + b" ".join(b'a%d="x"' % i for i in range(3000)) + b">x</p></body></html>",
        b'<html><head><meta http-equiv="refresh" content="0; url=javascript:alert(1)"></head>'
        b"<body><script>alert(1)</script>" + _TEXT.encode() + b"</body></html>",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        gzip.compress(ARTICLE),
    ]
)
_NUMBERS = st.sampled_from(["\xb2", "1\xb2", "-1", "0", "9" * 40, "", "1e9"])
_HEADER = st.one_of(
    st.tuples(
        st.just("Content-Type"),
        st.sampled_from(
            [
                "text/html",
                "text/html; charset=punycode",
                "text/html; charset=utf-7",
                "text/html; charset=rot13",
                "text/html; charset=utf-16",
                "text/html; charset=\xe9",
                "application/pdf",
                "application/xhtml+xml",
                "text/plain",
                "",
            ]
        ),
    ),
    st.tuples(
        st.just("Content-Encoding"),
        st.sampled_from(["gzip", "deflate", "br", "identity", "gzip, gzip", "x-unknown", "\xff"]),
    ),
    st.tuples(st.sampled_from(["Content-Length", "Retry-After", "Age"]), _NUMBERS),
    st.tuples(st.just("Location"), st.sampled_from(["", "/", "javascript:x", "http://[::1"])),
    st.tuples(
        st.sampled_from(["Content-Disposition", "X-Any", "Link"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30),
    ),
)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([200, 200, 200, 203, 206, 301, 302, 404, 410, 429, 500]))
    body = draw(_BODIES)
    headers = draw(st.lists(_HEADER, max_size=4, unique_by=lambda h: h[0]))
    return raw_response(status, headers, body, content_type="text/html")


@settings(
    max_examples=int(os.environ.get("PAGE_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(response=responses())
def test_generated_page_responses_never_stop_the_honest_page(
    response: bytes, server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db_path: Path = tmp_path_factory.mktemp("pages") / "aggregator.db"
    honest = server.add_file("/honest.html", DATA / "pages" / "article.html", content_type=HTML)
    other = server.add("/generated", verbatim(response))
    db = store.open_db(db_path)
    try:
        for url in (honest, other):
            store.save_link(db, url)

        async def go() -> service.PageSummary:
            async with make_client(policy=AddressPolicy.from_env()) as client:
                return await service.fetch_pages(db, client, timeout=5.0)

        summary = asyncio.run(go())
    finally:
        db.conn.close()
    assert summary.total == 2 and summary.ok >= 1
    got = {
        url: (status, error, text)
        for url, status, error, text in rows(
            db_path, "SELECT url, fetch_status, fetch_error, text FROM articles"
        )
    }
    assert got[honest][0] == "ok" and "lighthouse" in (got[honest][2] or "").lower()
    status, error, text = got[other]
    assert status in ("ok", "no_text", "unsupported", "error", "failed"), got[other]
    if status in ("error", "failed"):
        assert error and "\n" not in error and "Traceback" not in error
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
