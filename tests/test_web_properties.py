"""Every web request is its own failure domain, shown with generated input: Hypothesis builds
query strings and form bodies for every page and route the plugin serves (home, the articles
table with its filters, facets, sorts, search and page tokens, the tag page, the search and its
query language, the article page and its buttons, saving, subscribing, importing, the feeds page
and its buttons, highlights, the dashboard, mark-all-read, every export) and sends them to a real
Datasette with the plugin and metadata.yml, on a real SQLite file. Whatever comes: never a 500,
never a Python traceback, a 4xx says what went wrong in one short line a person can read, and
the next ordinary request still works. Examples are bounded so the file runs in well under a
minute."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import service, store
from aggregator.web.app import build_datasette
from tests.test_web import make_sample
from tests.webclient import get, post

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
# What a person must never be shown: the program's insides.
TECHNICAL = re.compile(
    r"Traceback|sqlite3|OperationalError|Expression tree|unterminated string|fts5|"
    r"syntax error|Invalid SQL|no such (column|table|function)|\bselect\b.+\bfrom\b|"
    r"Error 500|Internal Server Error",
    re.IGNORECASE,
)
MAX_MESSAGE = 300
# Ids as an address can carry them: the collection's, none, and past SQLite's 64-bit integers.
ids = st.one_of(
    st.integers(0, 9),
    st.sampled_from([2**63 - 1, 2**63, 10**30]),
    st.integers(0, 10**30),
)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_datasette(tmp_path_factory)


def make_datasette(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real Datasette with the plugin on the sample, a saved link and a highlight."""
    folder = tmp_path_factory.mktemp("webprops")
    path = folder / "reading.db"
    db = store.open_db(path)
    service.load_sample(db, make_sample(folder / "sample"))
    article_id, _ = store.save_link(
        db,
        "https://garden.example/compost",
        title="Compost",
        tags=["garden", "notes"],
        content={"text": "Turn the heap monthly.", "content_html": "<p>Turn the heap.</p>"},
    )
    store.add_highlight(db, article_id, "Turn the heap")
    db.conn.close()
    return build_datasette(path, fetch_saved=False)


@pytest.fixture(scope="module")
def visitor(ds: Any) -> dict[str, Any]:
    return visitor_of(ds)


def visitor_of(ds: Any) -> dict[str, Any]:
    """A visitor who has the page's CSRF cookie and token, as a browser has."""
    page = get(ds, "/-/save")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token
    return {"cookies": {"ds_csrftoken": page.cookies["ds_csrftoken"]}, "token": token.group(1)}


# ---------------------------------------------------------------------------------------------
# Generated values: text as a browser (or anyone) can put in an address or a form


