"""Trains the learned block classifier of aggregator/extract (blocks.py, classifier.py) on the
scrapinghub pages and writes what ships.

Command: `AGGREGATOR_CORPORA=<corpora folder> .venv/bin/python benchmarks/train_blocks.py
--write` (about a minute; two without --also). Needs scikit-learn, for training only
(`pip install -e '.[train]'`; the runtime evaluates the weights in pure Python).

Every top-level block of trafilatura's recall body is an example: labelled 1 when at least half
of its word 4-grams are in the page's ground truth, weighted by its share of the page's
4-grams (the score averages pages, so each page weighs the same). The model is a logistic
regression on standardised features (scikit-learn's defaults, C=1, fixed before any score was
seen). Cross-validation: for each of the 5 folds of benchmarks/extraction.py (a hash of the page
id), a model trained on the other four folds extracts the held-out pages through
`extract_article`; the held-out F1s are printed. The same fold models also extract the
Readability test pages and the trafilatura-eval pages of their fold (each page in one fold, by
a hash of its case name or URL), so those figures are held-out too when the models trained on
them (`--also`). With --write, the five fold models go to benchmarks/block_model_folds.json
(benchmarks/extraction.py uses them for the held-out rows of the shipped setting) and the model
trained on all pages becomes aggregator/extract/block_model.py.

`--also readability,trafilatura-eval` adds those corpora's pages to the training folds: a
Readability page's blocks are labelled against the text of its expected.html like the
scrapinghub pages; a trafilatura-eval page's blocks only where they hold one of its snippets
(1 for a `with` snippet, 0 for a `without` one; other blocks weigh nothing). `--weigh corpora`
gives each corpus the weight of the scrapinghub pages (default: every page weighs the same).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import BodyOptions, decode_html, extract_article, prepare_page  # noqa: E402
from aggregator.extract.blocks import FEATURES, Reference, block_text, tokens  # noqa: E402
from aggregator.extract.body import learned_candidates  # noqa: E402
from aggregator.extract.classifier import BlockModel  # noqa: E402
from benchmarks.extraction import (  # noqa: E402
    DEFAULT_CORPORA,
    FOLD_MODELS,
    FOLDS,
    _load_scrapinghub,
    fold_of,
    metrics_from_tp_fp_fns,
    shingle_matching,
    snippet_counts,
)
from benchmarks.extraction_corpora import Case, leakage_cases, readability_cases  # noqa: E402

MODEL_FILE = ROOT / "aggregator" / "extract" / "block_model.py"
# scikit-learn's default inverse regularisation strength, fixed before any score was seen
# (choosing it in inner folds, from 0.03 to 3, chose differently per fold and scored worse)
C = 1.0
LABEL_SHARE = 0.5  # a block belongs to the article when half its 4-grams are in the truth

Example = tuple[list[float], int, float]
CORPORA = ("scrapinghub", "readability", "trafilatura-eval")
_FOLDERS = {
    "scrapinghub": "scrapinghub-article-extraction-benchmark",
    "readability": "mozilla-readability-test-pages",
    "trafilatura-eval": "trafilatura-eval",
}


def load(corpora: Path) -> dict[str, list[Case]]:
    """The pages of the three corpora (scrapinghub: its ground truth as the reference)."""
    truth, pages = _load_scrapinghub(corpora / _FOLDERS["scrapinghub"], 1)
    return {
        "scrapinghub": [
            Case(k, raw, truth[k]["url"], truth[k].get("articleBody", ""))
            for k, raw in pages.items()
        ],
        "readability": list(readability_cases(corpora / _FOLDERS["readability"])),
        "trafilatura-eval": list(leakage_cases(corpora / _FOLDERS["trafilatura-eval"])),
    }


def _flat(text: str) -> str:
    return " ".join(text.split())


def examples(case: Case) -> list[Example]:
    """(features, label, weight) of each block of the page's recall body. Against a reference
    text: labelled by the share of its 4-grams the reference holds, weighted by its share of
    the page's 4-grams. Against snippets: labelled by the snippet it holds (none or both:
    weight 0), labelled blocks weighing the same and the page 1 in all."""
    page = prepare_page(decode_html(case.source), url=case.url)
    found = learned_candidates(page[0], title=page[1].title or "") if page else None
    if found is None:
        return []
    blocks = list(found.body)[: len(found.rows)]
    if case.reference or not (case.with_snippets or case.without_snippets):
        return label_blocks(case.reference, [block_text(b) for b in blocks], found.rows)
    out: list[Example] = []
    for row, block in zip(found.rows, blocks, strict=True):
        text = _flat(block_text(block))
        kept = any(_flat(s) in text for s in case.with_snippets)
        dropped = any(_flat(s) in text for s in case.without_snippets)
        out.append((row, int(kept), 1.0 if kept != dropped else 0.0))
    labelled = sum(w for _, _, w in out)
    return [(r, y, w / labelled) for r, y, w in out] if labelled else []


def label_blocks(reference_text: str, texts: list[str], rows: list[list[float]]) -> list[Example]:
    """(features, label, weight) of blocks against a reference text: labelled by the share of
    its 4-grams the reference holds, weighted by its share of the page's 4-grams."""
    reference = Reference.of([reference_text])
    words = [tokens(t) for t in texts]
    sizes = [max(1, len(w) - 3) for w in words]
    total = sum(sizes) or 1
    return [
        (row, int(reference.share(w) >= LABEL_SHARE), size / total)
        for row, w, size in zip(rows, words, sizes, strict=True)
    ]


