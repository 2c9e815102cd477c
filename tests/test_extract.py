"""Tests for aggregator.extract: what a reader sees of a saved page."""

from __future__ import annotations

import codecs
import importlib.util
from pathlib import Path

import pytest

from aggregator.extract import (
    decode_html,
    extract_article,
    find_feed_links,
    is_html_content_type,
)
from tests.conftest import DATA, MARKERS, corpus

PAGES = DATA / "pages"
ARTICLE_URL = "https://gazette.example/news/2024/lighthouses"


@pytest.fixture(scope="module")
def article():
    return extract_article((PAGES / "article.html").read_bytes(), url=ARTICLE_URL)


# --- the body ------------------------------------------------------------------------------


def test_text_has_the_article_and_every_paragraph(article) -> None:
    assert article.text.count("\n\n") >= 4  # paragraphs separated by blank lines
    assert "For more than a century the lamps along the northern coast" in article.text
    assert "She does not miss carrying paraffin up one hundred and twenty steps" in article.text
    assert "Ishbel Mackay remembers winters" in article.content_html


@pytest.mark.parametrize("marker", MARKERS)
def test_boilerplate_is_left_out(article, marker: str) -> None:
    assert marker not in article.text
    assert marker not in article.content_html


def test_content_html_is_sanitised_and_links_resolve_against_the_page_not_base_href(article):
    assert "<script" not in article.content_html and "<style" not in article.content_html
    assert 'href="https://gazette.example/news/2024/archive/logbooks.html"' in article.content_html
    assert "elsewhere.example" not in article.content_html


def test_counts(article) -> None:
    assert 250 <= article.word_count <= 300
    assert article.reading_time == 1


# --- metadata ------------------------------------------------------------------------------


def test_metadata_from_json_ld_open_graph_and_meta(article) -> None:
    assert article.title == "The last lighthouse keepers of the northern coast"
    assert article.author == "Morag Sinclair"
    assert article.published == "2024-05-01T09:30:00Z"
    assert article.site_name == "The Harbour Gazette"
    assert article.lang == "en-GB"
    # og:image is relative: resolved against the page URL, not the <base href>
    assert article.image == "https://gazette.example/images/lighthouse.jpg"
    assert article.excerpt and article.excerpt.startswith("How the last keepers")


def test_metadata_falls_back_to_title_tag_byline_meta_and_time_element() -> None:
    html = """<html><head><title>How to read the tide tables - Coastal Notes</title>
    <meta name="author" content="By Ewan Ross"></head><body><article>
    <h1>How to read the tide tables</h1><time datetime="2023-02-03">3 Feb</time>
    <p>Tide tables give the times and heights of high and low water for a port.</p>
    </article></body></html>"""
    a = extract_article(html, url="https://notes.example/tides")
    assert a.title == "How to read the tide tables"
    assert a.author == "Ewan Ross"
    assert a.published == "2023-02-03T00:00:00Z"
    assert a.site_name is None and a.image is None


def test_feed_fills_gaps_and_a_full_feed_entry_is_preferred() -> None:
    page = "<html><body><p>Short teaser.</p><nav><a href='/'>Home</a></nav></body></html>"
    full = "<p>" + "The entire article as the feed carries it, sentence after sentence. " * 30
    full += "</p><p>Second paragraph.</p><script>alert(1)</script>"
    a = extract_article(
        page,
        url="https://blog.example/post",
        feed_html=full,
        feed_title="From the feed",
        feed_author="Ann Feed",
        feed_published="Wed, 01 May 2024 09:30:00 GMT",
    )
    assert a.title == "From the feed"
    assert a.author == "Ann Feed"
    assert a.published == "2024-05-01T09:30:00Z"
    assert "The entire article as the feed carries it" in a.text
    assert "Second paragraph." in a.text and "alert" not in a.content_html


def test_a_feed_summary_does_not_replace_the_full_page_text(article) -> None:
    a = extract_article(
        (PAGES / "article.html").read_bytes(),
        url=ARTICLE_URL,
        feed_html="<p>A short summary of the story.</p>",
        feed_title="Feed title",
    )
    assert a.text == article.text
    assert a.title == "The last lighthouse keepers of the northern coast"  # page wins


def test_feed_links_absolute_in_page_order_without_rest_api_or_translations() -> None:
    html = (PAGES / "article.html").read_bytes()
    assert find_feed_links(html, url=ARTICLE_URL) == (
        "https://gazette.example/feeds/all.rss",
        "https://gazette.example/feeds/all.atom",
    )
    assert find_feed_links(b"", url=ARTICLE_URL) == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/html", True),
        ("TEXT/HTML; charset=UTF-8", True),
        ("application/xhtml+xml", True),
        ("application/rss+xml", False),
        ("application/pdf", False),
        ("", False),
    ],
)
def test_is_html_content_type(value: str, expected: bool) -> None:
    assert is_html_content_type(value) is expected


