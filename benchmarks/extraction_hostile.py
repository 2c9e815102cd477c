"""Hostile pages for the extraction benchmark: CPU time of generated pages through
`extract_article` (a 9 MB line, 20,000 nested divs, 100,000 links, ...), in the shapes
tests/test_extract.py asserts results for. Run by `benchmarks/extraction.py --suite hostile`.
"""

from __future__ import annotations

import time
from typing import Any

from aggregator.extract import extract_article

_KEEPER = "The keeper climbed the stairs at dusk to light the lamp, as every keeper before him. "


def hostile_pages() -> dict[str, bytes]:
    """Generated pages in the shapes tests/test_extract.py asserts results for."""
    deep = "<div>" * 20_000 + f"<p>{_KEEPER * 5}</p>" + "</div>" * 20_000
    links = "".join(f'<a href="/p/{i}">link number {i}</a> ' for i in range(100_000))
    paras = "".join(f"<p>Paragraph {i} of the long story, {_KEEPER}</p>" for i in range(100_000))
    row = "<tr>" + "<td>cell</td>" * 50 + "</tr>"
    return {
        "a 9 MB single line": b"<html><body><p>" + b"word " * 1_800_000 + b"</p></body></html>",
        "9 MB of text, no tags": b"word " * 1_800_000,
        "20,000 nested divs": f"<html><body>{deep}</body></html>".encode(),
        "100,000 links": f"<html><body><article><p>{_KEEPER}</p>{links}</article>".encode(),
        "100,000 paragraphs": f"<html><body><article>{paras}</article></body></html>".encode(),
        "a table of 250,000 cells": f"<table>{row * 5000}</table>".encode(),
    }


def run_hostile() -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, body in hostile_pages().items():
        start = time.process_time()
        article = extract_article(body, url="https://hostile.example/")
        result[name] = {
            "bytes": len(body),
            "seconds": time.process_time() - start,
            "text_chars": len(article.text),
        }
    return result
