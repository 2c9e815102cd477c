"""Reading the extraction corpora's Readability test pages and trafilatura-eval pages (the
scrapinghub pages are read by extraction.py): one definition of their layout for the benchmark
and the training script."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def html_text(html: str) -> str:
    """The text of an HTML fragment (a Readability case's expected.html), space-joined."""
    import lxml.html

    root = lxml.html.fromstring(html or "<div></div>")
    return " ".join(t for t in root.itertext() if t.strip())


@dataclass
class Case:
    """One page of a corpus: its id (case name or URL), bytes, address to extract it as, and
    what it is scored against (reference text, or snippets kept and snippets dropped)."""

    key: str
    source: bytes
    url: str
    reference: str = ""
    expected: dict[str, str] = field(default_factory=dict)
    with_snippets: list[str] = field(default_factory=list)
    without_snippets: list[str] = field(default_factory=list)


def readability_cases(corpus: Path) -> Iterator[Case]:
    """mozilla/readability's test pages in name order: the text of expected.html as the
    reference, expected-metadata.json as `expected`."""
    for case in sorted(p for p in (corpus / "test-pages").iterdir() if p.is_dir()):
        yield Case(
            key=case.name,
            source=gzip.decompress((case / "source.html.gz").read_bytes()),
            url=f"http://fakehost/{case.name}/",
            reference=html_text((case / "expected.html").read_text(encoding="utf-8")),
            expected=json.loads((case / "expected-metadata.json").read_text(encoding="utf-8")),
        )


def leakage_cases(corpus: Path) -> Iterator[Case]:
    """trafilatura's evaluation pages in URL order, with their `with` and `without` snippets."""
    data = json.loads((corpus / "evaldata.subset.json").read_text(encoding="utf-8"))
    for url, case in sorted(data.items()):
        yield Case(
            key=url,
            source=gzip.decompress((corpus / case["file"]).read_bytes()),
            url=url,
            with_snippets=list(case.get("with", [])),
            without_snippets=list(case.get("without", [])),
        )
