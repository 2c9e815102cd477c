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
from typing import Any

from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import Filters, TemplatedFilter
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

TAGS = "tags"
WHERE = re.compile(r"\bwhere\b", re.I)


class CountedFacet(Facet):  # type: ignore[misc]
    type = "counted"

    def _sql(self, column: str) -> str:
        if not WHERE.search(self.sql):  # the whole table: the kept counts
            if column == TAGS:
                return ("select name as value, article_count as count from tags "
                        "where article_count > 0 order by count desc, value limit :_facet_limit")
            return ("select value, n as count from facet_counts where facet = :_facet_column "
                    "and n > 0 order by count desc, value limit :_facet_limit")
        if column == TAGS:
            return ("select t.name as value, count(*) as count from articles_tags at "
                    "join tags t on t.id = at.tag_id "
                    f"where at.article_id in (select id from ({self.sql})) "
                    "group by at.tag_id order by count desc, value limit :_facet_limit")
        col = escape_sqlite(column)
        return (f"select {col} as value, count(*) as count from ({self.sql}) "
                f"where {col} is not null group by {col} order by count desc, value "
                "limit :_facet_limit")

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        pairs = self.get_querystring_pairs()
        size = self.get_facet_size()
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            params = {**dict(self.params or {}), "_facet_limit": size + 1, "_facet_column": column}
            try:
                rows = await self.ds.execute(
                    self.database, self._sql(column), params, truncate=False,
                    custom_time_limit=self.ds.setting("facet_time_limit_ms"))
            except QueryInterrupted:
                timed_out.append(column)
                continue
            key = f"{column}__arraycontains" if column == TAGS else (
                f"{column}__exact" if column.startswith("_") else column)
            values = []
            for row in rows.rows[:size]:
                selected = (key, str(row["value"])) in pairs
                path = (path_with_removed_args(self.request, {key: str(row["value"])}) if selected
                        else path_with_added_args(self.request, {key: row["value"]}))
                values.append({"value": row["value"], "label": row["value"], "count": row["count"],
                               "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
                               "selected": selected})
            results.append({
                "name": column, "type": "array" if column == TAGS else "column",
                "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
                "results": values, "truncated": len(rows.rows) > size,
            })
        return results, timed_out


class TagContainsFilter(TemplatedFilter):  # type: ignore[misc]
    """`?tags__arraycontains=T` on articles through the join table (its index) instead of
    json_each over every row, which took seconds at a million articles; elsewhere unchanged."""

    def where_clause(self, table: str, column: str, value: Any, param_counter: int) -> tuple[str, Any]:
        if table == "articles" and column == TAGS:
            return ("id in (select at.article_id from articles_tags at join tags t "
                    f"on t.id = at.tag_id where t.name = :p{param_counter})", value)
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
