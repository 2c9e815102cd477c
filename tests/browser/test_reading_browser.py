"""The reading flow in Chromium against a real `aggregator serve` over the sample: opening an
article marks it read, `Next unread` goes to the list's next unread article, `j`, `j`, `o` opens
the second card, `s` and `m` star and mark through the POST routes, `Mark all as read` on a
tag's list changes that tag's articles only; the layout at 1280 and 390 px with screenshots."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

TAG = "science"
SIZES = [(1280, 900), (390, 844)]


def db_of(tmp_path: Path) -> Path:
    return tmp_path / "browser.db"  # the database the `served` fixture serves


def states(tmp_path: Path) -> dict[int, tuple[str, int]]:
    with sqlite3.connect(db_of(tmp_path)) as conn:
        rows = conn.execute("select id, state, starred from articles").fetchall()
    return {int(i): (str(s), int(f)) for i, s, f in rows}


def tagged(tmp_path: Path, tag: str) -> set[int]:
    with sqlite3.connect(db_of(tmp_path)) as conn:
        rows = conn.execute(
            "select at.article_id from articles_tags at join tags t on t.id = at.tag_id "
            "where t.name = ?",
            [tag],
        ).fetchall()
    return {int(r[0]) for r in rows}


def card_ids(page: Any) -> list[int]:
    return [int(i) for i in page.locator("ol.cards li.card").evaluate_all(
        "cards => cards.map(c => c.dataset.id)"
    )]


def article_id(url: str) -> int:
    return int(url.split("/aggregator/articles/", 1)[1].split("?", 1)[0])


def test_opening_an_article_marks_it_read(page: Any, served: str, tmp_path: Path) -> None:
    page.goto(served + "/aggregator/articles?state=unread")
    first = card_ids(page)[0]
    assert states(tmp_path)[first][0] == "unread"
    page.locator("ol.cards li.card a.card-link").first.click()
    expect(page.locator(".reader-head h1")).to_be_visible()
    assert article_id(page.url) == first
    expect(page.get_by_role("button", name="Mark unread")).to_be_visible()
    assert states(tmp_path)[first][0] == "read"
    # back on the list of unread articles it is gone
    page.goto(served + "/aggregator/articles?state=unread")
    assert first not in card_ids(page)
    assert not page.console_problems


def test_next_unread_leads_to_the_next_unread_article_of_the_list(
    page: Any, served: str, tmp_path: Path
) -> None:
    page.goto(served + f"/aggregator/articles?tags__arraycontains={TAG}")
    ids = card_ids(page)
    before = states(tmp_path)
    expected = [i for i in ids[1:] if before[i][0] == "unread"]
    assert len(expected) >= 2, "the sample's tag has unread articles after its first"
    page.locator("ol.cards li.card a.card-link").nth(0).click()
    assert article_id(page.url) == ids[0]
    for want in expected[:3]:
        page.locator('a[rel="next"]').click()
        expect(page.locator(".reader-head h1")).to_be_visible()
        assert article_id(page.url) == want
    # and Previous goes back along the list
    prev = page.locator('a[rel="prev"]')
    expect(prev).to_have_text("← Previous")
    prev.click()
    assert article_id(page.url) == ids[ids.index(expected[min(2, len(expected) - 1)]) - 1]
    assert not page.console_problems


def test_keys_move_the_selection_open_star_and_mark(
    page: Any, served: str, tmp_path: Path
) -> None:
    page.goto(served + "/aggregator/articles")
    ids = card_ids(page)
    cards = page.locator("ol.cards li.card")
    # typing in the filter field is typing, not moving
    page.locator("#_search").press("j")
    expect(page.locator('li.card[aria-current="true"]')).to_have_count(0)
    page.locator("#_search").blur()
    page.keyboard.press("j")
    expect(cards.nth(0)).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")
    expect(cards.nth(1)).to_have_attribute("aria-current", "true")
    expect(page.locator('li.card[aria-current="true"]')).to_have_count(1)
    page.keyboard.press("k")
    page.keyboard.press("j")
    expect(cards.nth(1)).to_have_attribute("aria-current", "true")

    # s stars the selected article, m toggles its read state, both through the POST routes
    second = ids[1]
    was_starred = states(tmp_path)[second][1]
    page.keyboard.press("s")
    expect(cards.nth(1)).to_have_attribute("data-starred", "0" if was_starred else "1")
    assert states(tmp_path)[second][1] == (0 if was_starred else 1)
    was = states(tmp_path)[second][0]
    page.keyboard.press("m")
    expect(cards.nth(1)).to_have_attribute("data-state", "read" if was == "unread" else "unread")
    assert states(tmp_path)[second][0] == ("read" if was == "unread" else "unread")

    page.keyboard.press("?")
    expect(page.locator(".keys-help")).to_be_visible()
    expect(page.locator(".keys-help")).to_contain_text("mark it read or unread")
    page.keyboard.press("Escape")
    expect(page.locator(".keys-help")).to_be_hidden()

    page.keyboard.press("o")
    page.wait_for_url("**/aggregator/articles/*")
    assert article_id(page.url) == second
    assert not page.console_problems


def test_j_j_o_on_search_results(page: Any, served: str) -> None:
    page.goto(served + "/aggregator/search?q=the")
    ids = card_ids(page)
    assert len(ids) >= 2
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url("**/aggregator/articles/*")
    assert article_id(page.url) == ids[1]
    assert "from=search" in page.url


def test_mark_all_as_read_on_a_tag_list(page: Any, served: str, tmp_path: Path) -> None:
    before = states(tmp_path)
    in_tag = tagged(tmp_path, TAG)
    unread = [i for i in in_tag if before[i][0] == "unread"]
    assert unread
    page.goto(served + f"/aggregator/articles?tags__arraycontains={TAG}")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("h1")).to_have_text("Mark all as read")
    assert states(tmp_path) == before  # asking changes nothing
    page.get_by_role("button", name=f"Mark {len(unread)} as read").click()
    expect(page.locator(".reading-bar .message-info")).to_have_text(
        f"Marked {len(unread)} articles as read."
    )
    after = states(tmp_path)
    assert not any(after[i][0] == "unread" for i in in_tag)
    assert {i: v for i, v in after.items() if i not in in_tag} == {
        i: v for i, v in before.items() if i not in in_tag
    }
    assert all(after[i][0] == "archived" for i in in_tag if before[i][0] == "archived")
    assert page.locator("ol.cards li.card.unread").count() == 0
    assert not page.console_problems


def boxes_overlap(page: Any, selector: str) -> list[tuple[str, str]]:
    """Pairs of visible elements matching `selector` whose boxes overlap."""
    return [
        (a, b)
        for a, b in page.evaluate(
            """(selector) => {
            const els = [...document.querySelectorAll(selector)].filter(e => e.offsetParent);
            const r = els.map(e => e.getBoundingClientRect());
            const out = [];
            for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
                if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
                const a = r[i], b = r[j];
                if (a.left < b.right - 1 && b.left < a.right - 1 &&
                    a.top < b.bottom - 1 && b.top < a.bottom - 1)
                    out.push([els[i].outerHTML.slice(0, 80), els[j].outerHTML.slice(0, 80)]);
            }
            return out;
        }""",
            selector,
        )
    ]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}px" for w, _ in SIZES])
def test_reading_layout(
    browser_context: Any, served: str, screenshots: Path, size: tuple[int, int]
) -> None:
    page = browser_context(*size)
    page.goto(served + f"/aggregator/articles?tags__arraycontains={TAG}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not boxes_overlap(
        page, ".reading-bar form.mark-all, .reading-bar .keys-hint, ol.cards li.card, h1"
    )
    for _ in range(6):
        page.keyboard.press("j")
    selected = page.locator('li.card[aria-current="true"]')
    expect(selected).to_have_count(1)
    box = selected.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= size[1], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= size[0], box
    page.screenshot(path=str(screenshots / f"reading-list-selected-{size[0]}.png"))
    page.keyboard.press("?")
    expect(page.locator(".keys-help")).to_be_visible()
    help_box = page.locator(".keys-help").bounding_box()
    assert help_box and help_box["x"] >= 0 and help_box["x"] + help_box["width"] <= size[0]
    page.screenshot(path=str(screenshots / f"reading-list-keys-help-{size[0]}.png"))
    page.keyboard.press("Escape")

    page.keyboard.press("o")
    page.wait_for_url("**/aggregator/articles/*")
    expect(page.locator(".reading-nav")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not boxes_overlap(page, ".reading-nav > *, .actions > *")
    page.screenshot(path=str(screenshots / f"reading-article-nav-{size[0]}.png"))

    page.goto(served + "/")
    section = page.locator("#unread")
    expect(section).to_be_visible()
    assert not boxes_overlap(page, "#unread ul.unread-list li")
    section.screenshot(path=str(screenshots / f"reading-home-unread-{size[0]}.png"))
    assert not page.console_problems
