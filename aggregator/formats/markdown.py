"""Markdown reading list of articles: title linked to its URL, site, date, tags and excerpt;
optionally grouped by tag or date. Pure: mappings in, bytes out; no SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats._common import article_date, group_articles
from aggregator.sanitize import clean_text, safe_url

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# that can start markup anywhere in a line.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
MAX_EXCERPT = 400


def escape_md(text: str) -> str:
    """Plain text safe inside Markdown: one line, markup characters backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", clean_text(text, is_html=False, limit=2000))


def _destination(url: Any) -> str | None:
    checked = safe_url(str(url)) if url else None
    if checked is None:
        return None
    return checked.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


def _item(article: Mapping[str, Any]) -> list[str]:
    title = escape_md(str(article.get("title") or article.get("url") or "Untitled"))
    url = _destination(article.get("url"))
    line = f"- [{title}](<{url}>)" if url else f"- {title}"
    details = []
    site = article.get("site") or article.get("feed_title")
    if site:
        details.append(escape_md(str(site)))
    when = article_date(article)
    if when:
        details.append(when[:10])
    tags = [escape_md(str(t)) for t in article.get("tags") or [] if str(t).strip()]
    if tags:
        details.append("tags: " + ", ".join(tags))
    if details:
        line += " — " + " · ".join(details)
    lines = [line]
    excerpt = clean_text(str(article.get("excerpt") or ""), is_html=False, limit=MAX_EXCERPT)
    if excerpt:
        lines.append(f"  > {escape_md(excerpt)}")
    note = clean_text(str(article.get("note") or ""), is_html=False, limit=MAX_EXCERPT)
    if note:
        lines.append(f"  > Note: {escape_md(note)}")
    lines += highlight_lines(article.get("highlights") or [])
    return lines


def highlight_lines(highlights: Sequence[Mapping[str, Any]], indent: str = "  ") -> list[str]:
    """Each highlight as a block quote with its note under it, as Obsidian and Logseq users
    paste them."""
    lines: list[str] = []
    for h in highlights:
        quote = clean_text(str(h.get("quote") or ""), is_html=False, limit=10_000)
        if not quote:
            continue
        lines += ["", f"{indent}> {escape_md(quote)}"]
        note = clean_text(str(h.get("note") or ""), is_html=False, limit=10_000)
        if note:
            lines += ["", f"{indent}{escape_md(note)}"]
    if lines:
        lines.append("")
    return lines


def write_markdown(
    articles: Sequence[Mapping[str, Any]],
    *,
    title: str,
    group_by: str | None = None,
    generated_at: str | None = None,
) -> bytes:
    lines = [f"# {escape_md(title)}", ""]
    summary = f"{len(articles)} article{'' if len(articles) == 1 else 's'}"
    if generated_at:
        summary += f", exported {escape_md(generated_at)}"
    lines += [f"_{summary}_", ""]
    for heading, items in group_articles(articles, group_by):
        if heading is not None:
            lines += [f"## {escape_md(heading)}", ""]
        for article in items:
            lines += _item(article)
        lines.append("")
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")
