"""Article extraction benchmark: scores aggregator.extract on the extraction corpora.

Reads the extraction corpora folder (--corpora, default $AGGREGATOR_CORPORA/extraction); writes
nothing but stdout.

* scrapinghub: article body F1 / precision / recall with the scrapinghub
  article-extraction-benchmark method (word 4-gram shingles; per page tp/fp/fn normalised to
  sum 1; mean precision and mean recall over pages; F1 of the two means), on the whole set and
  as a 5-fold cross-validated estimate: every setting of the extractor that was chosen by looking
  at scores is a candidate (CANDIDATES); for each fold the candidate with the best F1 on the
  other four folds is scored on the held-out fold, and the mean and spread of the held-out
  folds are reported. Beside it trafilatura's own shipped output (output/trafilatura.json).
  Pages per second through `extract_article` on one core (process CPU time).
* readability: body F1 against the text of each test page's expected.html (same shingle
  score), and title and byline agreement with its expected-metadata.json.
* leakage: on trafilatura's evaluation pages, the share of `with` snippets kept and of
  `without` (boilerplate) snippets dropped.
* hostile: CPU time of generated pages (a 9 MB line, 20,000 nested divs, 100,000 links, ...).

`--compare` runs every candidate on every corpus (a change is kept only when it helps the
held-out folds and hurts no other corpus). Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import BodyOptions, extract_article  # noqa: E402
from aggregator.extract.classifier import BlockModel  # noqa: E402
from benchmarks.extraction_corpora import Case, leakage_cases, readability_cases  # noqa: E402
from benchmarks.extraction_hostile import run_hostile  # noqa: E402

_ENV = os.environ.get("AGGREGATOR_CORPORA")
DEFAULT_CORPORA = Path(_ENV) / "extraction" if _ENV else None

# Every setting of the body extractor that was chosen by looking at benchmark scores, as the
# candidates a fold chooses among. "shipped" is what extract_article uses by default: the
# learned block classifier (benchmarks/train_blocks.py); on the scrapinghub pages its held-out
# rows come from the fold models trained without the page's fold (FOLD_MODELS).
CANDIDATES: dict[str, BodyOptions] = {
    "shipped": BodyOptions(),
    "precision, tail prune (shipped before)": BodyOptions(learned=False, prune_tail=True),
    "precision, no prune": BodyOptions(learned=False),
    "precision, images": BodyOptions(learned=False, images=True, prune_tail=True),
    "balanced": BodyOptions(learned=False, mode="balanced", prune_tail=True),
    "balanced, no prune": BodyOptions(learned=False, mode="balanced"),
    "recall": BodyOptions(learned=False, mode="recall", prune_tail=True),
    # trafilatura without its own fallback, and with ours: the balanced body when the
    # precision body is under 70 % of its length (best whole-set F1, not kept: see the docs)
    "fast precision": BodyOptions(learned=False, fast=True, prune_tail=True),
    "fast precision, balanced below 0.7": BodyOptions(
        learned=False, fast=True, fallback=0.7, prune_tail=True
    ),
}
FOLD_MODELS = Path(__file__).with_name("block_model_folds.json")
FOLDS = 5

# --- the scrapinghub evaluation, as its evaluate.py computes it ------------------------------

TpFpFn = tuple[float, float, float]
_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    tokens = _tokenize(text)
    result = []
    for i in range(0, max(1, len(tokens) - n + 1)):
        shingle = tuple(tokens[i : i + n])
        if shingle:
            result.append(shingle)
    return result


def shingle_matching(true: str, pred: str, ngram_n: int = 4) -> TpFpFn:
    """TP/FP/FN over word n-gram shingles (with multiplicity), normalised to sum to 1."""
    true_shingles = Counter(_ngrams(true, ngram_n))
    pred_shingles = Counter(_ngrams(pred, ngram_n))
    tp = fp = fn = 0.0
    for key in set(true_shingles) | set(pred_shingles):
        t, p = true_shingles.get(key, 0), pred_shingles.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    s = tp + fp + fn
    if s > 0:
        return (tp / s, fp / s, fn / s)
    return (tp, fp, fn)


def precision_score(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def recall_score(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


def metrics_from_tp_fp_fns(rows: list[TpFpFn]) -> dict[str, float]:
    """Mean precision and mean recall over pages, F1 of the two means (upstream's definition)."""
    precision = statistics.mean([precision_score(*r) for r in rows if r[0] + r[1] > 0])
    recall = statistics.mean([recall_score(*r) for r in rows if r[0] + r[2] > 0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def evaluate(
    ground_truth: dict[str, dict[str, Any]], predictions: dict[str, str]
) -> dict[str, float]:
    rows = [
        shingle_matching(ground_truth[k].get("articleBody", ""), predictions.get(k, "") or "")
        for k in ground_truth
    ]
    return metrics_from_tp_fp_fns(rows)


def fold_of(page_id: str, folds: int = FOLDS) -> int:
    """A page's fold: from a hash of its id, so folds do not follow any order of the ids."""
    return int(hashlib.sha256(page_id.encode()).hexdigest(), 16) % folds


def _load_scrapinghub(corpus: Path, every: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    truth_all = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth_all)[::every]
    truth = {k: truth_all[k] for k in ids}
    pages = {k: gzip.decompress((corpus / "html" / f"{k}.html.gz").read_bytes()) for k in ids}
    return truth, pages


def _fold_models() -> dict[int, BlockModel]:
    if not FOLD_MODELS.exists():
        return {}
    data = json.loads(FOLD_MODELS.read_text(encoding="utf-8"))
    return {int(fold): BlockModel.from_json(model) for fold, model in data.items()}


def _rows(
    truth: dict[str, Any],
    pages: dict[str, bytes],
    options: BodyOptions,
    models: dict[int, BlockModel] | None = None,
) -> tuple[dict[str, TpFpFn], float]:
    """Per-page tp/fp/fn of one candidate, and the CPU seconds extract_article took. With
    `models` (fold -> model), each page is extracted by the model of its own fold, one that
    never saw it."""
    rows: dict[str, TpFpFn] = {}
    seconds = 0.0
    for k, page in list(pages.items())[:1]:
        # once, untimed: the first call loads what every later page reuses (jusText's
        # stoplists, trafilatura's settings), a cost per process, not per page
        extract_article(page, url=truth[k]["url"], options=options)
    for k, page in pages.items():
        page_options = options
        if models is not None:
            page_options = replace(options, model=models[fold_of(k)])
        start = time.process_time()
        # The benchmark pages are UTF-8 (upstream reads them so); we still sniff as for any page.
        text = extract_article(page, url=truth[k]["url"], options=page_options).text
        seconds += time.process_time() - start
        rows[k] = shingle_matching(truth[k].get("articleBody", ""), text)
    return rows, seconds


def cross_validate(
    rows: dict[str, dict[str, TpFpFn]],
    folds: int = FOLDS,
    held_out: dict[str, dict[str, TpFpFn]] | None = None,
) -> dict[str, Any]:
    """For each fold: the candidate with the best F1 on the other folds, scored on this one.
    `rows` maps candidate -> page id -> tp/fp/fn (every candidate over the same pages);
    `held_out` replaces a learned candidate's rows by those of its fold models, for choosing
    (the model trained on a fold's pages scores them) and for the held-out score."""
    held_out = held_out or {}
    ids = sorted(next(iter(rows.values())))
    held: list[dict[str, Any]] = []
    pooled: list[TpFpFn] = []
    for fold in range(folds):
        test = [k for k in ids if fold_of(k, folds) == fold]
        train = [k for k in ids if fold_of(k, folds) != fold]
        if not test:
            continue
        # choosing on the training folds: a learned candidate is judged by the model trained on
        # them (it has seen those pages: an optimistic choice, never an optimistic score)
        best = max(rows, key=lambda c: metrics_from_tp_fp_fns([rows[c][k] for k in train])["f1"])
        scored = held_out.get(best, rows[best])
        score = metrics_from_tp_fp_fns([scored[k] for k in test])
        held.append({"fold": fold, "pages": len(test), "chosen": best, **score})
        pooled.extend(scored[k] for k in test)
    f1s = [h["f1"] for h in held]
    return {
        "folds": held,
        "mean_f1": statistics.mean(f1s),
        "stdev_f1": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
        "min_f1": min(f1s),
        "max_f1": max(f1s),
        "pooled": metrics_from_tp_fp_fns(pooled),
    }


def run_scrapinghub(
    corpus: Path, *, every: int = 1, candidates: dict[str, BodyOptions] | None = None
) -> dict[str, Any]:
    """Our extractor vs the ground truth; every `every`-th page in sorted id order. With more
    than one candidate, also the cross-validated estimate of choosing among them."""
    candidates = candidates or {"shipped": CANDIDATES["shipped"]}
    truth, pages = _load_scrapinghub(corpus, every)
    rows: dict[str, dict[str, TpFpFn]] = {}
    seconds: dict[str, float] = {}
    for name, options in candidates.items():
        rows[name], seconds[name] = _rows(truth, pages, options)
    held_out: dict[str, dict[str, TpFpFn]] = {}
    models = _fold_models()
    if models and every == 1:
        for name, options in candidates.items():
            if options.learned and options.model is None:
                held_out[name] = _rows(truth, pages, options, models)[0]
    first = next(iter(candidates))
    result: dict[str, Any] = {
        "pages": len(pages),
        **metrics_from_tp_fp_fns(list(rows[first].values())),
        "pages_per_second": len(pages) / seconds[first] if seconds[first] else 0.0,
        "candidates": {
            name: {
                **metrics_from_tp_fp_fns(list(r.values())),
                "pages_per_second": len(pages) / seconds[name] if seconds[name] else 0.0,
            }
            for name, r in rows.items()
        },
    }
    result["held_out_models"] = {
        name: metrics_from_tp_fp_fns(list(r.values())) for name, r in held_out.items()
    }
    if len(candidates) > 1:
        result["cross_validation"] = cross_validate(rows, held_out=held_out)
    reference = corpus / "output" / "trafilatura.json"
    if reference.exists():
        data = json.loads(reference.read_text(encoding="utf-8"))
        shipped = {k: (v.get("articleBody") or "") for k, v in data["output"].items()}
        result["reference"] = {
            "name": f"trafilatura {data.get('version', '?')} (shipped output)",
            **evaluate(truth, shipped),
        }
    return result


def run_through_pipeline(corpus: Path, *, every: int = 1, copies: int = 1) -> dict[str, Any]:
    """The same pages and score as `run_scrapinghub`, but as a user gets them: every page is
    served (decompressed, as text/html without a charset) by a local HTTP server on 127.0.0.1,
    saved with `aggregator save`, downloaded and extracted by `aggregator fetch`, and the `text`
    stored in the database is scored. Wall-clock seconds cover save and fetch, each the
    `aggregator` command in a process of its own, as a user runs it (run in this process, beside
    the server's thread, the CLI would start its workers from a fork server:
    pipeline/workers.py). `copies` serves each page under that many addresses (a 1,000-page
    fetch is `--copies 11`)."""
    import os
    import sqlite3
    import subprocess
    import tempfile

    from tests.httpserver import LocalServer, Route

    truth_all = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth_all)[::every]
    truth = {f"{k}#{c}": truth_all[k] for k in ids for c in range(copies)}
    server = LocalServer(poll_interval=0.05).start()
    old_allow = os.environ.get("AGGREGATOR_ALLOW_HOSTS")
    os.environ["AGGREGATOR_ALLOW_HOSTS"] = f"127.0.0.1:{server.port}"
    try:
        urls = {}
        for k in ids:
            page = gzip.decompress((corpus / "html" / f"{k}.html.gz").read_bytes())
            for c in range(copies):
                urls[f"{k}#{c}"] = server.add(
                    f"/articles/{c}/{k}.html", Route(body=page, content_type="text/html")
                )
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "aggregator.db")
            command = [sys.executable, "-c", "from aggregator.cli import cli; cli()", "--db", db]
            start = time.monotonic()
            for args in (["save", *urls.values(), "--tag", "benchmark"], ["fetch"]):
                result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT)
                if result.returncode != 0:
                    raise RuntimeError(f"aggregator {args[0]} failed: {result.stderr[-2000:]}")
            seconds = time.monotonic() - start
            conn = sqlite3.connect(db)
            try:
                stored = dict(conn.execute("SELECT url, text FROM articles").fetchall())
                statuses = Counter(r[0] for r in conn.execute("SELECT fetch_status FROM articles"))
            finally:
                conn.close()
    finally:
        server.stop()
        if old_allow is None:
            os.environ.pop("AGGREGATOR_ALLOW_HOSTS", None)
        else:
            os.environ["AGGREGATOR_ALLOW_HOSTS"] = old_allow
    predictions = {k: stored.get(url) or "" for k, url in urls.items()}
    return {
        "pages": len(urls),
        **evaluate(truth, predictions),
        "seconds": seconds,
        "pages_per_second": len(urls) / seconds if seconds else 0.0,
        "fetch_status": dict(statuses),
    }


