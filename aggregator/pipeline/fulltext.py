"""Which feed entries carry only a summary, so that their pages are fetched for the full text.
Pure: no I/O, no SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUMMARY_WORDS = 120  # feed content shorter than this is taken for a summary: fetch the page

_CUT_OFF = (
    "…",
    "...",
    "[…]",
    "[...]",
    "read more",
    "continue reading",
    "read the full",
    "read full",
    "more»",
    "more »",
    "(more…)",
)


def looks_like_summary(text: str, words: int) -> bool:
    """Feed content that is only a teaser: short, or ending the way cut-off summaries do."""
    if words < SUMMARY_WORDS:
        return True
    tail = text.rstrip().lower()[-40:]
    return any(tail.endswith(marker) for marker in _CUT_OFF)


PROBE_ENTRIES = 2  # long entries of a feed not known yet whose pages are fetched to compare


def mark_for_full_text(
    feed: dict[str, Any], records: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Queue the pages of entries whose content is a summary. The feed's `full_text` switch
    decides when set. Otherwise: entries that are short or cut off, every entry of a feed whose
    pages showed its content to be much shorter than the article (`summaries`), and, while
    that is not known yet, a couple of long entries as probes (see `fetch_pages`)."""
    setting = feed.get("full_text")
    learned = feed.get("summaries")
    probes = PROBE_ENTRIES if setting is None and learned is None else 0
    out = []
    for rec in records:
        rec = dict(rec)
        if rec.get("url") and setting != 0:
            if (
                setting == 1
                or learned == 1
                or looks_like_summary(rec.get("text") or "", rec.get("word_count") or 0)
            ):
                rec["fetch_status"] = "pending"
            elif probes:
                rec["fetch_status"] = "pending"
                probes -= 1
        out.append(rec)
    return out
