"""The Datasette plugin: hooks that turn the database browser into a reading room. Reads data
through Datasette only, never through `store`."""

from __future__ import annotations

import json
from typing import Any

from datasette import hookimpl
from markupsafe import Markup, escape


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    if database != "aggregator":
        return None
    if table in ("articles", "feeds") and column == "tags" and isinstance(value, str):
        try:
            tags = json.loads(value)
        except ValueError:
            return None
        if not isinstance(tags, list):
            return None
        return Markup(" ".join(f'<span class="tag">{escape(str(t))}</span>' for t in tags))
    return None