# --- character encodings -------------------------------------------------------------------


def test_windows_1252_declared_in_meta() -> None:
    a = extract_article((PAGES / "windows-1252.html").read_bytes(), url="https://cafe.example/")
    assert "crème brûlée très appréciée" in a.text
    assert "« C’est ici que tout le monde se retrouve »" in a.text
    assert a.title == "Le café de la gare"


def test_shift_jis_declared_in_meta() -> None:
    a = extract_article((PAGES / "shift_jis.html").read_bytes(), url="https://kissa.example/")
    assert "東京の古い喫茶店では" in a.text
    assert a.title == "古い喫茶店の朝"
    assert a.lang == "ja"


def test_http_charset_beats_meta() -> None:
    body = '<meta charset="utf-8"><p>café</p>'.encode("cp1252")
    assert "café" in decode_html(body, http_charset="windows-1252")
    assert "caf\ufffd" in decode_html(body)  # the (wrong) meta alone: replaced, not raised


def test_bom_beats_http_charset_and_meta() -> None:
    body = codecs.BOM_UTF8 + '<meta charset="iso-8859-1"><p>naïve – café</p>'.encode()
    assert decode_html(body, http_charset="iso-8859-1").endswith("<p>naïve – café</p>")
    utf16 = codecs.BOM_UTF16_LE + "<p>日本語</p>".encode("utf-16-le")
    assert decode_html(utf16, http_charset="utf-8") == "<p>日本語</p>"


def test_latin1_label_means_windows_1252_and_unknown_labels_are_ignored() -> None:
    body = "<p>“quoted” — €5</p>".encode("cp1252")
    assert decode_html(body, http_charset="ISO-8859-1") == "<p>“quoted” — €5</p>"
    assert decode_html("<p>é</p>".encode(), http_charset="no-such-charset") == "<p>é</p>"


def test_meta_after_the_first_1024_bytes_is_still_found() -> None:
    body = b"<html><head><!-- " + b"x" * 2000 + b' --><meta charset="koi8-r"></head>'
    body += "<p>Привет</p>".encode("koi8_r")
    assert decode_html(body).endswith("<p>Привет</p>")


def test_undeclared_utf8_and_undeclared_legacy_bytes() -> None:
    assert decode_html("<p>Grüße aus Köln</p>".encode()) == "<p>Grüße aus Köln</p>"
    text = decode_html("<p>Grüße aus Köln, schöne Straße</p>".encode("cp1252"))
    assert "Köln" in text and "\ufffd" not in text


# --- hostile input -------------------------------------------------------------------------


def test_empty_and_garbage_input_give_an_empty_article() -> None:
    for body in (b"", b"\x00\xff\xfe\x00", "   ", b"\x89PNG\r\n\x1a\n\x00\x00"):
        a = extract_article(body, url="https://x.example/")
        assert (a.url, a.text, a.word_count, a.title) == ("https://x.example/", "", 0, None)


KEEPER = "The keeper climbed the stairs at dusk to light the lamp, as every keeper before him. "


def test_nine_megabyte_single_line_is_truncated_not_lost() -> None:
    for body in (
        b"<html><body><p>" + b"word " * 1_800_000 + b"</p></body></html>",
        b"word " * 1_800_000,  # no tags at all
    ):
        a = extract_article(body, url="https://big.example/")
        assert a.text.startswith("word word word")
        assert 100_000 < len(a.text) < 1_100_000


def test_twenty_thousand_nested_divs_keep_the_text_below_and_after_them() -> None:
    body = (
        "<html><body>"
        + "<div>" * 20_000
        + f"<p>{KEEPER * 5}</p><p>{KEEPER * 4}</p>"
        + "</div>" * 20_000
        + f"<p>After the nesting. {KEEPER * 3}</p></body></html>"
    )
    a = extract_article(body, url="https://deep.example/")
    assert KEEPER.strip() in a.text
    assert "After the nesting." in a.text


def test_a_page_of_100000_links_is_cut_to_its_first_elements() -> None:
    links = "".join(f'<a href="/p/{i}">link number {i}</a> ' for i in range(100_000))
    body = f"<html><body><article><p>{KEEPER * 4}</p>{links}</article></body></html>"
    a = extract_article(body, url="https://links.example/")
    assert KEEPER.strip() in a.text
    assert "link number 5000 " in a.text or "link number 5000" in a.content_html
    assert "link number 99999" not in a.text  # past the element limit: the page ends there


