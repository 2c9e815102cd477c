"""HTTP fetching: one GET with a body cap, a deadline, manual redirects, conditional headers and an
address policy checked on the IP actually connected to; HTTP/1.1 itself is in wire.py. Parses
nothing.

Errors (all carry `.url`, the URL asked for; messages are one line):

    FetchError                 refused, timed out, reset, bad encoding, too many redirects ...
     ├── BlockedAddressError   the address policy refused a target (any hop)
     ├── TooLargeError         body over the cap, counted after decompression
     └── HTTPStatusError       an answer other than 2xx/304 (`.status`, `.retry_after` in seconds)
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import email.utils
import functools
import http
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from aggregator import USER_AGENT, wire
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
    "Client",
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
KEEPALIVE_EXPIRY = 10.0  # seconds an idle connection is kept for the next request to its host
MAX_IDLE_PER_HOST = 8

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


def _resolve(host: str, port: int) -> list[str]:
    try:
        return resolve_host(host, port)  # looked up at call time so tests can patch it
    except (socket.gaierror, UnicodeError, OSError):
        return []


async def _resolve_async(host: str, port: int) -> list[str]:
    """getaddrinfo in a daemon thread: a lookup that hangs is abandoned at the connect timeout
    and never holds up the end of the run (the loop's executor would be waited for)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[str]] = loop.create_future()

    def settle(result: list[str]) -> None:
        if not future.done():
            future.set_result(result)

    def work() -> None:
        result = _resolve(host, port)
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=work, name=f"resolve {host}", daemon=True).start()
    return await future


_SSL_CONTEXTS: dict[Any, ssl.SSLContext] = {}


