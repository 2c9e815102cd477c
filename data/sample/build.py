"""Build the sample collection's feeds, pages and manifest from the texts in `text/`.

Deterministic (no clock, no randomness, no network): running it twice writes the same bytes, so
the generated files are committed beside it and `aggregator load-sample data/sample` needs only
them. Run it after editing a text: `python data/sample/build.py`.

A text file is one feed: header lines (`title:`, `format:` rss, atom or json, `site:`, `url:`,
`tags:`, `author:`, `description:`, `start:`, `end:`), then entries, each a `# Title` line,
optional `by:`, `categories:` and `mark:` lines (read, archived, starred, tag:NAME), and
paragraphs separated by blank lines. Entries are dated evenly from `start` to `end` in the order
written. `text/pages.txt` holds the saved pages, each with its `url:`, `site:`, `published:`,
`saved:`, `tags:` and optional `by:`, `note:`, `state:` and `starred:` lines.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
TEXT = HERE / "text"
KEYS = (
    "by",
    "categories",
    "mark",
    "url",
    "site",
    "published",
    "saved",
    "tags",
    "note",
    "state",
    "starred",
)
CONTENT_TYPES = {"rss": None, "atom": None, "json": "application/feed+json"}
SUFFIXES = {"rss": ".xml", "atom": ".atom", "json": ".json"}

# The first, hand-written part of the sample (kept as written: the tests of the web pages count
# on its articles); the generated feeds and pages follow it in the manifest.
HAND_WRITTEN_FEEDS = [
    {
        "file": "slow-reading.xml",
        "url": "https://slow-reading.example/feed.xml",
        "tags": ["reading"],
    },
    {
        "file": "field-notes.atom",
        "url": "https://field-notes.example/atom.xml",
        "tags": ["open-web"],
    },
    {
        "file": "link-log.json",
        "url": "https://link-log.example/feed.json",
        "content_type": "application/feed+json",
        "tags": ["links"],
    },
]
HAND_WRITTEN_PAGES = [
    {
        "file": "page-quiet-web.html",
        "url": "https://small-sites.example/quiet-web",
        "tags": ["essays", "open-web"],
        "note": "Send to the book club.",
        "saved_at": "2025-06-01T08:00:00Z",
    },
    {
        "file": "page-offline-first.html",
        "url": "https://byte-garden.example/offline-first",
        "tags": ["read-later"],
        "saved_at": "2025-06-02T19:30:00Z",
    },
]


def digest(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big")


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].rstrip("-")


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_blocks(text: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The header lines before the first `# ` and each entry: its title, fields, paragraphs."""
    header: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    paragraph: list[str] = []

    def end_paragraph() -> None:
        if current is not None and paragraph:
            current["paragraphs"].append(" ".join(paragraph))
        paragraph.clear()

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# "):
            end_paragraph()
            current = {"title": line[2:].strip(), "paragraphs": []}
            entries.append(current)
            continue
        key, sep, value = line.partition(":")
        if current is None:
            if sep:
                header[key.strip()] = value.strip()
        elif sep and key in KEYS:
            end_paragraph()
            current[key] = value.strip()
        elif not line:
            end_paragraph()
        else:
            paragraph.append(line)
    end_paragraph()
    return header, entries


