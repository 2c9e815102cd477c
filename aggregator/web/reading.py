"""The reading flow: which list an article was opened from, its neighbours in that list
(`Previous`, `Next unread`), marking an opened article read, and `Mark all as read` for a list.

A list is named by the `from` argument its cards carry: `articles?<the table page's filter,
search and sort arguments>` or `search?<the search page's arguments>`. Its rows are read through
Datasette's own JSON of that page (`datasette.client`), so a list here holds exactly the rows,
in exactly the order, that the page showed, with every filter the page understands (the tag
filter of web/facets.py included). Writes go through `store` on Datasette's write connection."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from datasette.utils.asgi import Response

from .. import store
from . import views
from .facets import TAG_PARAM
from .settings import DATABASE

# The lists an article can be opened from, and the page each one's JSON comes from.
KINDS = {"articles": "articles", "search": "search"}
# Arguments of the table page that change which rows it lists or their order; others (page
# tokens, facets, shapes, columns) do not make another list.
TABLE_CONTROL_ARGS = {"_search", "_sort", "_sort_desc", "_where", TAG_PARAM}
SEARCH_ARGS = {"q", "tag", "feed", "sort"}
MAX_FROM = 2_000  # characters of a `from` argument
MAX_ARGS = 40  # arguments of a list a `from` names; more name no list (never a broader one)
# Rows of one list read to place an article in it, and rows `Mark all as read` changes at once.
NEIGHBOUR_SCAN_ROWS = 20_000
MARK_ALL_ROWS = 100_000
WRITE_BATCH = 1_000


@dataclass(frozen=True)
class ListRef:
    kind: str
    args: tuple[tuple[str, str], ...]

    @property
    def value(self) -> str:
        """The `from` argument naming this list."""
        return f"{self.kind}?{urlencode(self.args)}" if self.args else self.kind

    def page_url(self, datasette: Any) -> str:
        base = (
            datasette.urls.table(DATABASE, "articles")
            if self.kind == "articles"
            else datasette.urls.path(f"/{DATABASE}/search")
        )
        return f"{base}?{urlencode(self.args)}" if self.args else base


def _keep(kind: str, key: str) -> bool:
    if kind == "search":
        return key in SEARCH_ARGS
    # Datasette's rule for filter arguments: no leading `_` unless they contain `__`; and the
    # full-text search of one column, `_search_<column>`.
    return (
        key in TABLE_CONTROL_ARGS
        or key.startswith("_search_")
        or not key.startswith("_")
        or "__" in key[1:]
    )


def list_of(kind: str, query_string: str) -> ListRef:
    """The list a page of `kind` shows, from its query string."""
    pairs = parse_qsl(query_string, keep_blank_values=False)
    return ListRef(kind, tuple((k, v) for k, v in pairs if _keep(kind, k)))


def parse_from(value: str | None) -> ListRef | None:
    """The list a `from` argument names, or None when it names none we know."""
    if not value or len(value) > MAX_FROM:
        return None
    kind, _, query = value.partition("?")
    if kind not in KINDS:
        return None
    ref = list_of(kind, query)
    # cut short, the list would lose filters and hold more articles than the page showed:
    # `Mark all as read` would mark those too
    return ref if len(ref.args) <= MAX_ARGS else None


def _json_path(datasette: Any, ref: ListRef, extra: dict[str, str]) -> str:
    if ref.kind == "articles":
        base = datasette.urls.table(DATABASE, "articles", format="json")
        shape = {"_col": "state", "_size": "max", "_nofacet": "1", "_nocount": "1"}
    else:
        base = datasette.urls.path(f"/{DATABASE}/search.json")
        shape = {}
    args = [*ref.args, *extra.items(), *shape.items(), ("_shape", "objects")]
    return f"{base}?{urlencode(args)}"


async def list_rows(
    datasette: Any, request: Any, ref: ListRef, limit: int, **extra: str
) -> AsyncIterator[dict[str, Any]]:
    """The rows (id, state) of a list in its order, at most `limit`, read page by page from the
    list page's JSON as the person asking (their cookies), so login and filters apply alike."""
    path = _json_path(datasette, ref, extra)
    headers = {"host": request.host} if request is not None and request.host else {}
    cookies = dict(request.cookies) if request is not None else {}
    seen = 0
    token: str | None = None
    while seen < limit:
        url = path + (f"&_next={token}" if token else "")
        response = await datasette.client.get(url, headers=headers, cookies=cookies)
        if response.status_code != 200:
            return
        data = response.json()
        for row in data.get("rows") or []:
            if "id" not in row:
                return
            yield row
            seen += 1
            if seen >= limit:
                return
        token = data.get("next")
        if ref.kind != "articles" or not token:
            return
        token = quote(str(token), safe="")


