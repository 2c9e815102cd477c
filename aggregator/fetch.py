"""HTTP fetching: one GET with a body cap, a deadline, manual redirects, conditional headers and an
address policy checked on the IP actually connected to. The only httpx user; parses nothing.

Errors (all carry `.url`, the URL asked for; messages are one line):

    FetchError                 refused, timed out, reset, bad encoding, too many redirects ...
     ├── BlockedAddressError   the address policy refused a target (any hop)
     ├── TooLargeError         body over the cap, counted after decompression
     └── HTTPStatusError       an answer other than 2xx/304 (`.status`, `.retry_after` in seconds)
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import email.utils
import http
import ipaddress
import socket
import ssl
import time
import typing
import urllib.parse
import weakref
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import anyio
import anyio.to_thread
import httpcore
import httpx

from aggregator import USER_AGENT
from aggregator.errors import (
    AggregatorError,
    BlockedAddressError,
    FetchError,
    HTTPStatusError,
    TooLargeError,
)
from aggregator.models import FetchResult

__all__ = [
    "FEED_ACCEPT",
    "PAGE_ACCEPT",
    "AddressPolicy",
    "blocked_reason",
    "cache_lifetime",
    "fetch_url",
    "fetch_url_sync",
    "make_client",
    "parse_retry_after",
    "resolve_host",
]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 15 * MiB
MAX_RETRY_AFTER = 7 * 24 * 3600.0  # reliability.md: Retry-After and Cache-Control capped at 7 days
ALLOW_HOSTS_ENV = "AGGREGATOR_ALLOW_HOSTS"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_DECODE_STEP = 64 * 1024  # at most this much decompressed output per zlib call

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


# --------------------------------------------------------------------------- address policy

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NET = ipaddress.ip_network("0.0.0.0/8")
_IETF = ipaddress.ip_network("192.0.0.0/24")
_BENCHMARK = ipaddress.ip_network("198.18.0.0/15")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BROADCAST = ipaddress.ip_address("255.255.255.255")


def _unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, NAT64 or 6to4 IPv6 address, else the address."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if addr.sixtofour is not None:
            return addr.sixtofour
    return addr


def blocked_reason(ip: str | IPAddress) -> str | None:
    """Why a fetch must not connect to `ip` ("loopback", "private", ...); None if public."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0]) if isinstance(ip, str) else ip
    inner = _unwrap(addr)
    if inner is not addr:
        reason = blocked_reason(inner)
        return f"{reason}, wrapped in IPv6" if reason else None
    # Order matters only for the wording: the most specific name first.
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr == _BROADCAST:
        return "broadcast"
    if addr in _CGNAT:
        return "carrier-grade NAT"
    if addr in _THIS_NET:
        return "this network"
    if addr in _IETF or addr in _BENCHMARK or addr.is_reserved:
        return "reserved"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "site-local"
    if addr.is_private:
        return "private"
    if not addr.is_global:
        return "not public"
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _norm_host(host: str) -> str:
    """Hostname as written, lower case; IP literals in their canonical form. No dot stripping."""
    literal = _ip_literal(host)
    return str(literal) if literal is not None else host.lower()


