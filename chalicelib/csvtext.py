"""CSV text for people to open in a spreadsheet: every CSV the API produces is written here.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a display name runs on the admin's
machine), so such text cells get a leading single quote, OWASP's rule for CSV injection. Numbers
are written as numbers: a negative figure stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will read it as text: a leading ``'`` for a formula start."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header line and one line per row (``None`` is an empty cell), every cell made safe.
    Lines end in CRLF (RFC 4180), so a cell holding a CR or LF is quoted, not split."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell("" if cell is None else cell) for cell in row])
    return out.getvalue()
