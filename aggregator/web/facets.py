"""Facets that stay fast on a million articles, and a tag filter through the join table.
Reads only (through Datasette); the counts they read are kept by store's triggers.

`counted` (metadata: `- counted: feed_title`): on the whole table, the counts `store` keeps
in `facet_counts` and `tags.article_count` (one small read instead of grouping a million rows
per facet, ~50 ms each, or json_each over every row for tags, seconds); on a filtered page,
the filtered rows counted as Datasette's column facet does, tags through `articles_tags`.
Results have the shape and toggle links of Datasette's column and array facets.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from typing import Any

from datasette.database import Database, QueryInterrupted
from datasette.facets import Facet
from datasette.filters import Filters, TemplatedFilter
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

TAGS = "tags"
WHERE = re.compile(r"\bwhere\b", re.I)
# Facets of a filtered selection larger than this are counted over its SAMPLE most recently
# added rows (highest ids), and the facet says so (`sample`); smaller selections are exact.
SAMPLE = 5_000
# A tag on more articles than this is listed by walking articles newest first and checking the
# join table (stops after a page); a rarer tag by its rows through the join table, then sorted.
BIG_TAG = 2_000
# The two forms of the tag filter (same rows); {p} is the parameter's name.
TAG_IN = (
    "id in (select at.article_id from articles_tags at join tags t "
    "on t.id = at.tag_id where t.name = :{p})"
)
TAG_EXISTS = (
    "exists (select 1 from articles_tags at where at.article_id = articles.id "
    "and at.tag_id = (select id from tags where name = :{p}))"
)
_TAG_CLAUSE = "(?:{})".format(
    "|".join(
        re.escape(form).replace(re.escape(":{p}"), r":(?P<{}>p\d+)".format(name))
        for name, form in (("a", TAG_IN), ("b", TAG_EXISTS))
    )
)
# A page (or its count) whose only filter is one tag.
ONE_TAG_COUNT = re.compile(rf"select count\(\*\) from articles where {_TAG_CLAUSE} ?$")
ONE_TAG_PAGE = re.compile(rf" from articles where {_TAG_CLAUSE} ?$")
FACET_COLUMNS = ("feed_title", "site", "author", "state", "starred", "published_month")
FACET_INDEX = "idx_articles_facets"  # (id, *FACET_COLUMNS): store migration m006
# The database file the tag filter reads a tag's article count from to choose its form
# (set by app.build_datasette; only the plan depends on it, never the rows).
tag_count_source: str | None = None


def tag_count(name: Any) -> int | None:
    if not tag_count_source:
        return None
    try:
        conn = sqlite3.connect(f"file:{tag_count_source}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "select article_count from tags where name = ?", [str(name)]
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else 0


def one_tag_param(match: re.Match[str] | None) -> str | None:
    return (match.group("a") or match.group("b")) if match else None


class AggregatorDatabase(Database):  # type: ignore[misc]
    """The database, with the row count of a one-tag page read from the count the triggers keep
    (`tags.article_count`, equal to the rows: tests/test_scale.py) instead of counting up to a
    million rows through the join table."""

    async def execute(self, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        param = one_tag_param(ONE_TAG_COUNT.match(sql))
        if param and isinstance(params, dict) and set(params) == {param}:
            sql = f"select coalesce((select article_count from tags where name = :{param}), 0)"
        return await super().execute(sql, params, *args, **kwargs)


class CountedFacet(Facet):  # type: ignore[misc]
    type = "counted"

    def _sql(self, column: str) -> str:
        if not WHERE.search(self.sql):  # the whole table: the kept counts
            if column == TAGS:
                return (
                    "select name as value, article_count as count from tags "
                    "where article_count > 0 order by count desc, value limit :_facet_limit"
                )
            return (
                "select value, n as count from facet_counts where facet = :_facet_column "
                "and n > 0 order by count desc, value limit :_facet_limit"
            )
        if column == TAGS:
            return (
                "select t.name as value, count(*) as count from articles_tags at "
                "join tags t on t.id = at.tag_id "
                f"where at.article_id in (select id from ({self.sql})) "
                "group by at.tag_id order by count desc, value limit :_facet_limit"
            )
        col = escape_sqlite(column)
        return (
            f"select {col} as value, count(*) as count from ({self.sql}) "
            f"where {col} is not null group by {col} order by count desc, value "
            "limit :_facet_limit"
        )

    async def _sampled(
        self, columns: list[str], params: dict[str, Any]
    ) -> tuple[dict[str, list[tuple[Any, int]]], int | None]:
        """Counts per column over the filtered rows, or over their SAMPLE most recently added
        when there are more: one read of the facet columns, counted here. Returns the counts
        and the sample size (None when every row was counted)."""
        plain = [c for c in columns if c != TAGS and c in FACET_COLUMNS]
        tag_param = one_tag_param(ONE_TAG_PAGE.search(self.sql))
        if tag_param:  # newest pairs of the tag through its index: no scan of other rows
            ids_sql = (
                "select article_id from articles_tags where tag_id = (select id from tags "
                f"where name = :{tag_param}) order by article_id desc limit :_facet_sample"
            )
        else:
            ids_sql = f"select id from ({self.sql}) order by id desc limit :_facet_sample"
        params = {**params, "_facet_sample": SAMPLE}
        limit = self.ds.setting("facet_time_limit_ms")
        cols = ", ".join(["id", *(escape_sqlite(c) for c in plain)])
        try:  # the facet columns from their narrow index (store m006), not the article rows
            rows = (
                await self.ds.execute(
                    self.database,
                    f"select {cols} from articles indexed by {FACET_INDEX} where id in ({ids_sql})",
                    params,
                    truncate=False,
                    custom_time_limit=limit,
                )
            ).rows
        except sqlite3.OperationalError:  # a database not migrated yet: the rows themselves
            rows = (
                await self.ds.execute(
                    self.database,
                    f"select {cols} from articles where id in ({ids_sql})",
                    params,
                    truncate=False,
                    custom_time_limit=limit,
                )
            ).rows
        counts: dict[str, list[tuple[Any, int]]] = {}
        for i, column in enumerate(plain, start=1):
            tally = Counter(r[i] for r in rows if r[i] is not None)
            counts[column] = sorted(tally.items(), key=lambda kv: (-kv[1], str(kv[0])))
        if TAGS in columns:
            tag_rows = (
                await self.ds.execute(
                    self.database,
                    "select t.name as value, count(*) as count from articles_tags at "
                    f"join tags t on t.id = at.tag_id where at.article_id in ({ids_sql}) "
                    "group by at.tag_id order by count desc, value",
                    params,
                    truncate=False,
                    custom_time_limit=limit,
                )
            ).rows
            counts[TAGS] = [(r[0], r[1]) for r in tag_rows]
        return counts, (len(rows) if len(rows) >= SAMPLE else None)

    def _timed_out(self, source_and_config: dict[str, Any], column: str) -> dict[str, Any]:
        """A facet that could not be counted in time stays on the page (and in the JSON, which
        has no list of timed-out facets) as an empty facet marked `timed_out`."""
        return {
            "name": column,
            "type": "array" if column == TAGS else "column",
            "hideable": source_and_config["source"] != "metadata",
            "toggle_url": self.ds.urls.path(
                path_with_removed_args(self.request, {"_facet": column})
            ),
            "results": [],
            "truncated": False,
            "sample": None,
            "timed_out": True,
        }

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        pairs = self.get_querystring_pairs()
        size = self.get_facet_size()
        configs = [
            (c, c["config"].get("column") or c["config"]["simple"]) for c in self.get_configs()
        ]
        base = dict(self.params or {})
        sampled: dict[str, list[tuple[Any, int]]] = {}
        sample_size = None
        if configs and WHERE.search(self.sql):  # a filtered page: one read of its rows
            try:
                sampled, sample_size = await self._sampled([col for _, col in configs], base)
            except QueryInterrupted:
                timed_out.extend(col for _, col in configs)
                return [self._timed_out(c, col) for c, col in configs], timed_out
        for source_and_config, column in configs:
            if column in sampled:
                pairs_counts = sampled[column][: size + 1]
            else:
                params = {**base, "_facet_limit": size + 1, "_facet_column": column}
                try:
                    rows = await self.ds.execute(
                        self.database,
                        self._sql(column),
                        params,
                        truncate=False,
                        custom_time_limit=self.ds.setting("facet_time_limit_ms"),
                    )
                except QueryInterrupted:
                    timed_out.append(column)
                    results.append(self._timed_out(source_and_config, column))
                    continue
                pairs_counts = [(r["value"], r["count"]) for r in rows.rows]
            key = (
                f"{column}__arraycontains"
                if column == TAGS
                else (f"{column}__exact" if column.startswith("_") else column)
            )
            values = []
            for value, count in pairs_counts[:size]:
                selected = (key, str(value)) in pairs
                path = (
                    path_with_removed_args(self.request, {key: str(value)})
                    if selected
                    else path_with_added_args(self.request, {key: value})
                )
                values.append(
                    {
                        "value": value,
                        "label": value,
                        "count": count,
                        "toggle_url": self.ds.absolute_url(
                            # a plain str: Datasette's URL string class costs ~0.1 ms
                            # per URL in urljoin (dir() on every attribute)
                            self.request,
                            str(self.ds.urls.path(path)),
                        ),
                        "selected": selected,
                    }
                )
            results.append(
                {
                    "name": column,
                    "type": "array" if column == TAGS else "column",
                    "hideable": source_and_config["source"] != "metadata",
                    "toggle_url": self.ds.urls.path(
                        path_with_removed_args(self.request, {"_facet": column})
                    ),
                    "results": values,
                    "truncated": len(pairs_counts) > size,
                    # counted over the `size` most recently added of `of` matching rows
                    "sample": (
                        {"size": sample_size, "of": self.row_count}
                        if sample_size is not None
                        else None
                    ),
                }
            )
        return results, timed_out


class TagContainsFilter(TemplatedFilter):  # type: ignore[misc]
    """`?tags__arraycontains=T` on articles through the join table (its index) instead of
    json_each over every row, which took seconds at a million articles; elsewhere unchanged."""

    def where_clause(
        self, table: str, column: str, value: Any, param_counter: int
    ) -> tuple[str, Any]:
        if table == "articles" and column == TAGS:
            count = tag_count(value)
            form = TAG_EXISTS if count is not None and count > BIG_TAG else TAG_IN
            return form.format(p=f"p{param_counter}"), value
        return super().where_clause(table, column, value, param_counter)  # type: ignore[no-any-return]


def install_tag_filter() -> None:
    """Swap Datasette's `arraycontains` filter for TagContainsFilter (same key, display, SQL
    for other tables, human text)."""
    old = Filters._filters_by_key["arraycontains"]
    if isinstance(old, TagContainsFilter):
        return
    new = TagContainsFilter(old.key, old.display, old.sql_template, old.human_template)
    Filters._filters_by_key["arraycontains"] = new
    Filters._filters = [new if f is old else f for f in Filters._filters]
