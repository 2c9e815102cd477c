"""The failures tests/test_web_properties.py found, each as the smallest example a person could
meet (a thousand filters, an unknown column, a NUL, an id past SQLite's integers, a long refused
address, a list cut short), and generated cookies and headers: each answered with a page or a
short refusal in words, never a traceback."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.web.app import build_datasette
from tests import test_web_properties as props
from tests.webclient import get, post


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return props.make_datasette(tmp_path_factory)


@pytest.fixture(scope="module")
def visitor(ds: Any) -> dict[str, Any]:
    return props.visitor_of(ds)



def error_of(response: Any) -> str:
    message = props.message_of(response)
    assert message is not None
    return message


def test_a_thousand_tags_get_one_sentence_and_thirty_still_work(ds: Any) -> None:
    thousand = "&".join(f"_tag=t{i}" for i in range(1_000))
    page = get(ds, f"/aggregator/articles?{thousand}")
    assert page.status_code == 400
    assert error_of(page) == (
        "Too many filters at once (1,000): at most 30. Remove some of them to see the list."
    )
    as_json = get(ds, f"/aggregator/articles.json?{thousand}")
    assert as_json.status_code == 400 and as_json.json()["error"].startswith("Too many filters")
    thirty = "&".join(["_tag=garden", *(f"_tag=t{i}" for i in range(29))])
    assert get(ds, f"/aggregator/articles?{thirty}").status_code == 200


def test_a_sort_facet_or_filter_by_no_column_is_a_400_that_names_it(ds: Any) -> None:
    cases = {
        "_sort=nope": "There is no column 'nope' to sort by.",
        "_sort_desc=nope": "There is no column 'nope' to sort by.",
        "_facet=nope": "There is no column 'nope' to filter or count by.",
        "nope=1": "There is no column 'nope' to filter or count by.",
        "_sort=title&_sort_desc=title": "Sort by one column at a time: _sort or _sort_desc, not both.",
        "_through=nope": "_through must be a JSON object with table, column and value.",
    }
    for query, message in cases.items():
        page = get(ds, f"/aggregator/articles?{query}")
        assert (page.status_code, error_of(page)) == (400, message), query
    assert get(ds, "/aggregator/feeds?_sort=nope").status_code == 400  # every table
    long_name = get(ds, f"/aggregator/articles?{'x' * 5_000}=1")
    assert long_name.status_code == 400 and len(error_of(long_name)) < 120


def test_a_nul_in_the_address_is_refused_in_words(ds: Any) -> None:
    """In a name, a sort or a search; a filter's value is bound as a parameter and finds
    nothing (tests/test_tag_page.py)."""
    assert get(ds, "/aggregator/articles?_tag=a%00b&title=a%00b").status_code == 200
    for query in ("_search=%00", "%00=1", "_sort_desc=%00", "_facet=%00"):
        page = get(ds, f"/aggregator/articles?{query}")
        assert page.status_code == 400, query
        assert (
            error_of(page)
            == "The address contains a NUL character, which no filter or search uses."
        )


def test_a_search_sqlite_cannot_read_says_so_without_its_error(ds: Any) -> None:
    page = get(ds, "/aggregator/articles?_searchmode=raw&_search=%22")
    assert page.status_code == 400
    assert error_of(page) == "The search could not be read: check its quotes."


def test_the_search_page_says_a_query_error_in_words(ds: Any) -> None:
    # A canned query's SQLite error is shown inline by the page's template, not through the
    # error hook; the template passes it through the same words as every other page.
    template = ds.jinja_env.get_template("query-aggregator-search.html")
    source = ds.jinja_env.loader.get_source(ds.jinja_env, template.name)[0]
    assert "error|string|plain_sql_error" in source
    said = ds.jinja_env.from_string("{{ error|string|plain_sql_error }}").render(
        error=sqlite3.OperationalError('fts5: syntax error near "AND"')
    )
    assert said == "The search could not be read: check its quotes and operators."


def test_an_id_past_sqlite_integers_is_not_found(ds: Any, visitor: dict[str, Any]) -> None:
    big = 2**63
    assert get(ds, f"/aggregator/articles/{big}").status_code == 404
    assert get(ds, f"/aggregator/articles/{2**63 - 1}").status_code == 404
    for path in (f"/-/articles/{big}/star", f"/-/highlights/{big}/delete"):
        response = post(ds, path, data={"csrftoken": visitor["token"]}, cookies=visitor["cookies"])
        assert response.status_code == 404, path


def test_an_address_that_cannot_be_saved_is_quoted_on_one_short_line(
    ds: Any, visitor: dict[str, Any]
) -> None:
    response = post(
        ds,
        "/-/save",
        data={"csrftoken": visitor["token"], "url": "0\n0" + "x" * 5_000},
        cookies=visitor["cookies"],
    )
    assert response.status_code == 400
    message = error_of(response)
    assert message.startswith("Not a web address that can be saved: 0 0xxx")
    assert len(message) < 150


def test_a_list_with_more_arguments_than_kept_is_never_marked_as_a_broader_list(
    ds: Any, visitor: dict[str, Any]
) -> None:
    """Cut to its first 40 arguments, a list of 41 tags would be the list of the first 40:
    more articles than the page showed."""
    before = get(ds, "/aggregator/articles.json?state=unread&_size=max&_col=state").json()
    tags = "&".join([*(f"_tag=t{i}" for i in range(40)), "_tag=garden"])
    response = post(
        ds,
        "/-/mark-read",
        data={"csrftoken": visitor["token"], "from": f"articles?{tags}"},
        cookies=visitor["cookies"],
    )
    assert response.status_code == 400
    assert error_of(response) == "Which list? The form names none."
    after = get(ds, "/aggregator/articles.json?state=unread&_size=max&_col=state").json()
    assert after["rows"] == before["rows"]


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=60,
)


@props.SETTINGS
@given(
    path=st.sampled_from(
        ["/", "/aggregator/articles", "/aggregator/articles/1", "/-/feeds", "/-/save"]
    ),
    cookies=st.dictionaries(
        st.sampled_from(["ds_csrftoken", "ds_messages", "ds_actor", "x"]), header_text, max_size=3
    ),
    headers=st.dictionaries(
        st.sampled_from(["origin", "sec-fetch-site", "content-type", "accept", "referer"]),
        header_text,
        max_size=3,
    ),
    method=st.sampled_from(["GET", "POST"]),
)
def test_any_cookies_and_headers_get_a_page_or_a_short_refusal(
    ds: Any, path: str, cookies: dict[str, str], headers: dict[str, str], method: str
) -> None:
    # a raw Cookie header: the client's cookie jar would refuse some of these values
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    sent = {
        k: v.encode("latin-1") for k, v in {**headers, **({"cookie": jar} if jar else {})}.items()
    }
    if method == "GET":
        response = get(ds, path, headers=sent)
    else:
        response = post(ds, path, headers=sent, content=b"url=x&csrftoken=y")
    props.humane(ds, response, f"{method} {path} {sent!r}")


def test_a_form_refused_for_its_token_says_to_reload(ds: Any, visitor: dict[str, Any]) -> None:
    """Datasette's CSRF middleware answered these "form-urlencoded POST field did not match
    cookie"; the plugin's routes check the token themselves."""
    wrong = post(
        ds,
        "/-/save",
        data={"csrftoken": "x", "url": "https://a.example/"},
        cookies=visitor["cookies"],
    )
    assert (wrong.status_code, error_of(wrong)) == (
        403,
        "CSRF token missing or wrong: reload the page and try again",
    )
    # a token of another server (or of this one before a restart): equal in cookie and form
    other = build_datasette(":memory:", fetch_saved=False).sign("x", "csrftoken")
    expired = post(
        ds,
        "/-/save",
        data={"csrftoken": other, "url": "https://a.example/"},
        cookies={"ds_csrftoken": other},
    )
    assert (expired.status_code, error_of(expired)) == (
        403,
        "This form has expired: reload the page and try again",
    )