def parse_day(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def dated(header: dict[str, str], entries: list[dict[str, Any]]) -> None:
    """Spread the entries evenly from start to end, each at an hour of the day of its own."""
    start, end = parse_day(header["start"]), parse_day(header["end"])
    step = (end - start) / max(1, len(entries) - 1)
    for i, entry in enumerate(entries):
        h = digest(entry["title"])
        day = (start + step * i).replace(hour=0, minute=0, second=0, microsecond=0)
        entry["date"] = day + timedelta(hours=6 + h % 15, minutes=(h >> 8) % 60)


def marks_of(entry: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """The reading state an entry ships with: what its `mark:` line says; otherwise most of the
    older half of a feed and a few of the newer half are read, chosen by a hash of the title."""
    words = entry.get("mark", "").split()
    mark: dict[str, Any] = {}
    for word in words:
        if word in ("read", "archived"):
            mark["state"] = word
        elif word == "starred":
            mark["starred"] = True
        elif word.startswith("tag:"):
            mark.setdefault("tags", []).append(word[4:])
    if "state" not in mark:
        older = index < count // 2
        if digest("read " + entry["title"]) % 10 < (7 if older else 2):
            mark["state"] = "read"
    return mark


def paragraphs_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def entry_url(site: str, entry: dict[str, Any]) -> str:
    return f"{site}{entry['date']:%Y/%m}/{slug(entry['title'])}"


def rss(header: dict[str, str], entries: list[dict[str, Any]]) -> str:
    items = []
    for e in entries:
        cats = "".join(
            f"\n      <category>{escape(c)}</category>" for c in split_list(e.get("categories", ""))
        )
        items.append(
            f"""    <item>
      <title>{escape(e["title"])}</title>
      <link>{escape(e["url"])}</link>
      <guid isPermaLink="true">{escape(e["url"])}</guid>
      <dc:creator>{escape(e.get("by") or header["author"])}</dc:creator>
      <pubDate>{format_datetime(e["date"], usegmt=True)}</pubDate>{cats}
      <description>{escape(e["paragraphs"][0])}</description>
      <content:encoded><![CDATA[{paragraphs_html(e["paragraphs"])}]]></content:encoded>
    </item>
"""
        )
    last = format_datetime(entries[-1]["date"], usegmt=True)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>{escape(header["title"])}</title>
    <link>{escape(header["site"])}</link>
    <description>{escape(header["description"])}</description>
    <language>en</language>
    <lastBuildDate>{last}</lastBuildDate>
{"".join(items)}  </channel>
</rss>
"""


def atom(header: dict[str, str], entries: list[dict[str, Any]]) -> str:
    host = re.sub(r"^https?://|/.*$", "", header["site"])
    items = []
    for e in entries:
        cats = "".join(
            f"\n    <category term={quoteattr(c)}/>" for c in split_list(e.get("categories", ""))
        )
        body = escape(paragraphs_html(e["paragraphs"]))
        items.append(
            f"""  <entry>
    <title>{escape(e["title"])}</title>
    <link rel="alternate" href={quoteattr(e["url"])}/>
    <id>tag:{host},{e["date"]:%Y}:{slug(e["title"])}</id>
    <published>{iso(e["date"])}</published>
    <updated>{iso(e["date"])}</updated>
    <author><name>{escape(e.get("by") or header["author"])}</name></author>{cats}
    <summary>{escape(e["paragraphs"][0])}</summary>
    <content type="html">{body}</content>
  </entry>
"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>{escape(header["title"])}</title>
  <subtitle>{escape(header["description"])}</subtitle>
  <link rel="alternate" href={quoteattr(header["site"])}/>
  <link rel="self" href={quoteattr(header["url"])}/>
  <id>tag:{host},2024:feed</id>
  <updated>{iso(entries[-1]["date"])}</updated>
  <author><name>{escape(header["author"])}</name></author>
{"".join(items)}</feed>
"""


def json_feed(header: dict[str, str], entries: list[dict[str, Any]]) -> str:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": header["title"],
        "description": header["description"],
        "home_page_url": header["site"],
        "feed_url": header["url"],
        "language": "en",
        "authors": [{"name": header["author"]}],
        "items": [
            {
                "id": e["url"],
                "url": e["url"],
                "title": e["title"],
                "summary": e["paragraphs"][0],
                "content_html": paragraphs_html(e["paragraphs"]),
                "date_published": iso(e["date"]),
                "authors": [{"name": e.get("by") or header["author"]}],
                "tags": split_list(e.get("categories", "")),
            }
            for e in entries
        ],
    }
    return json.dumps(feed, ensure_ascii=False, indent=1) + "\n"


WRITERS = {"rss": rss, "atom": atom, "json": json_feed}


def page_html(p: dict[str, Any]) -> str:
    title, site = html.escape(p["title"]), html.escape(p["site"])
    author = html.escape(p.get("by", ""))
    first = html.escape(p["paragraphs"][0].split(". ")[0].rstrip(".") + ".")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | {site}</title>
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{site}">
<meta name="author" content="{author}">
<meta property="article:published_time" content="{p["published"]}">
<meta name="description" content="{first}">
</head>
<body>
<nav><a href="/">{site}</a> <a href="/archive">Archive</a> <a href="/about">About</a></nav>
<main>
<article>
<h1>{title}</h1>
<p class="byline">By {author}</p>
{chr(10).join(f"<p>{html.escape(x, quote=False)}</p>" for x in p["paragraphs"])}
</article>
</main>
<aside class="related"><h2>More from {site}</h2><ul><li><a href="/archive">All articles</a></li>
</ul></aside>
<footer>&copy; {site} &middot; <a href="/privacy">Privacy</a></footer>
</body>
</html>
"""


def build() -> dict[str, Any]:
    feeds: list[dict[str, Any]] = list(HAND_WRITTEN_FEEDS)
    pages: list[dict[str, Any]] = list(HAND_WRITTEN_PAGES)
    for source in sorted(TEXT.glob("*.txt")):
        if source.name == "pages.txt":
            continue
        header, entries = parse_blocks(source.read_text(encoding="utf-8"))
        dated(header, entries)
        marks: dict[str, Any] = {}
        for i, entry in enumerate(entries):
            entry["url"] = entry_url(header["site"], entry)
            mark = marks_of(entry, i, len(entries))
            if mark:
                marks[entry["url"]] = mark
        name = source.stem + SUFFIXES[header["format"]]
        (HERE / name).write_text(WRITERS[header["format"]](header, entries), encoding="utf-8")
        item: dict[str, Any] = {"file": name, "url": header["url"]}
        if CONTENT_TYPES[header["format"]]:
            item["content_type"] = CONTENT_TYPES[header["format"]]
        item["tags"] = split_list(header["tags"])
        item["marks"] = marks
        feeds.append(item)
    _, saved = parse_blocks((TEXT / "pages.txt").read_text(encoding="utf-8"))
    for p in saved:
        name = "page-" + slug(p["title"]) + ".html"
        (HERE / name).write_text(page_html(p), encoding="utf-8")
        item = {"file": name, "url": p["url"], "tags": split_list(p["tags"])}
        if p.get("note"):
            item["note"] = p["note"]
        item["saved_at"] = p["saved"]
        if p.get("state"):
            item["state"] = p["state"]
        if p.get("starred"):
            item["starred"] = True
        pages.append(item)
    manifest = {
        "description": (
            "The sample collection `make run` loads from disk, so a fresh machine without "
            "network serves a collection worth browsing. Written for the project (see README.md); "
            "addresses are made up (.example) and the feeds are stored paused. Generated by "
            "build.py from text/, except the first three feeds and two pages."
        ),
        "feeds": feeds,
        "pages": pages,
    }
    (HERE / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return manifest


if __name__ == "__main__":
    built = build()
    entries = sum(
        len(parse_blocks((TEXT / (f["file"].rsplit(".", 1)[0] + ".txt")).read_text())[1])
        for f in built["feeds"][len(HAND_WRITTEN_FEEDS) :]
    )
    print(
        f"{len(built['feeds'])} feeds ({entries} generated entries), "
        f"{len(built['pages'])} saved pages"
    )
