"""ASGI middleware around one Datasette app, each part switched on by that instance's plugin
settings (web/settings.py): the Host guard (DNS rebinding), the Content-Security-Policy and
friends on every response with the refusal of cross-site writes, and the login gate when
serving beyond loopback. Knows nothing about articles."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# No inline script, no script from elsewhere, no plugins, no framing. Styles may be inline
# (Datasette's templates use style attributes); article images may come from their sites.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https: http:",
        "media-src 'self' https:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on our own
    # form posts, which the cross-site check must refuse. Other sites still get no referrer.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Reachable without logging in: the login page itself and the files it needs.
OPEN_PATHS = ("/-/login", "/-/static/", "/-/static-plugins/", "/favicon.ico")


def host_name(value: str) -> str:
    """The name in a Host header, without the port, lower case (`[::1]:8001` -> `[::1]`)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers") or []}


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


async def _plain(
    send: Send, status: int, text: str, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS, *extra],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


def utf8_cookies(value: bytes) -> bytes:
    """The Cookie header without its pairs that are not UTF-8: any program on the same host
    name (another port of localhost) can set a cookie of any bytes, and Datasette's CSRF
    middleware fails on the whole request when it cannot decode the header."""
    kept = []
    for pair in value.split(b";"):
        try:
            pair.decode("utf-8")
        except UnicodeDecodeError:
            continue
        kept.append(pair.strip())
    return b"; ".join(p for p in kept if p)


def foreign_write(method: str, headers: dict[bytes, bytes]) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None. Browsers send
    Sec-Fetch-Site and Origin on form posts; a request without them (curl, tests) passes here
    and still meets the CSRF token check."""
    if method not in UNSAFE_METHODS:
        return None
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    if origin:
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != host:
            return f"cross-site request refused (Origin: {origin})"
    return None


def wrap_app(
    app: ASGIApp,
    *,
    datasette: Any,
    allowed_hosts: Iterable[str] | None,
    security_headers: bool,
    require_auth: bool,
    read_only: re.Pattern[str] | None = None,
) -> ASGIApp:
    """The app behind the guard; `read_only`: paths that take no POST (a 405 in one line)."""
    allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
    added = SECURITY_HEADERS if security_headers else []

    def logged_in(cookies: dict[str, str]) -> bool:
        from datasette.utils import baseconv
        from itsdangerous import BadSignature

        value = cookies.get("ds_actor")
        if not value:
            return False
        try:
            decoded = datasette.unsign(value, "actor")
        except BadSignature:
            return False
        if not isinstance(decoded, dict) or not decoded.get("a"):
            return False
        expires = decoded.get("e")
        return not (expires and time.time() > int(baseconv.base62.decode(expires)))

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = _headers(scope)
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if allowed is not None and host not in allowed:
            await _plain(
                send,
                403,
                "Forbidden: unknown Host name. Add it with `aggregator serve --allow-host NAME`.\n",
            )
            return
        cookie = headers.get(b"cookie")
        if cookie is not None and utf8_cookies(cookie) != cookie:
            cleaned = utf8_cookies(cookie)
            kept = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"cookie"]
            scope = {**scope, "headers": kept + ([(b"cookie", cleaned)] if cleaned else [])}
            headers = _headers(scope)
        method = scope.get("method", "GET").upper()
        reason = foreign_write(method, headers) if security_headers else None
        if reason:
            await _plain(send, 403, f"Forbidden: {reason}\n")
            return
        path = scope.get("path", "/")
        if method in UNSAFE_METHODS and read_only is not None and read_only.fullmatch(path):
            await _plain(
                send, 405, "Method not allowed: this page takes no form.\n", [(b"allow", b"GET")]
            )
            return
        if require_auth and not path.startswith(OPEN_PATHS) and not logged_in(_cookies(headers)):
            if method in ("GET", "HEAD"):
                target = "/-/login?next=" + quote(path)
                await _plain(
                    send, 302, "Log in first.\n", [(b"location", target.encode("latin-1"))]
                )
            else:
                await _plain(send, 403, "Forbidden: log in first.\n")
            return

        if not added:
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in added}
                kept = [(k, v) for k, v in message.get("headers") or [] if k.lower() not in names]
                message = {**message, "headers": kept + added}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded
