"""Reading articles back: filters, export rows, and full-text search: the one definition of the
search SQL and its ranking (run by `aggregator search` and, as the canned query `search`, by the
web) and the SQL functions it calls.

Two orders, chosen by the `:sort` parameter:
- `relevance` (best match, the default): bm25 over the whole index, the title weighted above the
  rest (BM25_WEIGHTS). A query of one word or one prefix that many articles contain reads the
  precomputed list of its best articles (store.ranking) and scores only the articles added since;
  any other query scores all its matches.
- `newest`: the NEWEST_CANDIDATES most recently stored matches, newest first by date.
"""

from __future__ import annotations

import functools
import html
import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..query import ParsedQuery, parse_query, snippet, snippet_text
from .articles import normalise_tags
from .connection import _rows
from .highlights import highlights_by_article

if TYPE_CHECKING:
    import sqlite_utils


_SELECT_ARTICLE = """
    SELECT a.id, a.url, a.title, a.author, a.published, a.updated, f.url AS feed_url,
           a.feed_title AS feed_title, a.site, a.tags, a.text, a.content_html, a.excerpt,
           a.saved, a.saved_at, a.state, a.starred, a.note, a.word_count, a.reading_time,
           a.lang, a.image, a.site_name
    FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
"""


def _article_dict(row: dict[str, Any]) -> dict[str, Any]:
    row["tags"] = json.loads(row.get("tags") or "[]")
    row["saved"] = bool(row["saved"])
    row["starred"] = bool(row["starred"])
    if row.get("feed_url") is None:
        row["feed_title"] = None
    return row


SORTS = ("relevance", "newest")
DEFAULT_SORT = "relevance"
SEARCH_PAGE = 50  # rows of the web's search page
NEWEST_CANDIDATES = 1_000  # `newest` orders by date the most recently stored matches, this many
# bm25 weight of each column of articles_fts, in its order: title, text, author, feed_title
BM25_WEIGHTS = (10.0, 1.0, 2.0, 1.0)
BM25 = "bm25(articles_fts, " + ", ".join(str(w) for w in BM25_WEIGHTS) + ")"


# --- the SQL functions the search SQL calls --------------------------------------------------


@functools.lru_cache(maxsize=64)
def _parsed(q: str | None, tag: str | None = None, feed: str | None = None) -> ParsedQuery:
    extra = " ".join(f'{key}:"{value}"' for key, value in (("tag", tag), ("feed", feed)) if value)
    return parse_query(f"{q or ''} {extra}" if extra else q or "")


def _match(q: str | None) -> str:
    return _parsed(q).match or '""'  # the empty phrase matches nothing


def _single(q: str | None, tag: str | None, feed: str | None) -> str:
    parsed = _parsed(q, tag, feed)
    return "" if parsed.has_filters else parsed.single


def _filter(q: str | None, tag: str | None, feed: str | None, key: str) -> str:
    parsed = _parsed(q, tag, feed)
    if key == "tag":
        return json.dumps(normalise_tags(parsed.tags))
    if key == "site":
        return json.dumps([v.strip().lower() for v in parsed.sites])
    return json.dumps(list(parsed.feeds))


def _snippet(text: str | None, q: str | None, fallback: str | None) -> str:
    try:
        return snippet(text, _parsed(q), fallback=fallback)
    except Exception:  # noqa: BLE001 - one odd text must not fail a whole results page
        return html.escape((text or "")[:200])


