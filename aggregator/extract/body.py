"""The article body: trafilatura's recall-mode tree with the blocks the learned classifier
keeps (or one of the earlier settings the benchmark compares), as HTML and as plain text. The
only trafilatura user.

Pure: works on a tree the caller has already bounded."""

from __future__ import annotations

import functools
import re
from copy import deepcopy
from dataclasses import dataclass, replace

import lxml.etree as etree
import lxml.html
import trafilatura
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.settings import Extractor
from trafilatura.xml import xmltotxt

from .blocks import EMPTY, PROMO, Reference, block_features, block_text, source_elements
from .classifier import BlockModel
from .figures import Figure, Heading, insert_figures


@dataclass(frozen=True)
class BodyOptions:
    """How the body is chosen. The defaults are what `extract_article` ships: the learned
    block classifier. The other values are the earlier settings, kept so that
    `benchmarks/extraction.py` can compare them inside cross-validation folds
    (docs/benchmarks.md records which choice won and by how much)."""

    # Keep the blocks of trafilatura's recall body that the block classifier keeps (`model`,
    # or the shipped one); the fields below apply when this is off.
    learned: bool = True
    model: BlockModel | None = None

    mode: str = "precision"  # trafilatura's favour: "precision", "balanced" or "recall"
    images: bool = False  # keep <img> (and with them, trafilatura keeps captions and credits)
    prune_tail: bool = False  # drop promotion lines and link blocks closing the body
    fast: bool = False  # skip trafilatura's own fallback to its readability and jusText ports
    # When > 0: also run the balanced mode, and take its body when the first one has fewer
    # words than this share of it (the first mode dropped part of the article).
    fallback: float = 0.0


DEFAULT_OPTIONS = BodyOptions()


@functools.cache
def _extractor(mode: str, fast: bool, images: bool) -> Extractor:
    """trafilatura's options for one setting, made once: building them reads its settings
    file's values each time (~0.3 ms a run). trafilatura copies them before changing any."""
    return Extractor(
        # not "python": trafilatura would also write the body out as text, which is not
        # used here (~1.5 ms a run)
        output_format="xml",
        fast=fast,
        precision=mode == "precision",
        recall=mode == "recall",
        comments=False,
        tables=True,
        images=images,
        links=True,
        formatting=True,
        with_metadata=False,
        # No url: trafilatura would resolve relative links against the site root, losing the
        # path; sanitize_html resolves them against the page URL afterwards.
        url=None,
    )


def trafilatura_body(
    root: lxml.html.HtmlElement, options: BodyOptions = DEFAULT_OPTIONS
) -> etree._Element | None:
    """trafilatura's main-content tree (its XML dialect: p, head, list, item, quote, code,
    table, graphic, ref, hi), or None when it finds nothing."""
    try:
        doc = trafilatura.bare_extraction(
            root, options=_extractor(options.mode, options.fast, options.images)
        )
    except Exception:  # trafilatura raises on odd trees; a failed page is not a crash
        return None
    body = getattr(doc, "body", None) if doc is not None else None
    return body if body is not None and len(body) else None


def _words(body: etree._Element | None) -> int:
    return len(" ".join(body.itertext()).split()) if body is not None else 0


def _chars(body: etree._Element) -> int:
    return sum(len(t.strip()) for t in body.itertext())


# Characters under which a body is short: trafilatura's own threshold (ten times its minimum
# extraction size) for trusting its recall mode without comparing it with other extractors.
SHORT_BODY = 2_500
MIN_WORDS = 3  # fewer words are a label or stray bytes, not an article


@functools.cache
def shipped_model() -> BlockModel:
    """The trained weights (block_model.py), loaded on first use: a model trained on other
    features than blocks.FEATURES fails here, loudly, and not at import (so that
    benchmarks/train_blocks.py can still run to replace it)."""
    from .block_model import MODEL

    return MODEL


_RECALL = BodyOptions(learned=False, mode="recall", fast=True)
_PRECISION = BodyOptions(learned=False, mode="precision", fast=True)
_EARLIER = BodyOptions(learned=False)  # precision with trafilatura's fallback (shipped before)


@dataclass
class Candidates:
    """What the classifier chooses from: trafilatura's recall body (fast mode: without its
    fallback to other extractors), the features of its blocks, and the precision body they
    were compared with (with trafilatura's fallback when the recall body is `short`)."""

    body: etree._Element
    rows: list[list[float]]
    precision: etree._Element | None
    short: bool


def learned_candidates(root: lxml.html.HtmlElement, *, title: str = "") -> Candidates | None:
    """The recall body and its blocks' features; None when trafilatura finds no body."""
    recall = trafilatura_body(root, _RECALL)
    if recall is None:
        return None
    short = _chars(recall) < SHORT_BODY
    precision = trafilatura_body(root, _EARLIER if short else _PRECISION)
    reference = Reference.of(block_text(b) for b in precision) if precision is not None else EMPTY
    rows = block_features(recall, reference, title=title, sources=source_elements(root, recall))
    return Candidates(recall, rows, precision, short)


