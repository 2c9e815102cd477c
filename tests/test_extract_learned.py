"""Tests for the learned block classifier of aggregator.extract (blocks, classifier,
block_model): the shipped weights fit the features, the article is kept and what closes it
left out, short articles survive, and generated pages go through extract_article unharmed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.extract import BodyOptions, extract_article
from aggregator.extract.blocks import FEATURES
from aggregator.extract.body import shipped_model
from aggregator.extract.classifier import BlockModel
from tests.conftest import DATA

PAGES = DATA / "pages" / "learned"
URL = "https://courier.example/news/pilot-station"
KEEP_ALL = BlockModel(FEATURES, tuple(0.0 for _ in FEATURES), 10.0)
DROP_ALL = BlockModel(FEATURES, tuple(0.0 for _ in FEATURES), -10.0)
FOLD_MODELS = Path(__file__).resolve().parents[1] / "benchmarks" / "block_model_folds.json"


def test_the_shipped_model_was_trained_on_the_features_extraction_computes() -> None:
    model = shipped_model()
    assert model.features == FEATURES
    assert len(model.weights) == len(FEATURES)
    assert any(w != 0 for w in model.weights)


def test_the_benchmarks_fold_models_fit_the_features_too() -> None:
    data = json.loads(FOLD_MODELS.read_text(encoding="utf-8"))
    assert sorted(data) == ["0", "1", "2", "3", "4"]
    for model in data.values():
        assert BlockModel.from_json(model).features == FEATURES


def test_a_model_of_other_features_is_refused() -> None:
    with pytest.raises(ValueError, match="retrain"):
        BlockModel(FEATURES[:-1], tuple(0.0 for _ in FEATURES[:-1]), 0.0)
    with pytest.raises(ValueError):
        BlockModel.from_json({"features": "x", "weights": [], "bias": 0.0})


def test_a_model_round_trips_through_json_and_decides_by_its_threshold() -> None:
    model = shipped_model()
    again = BlockModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    row = [1.0] * len(FEATURES)
    assert KEEP_ALL.keeps([row, row]) == [True, True]
    assert DROP_ALL.keeps([row]) == [False]
    # a huge feature value saturates the logistic function instead of overflowing
    assert BlockModel(FEATURES, tuple(1.0 for _ in FEATURES), 0.0).keeps([[1e300] * len(FEATURES)])


def test_the_article_is_kept_and_the_links_closing_it_are_left_out() -> None:
    page = (PAGES / "closing-links.html").read_bytes()
    article = extract_article(page, url=URL)
    for start in (
        "The harbour board met on Tuesday evening",
        "For most of its life the station housed the pilots",
        "Members heard from engineers",
        "A local trust has offered to lease the building",
        "Not everyone on the board was convinced",
        "After two hours of debate the board agreed",
    ):
        assert start in article.text
    assert "<h2>A museum of the river</h2>" in article.content_html
    # the line of tag links after the last paragraph is in trafilatura's recall body: the
    # classifier is what leaves it out
    assert "Museums" in extract_article(page, url=URL, options=BodyOptions(model=KEEP_ALL)).text
    assert "Museums" not in article.text
    assert "Another story about the river" not in article.text
    assert "Weather" not in article.text and "Contact the newsroom" not in article.text


def test_a_model_that_keeps_nothing_leaves_the_whole_recall_body() -> None:
    page = (PAGES / "closing-links.html").read_bytes()
    article = extract_article(page, url=URL, options=BodyOptions(model=DROP_ALL))
    assert "The harbour board met on Tuesday evening" in article.text
    assert "After two hours of debate the board agreed" in article.text


def test_a_short_article_is_not_lost() -> None:
    article = extract_article((PAGES / "short.html").read_bytes(), url="https://f.example/a")
    assert "From Monday the first ferry of the day leaves the north pier" in article.text
    assert "Weather" not in article.text


# --- generated pages through extract_article ------------------------------------------------

_WORDS = st.sampled_from(
    "river harbour ferry lamp keeper storm pier signal tide board trust roof winter north "
    "museum grain coal engineer station evening".split()
)
_SENTENCE = st.lists(_WORDS, min_size=3, max_size=30).map(lambda ws: " ".join(ws).capitalize())
_TEXT = st.lists(_SENTENCE, min_size=1, max_size=4).map(lambda ss: ". ".join(ss) + ".")
_BLOCK = st.one_of(
    _TEXT.map(lambda t: f"<p>{t}</p>"),
    _SENTENCE.map(lambda t: f"<h2>{t}</h2>"),
    st.lists(_SENTENCE, min_size=1, max_size=6).map(
        lambda items: "<ul>" + "".join(f"<li><a href='/x'>{i}</a></li>" for i in items) + "</ul>"
    ),
    _TEXT.map(lambda t: f"<blockquote><p>{t}</p></blockquote>"),
    _SENTENCE.map(lambda t: f"<div class='box'><a href='/y'>{t}</a></div>"),
    _TEXT.map(lambda t: f"<aside><p>{t}</p></aside>"),
)
_PAGE = st.tuples(
    st.lists(_BLOCK, max_size=4),
    st.lists(_BLOCK, min_size=0, max_size=25),
    st.lists(_BLOCK, max_size=4),
    st.booleans(),
).map(
    lambda parts: (
        "<html><body><nav>"
        + "".join(parts[0])
        + ("<article>" if parts[3] else "<div>")
        + "".join(parts[1])
        + ("</article>" if parts[3] else "</div>")
        + "<footer>"
        + "".join(parts[2])
        + "</footer></body></html>"
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_PAGE)
def test_generated_pages_give_only_the_pages_own_words_and_the_same_result_twice(page: str):
    first = extract_article(page.encode(), url="https://gen.example/a")
    again = extract_article(page.encode(), url="https://gen.example/a")
    assert (first.text, first.content_html) == (again.text, again.content_html)
    page_words = set(re.findall(r"\w+", page.lower()))
    assert set(re.findall(r"\w+", first.text.lower())) <= page_words
    assert first.word_count == len(first.text.split())