def test_a_cookie_that_is_not_utf8_does_not_break_the_pages(
    ds: Any, visitor: dict[str, Any]
) -> None:
    """Another program on localhost (any port) can set cookies of any bytes for it."""
    jar = f"other=\xe9t\xe9; ds_csrftoken={visitor['cookies']['ds_csrftoken']}"
    cookie = {"cookie": jar.encode("latin-1")}
    assert get(ds, "/", headers=cookie).status_code == 200
    saved = post(
        ds,
        "/-/save",
        headers=cookie,
        data={"csrftoken": visitor["token"], "url": "https://cookie.example/"},
    )
    assert saved.status_code == 303


def test_a_post_to_a_page_that_takes_no_form_is_a_405(ds: Any, visitor: dict[str, Any]) -> None:
    """Datasette 0.65 answered a POST to a table page or a read-only canned query with a 500,
    and asgi-csrf answered others "Unknown content-type"."""
    for path in ("/aggregator/articles", "/aggregator/search.json", "/", "/aggregator/articles/1"):
        response = post(ds, path, data={"csrftoken": "x"}, cookies=visitor["cookies"])
        assert (response.status_code, response.text) == (
            405,
            "Method not allowed: this page takes no form.\n",
        ), path


def test_a_refused_subscription_says_why_on_one_line(ds: Any, visitor: dict[str, Any]) -> None:
    response = post(
        ds,
        "/-/subscribe",
        data={"csrftoken": visitor["token"], "url": 'http://127.0.0.1:9/\n "'},
        cookies=visitor["cookies"],
    )
    assert response.status_code == 422
    message = error_of(response)
    assert message.startswith("Nothing was subscribed: ") and "\n" not in message
