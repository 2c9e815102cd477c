"""The Datasette plugin: hooks that turn the database browser into a reading room. Reads data
through Datasette's database API; writes go through `store` inside Datasette's write thread."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from datasette import hookimpl as _hookimpl
from markupsafe import Markup, escape

from ..store import fts_query
from . import exports, facets, security, views

F = TypeVar("F", bound=Callable[..., Any])


def hookimpl(fn: F) -> F:
    """Datasette's hook marker, typed (it returns the function it marks)."""
    return cast(F, _hookimpl(fn))


PLUGIN = "aggregator"
DATABASE = "aggregator"
MARK_RE = re.compile(r"(</?mark>)")
LONG_COLUMNS = {"text", "content_html", "excerpt", "fetch_error", "last_error", "description"}


def plugin_config(datasette: Any) -> dict[str, Any]:
    return datasette.plugin_config(PLUGIN) or {}


def marked_snippet(value: Any) -> Markup:
    """A search snippet with only <mark> tags kept: everything else is escaped, whatever the
    SQL that produced it (the canned query escapes too; this is the second wall)."""
    out = []
    for piece in MARK_RE.split(str(value or "")):
        if piece in ("<mark>", "</mark>"):
            out.append(piece)
        else:
            out.append(str(escape(html.unescape(piece))))
    text = "".join(out)
    # Balance marks a truncated snippet may have left open.
    opened = text.count("<mark>") - text.count("</mark>")
    return Markup(text + "</mark>" * max(0, opened))


LEADING_HEADING = re.compile(r"^\s*<h[12][^>]*>(.*?)</h[12]>", re.S | re.I)


def reading_html(value: Any, title: str | None = None) -> Markup:
    """Stored article HTML, sanitised again on the way out (it was sanitised when stored; a
    second pass costs little and covers rows written by older versions or by hand). A leading
    heading that repeats the title is dropped: the page shows the title already."""
    from ..sanitize import sanitize_html

    cleaned = sanitize_html(str(value or ""))
    match = LEADING_HEADING.match(cleaned)
    if match and title:
        heading = html.unescape(re.sub(r"<[^>]*>", "", match.group(1)))
        if " ".join(heading.split()).casefold() == " ".join(title.split()).casefold():
            cleaned = cleaned[match.end():]
    return Markup(cleaned)


def facet_sort(facets: Any, order: list[str]) -> list[Any]:
    """Facets in the order metadata.yml lists them (Datasette sorts by number of values)."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(facets, key=lambda f: rank.get(f["name"], len(rank)))


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(t) for t in value]
    try:
        tags = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def tag_links(datasette: Any, value: Any) -> Markup:
    base = datasette.urls.table(DATABASE, "articles")
    from urllib.parse import quote

    return Markup(" ".join(
        f'<a class="tag" href="{base}?tags__arraycontains={escape(quote(t))}">{escape(t)}</a>'
        for t in _tags(value)
    ))


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Any:
    if database != DATABASE:
        return None
    if column == "snippet":
        return marked_snippet(value)
    if table in ("articles", "feeds") and column == "tags" and isinstance(value, str):
        return tag_links(datasette, value)
    if table == "articles" and column == "title":
        keys = row.keys() if hasattr(row, "keys") else []
        if "id" in keys:
            href = datasette.urls.path(f"/{DATABASE}/articles/{int(row['id'])}")
            return Markup(f'<a class="title" href="{href}">{escape(value or "(untitled)")}</a>')
    if column in LONG_COLUMNS and isinstance(value, str) and len(value) > 160:
        # Raw HTML and long text would swamp the table: a short plain-text preview instead,
        # from the start of the value only (whole 4 KB bodies cost ~5 ms a page of 50).
        head = value[:2000]
        text = re.sub(r"<[^>]*>", " ", head) if column == "content_html" else head
        text = re.sub(r"\s+", " ", html.unescape(text)).strip()
        return Markup(f'<span class="preview">{escape(text[:160])}…</span>')
    return None


@hookimpl
def prepare_connection(conn: Any, database: str) -> None:
    if database == DATABASE:
        # Reads of a large collection touch scattered 32 KB pages (rows of one tag, snippets'
        # text): a 64 MB page cache per connection instead of SQLite's 2 MB, and the first
        # 2 GB of the file memory-mapped, so repeated pages are not read again through the OS.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA mmap_size = 2147418112")
    # The canned `search` query turns what the user typed into a safe FTS5 query.
    conn.create_function("aggregator_fts_query", 1, lambda q: fts_query(q or ""),
                         deterministic=True)


facets.install_tag_filter()


@hookimpl
def register_facet_classes() -> list[type]:
    return [facets.CountedFacet]


@hookimpl
def prepare_jinja2_environment(env: Any) -> None:
    env.filters["marked_snippet"] = marked_snippet
    env.filters["tag_list"] = _tags
    env.filters["short_date"] = views.short_date
    env.filters["reading_html"] = reading_html
    env.filters["facet_sort"] = facet_sort


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    def wrap(app: Any) -> Any:
        config = plugin_config(datasette)
        return security.wrap_app(
            app, datasette=datasette,
            allowed_hosts=config.get("allowed_hosts") or security_default_hosts(),
            require_auth=bool(config.get("require_auth")),
        )

    return wrap


def security_default_hosts() -> list[str]:
    from .app import LOOPBACK_NAMES

    return sorted(LOOPBACK_NAMES)


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins(PLUGIN, "reading.css")]


@hookimpl
def extra_template_vars(request: Any, datasette: Any) -> dict[str, Any]:
    return {
        "aggregator_nav": views.nav_links(datasette),
        "aggregator_auth": bool(plugin_config(datasette).get("require_auth")),
        "current_path": request.path if request else "",
    }


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    return [
        (r"^/$", views.home),
        (r"^/aggregator/articles/(?P<id>\d+)$", views.article),
        (r"^/-/articles/(?P<id>\d+)/(?P<action>[a-z]+)$", views.article_action),
        (r"^/-/save$", views.save),
        (r"^/-/dashboard$", views.dashboard),
    ]


@hookimpl
def register_output_renderer(datasette: Any) -> list[dict[str, Any]]:
    return exports.renderers()


@hookimpl
def menu_links(datasette: Any, actor: Any) -> list[dict[str, str]]:
    return [
        {"href": datasette.urls.path("/-/dashboard"), "label": "Reading dashboard"},
        {"href": datasette.urls.path("/-/save"), "label": "Save a link"},
    ]
