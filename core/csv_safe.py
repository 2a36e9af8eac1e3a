"""Every CSV the service writes goes through here, so that no cell runs as a formula in a spreadsheet.

OWASP "CSV Injection": a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return is read
as a formula (``=HYPERLINK(…)``, ``+cmd|' /C calc'!A0``, ``@SUM(…)``) by Excel, LibreOffice and Google
Sheets. Such a text cell gets a leading single quote, which spreadsheets show as text and do not
evaluate; the csv module quotes cells holding the separator, a quote or a line break. Numbers (``int``,
``float``) are written as numbers, a negative one too: only text is touched. The importer
(``admin/importer.py``) takes the quote off again, so an export imports elsewhere unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: Any) -> Any:
    """``value`` as a cell a spreadsheet will not evaluate: text starting with a trigger gets ``'``."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return QUOTE + value
    return value


def restore(value: str) -> str:
    """The text ``neutralise`` was given (for reading back a file written here)."""
    if value.startswith(QUOTE) and value[1:].startswith(TRIGGERS):
        return value[1:]
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, sep: str, bom: bool) -> bytes:
    """UTF-8 CSV with CRLF line ends, every cell neutralised; ``bom`` puts a byte-order mark first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")
