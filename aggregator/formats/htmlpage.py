"""One standalone, readable HTML page of articles (inline CSS, no scripts, a CSP that forbids
them), optionally grouped by tag or date. Pure: mappings in, bytes out; no SQL."""

from __future__ import annotations

import html as htmllib
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats._common import article_date, group_articles
from aggregator.sanitize import clean_text, safe_url, sanitize_html

_CSS = """
body{font:17px/1.55 Georgia,serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222;
background:#fdfdfb}
h1{font-size:1.8rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
article{margin:1.6rem 0}h3{margin:.2rem 0;font-size:1.15rem}
.meta{color:#666;font:14px/1.4 system-ui,sans-serif;margin:.2rem 0}
.tag{background:#eee;border-radius:3px;padding:0 .3rem;margin-right:.3rem}
details{margin:.5rem 0}img{max-width:100%;height:auto}pre{overflow:auto}
blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:1rem;color:#444}
"""
_CSP = "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    return htmllib.escape(str(value), quote=True)


def _article(article: Mapping[str, Any]) -> str:
    title = clean_text(str(article.get("title") or article.get("url") or "Untitled"), is_html=False)
    url = safe_url(str(article.get("url") or ""))
    heading = f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(title)}</a>' if url else _e(title)
    meta = []
    site = article.get("site") or article.get("feed_title")
    if site:
        meta.append(_e(site))
    if article.get("author"):
        meta.append(_e(article["author"]))
    when = article_date(article)
    if when:
        meta.append(f'<time datetime="{_e(when)}">{_e(when[:10])}</time>')
    tags = "".join(f'<span class="tag">{_e(t)}</span>' for t in article.get("tags") or [])
    parts = [f"<article><h3>{heading}</h3>"]
    if meta or tags:
        parts.append(f'<p class="meta">{" · ".join(meta)} {tags}</p>')
    if article.get("excerpt"):
        parts.append(f"<p>{_e(article['excerpt'])}</p>")
    if article.get("note"):
        parts.append(f"<blockquote>{_e(article['note'])}</blockquote>")
    # Sanitised when stored; sanitised again because this page is opened from disk.
    content = sanitize_html(str(article.get("content_html") or ""), base_url=url)
    if content:
        parts.append(f"<details><summary>Full text</summary>{content}</details>")
    elif article.get("text"):
        paragraphs = "".join(f"<p>{_e(p)}</p>" for p in str(article["text"]).split("\n\n") if p)
        parts.append(f"<details><summary>Full text</summary>{paragraphs}</details>")
    parts.append("</article>")
    return "".join(parts)


def write_html(
    articles: Sequence[Mapping[str, Any]],
    *,
    title: str,
    group_by: str | None = None,
    generated_at: str | None = None,
) -> bytes:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
    ]
    summary = f"{len(articles)} article{'' if len(articles) == 1 else 's'}"
    if generated_at:
        summary += f", exported {generated_at}"
    out.append(f'<p class="meta">{_e(summary)}</p>')
    for heading, items in group_articles(articles, group_by):
        if heading is not None:
            out.append(f"<section><h2>{_e(heading)}</h2>")
        out.extend(_article(article) for article in items)
        if heading is not None:
            out.append("</section>")
    out.append("</main></body></html>")
    return ("\n".join(out) + "\n").encode("utf-8")
