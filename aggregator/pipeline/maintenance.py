"""Work a run does after its feeds and pages: keeping the search's best-match lists current
(store.ranking), a few seconds at a time so that no run is held up for long."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import store

if TYPE_CHECKING:
    import sqlite_utils

# How long one run may spend renewing best-match lists; the rest waits for the next run.
SEARCH_MAINTENANCE_SECONDS = 20.0


def maintain_search(
    db: sqlite_utils.Database, *, budget_seconds: float = SEARCH_MAINTENANCE_SECONDS
) -> int:
    """Renew the best-match lists when they are due; returns how many were written. A failure
    here is never the run's: the search stays right without the lists, only slower."""
    try:
        if not store.best_lists_due(db):
            return 0
        return store.refresh_best_lists(db, budget_seconds=budget_seconds)
    except Exception:  # noqa: BLE001 - the run's own work is done; searches fall back
        return 0
