"""Where `extract_article`'s time goes: CPU milliseconds a page for each of its steps on the 91
scrapinghub pages, and for each of trafilatura's XPath expressions that both of its runs evaluate
(the ground for choosing what to make faster, issue 12).

Command: `AGGREGATOR_CORPORA=<corpora folder> .venv/bin/python benchmarks/extraction_stages.py`
(about 30 s). The steps are called one by one as `extract_article` calls them (the learned
body's path; the JSON-LD and feed rescues are left out), each timed with `time.process_time`,
best of `--rounds` passes. trafilatura's expressions are timed on our prepared tree, before its
own cleaning, so they read more elements than inside trafilatura: an upper bound. Not covered:
pages of other corpora, decoding of other charsets than UTF-8, memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import body as B  # noqa: E402
from aggregator.extract import decode_html, prepare_page  # noqa: E402
from aggregator.extract.blocks import (  # noqa: E402
    Reference,
    block_features,
    block_text,
    source_elements,
)
from aggregator.extract.figures import find_figures  # noqa: E402
from aggregator.sanitize import sanitize_html  # noqa: E402
from benchmarks.extraction import DEFAULT_CORPORA  # noqa: E402


def one_pass(pages: dict[str, tuple[bytes, str]]) -> dict[str, float]:
    spent: dict[str, float] = {}

    def timed(name: str, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        out = step(*args, **kwargs)
        spent[name] = spent.get(name, 0.0) + time.process_time() - start
        return out

    for raw, url in pages.values():
        html = timed("decode", decode_html, raw)
        page = timed("parse, bound, metadata", prepare_page, html, url=url)
        if page is None:
            continue
        root, meta, _ = page
        recall = timed("trafilatura recall run", B.trafilatura_body, root, B._RECALL)
        if recall is None:
            continue
        short = B._chars(recall) < B.SHORT_BODY
        options = B._EARLIER if short else B._PRECISION
        precision = timed("trafilatura precision run", B.trafilatura_body, root, options)
        reference = timed(
            "4-grams of the precision body",
            lambda p=precision: Reference.of(block_text(b) for b in p) if p is not None else None,
        )
        sources = timed("source elements", source_elements, root, recall)
        rows = timed(
            "block features",
            block_features,
            recall,
            reference,
            title=meta.title or "",
            sources=sources,
        )
        timed("classifier", B.shipped_model().keeps, rows)
        figures = timed("figures", find_figures, root, B.block_texts(recall))
        html_out = timed("body as HTML", B.body_html, recall, figures)
        timed("sanitise", sanitize_html, html_out, base_url=url)
        timed("body as text", B.body_text, recall)
    return {k: 1000 * v / len(pages) for k, v in spent.items()}


def xpath_costs(pages: dict[str, tuple[bytes, str]]) -> list[tuple[str, float]]:
    from trafilatura import xpaths
    from trafilatura.core import RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH

    roots = []
    for raw, url in pages.values():
        page = prepare_page(decode_html(raw), url=url)
        if page is not None:
            roots.append(page[0])
    groups = {
        "RAW_TREE_PRUNE_XPATH": RAW_TREE_PRUNE_XPATH,
        "REMOVE_COMMENTS_AND_LISTS_XPATH": REMOVE_COMMENTS_AND_LISTS_XPATH,
        "OVERALL_DISCARD_XPATH": xpaths.OVERALL_DISCARD_XPATH,
        "PRECISION_DISCARD_XPATH": xpaths.PRECISION_DISCARD_XPATH,
        "TEASER_DISCARD_XPATH": xpaths.TEASER_DISCARD_XPATH,
        "BODY_XPATH": xpaths.BODY_XPATH,
    }
    out = []
    for name, expressions in groups.items():
        start = time.process_time()
        for root in roots:
            for expression in expressions:
                expression(root)
        out.append((name, 1000 * (time.process_time() - start) / len(roots)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    corpus = args.corpora / "scrapinghub-article-extraction-benchmark"
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {
        k: (gzip.decompress((corpus / "html" / f"{k}.html.gz").read_bytes()), truth[k]["url"])
        for k in sorted(truth)
    }
    one_pass(dict(list(pages.items())[:1]))  # per-process loading, untimed
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, ms in one_pass(pages).items():
            best[name] = min(ms, best.get(name, ms))
    print(f"CPU ms a page, best of {args.rounds} passes over {len(pages)} pages:")
    for name, ms in best.items():
        print(f"  {name}: {ms:.2f}")
    print(f"  all steps: {sum(best.values()):.2f}")
    print("trafilatura's expressions on our prepared tree, CPU ms a page (one pass):")
    for name, ms in xpath_costs(pages):
        print(f"  {name}: {ms:.2f}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