def _ssl_context(verify: Any) -> ssl.SSLContext:
    """One SSL context per `verify` setting in a process: loading the CA bundle costs about
    25 ms, and forked fetch workers inherit it instead of loading it again. The CA bundle is
    certifi's when installed (the same on every machine), else the system's."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = _SSL_CONTEXTS.get(verify)
    if context is None:
        if verify:
            try:
                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                context = ssl.create_default_context()
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        _SSL_CONTEXTS[verify] = context
    return context


@dataclass(frozen=True)
class _Target:
    """One request's URL, ready for the wire."""

    url: str
    scheme: str  # "http" or "https"
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int
    path: str  # origin-form request target: path and query
    authorization: str | None  # Basic credentials from the URL's userinfo

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def absolute(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None


def _parse_proxy(proxy: str) -> _Proxy:
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme.lower() != "http":
        raise AggregatorError(
            f"proxy {proxy!r}: only http:// proxies are supported (https targets go through "
            "CONNECT)"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise AggregatorError(f"proxy {proxy!r}: invalid port") from None
    if not parts.hostname:
        raise AggregatorError(f"proxy {proxy!r}: no host")
    return _Proxy(parts.hostname, port, _basic(parts.username, parts.password))


def _basic(user: str | None, password: str | None) -> str | None:
    if user is None:
        return None
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class Client:
    """What fetch_url sends with: the address policy, TLS settings, an optional proxy, a cap on
    open connections and the connections kept alive between requests (per scheme, host, port).
    Use as `async with make_client() as client:`; one client per event loop."""

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
        self._slots: asyncio.Semaphore | None = None
        self._idle: dict[tuple[str, str, int], list[wire.Connection]] = {}
        self._checked: set[tuple[str, int, str]] = set()  # (host, port, ip) the policy allowed
        self._lookups: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self.closed = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    # -- connection slots and the idle pool

    async def acquire(self, timeout: float) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise FetchError(
                f"timed out after {timeout:g} s waiting for a free connection"
            ) from None

    def release(self) -> None:
        assert self._slots is not None
        self._slots.release()

    def take_idle(self, key: tuple[str, str, int]) -> wire.Connection | None:
        connections = self._idle.get(key)
        now = time.monotonic()
        while connections:
            connection = connections.pop()
            if now - connection.idle_since < KEEPALIVE_EXPIRY and not connection.is_stale():
                connection.reused = True
                return connection
            connection.close()
        return None

    def put_back(self, connection: wire.Connection) -> None:
        if not connection.reusable or self.closed:
            connection.close()
            return
        connection.reusable = False
        connection.idle_since = time.monotonic()
        connections = self._idle.setdefault(connection.key, [])
        connections.append(connection)
        if len(connections) > MAX_IDLE_PER_HOST:
            connections.pop(0).close()

    # -- connecting under the policy

    async def _addresses(self, host: str, port: int, timeout: float) -> list[str]:
        literal = _ip_literal(host)
        if literal is not None:
            return [str(literal)]
        lookup = self._lookups.get((host, port))
        if lookup is None:  # one lookup per host and port per run, shared by its feeds
            lookup = self._lookups[(host, port)] = asyncio.ensure_future(_resolve_async(host, port))
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(lookup)
        except TimeoutError:
            raise _ConnectTimeout(f"resolving {host} timed out") from None

    def check(self, host: str, port: int, ip: str) -> None:
        if (host, port, ip) not in self._checked:
            self.policy.check(host, port, ip)
            self._checked.add((host, port, ip))

    async def connect(self, target: _Target, timeout: float) -> wire.Connection:
        """A new connection for `target`: to the proxy, or to a checked address of its host."""
        started = time.monotonic()
        if self.proxy is not None:
            host, port, addresses = self.proxy.host, self.proxy.port, [self.proxy.host]
        else:
            host, port = target.host, target.port
            addresses = await self._addresses(host, port, timeout)
            if not addresses:  # fail closed
                raise FetchError(f"could not resolve host {host}")
            for address in addresses:  # every one, so a rebinding answer cannot slip one past
                self.check(host, port, address)
        direct_tls = target.scheme == "https" and self.proxy is None
        context = _ssl_context(self._verify) if target.scheme == "https" else None
        last: BaseException | None = None
        for address in addresses:
            remaining = max(0.001, timeout - (time.monotonic() - started))
            try:
                async with asyncio.timeout(remaining):
                    reader, writer = await asyncio.open_connection(
                        address,
                        port,
                        ssl=context if direct_tls else None,
                        server_hostname=target.host if direct_tls else None,
                        limit=wire.MAX_LINE,
                    )
            except TimeoutError:
                raise _ConnectTimeout("connect timed out") from None
            except OSError as exc:  # refused, unreachable, TLS errors: try the next address
                last = exc
                continue
            connection = wire.Connection(reader, writer, target.key)
            if self.proxy is not None and target.scheme == "https":
                remaining = max(0.001, timeout - (time.monotonic() - started))
                await self._tunnel(connection, target, context, remaining)
            return connection
        assert last is not None
        raise last

    async def _tunnel(
        self,
        connection: wire.Connection,
        target: _Target,
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        """CONNECT through the proxy, then TLS to the target inside the tunnel."""
        assert self.proxy is not None and context is not None
        authority = target.host_header if target.port != 443 else f"{target.host_header}:443"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if self.proxy.authorization:
            lines.append(f"Proxy-Authorization: {self.proxy.authorization}")
        try:
            connection.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = await wire.read_head(connection.reader, timeout)
            if not 200 <= head.status < 300:
                connection.close()
                raise _ProxyRefused(f"the proxy answered HTTP {head.status} to CONNECT")
            async with asyncio.timeout(timeout):
                try:
                    await connection.writer.start_tls(context, server_hostname=target.host)
                except ssl.SSLError as exc:  # the target's TLS, not the proxy's
                    raise _TargetTLSError(exc) from exc
        except TimeoutError:
            connection.close()
            raise _ConnectTimeout("connect timed out") from None
        except BaseException:
            connection.close()
            raise


class _ConnectTimeout(Exception):
    pass


class _ProxyRefused(Exception):
    pass


class _TargetTLSError(Exception):
    """TLS with the target failed inside a proxy's tunnel: reported as the target's error."""

    def __init__(self, error: ssl.SSLError) -> None:
        super().__init__(str(error))
        self.error = error


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
    CONNECT) the proxy resolves and connects, so this process cannot see the target's IP: only URLs
    whose host is an IP literal are checked (on every hop), host names are NOT checked, and the
    proxy's own address is trusted as configured. Scheme, redirect, size and time limits still
    apply."""
    policy = AddressPolicy.from_env() if policy is None else policy
    return Client(
        policy=policy,
        proxy=proxy,
        max_connections=max_connections,
        user_agent=user_agent,
        verify=verify,
    )


# --------------------------------------------------------------------------- fetching


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
    extra = [
        f"User-Agent: {client.user_agent}",
        f"Accept: {accept}",
        "Accept-Encoding: gzip, deflate",
    ]
    if _header_value(etag):
        extra.append(f"If-None-Match: {etag}")
    if _header_value(last_modified):
        extra.append(f"If-Modified-Since: {last_modified}")
    current = url
    hops = 0
    all_permanent = True
    while True:
        target = _check_url(current, first=hops == 0)
        if client.proxy is not None:
            _precheck_literal(client.policy, target)
        try:
            head, content = await _exchange(
                client,
                target,
                extra,
                max_bytes=max_bytes,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        except BlockedAddressError as exc:
            if hops:
                exc.message = f"{exc.message} (on redirect to {target.url})"
                exc.args = (exc.message,)
            raise
        status = head.status
        location = head.get("location")
        if status in _REDIRECTS and location:
            hops += 1
            if hops > max_redirects:
                raise FetchError(f"too many redirects (more than {max_redirects})")
            all_permanent = all_permanent and status in _PERMANENT
            try:
                current = urllib.parse.urljoin(target.url, location.strip())
            except ValueError:
                raise FetchError(f"invalid redirect location {location[:200]!r}") from None
            refusal = _scheme_refusal(current, first=False)
            if refusal is not None:
                raise refusal
            continue
        if status == 304 or 200 <= status < 300:
            return _result(
                url, target.url, head, content or b"", permanent=all_permanent and hops > 0
            )
        raise _status_error(head)


async def _exchange(
    client: Client,
    target: _Target,
    extra: list[str],
    *,
    max_bytes: int,
    connect_timeout: float,
    read_timeout: float,
) -> tuple[wire.Head, bytes | None]:
    """One request and its response: the head, and the decoded body of a 2xx answer (None for
    others, whose bodies are not read)."""
    proxied = client.proxy is not None
    if proxied and target.scheme == "http":
        lines = [f"GET {target.absolute()} HTTP/1.1", f"Host: {target.host_header}"]
        if client.proxy is not None and client.proxy.authorization:
            lines.append(f"Proxy-Authorization: {client.proxy.authorization}")
    else:
        lines = [f"GET {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    if target.authorization:
        lines.append(f"Authorization: {target.authorization}")
    request = ("\r\n".join(lines + extra) + "\r\n\r\n").encode("latin-1")
    await client.acquire(connect_timeout)
    connection: wire.Connection | None = None
    try:
        for attempt in (0, 1):
            connection = client.take_idle(target.key) if attempt == 0 else None
            if connection is None:
                try:
                    connection = await client.connect(target, connect_timeout)
                except _ConnectTimeout:
                    raise FetchError(f"connect timed out after {connect_timeout:g} s") from None
                except _ProxyRefused as exc:
                    raise FetchError(f"proxy: {exc}") from None
                except _TargetTLSError as exc:
                    raise _connect_error(exc.error, proxied=False) from None
                except (OSError, wire.WireError) as exc:
                    raise _connect_error(exc, proxied=proxied) from None
            try:
                connection.writer.write(request)
                head = await wire.read_head(connection.reader, read_timeout)
            except (wire.IncompleteError, ConnectionError) as exc:
                connection.close()
                if connection.reused:  # the server had closed a kept-alive connection
                    connection = None
                    continue
                raise _read_error(exc, read_timeout) from None
            break
        assert connection is not None
        if head.status == 304 or 200 <= head.status < 300:
            content = await _read_body(connection, head, max_bytes, read_timeout)
            return head, content
        return head, None
    except (OSError, TimeoutError, wire.WireError) as exc:
        raise _read_error(exc, read_timeout) from None
    finally:
        if connection is not None:
            client.put_back(connection)
        client.release()


def _connect_error(exc: BaseException, *, proxied: bool) -> FetchError:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        message = "connection refused"
    elif isinstance(exc, ssl.SSLCertVerificationError) or "certificate" in text.lower():
        message = f"TLS certificate verification failed: {text}"
    elif isinstance(exc, ssl.SSLError):
        message = f"TLS error: {text}"
    elif isinstance(exc, wire.WireError):
        message = f"protocol error: {text}"
    else:
        message = f"could not connect: {text}"
    return FetchError(("proxy: " if proxied else "") + message[:500])


def _read_error(exc: BaseException, read_timeout: float) -> FetchError:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        message = f"timed out after {read_timeout:g} s waiting for the server"
    elif isinstance(exc, ConnectionResetError) or "reset by peer" in text.lower():
        message = "connection reset by peer"
    elif isinstance(exc, wire.IncompleteError):
        message = f"incomplete response: {text}"
    elif isinstance(exc, wire.WireError):
        message = f"protocol error: {text}"
    elif isinstance(exc, ssl.SSLError):
        message = f"TLS error: {text}"
    else:
        message = f"read error: {text}"
    return FetchError(message[:500])


def _scheme_refusal(url: str, *, first: bool) -> FetchError | None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return None
    where = "URL" if first else "redirect to a URL"
    return FetchError(f"{where} with a scheme that is not allowed: {scheme[:20] or '(none)'}")


# Characters a request target may carry as they are (RFC 3986 unreserved, sub-delims, ":@/?%").
_TARGET_SAFE = "!$&'()*+,;=:@/?%-._~"


def _idna(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        import idna

        return str(idna.encode(host, uts46=True).decode("ascii"))
    except ImportError:
        return host.encode("idna").decode("ascii").lower()


@functools.lru_cache(maxsize=4096)  # a refresh asks the same URLs every run
def _check_url(url: str, *, first: bool) -> _Target:
    refusal = _scheme_refusal(url, first=first)
    if refusal is not None:
        raise refusal
    if any(ord(c) < 0x20 or c == "\x7f" for c in url.strip()) or not url.strip():
        raise FetchError(f"invalid URL {url[:200]!r}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        hostname = parts.hostname or ""
        host = _idna(hostname) if hostname else ""
        port = parts.port
    except (ValueError, UnicodeError, TypeError):
        raise FetchError(f"invalid URL {url[:200]!r}") from None
    if not host:
        raise FetchError(f"URL without a host: {url[:200]!r}")
    if _ip_literal(host) is None and not all(c.isalnum() or c in "-._" for c in host):
        raise FetchError(f"invalid URL {url[:200]!r}")
    scheme = parts.scheme.lower()
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii() or any(c in path for c in '"<>\\^`{|} '):
        path = urllib.parse.quote(path, safe=_TARGET_SAFE)
    return _Target(
        url=url.strip(),
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        authorization=_basic(parts.username, parts.password),
    )


def _precheck_literal(policy: AddressPolicy, target: _Target) -> None:
    literal = _ip_literal(target.host)
    if literal is not None:
        policy.check(target.host, target.port, str(literal))


def _status_error(head: wire.Head) -> HTTPStatusError:
    status = head.status
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = head.reason or "Unknown"
    message = f"HTTP {status} {phrase}"
    if status == 403 and (head.get("cf-mitigated") or "").lower() == "challenge":
        message += " (Cloudflare challenge)"
    return HTTPStatusError(
        message, status=status, retry_after=parse_retry_after(head.get("retry-after"))
    )


def _result(
    url: str, final_url: str, head: wire.Head, content: bytes, *, permanent: bool
) -> FetchResult:
    media, _, params = (head.get("content-type") or "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    etag = head.get("etag")
    last_modified = head.get("last-modified")
    if (head.get("expires") or "").strip() == "0":
        etag = last_modified = None
    return FetchResult(
        url=url,
        final_url=final_url,
        status=head.status,
        content=content,
        content_type=media.strip().lower(),
        charset=charset,
        etag=etag,
        last_modified=last_modified,
        permanent_redirect=final_url if permanent else None,
        headers=tuple(head.headers),
    )


# --------------------------------------------------------------------------- body and decoding


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _too_large(max_bytes: int) -> TooLargeError:
    return TooLargeError(f"response too large (over {_size(max_bytes)})")


async def _read_body(
    connection: wire.Connection, head: wire.Head, max_bytes: int, read_timeout: float
) -> bytes:
    codings = [v for value in head.get_all("content-encoding") for v in value.split(",")]
    coding = _content_coding(codings)
    length = head.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    decoder = _Decoder(coding, max_bytes)
    raw = 0
    async for chunk in wire.body_chunks(connection, head, read_timeout):
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


HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]]]


def cache_lifetime(
    headers: HeadersLike, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds the response may be considered fresh, from Cache-Control (no-store / no-cache -> 0,
    max-age minus Age) or else Expires (an invalid date or `0` -> 0); None when neither is given.
    Capped at `cap` (7 days)."""
    found: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers
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
