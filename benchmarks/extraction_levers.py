"""Three more generic levers for the block classifier (issue 14), measured inside the 5 folds:
class and id words of each block's page element and its ancestors as features, bagging, and
recall protection (gap filling). None was kept (docs/benchmarks.md, "third session").

Command: `AGGREGATOR_CORPORA=<corpora folder> .venv/bin/python benchmarks/extraction_levers.py`
(about 17 minutes at load 1.5-3; `--nested` also chooses among the class/id variants inside
the folds, about 8 minutes more). Needs scikit-learn, for this experiment only (`pip install -e
'.[train]'`).

Every model is trained as `train_blocks.py` trains them (same labels and weights, scikit-learn's
logistic regression, C=1, scrapinghub pages only) on four folds, and every page of the three
corpora is extracted through `extract_article` by the model of its fold, one that never saw it.

- **Class and id words.** The class and id attributes of the block's page element
  (`blocks.source_elements`) and of its ancestors, lower-cased and split into whole words on
  everything but letters (optionally also at camelCase joins). Two short lists of generic
  boilerplate and content words (below) give: whether a negative word sits within `depth`
  levels, how near the nearest is, the same for a positive word, and in some variants whether
  the negative word is nearer than the positive one, whether it sits inside the element holding
  the precision body (between the block and that element), whether the element itself or its
  parent has a positive word, and how many levels have a negative word. No weight is learned
  per word: the words only count through these few features.
- **Bagging.** Each fold model is the mean of the weights (and bias) of models trained on
  bootstrap resamples of the training pages (pages drawn with replacement, as many as there
  are); still one dot product a block.
- **Gap filling.** A block the model drops is kept when its probability is at least 0.5 minus a
  margin and it lies between two kept blocks (`adj`: its two neighbours are kept; `span`:
  somewhere between the first and last kept block), or inside the element holding the
  precision body (`container`), or both of the last two (`container_span`).

Not covered: speed (nothing is timed; none of these was kept).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.extract import BodyOptions, decode_html, extract_article, prepare_page  # noqa: E402
from aggregator.extract.blocks import (  # noqa: E402
    FEATURES,
    block_text,
    source_elements,
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
from benchmarks.train_blocks import Example, fit_weights, label_blocks, load  # noqa: E402

# Generic boilerplate and content vocabulary of the kind Readability, boilerpipe and dragnet
# publish for class and id attributes; written here from that kind, never taken from a
# benchmark page.
NEGATIVE = frozenset(
    "comment comments share sharing social related recommend recommended promo promoted "
    "sponsor sponsored ad ads advert advertisement sidebar widget widgets footer masthead meta "
    "byline author bio caption credit credits newsletter subscribe subscription signup tag tags "
    "breadcrumb breadcrumbs nav navigation menu popup modal".split()
)
POSITIVE = frozenset("article body content entry main post story text blog".split())
_NON_LETTERS = re.compile(r"[^a-z]+")
_CAMEL = re.compile(r"([a-z])([A-Z])")
ANCESTORS = 12  # levels of class and id kept per block (the variants look at most 10 up)
IN_CONTAINER = FEATURES.index("in_container")
LEVELS_BELOW = FEATURES.index("levels_below_container")

Chain = list[tuple[str, str]]  # (class, id) of the element, its parent, ...


@dataclass
class Page:
    """What one page gives the experiment: its recall blocks' texts and 52 features, and the
    class and id of each block's page element and its ancestors (None: no element found)."""

    texts: list[str]
    rows: list[list[float]]
    chains: list[Chain | None]


def gather(case: Case) -> Page | None:
    page = prepare_page(decode_html(case.source), url=case.url)
    if page is None:
        return None
    root, meta, _ = page
    found = learned_candidates(root, title=meta.title or "")
    if found is None:
        return None
    blocks = list(found.body)[: len(found.rows)]
    chains: list[Chain | None] = []
    for el in source_elements(root, found.body)[: len(blocks)]:
        chain: Chain = []
        while el is not None and len(chain) < ANCESTORS:
            chain.append((el.get("class") or "", el.get("id") or ""))
            el = el.getparent()
        chains.append(chain or None)
    return Page([block_text(b) for b in blocks], found.rows, chains)


def words_of(cls: str, id_: str, camel: bool) -> set[str]:
    text = f"{cls} {id_}"
    if camel:
        text = _CAMEL.sub(r"\1 \2", text)
    return {w for w in _NON_LETTERS.split(text.lower()) if w}


Rows = Callable[[Page], list[list[float]]]


