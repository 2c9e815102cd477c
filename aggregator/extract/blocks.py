"""Block features: numbers describing each top-level block of trafilatura's recall body (its
size, links, punctuation, position, where it sits in the page, and whether the precision body
holds the same words), for the learned block classifier.

Pure: reads the trees it is given, changes nothing. Generic by design: no feature names a
site, a class name or a phrase of a page."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import lxml.etree as etree

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?:;\u3002\u061f][\"'\u201d\u2019)\]]*$")
_DIGIT = re.compile(r"\d")
_PUNCT = re.compile(r"[.,;:!?\u3001\u3002\u060c]")
_HEAD_LEVEL = re.compile(r"h([1-6])")
# Generic words that open the closing lines of many articles (related links, calls to follow,
# subscribe or share, copyright); a feature, not a rule: the model weighs it.
PROMO = re.compile(
    r"^(?:related(?: (?:articles?|stories|posts|reading|content|coverage))?\s*:|"
    r"(?:read|see|watch) (?:more|also|next)\b|more (?:from|on|about)\b|"
    r"(?:follow|like) us\b|(?:subscribe|sign up)\b|click here\b|"
    r"(?:copyright|\u00a9)|all rights reserved|share (?:this|on)\b)",
    re.I,
)
_TAGS = ("head", "p", "list", "quote", "code", "table")
_NEAR = 5  # distance in blocks to the nearest precision block, capped
MAX_BLOCKS = 2_000  # blocks scored per page; later ones are kept as they are

FEATURES: tuple[str, ...] = (
    *(f"tag_{t}" for t in _TAGS),
    "head_level",
    "log_chars",
    "log_words",
    "link_share",
    "format_share",
    "punct_per_100_chars",
    "ends_sentence",
    "capital_share",
    "digit_share",
    "mean_word_len",
    "promo",
    "in_precision",
    "like_title",
    "index_share",
    "chars_before_share",
    "chars_after_share",
    "block_share",
    "before_first_precision",
    "after_last_precision",
    "near_precision",
    "prev_in_precision",
    "next_in_precision",
    "prev_log_chars",
    "next_log_chars",
    "prev_link_share",
    "next_link_share",
    "page_log_chars",
    "page_blocks",
    "precision_share",
    "matched",
    "log_depth",
    "in_container",
    "levels_below_container",
    "container_depth_share",
    "in_article_tag",
    "in_aside",
    "in_footer",
    "in_header",
    "in_nav_or_form",
    "in_list_item",
    "same_parent_prev",
    "same_parent_next",
    "siblings_share",
    "repeated",
    "short_run",
    "before_first_long",
    "after_last_long",
    "starts_lower",
)
_ASIDE = frozenset({"aside"})
_FOOTER = frozenset({"footer"})
_HEADER = frozenset({"header"})
_NAV = frozenset({"nav", "form"})
_LI = frozenset({"li", "dd"})
_ARTICLE_TAGS = frozenset({"article", "main"})


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def shingles(words: Sequence[str], n: int = 4) -> set[tuple[str, ...]]:
    """Word n-grams of a text (the whole text when it is shorter than n words)."""
    if len(words) < n:
        return {tuple(words)} if words else set()
    # the shifted copies are shorter: zip stops at the last whole n-gram
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def _share_in(words: list[str], pool: frozenset[tuple[str, ...]], joined: str) -> float:
    """How much of a block's text another text holds: the share of its word 4-grams found in
    `pool`; a block under four words counts as held when `joined` contains it."""
    if not words:
        return 0.0
    if len(words) < 4:
        return 1.0 if f" {' '.join(words)} " in joined else 0.0
    own = shingles(words)
    return len(own & pool) / len(own)


@dataclass(frozen=True)
class Reference:
    """A text the blocks are compared with: its word 4-grams and its words joined by spaces."""

    pool: frozenset[tuple[str, ...]]
    joined: str

    @classmethod
    def of(cls, texts: Iterable[str]) -> Reference:
        pool: set[tuple[str, ...]] = set()
        parts: list[str] = []
        for text in texts:
            words = tokens(text)
            pool |= shingles(words)
            parts.append(" ".join(words))
        return cls(frozenset(pool), f" {' '.join(parts)} ") if parts else EMPTY

    def __bool__(self) -> bool:
        return bool(self.pool)

    def share(self, words: list[str]) -> float:
        return _share_in(words, self.pool, self.joined)


EMPTY = Reference(frozenset(), " ")


def _nearest(kept: list[int], i: int) -> int:
    """Distance from block i to the nearest block of `kept` (sorted), _NEAR when none."""
    at = bisect.bisect_left(kept, i)
    near = [abs(kept[j] - i) for j in (at - 1, at) if 0 <= j < len(kept)]
    return min(near, default=_NEAR)


def block_text(block: etree._Element) -> str:
    return " ".join(" ".join(block.itertext()).split())


def _chars(elements: Iterable[etree._Element]) -> int:
    return sum(len(block_text(e)) for e in elements)


def _log(n: float) -> float:
    return math.log1p(n)


def block_features(
    body: etree._Element,
    precision: Reference,
    *,
    title: str = "",
    sources: Sequence[etree._Element | None] = (),
) -> list[list[float]]:
    """One feature vector (in the order of FEATURES) per top-level block of `body`, at most
    MAX_BLOCKS. `precision` holds the text of trafilatura's precision body (EMPTY: none; the
    long, sentence-like paragraphs stand in for it), `title` is the page's title, `sources`
    the page element of each block (see source_elements)."""
    blocks = list(body)[:MAX_BLOCKS]
    texts = [block_text(b) for b in blocks]
    words = [tokens(t) for t in texts]
    chars = [len(t) for t in texts]
    total = max(1, sum(chars))
    links = [_chars(b.iter("ref")) / c if c else 1.0 for b, c in zip(blocks, chars, strict=True)]
    in_p = [precision.share(w) if precision else 0.0 for w in words]
    if precision:
        kept = [i for i, s in enumerate(in_p) if s >= 0.5]
    else:  # the article's likely paragraphs: long sentences with few links
        kept = [
            i
            for i, (t, w) in enumerate(zip(texts, words, strict=True))
            if len(t) >= _LONG and links[i] < 0.2 and _SENTENCE_END.search(t)
        ]
    first, last = (kept[0], kept[-1]) if kept else (len(blocks), -1)
    title_words = set(tokens(title))
    n = len(blocks)
    rows: list[list[float]] = []
    before = 0
    for i, (block, text, w, c) in enumerate(zip(blocks, texts, words, chars, strict=True)):
        tag = str(block.tag)
        level = _HEAD_LEVEL.fullmatch(block.get("rend") or "")
        nw = max(1, len(w))
        near = _nearest(kept, i)
        row = [
            *(1.0 if tag == t else 0.0 for t in _TAGS),
            float(level.group(1)) if tag == "head" and level else 0.0,
            _log(c),
            _log(len(w)),
            links[i],
            _chars(block.iter("hi")) / c if c else 0.0,
            100 * len(_PUNCT.findall(text)) / max(1, c),
            1.0 if _SENTENCE_END.search(text) else 0.0,
            sum(1 for x in text.split() if x[:1].isupper()) / nw,
            len(_DIGIT.findall(text)) / max(1, c),
            min(20.0, sum(map(len, w)) / nw),
            1.0 if c < 400 and PROMO.match(text) else 0.0,
            in_p[i],
            len(title_words & set(w)) / nw
            if title_words and len(w) <= 3 * len(title_words)
            else 0.0,
            i / n,
            before / total,
            (total - before - c) / total,
            c / total,
            1.0 if i < first else 0.0,
            1.0 if i > last else 0.0,
            float(min(near, _NEAR)),
            in_p[i - 1] if i > 0 else 0.0,
            in_p[i + 1] if i + 1 < n else 0.0,
            _log(chars[i - 1]) if i > 0 else 0.0,
            _log(chars[i + 1]) if i + 1 < n else 0.0,
            links[i - 1] if i > 0 else 0.0,
            links[i + 1] if i + 1 < n else 0.0,
            _log(total),
            _log(n),
            min(1.0, _chars_of(precision) / total),
        ]
        rows.append(row)
        before += c
    _add_structure(rows, list(sources)[:n] or [None] * n, kept)
    _add_context(rows, texts, words, links)
    return rows


# In characters, not words, so that languages written without spaces measure alike.
_SHORT = 60  # a caption, a label, a button
_LONG = 150  # a paragraph of running text


def _add_context(
    rows: list[list[float]], texts: list[str], words: list[list[str]], links: list[float]
) -> None:
    """Features of a block among its neighbours: repeated text, runs of short blocks, and
    where it sits against the first and last long paragraphs of running text."""
    seen: dict[str, int] = {}
    for t in texts:
        seen[t] = seen.get(t, 0) + 1
    n = len(rows)
    short = [len(t) < _SHORT for t in texts]
    run = [0] * n
    i = 0
    while i < n:
        j = i
        while j < n and short[j] == short[i]:
            j += 1
        for k in range(i, j):
            run[k] = j - i if short[i] else 0
        i = j
    long = [
        i
        for i, (t, w) in enumerate(zip(texts, words, strict=True))
        if len(t) >= _LONG and links[i] < 0.5 and _SENTENCE_END.search(t)
    ]
    first, last = (long[0], long[-1]) if long else (n, -1)
    for i, (row, t) in enumerate(zip(rows, texts, strict=True)):
        row.extend(
            [
                1.0 if t and seen[t] > 1 else 0.0,
                _log(run[i]),
                1.0 if i < first else 0.0,
                1.0 if i > last else 0.0,
                1.0 if t[:1].islower() else 0.0,
            ]
        )


def _depth(el: etree._Element) -> int:
    return sum(1 for _ in el.iterancestors())


def _has(tags: set[str], wanted: frozenset[str]) -> float:
    return 0.0 if tags.isdisjoint(wanted) else 1.0


def _add_structure(
    rows: list[list[float]], sources: list[etree._Element | None], kept: list[int]
) -> None:
    """Features of where each block sits in the page: depth, semantic ancestors, and whether
    it lies inside the element holding the precision body's first and last blocks."""
    sources = sources + [None] * (len(rows) - len(sources))
    ends = [e for e in (sources[i] for i in kept[:1] + kept[-1:]) if e is not None]
    container: etree._Element | None = None
    if ends:
        first = ends[0]
        around = {id(a) for a in ends[-1].iterancestors()} | {id(ends[-1])}
        container = next((a for a in [first, *first.iterancestors()] if id(a) in around), None)
    c_depth = _depth(container) if container is not None else 0
    parents = [e.getparent() if e is not None else None for e in sources]
    counts: dict[int, int] = {}
    for p in parents:
        if p is not None:
            counts[id(p)] = counts.get(id(p), 0) + 1
    n = len(rows)
    for i, (row, el) in enumerate(zip(rows, sources, strict=True)):
        if el is None:
            row.extend([0.0] * 14)
            continue
        ancestors = list(el.iterancestors())
        depth = len(ancestors)
        tags = {str(a.tag) for a in ancestors}
        tags.add(str(el.tag))
        inside = container is not None and (
            el is container or any(a is container for a in ancestors)
        )
        parent = parents[i]
        row.extend(
            [
                1.0,
                _log(depth),
                1.0 if inside else 0.0,
                float(min(10, depth - c_depth)) if inside else -1.0,
                c_depth / depth if depth else 0.0,
                _has(tags, _ARTICLE_TAGS),
                _has(tags, _ASIDE),
                _has(tags, _FOOTER),
                _has(tags, _HEADER),
                _has(tags, _NAV),
                _has(tags, _LI),
                1.0 if i > 0 and parent is not None and parents[i - 1] is parent else 0.0,
                1.0 if i + 1 < n and parent is not None and parents[i + 1] is parent else 0.0,
                counts.get(id(parent), 0) / n if parent is not None else 0.0,
            ]
        )


