"""The Datasette plugin: the hooks that turn the database browser into a reading room. Reads
data through Datasette's database API; writes go through `store` inside Datasette's write
thread. Only public plugin hooks; every setting comes from the instance's plugin
configuration (web/settings.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from datasette import hookimpl as _hookimpl
from markupsafe import Markup, escape

from ..query import parse_query
from ..store import register_search_functions
from . import (
    adding,
    arguments,
    errors,
    exports,
    facets,
    feeds,
    highlights,
    queries,
    reading,
    security,
    settings,
    text,
    views,
)
from .settings import DATABASE, PLUGIN

F = TypeVar("F", bound=Callable[..., Any])
LONG_COLUMNS = {"text", "content_html", "excerpt", "fetch_error", "last_error", "description"}
# Templates that link tags (tag_href needs to know which tags are big: web/facets.py).
TAG_LINKING_TEMPLATES = {
    "aggregator_home.html",
    "aggregator_article.html",
    "table-aggregator-articles.html",
    "query-aggregator-search.html",
}

# The list pages whose cards carry their list (web/reading.py), and what kind of list each is.
LIST_TEMPLATES = {
    "table-aggregator-articles.html": "articles",
    "query-aggregator-search.html": "search",
}


def hookimpl(fn: F) -> F:
    """Datasette's hook marker, typed (it returns the function it marks)."""
    return cast(F, _hookimpl(fn))


def hookimpl_first(fn: F) -> F:
    """The marker for a hook that must run before Datasette's own implementations of it."""
    return cast(F, _hookimpl(tryfirst=True)(fn))


def tag_path(datasette: Any, name: str, count: int | None = None) -> str:
    """The articles page of one tag (`count`: how many articles carry it, if known)."""
    return f"{datasette.urls.table(DATABASE, 'articles')}?{facets.tag_query(name, count)}"


def tag_links(datasette: Any, value: Any) -> Markup:
    return Markup(
        " ".join(
            f'<a class="tag" href="{escape(tag_path(datasette, t))}">{escape(t)}</a>'
            for t in text.tag_list(value)
        )
    )


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Any:
    if database != DATABASE:
        return None
    if column == "snippet":
        return text.marked_snippet(value)
    if table in ("articles", "feeds") and column == "tags" and isinstance(value, str):
        return text.Deferred(lambda: tag_links(datasette, value))
    if table == "articles" and column == "title":
        keys = row.keys() if hasattr(row, "keys") else []
        if "id" in keys:
            href = datasette.urls.path(f"/{DATABASE}/articles/{int(row['id'])}")
            return Markup(f'<a class="title" href="{href}">{escape(value or "(untitled)")}</a>')
    if column in LONG_COLUMNS and isinstance(value, str) and len(value) > text.PREVIEW_CHARS:
        # Raw HTML and long text would swamp the table: a short plain-text preview instead.
        return text.Deferred(lambda: text.preview(value, is_html=column == "content_html"))
    return None


@hookimpl
def prepare_connection(conn: Any, database: str) -> None:
    if database == DATABASE:
        # Reads of a large collection touch scattered 32 KB pages (rows of one tag, snippets'
        # text): a 64 MB page cache per connection instead of SQLite's 2 MB, and the first
        # 2 GB of the file memory-mapped, so repeated pages are not read again through the OS.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA mmap_size = 2147418112")
    # The functions the canned `search` query calls (the store's search SQL).
    register_search_functions(conn)


@hookimpl
def handle_exception(datasette: Any, request: Any, exception: Exception) -> Any:
    return errors.handle(datasette, request, exception)


@hookimpl
def register_facet_classes() -> list[type]:
    return [facets.CountedFacet]


# first: Datasette's own filters (`_through`) read their arguments when they run
@hookimpl_first
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    async def inner() -> Any:
        if database == DATABASE:  # before any SQL is made of them (web/arguments.py)
            await arguments.check(request, datasette.get_database(database), table)
        return await facets.tag_filter(request, database, table, datasette)

    return inner


@hookimpl
def canned_queries(datasette: Any, database: str) -> dict[str, dict[str, Any]] | None:
    return queries.canned_queries() if database == DATABASE else None


@hookimpl
def prepare_jinja2_environment(env: Any) -> None:
    env.filters["marked_snippet"] = text.marked_snippet
    env.filters["tag_list"] = text.tag_list
    env.filters["short_date"] = text.short_date
    env.filters["reading_html"] = text.reading_html
    env.filters["facet_sort"] = text.facet_sort
    # A canned query shows SQLite's own message inline (not through handle_exception): the
    # search page says it in the reader's words instead.
    env.filters["plain_sql_error"] = errors.plain_sql_error


