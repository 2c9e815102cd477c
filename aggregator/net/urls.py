"""Checking a URL before it is asked for: http and https only, a host in ASCII (IDNA), IPv4
numbers in their one canonical form (as browsers read `2130706433` or `0x7f.1`), a request target
without spaces or line breaks. No I/O."""

from __future__ import annotations

import base64
import functools
import re
import socket
import urllib.parse
from dataclasses import dataclass

from aggregator.errors import FetchError

__all__ = ["Target", "basic_credentials", "check_url", "scheme_refusal"]

# Characters a request target may carry as they are (RFC 3986 unreserved, sub-delims, ":@/?%").
_TARGET_SAFE = "!$&'()*+,;=:@/?%-._~"
# The last label of a host that makes it an IPv4 address in some form (WHATWG URL "ends in a
# number"): decimal, or hexadecimal with 0x.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


@dataclass(frozen=True)
class Target:
    """One URL, checked: what the fetch reports (`url`, as given) and what it asks for."""

    url: str  # as given, without surrounding white space
    scheme: str  # "http" or "https"
    host: str  # ASCII (IDNA), lower case, IPv4 canonical, IPv6 without brackets
    port: int
    request_url: str  # normalised: host as above, path quoted, no credentials, no fragment
    authorization: str | None  # Basic credentials from the URL's userinfo

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)


def scheme_refusal(url: str, *, first: bool) -> FetchError | None:
    """The error for a URL whose scheme is not http or https, else None."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return None
    where = "URL" if first else "redirect to a URL"
    return FetchError(f"{where} with a scheme that is not allowed: {scheme[:20] or '(none)'}")


def _idna(host: str) -> str:
    if host.isascii():
        return host.lower()
    import idna

    return str(idna.encode(host, uts46=True).decode("ascii"))


def _canonical_ipv4(host: str) -> str | None:
    """`127.0.0.1` for `2130706433`, `0x7f.1`, `127.1` or `0177.0.0.1.`; None when the host is a
    name. Raises ValueError for a number that is no IPv4 address (`1.2.3.4.5`, `256.1.1.1`)."""
    name = host[:-1] if host.endswith(".") else host
    if not _NUMERIC_LABEL.fullmatch(name.rpartition(".")[2]):
        return None
    if not all(_NUMERIC_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(host)
    try:
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        raise ValueError(host) from None


@functools.lru_cache(maxsize=4096)  # a refresh asks the same URLs every run
def check_url(url: str, *, first: bool) -> Target:
    """The checked form of `url`, or a FetchError saying what is wrong with it."""
    refusal = scheme_refusal(url, first=first)
    if refusal is not None:
        raise refusal
    text = url.strip()
    if not text or any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise FetchError(f"invalid URL {url[:200]!r}")
    try:
        parts = urllib.parse.urlsplit(text)
        hostname = parts.hostname or ""
        host = _idna(hostname) if hostname else ""
        port = parts.port
    except (ValueError, UnicodeError, TypeError):
        raise FetchError(f"invalid URL {url[:200]!r}") from None
    if not host:
        raise FetchError(f"URL without a host: {url[:200]!r}")
    bracketed = ":" in host
    if not bracketed:
        if not all(c.isascii() and (c.isalnum() or c in "-._") for c in host):
            raise FetchError(f"invalid URL {url[:200]!r}")
        try:
            host = _canonical_ipv4(host) or host
        except ValueError:
            raise FetchError(f"invalid URL {url[:200]!r}: not an IPv4 address") from None
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii() or any(c in path for c in '"<>\\^`{|} '):
        path = urllib.parse.quote(path, safe=_TARGET_SAFE)
    shown_host = f"[{host}]" if bracketed else host
    default = port == (443 if scheme == "https" else 80)
    authority = shown_host if default else f"{shown_host}:{port}"
    return Target(
        url=text,
        scheme=scheme,
        host=host,
        port=port,
        request_url=f"{scheme}://{authority}{path}",
        authorization=basic_credentials(parts),
    )


def basic_credentials(parts: urllib.parse.SplitResult) -> str | None:
    """The Authorization value (Basic) for the user and password of a URL, if it has a user."""
    if parts.username is None:
        return None
    user = urllib.parse.unquote(parts.username)
    pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