def learned_body(
    root: lxml.html.HtmlElement, *, title: str = "", model: BlockModel | None = None
) -> etree._Element | None:
    """The recall body with only the blocks the classifier keeps; all of it when the
    classifier keeps nothing (a page unlike the training pages is better whole than empty).
    When the recall body is short, trafilatura's fast mode may have missed the article: the
    precision body with trafilatura's fallback (the setting shipped before, tail pruned) wins
    when it holds more words."""
    found = learned_candidates(root, title=title)
    if found is None:
        earlier = trafilatura_body(root, _EARLIER)
        if earlier is not None:
            prune_body(earlier)
        return earlier
    body = found.body
    keeps = (model or shipped_model()).keeps(found.rows)
    if any(keeps):
        for child, keep in zip(list(body), keeps, strict=False):
            if not keep:
                body.remove(child)
    if found.short:
        if found.precision is None:
            # nothing for the precision mode and a scrap for the recall mode: no article
            return body if _words(body) >= MIN_WORDS else None
        prune_body(found.precision)
        if _words(found.precision) > _words(body):
            return found.precision
    return body


def choose_body(
    root: lxml.html.HtmlElement, options: BodyOptions = DEFAULT_OPTIONS, *, title: str = ""
) -> etree._Element | None:
    """The learned body, or trafilatura's body in the chosen mode, or the balanced mode's body
    when the first is much shorter than it (see BodyOptions.fallback)."""
    if options.learned:
        return learned_body(root, title=title, model=options.model)
    first = trafilatura_body(root, options)
    if options.fallback <= 0:
        return first
    second = trafilatura_body(root, replace(options, mode="balanced"))
    if second is not None and _words(first) < options.fallback * _words(second):
        return second
    return first


def _link_share(el: etree._Element) -> float:
    text = " ".join("".join(el.itertext()).split())
    if not text:
        return 1.0
    linked = sum(len(" ".join("".join(r.itertext()).split())) for r in el.iter("ref"))
    return linked / len(text)


def _is_tail_boilerplate(el: etree._Element) -> bool:
    text = " ".join("".join(el.itertext()).split())
    if not text:
        return True
    if len(text) < 400 and PROMO.match(text):
        return True
    # a run of links (related stories, tags, share buttons) closing the article
    return el.tag in ("list", "p", "head", "item") and _link_share(el) > 0.8 and len(text) < 1000


def prune_body(body: etree._Element) -> None:
    """Drop what trafilatura lets through at the end of articles: promotion lines and blocks
    of links (related stories, newsletter and follow-us prompts), and inline "Related:" lines.
    Generic rules only, never for a particular site."""
    children = list(body)
    if len(children) < 3:
        return
    for child in children[:-1]:
        text = " ".join("".join(child.itertext()).split())
        if text and len(text) < 300 and re.match(r"^related\s*:", text, re.I):
            body.remove(child)
    children = list(body)
    kept_min = max(1, len(children) // 2)  # never eat into the first half of the article
    while len(children) > kept_min and _is_tail_boilerplate(children[-1]):
        body.remove(children.pop())


def block_texts(body: etree._Element) -> list[str]:
    """The text of each top-level block of trafilatura's body, in order."""
    return ["".join(child.itertext()) for child in body]


_INLINE_PARENTS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "a", "em", "strong"}


def _fix_code(tree: etree._Element) -> None:
    """trafilatura writes every <code> as <pre>: inline code and the code inside a <pre> are
    <code> again, so a reader sees one code block, not a block in a block or a broken line."""
    for pre in list(tree.iter("pre")):
        parent = pre.getparent()
        if parent is not None and (parent.tag == "pre" or parent.tag in _INLINE_PARENTS):
            pre.tag = "code"
    for pre in tree.iter("pre"):
        if len(pre) == 0 and pre.text:
            code = etree.SubElement(pre, "code")
            code.text, pre.text = pre.text, None


def body_html(body: etree._Element, figures: list[Figure | Heading] | None = None) -> str:
    """The body as HTML (not yet sanitised), with the page's figures put back in place."""
    copy = deepcopy(body)
    for lst in copy.iter("list"):
        if lst.get("rend") == "ol":
            # trafilatura's conversion writes every list as <ul>; an ordered list keeps numbers
            lst.tag = "ol"
            lst.attrib.clear()
    tree = convert_to_html(copy)
    inner = tree.find("body")
    if inner is None:
        return ""
    _fix_code(inner)
    if figures:
        insert_figures(inner, figures)
    return "".join(etree.tostring(child, encoding="unicode", method="html") for child in inner)


def body_text(body: etree._Element) -> str:
    """Plain text of trafilatura's body: one paragraph per block, separated by blank lines."""
    tree = deepcopy(body)
    etree.strip_tags(tree, "ref", "hi")
    text = xmltotxt(tree, False)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)


def paragraphs_html(text: str) -> str:
    from html import escape

    paras = [p.strip() for p in re.split(r"\n\s*\n|\r\n|\n", text) if p.strip()]
    return "".join(f"<p>{escape(p)}</p>" for p in paras)
