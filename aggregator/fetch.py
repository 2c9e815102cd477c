"""The fetch layer's public names in one place, for the pipeline, the CLI, the web and tests:
the work is done in the `aggregator.net` package (policy, urls, client, request, decode,
headers, schedule). Nothing is defined here."""

from __future__ import annotations

from aggregator.models import FetchResult
from aggregator.net.client import Client, make_client, make_env_client
from aggregator.net.policy import ALLOW_HOSTS_ENV, AddressPolicy, blocked_reason, resolve_host
from aggregator.net.request import (
    DEFAULT_MAX_BYTES,
    FEED_ACCEPT,
    PAGE_ACCEPT,
    fetch_url,
    fetch_url_sync,
)
from aggregator.net.schedule import (
    MAX_RETRY_AFTER,
    cache_lifetime,
    next_check_delay,
    parse_retry_after,
)

__all__ = [
    "ALLOW_HOSTS_ENV",
    "DEFAULT_MAX_BYTES",
    "FEED_ACCEPT",
    "MAX_RETRY_AFTER",
    "PAGE_ACCEPT",
    "AddressPolicy",
    "Client",
    "FetchResult",
    "blocked_reason",
    "cache_lifetime",
    "fetch_url",
    "fetch_url_sync",
    "make_client",
    "make_env_client",
    "next_check_delay",
    "parse_retry_after",
    "resolve_host",
]