# --- mozilla readability metadata ------------------------------------------------------------


def _norm(value: str | None) -> str:
    if not value:
        return ""
    value = unicodedata.normalize("NFKC", value).casefold()
    value = re.sub(r"^\s*by\s+", "", value)
    return " ".join(re.findall(r"\w+", value))


def run_readability(
    corpus: Path, *, options: BodyOptions = CANDIDATES["shipped"]
) -> dict[str, Any]:
    cases = list(readability_cases(corpus))
    title_ok = title_n = by_ok = by_n = by_extra = by_none_n = 0
    rows: list[TpFpFn] = []
    seconds = 0.0
    for case in cases:
        expected = case.expected
        start = time.process_time()
        article = extract_article(case.source, url=case.url, options=options)
        seconds += time.process_time() - start
        rows.append(shingle_matching(case.reference, article.text))
        if expected.get("title"):
            title_n += 1
            title_ok += _norm(article.title) == _norm(expected["title"])
        if expected.get("byline"):
            by_n += 1
            by_ok += _norm(article.author) == _norm(expected["byline"])
        else:
            by_none_n += 1
            by_extra += bool(article.author)
    return {
        "cases": len(cases),
        "body": metrics_from_tp_fp_fns(rows),
        "pages_per_second": len(cases) / seconds if seconds else 0.0,
        "title_agreement": title_ok / title_n if title_n else 0.0,
        "titles": title_n,
        "byline_agreement": by_ok / by_n if by_n else 0.0,
        "bylines": by_n,
        "byline_invented": by_extra / by_none_n if by_none_n else 0.0,
        "no_byline_cases": by_none_n,
    }


