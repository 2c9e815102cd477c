"""Building the Datasette instance that `aggregator serve` runs. Reads the project's
metadata.yml; the database is always named `aggregator` whatever its file is called."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml
from datasette.app import Datasette
from datasette.database import Database

from ..errors import AggregatorError

PROJECT_METADATA = Path(__file__).resolve().parents[2] / "metadata.yml"
PACKAGED_METADATA = Path(__file__).resolve().parent / "metadata.yml"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def metadata_path() -> Path:
    for candidate in (PROJECT_METADATA, Path.cwd() / "metadata.yml", PACKAGED_METADATA):
        if candidate.exists():
            return candidate
    raise AggregatorError("metadata.yml not found")


def load_metadata(path: str | Path | None = None) -> dict[str, Any]:
    path = Path(path) if path else metadata_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AggregatorError(f"cannot read {path}: {exc}") from None
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


def check_exposure(host: str) -> None:
    """Refuse to serve beyond loopback: the reading room has write actions and no login."""
    if not is_loopback(host):
        raise AggregatorError(
            f"refusing to serve on {host}: only loopback addresses are allowed unless "
            "authentication is configured"
        )


def build_datasette(db_path: str | Path, *, metadata_path: str | Path | None = None,
                    host: str = "127.0.0.1", port: int = 8001) -> Datasette:
    metadata = load_metadata(metadata_path)
    ds = Datasette(
        metadata=metadata,
        settings={
            "suggest_facets": False,
            "facet_time_limit_ms": 1000,
            "sql_time_limit_ms": 3000,
            "default_page_size": 50,
            "allow_download": False,
        },
    )
    ds.add_database(Database(ds, path=str(db_path), is_mutable=True), name="aggregator")
    if "_memory" in ds.databases:
        ds.remove_database("_memory")
    return ds
