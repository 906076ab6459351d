"""Findings and incidents as ranked tables on a terminal (rich).

Every value that comes from telemetry (host, user, process, command line, domain, reason,
story) is attacker-controlled: it goes through ``_common.visible`` and
:func:`relayhunt.textsafe.terminal_safe` (control characters, ESC sequences, bidi overrides,
line separators shown as ``\\xNN``/``\\uNNNN``, rich markup escaped) and then
:meth:`rich.text.Text.from_markup` with emoji codes off, so neither terminal escape
sequences nor rich markup nor ``:emoji:`` codes in the data take effect, whatever the
console's own markup/emoji settings are.

Two layouts, same content and order:

* on a terminal at least :data:`TABLE_MIN_WIDTH` columns wide, a table with the severity
  coloured;
* otherwise (a pipe, a file, a narrow terminal) one block per row: a ``key=value`` line
  that ``grep`` and ``awk`` can use, the reason on the next line, nothing cut to fit a
  width. rich drops colour when the output is not a terminal (and honours ``NO_COLOR``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pyarrow as pa
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from relayhunt.report._common import format_score, ranked, short_time, visible
from relayhunt.textsafe import terminal_safe

SEVERITY_STYLES: Final[dict[str, str]] = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
REASON_LIMIT: Final = 160
PLAIN_REASON_LIMIT: Final = 400
FIELD_LIMIT: Final = 60
TABLE_MIN_WIDTH: Final = 120


def _text(value: object, limit: int | None = FIELD_LIMIT, style: str = "") -> Text:
    """Attacker-controlled value -> inert rich Text."""
    if value is None or value == "":
        return Text("-", style="dim")
    # visible() first: it also covers U+2028/U+2029, word joiners and the BOM, which
    # terminal_safe passes through.
    text = visible(str(value))
    return Text.from_markup(terminal_safe(text, limit=limit), style=style, emoji=False)


def _severity(value: object) -> Text:
    name = str(value) if value is not None else ""
    return _text(name or None, limit=16, style=SEVERITY_STYLES.get(name, ""))


def _process(row: Mapping[str, Any]) -> Text:
    name = row.get("process_name") or row.get("process_executable")
    pid = row.get("process_pid")
    text = _text(name, limit=40)
    if pid is not None:
        text.append(f" ({int(pid)})", style="dim")
    return text


def _destination(row: Mapping[str, Any]) -> Text:
    domain = row.get("destination_domain") or row.get("destination_ip")
    text = _text(domain, limit=FIELD_LIMIT)
    platform = row.get("serverless_platform")
    if platform:
        text.append("\n")
        text.append_text(_text(platform, limit=40, style="dim"))
    return text


def _use_table(console: Console) -> bool:
    return console.is_terminal and console.width >= TABLE_MIN_WIDTH


def _table(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAVY, header_style="bold", expand=False)


def _line(console: Console, *parts: Text) -> None:
    console.print(Text(" ").join(parts), soft_wrap=True, highlight=False)


def _field(name: str, value: Text) -> Text:
    return Text.assemble(Text(f"{name}=", style="dim"), value)


def _footer(console: Console, shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(
            f"{shown} of {total} {what} shown (highest score first); "
            "the NDJSON, CSV and HTML outputs hold them all.",
            markup=False,
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )


def _destination_line(row: Mapping[str, Any]) -> Text:
    text = _text(row.get("destination_domain") or row.get("destination_ip"))
    platform = row.get("serverless_platform")
    if platform:
        text.append(" (")
        text.append_text(_text(platform, limit=40))
        text.append(")")
    return text


def print_findings(findings: pa.Table, console: Console, *, limit: int = 50) -> None:
    """The ``limit`` highest-scoring findings (score descending), as a table on a wide
    terminal, else as plain blocks. A ``suppressed_by`` column (the table of suppressed
    findings) is shown too."""
    total = findings.num_rows
    if total == 0:
        console.print("No findings.", markup=False, highlight=False)
        return
    top = ranked(findings, score="score", limit=max(limit, 0), tiebreak=("first_seen",))
    suppressed = "suppressed_by" in findings.column_names
    rows = top.to_pylist()
    if _use_table(console):
        table = _table(f"Findings ({total})")
        table.add_column("severity", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("host", overflow="fold", max_width=24)
        table.add_column("process (pid)", overflow="fold", max_width=30)
        table.add_column("destination / platform", overflow="fold", max_width=40)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("reason", overflow="fold", min_width=20)
        if suppressed:
            table.add_column("suppressed by", overflow="fold", max_width=40)
        for row in rows:
            count = row.get("event_count")
            cells = [
                _severity(row.get("severity")),
                Text(format_score(row.get("score"))),
                _text(row.get("rule_id"), limit=24),
                _text(row.get("host_name"), limit=40),
                _process(row),
                _destination(row),
                Text(str(count) if count is not None else "-"),
                _text(row.get("reason"), limit=REASON_LIMIT),
            ]
            if suppressed:
                cells.append(_text(row.get("suppressed_by"), limit=80))
            table.add_row(*cells)
        console.print(table)
    else:
        console.print(f"Findings ({total}):", markup=False, highlight=False)
        for rank, row in enumerate(rows, 1):
            count = row.get("event_count")
            _line(
                console,
                Text(f"#{rank}"),
                _severity(row.get("severity")),
                _field("score", Text(format_score(row.get("score")) or "-")),
                _field("rule", _text(row.get("rule_id"), limit=24)),
                _field("host", _text(row.get("host_name"), limit=80)),
                _field("process", _process(row)),
                _field("destination", _destination_line(row)),
                _field("events", Text(str(count) if count is not None else "-")),
            )
            _line(console, Text("   "), _text(row.get("reason"), limit=PLAIN_REASON_LIMIT))
            if suppressed:
                _line(
                    console,
                    Text("    suppressed by:", style="dim"),
                    _text(row.get("suppressed_by"), limit=PLAIN_REASON_LIMIT),
                )
    _footer(console, len(rows), total, "findings")


def print_incidents(incidents: pa.Table, console: Console, *, limit: int = 50) -> None:
    """The ``limit`` highest-risk incidents (risk descending), as a table on a wide
    terminal, else as plain blocks."""
    total = incidents.num_rows
    if total == 0:
        console.print("No incidents.", markup=False, highlight=False)
        return
    top = ranked(incidents, score="risk_score", limit=max(limit, 0), tiebreak=("first_seen",))
    rows = top.to_pylist()
    if _use_table(console):
        table = _table(f"Incidents ({total})")
        table.add_column("severity", no_wrap=True)
        table.add_column("risk", justify="right", no_wrap=True)
        table.add_column("host", overflow="fold", max_width=24)
        table.add_column("process chain", overflow="fold", max_width=36)
        table.add_column("rules", overflow="fold", max_width=24)
        table.add_column("first seen (UTC)", no_wrap=True)
        table.add_column("summary", overflow="fold", min_width=20)
        for row in rows:
            table.add_row(
                _severity(row.get("severity")),
                Text(format_score(row.get("risk_score"))),
                _text(row.get("host_name"), limit=40),
                _text(_chain(row), limit=80),
                _text(_joined(row.get("rule_ids")), limit=60),
                Text(short_time(row.get("first_seen"))),
                _text(row.get("summary"), limit=REASON_LIMIT),
            )
        console.print(table)
    else:
        console.print(f"Incidents ({total}):", markup=False, highlight=False)
        for rank, row in enumerate(rows, 1):
            _line(
                console,
                Text(f"#{rank}"),
                _severity(row.get("severity")),
                _field("risk", Text(format_score(row.get("risk_score")) or "-")),
                _field("host", _text(row.get("host_name"), limit=80)),
                _field("chain", _text(_chain(row), limit=160)),
                _field("rules", _text(_joined(row.get("rule_ids"), ","), limit=120)),
                _field("first_seen", Text(short_time(row.get("first_seen")) or "-")),
            )
            _line(console, Text("   "), _text(row.get("summary"), limit=PLAIN_REASON_LIMIT))
    _footer(console, len(rows), total, "incidents")


def _chain(row: Mapping[str, Any]) -> str | None:
    lineage = row.get("process_lineage") or []
    return " > ".join(str(p) for p in lineage if p is not None) or None


def _joined(values: object, separator: str = ", ") -> str | None:
    if not isinstance(values, list):
        return None
    return separator.join(str(v) for v in values if v is not None) or None
