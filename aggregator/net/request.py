"""One fetch: `fetch_url` asks for a URL with conditional headers, follows redirects itself
(checking each hop's scheme and address), holds the whole to a deadline, and turns the answer
into a FetchResult or an HTTPStatusError. The transport is `aggregator.net.client`.

Errors (all carry `.url`, the URL asked for; messages are one line):

    FetchError                 refused, timed out, reset, bad encoding, too many redirects ...
     ├── BlockedAddressError   the address policy refused a target (any hop)
     ├── TooLargeError         body over the cap, counted after decompression
     └── HTTPStatusError       an answer other than 2xx/304 (`.status`, `.retry_after` in seconds)
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import time
import urllib.parse
from typing import Any

from aggregator.errors import AggregatorError, BlockedAddressError, FetchError, HTTPStatusError
from aggregator.models import FetchResult
from aggregator.net.client import Answer, Client, exchange, make_client
from aggregator.net.decode import MiB
from aggregator.net.headers import parse_content_type
from aggregator.net.policy import ip_literal
from aggregator.net.schedule import parse_retry_after
from aggregator.net.urls import check_url, scheme_refusal

__all__ = ["DEFAULT_MAX_BYTES", "FEED_ACCEPT", "PAGE_ACCEPT", "fetch_url", "fetch_url_sync"]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"

DEFAULT_MAX_BYTES = 15 * MiB

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})


async def fetch_url(
    client: Client,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: str = FEED_ACCEPT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = 30.0,
    max_redirects: int = 10,
    connect_timeout: float = 10.0,
    read_timeout: float = 20.0,
) -> FetchResult:
    """GET `url` and return the decoded body (2xx) or an empty one (304).

    `deadline` bounds everything (resolution, every hop, the whole body); `read_timeout` bounds
    each wait for data. Validators (ETag, Last-Modified) are dropped from the result when the
    response says `Expires: 0`, as miniflux does: such servers tend to send validators that never
    match, and a later content hash catches unchanged bodies anyway."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline) as scope:
            result = await _fetch(
                client,
                url,
                etag=etag,
                last_modified=last_modified,
                accept=accept,
                max_bytes=max_bytes,
                max_redirects=max_redirects,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
    except TimeoutError:
        if scope.expired():
            raise FetchError(f"timed out after {deadline:g} s", url=url) from None
        raise
    except AggregatorError as exc:
        exc.url = url
        raise
    return dataclasses.replace(result, elapsed=time.monotonic() - started)


def _header_value(value: str | None) -> str | None:
    """A stored validator, if it can be sent back as it is (no line breaks, Latin-1 only)."""
    if not value or any(c in value for c in "\r\n\0"):
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


async def _fetch(
    client: Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    accept: str,
    max_bytes: int,
    max_redirects: int,
    connect_timeout: float,
    read_timeout: float,
) -> FetchResult:
    headers = {"Accept": accept}
    if _header_value(etag):
        headers["If-None-Match"] = str(etag)
    if _header_value(last_modified):
        headers["If-Modified-Since"] = str(last_modified)
    current = url
    hops = 0
    all_permanent = True
    while True:
        target = check_url(current, first=hops == 0)
        try:
            literal = ip_literal(target.host)
            if literal is not None:  # aiohttp connects to literals without asking a resolver
                client.check(target.host, target.port, str(literal))
            elif client.proxy is not None:
                await client.check_proxied(target, connect_timeout)
            answer = await exchange(
                client,
                target,
                headers,
                max_bytes=max_bytes,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        except BlockedAddressError as exc:
            message = exc.message + (f" (on redirect to {target.url})" if hops else "")
            raise BlockedAddressError(message) from None
        status = answer.status
        location = answer.location
        if status in _REDIRECTS and location:
            hops += 1
            if hops > max_redirects:
                raise FetchError(f"too many redirects (more than {max_redirects})")
            all_permanent = all_permanent and status in _PERMANENT
            try:
                current = urllib.parse.urljoin(target.url, location.strip())
            except ValueError:
                raise FetchError(f"invalid redirect location {location[:200]!r}") from None
            refusal = scheme_refusal(current, first=False)
            if refusal is not None:
                raise refusal
            continue
        if answer.content is not None:
            return _result(url, target.url, answer, permanent=all_permanent and hops > 0)
        raise _status_error(answer)


def _status_error(answer: Answer) -> HTTPStatusError:
    status = answer.status
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = " ".join(answer.reason.split())[:100] or "Unknown"
    message = f"HTTP {status} {phrase}"
    if status == 403 and (answer.header("cf-mitigated") or "").lower() == "challenge":
        message += " (Cloudflare challenge)"
    return HTTPStatusError(
        message, status=status, retry_after=parse_retry_after(answer.header("retry-after"))
    )


def _result(url: str, final_url: str, answer: Answer, *, permanent: bool) -> FetchResult:
    media, charset = parse_content_type(answer.header("content-type"))
    etag = answer.header("etag")
    last_modified = answer.header("last-modified")
    if (answer.header("expires") or "").strip() == "0":
        etag = last_modified = None
    return FetchResult(
        url=url,
        final_url=final_url,
        status=answer.status,
        content=answer.content or b"",
        content_type=media,
        charset=charset,
        etag=etag,
        last_modified=last_modified,
        permanent_redirect=final_url if permanent else None,
        headers=answer.headers,
    )


# --------------------------------------------------------------------------- one-off


_CLIENT_OPTIONS = ("policy", "proxy", "user_agent", "verify")


def fetch_url_sync(url: str, **kwargs: Any) -> FetchResult:
    """One fetch in a fresh client and event loop (for the CLI). Accepts make_client's options
    (policy, proxy, user_agent, verify) and fetch_url's. Not for use inside a running loop."""
    client_kwargs = {k: kwargs.pop(k) for k in _CLIENT_OPTIONS if k in kwargs}

    async def once() -> FetchResult:
        async with make_client(max_connections=4, **client_kwargs) as client:
            return await fetch_url(client, url, **kwargs)

    return asyncio.run(once())
