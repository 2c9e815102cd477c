"""What a person sees, in Chromium against a real `aggregator serve`: search, a facet, an
article, an export link, saving a link. Every page loads without script errors or CSP refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.httpserver import Route

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Hedgerows in winter</title></head><body><article><h1>Hedgerows in winter</h1>
<p>%s</p></article></body></html>""" % (
    b"Hedgerows shelter birds through the long cold months. " * 30
)


def no_problems(page: Any) -> None:
    assert page.console_problems == [], page.console_problems


def test_search_from_the_home_page_shows_marked_results(page: Any, served: str) -> None:
    page.goto(served + "/")
    expect(page.locator("h1")).to_have_text("Aggregator")
    page.locator(".hero input[name=q]").fill("syndication")
    page.locator(".hero button[type=submit]").click()
    page.wait_for_url("**/aggregator/search?q=syndication*")
    first = page.locator("ol.results li.card").first
    expect(first.locator("h3")).to_contain_text("Why feeds outlived the platforms")
    expect(first.locator(".snippet mark").first).to_have_text("syndication")
    no_problems(page)


def test_clicking_a_facet_narrows_the_articles(page: Any, served: str) -> None:
    page.goto(served + "/aggregator/articles")
    cards = page.locator("ol.cards li.card")
    expect(cards.first).to_be_visible()
    before = cards.count()
    page.locator("#facet-tags a", has_text="reading").first.click()
    page.wait_for_url("**_tag=reading*")
    expect(cards).to_have_count(3)
    assert before > 3
    expect(page.locator("ol.cards")).not_to_contain_text("The quiet web is still here")
    no_problems(page)


def test_opening_an_article_and_starring_it(page: Any, served: str) -> None:
    page.goto(served + "/aggregator/articles")
    page.locator("ol.cards a", has_text="The quiet web is still here").click()
    expect(page.locator(".reader-head h1")).to_have_text("The quiet web is still here")
    expect(page.locator(".reader-body")).to_contain_text("Personal websites never went away")
    expect(page.locator("aside.note")).to_contain_text("Send to the book club.")
    page.locator("button", has_text="☆ Star").click()
    expect(page.locator("button", has_text="★ Starred")).to_be_visible()
    page.locator("summary", has_text="Edit tags").click()
    page.locator("form.tags-form input[name=tags]").fill("essays, winter")
    page.locator("form.tags-form button").click()
    expect(page.locator("article.reader .tags")).to_contain_text("winter")
    no_problems(page)


def test_following_an_export_link(page: Any, served: str) -> None:
    page.goto(served + "/aggregator/articles?tags__arraycontains=links")
    page.locator("a.export-md").click()
    page.wait_for_url("**/aggregator/articles.md?*")
    body = page.locator("body").inner_text()
    assert body.startswith("# Aggregator export")
    assert "[After Pocket: keeping a read" in body and "](<https://link-log.example/" in body
    assert "Why feeds outlived the platforms" not in body


def test_saving_a_link_through_the_save_form(page: Any, served: str, server: Any) -> None:
    url = server.add("/hedgerows", Route(PAGE, content_type="text/html; charset=utf-8"))
    page.goto(served + "/-/save?url=" + url + "&title=")
    expect(page.locator("input[name=url]")).to_have_value(url)
    page.locator("input[name=tags]").fill("nature, winter")
    page.locator("textarea[name=note]").fill("Read by the fire")
    page.locator("button", has_text="Save").click()
    page.wait_for_url("**/aggregator/articles/*?saved=new")
    expect(page.locator(".message-info")).to_contain_text("Saved.")
    # The page is fetched in the background: reload until its text is there.
    for _ in range(50):
        if "Hedgerows shelter birds" in page.locator(".reader-body").inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator(".reader-head h1")).to_have_text("Hedgerows in winter")
    expect(page.locator(".reader-body")).to_contain_text("Hedgerows shelter birds")
    expect(page.locator("article.reader .tags")).to_contain_text("nature")
    no_problems(page)


def test_dashboard_draws_its_charts(page: Any, served: str) -> None:
    page.goto(served + "/-/dashboard")
    expect(page.locator("#chart-feeds svg rect").first).to_be_visible()
    feeds = json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))["feeds"]
    expect(page.locator("#chart-health svg rect")).to_have_count(len(feeds))
    expect(page.locator("#chart-health")).to_contain_text("Slow Reading")
    no_problems(page)


def test_datasette_pages_work_under_the_csp(page: Any, served: str) -> None:
    # Datasette's own pages had inline scripts; moved to static files, they must still run.
    page.goto(served + "/aggregator/feeds")
    expect(page.locator("table.rows-and-columns")).to_be_visible()
    page.goto(served + "/aggregator?sql=select+title+from+articles+limit+3")
    expect(page.locator(".CodeMirror")).to_be_visible()  # the editor set-up script ran
    page.locator("details.nav-menu summary").click()
    expect(page.locator("details.nav-menu")).to_have_attribute("open", "")
    page.locator("h1").first.click()  # a click outside closes the menu (menus.js)
    expect(page.locator("details.nav-menu")).not_to_have_attribute("open", "")
    no_problems(page)
