"""The search box's language (aggregator/query.py): what a person types becomes a safe full-text
match, filters and notes the page shows."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.query import parse_query, snippet


def test_words_phrases_prefixes_and_exclusions() -> None:
    assert parse_query("solar panels").match == '"solar" "panels"'
    assert parse_query('"solar panels"').match == '"solar panels"'
    assert parse_query("Sol*").match == '"sol"*'
    assert parse_query('solar -battery -"car port"').match == (
        '"solar" NOT "battery" NOT "car port"'
    )
    assert parse_query("solar OR wind panels").match == '("solar" OR "wind") AND "panels"'
    # a word before an OR group, two groups, and an exclusion after them: all FTS5 syntax
    for text in ("panels solar OR wind", "a OR b c OR d", "a OR b c -d"):
        sqlite3.connect(":memory:").execute(
            "CREATE VIRTUAL TABLE t USING fts5(body)"
        ).connection.execute("SELECT 1 FROM t WHERE t MATCH ?", [parse_query(text).match])


def test_filters_are_taken_out_of_the_words() -> None:
    q = parse_query('tag:energy tag:"long reads" feed:Hackaday site:example.org sun')
    assert q.match == '"sun"'
    assert q.tags == ("energy", "long reads")
    assert q.feeds == ("Hackaday",)
    assert q.sites == ("example.org",)


def test_short_prefix_is_searched_as_a_word_and_said() -> None:
    q = parse_query("to*")
    assert q.match == '"to"'
    assert q.notes and "at least 3 letters" in q.notes[0]


def test_only_exclusions_search_nothing_and_say_why() -> None:
    q = parse_query("-battery")
    assert q.match == ""
    assert "at least one word" in q.notes[0]


def test_single_word_or_prefix_is_named_for_the_ranked_lists() -> None:
    assert parse_query("Café").single == "w:cafe"
    assert parse_query("caf*").single == "p:caf"
    assert parse_query("solar panels").single == ""
    assert parse_query("solar -wind").single == ""


def test_snippet_marks_matched_words_and_escapes_the_rest() -> None:
    text = "Intro words here. The <b>solar</b> roof panel; Solaris too. " + "filler " * 80
    out = snippet(text, parse_query("sol* roof"))
    assert "<mark>solar</mark>" in out and "<mark>Solaris</mark>" in out
    assert "<mark>roof</mark>" in out
    assert "&lt;b&gt;" in out and "<b>" not in out


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_input_gives_a_match_fts5_accepts(text: str) -> None:
    q = parse_query(text)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    db.execute("INSERT INTO t VALUES ('some words here')")
    if q.match:
        db.execute("SELECT count(*) FROM t WHERE t MATCH ?", [q.match]).fetchone()
    snippet("some words here " + text, q)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40), st.text(max_size=60))
def test_a_snippet_of_any_text_for_any_query_is_escaped_text(
    text: str, query: str, fallback: str
) -> None:
    out = snippet(text, parse_query(query), fallback=fallback or None)
    stripped = out.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in stripped and ">" not in stripped
