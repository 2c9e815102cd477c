"""The plugin's settings, read from the Datasette instance's own plugin configuration
(`plugins: aggregator:` in metadata.yml), so each Datasette in a process has its own.

    plugins:
      aggregator:
        security_headers: true        # Content-Security-Policy and friends on every response
        allowed_hosts: [localhost]    # answer only these Host names (DNS rebinding); absent: any
        require_auth: false           # every page and write needs a login (set by `serve`)
        fetch_saved: true             # download links saved in the browser in the background
        refresh_every: 1800           # seconds between background refreshes (`serve`); 0: off
        mark_read_on_open: true       # opening an unread article's page marks it read
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PLUGIN = "aggregator"
DATABASE = "aggregator"
# Host names that always mean this machine.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class Settings:
    security_headers: bool = False
    allowed_hosts: tuple[str, ...] | None = None
    require_auth: bool = False
    fetch_saved: bool = True
    refresh_every: int = 0
    mark_read_on_open: bool = True

    @property
    def guarded(self) -> bool:
        """Whether the instance needs the security middleware at all."""
        return self.security_headers or self.allowed_hosts is not None or self.require_auth


def read(datasette: Any) -> Settings:
    raw = datasette.plugin_config(PLUGIN) or {}
    hosts = raw.get("allowed_hosts")
    return Settings(
        security_headers=bool(raw.get("security_headers", False)),
        allowed_hosts=(
            tuple(str(h).strip().lower() for h in hosts if str(h).strip())
            if isinstance(hosts, list)
            else None
        ),
        require_auth=bool(raw.get("require_auth", False)),
        fetch_saved=bool(raw.get("fetch_saved", True)),
        refresh_every=_seconds(raw.get("refresh_every")),
        mark_read_on_open=bool(raw.get("mark_read_on_open", True)),
    )


def _seconds(value: Any) -> int:
    """A whole number of seconds from the configuration; anything else is 0 (off)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    text = str(value or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else 0