def test_a_page_of_100000_paragraphs_is_cut_to_its_first_elements() -> None:
    paras = "".join(f"<p>Paragraph {i} of the long story, {KEEPER}</p>" for i in range(100_000))
    a = extract_article(f"<html><body><article>{paras}</article></body></html>", url="https://x/")
    assert "Paragraph 0 of the long story" in a.text
    assert "Paragraph 99999 " not in a.text


# --- what a reader sees: structure kept in content_html -----------------------------------

STRUCTURES = PAGES / "structures"
STRUCTURE_URL = "https://quay.example/2024/rope-works"


def _structure(name: str):
    return extract_article((STRUCTURES / f"{name}.html").read_bytes(), url=STRUCTURE_URL)


def _in_order(html: str, *parts: str) -> bool:
    positions = [html.find(p) for p in parts]
    return -1 not in positions and positions == sorted(positions)


def test_structure_headings_are_kept() -> None:
    html = _structure("headings").content_html
    assert _in_order(html, "<h1>The rope works", "<h2>How a rope is laid</h2>", "When the last")


def test_structure_lists_are_kept() -> None:
    html = _structure("list").content_html
    assert _in_order(
        html, "bundles of hemp", "<ul><li>Hemp from the northern farms</li>", "</ul>", "foreman"
    )
    assert html.count("<li>") == 3


def test_structure_block_quotes_are_kept() -> None:
    html = _structure("blockquote").content_html
    assert "<blockquote><p>We never measured a rope we did not walk ourselves" in html


def test_structure_code_blocks_are_one_pre_with_code() -> None:
    html = _structure("code").content_html
    assert (
        "<pre><code>length = strands * twist_factor\nweight = length * density</code></pre>" in html
    )
    assert "<pre><pre>" not in html


def test_structure_tables_are_kept() -> None:
    html = _structure("table").content_html
    assert "<table>" in html and "<th>Yards laid</th>" in html and "<td>38,500</td>" in html


def test_structure_figures_keep_image_and_caption_in_place_but_not_in_text() -> None:
    a = _structure("figure")
    assert _in_order(
        a.content_html,
        "bundles of hemp at their waists.</p>",
        '<figure><img src="https://quay.example/images/ropewalk.jpg" alt="The rope walk in 1905">',
        "<figcaption>The rope walk in 1905, looking towards the harbour.</figcaption></figure>",
        "<p>When the last order came in",
    )
    assert "looking towards the harbour" not in a.text  # a caption is not article text


def test_structure_pages_leave_out_navigation_sidebar_and_footer() -> None:
    for page in sorted(STRUCTURES.glob("*.html")):
        a = extract_article(page.read_bytes(), url=STRUCTURE_URL)
        for marker in ("NAVMARKER", "SIDEBARMARKER", "FOOTERMARKER"):
            assert marker not in a.content_html and marker not in a.text, page.name


def test_a_figure_outside_the_article_or_after_its_end_is_not_added() -> None:
    page = (STRUCTURES / "headings.html").read_text(encoding="utf-8")
    # a thumbnail leads to its story (a picture right after the end that leads nowhere is the
    # article's closing picture: tests/test_extract_layout.py)
    thumb = (
        '<figure><a href="/2024/next-story"><img src="/thumbs/next.jpg" alt=""></a>'
        '<figcaption><a href="/2024/next-story">Next story</a></figcaption></figure>'
    )
    page = page.replace("</article>", thumb + "</article>")
    aside = (
        '<figure><img src="/ads/banner.jpg" alt="Advert"><figcaption>Buy now</figcaption></figure>'
    )
    page = page.replace("<aside>", "<aside>" + aside)
    a = extract_article(page, url=STRUCTURE_URL)
    assert "banner.jpg" not in a.content_html and "Buy now" not in a.content_html
    assert "next.jpg" not in a.content_html and "Next story" not in a.content_html


# --- the benchmark corpus ------------------------------------------------------------------


def _benchmark_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "extraction.py"
    spec = importlib.util.spec_from_file_location("extraction_benchmark", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_scoring_matches_the_upstream_definition() -> None:
    bench = _benchmark_module()
    text = "one two three four five six"
    assert bench.shingle_matching(text, text) == (1.0, 0.0, 0.0)
    tp, fp, fn = bench.shingle_matching(text, "one two three four")  # 1 of 3 shingles found
    assert (tp, fp, fn) == pytest.approx((1 / 3, 0.0, 2 / 3))
    m = bench.metrics_from_tp_fp_fns([(0.5, 0.5, 0.0), (1.0, 0.0, 0.0)])
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(1.0)


def test_scrapinghub_benchmark_f1_on_a_sample() -> None:
    path = corpus("extraction", "scrapinghub-article-extraction-benchmark")
    result = _benchmark_module().run_scrapinghub(path, every=3)
    assert result["pages"] >= 25
    assert result["f1"] >= 0.95, result
