"""Requests to a Datasette in the test's own process (`datasette.client`, no server): one
definition for the web tests."""

from __future__ import annotations

import asyncio
from typing import Any


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def get(ds: Any, path: str, **kwargs: Any) -> Any:
    return run(ds.client.get(path, **kwargs))


def post(ds: Any, path: str, **kwargs: Any) -> Any:
    return run(ds.client.post(path, **kwargs))