def pct(value: str) -> str:
    """Percent-encoded as bytes, so a lone surrogate arrives as its (invalid) UTF-8 bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


QUERY_WORDS = [
    '"',
    '""',
    "-",
    "--",
    "*",
    "^",
    ":",
    "(",
    ")",
    "tag:",
    "feed:",
    "site:",
    "-tag:",
    "tag:garden",
    'feed:"Hostile Weekly"',
    "site:hostile.example",
    "OR",
    "AND",
    "NOT",
    "NEAR",
    "NEAR(a b)",
    "co*",
    "compost",
    "tulips",
    "café",
    "日本語",
    "\x00",
    "\ud800",
    "\udfff",
    "%",
    "'",
    ";",
    "\\",
    "\n",
    "\t",
    " ",
    "ß",
    "🙂",
    "<script>",
    "&amp;",
    "a" * 300,
]
hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(QUERY_WORDS),
    st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=8).map(" ".join),
    st.just("tulips " * 400),
    st.integers(-(2**70), 2**70).map(str),
)
raw_bytes = st.binary(max_size=12).map(lambda b: quote(b, safe=""))
value = st.one_of(hostile_text.map(pct), raw_bytes)

ARTICLE_ARGS = [
    "_tag",
    "tags__arraycontains",
    "_facet",
    "_facet_size",
    "_sort",
    "_sort_desc",
    "_search",
    "_search_title",
    "_next",
    "_size",
    "_col",
    "_nocol",
    "_shape",
    "_nocount",
    "_nofacet",
    "_labels",
    "_marked",
    "state",
    "starred",
    "feed_title",
    "site",
    "feed_id",
    "saved",
    "title__contains",
    "published_month__gt",
    "id__in",
    "tags__arraycontains",
    "_group_by",
    "_dl",
    "_searchmode",
    "nonsense",
    "",
]
SEARCH_ARGS = ["q", "tag", "feed", "sort", "_size", "_shape", "_next", "nonsense"]


def query_of(names: list[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(st.one_of(st.sampled_from(names), hostile_text.map(pct)), value)
    return st.lists(pair, max_size=6).map(lambda ps: "&".join(f"{k}={v}" for k, v in ps))


def many(name: str) -> st.SearchStrategy[str]:
    """One argument repeated up to 1,500 times (as edited or bookmarked addresses can)."""
    return st.integers(0, 1_500).map(lambda n: "&".join(f"{name}=t{i}" for i in range(n)))


# ---------------------------------------------------------------------------------------------
# What every answer must be


def message_of(response: Any) -> str | None:
    """The one-line message of an error answer, as the person sees it."""
    kind = response.headers.get("content-type", "")
    text = str(response.text)
    if "json" in kind:
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return str(data.get("error") or data.get("title") or "") if isinstance(data, dict) else text
    if "html" in kind:
        found = re.search(r'border: 3px solid red;">(.*?)</div>', text, re.S) or re.search(
            r'class="[^"]*message-error[^"]*"[^>]*>(.*?)</', text, re.S
        )
        return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None
    return text.strip()


def humane(ds: Any, response: Any, what: str) -> None:
    status = response.status_code
    assert status < 500, f"{what}: {status}"
    text = response.text
    assert "Traceback (most recent call last)" not in text, what
    if 400 <= status < 500:
        message = message_of(response)
        assert message, f"{what}: a {status} without a message"
        assert len(message) <= MAX_MESSAGE and "\n" not in message, f"{what}: {message[:500]!r}"
        assert not TECHNICAL.search(message), f"{what}: {message[:500]!r}"
    # and the reading room still answers the next request
    assert get(ds, "/aggregator/articles?_size=2").status_code == 200


def visit(ds: Any, path: str) -> None:
    humane(ds, get(ds, path), f"GET {path[:300]}")


def send(ds: Any, visitor: dict[str, Any], path: str, form: dict[str, str], **kwargs: Any) -> None:
    response = post(
        ds,
        path,
        data={"csrftoken": visitor["token"], **form},
        cookies=visitor["cookies"],
        **kwargs,
    )
    humane(ds, response, f"POST {path[:200]} {str(form)[:300]}")


# ---------------------------------------------------------------------------------------------
# Reading pages


TABLE_FORMATS = ["", ".json", ".csv", ".safecsv", ".md", ".atom", ".bookmarks"]


@SETTINGS
@given(fmt=st.sampled_from(TABLE_FORMATS), query=query_of(ARTICLE_ARGS))
def test_the_articles_table_and_its_exports_take_any_arguments(
    ds: Any, fmt: str, query: str
) -> None:
    visit(ds, f"/aggregator/articles{fmt}?{query}")


@SETTINGS
@given(
    fmt=st.sampled_from(["", ".json", ".md"]),
    name=st.sampled_from(["_tag", "tags__arraycontains", "_facet", "title__contains"]),
    repeated=st.integers(0, 1_500),
)
def test_a_page_with_a_thousand_filters_says_so(
    ds: Any, fmt: str, name: str, repeated: int
) -> None:
    query = "&".join(f"{name}=t{i}" for i in range(repeated))
    visit(ds, f"/aggregator/articles{fmt}?{query}")


@SETTINGS
@given(
    fmt=st.sampled_from(["", ".json", ".csv", ".md", ".safecsv"]),
    query=query_of(SEARCH_ARGS),
    words=st.lists(st.sampled_from(QUERY_WORDS), max_size=1_200).map(" ".join),
)
def test_the_search_takes_any_query(ds: Any, fmt: str, query: str, words: str) -> None:
    visit(ds, f"/aggregator/search{fmt}?{query}")
    visit(ds, f"/aggregator/search{fmt}?q={pct(words)}")


@SETTINGS
@given(
    article=ids,
    query=query_of(["from", "done", "saved", "highlight", "nonsense"]),
    source=st.one_of(
        query_of(ARTICLE_ARGS).map(lambda q: pct("articles?") + pct(q)),
        query_of(SEARCH_ARGS).map(lambda q: pct("search?") + pct(q)),
        many("_tag").map(lambda q: pct("articles?" + q)),
    ),
)
def test_the_article_page_takes_any_arguments(
    ds: Any, article: int, query: str, source: str
) -> None:
    visit(ds, f"/aggregator/articles/{article}?{query}")
    visit(ds, f"/aggregator/articles/{article}?from={source}")
    visit(ds, f"/-/mark-read?from={source}")


@SETTINGS
@given(
    path=st.sampled_from(
        [
            "/",
            "/-/dashboard",
            "/-/highlights",
            "/-/highlights.md",
            "/-/feeds",
            "/-/feeds/progress.json",
            "/-/feeds/subscriptions.opml",
            "/-/save",
            "/-/subscribe",
            "/-/import",
            "/-/mark-read",
            "/-/feeds/1/unsubscribe",
            "/-/feeds/999/unsubscribe",
            "/-/feeds/1/pause",
            "/-/articles/1/star",
            "/-/highlights/1/delete",
            "/aggregator/tags",
            "/aggregator/feeds",
            "/aggregator",
        ]
    ),
    query=query_of(["tag", "sort", "url", "title", "tags", "note", "from", "back", "nonsense"]),
)
def test_every_other_page_takes_any_arguments(ds: Any, path: str, query: str) -> None:
    visit(ds, f"{path}?{query}")


# ---------------------------------------------------------------------------------------------
# Forms


form_value = hostile_text.map(lambda s: s.encode("utf-8", "replace").decode("utf-8"))


@SETTINGS
@given(
    article=ids,
    action=st.sampled_from(
        ["star", "unstar", "archive", "unarchive", "read", "unread", "tags", "highlight", "zap"]
    ),
    form=st.fixed_dictionaries(
        {},
        optional={"tags": form_value, "from": form_value, "quote": form_value, "note": form_value},
    ),
)
def test_the_article_buttons_take_any_form(
    ds: Any, visitor: dict[str, Any], article: int, action: str, form: dict[str, str]
) -> None:
    send(ds, visitor, f"/-/articles/{article}/{action}", form)


@SETTINGS
@given(
    form=st.fixed_dictionaries(
        {},
        optional={"url": form_value, "title": form_value, "tags": form_value, "note": form_value},
    )
)
def test_saving_takes_any_form(ds: Any, visitor: dict[str, Any], form: dict[str, str]) -> None:
    # no network: addresses the save form accepts are downloaded only with fetch_saved
    send(ds, visitor, "/-/save", form)


@settings(SETTINGS, max_examples=15)
@given(
    url=st.one_of(
        form_value.map(lambda s: "http://127.0.0.1:9/" + s),  # refused by the address policy
        st.sampled_from(["", " ", "\x00", "javascript:alert(1)", "file:///etc/passwd", "::"]),
    ),
    tags=form_value,
)
def test_subscribing_takes_any_form(ds: Any, visitor: dict[str, Any], url: str, tags: str) -> None:
    send(ds, visitor, "/-/subscribe", {"url": url, "tags": tags})


@settings(SETTINGS, max_examples=15)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.sampled_from(
            [b"<opml><body><outline xmlUrl='\x00'/></body></opml>", b"[{}]", b"{}", b"\xff\xfe"]
        ),
    ),
    fmt=st.one_of(st.sampled_from(["auto", "opml", "pocket", "json"]), form_value),
    name=form_value,
    tags=form_value,
)
def test_importing_takes_any_file(
    ds: Any, visitor: dict[str, Any], body: bytes, fmt: str, name: str, tags: str
) -> None:
    send(
        ds,
        visitor,
        "/-/import",
        {"format": fmt, "tags": tags},
        files={"file": (name or "f", body)},
    )


@SETTINGS
@given(
    feed=st.one_of(st.integers(1, 4), st.integers(10**17, 10**18 - 1)),
    action=st.sampled_from(["pause", "resume", "fulltext", "zap"]),
    choice=st.one_of(st.sampled_from(["auto", "always", "never"]), form_value),
    sort=value,
)
def test_the_feed_buttons_take_any_form(
    ds: Any, visitor: dict[str, Any], feed: int, action: str, choice: str, sort: str
) -> None:
    send(ds, visitor, f"/-/feeds/{feed}/{action}?sort={sort}", {"full_text": choice})


@SETTINGS
@given(
    source=st.one_of(
        form_value,
        query_of(ARTICLE_ARGS).map(lambda q: "articles?" + q),
        query_of(SEARCH_ARGS).map(lambda q: "search?" + q),
    )
)
def test_mark_all_as_read_takes_any_list(ds: Any, visitor: dict[str, Any], source: str) -> None:
    send(ds, visitor, "/-/mark-read", {"from": source})


@SETTINGS
@given(highlight=ids, back=value)
def test_removing_a_highlight_takes_any_form(
    ds: Any, visitor: dict[str, Any], highlight: int, back: str
) -> None:
    send(ds, visitor, f"/-/highlights/{highlight}/delete?back={back}", {})
