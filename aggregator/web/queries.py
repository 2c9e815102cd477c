"""The reading room's canned queries, registered through Datasette's `canned_queries` hook:
the ranked `search` (its SQL is the store's, the one `aggregator search` runs), and the home
page's and dashboard's numbers, each a page of its own with JSON and CSV
(`/aggregator/<name>.json`) whose rows those pages show. One definition of each."""

from __future__ import annotations

from typing import Any

from ..store.search import search_sql

# The columns an article card shows (templates/_article_card.html).
CARD_COLUMNS = (
    "id, title, url, site, feed_title, published, saved_at, reading_time, tags, state, starred"
)
HOME_LIST_SIZE = 8
# The dashboard's charts cover the last year of weeks that have articles.
WEEK = "date({}, 'weekday 0', '-6 days')"

# Unread counts read the smaller side: the unread articles when they are at most half of all,
# else the others, taken from the totals the store's triggers keep (facet_counts, tags); so the
# home page stays quick whether most articles are unread or most are read. SQLite evaluates the
# constant condition once and skips the branch it rules out.
FEW_UNREAD = (
    "(select coalesce(sum(case when value = 'unread' then n end), 0) * 2 <= coalesce(sum(n), 0)"
    " from facet_counts where facet = 'state')"
)
NOT_UNREAD = "(state < 'unread' or state > 'unread')"  # two ranges of the state index

