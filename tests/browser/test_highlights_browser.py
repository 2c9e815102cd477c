"""Highlights in Chromium against a real `aggregator serve`: a CLI highlight shown as <mark> in
the article's text; a selection made into a highlight with a note, which the CLI then lists; the
highlights page and its Markdown export; removal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

ARTICLE = "The quiet web is still here"


def cli(served_db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "aggregator"
    return subprocess.run(
        [str(script), "--db", str(served_db), *args], capture_output=True, text=True, check=True
    )


def db_of(tmp_path: Path) -> Path:
    return tmp_path / "browser.db"  # the database the `served` fixture serves


def open_article(page: Any, served: str) -> str:
    page.goto(served + "/aggregator/articles")
    page.locator("ol.cards a", has_text=ARTICLE).click()
    expect(page.locator(".reader-head h1")).to_have_text(ARTICLE)
    return str(page.url)


def test_highlights_made_by_cli_and_by_selection(
    page: Any, served: str, tmp_path: Path, screenshots: Path
) -> None:
    db = db_of(tmp_path)
    url = open_article(page, served)
    del url
    text = page.locator(".reader-body").inner_text()
    found = re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+ [A-Za-z]+", text)
    assert found
    quote = found.group(0)
    source = page.locator(".original a").get_attribute("href")
    cli(db, "highlight", source, "--quote", quote, "--note", "from the command line")
    page.reload()
    mark = page.locator(".reader-body mark.hl").first
    expect(mark).to_be_visible()
    assert quote.split()[0] in mark.inner_text()
    expect(page.locator("section.highlights")).to_contain_text("from the command line")

    # select the words of the article's last paragraph and highlight them with a note
    paragraph = page.locator(".reader-body p").last
    paragraph.evaluate(
        """(p) => { const r = document.createRange(); r.selectNodeContents(p);
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
        document.dispatchEvent(new Event('selectionchange')); }"""
    )
    form = page.locator("#highlight-form")
    expect(form).to_be_visible()
    form.locator("input[name=note]").fill("a note <b>not markup</b>")
    form.locator("button", has_text="Highlight").click()
    expect(page.locator(".message-info")).to_contain_text("Highlighted")
    expect(page.locator("section.highlights li")).to_have_count(2)
    expect(page.locator("section.highlights")).to_contain_text("a note <b>not markup</b>")
    page.screenshot(path=str(screenshots / "article-highlights-1280.png"), full_page=True)

    listed = json.loads(cli(db, "highlights", "--format", "json").stdout)
    assert {h["note"] for h in listed} == {"from the command line", "a note <b>not markup</b>"}

    page.goto(served + "/-/highlights")
    expect(page.locator("li.highlight-item")).to_have_count(2)
    page.screenshot(path=str(screenshots / "highlights-1280.png"), full_page=True)
    md = page.request.get(served + "/-/highlights.md").text()
    assert f"> {quote}" in md.replace("\\", "") and "from the command line" in md
    page.locator("li.highlight-item button", has_text="Remove").first.click()
    expect(page.locator("li.highlight-item")).to_have_count(1)
    assert page.console_problems == [], page.console_problems


def test_a_highlight_post_without_the_token_is_refused(page: Any, served: str) -> None:
    url = open_article(page, served)
    article_id = url.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    response = page.request.post(
        served + f"/-/articles/{article_id}/highlight", form={"quote": "quiet"}
    )
    assert response.status == 403
    response = page.request.post(
        served + f"/-/articles/{article_id}/highlight",
        form={"quote": "quiet"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status == 403
