"""Outputs: a console table, NDJSON, CSV, a self-contained HTML report (with SVG plots,
:mod:`relayhunt.report.plots`) and an ATT&CK Navigator layer
(:mod:`relayhunt.report.navigator`).

Each renderer is a module with plain functions over Arrow tables in the ``findings`` and
``incidents`` schemas of model.py; nothing is registered at import. docs/outputs.md
describes every format.

    >>> from relayhunt.report import html, ndjson          # doctest: +SKIP
    >>> ndjson.write_findings(result.findings, "findings.ndjson")
    >>> html.write_report("report.html", findings=result.findings,
    ...                   incidents=result.incidents, summary=result.summary)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from relayhunt.report import console, csv, html, ndjson

FILE_FORMATS: Final[dict[str, str]] = {
    ".ndjson": "NDJSON, one finding per line",
    ".jsonl": "NDJSON, one finding per line",
    ".csv": "CSV, one finding per row",
    ".html": "self-contained HTML report (summary, incidents, findings)",
    ".htm": "self-contained HTML report (summary, incidents, findings)",
}


def write_findings_file(
    path: str | Path,
    *,
    findings: pa.Table,
    incidents: pa.Table,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Write findings to ``path`` in the format its suffix names (:data:`FILE_FORMATS`);
    an HTML report also holds the incidents and the summary. Raises ValueError for any
    other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        ndjson.write_findings(findings, path)
    elif suffix == ".csv":
        csv.write_findings(findings, path)
    elif suffix in (".html", ".htm"):
        html.write_report(path, findings=findings, incidents=incidents, summary=summary or {})
    else:
        raise ValueError(
            f"unknown output format {suffix or '(no suffix)'!r} for {path}: "
            f"use one of {', '.join(FILE_FORMATS)}"
        )


__all__ = ["FILE_FORMATS", "console", "csv", "html", "ndjson", "write_findings_file"]