# --- trafilatura evaluation snippets -------------------------------------------------------


def _ws(text: str) -> str:
    return " ".join(text.split())


def snippet_counts(case: Case, text: str, counts: list[int]) -> None:
    """Adds to `counts` (with kept, with total, without dropped, without total) what `text`
    does with the case's snippets."""
    flat = _ws(text)
    for snippet in case.with_snippets:
        counts[0] += _ws(snippet) in flat
        counts[1] += 1
    for snippet in case.without_snippets:
        counts[2] += _ws(snippet) not in flat
        counts[3] += 1


def run_leakage(
    corpus: Path, *, reference: bool = True, options: BodyOptions = CANDIDATES["shipped"]
) -> dict[str, Any]:
    cases = list(leakage_cases(corpus))
    # per extractor: with-snippets kept, with total, without-snippets dropped, without total
    counts = {"ours": [0, 0, 0, 0], "trafilatura": [0, 0, 0, 0]}
    if reference:
        import trafilatura
    seconds = 0.0
    for case in cases:
        start = time.process_time()
        texts = {"ours": extract_article(case.source, url=case.url, options=options).text}
        seconds += time.process_time() - start
        if reference:
            texts["trafilatura"] = trafilatura.extract(case.source, url=case.url) or ""
        for name, text in texts.items():
            snippet_counts(case, text, counts[name])
    result: dict[str, Any] = {
        "pages": len(cases),
        "pages_per_second": len(cases) / seconds if seconds else 0.0,
    }
    for name, c in counts.items():
        if name == "trafilatura" and not reference:
            continue
        result[name] = {
            "with_kept": c[0] / c[1] if c[1] else 0.0,
            "without_dropped": c[2] / c[3] if c[3] else 0.0,
            "with_snippets": c[1],
            "without_snippets": c[3],
        }
    return result


