"""The command line's own classes: a group whose commands read their text arguments as text and
end every known error in one short line (`Error: ...`, exit code 1), never a traceback."""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from .errors import AggregatorError


class Command(click.Command):
    """A command whose text arguments are text: bytes a terminal sent that are not UTF-8 reach
    Python as lone surrogates, which SQLite and every encoder refuse; they are read as
    windows-1252, as a Latin-1 terminal meant them. File names (click.Path) are left as they are:
    the file system takes them back."""

    def invoke(self, ctx: click.Context) -> Any:
        from .encodings import stray_bytes_as_cp1252

        for param in self.params:
            name, value = param.name, ctx.params.get(param.name or "")
            if name is None or isinstance(param.type, click.Path):
                continue
            if isinstance(value, str):
                ctx.params[name] = stray_bytes_as_cp1252(value)
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                ctx.params[name] = tuple(stray_bytes_as_cp1252(v) for v in value)
        return super().invoke(ctx)


class Group(click.Group):
    """Turns every known error into `Error: <one line>` and exit code 1, never a traceback."""

    command_class = Command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except click.ClickException as exc:  # its message may quote what was typed
            message = shown(exc.message, limit=MAX_ERROR)
            if message == exc.message:
                raise
            if isinstance(exc, click.UsageError):
                raise click.UsageError(message, exc.ctx) from None
            raise click.ClickException(message) from None

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"database error: {exc}") from None
        except OSError as exc:
            if exc.errno == 28:
                raise click.ClickException("disk full: nothing was written") from None
            raise click.ClickException(
                f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            ) from None


MAX_ERROR = 500  # characters of an error line: a message quotes arguments, which may be huge


def shown(text: str, *, limit: int = 200) -> str:
    """`text` as part of one line of output: line breaks made spaces, cut at `limit`."""
    text = " ".join(str(text).splitlines())
    return text if len(text) <= limit else text[: limit - 1] + "…"