@dataclass(frozen=True)
class AddressPolicy:
    """Which connections a fetch may make. Public addresses are always allowed; non-public ones
    only when allowlisted by hostname as written (`localhost` does not allow `localhost.`), by
    `host:port`, or by a CIDR network holding the connected IP."""

    allow_hosts: frozenset[str] = frozenset()  # any port
    allow_host_ports: frozenset[tuple[str, int]] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AddressPolicy:
        """The policy from AGGREGATOR_ALLOW_HOSTS (comma-separated host, host:port or CIDR)."""
        import os

        source = os.environ if env is None else env
        return cls.parse(source.get(ALLOW_HOSTS_ENV, ""))

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> AddressPolicy:
        """Read allowlist entries: `host`, `host:port`, `[v6]:port`, `10.0.0.0/8`."""
        entries = spec.split(",") if isinstance(spec, str) else list(spec)
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                if "/" in entry:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                    continue
                host, port = _split_host_port(entry)
            except ValueError:
                raise AggregatorError(
                    f"{ALLOW_HOSTS_ENV}: cannot read entry {entry!r} (want host, host:port or CIDR)"
                ) from None
            if port is None:
                hosts.add(_norm_host(host))
            else:
                host_ports.add((_norm_host(host), port))
        return cls(frozenset(hosts), frozenset(host_ports), tuple(networks))

    def allows(self, host: str, port: int, ip: str) -> bool:
        """Whether an allowlist entry covers this hostname (as written) or connected IP."""
        names = {_norm_host(host), _norm_host(ip)}
        if names & self.allow_hosts:
            return True
        if any((name, port) in self.allow_host_ports for name in names):
            return True
        addr = _ip_literal(ip)
        return addr is not None and any(
            addr.version == net.version and addr in net for net in self.allow_networks
        )

    def check(self, host: str, port: int, ip: str) -> None:
        """Raise BlockedAddressError unless connecting to `ip` for `host:port` is allowed."""
        if _ip_literal(ip) is None:
            raise BlockedAddressError(f"blocked address {ip!r} (not an IP address)")
        if self.allows(host, port, ip):
            return
        reason = blocked_reason(ip)
        if reason is not None:
            shown = f" for host {host}" if _norm_host(host) != _norm_host(ip) else ""
            raise BlockedAddressError(f"blocked address {ip} ({reason}){shown}")


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(entry)
        return host, _port(rest[1:])
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, _port(port)
    if entry.count(":") > 1 and _ip_literal(entry) is None:
        raise ValueError(entry)
    return entry, None


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return port