def fit_weights(data: list[Example], c: float = C) -> tuple[Any, float]:
    """Logistic regression (inverse regularisation strength `c`) on standardised features,
    with the scaling folded into the weights so that the runtime multiplies raw features:
    (weights as a numpy array, bias)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([d[0] for d in data], dtype=float)
    y = np.array([d[1] for d in data])
    w = np.array([d[2] for d in data])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), y, sample_weight=w)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    coef = model.coef_[0] / scale
    return coef, float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))


def fit(data: list[Example], c: float = C) -> BlockModel:
    """The shipped kind of model (see fit_weights)."""
    coef, bias = fit_weights(data, c)
    return BlockModel(FEATURES, tuple(float(c) for c in coef), bias)


def _module(model: BlockModel, pages: int, blocks: int) -> str:
    lines = [
        '"""The shipped weights of the block classifier. Generated by benchmarks/train_blocks.py',
        f'--write from {pages} scrapinghub pages ({blocks} blocks): do not edit by hand."""',
        "",
        "from __future__ import annotations",
        "",
        "from .classifier import BlockModel",
        "",
        "# feature name -> weight on the raw feature value (blocks.FEATURES, in order)",
        "_WEIGHTS = (",
        *(f"    ({name!r}, {w!r})," for name, w in zip(model.features, model.weights, strict=True)),
        ")",
        "",
        "MODEL = BlockModel(",
        "    tuple(name for name, _ in _WEIGHTS),",
        "    tuple(weight for _, weight in _WEIGHTS),",
        f"    {model.bias!r},",
        f"    {model.threshold!r},",
        ")",
        "",
    ]
    return "\n".join(lines)


def _scores(name: str, cases: list[Case], texts: dict[str, str]) -> str:
    """One line of held-out figures for a corpus: F1 per fold and pooled (P, R), or the
    snippets kept and dropped."""
    if name == "trafilatura-eval":
        counts = [0, 0, 0, 0]
        for case in cases:
            snippet_counts(case, texts[case.key], counts)
        return f"with kept {counts[0] / counts[1]:.3f}, without dropped {counts[2] / counts[3]:.3f}"
    rows = {c.key: shingle_matching(c.reference, texts[c.key]) for c in cases}
    f1s = [
        metrics_from_tp_fp_fns([rows[c.key] for c in cases if fold_of(c.key) == fold])["f1"]
        for fold in range(FOLDS)
    ]
    total = metrics_from_tp_fp_fns(list(rows.values()))
    return (
        f"F1 per fold {' '.join(f'{f:.4f}' for f in f1s)}; mean {statistics.mean(f1s):.4f} "
        f"+- {statistics.stdev(f1s):.4f}; pooled F1={total['f1']:.4f} "
        f"P={total['precision']:.4f} R={total['recall']:.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the fold models and the model trained on all pages",
    )
    parser.add_argument(
        "--without",
        default="",
        help="comma-separated features to leave out (set to 0), to measure what each adds",
    )
    parser.add_argument(
        "--also",
        default="",
        help="comma-separated corpora whose pages join the training folds: readability, "
        "trafilatura-eval",
    )
    parser.add_argument(
        "--weigh",
        choices=["pages", "corpora"],
        default="pages",
        help="with --also: every page weighs the same, or every corpus as much as scrapinghub",
    )
    args = parser.parse_args(argv)
    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    train_on = ["scrapinghub", *(c for c in args.also.split(",") if c)]
    if not set(train_on) <= set(CORPORA):
        parser.error(f"--also takes {', '.join(CORPORA[1:])}")
    cases = load(args.corpora)
    without = {FEATURES.index(f) for f in args.without.split(",") if f}
    data: dict[tuple[str, str], list[Example]] = {}
    for name in train_on:
        scale = len(cases["scrapinghub"]) / len(cases[name]) if args.weigh == "corpora" else 1
        for case in cases[name]:
            data[name, case.key] = [
                ([0.0 if i in without else x for i, x in enumerate(r)], y, w * scale)
                for r, y, w in examples(case)
            ]
    fold_models: dict[str, Any] = {}
    texts: dict[str, dict[str, str]] = {name: {} for name in CORPORA}
    for fold in range(FOLDS):
        train = [e for (_, k), ex in data.items() if fold_of(k) != fold for e in ex]
        model = fit(train, C)
        fold_models[str(fold)] = model.to_json()
        for name in CORPORA:
            for case in cases[name]:
                if fold_of(case.key) == fold:
                    options = BodyOptions(model=model)
                    texts[name][case.key] = extract_article(
                        case.source, url=case.url, options=options
                    ).text
        print(f"fold {fold}: trained on {len(train)} blocks", flush=True)
    print(f"trained on {', '.join(train_on)} (weighing {args.weigh}); held-out figures:")
    for name in CORPORA:
        print(f"  {name} ({len(cases[name])} pages): {_scores(name, cases[name], texts[name])}")
    if args.write:
        everything = [e for ex in data.values() for e in ex]
        FOLD_MODELS.write_text(json.dumps(fold_models, indent=1) + "\n", encoding="utf-8")
        model = fit(everything, C)
        MODEL_FILE.write_text(_module(model, len(data), len(everything)), encoding="utf-8")
        print(f"wrote {FOLD_MODELS.relative_to(ROOT)} and {MODEL_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
