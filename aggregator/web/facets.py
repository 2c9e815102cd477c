"""Facets that stay fast on a million articles, and the tag filter through the join table.
Reads only, through Datasette's public plugin APIs (a facet class for `register_facet_classes`,
a `filters_from_request` hook); the counts they read are kept by store's triggers.

`counted` (metadata: `- counted: feed_title`): on the whole table, the counts `store` keeps
in `facet_counts` and `tags.article_count` (one small read instead of grouping a million rows
per facet, or json_each over every row for tags); on a filtered page, the filtered rows counted
as Datasette's column facet does, tags through `articles_tags`. Results have the shape and
toggle links of Datasette's column and array facets.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite

from ..store import FACET_COLUMNS
from .settings import DATABASE

TAGS = "tags"
# The tag filter's URL argument in the links the reading room makes: the plugin's own (Datasette
# makes no SQL of an argument that starts with `_` and has no `__`), so the hook below gives the
# page's only tag condition, through the join table's index, which SQLite checks while it walks
# the articles' sort index. Datasette's own array filter, `tags__arraycontains=T`, gives the same
# rows and stays accepted (the hook adds the same join-table condition beside it), but SQLite
# runs its json_each clause first, and that reads every article row the walk passes: a tag on
# 0.6 % of the articles reads about 8,000 rows to fill a page of 50 instead of 50.
TAG_PARAM = "_tag"
TAG_ARG = f"{TAGS}__arraycontains"
TAG_ARGS = (TAG_PARAM, TAG_ARG)
NOCOUNT = "_nocount"
# Facets of a filtered selection larger than this are counted over its SAMPLE most recently
# added rows (highest ids), and the facet says so (`sample`); smaller selections are exact.
SAMPLE = 5_000
# A tag on more articles than this is found by walking articles newest first and checking the
# join table (stops after a page), and links to its page skip Datasette's row count (which
# would visit every tagged row); the page shows the count the triggers keep instead. A rarer
# tag is found by its rows through the join table, then sorted.
BIG_TAG = 2_000
TAG_IN = "id in (select at.article_id from articles_tags at where at.tag_id = :{p})"
TAG_EXISTS = (
    "exists (select 1 from articles_tags at where at.article_id = articles.id "
    "and at.tag_id = :{p})"
)
FACET_INDEX = "idx_articles_facets"  # (id, *FACET_COLUMNS), made by store's migrations


# Flags stored as 0/1, shown in words.
FLAG_LABELS = {"starred": {0: "Not starred", 1: "Starred"}}


def facet_label(column: str, value: Any) -> Any:
    return FLAG_LABELS.get(column, {}).get(value, value)


def tag_query(name: str, count: int | None) -> str:
    """The query string of a link to one tag's articles page; for a big tag without Datasette's
    row count (the page shows the count the triggers keep)."""
    return f"{TAG_PARAM}={quote(str(name), safe='')}" + (
        f"&{NOCOUNT}=1" if is_big(count) else ""
    )


def narrowing_args(request: Any) -> list[tuple[str, str]]:
    """The arguments that narrow the articles (Datasette's rule for filter arguments: no
    leading `_` unless they contain `__`; plus full-text search, `_where` and the tag)."""
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    return [
        (k, v)
        for k, v in pairs
        if not (k.startswith("_") and "__" not in k)
        or (k.startswith("_search") and k != "_searchmode" and v)
        or k in ("_where", TAG_PARAM)
    ]


def tag_names(request: Any) -> list[str]:
    """The tags the page is filtered by, in either argument, each once."""
    names = [*request.args.getlist(TAG_PARAM), *request.args.getlist(TAG_ARG)]
    return list(dict.fromkeys(names))


def only_tag(request: Any) -> str | None:
    """The tag, when the page's only filter is one tag (named once, in either argument)."""
    narrowing = narrowing_args(request)
    if narrowing and all(k in TAG_ARGS for k, _ in narrowing) and len(tag_names(request)) == 1:
        return narrowing[0][1]
    return None


def is_big(count: int | None) -> bool:
    return count is not None and count > BIG_TAG


def with_args(
    request: Any,
    *,
    add: tuple[str, str] | None = None,
    remove: Collection[tuple[str, str]] = (),
    nocount: bool = False,
) -> str:
    """The page's path and query with one pair added or some removed; a new filter starts from
    the first page, and `_nocount=1` is set only for a page of one big tag."""
    pairs = [
        (k, v)
        for k, v in parse_qsl(request.query_string, keep_blank_values=True)
        if k not in ("_next", NOCOUNT) and (k, v) not in remove
    ]
    if add:
        pairs.append(add)
    if nocount:
        pairs.append((NOCOUNT, "1"))
    return str(request.path) + ("?" + urlencode(pairs) if pairs else "")