def register_search_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions search_sql calls, on one connection: the CLI's, and each of
    Datasette's through the plugin's prepare_connection hook."""
    conn.create_function("aggregator_search_match", 1, _match, deterministic=True)
    conn.create_function("aggregator_search_single", 3, _single, deterministic=True)
    conn.create_function("aggregator_search_filter", 4, _filter, deterministic=True)
    conn.create_function("aggregator_search_snippet", 3, _snippet, deterministic=True)


# --- the SQL -----------------------------------------------------------------------------------


def _id_filters(row: str) -> str:
    """The filters written in the query, on the article whose id is `row`. Each filter's ids are
    listed once; `+` keeps the IN away from FTS5, which would run the match again for every id
    of the list."""
    return f"""
      AND ((SELECT tags FROM p) = '[]' OR +{row} IN (SELECT article_id FROM tagged))
      AND ((SELECT feeds FROM p) = '[]' OR +{row} IN (SELECT id FROM in_feeds))
      AND ((SELECT sites FROM p) = '[]' OR +{row} IN (SELECT id FROM on_sites))"""


_FILTERS = _id_filters("articles_fts.rowid")


# Articles whose highlights or notes match (few: a reader's own marks) are ranked with the
# articles by bm25 weighted as a title, since a reader marked them.
HIGHLIGHT_WEIGHT = BM25_WEIGHTS[0]

_PARAMS = f"""p AS MATERIALIZED (
  SELECT aggregator_search_match(:q) AS m,
         aggregator_search_single(:q, :tag, :feed) AS single,
         aggregator_search_filter(:q, :tag, :feed, 'tag') AS tags,
         aggregator_search_filter(:q, :tag, :feed, 'feed') AS feeds,
         aggregator_search_filter(:q, :tag, :feed, 'site') AS sites
),
tagged AS MATERIALIZED (
  SELECT at.article_id FROM articles_tags at JOIN tags t ON t.id = at.tag_id
  WHERE t.name IN (SELECT value FROM json_each((SELECT tags FROM p)))
  GROUP BY at.article_id
  HAVING count(DISTINCT t.id) = (SELECT json_array_length(tags) FROM p)
),
in_feeds AS MATERIALIZED (
  SELECT a.id FROM articles a WHERE a.feed_id IN (
    SELECT f.id FROM feeds f, json_each((SELECT feeds FROM p)) v
    WHERE f.url = v.value OR f.title = v.value COLLATE NOCASE)
),
on_sites AS MATERIALIZED (
  SELECT a.id FROM articles a WHERE a.site IN (
    SELECT value FROM json_each((SELECT sites FROM p))
    UNION ALL SELECT 'www.' || value FROM json_each((SELECT sites FROM p)))
),
highlighted AS MATERIALIZED (
  SELECT h.article_id AS id, bm25(highlights_fts) * {HIGHLIGHT_WEIGHT} AS score
  FROM highlights_fts JOIN highlights h ON h.id = highlights_fts.rowid
  WHERE highlights_fts MATCH (SELECT m FROM p){_id_filters("h.article_id")}
)"""

_HIGHLIGHTED = "SELECT id, min(score) AS score FROM highlighted GROUP BY id"


def search_sql(*, limit: int = SEARCH_PAGE) -> str:
    """The search as SQL with the named parameters :q (what the person typed), :sort
    (`relevance`, the default, or `newest`), :tag and :feed ('' for none; they add to the filters
    written in :q). It needs the functions of register_search_functions. Each row: the article's
    card columns, `snippet` (HTML: escaped text, matched words in <mark>), and `rank` (lower
    first). Only the branch of the chosen sort runs: SQLite skips a subquery whose WHERE is
    false before it starts."""
    limit = max(1, min(int(limit), 1000))
    return f"""WITH {_PARAMS},
best AS MATERIALIZED (
  SELECT token, built_max_id FROM search_best_tokens
  WHERE token = (SELECT single FROM p) AND coalesce(:sort, '') != 'newest'
),
ranked AS MATERIALIZED (
  SELECT * FROM (
    SELECT article_id AS id, score FROM search_best WHERE token = (SELECT token FROM best)
    UNION ALL
    SELECT rowid AS id, {BM25} AS score FROM articles_fts
    WHERE articles_fts MATCH (SELECT m FROM p)
      AND rowid > coalesce((SELECT built_max_id FROM best), 0){_FILTERS}
    UNION ALL
    {_HIGHLIGHTED}
    ORDER BY score, id DESC LIMIT {limit} * 2
  ) WHERE coalesce(:sort, '') != 'newest'
  UNION ALL
  SELECT * FROM (
    SELECT a.id AS id, coalesce(-julianday(a.sort_date), 1e9) AS score
    FROM (
      SELECT * FROM (
        SELECT rowid AS id FROM articles_fts
        WHERE articles_fts MATCH (SELECT m FROM p){_FILTERS}
        ORDER BY rowid DESC LIMIT {NEWEST_CANDIDATES}
      )
      UNION
      SELECT id FROM ({_HIGHLIGHTED})
    ) hits JOIN articles a ON a.id = hits.id
    ORDER BY score, a.id DESC LIMIT {limit}
  ) WHERE :sort = 'newest'
)
SELECT a.id, a.title, a.url, a.site, a.feed_title, a.author, a.published, a.tags,
  a.reading_time, a.state, a.starred, a.saved,
  aggregator_search_snippet(a.text, :q,
    coalesce(a.title, '') || coalesce(' · ' || nullif(a.author, ''), '')
    || coalesce(' · ' || nullif(a.feed_title, ''), '')) AS snippet, ranked.score AS rank