# --------------------------------------------------------------------------- connecting


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking getaddrinfo, run in a thread). Tests patch it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves the host itself, checks every address against the
    policy (failing closed), then connects to a checked IP. TLS is started by httpcore on the
    returned stream with the original hostname, so SNI and certificate checks still use the name."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = time.monotonic()
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                with anyio.fail_after(timeout):
                    addresses = await anyio.to_thread.run_sync(
                        _resolve, host, port, abandon_on_cancel=True
                    )
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        if not addresses:  # fail closed
            raise FetchError(f"could not resolve host {host}")
        for address in addresses:  # every one, so a rebinding answer cannot slip one past
            self._policy.check(host, port, address)
        last: Exception | None = None
        for address in addresses:
            remaining = (
                None if timeout is None else max(0.001, timeout - (time.monotonic() - started))
            )
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("blocked address: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def _resolve(host: str, port: int) -> list[str]:
    try:
        return resolve_host(host, port)  # looked up at call time so tests can patch it
    except (socket.gaierror, UnicodeError):
        return []


@dataclass(frozen=True)
class _ClientInfo:
    policy: AddressPolicy
    proxy: str | None


_CLIENTS: weakref.WeakKeyDictionary[httpx.AsyncClient, _ClientInfo] = weakref.WeakKeyDictionary()


_SSL_CONTEXTS: dict[Any, ssl.SSLContext] = {}


def _ssl_context(verify: Any) -> ssl.SSLContext:
    """One SSL context per `verify` setting in a process: loading the CA bundle costs about
    25 ms, and forked fetch workers inherit it instead of loading it again."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = _SSL_CONTEXTS.get(verify)
    if context is None:
        context = _SSL_CONTEXTS[verify] = httpx.create_ssl_context(verify=verify, trust_env=False)
    return context


def make_client(
    *,
    policy: AddressPolicy | None = None,
    proxy: str | None = None,
    max_connections: int = 100,
    user_agent: str = USER_AGENT,
    verify: bool = True,
) -> httpx.AsyncClient:
    """An AsyncClient for fetch_url: no redirects followed by httpx, no environment proxies, and the
    address policy (default: from AGGREGATOR_ALLOW_HOSTS) enforced on every IP connected to.

    With a `proxy` configured on purpose the proxy resolves and connects, so this process cannot
    see the target's IP: only URLs whose host is an IP literal are checked (on every hop), host
    names are NOT checked, and the proxy's own address is trusted as configured. Scheme, redirect,
    size and time limits still apply. `trust_env` is True only in that case (as configured)."""
    policy = AddressPolicy.from_env() if policy is None else policy
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=min(20, max_connections),
        keepalive_expiry=10.0,
    )
    trust_env = proxy is not None
    transport = httpx.AsyncHTTPTransport(
        verify=verify if trust_env else _ssl_context(verify),
        trust_env=trust_env,
        limits=limits,
        proxy=proxy,
    )
    if proxy is None:
        # httpx has no option for a network backend, so swap in a pool that uses ours. Checked
        # so that an httpx upgrade that renames the pool fails here, not silently unguarded.
        if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx transport layout changed: cannot install the address guard")
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(policy),
        )
    client = httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=trust_env,
        headers={"User-Agent": user_agent},
        timeout=httpx.Timeout(20.0, connect=10.0),
        event_hooks={"response": [_refuse_bad_redirect]},
    )
    _CLIENTS[client] = _ClientInfo(policy=policy, proxy=proxy)
    return client


# --------------------------------------------------------------------------- fetching


async def fetch_url(
    client: httpx.AsyncClient,
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
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # any httpx error _fetch did not name
        text = " ".join(str(exc).split())[:300]
        raise FetchError(f"{type(exc).__name__}: {text}", url=url) from exc
    return _replace_elapsed(result, time.monotonic() - started)


async def _fetch(
    client: httpx.AsyncClient,
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
    info = _CLIENTS.get(client)
    headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
    current = url
    hops = 0
    all_permanent = True
    while True:
        target = _check_url(current, first=hops == 0)
        if info is not None and info.proxy is not None:
            _precheck_literal(info.policy, target)
        try:
            request = client.build_request("GET", target, headers=headers, timeout=timeout)
            response = await client.send(request, stream=True)
        except httpx.InvalidURL as exc:  # a Location header httpx cannot parse
            raise FetchError(f"invalid redirect location: {exc}") from None
        except httpx.HTTPError as exc:
            proxied = bool(info and info.proxy)
            raise _translate(exc, connect_timeout, read_timeout, proxied=proxied) from exc
        except BlockedAddressError as exc:
            if hops:
                exc.message = f"{exc.message} (on redirect to {target})"
                exc.args = (exc.message,)
            raise
        try:
            status = response.status_code
            location = response.headers.get("location")
            if status in _REDIRECTS and location:
                hops += 1
                if hops > max_redirects:
                    raise FetchError(f"too many redirects (more than {max_redirects})")
                all_permanent = all_permanent and status in _PERMANENT
                try:
                    current = str(target.join(location.strip()))
                except (httpx.InvalidURL, ValueError):
                    raise FetchError(f"invalid redirect location {location[:200]!r}") from None
                continue
            if status == 304 or 200 <= status < 300:
                content = b"" if status in (204, 304) else await _read_body(response, max_bytes)
                return _result(
                    url, str(target), response, content, permanent=all_permanent and hops > 0
                )
            raise _status_error(response)
        except httpx.HTTPError as exc:
            raise _translate(exc, connect_timeout, read_timeout, proxied=False) from exc
        finally:
            await response.aclose()


def _scheme_refusal(url: str, *, first: bool) -> FetchError | None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return None
    where = "URL" if first else "redirect to a URL"
    return FetchError(f"{where} with a scheme that is not allowed: {scheme[:20] or '(none)'}")


def _check_url(url: str, *, first: bool) -> httpx.URL:
    refusal = _scheme_refusal(url, first=first)
    if refusal is not None:
        raise refusal
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise FetchError(f"invalid URL {url[:200]!r}") from None
    if not parsed.host:
        raise FetchError(f"URL without a host: {url[:200]!r}")
    return parsed


async def _refuse_bad_redirect(response: httpx.Response) -> None:
    """Response hook: httpx prepares the next request even with follow_redirects=False and can
    choke on a `javascript:` Location, so refuse foreign schemes before it tries."""
    location = response.headers.get("location")
    if response.status_code in _REDIRECTS and location:
        refusal = _scheme_refusal(
            urllib.parse.urljoin(str(response.request.url), location.strip()), first=False
        )
        if refusal is not None:
            raise refusal


def _precheck_literal(policy: AddressPolicy, target: httpx.URL) -> None:
    literal = _ip_literal(target.host)
    if literal is not None:
        port = target.port or (443 if target.scheme == "https" else 80)
        policy.check(target.host, port, str(literal))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _translate(
    exc: httpx.HTTPError, connect_timeout: float, read_timeout: float, *, proxied: bool
) -> FetchError:
    """One plain line for an httpx failure; the OS error underneath names it best."""
    causes = _causes(exc)
    text = next((" ".join(str(c).split()) for c in causes if str(c).strip()), type(exc).__name__)
    low = text.lower()
    proxy = "proxy: " if proxied and isinstance(exc, (httpx.ConnectError, httpx.ProxyError)) else ""

    def has(kind: type[BaseException]) -> bool:
        return any(isinstance(c, kind) for c in causes)

    if isinstance(exc, httpx.ConnectTimeout):
        message = f"connect timed out after {connect_timeout:g} s"
    elif isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        message = f"timed out after {read_timeout:g} s waiting for the server"
    elif isinstance(exc, httpx.PoolTimeout):
        message = f"timed out after {connect_timeout:g} s waiting for a free connection"
    elif has(ConnectionRefusedError) or "refused" in low:
        message = "connection refused"
    elif has(ssl.SSLCertVerificationError) or "certificate" in low:
        message = f"TLS certificate verification failed: {text}"
    elif has(ssl.SSLError):
        message = f"TLS error: {text}"
    elif isinstance(exc, httpx.ConnectError):
        message = f"could not connect: {text}"
    elif has(ConnectionResetError) or "reset by peer" in low:
        message = "connection reset by peer"
    elif "complete message body" in low or "incomplete" in low:
        message = f"incomplete response: the server closed the connection early ({text})"
    elif isinstance(exc, httpx.RemoteProtocolError):
        message = f"protocol error: {text}"
    elif isinstance(exc, httpx.ReadError):
        message = f"read error: {text}"
    else:
        message = f"{type(exc).__name__}: {text}"
    return FetchError(proxy + message[:500])


def _status_error(response: httpx.Response) -> HTTPStatusError:
    status = response.status_code
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason_phrase or "Unknown"
    message = f"HTTP {status} {phrase}"
    if status == 403 and response.headers.get("cf-mitigated", "").lower() == "challenge":
        message += " (Cloudflare challenge)"
    return HTTPStatusError(
        message, status=status, retry_after=parse_retry_after(response.headers.get("retry-after"))
    )


def _result(
    url: str, final_url: str, response: httpx.Response, content: bytes, *, permanent: bool
) -> FetchResult:
    media, _, params = response.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if response.headers.get("expires", "").strip() == "0":
        etag = last_modified = None
    return FetchResult(
        url=url,
        final_url=final_url,
        status=response.status_code,
        content=content,
        content_type=media.strip().lower(),
        charset=charset,
        etag=etag,
        last_modified=last_modified,
        permanent_redirect=final_url if permanent else None,
        headers=tuple((k.lower(), v) for k, v in response.headers.multi_items()),
    )


def _replace_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return dataclasses.replace(result, elapsed=elapsed)


# --------------------------------------------------------------------------- body and decoding


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _too_large(max_bytes: int) -> TooLargeError:
    return TooLargeError(f"response too large (over {_size(max_bytes)})")


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    coding = _content_coding(response.headers.get_list("content-encoding", split_commas=True))
    length = response.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    decoder = _Decoder(coding, max_bytes)
    raw = 0
    async for chunk in response.aiter_raw():  # raw: httpx's own decoding has no output bound
        raw += len(chunk)
        if raw > max_bytes:  # also bounds streams that decode to nothing
            raise _too_large(max_bytes)
        decoder.feed(chunk)
    return decoder.finish()


def _content_coding(values: list[str]) -> str | None:
    codings = [v.strip().lower() for v in values if v.strip() and v.strip().lower() != "identity"]
    if len(codings) > 1:
        raise FetchError(f"stacked content encodings refused: {', '.join(codings)}")
    if not codings:
        return None
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return "gzip"
    if coding == "deflate":
        return "deflate"
    raise FetchError(f"unsupported content encoding: {coding[:50]}")


class _Decoder:
    """Incremental gzip/deflate decoding whose output never passes `max_bytes`: zlib is asked for
    at most one step of output per call, so a bomb costs no more memory than the cap."""

    def __init__(self, coding: str | None, max_bytes: int) -> None:
        self._coding = coding
        self._max = max_bytes
        self._out: list[bytes] = []
        self._total = 0
        self._held = b""  # bytes kept until a header can be recognised
        self._z: Any = None  # the current zlib decompressobj
        self._in_stream = False  # the current decompressor has been given data and is not at eof
        self._done = False  # after the last gzip member: the rest is ignored

    def _emit(self, data: bytes) -> None:
        if data:
            self._total += len(data)
            if self._total > self._max:
                raise _too_large(self._max)
            self._out.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._coding is None:
            self._emit(chunk)
            return
        if not chunk or self._done:
            return
        try:
            self._inflate(self._held + chunk)
        except zlib.error as exc:
            raise FetchError(f"invalid {self._coding} data: {exc}") from None

    def _inflate(self, data: bytes) -> None:
        self._held = b""
        while data and not self._done:
            if self._z is None:
                if len(data) < 2:
                    self._held = data
                    return
                self._z = zlib.decompressobj(self._wbits(data))
            self._in_stream = True
            while True:
                out = self._z.decompress(data, _DECODE_STEP)
                self._emit(out)
                data = self._z.unconsumed_tail
                if self._z.eof or (not data and len(out) < _DECODE_STEP):
                    break
            if self._z.eof:
                self._in_stream = False
                data = self._z.unused_data + data
                # Another gzip member may follow (RFC 1952 allows several); anything else after
                # the end of the stream is ignored, as browsers do.
                if self._coding == "gzip" and data[:2] in (b"\x1f\x8b", b"\x1f"):
                    self._z = None
                else:
                    self._done = True

    def _wbits(self, head: bytes) -> int:
        if self._coding == "gzip":
            return 16 + zlib.MAX_WBITS
        # "deflate" is meant to be zlib-wrapped (RFC 1950) but many servers send raw deflate.
        wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS

    def finish(self) -> bytes:
        if self._coding is not None and not self._done:
            if self._held or self._in_stream:
                try:
                    self._emit(self._z.flush() if self._z is not None else b"")
                except zlib.error as exc:
                    raise FetchError(f"invalid {self._coding} data: {exc}") from None
                if self._z is None or not self._z.eof:
                    raise FetchError(f"invalid {self._coding} data: the stream is truncated")
        return b"".join(self._out)


# ------------------------------------------------------------------ headers for the scheduler


def parse_retry_after(
    value: str | None, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), at most `cap`
    (7 days); 0 for a date in the past; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(int(text)), cap)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - now), cap)


HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]], httpx.Headers]


def cache_lifetime(
    headers: HeadersLike, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds the response may be considered fresh, from Cache-Control (no-store / no-cache -> 0,
    max-age minus Age) or else Expires (an invalid date or `0` -> 0); None when neither is given.
    Capped at `cap` (7 days)."""
    found: dict[str, str] = {}
    items = headers.items() if isinstance(headers, (Mapping, httpx.Headers)) else headers
    for key, value in items:
        name = key.lower()
        found[name] = f"{found[name]}, {value}" if name in found else value
    control = found.get("cache-control")
    if control:
        directives: dict[str, str] = {}
        for part in control.split(","):
            key, _, value = part.strip().partition("=")
            directives[key.strip().lower()] = value.strip().strip('"')
        if "no-store" in directives or "no-cache" in directives:
            return 0.0
        if directives.get("max-age", "").isdigit():
            age = found.get("age", "0").strip()
            lifetime = int(directives["max-age"]) - (int(age) if age.isdigit() else 0)
            return min(max(0.0, float(lifetime)), cap)
    if "expires" in found:
        try:
            when = email.utils.parsedate_to_datetime(found["expires"].strip())
        except (TypeError, ValueError, IndexError):
            return 0.0
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        now = time.time() if now is None else now
        return min(max(0.0, when.timestamp() - now), cap)
    return None


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
