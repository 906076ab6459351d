"""Console tables: ranking, limits, and inert attacker-controlled text."""

from __future__ import annotations

import io
from collections.abc import Callable

import pyarrow as pa
import pytest
from rich.console import Console

from relayhunt.report.console import print_findings, print_incidents
from tests.report.factories import (
    HOSTILE,
    finding_row,
    findings_table,
    incident_row,
    incidents_table,
)


def _console(*, terminal: bool, markup: bool = True) -> Console:
    return Console(
        file=io.StringIO(),
        force_terminal=terminal,
        color_system="truecolor" if terminal else None,
        width=400,
        markup=markup,
        emoji=True,
        highlight=True,
    )


def _out(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


FIELDS = (
    "host_name",
    "process_name",
    "destination_domain",
    "serverless_platform",
    "reason",
    "rule_id",
)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("payload", list(HOSTILE), ids=list(HOSTILE))
@pytest.mark.parametrize("terminal", [True, False], ids=["tty", "pipe"])
def test_hostile_values_are_inert(field: str, payload: str, terminal: bool) -> None:
    console = _console(terminal=terminal)
    value = HOSTILE[payload]
    print_findings(findings_table([finding_row(0, **{field: value})]), console)
    out = _out(console)
    assert "\u202e" not in out
    assert "\u2028" not in out
    assert "\x1b]" not in out  # no OSC (hyperlinks, titles) from the data
    assert "\x1b[2J" not in out  # no CSI from the data
    assert "\r" not in out
    if not terminal:
        assert "\x1b" not in out
    assert "💩" not in out and "⚠" not in out  # emoji codes stay text


def test_escape_sequences_are_shown_as_text() -> None:
    console = _console(terminal=False)
    print_findings(findings_table([finding_row(0, host_name=HOSTILE["csi_clear"])]), console)
    assert "\\x1b[2J" in _out(console)


@pytest.mark.parametrize("markup", [True, False], ids=["markup-on", "markup-off"])
def test_rich_markup_in_data_is_printed_literally(markup: bool) -> None:
    console = _console(terminal=False, markup=markup)
    print_findings(findings_table([finding_row(0, reason="[bold red]FAKE[/bold red]")]), console)
    out = _out(console)
    assert "[bold red]FAKE[/bold red]" in out
    assert "\\[" not in out


def test_findings_are_ranked_by_score_and_limited() -> None:
    rows = [finding_row(i, score=float(s), host_name=f"H{s}") for i, s in enumerate([5, 90, 40])]
    console = _console(terminal=False)
    print_findings(findings_table(rows), console, limit=2)
    out = _out(console)
    assert out.index("H90") < out.index("H40")
    assert "H5 " not in out
    assert "2 of 3 findings shown" in out


def test_missing_score_sorts_last() -> None:
    rows = [finding_row(0, score=None, host_name="NOSCORE"), finding_row(1, score=1.0)]
    console = _console(terminal=False)
    print_findings(findings_table(rows), console)
    out = _out(console)
    assert out.index("WS-001") < out.index("NOSCORE")


def test_process_shows_name_and_pid() -> None:
    console = _console(terminal=False)
    print_findings(findings_table([finding_row(0, process_pid=4242)]), console)
    assert "powershell.exe (4242)" in _out(console)


def test_plain_output_is_one_greppable_block_per_finding() -> None:
    console = _console(terminal=False)
    print_findings(findings_table([finding_row(3), finding_row(4)]), console)
    lines = _out(console).splitlines()
    assert "\x1b" not in _out(console)
    assert lines[0] == "Findings (2):"
    assert lines[1].startswith("#1 high score=97.0 rule=RH-SL-001 host=WS-003 ")
    assert "process=powershell.exe (1003)" in lines[1]
    assert "destination=a3.acme.workers.dev (AWS Lambda function URL) events=15" in lines[1]
    assert lines[2].strip() == "powershell.exe contacted a3.acme.workers.dev 15 times."
    assert lines[3].startswith("#2 critical score=96.0")


def test_plain_lines_are_not_cut_to_the_console_width() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=40)
    long_cmd = "host-" + "x" * 70
    print_findings(findings_table([finding_row(0, host_name=long_cmd)]), console)
    assert f"host={long_cmd} " in _out(console)


def test_narrow_terminal_uses_blocks_with_colour() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=80)
    print_findings(findings_table([finding_row(4)]), console)
    out = _out(console)
    assert "#1" in out and "rule=" in out
    assert "\x1b[" in out


def test_terminal_output_colours_severity() -> None:
    console = _console(terminal=True)
    print_findings(findings_table([finding_row(4)]), console)  # critical
    out = _out(console)
    assert "\x1b[" in out
    assert "critical" in out


@pytest.mark.parametrize(
    ("printer", "empty", "message"),
    [
        (print_findings, findings_table([]), "No findings."),
        (print_incidents, incidents_table([]), "No incidents."),
    ],
    ids=["findings", "incidents"],
)
def test_empty_tables(printer: Callable[..., None], empty: pa.Table, message: str) -> None:
    console = _console(terminal=False)
    printer(empty, console)
    assert _out(console).strip() == message


def test_incidents_ranked_with_lineage_and_hostile_story() -> None:
    rows = [
        incident_row(0, risk_score=10.0, host_name="LOW"),
        incident_row(
            1,
            risk_score=99.0,
            host_name="TOP",
            summary=HOSTILE["osc8_link"],
            process_lineage=["explorer.exe", HOSTILE["bidi_override"]],
        ),
    ]
    console = _console(terminal=True)
    print_incidents(incidents_table(rows), console, limit=5)
    out = _out(console)
    assert out.index("TOP") < out.index("LOW")
    assert "explorer.exe > invoice\\u202egpj.exe" in out
    assert "\x1b]8" not in out


@pytest.mark.parametrize(("terminal", "cut"), [(True, 160), (False, 400)], ids=["table", "plain"])
def test_long_reason_is_truncated(terminal: bool, cut: int) -> None:
    console = _console(terminal=terminal)
    print_findings(findings_table([finding_row(0, reason="x" * 1000)]), console)
    out = _out(console)
    assert "x" * cut + "…" in out
    assert "x" * (cut + 1) not in out


def test_plain_incidents() -> None:
    console = _console(terminal=False)
    print_incidents(incidents_table([incident_row(0)]), console)
    lines = _out(console).splitlines()
    assert lines[1] == (
        "#1 high risk=90.0 host=WS-000 chain=explorer.exe > cmd.exe > wscript.exe "
        "rules=RH-SL-001,RH-SL-003 first_seen=2026-03-01 12:00:00"
    )
    assert lines[2].strip().startswith("wscript.exe ran a dropped script")


def test_suppressed_findings_show_the_entry_reason() -> None:
    table = findings_table([finding_row(0)])
    table = table.append_column("suppressed_by", pa.array(["CI runner [polls] API"]))
    console = _console(terminal=False)
    print_findings(table, console)
    out = _out(console)
    assert "suppressed by" in out
    assert "CI runner [polls] API" in out
