"""CSV export of articles: one row per article, every export field, tags joined by ", ", text
cells guarded against spreadsheet formulas. Pure: mappings in, bytes out; no SQL.

guard_csv_cell is the one definition of the formula guard: the web's CSV links use it too."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.formats.native import export_row
from aggregator.models import ARTICLE_FIELDS

# A cell starting with one of these is run as a formula by Excel, LibreOffice Calc or Google
# Sheets (`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`, `@SUM(...)`); tab and CR hide a leading one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula is prefixed with a
    single quote (OWASP's advice against CSV injection); any other text is unchanged. For text
    only: numbers are written as they are (a negative number is not a formula)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return guard_csv_cell(", ".join(str(v) for v in value))
    return guard_csv_cell(str(value))


def write_csv(articles: Sequence[Mapping[str, Any]]) -> bytes:
    """UTF-8 (no BOM), RFC 4180 quoting, CRLF line ends, formula-like text cells guarded."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ARTICLE_FIELDS)
    for article in articles:
        row = export_row(article)
        writer.writerow([_cell(row[name]) for name in ARTICLE_FIELDS])
    return out.getvalue().encode("utf-8")