def _print_scrapinghub(r: dict[str, Any]) -> None:
    print(f"scrapinghub article body, {r['pages']} pages")
    print(
        f"  ours (shipped) F1={r['f1']:.4f}  precision={r['precision']:.4f}  "
        f"recall={r['recall']:.4f}  {r['pages_per_second']:.1f} pages/s (one core, CPU time)"
    )
    if "reference" in r:
        ref = r["reference"]
        print(
            f"  reference      F1={ref['f1']:.4f}  precision={ref['precision']:.4f}  "
            f"recall={ref['recall']:.4f}  {ref['name']}"
        )
    if len(r["candidates"]) > 1:
        print("  candidates (whole set):")
        for name, c in r["candidates"].items():
            print(
                f"    {name:<28} F1={c['f1']:.4f}  P={c['precision']:.4f}  "
                f"R={c['recall']:.4f}  {c['pages_per_second']:.1f} pages/s"
            )
    for name, h in r.get("held_out_models", {}).items():
        print(
            f"  {name}, every page by the fold model that never saw it: F1={h['f1']:.4f}  "
            f"P={h['precision']:.4f}  R={h['recall']:.4f}"
        )
    cv = r.get("cross_validation")
    if cv:
        print(
            f"  {len(cv['folds'])}-fold held-out F1 {cv['mean_f1']:.4f} +- {cv['stdev_f1']:.4f} "
            f"(min {cv['min_f1']:.4f}, max {cv['max_f1']:.4f}; pooled held-out pages "
            f"F1={cv['pooled']['f1']:.4f})"
        )
        for h in cv["folds"]:
            print(
                f"    fold {h['fold']} ({h['pages']} pages): F1={h['f1']:.4f}  chose {h['chosen']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument(
        "--corpora",
        type=Path,
        default=DEFAULT_CORPORA,
        help="the extraction corpora folder (default: $AGGREGATOR_CORPORA/extraction)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run every candidate setting on the readability and leakage corpora too",
    )
    parser.add_argument(
        "--suite",
        choices=["all", "scrapinghub", "readability", "leakage", "hostile"],
        default="all",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        help="scrapinghub: score every N-th page only (default 1: all)",
    )
    parser.add_argument(
        "--through-pipeline",
        action="store_true",
        help="scrapinghub: serve the pages from a local HTTP server and score the "
        "text `aggregator save` + `aggregator fetch` stored",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="--through-pipeline: serve each page under N addresses (load test)",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="leakage: do not run trafilatura itself for comparison",
    )
    args = parser.parse_args(argv)

    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    report: dict[str, Any] = {}
    if args.through_pipeline:
        r = run_through_pipeline(
            args.corpora / "scrapinghub-article-extraction-benchmark",
            every=args.every,
            copies=args.copies,
        )
        report["pipeline"] = r
        print(f"scrapinghub article body through save + fetch, {r['pages']} pages")
        print(
            f"  stored text  F1={r['f1']:.4f}  precision={r['precision']:.4f}  "
            f"recall={r['recall']:.4f}  {r['seconds']:.1f} s wall for save + fetch "
            f"({r['pages_per_second']:.1f} pages/s); fetch_status {r['fetch_status']}"
        )
        print(json.dumps(report, sort_keys=True))
        return 0
    others = CANDIDATES if args.compare else {"shipped": CANDIDATES["shipped"]}
    if args.suite in ("all", "scrapinghub"):
        r = run_scrapinghub(
            args.corpora / "scrapinghub-article-extraction-benchmark",
            every=args.every,
            candidates=CANDIDATES,
        )
        report["scrapinghub"] = r
        _print_scrapinghub(r)
    if args.suite in ("all", "readability"):
        report["readability"] = {}
        for name, options in others.items():
            r = run_readability(args.corpora / "mozilla-readability-test-pages", options=options)
            report["readability"][name] = r
            b = r["body"]
            print(f"mozilla readability test pages, {r['cases']} cases, {name}")
            print(
                f"  body F1={b['f1']:.4f}  precision={b['precision']:.4f}  "
                f"recall={b['recall']:.4f}  (expected.html text; "
                f"{r['pages_per_second']:.1f} pages/s)"
            )
            print(f"  title agreement  {r['title_agreement']:.3f} of {r['titles']}")
            print(
                f"  byline agreement {r['byline_agreement']:.3f} of {r['bylines']}; "
                f"byline given where none expected {r['byline_invented']:.3f} of "
                f"{r['no_byline_cases']}"
            )
    if args.suite in ("all", "leakage"):
        report["leakage"] = {}
        for i, (name, options) in enumerate(others.items()):
            r = run_leakage(
                args.corpora / "trafilatura-eval",
                reference=not args.no_reference and i == 0,
                options=options,
            )
            report["leakage"][name] = r
            print(f"trafilatura eval snippets, {r['pages']} pages, {name}")
            for who in ("ours", "trafilatura"):
                if who in r:
                    x = r[who]
                    print(
                        f"  {who:<12} with kept {x['with_kept']:.3f} of {x['with_snippets']}; "
                        f"without dropped {x['without_dropped']:.3f} of "
                        f"{x['without_snippets']}"
                    )
    if args.suite in ("all", "hostile"):
        report["hostile"] = run_hostile()
        print("hostile pages (CPU seconds through extract_article)")
        for name, h in report["hostile"].items():
            print(
                f"  {name:<26} {h['bytes'] / 1e6:5.1f} MB  {h['seconds']:6.2f} s  "
                f"{h['text_chars']:,} characters of text"
            )
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
