"""CSV export of articles: one row per article, every export field, tags joined by ", ".
Pure: mappings in, bytes out; no SQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats.native import export_row
from aggregator.models import ARTICLE_FIELDS


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def write_csv(articles: Sequence[Mapping[str, Any]]) -> bytes:
    """UTF-8 (no BOM), RFC 4180 quoting, CRLF line ends."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ARTICLE_FIELDS)
    for article in articles:
        row = export_row(article)
        writer.writerow([_cell(row[name]) for name in ARTICLE_FIELDS])
    return out.getvalue().encode("utf-8")
