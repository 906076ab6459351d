"""Findings and incidents as flat CSV, safe to open in a spreadsheet.

One column per table column, in schema order, with the column names as the header. Lists
are joined with ``;``, evidence becomes ``file:LINE`` (line-oriented inputs) or
``file#RECORD`` (record formats) references joined with ``;``, ``stats`` stays JSON text,
times are RFC 3339 UTC with ``Z``, nulls are empty cells.

Formula injection (OWASP "CSV Injection"): a text cell that begins with ``=``, ``+``, ``-``,
``@``, tab or carriage return (or their full-width forms ``＝＋－＠``, which some
spreadsheet locales also evaluate) gets a leading ``'``, so a spreadsheet shows it as text
instead of evaluating ``=cmd|' /C calc'!A0``. Numbers written by relayhunt itself (scores,
counts, pids) are not prefixed. Quoting of commas, quotes and newlines is the csv module's
(RFC 4180, ``\\r\\n`` row ends, UTF-8).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from relayhunt.report._common import evidence_ref, iter_rows, rfc3339

LIST_SEPARATOR: Final = ";"
FORMULA_PREFIXES: Final[tuple[str, ...]] = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def defuse(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, list | tuple):
        return defuse(LIST_SEPARATOR.join(_cell(v) for v in value if v is not None))
    return defuse(str(value))


def _evidence_cell(items: object) -> str:
    if not isinstance(items, list):
        return ""
    refs = [evidence_ref(i) for i in items if isinstance(i, Mapping)]
    return defuse(LIST_SEPARATOR.join(refs))


def _rows(table: pa.Table) -> Iterable[list[str]]:
    for row in iter_rows(table):
        yield row_cells(row)


def _write(table: pa.Table, path: str | os.PathLike[str]) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, dialect="excel", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(table.column_names)
        for cells in _rows(table):
            writer.writerow(cells)
            count += 1
    return count


def write_findings(findings: pa.Table, path: str | os.PathLike[str]) -> int:
    """Write findings as CSV (header + one row each); returns the number of rows."""
    return _write(findings, path)


def write_incidents(incidents: pa.Table, path: str | os.PathLike[str]) -> int:
    """Write incidents as CSV (header + one row each); returns the number of rows."""
    return _write(incidents, path)


def row_cells(row: Mapping[str, Any]) -> list[str]:
    """The cells :func:`write_findings` writes for one row dict (for callers streaming
    their own CSV)."""
    return [
        _evidence_cell(value) if name == "evidence" else _cell(value) for name, value in row.items()
    ]
