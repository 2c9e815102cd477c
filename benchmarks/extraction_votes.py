"""Other extractors as features of the block classifier (issue 14): the held-out figures of the
learned body with and without votes from resiliparse and trafilatura's readability port.

Command: `AGGREGATOR_CORPORA=<corpora folder> .venv/bin/python benchmarks/extraction_votes.py`
(about 5 minutes). Needs scikit-learn and resiliparse, for this experiment only (`pip install -e
'.[train]' resiliparse`): neither is a runtime dependency, because the votes were not kept
(docs/benchmarks.md, "a second, differently built extractor as features").

Each vote is a main-content text of the page: resiliparse's `extract_plain_text(...,
main_content=True)` on our prepared tree, or trafilatura's readability port. For every block of
trafilatura's recall body it gives 5 features, built like the precision-body ones: the share of
the block's word 4-grams the vote holds, the same for the blocks before and after, and whether
the block lies before the first or after the last block the vote holds. The models are trained
as `train_blocks.py` trains them (same labels and weights, scikit-learn's logistic regression,
C=1, scrapinghub pages only) inside the same 5 folds, and every page of the three corpora is
extracted through `extract_article` by the model of its fold, one that never saw it. The last
row uses resiliparse's text instead of trafilatura's precision body as the reference of the 52
features (pages whose recall body is short keep the precision run, as they need its fallback).
Not covered: speed (resiliparse's CPU time a page is printed, nothing else is timed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import BodyOptions, decode_html, extract_article, prepare_page  # noqa: E402
from aggregator.extract.blocks import (  # noqa: E402
    Reference,
    block_features,
    block_text,
    source_elements,
    tokens,
)
from aggregator.extract.body import learned_candidates  # noqa: E402
from benchmarks.extraction import (  # noqa: E402
    DEFAULT_CORPORA,
    FOLDS,
    fold_of,
    metrics_from_tp_fp_fns,
    shingle_matching,
    snippet_counts,
)
from benchmarks.extraction_corpora import Case  # noqa: E402
from benchmarks.extraction_levers import Keeper  # noqa: E402
from benchmarks.train_blocks import Example, fit_weights, label_blocks, load  # noqa: E402


@dataclass
class Page:
    """What one page gives the experiment: its recall blocks' texts and features, whether its
    recall body is short, the votes' texts, and the 52 features with resiliparse's text as
    the reference."""

    texts: list[str]
    rows: list[list[float]]
    short: bool
    votes: dict[str, str] = field(default_factory=dict)
    rows_instead: list[list[float]] = field(default_factory=list)


def resiliparse_text(root: object) -> str:
    import lxml.html
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    html = lxml.html.tostring(root, encoding="unicode")  # type: ignore[arg-type]
    return str(extract_plain_text(HTMLTree.parse(html), main_content=True))


def readability_text(root: object) -> str:
    from trafilatura.external import try_readability

    try:
        return " ".join(try_readability(deepcopy(root)).itertext())
    except Exception:  # the port raises on odd trees: no vote
        return ""


def gather(case: Case, seconds: list[float]) -> Page | None:
    page = prepare_page(decode_html(case.source), url=case.url)
    if page is None:
        return None
    root, meta, _ = page
    found = learned_candidates(root, title=meta.title or "")
    if found is None:
        return None
    blocks = list(found.body)[: len(found.rows)]
    start = time.process_time()
    resili = resiliparse_text(root)
    seconds.append(time.process_time() - start)
    rows_instead = found.rows
    if not found.short:
        rows_instead = block_features(
            deepcopy(found.body),
            Reference.of([resili]),
            title=meta.title or "",
            sources=source_elements(root, found.body),
        )
    return Page(
        [block_text(b) for b in blocks],
        found.rows,
        found.short,
        {"resiliparse": resili, "readability port": readability_text(root)},
        rows_instead,
    )


def vote_features(texts: Sequence[str], vote: str) -> list[list[float]]:
    ref = Reference.of([vote])
    shares = [ref.share(tokens(t)) if ref else 0.0 for t in texts]
    n = len(shares)
    held = [i for i, s in enumerate(shares) if s >= 0.5]
    first, last = (held[0], held[-1]) if held else (n, -1)
    return [
        [
            shares[i],
            shares[i - 1] if i else 0.0,
            shares[i + 1] if i + 1 < n else 0.0,
            1.0 if i < first else 0.0,
            1.0 if i > last else 0.0,
        ]
        for i in range(n)
    ]


Rows = Callable[[Page], list[list[float]]]


def with_votes(names: Sequence[str], columns: int = 5) -> Rows:
    def rows(page: Page) -> list[list[float]]:
        extra: list[list[float]] = [[] for _ in page.rows]
        for name in names:
            for e, v in zip(extra, vote_features(page.texts, page.votes[name]), strict=True):
                e.extend(v[:columns])
        return [r + e for r, e in zip(page.rows, extra, strict=True)]

    return rows


SETTINGS: dict[str, Rows] = {
    "shipped (52 features)": lambda page: page.rows,
    "+ resiliparse, 5 features": with_votes(["resiliparse"]),
    "+ resiliparse, the block's own share only": with_votes(["resiliparse"], 1),
    "+ resiliparse, block, previous and next shares": with_votes(["resiliparse"], 3),
    "+ trafilatura's readability port, 5 features": with_votes(["readability port"]),
    "+ both (10 features)": with_votes(["resiliparse", "readability port"]),
    "resiliparse instead of the precision run": lambda page: page.rows_instead,
}


def examples(case: Case, page: Page | None, rows: Rows) -> list[Example]:
    """As train_blocks.examples: labelled against the reference text, weighted by 4-grams."""
    return label_blocks(case.reference, page.texts, rows(page)) if page is not None else []


def fit(data: list[Example], rows: Rows) -> Keeper:
    coef, bias = fit_weights(data)
    return Keeper(coef, bias, rows)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    args = parser.parse_args(argv)
    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    cases = load(args.corpora)
    seconds: list[float] = []
    pages = {(n, c.key): gather(c, seconds) for n, cs in cases.items() for c in cs}
    print(f"resiliparse: {1000 * statistics.mean(seconds):.2f} ms a page of CPU time (mean)")
    for alone in ("resiliparse", "readability port"):
        sh = [
            shingle_matching(
                c.reference, p.votes[alone] if (p := pages["scrapinghub", c.key]) else ""
            )
            for c in cases["scrapinghub"]
        ]
        print(f"{alone} alone, scrapinghub: F1 {metrics_from_tp_fp_fns(sh)['f1']:.4f}")
    for name, rows in SETTINGS.items():
        data = {c.key: examples(c, pages["scrapinghub", c.key], rows) for c in cases["scrapinghub"]}
        texts: dict[str, dict[str, str]] = {n: {} for n in cases}
        for fold in range(FOLDS):
            model = fit([e for k, ex in data.items() if fold_of(k) != fold for e in ex], rows)
            for n, cs in cases.items():
                for c in cs:
                    if fold_of(c.key) == fold:
                        model.page = pages[n, c.key]
                        options = BodyOptions(model=model)  # type: ignore[arg-type]
                        texts[n][c.key] = extract_article(c.source, url=c.url, options=options).text
        sh = {
            c.key: shingle_matching(c.reference, texts["scrapinghub"][c.key])
            for c in cases["scrapinghub"]
        }
        f1s = [
            metrics_from_tp_fp_fns([r for k, r in sh.items() if fold_of(k) == f])["f1"]
            for f in range(FOLDS)
        ]
        pooled = metrics_from_tp_fp_fns(list(sh.values()))
        rd = metrics_from_tp_fp_fns(
            [
                shingle_matching(c.reference, texts["readability"][c.key])
                for c in cases["readability"]
            ]
        )
        counts = [0, 0, 0, 0]
        for c in cases["trafilatura-eval"]:
            snippet_counts(c, texts["trafilatura-eval"][c.key], counts)
        print(
            f"{name}: scrapinghub held-out pooled F1 {pooled['f1']:.4f} "
            f"(P {pooled['precision']:.4f} R {pooled['recall']:.4f}); folds "
            f"{' '.join(f'{f:.4f}' for f in f1s)}; Readability {rd['f1']:.4f}; "
            f"trafilatura-eval kept {counts[0] / counts[1]:.3f} "
            f"dropped {counts[2] / counts[3]:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