FROM (SELECT id, min(score) AS score FROM ranked GROUP BY id
      ORDER BY score, id DESC LIMIT {limit}) ranked
JOIN articles a ON a.id = ranked.id
ORDER BY ranked.score, a.id DESC"""


def fts_query(text: str) -> str:
    """What a person typed as a safe FTS5 expression ('' when nothing is searched): the search
    box's language of aggregator/query.py, filters left out."""
    return parse_query(text).match


def _filters(
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
    row: str = "a.id",
) -> tuple[list[str], dict[str, Any]]:
    """Conditions on the article whose id is `row` (`a.id`, or `articles_fts.rowid` inside the
    full-text query, where a `+` keeps an IN filter away from FTS5, which would re-run the match
    for every row), with their named parameters."""
    unary = "" if row == "a.id" else "+"
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, tag in enumerate(normalise_tags(tags)):
        where.append(
            f"EXISTS (SELECT 1 FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            f"WHERE at.article_id = {row} AND t.name = :tag{i})"
        )
        params[f"tag{i}"] = tag
    if feed_url:
        where.append(
            f"{unary}{row} IN (SELECT fe.article_id FROM feed_entries fe JOIN feeds f2 "
            "ON f2.id = fe.feed_id WHERE f2.url = :feed_url)"
        )
        params["feed_url"] = feed_url
    if state == "starred":
        where.append("a.starred = 1")
    elif state:
        where.append("a.state = :state")
        params["state"] = state
    if since:
        where.append("a.sort_date >= :since")
        params["since"] = since
    if saved is not None:
        where.append("a.saved = :saved")
        params["saved"] = int(saved)
    return where, params


def query_articles(
    db: sqlite_utils.Database,
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    query: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), newest first, or by relevance when a
    full-text query is given."""
    where, params = _filters(tags=tags, feed_url=feed_url, state=state, since=since, saved=saved)
    sql = _SELECT_ARTICLE
    order = "a.sort_date DESC, a.id DESC"
    if query:
        match = fts_query(query)
        if not match:
            return []
        sql += " JOIN articles_fts ON articles_fts.rowid = a.id"
        where.append("articles_fts MATCH :match")
        params["match"] = match
        order = f"{BM25}, a.sort_date DESC"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    try:
        return _with_highlights(db, [_article_dict(r) for r in _rows(db, sql, params)])
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            return []
        raise


def get_articles(db: sqlite_utils.Database, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), in the order of `ids` (the web exports
    the rows a Datasette page selected, in that page's order)."""
    found: dict[int, dict[str, Any]] = {}
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"{_SELECT_ARTICLE} WHERE a.id IN ({marks})", chunk):
            found[int(row["id"])] = _article_dict(row)
    return _with_highlights(db, [found[i] for i in wanted if i in found])


def _with_highlights(
    db: sqlite_utils.Database, articles: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Export objects carry their highlights ({quote, note, created_at}, in text order)."""
    marks = highlights_by_article(db, [a["id"] for a in articles])
    for article in articles:
        article["highlights"] = marks.get(article["id"], [])
    return articles


def search_articles(
    db: sqlite_utils.Database,
    query: str,
    *,
    sort: str = DEFAULT_SORT,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The search of `aggregator search`: the web's search SQL (search_sql), so both rank alike.
    `tags` and `feed_url` add to the filters written in the query; the snippet is plain text
    with the matched words in [brackets]."""
    extra = [f'tag:"{t}"' for t in normalise_tags(tags)]
    if feed_url:
        extra.append(f'feed:"{feed_url}"')
    full = " ".join([query, *extra])
    if not parse_query(full).match:
        return []
    register_search_functions(db.conn)
    rows = _rows(db, search_sql(limit=limit), {"q": full, "sort": sort, "tag": "", "feed": ""})
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
        row["saved"] = bool(row["saved"])
        row["starred"] = bool(row["starred"])
        row["snippet"] = snippet_text(row["snippet"])
    return rows
