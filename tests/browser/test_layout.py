"""The layout, measured in Chromium at a desktop width (1280 px) and a phone width (390 px):
form fields wide enough to read what is typed, the first article on a phone's first screen,
each facet once. Screenshots of the main pages at both widths go to the screenshots folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DESKTOP = (1280, 900)
PHONE = (390, 844)
MIN_FIELD = 300  # px on the desktop
FIELDS = "section.content input[type=text], section.content input[type=url], " \
    "section.content input[type=search], section.content textarea, header input[type=search]"
PAGES = {
    "home": "/",
    "articles": "/aggregator/articles",
    "tag": "/aggregator/articles?tags__arraycontains=reading",
    "search": "/aggregator/search?q=web",
    "article": "/aggregator/articles/1",
    "save": "/-/save",
    "dashboard": "/-/dashboard",
    "subscribe": "/-/subscribe",
    "import": "/-/import",
    "feeds": "/-/feeds",
}
FORM_PAGES = ["save", "subscribe", "import", "search", "articles", "article"]


def field_widths(page: Any) -> list[dict[str, Any]]:
    """Every visible text field: its width and the width of the content it sits in."""
    return page.evaluate(
        """(selector) => {
        const content = document.querySelector('section.content');
        const style = getComputedStyle(content);
        const inner = content.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return [...document.querySelectorAll(selector)]
            .filter(el => el.checkVisibility())
            .map(el => ({name: el.name || el.placeholder, width: el.getBoundingClientRect().width,
                         content: inner}));
        }""",
        FIELDS,
    )


def open_folded_forms(page: Any) -> None:
    """Open the forms folded in <details> (the article's tags, the table's filters)."""
    for summary in page.locator("details:not(.nav-menu) > summary").all():
        summary.click()


@pytest.mark.parametrize("name", FORM_PAGES)
def test_form_fields_are_at_least_300_px_on_a_desktop(
    browser_context: Any, served: str, name: str
) -> None:
    page = browser_context(*DESKTOP)
    page.goto(served + PAGES[name])
    open_folded_forms(page)
    fields = field_widths(page)
    assert len(fields) >= 2, fields  # the page's own field(s) and the navigation's search
    narrow = [f for f in fields if f["width"] < MIN_FIELD]
    assert not narrow, narrow


@pytest.mark.parametrize("name", FORM_PAGES)
def test_form_fields_are_full_width_on_a_phone(
    browser_context: Any, served: str, name: str
) -> None:
    page = browser_context(*PHONE)
    page.goto(served + PAGES[name])
    open_folded_forms(page)
    fields = field_widths(page)
    assert fields
    for field in fields:
        assert field["width"] >= field["content"] - 2, field
    # nothing wider than the screen either
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]


@pytest.mark.parametrize("path", [PAGES["articles"], PAGES["tag"]])
def test_first_article_card_is_on_the_first_screen_of_a_phone(
    browser_context: Any, served: str, path: str
) -> None:
    page = browser_context(*PHONE)
    page.goto(served + path)
    card = page.locator("ol.cards li.card").first.bounding_box()
    assert card is not None and card["y"] + 40 < PHONE[1], card  # its title shows
    # The facets are still there, after the list, with a link to them at the top.
    facets = page.locator("aside.facets").bounding_box()
    assert facets is not None and facets["y"] > card["y"]
    jump = page.locator("a.to-facets")
    assert jump.is_visible() and jump.bounding_box()["y"] < PHONE[1]
    jump.click()
    assert page.evaluate("window.scrollY") > 0


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
@pytest.mark.parametrize(
    "query",
    ["tags__arraycontains=reading", "tags__arraycontains=reading&_facet=tags",
     "tags__arraycontains=reading&feed_title=Slow+Reading"],
)
def test_each_facet_is_shown_once(
    browser_context: Any, served: str, size: tuple[int, int], query: str
) -> None:
    page = browser_context(*size)
    page.goto(served + "/aggregator/articles?" + query)
    columns = page.locator("aside.facets section.facet").evaluate_all(
        "els => els.map(e => e.dataset.column)"
    )
    assert "tags" in columns and len(columns) == len(set(columns)), columns
    headings = page.locator("aside.facets section.facet h2").all_inner_texts()
    assert len(headings) == len(set(headings)), headings
    # the selected tag is listed once, as selected
    assert page.locator("#facet-tags li.selected").count() == 1


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_screenshots_of_the_main_pages(
    browser_context: Any, served: str, screenshots: Path, size: tuple[int, int]
) -> None:
    page = browser_context(*size)
    for name, path in PAGES.items():
        page.goto(served + path)
        page.wait_for_load_state("load")
        shot = screenshots / f"{name}-{size[0]}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000
    assert page.console_problems == [], page.console_problems


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_the_menu_opens_over_the_page_and_its_links_work(
    browser_context: Any, served: str, size: tuple[int, int]
) -> None:
    page = browser_context(*size)
    page.goto(served + PAGES["articles"])
    page.locator("details.nav-menu summary").click()
    link = page.locator("details.nav-menu a", has_text="Save a link")
    box = link.bounding_box()
    assert box is not None and box["x"] + box["width"] <= size[0]
    # Not clipped by the header nor covered by the page: the link is what a click there hits.
    hit = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).textContent",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit == "Save a link"
    link.click()
    page.wait_for_url("**/-/save")
