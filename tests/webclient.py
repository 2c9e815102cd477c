"""Requests to a Datasette in the test's own process (`datasette.client`, no server): one
definition for the web tests."""

from __future__ import annotations

import asyncio
import re
from typing import Any


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def get(ds: Any, path: str, **kwargs: Any) -> Any:
    return run(ds.client.get(path, **kwargs))


def post(ds: Any, path: str, **kwargs: Any) -> Any:
    return run(ds.client.post(path, **kwargs))


class Visitor:
    """A browser's cookies and the CSRF token of the pages it was given."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        page = get(ds, "/-/feeds")
        assert page.status_code == 200
        self.cookies = {"ds_csrftoken": page.cookies["ds_csrftoken"]}
        self.token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = post(
            self.ds,
            path,
            data={"csrftoken": self.token, **(data or {})},
            cookies=self.cookies,
            **kwargs,
        )
        if "ds_messages" in response.cookies:
            self.cookies["ds_messages"] = response.cookies["ds_messages"]
        return response

    def get(self, path: str) -> Any:
        response = get(self.ds, path, cookies=self.cookies)
        self.cookies.pop("ds_messages", None)
        return response

    def messages(self, page: str) -> list[str]:
        return [
            re.sub(r"\s+", " ", m).strip()
            for m in re.findall(r'<p class="message-(?:info|warning|error)">(.*?)</p>', page, re.S)
        ]
