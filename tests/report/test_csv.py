"""CSV: round trip, quoting, list/evidence columns, formula injection."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt import model
from relayhunt.report import csv as report_csv
from relayhunt.report.csv import FORMULA_PREFIXES, defuse
from tests.report.factories import (
    HOSTILE,
    finding_row,
    findings_table,
    incident_row,
    incidents_table,
)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _undefuse(cell: str, original: str) -> str:
    return cell[1:] if original.startswith(FORMULA_PREFIXES) else cell


def test_header_is_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    report_csv.write_findings(findings_table([finding_row(0)]), path)
    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == [c.name for c in model.FINDINGS]


def test_round_trip_of_a_typical_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    assert report_csv.write_findings(findings_table([finding_row(2)]), path) == 1
    (row,) = _read(path)
    assert row["finding_id"] == "0000000000000002"
    assert row["threat_technique_id"] == "T1583.007;T1584.007"
    assert row["score"] == "98.0"
    assert row["process_pid"] == "1002"
    assert row["destination_port"] == "443"
    assert row["first_seen"] == "2026-03-01T12:02:00.000000Z"
    assert row["evidence"] == (
        "logs/host1/Sysmon.evtx#100;logs/host1/Sysmon.evtx#101;"
        "logs/host1/Sysmon.evtx#102;logs/ecs.ndjson:7"
    )
    assert json.loads(row["stats"])["connections"] == 15
    assert row["user_name"] == "alice"


def test_nulls_are_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    report_csv.write_findings(
        findings_table([finding_row(0, user_name=None, score=None, evidence=None)]), path
    )
    (row,) = _read(path)
    assert row["user_name"] == "" and row["score"] == "" and row["evidence"] == ""


@pytest.mark.parametrize(
    "value",
    [
        'quote " inside',
        "comma, inside",
        "new\nline",
        "crlf\r\nline",
        "semi;colon",
        "",
        "  spaces  ",
        "unicode: é ü 中 \u202e",
    ],
    ids=["quote", "comma", "newline", "crlf", "semicolon", "empty", "spaces", "unicode"],
)
def test_quoting_round_trips(tmp_path: Path, value: str) -> None:
    path = tmp_path / "f.csv"
    report_csv.write_findings(findings_table([finding_row(0, process_command_line=value)]), path)
    (row,) = _read(path)
    assert row["process_command_line"] == value


@pytest.mark.parametrize(
    "payload",
    ["csv_formula", "csv_plus", "csv_at", "csv_minus"],
    ids=["equals", "plus", "at", "minus"],
)
@pytest.mark.parametrize(
    "column", ["process_command_line", "host_name", "reason", "user_name", "destination_domain"]
)
def test_formula_injection_is_defused(tmp_path: Path, payload: str, column: str) -> None:
    value = HOSTILE[payload]
    path = tmp_path / "f.csv"
    report_csv.write_findings(findings_table([finding_row(0, **{column: value})]), path)
    (row,) = _read(path)
    assert row[column] == "'" + value
    assert _undefuse(row[column], value) == value


@pytest.mark.parametrize(
    "prefix", list(FORMULA_PREFIXES), ids=[f"U+{ord(p):04X}" for p in FORMULA_PREFIXES]
)
def test_every_formula_prefix(prefix: str) -> None:
    assert defuse(prefix + "1+1") == "'" + prefix + "1+1"


@pytest.mark.parametrize("value", ["cmd.exe", "'already quoted", " =not-first", "a=b", ""], ids=str)
def test_harmless_text_is_unchanged(value: str) -> None:
    assert defuse(value) == value


def test_lists_and_evidence_are_defused_as_one_cell(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    evidence = [
        {
            "log_format": "x",
            "log_file_path": '=HYPERLINK("http://evil")',
            "log_line": 3,
            "log_record": None,
            "timestamp": None,
            "event_kind": "dns",
        }
    ]
    report_csv.write_findings(
        findings_table([finding_row(0, threat_technique_id=["@x", "T1"], evidence=evidence)]),
        path,
    )
    (row,) = _read(path)
    assert row["threat_technique_id"] == "'@x;T1"
    assert row["evidence"] == '\'=HYPERLINK("http://evil"):3'


def test_numbers_written_by_relayhunt_are_not_prefixed(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    report_csv.write_findings(findings_table([finding_row(0, score=-1.5)]), path)
    (row,) = _read(path)
    assert row["score"] == "-1.5"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_round_trips(value: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(report_csv.row_cells({"process_command_line": value}))
    (cell,) = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert _undefuse(cell, value) == value


def test_incidents_csv(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    assert report_csv.write_incidents(incidents_table([incident_row(1)]), path) == 1
    (row,) = _read(path)
    assert list(row) == [c.name for c in model.INCIDENTS]
    assert row["process_lineage"] == "explorer.exe;cmd.exe;wscript.exe"
    assert row["risk_score"] == "89.0"
