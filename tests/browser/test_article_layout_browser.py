"""A saved article as a reader sees it, in Chromium at 1280 and 390 px: its section headings,
numbered and bulleted lists with their markers, a table, a quote and its pictures are on the
page in the page's order, and nothing makes the page wider than the screen. Screenshots go to
the screenshots folder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.httpserver import Route

SIZES = [(1280, 900), (390, 844)]
SENTENCES = [
    "The water mill on the lower river ground flour for the valley for three hundred years.",
    "Grain came down the lane on carts, and the miller weighed every sack on iron scales.",
    "In the dry summers the pond fell so low that the wheel stopped for weeks at a time.",
    "The last miller kept a diary of every flood and every drought in a patient hand.",
    "Today the trust that runs the mill sells its own flour in the little shop by the door.",
    "The volunteers hope to rebuild the sluice gate next spring so the wheel turns all year.",
]


def png(width: int, height: int) -> bytes:
    """A plain PNG picture of one colour."""
    raw = b"".join(b"\x00" + b"\x46\x6e\x96" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def article_page() -> bytes:
    paras = [f"<p>{' '.join([s] * 3)}</p>" for s in SENTENCES]
    table = (
        "<table><thead><tr><th>Year</th><th>Sacks ground</th><th>Miller</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{1890 + i}</td><td>{41000 - i * 700:,}</td><td>Amos Brook</td></tr>"
            for i in range(6)
        )
        + "</tbody></table>"
    )
    body = (
        paras[0]
        + paras[1]
        + '<p><img src="/mill/wheel.png" alt="The wheel in 1950" width="1200" height="500"></p>'
        + "<h2>Floods and droughts</h2>"
        + paras[2]
        + paras[3]
        + "<blockquote><p>The wheel is the heart of the mill, and the pond is its breath.</p>"
        + "</blockquote>"
        + table
        + "<h2>Starting the wheel</h2>"
        + "<ol><li>Open the sluice gate.</li><li>Let the wheel run up to speed.</li>"
        + "<li>Engage the stones.</li></ol>"
        + "<ul><li>Check the belts.</li><li>Oil the gears.</li></ul>"
        + paras[4]
        + paras[5]
    )
    # a <section>: trafilatura finds no article container there and recovers loose paragraphs
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>The water mill</title>'
        "</head><body><header><nav><a href=/>Home</a></nav></header>"
        "<section><h1>The water mill</h1>"
        f"{body}</section><footer><p>The Valley Post.</p></footer></body></html>"
    ).encode()


def test_an_articles_structure_is_shown_at_both_widths(
    page: Any, browser_context: Any, served: str, server: Any, screenshots: Path
) -> None:
    server.add("/mill/wheel.png", Route(png(1200, 500), content_type="image/png"))
    url = server.add("/mill/", Route(article_page(), content_type="text/html; charset=utf-8"))
    page.goto(served + "/-/save?url=" + url + "&title=")
    page.locator("button", has_text="Save").click()
    page.wait_for_url("**/aggregator/articles/*?saved=new")
    for _ in range(50):  # the page is fetched in the background
        if "Floods and droughts" in page.locator(".reader-body").inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    article_url = page.url.split("?", 1)[0]
    for width, height in SIZES:
        reader = browser_context(width, height)
        reader.goto(article_url)
        body = reader.locator(".reader-body")
        expect(body.locator("h2")).to_have_text(["Floods and droughts", "Starting the wheel"])
        order = body.evaluate(
            """el => [...el.querySelectorAll('p, h2, ol, ul, table, blockquote, img')]
                .filter(e => !e.closest('blockquote > p') || e.tagName !== 'P')
                .map(e => e.tagName.toLowerCase())"""
        )
        assert order == [
            "p",
            "p",
            "img",
            "h2",
            "p",
            "p",
            "blockquote",
            "table",
            "h2",
            "ol",
            "ul",
            "p",
            "p",
        ], order
        styles = body.evaluate(
            """el => ({
                ol: getComputedStyle(el.querySelector('ol')).listStyleType,
                ul: getComputedStyle(el.querySelector('ul')).listStyleType,
                olPad: parseFloat(getComputedStyle(el.querySelector('ol')).paddingLeft),
                img: el.querySelector('img').getBoundingClientRect().width,
                loaded: el.querySelector('img').naturalWidth,
                body: el.getBoundingClientRect().width,
                page: document.documentElement.scrollWidth,
            })"""
        )
        assert styles["ol"] == "decimal" and styles["ul"] == "disc", styles
        assert styles["olPad"] >= 16, styles  # the numbers sit inside the column, visible
        assert styles["loaded"] == 1200, styles  # the picture itself, not a broken image
        assert 0 < styles["img"] <= styles["body"] + 0.5, styles
        assert styles["page"] <= width, styles  # no sideways scrolling, even with the table
        reader.screenshot(path=str(screenshots / f"article-structures-{width}.png"), full_page=True)
        assert reader.console_problems == [], reader.console_problems
