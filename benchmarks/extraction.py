"""Article extraction benchmark: scores aggregator.extract on the shared extraction corpora.

Reads ../shared/corpora/extraction (or --corpora); writes nothing but stdout.

* scrapinghub: article body F1 / precision / recall with the scrapinghub
  article-extraction-benchmark method (word 4-gram shingles; per page tp/fp/fn normalised to
  sum 1; mean precision and mean recall over pages; F1 of the two means), beside trafilatura's
  own shipped output (output/trafilatura.json) on the same pages; pages per second on one core.
* readability: title and byline agreement with mozilla/readability's expected-metadata.json.
* leakage: on trafilatura's evaluation pages, the share of `with` snippets kept and of
  `without` (boilerplate) snippets dropped.

Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import extract_article  # noqa: E402

DEFAULT_CORPORA = (ROOT / ".." / "shared" / "corpora" / "extraction").resolve()

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


def run_scrapinghub(corpus: Path, *, every: int = 1) -> dict[str, Any]:
    """Our extractor vs the ground truth; every `every`-th page in sorted id order."""
    truth_all = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth_all)[::every]
    truth = {k: truth_all[k] for k in ids}
    pages = {k: gzip.decompress((corpus / "html" / f"{k}.html.gz").read_bytes()) for k in ids}
    predictions: dict[str, str] = {}
    start = time.process_time()
    for k in ids:
        # The benchmark pages are UTF-8 (upstream reads them so); we still sniff as for any page.
        predictions[k] = extract_article(pages[k], url=truth[k]["url"]).text
    seconds = time.process_time() - start
    result: dict[str, Any] = {
        "pages": len(ids),
        **evaluate(truth, predictions),
        "pages_per_second": len(ids) / seconds if seconds else 0.0,
    }
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
    stored in the database is scored. Wall-clock seconds cover save and fetch. `copies` serves
    each page under that many addresses (a 1,000-page fetch is `--copies 11`)."""
    import os
    import sqlite3
    import tempfile

    from click.testing import CliRunner

    from aggregator.cli import cli
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
            runner = CliRunner()
            start = time.monotonic()
            for args in (["save", *urls.values(), "--tag", "benchmark"], ["fetch"]):
                result = runner.invoke(cli, ["--db", db, *args], catch_exceptions=False)
                if result.exit_code != 0:
                    raise RuntimeError(f"aggregator {args[0]} failed: {result.output}")
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


def run_readability(corpus: Path) -> dict[str, Any]:
    cases = sorted(p for p in (corpus / "test-pages").iterdir() if p.is_dir())
    title_ok = title_n = by_ok = by_n = by_extra = by_none_n = 0
    for case in cases:
        expected = json.loads((case / "expected-metadata.json").read_text(encoding="utf-8"))
        article = extract_article(
            gzip.decompress((case / "source.html.gz").read_bytes()),
            url=f"http://fakehost/{case.name}/",
        )
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


def run_leakage(corpus: Path, *, reference: bool = True) -> dict[str, Any]:
    data = json.loads((corpus / "evaldata.subset.json").read_text(encoding="utf-8"))
    # per extractor: with-snippets kept, with total, without-snippets dropped, without total
    counts = {"ours": [0, 0, 0, 0], "trafilatura": [0, 0, 0, 0]}
    if reference:
        import trafilatura
    for url, case in sorted(data.items()):
        raw = gzip.decompress((corpus / case["file"]).read_bytes())
        texts = {"ours": extract_article(raw, url=url).text}
        if reference:
            texts["trafilatura"] = trafilatura.extract(raw, url=url) or ""
        for name, text in texts.items():
            flat = _ws(text)
            c = counts[name]
            for snippet in case.get("with", []):
                c[0] += _ws(snippet) in flat
                c[1] += 1
            for snippet in case.get("without", []):
                c[2] += _ws(snippet) not in flat
                c[3] += 1
    result: dict[str, Any] = {"pages": len(data)}
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
        help="the extraction corpora folder (default: %(default)s)",
    )
    parser.add_argument(
        "--suite", choices=["all", "scrapinghub", "readability", "leakage"], default="all"
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
    if args.suite in ("all", "scrapinghub"):
        r = run_scrapinghub(
            args.corpora / "scrapinghub-article-extraction-benchmark", every=args.every
        )
        report["scrapinghub"] = r
        print(f"scrapinghub article body, {r['pages']} pages")
        print(
            f"  ours         F1={r['f1']:.4f}  precision={r['precision']:.4f}  "
            f"recall={r['recall']:.4f}  {r['pages_per_second']:.1f} pages/s (one core)"
        )
        if "reference" in r:
            ref = r["reference"]
            print(
                f"  reference    F1={ref['f1']:.4f}  precision={ref['precision']:.4f}  "
                f"recall={ref['recall']:.4f}  {ref['name']}"
            )
    if args.suite in ("all", "readability"):
        r = run_readability(args.corpora / "mozilla-readability-test-pages")
        report["readability"] = r
        print(f"mozilla readability metadata, {r['cases']} cases")
        print(f"  title agreement  {r['title_agreement']:.3f} of {r['titles']}")
        print(
            f"  byline agreement {r['byline_agreement']:.3f} of {r['bylines']}; "
            f"byline given where none expected {r['byline_invented']:.3f} of "
            f"{r['no_byline_cases']}"
        )
    if args.suite in ("all", "leakage"):
        r = run_leakage(args.corpora / "trafilatura-eval", reference=not args.no_reference)
        report["leakage"] = r
        print(f"trafilatura eval snippets, {r['pages']} pages")
        for name in ("ours", "trafilatura"):
            if name in r:
                x = r[name]
                print(
                    f"  {name:<12} with kept {x['with_kept']:.3f} of {x['with_snippets']}; "
                    f"without dropped {x['without_dropped']:.3f} of {x['without_snippets']}"
                )
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