QUERIES: dict[str, dict[str, Any]] = {
    "home_counts": {
        "title": "Collection at a glance",
        "description": "Articles, saved and unread, starred, unread, feeds, failing feeds.",
        "sql": """select
  (select count(*) from articles) as articles,
  (select count(*) from articles where saved = 1 and state = 'unread') as unread_saved,
  (select count(*) from articles where starred = 1) as starred,
  (select count(*) from articles where state = 'unread') as unread,
  (select count(*) from feeds) as feeds,
  (select count(*) from feeds where last_error is not null) as failing_feeds""",
    },
    "saved_unread": {
        "title": "Saved, unread",
        "description": "Links you saved and have not read yet, most recently saved first.",
        "sql": f"""select {CARD_COLUMNS} from articles
where saved = 1 and state = 'unread'
order by saved_at desc limit {HOME_LIST_SIZE}""",
    },
    "starred_recent": {
        "title": "Starred",
        "description": "Starred articles, newest first.",
        "sql": f"""select {CARD_COLUMNS} from articles where starred = 1
order by sort_date desc limit {HOME_LIST_SIZE}""",
    },
    "recent_from_feeds": {
        "title": "Recent from your feeds",
        "description": "The newest articles of your subscriptions.",
        "sql": f"""select {CARD_COLUMNS} from articles where feed_id is not null
order by sort_date desc limit {HOME_LIST_SIZE}""",
    },
    "top_tags": {
        "title": "Tags",
        "description": "The 40 most used tags and how many articles carry each.",
        "sql": """select name, article_count as n from tags where article_count > 0
order by n desc, name limit 40""",
    },
    "unread_by_feed": {
        "title": "Unread, by feed",
        "description": "The 40 feeds with the most unread articles, and how many each has.",
        "sql": f"""select title, unread from (
  select feed_title as title, count(*) as unread from articles indexed by idx_articles_state
  where {FEW_UNREAD} and state = 'unread' and feed_title is not null group by feed_title
  union all
  select fc.value, fc.n - coalesce(r.n, 0) from facet_counts fc left join (
    select feed_title, count(*) as n from articles indexed by idx_articles_state
    where {NOT_UNREAD} group by feed_title) r on r.feed_title = fc.value
  where not {FEW_UNREAD} and fc.facet = 'feed_title' and fc.n > 0)
where unread > 0 order by unread desc, title limit 40""",
    },
    "unread_by_tag": {
        "title": "Unread, by tag",
        "description": "The 40 tags with the most unread articles, and how many each has.",
        "sql": f"""select name, unread from (
  select t.name, count(*) as unread from articles_tags at join tags t on t.id = at.tag_id
  where {FEW_UNREAD} and at.article_id in (
    select id from articles indexed by idx_articles_state where state = 'unread')
  group by at.tag_id
  union all
  select t.name, t.article_count - coalesce(r.n, 0) from tags t left join (
    select at.tag_id, count(*) as n from articles_tags at where at.article_id in (
      select id from articles indexed by idx_articles_state where {NOT_UNREAD})
    group by at.tag_id) r on r.tag_id = t.id
  where not {FEW_UNREAD} and t.article_count > 0)
where unread > 0 order by unread desc, name limit 40""",
    },
    "failing_feeds": {
        "title": "Feeds with errors",
        "description": "Feeds whose last check failed, most errors first.",
        "sql": """select id, title, url, status, last_error, last_error_at, error_count from feeds
where last_error is not null or status in ('failing', 'gone')
order by error_count desc, title limit 20""",
    },
    "articles_per_week_by_feed": {
        "title": "Articles per week, by feed",
        "description": "Weeks start on Monday; the last year with articles.",
        "sql": f"""with dated as (
  select {WEEK.format("coalesce(published, sort_date)")} as week,
         coalesce(feed_title, 'Saved by hand') as feed
  from articles where coalesce(published, sort_date) is not null)
select week, feed, count(*) as n from dated
where week >= (select date(max(week), '-364 days') from dated)
group by week, feed order by week""",
    },
    "articles_per_week_by_tag": {
        "title": "Articles per week, by tag",
        "description": "Weeks start on Monday; the last year with articles.",
        "sql": f"""with dated as (
  select a.id, {WEEK.format("coalesce(a.published, a.sort_date)")} as week from articles a)
select d.week, t.name as tag, count(*) as n from dated d
join articles_tags at on at.article_id = d.id join tags t on t.id = at.tag_id
where d.week >= (select date(max(week), '-364 days') from dated)
group by d.week, t.name order by d.week""",
    },
    "saved_and_read_per_week": {
        "title": "Saved versus read, per week",
        "description": "Links saved and articles read each week, the last year with either.",
        "sql": f"""with events as (
  select {WEEK.format("saved_at")} as week, 'saved' as kind
  from articles where saved = 1 and saved_at is not null
  union all
  select {WEEK.format("read_at")}, 'read' from articles where read_at is not null)
select week, kind, count(*) as n from events
where week >= (select date(max(week), '-364 days') from events)
group by week, kind order by week""",
    },
    "articles_by_state": {
        "title": "Where your articles stand",
        "description": "Articles by reading state.",
        "sql": "select state, count(*) as n from articles group by state order by n desc",
    },
    "feeds_by_size": {
        "title": "Feeds by health",
        "description": "The 30 feeds with the most articles, with their status and errors.",
        "sql": """select coalesce(title, url) as title, status, error_count, last_error,
  (select count(*) from feed_entries fe where fe.feed_id = feeds.id) as articles
from feeds order by articles desc limit 30""",
    },
}

# What the home page and the dashboard show: template name -> canned query.
HOME = {
    "counts": "home_counts",
    "unread_saved": "saved_unread",
    "starred": "starred_recent",
    "recent": "recent_from_feeds",
    "tags": "top_tags",
    "failing": "failing_feeds",
    "unread_feeds": "unread_by_feed",
    "unread_tags": "unread_by_tag",
}
DASHBOARD = {
    "weeks": "articles_per_week_by_feed",
    "tag_weeks": "articles_per_week_by_tag",
    "saved_read": "saved_and_read_per_week",
    "states": "articles_by_state",
    "feeds": "feeds_by_size",
}


SEARCH = {
    "title": "Search",
    "description": "Full-text search of titles, text, authors and feed names: best match "
    "(bm25, titles weighted most) or newest first.",
    "hide_sql": True,
    "sql": search_sql(),
}


def canned_queries() -> dict[str, dict[str, Any]]:
    """Fresh copies: Datasette adds keys to the dictionaries it is given."""
    return {name: dict(query) for name, query in {"search": SEARCH, **QUERIES}.items()}