@dataclass(frozen=True)
class Neighbours:
    previous: int | None = None
    next_unread: int | None = None


async def neighbours(datasette: Any, request: Any, ref: ListRef, article_id: int) -> Neighbours:
    """The article before this one in the list, and the first unread one after it."""
    before: int | None = None
    found = False
    async for row in list_rows(datasette, request, ref, NEIGHBOUR_SCAN_ROWS):
        row_id = int(row["id"])
        if not found:
            if row_id == article_id:
                found = True
            else:
                before = row_id
        elif row.get("state", "unread") == "unread":
            return Neighbours(before, row_id)
    return Neighbours(before if found else None, None)


def article_href(datasette: Any, article_id: int, ref: ListRef | None) -> str:
    path: str = datasette.urls.path(f"/{DATABASE}/articles/{article_id}")
    return f"{path}?{urlencode({'from': ref.value})}" if ref else path


async def mark_read_on_open(datasette: Any, row: dict[str, Any]) -> None:
    """An unread article becomes read when opened (archived and read stay as they are)."""
    if row.get("state") != "unread":
        return
    article_id = int(row["id"])

    def mark(db: Any) -> None:
        # checked again inside the write: the state may have changed since the page read it
        current = db.execute("select state from articles where id = ?", [article_id]).fetchone()
        if current and current[0] == "unread":
            store.set_state(db, article_id, state="read")

    await views._write(datasette, mark)
    row["state"] = "read"


# ---------------------------------------------------------------------------------------------
# Mark all as read


async def _unread_ids(datasette: Any, request: Any, ref: ListRef) -> list[int]:
    ids: list[int] = []
    extra = {"state": "unread"} if ref.kind == "articles" else {}
    async for row in list_rows(datasette, request, ref, MARK_ALL_ROWS, **extra):
        if row.get("state", "unread") == "unread":
            ids.append(int(row["id"]))
    return ids


def _mark_ids_read(db: Any, ids: list[int]) -> int:
    """Mark these articles read, those still unread: one transaction (the store's per-article
    writes become savepoints in it)."""
    changed = 0
    with store.transaction(db):
        for article_id in ids:
            row = db.execute("select state from articles where id = ?", [article_id]).fetchone()
            if row and row[0] == "unread":
                store.set_state(db, article_id, state="read")
                changed += 1
    return changed


async def _mark_read(datasette: Any, ids: list[int]) -> int:
    """In batches, each its own write, so other writes (a refresh, a star) are not held up."""
    changed = 0
    for start in range(0, len(ids), WRITE_BATCH):
        write = partial(_mark_ids_read, ids=ids[start : start + WRITE_BATCH])
        changed += int(await views._write(datasette, write))
    return changed


async def mark_all(request: Any, datasette: Any) -> Response:
    """GET: the confirmation (how many unread articles of the list); POST: mark them read."""
    if request.method == "POST":
        form = await views.checked_form(request, datasette)
        ref = parse_from(form.get("from"))
        if ref is None:
            return Response.text("Which list? The form names none.", status=400)
        ids = await _unread_ids(datasette, request, ref)
        changed = await _mark_read(datasette, ids)
        target = ref.page_url(datasette)
        return Response.redirect(
            target + ("&" if "?" in target else "?") + f"_marked={int(changed)}", status=303
        )
    ref = parse_from(request.args.get("from"))
    if ref is None:
        return Response.text("Which list? Open this page from a list's Mark all as read.", 400)
    ids = await _unread_ids(datasette, request, ref)
    return await views._render(
        datasette,
        request,
        "aggregator_mark_all.html",
        {"ref": ref, "count": len(ids), "list_url": ref.page_url(datasette)},
    )


def marked_count(request: Any) -> int | None:
    """How many articles the last `Mark all as read` changed (shown once on the list)."""
    value = request.args.get("_marked", "") if request is not None else ""
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


def routes() -> list[tuple[str, Any]]:
    return [(r"^/-/mark-read$", mark_all)]
