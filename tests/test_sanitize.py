"""The fast paths of sanitize and process give what the plain ways give: each is compared with
the straightforward code it stands for, on text rich in the cases they skip (controls, every
Unicode space, entities, tags in any case, CJK)."""

from __future__ import annotations

import html as htmllib
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import sanitize
from aggregator.sanitize import (
    count_text_words,
    count_words,
    excerpt_of,
    html_to_text,
    sanitize_html,
    sanitized_text,
)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPACES = [chr(i) for i in range(0x110000) if chr(i).isspace()] + ["\u200b"]
CONTROLS = [chr(i) for i in [*range(0x20), *range(0x7F, 0xA0)]] + ["\ud800", "\udfff"]
PIECES = [
    *"abcxyz",
    "é",
    "日本",
    "한",
    "—",
    "’",
    "\U0001f600",
    "&amp;",
    "&lt;",
    "&gt;",
    "&nbsp;",
    "&quot;",
    "&#x27;",
    "&#39;",
    "&amp",
    "&copy;",
    "&#1;",
    "&#x85;",
    "&",
    "<p>",
    "</P>",
    "<br/>",
    "<b>",
    "</b>",
    "<h2>",
    "<li class=x>",
    '<a href="/x">',
    "</a>",
    "<!-- c -->",
    "<script>x</script>",
    "<pre>",
]
text = st.lists(
    st.one_of(
        st.sampled_from(PIECES),
        st.sampled_from(SPACES),
        st.sampled_from(CONTROLS),
        st.just(" "),
        st.just("\n"),
    ),
    max_size=300,
).map("".join)


def reference_text(fragment: str) -> str:
    """html_to_text as it was written before its fast paths."""
    s = fragment
    if "<!--" in s:
        s = sanitize._COMMENT.sub(" ", s)
    s = sanitize._DROP.sub(" ", s)
    s = sanitize._BLOCK.sub("\n\n", s)
    s = sanitize._TAG.sub("", s)
    s = htmllib.unescape(s)
    s = sanitize._CONTROL.sub("", s).replace("\u200b", " ")
    s = "\n".join([" ".join(line.split()) for line in s.split("\n")])
    return re.sub(r"\n{3,}", "\n\n", s).strip()


def reference_excerpt(s: str, limit: int) -> str | None:
    s = " ".join(s.split())
    if not s:
        return None
    return s if len(s) <= limit else s[:limit].rsplit(" ", 1)[0] + "…"


@SETTINGS
@given(text)
def test_text_matches_the_plain_way(fragment: str) -> None:
    assert html_to_text(fragment) == reference_text(fragment)
    assert sanitize._strip_controls(fragment) == sanitize._CONTROL.sub("", fragment)


@SETTINGS
@given(text)
def test_sanitized_text_is_html_to_text_of_sanitised_html(fragment: str) -> None:
    html = sanitize_html(fragment, base_url="https://blog.test/posts/1")
    plain = html_to_text(html)
    assert sanitized_text(html) == plain
    assert count_text_words(plain) == count_words(plain)


@SETTINGS
@given(text)
def test_word_counts(fragment: str) -> None:
    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]", fragment))
    other = re.findall(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+", fragment)
    assert count_words(fragment) == cjk + len(other)
    assert count_text_words(html_to_text(fragment)) == count_words(html_to_text(fragment))


@SETTINGS
@given(text, st.sampled_from([1, 5, 40, 300]))
def test_excerpt_matches_the_plain_way(fragment: str, limit: int) -> None:
    assert excerpt_of(fragment, limit) == reference_excerpt(fragment, limit)


def test_odd_spaces_are_every_space_but_the_plain_ones() -> None:
    # _is_plain trusts _ODD_UTF8 to know every non-ASCII space of str.split
    for c in SPACES:
        assert sanitize._is_plain("a" + c + "b") is (c in " \n\u200b"), repr(c)
    for c in CONTROLS:
        if c != "\n":
            assert not sanitize._is_plain("a" + c + "b"), repr(c)


def test_sanitised_html_keeps_no_script_with_the_prepared_cleaner() -> None:
    out = sanitize_html('<p onclick="x()">a<script>alert(1)</script><a href="javascript:x">b</a>')
    assert out == '<p>a<a rel="noopener noreferrer nofollow">b</a></p>'


def test_links_from_the_root_are_made_absolute_in_one_pass_as_by_the_tag_work() -> None:
    base = "https://blog.test/posts/1"
    rel = ' rel="noopener noreferrer nofollow"'
    for link, absolute in [
        ("/a/b", "https://blog.test/a/b"),
        ("/", "https://blog.test/"),
        ("/a/./b", "https://blog.test/a/b"),
        ("//evil.test/x", "https://evil.test/x"),
        ("x/y", "https://blog.test/posts/x/y"),
    ]:
        assert sanitize_html(f'<a href="{link}">x</a>', base_url=base) == (
            f'<a href="{absolute}"{rel}>x</a>'
        )
        assert sanitize_html(f'<a title="t" href="{link}">x</a>', base_url=base) == (
            f'<a title="t" href="{absolute}"{rel}>x</a>'
        )
        assert sanitize_html(f'<img src="{link}" srcset="{link} 2x">', base_url=base) == (
            f'<img src="{absolute}" srcset="{absolute} 2x">'
        )
    assert sanitize_html('<a href="/x">t</a> href="/y"', base_url=base) == (
        f'<a href="https://blog.test/x"{rel}>t</a> href="/y"'  # text is left alone
    )


def test_text_full_of_escaped_characters_is_sanitised_in_bounded_time() -> None:
    """nh3 is quadratic in the characters it escapes within one text node (a million `&` or
    U+00A0 in a row: 10-20 s); long runs are split by comments it drops: same output."""
    import time

    for run in ("&", "a & b ", "&amp;", "\xa0", "&nbsp;x", "&zz; ", "&#"):
        fragment = "<p>" + run * (1_000_000 // len(run)) + "</p>"
        started = time.monotonic()
        out = sanitize_html(fragment, base_url="http://x.test/")
        assert time.monotonic() - started < 5, run
        assert "<!--" not in out and out.startswith("<p>") and len(out) >= 900_000


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["&", "&amp;", "&nbsp;", "\xa0", "&#169;", "&#x", "x", " ", ";", "<b>", "</b>"]
        ),
        min_size=1,
        max_size=30,
    ).map("".join)
)
def test_splitting_long_text_never_changes_the_output(piece: str) -> None:
    """What the cleaner alone gives (slowly) on text past the threshold of escaped characters."""
    fragment = piece * (40_000 // len(piece) + 1)
    assert sanitize_html(fragment) == sanitize._CLEANER.clean(sanitize._strip_controls(fragment))
