"""Building the Datasette instance that `aggregator serve` runs: the metadata.yml shipped in
this package (the repository's top-level metadata.yml is a link to it), the settings a large
collection needs, and the database always named `aggregator` whatever its file is called.

Exposure rules: on loopback no login is needed; on any other address `serve` refuses unless a
password hash is configured (env AGGREGATOR_PASSWORD_HASH, made with `datasette hash-password`),
and then every page and every write requires logging in (datasette-auth-passwords)."""

from __future__ import annotations

import copy
import ipaddress
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from datasette.app import Datasette
from datasette.database import Database

from ..errors import AggregatorError
from .settings import DATABASE, LOOPBACK_NAMES, PLUGIN

PASSWORD_HASH_ENV = "AGGREGATOR_PASSWORD_HASH"
USER_ENV = "AGGREGATOR_USER"
ALLOWED_HOSTS_ENV = "AGGREGATOR_SERVE_HOSTS"
DEFAULT_USER = "reader"


# Datasette settings for `serve` (plain `datasette` takes them as --setting NAME VALUE): no
# facet suggestions (each one scans a column of the whole table), time limits for a large
# collection, no download of the whole database file.
SERVE_SETTINGS: dict[str, Any] = {
    "suggest_facets": False,
    "facet_time_limit_ms": 1000,
    "sql_time_limit_ms": 3000,
    "default_page_size": 50,
    "allow_download": False,
}


def packaged_metadata() -> Any:
    """The metadata.yml installed with the package (a Traversable: a file in an installed
    wheel, the source file in an editable install)."""
    return resources.files(__package__).joinpath("metadata.yml")


def load_metadata(path: str | Path | None = None) -> dict[str, Any]:
    source = Path(path) if path else packaged_metadata()
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AggregatorError(f"cannot read {source}: {exc}") from None
    if not isinstance(data, dict):
        raise AggregatorError(f"{path} is not a metadata mapping")
    return data


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_configured(env: dict[str, str] | None = None) -> bool:
    """Whether a login is configured: a password hash in the environment and the
    datasette-auth-passwords plugin installed to check it."""
    source = os.environ if env is None else env
    value = source.get(PASSWORD_HASH_ENV, "").strip()
    if not value:
        return False
    if value.count("$") != 3 or not value.startswith("pbkdf2_sha256$"):
        raise AggregatorError(
            f"{PASSWORD_HASH_ENV} is not a password hash (make one with `datasette hash-password`)"
        )
    try:
        import datasette_auth_passwords  # noqa: F401
    except ImportError:
        raise AggregatorError(
            f"{PASSWORD_HASH_ENV} is set but datasette-auth-passwords is not installed"
        ) from None
    return True


def check_exposure(host: str, *, auth: bool | None = None) -> None:
    """Refuse to serve beyond loopback without a login: the reading room has write actions."""
    if auth is None:
        auth = auth_configured()
    if not is_loopback(host) and not auth:
        raise AggregatorError(
            f"refusing to serve on {host}: only loopback addresses are allowed unless "
            f"authentication is configured (set {PASSWORD_HASH_ENV} to the output of "
            "`datasette hash-password`)"
        )


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> list[str]:
    """Host header names the server answers to: loopback names, the address it listens on
    (unless a wildcard), names given with --allow-host or AGGREGATOR_SERVE_HOSTS."""
    names = set(LOOPBACK_NAMES)
    if host and host not in ("0.0.0.0", "::", "[::]"):
        names.add(host.lower())
    for name in [*extra, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]:
        name = name.strip().lower()
        if name:
            names.add(name)
    return sorted(names)


def build_datasette(
    db_path: str | Path,
    *,
    metadata_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8001,
    auth: bool | None = None,
    allow_hosts: Iterable[str] = (),
    fetch_saved: bool = True,
    refresh_every: int = 0,
) -> Datasette:
    """The Datasette app. `auth` (default: whether a password hash is configured) requires a
    login for everything; `fetch_saved` downloads links saved in the browser in the background;
    `refresh_every` (seconds, 0: never) refreshes due feeds in the background."""
    metadata = copy.deepcopy(load_metadata(metadata_path))
    if auth is None:
        auth = auth_configured()
    plugins = metadata.setdefault("plugins", {})
    configured = plugins.get(PLUGIN) or {}
    hosts = [*allow_hosts, *(configured.get("allowed_hosts") or [])]
    plugins[PLUGIN] = {
        **configured,
        # On for `serve` whatever the metadata file says; its own host names are kept.
        "security_headers": True,
        "allowed_hosts": allowed_hosts(host, hosts),
        "require_auth": bool(auth),
        "fetch_saved": fetch_saved,
        "refresh_every": max(0, int(refresh_every)),
    }
    if auth:
        user = os.environ.get(USER_ENV, DEFAULT_USER).strip() or DEFAULT_USER
        plugins["datasette-auth-passwords"] = {
            f"{user}_password_hash": {"$env": PASSWORD_HASH_ENV},
        }
        # Datasette's own permission checks as a second wall behind the plugin's login gate.
        metadata["allow"] = {"id": user}
    ds = Datasette(metadata=metadata, settings=dict(SERVE_SETTINGS))
    ds.add_database(Database(ds, path=str(db_path), is_mutable=True), name=DATABASE)
    if "_memory" in ds.databases:
        ds.remove_database("_memory")
    return ds
