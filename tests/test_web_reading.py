"""The reading flow through Datasette's ASGI client over the shipped sample: opening an article
marks it read (unless the instance's setting says not to), Previous / Next unread within the
list it was opened from, Mark all as read of one list (confirmation, CSRF, nothing else
changed), and the home page's unread counts per feed and per tag."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from aggregator import service, store
from aggregator.web import facets, reading
from aggregator.web.app import build_datasette, packaged_metadata
from tests.webclient import get, post

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TAG = "science"





@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "reading.db"
    db = store.open_db(path)
    service.load_sample(db, SAMPLE)
    db.conn.close()
    return path


@pytest.fixture
def ds(db_file: Path) -> Any:
    return build_datasette(db_file, fetch_saved=False)


def states(db_file: Path) -> dict[int, str]:
    db = store.open_db(db_file, migrate=False)
    try:
        return {int(r[0]): str(r[1]) for r in db.execute("select id, state from articles")}
    finally:
        db.conn.close()


def tagged(db_file: Path, tag: str) -> set[int]:
    db = store.open_db(db_file, migrate=False)
    try:
        sql = (
            "select at.article_id from articles_tags at join tags t on t.id = at.tag_id "
            "where t.name = ?"
        )
        return {int(r[0]) for r in db.execute(sql, [tag])}
    finally:
        db.conn.close()


def card_links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'class="card-link" href="([^"]+)"', page)]


def card_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card[^"]*" data-id="([0-9]+)"', page)]


def rel_link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}"[^>]*href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def id_of(href: str) -> int:
    found = re.search(r"/articles/([0-9]+)", href)
    assert found, href
    return int(found.group(1))


def csrf(ds: Any, path: str) -> tuple[str, str]:
    response = get(ds, path)
    assert response.status_code == 200, response.text[:300]
    token = re.search(r'name="csrftoken" value="([^"]+)"', response.text)
    assert token
    return response.cookies["ds_csrftoken"], token.group(1)


def test_opening_an_unread_article_marks_it_read_and_leaves_others_as_they_are(
    ds: Any, db_file: Path
) -> None:
    before = states(db_file)
    unread = next(i for i, s in before.items() if s == "unread")
    archived = next(i for i, s in before.items() if s == "archived")
    page = get(ds, f"/aggregator/articles/{unread}")
    assert page.status_code == 200
    assert "Mark unread" in page.text  # the page shows the state it now has
    get(ds, f"/aggregator/articles/{archived}")
    after = states(db_file)
    assert after[unread] == "read"
    assert after[archived] == "archived"
    assert {i: s for i, s in after.items() if i != unread} == {
        i: s for i, s in before.items() if i != unread
    }


def test_mark_unread_on_the_article_page_stays_unread(ds: Any, db_file: Path) -> None:
    unread = next(i for i, s in states(db_file).items() if s == "unread")
    cookie, token = csrf(ds, f"/aggregator/articles/{unread}")
    assert states(db_file)[unread] == "read"
    done = post(
        ds,
        f"/-/articles/{unread}/unread",
        data={"csrftoken": token},
        cookies={"ds_csrftoken": cookie},
    )
    assert done.status_code == 303
    # the page it goes back to does not mark the article read again
    back = get(ds, done.headers["location"])
    assert back.status_code == 200
    assert states(db_file)[unread] == "unread"


def test_the_setting_turns_marking_on_open_off(db_file: Path, tmp_path: Path) -> None:
    metadata = yaml.safe_load(packaged_metadata().read_text(encoding="utf-8"))
    metadata["plugins"]["aggregator"]["mark_read_on_open"] = False
    path = tmp_path / "metadata.yml"
    path.write_text(yaml.safe_dump(metadata), encoding="utf-8")
    quiet = build_datasette(db_file, metadata_path=path, fetch_saved=False)
    unread = next(i for i, s in states(db_file).items() if s == "unread")
    assert get(quiet, f"/aggregator/articles/{unread}").status_code == 200
    assert states(db_file)[unread] == "unread"


def test_next_unread_and_previous_follow_the_tag_list_it_was_opened_from(
    ds: Any, db_file: Path
) -> None:
    # the page a tag's link leads to (web/facets.py: the plugin's own tag argument)
    listing = get(ds, f"/aggregator/articles?{facets.tag_query(TAG, None)}")
    ids = card_ids(listing.text)
    links = card_links(listing.text)
    assert len(ids) == len(links) >= 5
    assert set(ids) == tagged(db_file, TAG)
    before = states(db_file)
    # open the second card: Previous is the first, Next unread the first unread after it
    page = get(ds, links[1])
    assert page.status_code == 200
    expected_next = next(i for i in ids[2:] if before[i] == "unread")
    assert id_of(rel_link(page.text, "prev") or "") == ids[0]
    next_href = rel_link(page.text, "next") or ""
    assert id_of(next_href) == expected_next
    assert "from=" in next_href  # the list goes on with the reader
    # following Next unread again and again visits the list's unread articles in its order,
    # and each of them becomes read
    visited = []
    href: str | None = next_href
    while href:
        visited.append(id_of(href))
        href = rel_link(get(ds, href).text, "next")
    assert visited == [i for i in ids[2:] if before[i] == "unread"]
    after = states(db_file)
    assert all(after[i] == "read" for i in visited)


def test_a_list_of_unread_articles_keeps_its_order_as_they_are_read(
    ds: Any, db_file: Path
) -> None:
    listing = get(ds, "/aggregator/articles?state=unread")
    ids = card_ids(listing.text)
    page = get(ds, card_links(listing.text)[0])
    assert id_of(rel_link(page.text, "next") or "") == ids[1]
    assert rel_link(page.text, "prev") is None
    second = get(ds, rel_link(page.text, "next") or "")
    # the first is read now, so it left the list; the next one is the list's third
    assert id_of(rel_link(second.text, "next") or "") == ids[2]


def test_search_results_carry_their_list(ds: Any, db_file: Path) -> None:
    results = get(ds, "/aggregator/search?q=the&sort=newest")
    ids = card_ids(results.text)
    links = card_links(results.text)
    assert len(ids) >= 3
    assert all("from=search" in h for h in links)
    before = states(db_file)
    page = get(ds, links[0])
    expected = next((i for i in ids[1:] if before[i] == "unread"), None)
    assert expected is not None
    assert id_of(rel_link(page.text, "next") or "") == expected


def test_an_article_opened_without_a_list_or_with_a_strange_one_has_no_neighbours(
    ds: Any, db_file: Path
) -> None:
    some = next(iter(states(db_file)))
    for suffix in ("", "?from=feeds", "?from=" + quote("x" * 5000), "?from=articles%3Fid%3D0"):
        page = get(ds, f"/aggregator/articles/{some}{suffix}")
        assert page.status_code == 200
        assert rel_link(page.text, "next") is None
        assert rel_link(page.text, "prev") is None


def test_from_keeps_only_what_makes_the_list() -> None:
    ref = reading.list_of(
        "articles",
        "tags__arraycontains=a&_next=5&_facet=x&_sort_desc=published&state=unread&_tag=b",
    )
    assert ref.args == (
        ("tags__arraycontains", "a"),
        ("_sort_desc", "published"),
        ("state", "unread"),
        ("_tag", "b"),
    )
    assert reading.parse_from(ref.value) == ref
    assert reading.list_of("search", "q=x&_next=2&tag=t").args == (("q", "x"), ("tag", "t"))
    assert reading.parse_from("feeds?x=1") is None
    assert reading.parse_from("") is None


def test_mark_all_as_read_on_a_tag_list_changes_that_tag_only(ds: Any, db_file: Path) -> None:
    before = states(db_file)
    in_tag = tagged(db_file, TAG)
    assert any(before[i] == "unread" for i in in_tag)
    listing = get(ds, f"/aggregator/articles?tags__arraycontains={TAG}")
    form = re.search(r'<form method="get" action="(/-/mark-read)"[^>]*>\s*<input type="hidden" '
                     r'name="from" value="([^"]+)"', listing.text)
    assert form, "the list has a Mark all as read button"
    from_value = html.unescape(form.group(2))
    confirm = get(ds, f"/-/mark-read?from={quote(from_value)}")
    assert confirm.status_code == 200
    count = sum(1 for i in in_tag if before[i] == "unread")
    assert f"Mark {count} as read" in confirm.text
    assert states(db_file) == before  # the confirmation changes nothing
    cookie = confirm.cookies.get("ds_csrftoken") or get(ds, "/").cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', confirm.text)
    assert token
    done = post(
        ds,
        "/-/mark-read",
        data={"csrftoken": token.group(1), "from": from_value},
        cookies={"ds_csrftoken": cookie},
    )
    assert done.status_code == 303
    assert f"_marked={count}" in done.headers["location"]
    after = states(db_file)
    assert not any(after[i] == "unread" for i in in_tag)
    assert all(after[i] == "archived" for i in in_tag if before[i] == "archived")
    assert {i: s for i, s in after.items() if i not in in_tag} == {
        i: s for i, s in before.items() if i not in in_tag
    }
    back = get(ds, done.headers["location"])
    assert f"Marked {count} articles as read." in back.text


def test_mark_all_as_read_needs_the_token_and_the_same_site(ds: Any, db_file: Path) -> None:
    before = states(db_file)
    cookie, token = csrf(ds, "/-/mark-read?from=articles")
    form = {"from": "articles"}
    refused = [
        post(ds, "/-/mark-read", data=form, cookies={"ds_csrftoken": cookie}),
        post(ds, "/-/mark-read", data={**form, "csrftoken": token}),
        post(
            ds,
            "/-/mark-read",
            data={**form, "csrftoken": token},
            cookies={"ds_csrftoken": cookie},
            headers={"origin": "https://evil.example"},
        ),
        post(
            ds,
            "/-/mark-read",
            data={**form, "csrftoken": token},
            cookies={"ds_csrftoken": cookie},
            headers={"sec-fetch-site": "cross-site"},
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert states(db_file) == before


def expected_unread(db_file: Path) -> tuple[dict[str, int], dict[str, int]]:
    db = store.open_db(db_file, migrate=False)
    try:
        feeds = db.execute(
            "select feed_title, count(*) from articles where state = 'unread' "
            "and feed_title is not null group by feed_title"
        ).fetchall()
        tags = db.execute(
            "select t.name, count(*) from articles a join articles_tags at on at.article_id = a.id "
            "join tags t on t.id = at.tag_id where a.state = 'unread' group by t.id"
        ).fetchall()
    finally:
        db.conn.close()
    return {str(k): int(n) for k, n in feeds}, {str(k): int(n) for k, n in tags}


def shown_unread(ds: Any) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    home = get(ds, "/")
    assert home.status_code == 200
    section = home.text.split('id="unread"', 1)[1].split("</section>", 1)[0]
    parts = section.split('class="unread-tags"', 1)
    row = re.compile(r'<a (?:class="tag" )?href="([^"]+)">([^<]+)</a> <span class="n">([0-9,]+)<')
    feeds = {html.unescape(t): int(n.replace(",", "")) for _, t, n in row.findall(parts[0])}
    tags = {html.unescape(t): int(n.replace(",", "")) for _, t, n in row.findall(parts[1])}
    links = {html.unescape(t): html.unescape(h) for h, t, _ in row.findall(section)}
    return feeds, tags, links


def test_home_shows_unread_counts_per_feed_and_per_tag(ds: Any, db_file: Path) -> None:
    # most articles unread, then most read: the counts are right either way
    for round_ in range(2):
        want_feeds, want_tags = expected_unread(db_file)
        feeds, tags, links = shown_unread(ds)
        assert feeds == dict(sorted(want_feeds.items(), key=lambda kv: -kv[1])[:40])
        assert tags == dict(sorted(want_tags.items(), key=lambda kv: -kv[1])[:40])
        # each count links to that feed's or tag's unread articles
        top_feed = max(feeds, key=lambda k: feeds[k])
        assert len(card_ids(get(ds, links[top_feed]).text)) == feeds[top_feed]
        top_tag = max(tags, key=lambda k: tags[k])
        assert len(card_ids(get(ds, links[top_tag]).text)) == tags[top_tag]
        if round_ == 0:
            db = store.open_db(db_file, migrate=False)
            try:
                unread = [i for i, s in states(db_file).items() if s == "unread"]
                for article in unread[: len(unread) * 3 // 4]:
                    store.set_state(db, article, state="read")
            finally:
                db.conn.close()


def test_neighbours_and_mark_all_work_behind_a_login(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasette_auth_passwords.utils import hash_password

    monkeypatch.setenv("AGGREGATOR_PASSWORD_HASH", hash_password("s3cret", iterations=1000))
    guarded = build_datasette(db_file, host="0.0.0.0", allow_hosts=["reader.lan"], auth=True,
                              fetch_saved=False)
    host = {"host": "reader.lan"}
    login = get(guarded, "/-/login", headers=host)
    cookie = login.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', login.text)
    assert token
    good = post(
        guarded,
        "/-/login",
        data={"username": "reader", "password": "s3cret", "csrftoken": token.group(1)},
        cookies={"ds_csrftoken": cookie},
        headers=host,
    )
    cookies = {"ds_actor": good.cookies["ds_actor"], "ds_csrftoken": cookie}
    listing = get(guarded, f"/aggregator/articles?tags__arraycontains={TAG}", cookies=cookies,
                  headers=host)
    ids = card_ids(listing.text)
    before = states(db_file)
    page = get(guarded, card_links(listing.text)[0], cookies=cookies, headers=host)
    assert page.status_code == 200
    expected = next(i for i in ids[1:] if before[i] == "unread")
    assert id_of(rel_link(page.text, "next") or "") == expected
    # without the login the confirmation is not shown and nothing is marked
    assert get(guarded, "/-/mark-read?from=articles%3Fstate%3Dunread", headers=host
               ).status_code == 302
    confirm = get(guarded, f"/-/mark-read?from={quote('articles?tags__arraycontains=' + TAG)}",
                  cookies=cookies, headers=host)
    assert confirm.status_code == 200 and "as read</button>" in confirm.text


def test_mark_all_as_read_of_search_results_and_of_a_filtered_table(
    ds: Any, db_file: Path
) -> None:
    before = states(db_file)
    results = get(ds, "/aggregator/search?q=the&sort=newest")
    shown = set(card_ids(results.text))
    form = re.search(r'name="from" value="([^"]+)"', results.text)
    assert form and shown
    cookie, token = csrf(ds, f"/-/mark-read?from={quote(html.unescape(form.group(1)))}")
    done = post(
        ds,
        "/-/mark-read",
        data={"csrftoken": token, "from": html.unescape(form.group(1))},
        cookies={"ds_csrftoken": cookie},
    )
    assert done.status_code == 303 and "/aggregator/search?" in done.headers["location"]
    after = states(db_file)
    assert not any(after[i] == "unread" for i in shown)
    assert {i: s for i, s in after.items() if i not in shown} == {
        i: s for i, s in before.items() if i not in shown
    }
    # the table's full-text filter and a column filter make the list too
    listing = get(ds, "/aggregator/articles?_search=moon&state=unread")
    in_list = set(card_ids(listing.text))
    assert in_list
    ref = html.unescape(re.search(r'name="from" value="([^"]+)"', listing.text).group(1))
    assert "_search=moon" in ref
    post(ds, "/-/mark-read", data={"csrftoken": token, "from": ref},
         cookies={"ds_csrftoken": cookie})
    final = states(db_file)
    assert all(final[i] == "read" for i in in_list)
    assert {i: s for i, s in final.items() if i not in in_list} == {
        i: s for i, s in after.items() if i not in in_list
    }
