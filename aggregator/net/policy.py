"""The address policy: which IP addresses a fetch may connect to (public ones, plus what
AGGREGATOR_ALLOW_HOSTS allows), and host name resolution done where the policy can see every
answer. No HTTP here."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

from aggregator.errors import AggregatorError, BlockedAddressError

__all__ = [
    "ALLOW_HOSTS_ENV",
    "AddressPolicy",
    "blocked_reason",
    "ip_literal",
    "resolve",
    "resolve_host",
]

ALLOW_HOSTS_ENV = "AGGREGATOR_ALLOW_HOSTS"

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

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


@functools.lru_cache(maxsize=1024)  # a run asks a few hundred hosts, each many times
def ip_literal(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal in canonical form (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _norm_host(host: str) -> str:
    """Hostname as written, lower case; IP literals in their canonical form. No dot stripping."""
    literal = ip_literal(host)
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
                    f"{ALLOW_HOSTS_ENV}: cannot read entry {entry[:100]!r} "
                    "(want host, host:port or CIDR)"
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
        addr = ip_literal(ip)
        return addr is not None and any(
            addr.version == net.version and addr in net for net in self.allow_networks
        )

    def allows_name(self, host: str, port: int) -> bool:
        """Whether the hostname itself (as written) is allowlisted, whatever it resolves to."""
        name = _norm_host(host)
        return name in self.allow_hosts or (name, port) in self.allow_host_ports

    def check(self, host: str, port: int, ip: str) -> None:
        """Raise BlockedAddressError unless connecting to `ip` for `host:port` is allowed."""
        if ip_literal(ip) is None:
            raise BlockedAddressError(f"blocked address {ip[:100]!r} (not an IP address)")
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
    if entry.count(":") > 1 and ip_literal(entry) is None:
        raise ValueError(entry)
    return entry, None


def _port(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text):
        raise ValueError(text)
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return port


# --------------------------------------------------------------------------- resolution


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking getaddrinfo). Tests replace it to play DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def _resolve_quietly(host: str, port: int) -> list[str]:
    try:
        return resolve_host(host, port)  # looked up at call time so tests can replace it
    except (socket.gaierror, UnicodeError, OSError):
        return []


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` ([] when it does not resolve), looked up in a daemon thread: a
    lookup that hangs is abandoned at the caller's timeout and never holds up the end of the run
    (the event loop's executor would be waited for)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[str]] = loop.create_future()

    def settle(result: list[str]) -> None:
        if not future.done():
            future.set_result(result)

    def work() -> None:
        result = _resolve_quietly(host, port)
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=work, name=f"resolve {host[:50]}", daemon=True).start()
    return await future


def is_local_name(host: str) -> bool:
    """`localhost` and names under it, which always mean this machine (RFC 6761), whatever a DNS
    server or a proxy would answer for them."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")
