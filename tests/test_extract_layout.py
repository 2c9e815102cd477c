"""What a reader sees of an article beyond its text: section headings, ordered lists, figures
and loose pictures are put back into `content_html` where the page had them, even where the
text extractor or its classifier leaves them out of `text`, and the page's furniture (related
stories, icons, links to other pages) stays out. Pages of our own, built here."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.extract import extract_article
from aggregator.sanitize import html_to_text as html_text

URL = "https://mill.example/2024/the-water-mill"

PARAS = [
    "The water mill on the lower river ground flour for the valley for three hundred years, "
    "and its wheel still turns on summer weekends when the volunteers open the doors.",
    "Grain came down the lane on carts from the farms above the village, and the miller "
    "weighed every sack on the iron scales that stand by the door to this day.",
    "In the dry summers the mill pond fell so low that the wheel stopped for weeks, and the "
    "farmers had to carry their grain to the windmill on the hill instead.",
    "The last miller kept a diary of every flood and every drought, and his grandson gave "
    "the pages to the county archive when the mill closed for good in the sixties.",
    "Today the trust that runs the mill sells its own flour in the little shop, milled on "
    "the same stones that the diary describes in such patient detail.",
    "The volunteers hope to rebuild the sluice gate next spring, so that the wheel can turn "
    "through the whole year again and the pond can fill as it used to.",
]


def page(middle: str, *, wrapper: str = "section", after: str = "") -> bytes:
    """A page whose article sits in `wrapper` (a <section> gives trafilatura no article
    container: it recovers loose paragraphs, which never include headings), with `middle`
    between the third and fourth paragraphs and `after` after the last one."""
    paras = [f"<p>{p}</p>" for p in PARAS]
    body = "\n".join(paras[:3]) + middle + "\n".join(paras[3:]) + after
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>The water mill</title>"
        "</head><body><header><nav><a href=/>Home</a> <a href=/news>News</a></nav></header>"
        f"<{wrapper}><h1>The water mill</h1>{body}</{wrapper}>"
        "<aside><h3>Most read</h3><ul><li><a href=/a>Harbour dues rise again</a></li>"
        "<li><a href=/b>A new ferry timetable</a></li></ul></aside>"
        "<footer><p>The Valley Post, 3 Mill Lane.</p></footer></body></html>"
    ).encode()


def in_order(html: str, *parts: str) -> bool:
    positions = [html.find(p) for p in parts]
    return -1 not in positions and positions == sorted(positions)


def test_a_section_heading_is_shown_where_the_page_has_it_and_not_in_the_text() -> None:
    article = extract_article(page("<h2>Floods and droughts</h2>"), url=URL)
    html = article.content_html
    assert in_order(html, "dry summers", "<h2>Floods and droughts</h2>", "The last miller")
    assert html.count("Floods and droughts") == 1
    assert "Floods and droughts" not in article.text  # the text stays what is scored
    assert "The last miller" in article.text


def test_a_heading_of_something_else_than_the_article_is_not_brought_back() -> None:
    # a heading followed by text the article does not keep (a box of related links), and a
    # heading that is itself a link
    box = (
        "<h3>Read next</h3><div><a href=/x>Harbour dues rise again this winter</a> "
        "<a href=/y>A new ferry timetable for the islands</a></div>"
        "<h3><a href=/z>The windmill on the hill reopens</a></h3>"
    )
    html = extract_article(page(box), url=URL).content_html
    assert "Read next" not in html
    assert "windmill on the hill reopens" not in html
    assert "The last miller" in html


def test_an_ordered_list_keeps_its_numbers() -> None:
    steps = (
        "<ol><li>Open the sluice gate.</li><li>Let the wheel run.</li>"
        "<li>Engage the stones.</li></ol>"
    )
    html = extract_article(page(steps, wrapper="article"), url=URL).content_html
    assert re.search(r"<ol><li>Open the sluice gate\.</li>", html), html
    assert "<ul>" not in html


def test_a_loose_picture_is_shown_and_icons_and_links_elsewhere_are_not() -> None:
    pictures = (
        '<p><img src="/img/wheel.jpg" alt="The wheel in 1950" width="800" height="600"></p>'
        '<p><img src="/img/share.png" alt="share" width="16" height="16"></p>'
        '<a href="/2024/other-story"><img src="/img/other.jpg" alt="Another story"></a>'
        '<img src="/img/loading.gif" data-src="/img/stones.jpg" alt="The stones">'
    )
    html = extract_article(page(pictures, wrapper="article"), url=URL).content_html
    assert in_order(
        html, "dry summers", 'src="https://mill.example/img/wheel.jpg"', "The last miller"
    )
    assert 'src="https://mill.example/img/stones.jpg"' in html  # the lazy file, not its loader
    assert "loading.gif" not in html
    assert "share.png" not in html
    assert "other.jpg" not in html


def test_a_closing_picture_is_kept_and_related_thumbnails_are_not() -> None:
    closing = (
        '<figure><img src="/img/pond.jpg" alt="The pond"><figcaption>The mill pond in spring.'
        "</figcaption></figure>"
    )
    related = (
        '<div><figure><a href="/2024/ferry"><img src="/img/ferry.jpg" alt=""></a>'
        '<figcaption><a href="/2024/ferry">A new ferry timetable</a></figcaption></figure></div>'
    )
    html = extract_article(page("", wrapper="article", after=closing + related), url=URL)
    shown = html.content_html
    assert in_order(shown, "rebuild the sluice gate", "/img/pond.jpg", "The mill pond in spring.")
    assert "ferry.jpg" not in shown
    assert "The mill pond in spring." not in html.text


# --- generated pages ------------------------------------------------------------------------

_WORDS = st.sampled_from(
    "mill river wheel grain sack pond sluice stone miller flour lane cart diary flood drought "
    "archive village valley scales door".split()
)
_SENTENCE = st.lists(_WORDS, min_size=2, max_size=24).map(lambda ws: " ".join(ws).capitalize())
_TEXT = st.lists(_SENTENCE, min_size=1, max_size=4).map(lambda ss: ". ".join(ss) + ".")
_N = st.integers(0, 9999)
_SIDE = st.one_of(st.none(), st.integers(0, 2000).map(str), st.sampled_from(["", "x", "1e3", "²"]))


def _img(n: int, width: str | None, lazy: bool) -> str:
    size = f' width="{width}"' if width is not None else ""
    if lazy:
        return f'<img src="/loading.gif" data-src="/pic/{n}.jpg" alt="p{n}"{size}>'
    return f'<img src="/pic/{n}.jpg" alt="p{n}"{size}>'


_ARTICLE_BLOCK = st.one_of(
    _TEXT.map(lambda t: f"<p>{t}</p>"),
    st.tuples(st.sampled_from(["h1", "h2", "h3", "h4"]), _SENTENCE).map(
        lambda p: f"<{p[0]}>{p[1]}</{p[0]}>"
    ),
    st.tuples(st.sampled_from(["ul", "ol"]), st.lists(_SENTENCE, min_size=1, max_size=5)).map(
        lambda p: f"<{p[0]}>" + "".join(f"<li>{i}</li>" for i in p[1]) + f"</{p[0]}>"
    ),
    st.tuples(_N, _SIDE, st.booleans()).map(lambda p: _img(*p)),
    st.tuples(_N, _SIDE, st.booleans(), _SENTENCE).map(
        lambda p: f"<figure>{_img(*p[:3])}<figcaption>{p[3]}</figcaption></figure>"
    ),
    st.tuples(_N, _SENTENCE).map(
        lambda p: f'<a href="/story/{p[0]}"><img src="/story-pic/{p[0]}.jpg"></a><p>{p[1]}</p>'
    ),
    _TEXT.map(lambda t: f"<blockquote><p>{t}</p></blockquote>"),
)
_FURNITURE = st.tuples(st.sampled_from(["aside", "nav", "footer"]), _N, _SENTENCE).map(
    lambda p: f'<{p[0]}><h2>{p[2]}</h2><img src="/side-pic/{p[1]}.jpg"><p>{p[2]}</p></{p[0]}>'
)
_LAYOUT_PAGE = st.tuples(
    st.lists(_FURNITURE, max_size=2),
    st.lists(_ARTICLE_BLOCK, min_size=1, max_size=30),
    st.lists(_FURNITURE, max_size=2),
    st.sampled_from(["article", "section", "div", "main"]),
).map(
    lambda p: (
        "<!DOCTYPE html><html><head><title>Gen</title></head><body>"
        + "".join(p[0])
        + f"<{p[3]}>"
        + "".join(p[1])
        + f"</{p[3]}>"
        + "".join(p[2])
        + "</body></html>"
    )
)


def _may_show(tag: str) -> bool:
    """Whether an article picture of the page may be shown: not declared under 100 px wide."""
    width = re.search(r'width="([0-9]+)"', tag)
    return width is None or int(width.group(1)) >= 100


def _headings(html: str) -> list[str]:
    return [" ".join(h.split()) for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", html, re.S)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_LAYOUT_PAGE)
def test_generated_pages_get_back_only_their_own_headings_and_pictures(page: str) -> None:
    """Whatever the page: no heading, picture or word the page does not have; a heading no
    more often than the page has it; no picture twice, none from the page's furniture or
    declared small, none leading to another story; the text is the text alone."""
    article = extract_article(page.encode(), url="https://gen.example/a")
    html = article.content_html
    page_headings = _headings(page)
    for heading in set(_headings(html)):
        assert _headings(html).count(heading) <= page_headings.count(heading), heading
    shown = re.findall(r'<img src="https://gen\.example/pic/(\d+)\.jpg"', html)
    assert len(shown) == len(set(shown))
    for n in shown:
        tags = re.findall(rf'<img[^>]*/pic/{n}\.jpg"[^>]*>', page)
        assert tags, n  # the page's own picture
        assert any(_may_show(tag) for tag in tags), n
    # pictures of the page's furniture and those leading to another story are never shown
    assert "side-pic" not in html and "story-pic" not in html
    assert "loading.gif" not in html
    assert "<img" not in article.text and "<h" not in article.text
    assert set(re.findall(r"\w+", html_text(html).lower())) <= set(
        re.findall(r"\w+", page.lower())
    ) | {"https", "gen", "example", "pic", "jpg"}
