"""The HTTP client: `httpx.AsyncClient` on aiohttp's transport (httpx-aiohttp), with the
address policy inside aiohttp's resolver, TLS, an optional proxy, limits on connections and on
response heads, and `exchange`: one GET whose every failure becomes a one-line FetchError. The
only module that imports httpx or aiohttp; it parses no HTTP itself (aiohttp does)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import http.cookiejar
import socket
import ssl
import urllib.parse
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from aggregator import USER_AGENT
from aggregator.errors import AggregatorError, BlockedAddressError, FetchError
from aggregator.net import policy as address
from aggregator.net.decode import read_body
from aggregator.net.policy import AddressPolicy, is_local_name
from aggregator.net.urls import Target, basic_credentials

__all__ = ["Answer", "Client", "exchange", "make_client"]

KEEPALIVE_EXPIRY = 10.0  # seconds an idle connection is kept for the next request to its host
# A response head: each line (status or header) at most 16 KiB and at most 128 header lines, so
# a hostile head costs at most ~2 MiB; real feeds and pages stay far below (big CSP headers
# reach a few KiB).
MAX_HEADER_LINE = 16 * 1024
MAX_HEADERS = 128
DNS_CACHE_SECONDS = 300  # a run asks each host once; its feeds share the checked answer


# --------------------------------------------------------------------------- TLS and proxies

@functools.lru_cache(maxsize=1)
def _certifi_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _tls(verify: bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    """What aiohttp's connector verifies certificates with. aiohttp loads the system's CA store
    when it is imported, so `True` (that store) costs nothing more, where another bundle costs
    tens of ms of CPU in every process; certifi's bundle is loaded only on a system without a
    store of its own. `False`: no verification (aiohttp's unverified context)."""
    if isinstance(verify, ssl.SSLContext) or not verify:
        return verify
    paths = ssl.get_default_verify_paths()
    if paths.cafile or paths.capath:  # None unless the file or folder exists
        return True
    return _certifi_context()


@dataclasses.dataclass(frozen=True)
class _Proxy:
    url: str  # without credentials
    host: str
    port: int
    authorization: str | None  # Basic credentials from the proxy URL's userinfo


def _parse_proxy(proxy: str) -> _Proxy:
    text = proxy if "://" in proxy else f"http://{proxy}"
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() != "http":
        raise AggregatorError(
            f"proxy {proxy[:100]!r}: only http:// proxies are supported (https targets go "
            "through CONNECT)"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise AggregatorError(f"proxy {proxy[:100]!r}: invalid port") from None
    if not parts.hostname:
        raise AggregatorError(f"proxy {proxy[:100]!r}: no host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return _Proxy(f"http://{host}:{port}", parts.hostname, port, basic_credentials(parts))


# --------------------------------------------------------------------------- the client


class _PolicyResolver(AbstractResolver):
    """aiohttp connects only to the addresses its resolver returns: this one returns a host's
    addresses only when the policy allows every one of them (so a DNS answer cannot slip one
    internal address among public ones), and fails closed when the name does not resolve. IP
    literals never reach a resolver: fetch_url checks them before asking."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        addresses = await address.resolve(host, port)
        if not addresses:
            raise FetchError(f"could not resolve host {host}")
        if self._client.proxy is None:  # with a proxy, this is the proxy: trusted as configured
            for ip in addresses:
                self._client.check(host, port, ip)
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=flags,
            )
            for ip in addresses
        ]

    async def close(self) -> None:
        return None


class _NoCookies(http.cookiejar.CookieJar):
    """Feeds and pages are fetched without cookies, as before httpx: none is stored or sent
    (and a hostile Set-Cookie costs no parsing)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


_LOCATION = "aggregator.location"


async def _set_location_aside(response: httpx.Response) -> None:
    """fetch_url follows redirects itself, checking each hop. httpx still works out the next
    request of a redirect answer when it is told not to follow it, and raises for a Location it
    cannot read (`javascript:alert(1)`, for one) before the answer is seen; so the Location is
    moved where only fetch_url reads it."""
    location = response.headers.get("location")
    if location is not None:
        response.extensions[_LOCATION] = location
        del response.headers["location"]


class Client:
    """What fetch_url sends with: the address policy, TLS settings, an optional proxy, a cap on
    open connections, and an httpx client whose aiohttp session keeps connections alive between
    requests. Use as `async with make_client() as client:`; one client per event loop."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        proxy: str | None,
        max_connections: int,
        user_agent: str,
        verify: bool | ssl.SSLContext,
    ) -> None:
        self.policy = policy
        self.proxy = _parse_proxy(proxy) if proxy else None
        self.user_agent = user_agent
        self._verify = verify
        self._max_connections = max_connections
        self._http: httpx.AsyncClient | None = None
        self._checked: set[tuple[str, int, str]] = set()  # (host, port, ip) the policy allowed
        self._lookups: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self._timeouts: dict[tuple[float, float], httpx.Timeout] = {}
        self.closed = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def check(self, host: str, port: int, ip: str) -> None:
        """The policy's check, remembered: a run asks the same few hosts many times."""
        if (host, port, ip) not in self._checked:
            self.policy.check(host, port, ip)
            self._checked.add((host, port, ip))

    def _session(self) -> aiohttp.ClientSession:
        """The aiohttp session, made on the first request (inside the running loop). Raw bodies
        (fetch_url decodes them under its cap), no cookies, no environment proxies."""
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=KEEPALIVE_EXPIRY,
            ssl=_tls(self._verify),
            resolver=_PolicyResolver(self),
            ttl_dns_cache=DNS_CACHE_SECONDS,
        )
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        )

    def http(self) -> httpx.AsyncClient:
        if self.closed:
            raise FetchError("the HTTP client is closed")
        if self._http is None:
            transport = AiohttpTransport(
                client=self._session,
                # The transport's own context is never used (the session above brings its
                # own); an unverified one costs nothing to make, a CA bundle tens of ms.
                verify=False,
                proxy=self._proxy_settings(),
            )
            self._http = httpx.AsyncClient(
                transport=transport,
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
                cookies=_NoCookies(),  # a jar itself (httpx would copy a Cookies into its own)
                event_hooks={"response": [_set_location_aside]},
            )
        return self._http

    def _proxy_settings(self) -> httpx.Proxy | None:
        """The proxy for the transport; its credentials go as a header of our own (the
        transport's way of passing them is deprecated in aiohttp)."""
        if self.proxy is None:
            return None
        headers = {"User-Agent": self.user_agent}
        if self.proxy.authorization:
            headers["Proxy-Authorization"] = self.proxy.authorization
        return httpx.Proxy(self.proxy.url, headers=headers)

    def timeout(self, connect: float, read: float) -> httpx.Timeout:
        """Connect covers waiting for a free connection, resolving and connecting (TLS too)."""
        found = self._timeouts.get((connect, read))
        if found is None:
            found = self._timeouts[(connect, read)] = httpx.Timeout(
                connect=connect, read=read, write=read, pool=connect
            )
        return found

    async def check_proxied(self, target: Target, timeout: float) -> None:
        """With a proxy, the proxy resolves and connects, so the target is checked here first:
        its name resolved locally (every address must be allowed) unless the name itself is
        allowlisted; `localhost` names count as loopback whatever they resolve to; a name that
        does not resolve here is refused (fail closed)."""
        host, port = target.host, target.port
        if is_local_name(host):
            self.check(host, port, "127.0.0.1")
        if self.policy.allows_name(host, port):
            return
        lookup = self._lookups.get((host, port))
        if lookup is None:  # one lookup per host and port per client, shared by its feeds
            lookup = self._lookups[(host, port)] = asyncio.ensure_future(
                address.resolve(host, port)
            )
        try:
            async with asyncio.timeout(timeout):
                addresses = await asyncio.shield(lookup)
        except TimeoutError:
            raise FetchError(f"connect timed out after {timeout:g} s") from None
        if not addresses:
            raise FetchError(f"could not resolve host {host}")
        for ip in addresses:
            self.check(host, port, ip)


PROXY_ENV = "AGGREGATOR_PROXY"


def make_env_client() -> Client:
    """The client every command and background run uses: the address policy of the environment
    (AGGREGATOR_ALLOW_HOSTS) and the proxy chosen on purpose in AGGREGATOR_PROXY, if any."""
    import os

    return make_client(policy=AddressPolicy.from_env(), proxy=os.environ.get(PROXY_ENV) or None)


def make_client(
    *,
    policy: AddressPolicy | None = None,
    proxy: str | None = None,
    max_connections: int = 100,
    user_agent: str = USER_AGENT,
    verify: bool = True,
) -> Client:
    """A Client for fetch_url: the address policy (default: from AGGREGATOR_ALLOW_HOSTS) enforced
    on every IP connected to, no environment proxies.

    With a `proxy` configured on purpose (an http:// URL; https targets are tunnelled with
    CONNECT) the proxy resolves and connects, so each target is checked here before the proxy is
    asked: IP literals (every IPv4 spelling) against the policy, host names resolved here and
    every address checked (a name that does not resolve here is refused unless allowlisted by
    name). The proxy may still resolve a name differently from this machine, and the proxy's own
    address is trusted as configured. Scheme, redirect, size and time limits still apply."""
    policy = AddressPolicy.from_env() if policy is None else policy
    return Client(
        policy=policy,
        proxy=proxy,
        max_connections=max_connections,
        user_agent=user_agent,
        verify=verify,
    )


# --------------------------------------------------------------------------- one exchange


@dataclasses.dataclass(frozen=True)
class Answer:
    """One response as fetch_url needs it (headers with lower-case names, in order)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    location: str | None  # of a redirect
    content: bytes | None  # decoded body of a 2xx answer, b"" for 304, None otherwise

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


async def exchange(
    client: Client,
    target: Target,
    headers: dict[str, str],
    *,
    max_bytes: int,
    connect_timeout: float,
    read_timeout: float,
) -> Answer:
    """One GET and its response: the head, and the decoded body of a 2xx or 304 answer (the
    bodies of others are not read). Every failure is a FetchError."""
    proxied = client.proxy is not None
    try:
        http_client = client.http()
        if target.authorization:
            headers = {**headers, "Authorization": target.authorization}
        if client.proxy is not None and client.proxy.authorization and target.scheme == "http":
            # a plain-http request goes to the proxy as it is (the tunnel's CONNECT carries
            # the credentials for https)
            headers = {**headers, "Proxy-Authorization": client.proxy.authorization}
        request = http_client.build_request(
            "GET",
            target.request_url,
            headers=headers,
            timeout=client.timeout(connect_timeout, read_timeout),
        )
        response = await http_client.send(request, stream=True)
    except AggregatorError as exc:  # from the resolver, whose lookups fetches share
        raise _fresh(exc) from None
    except Exception as exc:
        raise _transport_error(exc, connect_timeout, read_timeout, proxied=proxied) from None
    try:
        status = response.status_code
        content: bytes | None = b"" if status == 304 else None  # a 304 has no body
        if 200 <= status < 300:
            content = await read_body(
                response.aiter_raw(),
                encodings=response.headers.get_list("content-encoding"),
                content_length=response.headers.get("content-length"),
                max_bytes=max_bytes,
            )
        return Answer(
            status,
            response.reason_phrase,
            tuple(response.headers.multi_items()),
            response.extensions.get(_LOCATION),
            content,
        )
    except AggregatorError:
        raise
    except Exception as exc:
        raise _transport_error(exc, connect_timeout, read_timeout, proxied=proxied) from None
    finally:
        await response.aclose()


def _fresh(exc: AggregatorError) -> FetchError:
    """A new error with the same message and kind: one shared lookup can fail many fetches,
    and each sets its own `.url` on what it raises."""
    if type(exc) is BlockedAddressError:
        return BlockedAddressError(exc.message)
    return FetchError(exc.message)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first (httpx-aiohttp wraps aiohttp's)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def _transport_error(
    exc: Exception, connect_timeout: float, read_timeout: float, *, proxied: bool
) -> FetchError:
    """One line for what went wrong below HTTP (or in the server's HTTP), worded the same
    whichever layer noticed it."""
    chain = _chain(exc)

    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((e for e in chain if isinstance(e, kind)), None)

    ours = find(AggregatorError)
    if ours is not None:
        return _fresh(ours)
    proxy_refused = find(aiohttp.ClientHttpProxyError)
    if proxy_refused is not None:
        return FetchError(f"proxy: the proxy answered HTTP {proxy_refused.status} to CONNECT")
    certificate = find(aiohttp.ClientConnectorCertificateError)
    if certificate is not None:
        return FetchError(
            f"TLS certificate verification failed: {_text(certificate.certificate_error)}"
        )
    if find(ssl.SSLCertVerificationError) is not None:
        return FetchError(
            f"TLS certificate verification failed: {_text(find(ssl.SSLCertVerificationError))}"
        )
    tls = find((aiohttp.ClientConnectorSSLError, ssl.SSLError))
    if tls is not None:
        return FetchError(f"TLS error: {_text(tls)}")
    # aiohttp's own exception (the cause) first: httpx-aiohttp maps a refused connection to
    # httpx.ConnectTimeout, for one.
    if find(aiohttp.ConnectionTimeoutError):
        return FetchError(f"connect timed out after {connect_timeout:g} s")
    if find(aiohttp.SocketTimeoutError):
        return FetchError(f"timed out after {read_timeout:g} s waiting for the server")
    connector = find(aiohttp.ClientConnectorError)
    if connector is not None:
        prefix = "proxy: " if isinstance(connector, aiohttp.ClientProxyConnectionError) else ""
        os_error = connector.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return FetchError(f"{prefix}connection refused")
        return FetchError(f"{prefix}could not connect: {_text(os_error)}")
    if find(ConnectionRefusedError) is not None:
        return FetchError(("proxy: " if proxied else "") + "connection refused")
    if find(ConnectionResetError) is not None:
        return FetchError("connection reset by peer")
    if find(aiohttp.ServerDisconnectedError) is not None:
        return FetchError(
            "incomplete response: the server closed the connection without answering in full"
        )
    payload = find(aiohttp.ClientPayloadError)
    if payload is not None and "ConnectionResetError" in str(payload):
        # aiohttp names the connection's error only in the message of the payload error
        return FetchError("connection reset by peer")
    if payload is not None:
        return FetchError(f"incomplete response: {_text(payload)}")
    protocol = find((aiohttp.ClientResponseError, aiohttp.http_exceptions.HttpProcessingError))
    if protocol is not None:
        # aiohttp's message draws the offending bytes and a caret on the lines after the first
        lines = str(getattr(protocol, "message", "") or protocol).strip().splitlines()
        first = " ".join(lines[0].split()).rstrip(":")[:400] if lines else ""
        return FetchError(f"protocol error: {first or type(protocol).__name__}")
    if find((httpx.ConnectTimeout, httpx.PoolTimeout)):
        return FetchError(f"connect timed out after {connect_timeout:g} s")
    if find((httpx.ReadTimeout, httpx.WriteTimeout, TimeoutError)):
        return FetchError(f"timed out after {read_timeout:g} s waiting for the server")
    invalid = find((httpx.InvalidURL, aiohttp.InvalidURL, UnicodeError))
    if invalid is not None:
        return FetchError(f"invalid URL: {_text(invalid)}")
    return FetchError(f"read error: {_text(exc)}")