def class_id(depth: int, camel: bool, parts: Sequence[str]) -> Rows:
    """The 52 features plus the class/id features named in `parts`."""

    def near(level: int | None) -> list[float]:
        if level is None:
            return [0.0, 0.0]
        return [1.0, (depth + 1 - level) / (depth + 1)]

    def rows(page: Page) -> list[list[float]]:
        out = []
        for row, chain in zip(page.rows, page.chains + [None] * len(page.rows), strict=False):
            neg = pos = None
            levels_neg = 0
            for level, (cls, id_) in enumerate((chain or [])[: depth + 1]):
                words = words_of(cls, id_, camel)
                if words & NEGATIVE:
                    levels_neg += 1
                    neg = level if neg is None else neg
                if pos is None and words & POSITIVE:
                    pos = level
            extra: list[float] = []
            if "neg" in parts:
                extra += near(neg)
            if "pos" in parts:
                extra += near(pos)
            if "neg_nearer" in parts:
                extra.append(1.0 if neg is not None and (pos is None or neg < pos) else 0.0)
            if "pos_own" in parts:
                extra.append(1.0 if pos is not None and pos <= 1 else 0.0)
            if "neg_in_container" in parts:
                inside = row[IN_CONTAINER] > 0.5 and neg is not None and neg < row[LEVELS_BELOW]
                extra.append(1.0 if inside else 0.0)
            if "neg_levels" in parts:
                extra.append(min(3, levels_neg) / 3)
            out.append(row + extra)
        return out

    return rows


def shipped(page: Page) -> list[list[float]]:
    return page.rows


def class_id_variants() -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for depth in (3, 6, 10):
        for camel in (False, True):
            split = "camelCase split" if camel else "non-letters"
            out[f"depth {depth}, {split}: neg, pos"] = class_id(depth, camel, ("neg", "pos"))
            out[f"depth {depth}, {split}: neg, pos, neg nearer"] = class_id(
                depth, camel, ("neg", "pos", "neg_nearer")
            )
    for depth in (3, 6):
        for camel in (False, True):
            split = "camelCase split" if camel else "non-letters"
            for parts in (
                ("neg",),
                ("neg", "neg_in_container"),
                ("neg", "pos_own", "neg_in_container"),
                ("neg", "pos", "neg_in_container", "neg_levels"),
            ):
                out[f"depth {depth}, {split}: {', '.join(parts)}"] = class_id(depth, camel, parts)
    return out


class Keeper:
    """A fold model over the rows of one setting, with optional gap filling; `page` is set
    before each extraction and its rows replace the ones learned_body passes (the same blocks:
    trafilatura is deterministic, checked by their count)."""

    def __init__(self, coef: object, bias: float, rows: Rows, gap: str = "", margin: float = 0):
        self.coef, self.bias, self.rows, self.gap, self.margin = coef, bias, rows, gap, margin
        self.page: Page | None = None

    def keeps(self, rows: Sequence[Sequence[float]]) -> list[bool]:
        import numpy as np

        assert self.page is not None and len(rows) == len(self.page.rows)
        x = np.asarray(self.rows(self.page), dtype=float).reshape(len(rows), -1)
        p = 1 / (1 + np.exp(-np.clip(x @ self.coef + self.bias, -60, 60)))
        keep = [bool(v) for v in p >= 0.5]
        held = [i for i, k in enumerate(keep) if k]
        if not self.gap or not held:
            return keep
        out = list(keep)
        for i, k in enumerate(keep):
            if k or p[i] < 0.5 - self.margin:
                continue
            between = held[0] < i < held[-1]
            inside = rows[i][IN_CONTAINER] > 0.5
            out[i] = {
                "adj": 0 < i < len(keep) - 1 and keep[i - 1] and keep[i + 1],
                "span": between,
                "container": inside,
                "container_span": inside and between,
            }[self.gap]
        return out


def examples(case: Case, page: Page | None, rows: Rows) -> list[Example]:
    """As train_blocks.examples: labelled against the reference text, weighted by 4-grams."""
    return label_blocks(case.reference, page.texts, rows(page)) if page is not None else []


def fit(pages: list[list[Example]], bags: int = 0, seed: int = 0) -> tuple[object, float]:
    """One model on all the pages' examples, or the mean of `bags` models on bootstrap
    resamples of the pages."""
    import numpy as np

    if not bags:
        return fit_weights([e for ex in pages for e in ex])
    rng = np.random.default_rng(seed)
    fits = [
        fit_weights([e for i in rng.integers(0, len(pages), len(pages)) for e in pages[i]])
        for _ in range(bags)
    ]
    return np.mean([c for c, _ in fits], axis=0), float(np.mean([b for _, b in fits]))


@dataclass
class Setting:
    rows: Rows = shipped
    bags: int = 0
    seed: int = 0
    gap: str = ""
    margin: float = 0.0


def held_out(
    cases: dict[str, list[Case]], pages: dict[tuple[str, str], Page | None], s: Setting
) -> dict[str, dict[str, str]]:
    """The text of every page of the three corpora, extracted by its fold's model."""
    data = {c.key: examples(c, pages["scrapinghub", c.key], s.rows) for c in cases["scrapinghub"]}
    texts: dict[str, dict[str, str]] = {n: {} for n in cases}
    for fold in range(FOLDS):
        coef, bias = fit(
            [ex for k, ex in data.items() if fold_of(k) != fold and ex], s.bags, s.seed + fold
        )
        model = Keeper(coef, bias, s.rows, s.gap, s.margin)
        for n, cs in cases.items():
            for c in cs:
                if fold_of(c.key) == fold:
                    model.page = pages[n, c.key]
                    options = BodyOptions(model=model)  # type: ignore[arg-type]
                    texts[n][c.key] = extract_article(c.source, url=c.url, options=options).text
    return texts