# Pages that take no form (below the base URL): a POST there gets a 405 in one line. Datasette
# 0.65 answers a POST to a table page with a 500 (an assertion) and to a read-only canned query
# with another (the reading room's are all read-only); on the others asgi-csrf answers first,
# in its own words ("Unknown content-type").
READ_ONLY = rf"({DATABASE}/[^/]+(/[^/]+)?|-/(dashboard|highlights|feeds)|)"


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    def wrap(app: Any) -> Any:
        config = settings.read(datasette)
        if not config.guarded:
            return app
        return security.wrap_app(
            app,
            datasette=datasette,
            allowed_hosts=config.allowed_hosts,
            security_headers=config.security_headers,
            require_auth=config.require_auth,
            read_only=re.compile(re.escape(datasette.urls.path("/")) + READ_ONLY),
        )

    return wrap


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins(PLUGIN, "reading.css")]


@hookimpl
def extra_template_vars(template: str, view_name: str, request: Any, datasette: Any) -> Any:
    async def inner() -> dict[str, Any]:
        found: dict[str, Any] = {
            "aggregator_nav": views.nav_links(datasette),
            "aggregator_auth": settings.read(datasette).require_auth,
            "current_path": request.path if request else "",
        }
        if request is not None and view_name in ("table", "database"):
            # Every page's CSV link (Datasette's templates included) gives the guarded CSV.
            found["url_csv"] = exports.csv_url(datasette, request)
            found["url_csv_path"] = found["url_csv"].split("?")[0]
        if request is not None and template == "query-aggregator-search.html":
            # What the query's reading changed (a short prefix searched as a word ...).
            found["search_notes"] = list(parse_query(request.args.get("q", "")).notes)
        if request is not None and template in LIST_TEMPLATES:
            # The list the cards are in: their links carry it (Previous / Next unread), and
            # Mark all as read marks it (web/reading.py). Search without words lists nothing.
            kind = LIST_TEMPLATES[template]
            ref = reading.list_of(kind, request.query_string)
            shown = kind == "articles" or bool(request.args.get("q"))
            found["reading_from"] = ref.value if shown else ""
            found["reading_marked"] = reading.marked_count(request)
        if template in TAG_LINKING_TEMPLATES and DATABASE in datasette.databases:
            big = {
                row[0]: row[1]
                for row in await datasette.get_database(DATABASE).execute(
                    "select name, article_count from tags where article_count > :big",
                    {"big": facets.BIG_TAG},
                )
            }
            found["tag_href"] = lambda name: tag_path(datasette, str(name), big.get(name))
        return found

    return inner


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    return [
        (r"^/$", views.home),
        (r"^/aggregator/articles/(?P<id>[0-9]{1,18})$", views.article),
        *highlights.routes(),
        (r"^/-/articles/(?P<id>[0-9]{1,18})/(?P<action>[a-z]{1,20})$", views.article_action),
        (r"^/-/save$", views.save),
        *reading.routes(),
        (r"^/-/dashboard$", views.dashboard),
        (r"^/-/subscribe$", adding.subscribe),
        (r"^/-/import$", adding.import_page),
        *feeds.routes(),
    ]


# The plugin's write routes (their paths below the base URL): each checks the CSRF token
# itself (views.check_csrf_token).
WRITE_ROUTES = re.compile(
    r"/-/(save|subscribe|import|mark-read|feeds/refresh-all|feeds/[0-9]{1,18}/[a-z]{1,20}"
    r"|articles/[0-9]{1,18}/[a-z]{1,20}|highlights/[0-9]{1,18}/delete)"
)


@hookimpl
def skip_csrf(datasette: Any, scope: Any) -> bool:
    """Datasette's CSRF middleware is skipped on the plugin's write routes, which check the
    token and the origin themselves with a message a person can act on (views.checked_form).
    The import form's upload needs it too: asgi-csrf 0.11 fails on every multipart body (it
    calls python-multipart with an argument it no longer takes)."""
    if scope.get("type") != "http":
        return False
    base = datasette.urls.path("/")
    path = str(scope.get("path", ""))
    return path.startswith(base) and bool(WRITE_ROUTES.fullmatch("/" + path[len(base) :]))


@hookimpl
def startup(datasette: Any) -> Any:
    """Feeds that refresh themselves: the schedule starts with the server (web/refresher.py)."""
    if settings.read(datasette).refresh_every <= 0 or DATABASE not in datasette.databases:
        return None

    async def inner() -> None:
        feeds.start_schedule(datasette)

    return inner


@hookimpl
def register_output_renderer(datasette: Any) -> list[dict[str, Any]]:
    return exports.renderers()


@hookimpl
def menu_links(datasette: Any, actor: Any) -> list[dict[str, str]]:
    return [
        {"href": datasette.urls.path("/-/dashboard"), "label": "Reading dashboard"},
        {"href": datasette.urls.path("/-/save"), "label": "Save a link"},
        {"href": datasette.urls.path("/-/import"), "label": "Import subscriptions or links"},
    ]
