"""What a reader sees of an article beyond its text: section headings, ordered lists, figures
and loose pictures are put back into `content_html` where the page had them, even where the
text extractor or its classifier leaves them out of `text`, and the page's furniture (related
stories, icons, links to other pages) stays out. Pages of our own, built here."""

from __future__ import annotations

import re

from aggregator.extract import extract_article

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