def report(name: str, cases: dict[str, list[Case]], texts: dict[str, dict[str, str]]) -> dict:
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
        [shingle_matching(c.reference, texts["readability"][c.key]) for c in cases["readability"]]
    )
    counts = [0, 0, 0, 0]
    for c in cases["trafilatura-eval"]:
        snippet_counts(c, texts["trafilatura-eval"][c.key], counts)
    print(
        f"{name}: scrapinghub held-out pooled F1 {pooled['f1']:.4f} "
        f"(P {pooled['precision']:.4f} R {pooled['recall']:.4f}); folds "
        f"{' '.join(f'{f:.4f}' for f in f1s)} (mean {statistics.mean(f1s):.4f} "
        f"sd {statistics.stdev(f1s):.4f}); Readability {rd['f1']:.4f} "
        f"(P {rd['precision']:.3f} R {rd['recall']:.3f}); trafilatura-eval kept "
        f"{counts[0] / counts[1]:.3f} dropped {counts[2] / counts[3]:.3f}",
        flush=True,
    )
    return sh


def nested(
    cases: dict[str, list[Case]],
    pages: dict[tuple[str, str], Page | None],
    variants: dict[str, Rows],
    outer: dict[str, dict[str, object]],
) -> None:
    """For each outer fold, the variant (the 52 features alone among them) whose pooled F1 over
    the four training folds, each scored by a model trained on the other three, is best;
    scored on the held-out fold by the model trained on the four."""
    sh = cases["scrapinghub"]
    final: dict[str, object] = {}
    chosen = []
    for fold in range(FOLDS):
        train = [c for c in sh if fold_of(c.key) != fold]
        inner: dict[str, float] = {}
        for name, rows in variants.items():
            data = {c.key: examples(c, pages["scrapinghub", c.key], rows) for c in train}
            scored = []
            for g in range(FOLDS):
                if g == fold:
                    continue
                coef, bias = fit([ex for k, ex in data.items() if fold_of(k) != g and ex])
                model = Keeper(coef, bias, rows)
                for c in train:
                    if fold_of(c.key) == g:
                        model.page = pages["scrapinghub", c.key]
                        options = BodyOptions(model=model)  # type: ignore[arg-type]
                        text = extract_article(c.source, url=c.url, options=options).text
                        scored.append(shingle_matching(c.reference, text))
            inner[name] = metrics_from_tp_fp_fns(scored)["f1"]
        best = max(variants, key=lambda v: (inner[v], v == "shipped (52 features)"))
        chosen.append(best)
        print(
            f"fold {fold}: inner pooled F1 {inner['shipped (52 features)']:.4f} for the 52 "
            f"features, best {best!r} {inner[best]:.4f}",
            flush=True,
        )
        final.update({c.key: outer[best][c.key] for c in sh if fold_of(c.key) == fold})
    pooled = metrics_from_tp_fp_fns(list(final.values()))  # type: ignore[arg-type]
    f1s = [
        metrics_from_tp_fp_fns([final[c.key] for c in sh if fold_of(c.key) == f])["f1"]  # type: ignore[misc]
        for f in range(FOLDS)
    ]
    print(
        f"class/id variant chosen inside the folds: scrapinghub held-out pooled F1 "
        f"{pooled['f1']:.4f} (P {pooled['precision']:.4f} R {pooled['recall']:.4f}); folds "
        f"{' '.join(f'{f:.4f}' for f in f1s)}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument(
        "--nested", action="store_true", help="also choose the class/id variant inside the folds"
    )
    args = parser.parse_args(argv)
    if args.corpora is None:
        parser.error("name the extraction corpora with --corpora or AGGREGATOR_CORPORA")
    cases = load(args.corpora)
    pages = {(n, c.key): gather(c) for n, cs in cases.items() for c in cs}
    variants: dict[str, Rows] = {"shipped (52 features)": shipped, **class_id_variants()}
    outer = {}
    for name, rows in variants.items():
        outer[name] = report(name, cases, held_out(cases, pages, Setting(rows)))
    for bags in (15, 50):
        for seed in (0, 100):
            report(
                f"bagged, {bags} bootstrap models, seed {seed}",
                cases,
                held_out(cases, pages, Setting(bags=bags, seed=seed)),
            )
    for gap in ("adj", "span", "container", "container_span"):
        for margin in (0.1, 0.2, 0.3):
            report(
                f"gap filling {gap}, margin {margin}",
                cases,
                held_out(cases, pages, Setting(gap=gap, margin=margin)),
            )
    if args.nested:
        nested(cases, pages, variants, outer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
