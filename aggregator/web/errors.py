"""What a person sees when a request fails (Datasette's `handle_exception` hook): one short
line in their words, never SQLite's error text, a query, or a Python message; the status says
whose problem it is (4xx: the address or form; 500: ours, with the traceback in the log only).
The known causes are refused earlier with their own sentence (web/arguments.py); this is the
net under every page of the instance."""

from __future__ import annotations

import logging
import re
from typing import Any

from datasette.utils.asgi import Base400, Response
from datasette.views.base import DatasetteError

log = logging.getLogger(__name__)

MAX_MESSAGE = 200
# SQLite's words for a request it cannot run, and what they mean to the person who sent it.
SQL_WORDS = (
    ("expression tree is too large", "Too many filters at once: remove some of them."),
    ("too many sql variables", "Too many filters at once: remove some of them."),
    ("fts5", "The search could not be read: check its quotes and operators."),
    ("unterminated string", "The search could not be read: check its quotes."),
    ("no such column", "The address names a column the table does not have."),
    ("no such table", "The address names a table that does not exist."),
    ("interrupted", "This page took too long to make: narrow it with fewer filters."),
)
UNREADABLE = "The page cannot be made with these arguments: check the address."
OURS = "Something went wrong on our side making this page; the error is in the server's log."
# Datasette's messages that may carry SQL or markup, by their title.
SQL_TITLES = {"Invalid SQL", "SQL Interrupted"}


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plain_sql_error(message: str) -> str:
    lower = message.lower()
    for needle, words in SQL_WORDS:
        if needle in lower:
            return words
    return UNREADABLE


def humane(exception: Exception) -> tuple[int, str | None, str]:
    """(status, title, message) for an exception a page raised."""
    if isinstance(exception, Base400):
        message = str(exception.args[0]) if exception.args else ""
        return exception.status, None, one_line(message) or f"Error {exception.status}"
    if isinstance(exception, DatasetteError):
        if exception.title in SQL_TITLES or exception.message_is_html:
            return 400, None, plain_sql_error(str(exception.message))
        # Datasette 0.65 raises these, with status 500, for what a request asked of a table
        # (a sort by no column, _sort with _sort_desc, a _through it cannot follow): the
        # request's problem, said in Datasette's own sentence.
        status = exception.status if exception.status < 500 else 400
        return status, exception.title, one_line(str(exception.message))
    return 500, None, OURS


def handle(datasette: Any, request: Any, exception: Exception) -> Any:
    status, title, message = humane(exception)
    if status >= 500:
        log.error("%s %s failed", request.method, request.path, exc_info=exception)
    info = {"ok": False, "error": message, "status": status, "title": title}

    async def inner() -> Response:
        if re.search(r"\.json$", request.path):
            return Response.json(info, status=status)
        body = await datasette.render_template(
            [f"{status}.html", "error.html"], info, request=request
        )
        return Response.html(body, status=status)

    return inner
