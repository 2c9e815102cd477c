"""Pages per second through `extract_article` for this checkout and others, alternating: the
before/after figure of a speed change on a shared machine.

Command: `AGGREGATOR_CORPORA=<corpora folder> .venv/bin/python benchmarks/extraction_speed.py
--compare-with ../before --rounds 6` (about 20 s a round and checkout). Each round starts one
process per checkout (in turn, the order reversed every other round), which extracts one page
untimed (per-process loading), then the 91 scrapinghub pages three times, and reports the best
of the three passes in pages per second of process CPU time (`time.process_time`). Printed per
checkout: the median and best over the rounds, and every round. A checkout runs with its own
`.venv/bin/python` when it has one. Not covered: decoding of other charsets than UTF-8, the
hostile pages (`extraction.py --suite hostile`), and anything outside `extract_article`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ENV = os.environ.get("AGGREGATOR_CORPORA")
DEFAULT_CORPORA = Path(_ENV) / "extraction" if _ENV else None

_ONE_RUN = r"""
import gzip, json, sys, time
from pathlib import Path
sys.path.insert(0, ".")
from aggregator.extract import extract_article
corpus = Path(sys.argv[1])
truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
pages = {k: gzip.decompress((corpus / "html" / f"{k}.html.gz").read_bytes()) for k in sorted(truth)}
first = next(iter(pages))
extract_article(pages[first], url=truth[first]["url"])
best = 0.0
for _ in range(3):
    start = time.process_time()
    for k, page in pages.items():
        extract_article(page, url=truth[k]["url"])
    best = max(best, len(pages) / (time.process_time() - start))
print(best)
"""


def pages_per_second(checkout: Path, corpus: Path) -> float:
    python = checkout / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python) if python.exists() else sys.executable, "-c", _ONE_RUN, str(corpus)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--compare-with", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    corpus = args.corpora / "scrapinghub-article-extraction-benchmark"
    checkouts = [ROOT, *(p.resolve() for p in args.compare_with)]
    runs: dict[Path, list[float]] = {c: [] for c in checkouts}
    for r in range(args.rounds):
        for checkout in checkouts if r % 2 == 0 else checkouts[::-1]:
            runs[checkout].append(pages_per_second(checkout, corpus))
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for checkout, values in runs.items():
        print(
            f"{checkout}: median {statistics.median(values):.1f} pages/s, best {max(values):.1f} "
            f"(rounds: {' '.join(f'{v:.1f}' for v in values)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