async def tag_info(datasette: Any, name: str) -> tuple[int | None, int]:
    """A tag's id and the number of articles it is on (kept by triggers); (None, 0) if unknown."""
    db = datasette.get_database(DATABASE)
    row = (
        await db.execute(
            "select id, article_count from tags where name = :name", {"name": str(name)}
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (None, 0)


async def tag_filter(request: Any, database: str, table: str, datasette: Any) -> Any:
    """`?_tag=T` (or Datasette's `?tags__arraycontains=T`) on articles: the tag's condition
    through the join table's index, so SQLite finds the tagged rows without running json_each
    over every article. Beside Datasette's array filter, when that is the argument, the rows
    are the same. On a page of one tag, the template gets the tag's kept count as
    `aggregator_tag_count`."""
    if database != DATABASE or table != "articles":
        return None
    names = tag_names(request)
    if not names:
        return None
    clauses: list[str] = []
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    ours = set(request.args.getlist(TAG_PARAM)) - set(request.args.getlist(TAG_ARG))
    for i, name in enumerate(names):
        tag_id, count = await tag_info(datasette, name)
        key = f"_tag{i}"
        clauses.append((TAG_EXISTS if is_big(count) else TAG_IN).format(p=key))
        params[key] = tag_id
        if len(names) == 1 and only_tag(request) is not None:
            extra["aggregator_tag_count"] = count
    # Datasette describes its own filter ("tags contains ..."); ours in the same words.
    described = [f'{TAGS} contains "{name}"' for name in names if name in ours]
    return FilterArguments(
        clauses, params=params, human_descriptions=described, extra_context=extra
    )


class CountedFacet(Facet):  # type: ignore[misc]
    type = "counted"

    def _whole_table_sql(self, column: str) -> str:
        if column == TAGS:
            return (
                "select name as value, article_count as count from tags "
                "where article_count > 0 order by count desc, value limit :_facet_limit"
            )
        return (
            "select value, n as count from facet_counts where facet = :_facet_column "
            "and n > 0 order by count desc, value limit :_facet_limit"
        )

    async def _sampled(
        self, columns: list[str], params: dict[str, Any]
    ) -> tuple[dict[str, list[tuple[Any, int]]], int | None]:
        """Counts per column over the filtered rows, or over their SAMPLE most recently added
        when there are more: one read of the facet columns, counted here. Returns the counts
        and the sample size (None when every row was counted)."""
        plain = [c for c in columns if c != TAGS and c in FACET_COLUMNS]
        tag = only_tag(self.request)
        if tag is not None:  # newest pairs of the tag through its index: no scan of other rows
            ids_sql = (
                "select article_id from articles_tags where tag_id = (select id from tags "
                "where name = :_facet_tag) order by article_id desc limit :_facet_sample"
            )
        else:  # the page's own selection, as Datasette's facets read it
            ids_sql = f"select id from ({self.sql}) order by id desc limit :_facet_sample"
        params = {**params, "_facet_sample": SAMPLE, "_facet_tag": tag}
        limit = self.ds.setting("facet_time_limit_ms")
        cols = ", ".join(["id", *(escape_sqlite(c) for c in plain)])
        try:  # the facet columns from their narrow index, not the article rows
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

    def _facet(
        self, source_and_config: dict[str, Any], column: str, **fields: Any
    ) -> dict[str, Any]:
        return {
            "name": column,
            "type": "array" if column == TAGS else "column",
            "hideable": source_and_config["source"] != "metadata",
            "toggle_url": self.ds.urls.path(
                with_args(self.request, remove=[("_facet", column)])
            ),
            "results": [],
            "truncated": False,
            "sample": None,
            **fields,
        }

    async def _selection_size(self) -> int | None:
        """How many rows the page selects: Datasette's count, or on a page of one tag whose
        count Datasette skipped (`_nocount`), the kept count."""
        if self.row_count is not None:
            return int(self.row_count)
        tag = only_tag(self.request)
        return (await tag_info(self.ds, tag))[1] if tag is not None else None

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        pairs = set(parse_qsl(self.request.query_string, keep_blank_values=True))
        size = self.get_facet_size()
        configs = [
            (c, c["config"].get("column") or c["config"]["simple"]) for c in self.get_configs()
        ]
        base = dict(self.params or {})
        filtered = bool(narrowing_args(self.request))
        sampled: dict[str, list[tuple[Any, int]]] = {}
        sample_size = None
        if configs and filtered:  # a filtered page: one read of its rows
            try:
                sampled, sample_size = await self._sampled([col for _, col in configs], base)
            except QueryInterrupted:
                timed_out.extend(col for _, col in configs)
                return [self._facet(c, col, timed_out=True) for c, col in configs], timed_out
        sample = (
            {"size": sample_size, "of": await self._selection_size()}
            if sample_size is not None
            else None
        )
        for source_and_config, column in configs:
            if column in sampled:
                pairs_counts = sampled[column][: size + 1]
            else:
                params = {**base, "_facet_limit": size + 1, "_facet_column": column}
                try:
                    rows = await self.ds.execute(
                        self.database,
                        self._whole_table_sql(column),
                        params,
                        truncate=False,
                        custom_time_limit=self.ds.setting("facet_time_limit_ms"),
                    )
                except QueryInterrupted:
                    timed_out.append(column)
                    results.append(self._facet(source_and_config, column, timed_out=True))
                    continue
                pairs_counts = [(r["value"], r["count"]) for r in rows.rows]
            key = (
                TAG_PARAM
                if column == TAGS
                else (f"{column}__exact" if column.startswith("_") else column)
            )
            keys = TAG_ARGS if column == TAGS else (key,)
            values = []
            for value, count in pairs_counts[:size]:
                chosen = [(k, str(value)) for k in keys if (k, str(value)) in pairs]
                selected = bool(chosen)
                if selected:
                    path = with_args(self.request, remove=chosen)
                else:
                    # A tag picked on the whole table leads to a page of one tag.
                    nocount = column == TAGS and not filtered and is_big(count)
                    path = with_args(self.request, add=(key, str(value)), nocount=nocount)
                values.append(
                    {
                        "value": value,
                        "label": facet_label(column, value),
                        "count": count,
                        "toggle_url": self.ds.absolute_url(
                            # a plain str: Datasette's URL string class is slow in
                            # urljoin (dir() on every attribute), a page has hundreds
                            self.request,
                            str(self.ds.urls.path(path)),
                        ),
                        "selected": selected,
                    }
                )
            results.append(
                self._facet(
                    source_and_config,
                    column,
                    results=values,
                    truncated=len(pairs_counts) > size,
                    # counted over the `size` most recently added of `of` matching rows
                    sample=sample,
                )
            )
        return results, timed_out