def _chars_of(ref: Reference) -> float:
    return float(len(ref.joined))


_KEY = 60
_BLOCK_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 li ul ol dl blockquote pre table tr td th div section article main "
    "aside header footer nav form figure figcaption body".split()
)


def _key(text: str) -> str:
    """The first _KEY characters of the text, spaces collapsed. Collapsing a prefix of the text
    gives a prefix of the collapsed text, so a long text node is only split near its start."""
    head = " ".join(text[: 4 * _KEY].split())
    if len(head) >= _KEY or len(text) <= 4 * _KEY:
        return head[:_KEY]
    return " ".join(text.split())[:_KEY]


_TEXTS = etree.XPath("//text()[normalize-space()]")


def source_elements(root: etree._Element, body: etree._Element) -> list[etree._Element | None]:
    """For each top-level block of `body`, the page element it came from: the nearest
    block-level element around the first page text node that starts like the block's first
    text, searched forward in document order from the previous match; None when none does."""
    firsts: list[str] = []
    for first_block in list(body)[:MAX_BLOCKS]:
        first = next((t for t in first_block.itertext() if t.strip()), "")
        firsts.append(_key(first))
    wanted = set(firsts)
    where: dict[str, list[int]] = {}
    order: list[etree._Element] = []
    for text in _TEXTS(root):
        key = _key(text)
        if key not in wanted:
            continue
        owner = text.getparent() if isinstance(text, etree._ElementUnicodeResult) else None
        if owner is not None and text.is_tail:
            owner = owner.getparent()
        if owner is not None:
            where.setdefault(key, []).append(len(order))
            order.append(owner)
    found: list[etree._Element | None] = []
    at = 0
    for key in firsts:
        hits = where.get(key, []) if key else []
        pos = next((h for h in hits if h >= at), hits[0] if hits else None)
        if pos is None:
            found.append(None)
            continue
        at = pos + 1
        block: etree._Element | None = order[pos]
        while block is not None and block.tag not in _BLOCK_TAGS:
            block = block.getparent()
        found.append(block)
    return found
