from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, load, rows

CASE = FIXTURES / "ecs"


def test_defend_events_land_in_their_tables() -> None:
    s = load(CASE / "defend_windows" / "events.ndjson")
    counts = dict(
        s.con.execute(
            "SELECT 'process', count(*) FROM process UNION ALL SELECT 'dns', count(*) FROM dns "
            "UNION ALL SELECT 'connection', count(*) FROM connection "
            "UNION ALL SELECT 'file', count(*) FROM file"
        ).fetchall()
    )
    assert counts == {"process": 1, "dns": 1, "connection": 2, "file": 1}
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "endpoint.events.process:end", "count": 1}
    ]
    assert s.count("ingest_issues") == 0


def test_process_fields() -> None:
    s = load(CASE / "defend_windows" / "events.ndjson")
    (p,) = rows(s, "SELECT * FROM process")
    assert p["timestamp"] == dt.datetime(2026, 11, 3, 9, 14, 2, 311000)
    assert p["process_pid"] == 9124
    assert p["process_name"] == "powershell.exe"
    assert p["process_parent_name"] == "explorer.exe"
    assert p["process_parent_pid"] == 4512
    assert "sync-api.acme-cdn.workers.dev" in p["process_command_line"]
    assert p["process_integrity_level"] == "medium"
    assert p["host_name"] == "ws-fin-07.corp.example"
    assert p["user_name"] == "alice" and p["user_domain"] == "CORP"
    assert p["log_format"] == "ecs.ndjson"
    assert p["log_line"] == 1 and p["log_record"] is None
    assert p["log_file_path"].endswith("events.ndjson")


def test_dns_answers_are_a_list() -> None:
    s = load(CASE / "defend_windows" / "events.ndjson")
    (d,) = rows(s, "SELECT * FROM dns")
    assert d["dns_question_name"] == "sync-api.acme-cdn.workers.dev"
    assert d["dns_resolved_ip"] == ["104.21.48.11", "172.67.181.20"]
    assert d["process_entity_id"] == "MWExYjJjM2Q0LTkxMjQtMTMzOTEwNjg0NDIzMTEwMDAw"
    assert d["log_line"] == 2


def test_connection_bytes_from_disconnect() -> None:
    s = load(CASE / "defend_windows" / "events.ndjson")
    conns = rows(
        s,
        "SELECT event_action, destination_ip, destination_port, source_bytes, "
        "destination_bytes, log_line FROM connection ORDER BY log_line",
    )
    assert conns == [
        {
            "event_action": "connection_attempted",
            "destination_ip": "104.21.48.11",
            "destination_port": 443,
            "source_bytes": None,
            "destination_bytes": None,
            "log_line": 3,
        },
        {
            "event_action": "disconnect_received",
            "destination_ip": "104.21.48.11",
            "destination_port": 443,
            "source_bytes": 812,
            "destination_bytes": 5120,
            "log_line": 4,
        },
    ]


def test_file_event() -> None:
    s = load(CASE / "defend_windows" / "events.ndjson")
    (f,) = rows(s, "SELECT file_path, file_name, file_extension, process_name FROM file")
    assert f == {
        "file_path": "C:\\Users\\alice\\AppData\\Local\\Temp\\update.js",
        "file_name": "update.js",
        "file_extension": "js",
        "process_name": "cmd.exe",
    }


@pytest.mark.parametrize("name", ["export.json", "elasticdump.ndjson"])
def test_elasticsearch_exports_unwrap_source(name: str) -> None:
    s = load(CASE / "es_export_source" / name)
    assert s.count("connection") == 1
    assert s.count("process") == 1
    assert s.count("ingest_issues") == 0


def test_search_response_has_record_numbers() -> None:
    s = load(CASE / "es_export_source" / "export.json")
    assert rows(s, "SELECT log_line, log_record FROM connection") == [
        {"log_line": None, "log_record": 1}
    ]


def test_gzip_input(tmp_path: Path) -> None:
    gz = tmp_path / "events.ndjson.gz"
    with (CASE / "defend_windows" / "events.ndjson").open("rb") as src, gzip.open(gz, "wb") as d:
        shutil.copyfileobj(src, d)
    s = load(gz)
    assert s.count("connection") == 2
    assert rows(s, "SELECT log_line FROM dns") == [{"log_line": 2}]


def test_wrong_types_keep_row_and_warn() -> None:
    s = load(CASE / "wrong_types" / "events.ndjson")
    (c,) = rows(s, "SELECT process_pid, destination_port FROM connection")
    assert c == {"process_pid": None, "destination_port": None}
    issues = rows(s, "SELECT severity, reason_code, log_line, reason FROM ingest_issues")
    assert len(issues) == 1
    assert issues[0]["severity"] == "warning"
    assert issues[0]["reason_code"] == "bad_field_type"
    assert issues[0]["log_line"] == 1
    assert "process_pid=not-a-pid" in issues[0]["reason"]
    assert "destination_port=99999999999999" in issues[0]["reason"]
    assert s.count("dns") == 1


def test_missing_and_unreadable_timestamps_are_rejected() -> None:
    s = load(CASE / "missing_timestamp" / "events.ndjson")
    assert s.count("process") == 1
    assert s.count("connection") == 0
    issues = rows(s, "SELECT reason_code, log_line FROM ingest_issues ORDER BY log_line")
    assert issues == [
        {"reason_code": "missing_timestamp", "log_line": 2},
        {"reason_code": "missing_timestamp", "log_line": 3},
    ]


def test_invalid_json_lines_are_located() -> None:
    s = load(CASE / "invalid_json" / "events.ndjson")
    assert s.count("process") == 1
    assert s.count("connection") == 1
    issues = rows(
        s,
        "SELECT reason_code, log_line, log_offset, reason, excerpt "
        "FROM ingest_issues ORDER BY log_line",
    )
    assert [(i["reason_code"], i["log_line"]) for i in issues] == [
        ("invalid_json", 2),
        ("invalid_json", 4),
        ("invalid_json", 6),
    ]
    assert issues[1]["reason"] == "valid JSON but not an object"
    assert "truncated" in issues[2]["reason"]
    assert issues[0]["excerpt"].startswith('{"@timestamp":"2026-11-03T09:14:03.020Z"')
    first_len = len((CASE / "invalid_json" / "events.ndjson").read_bytes().split(b"\n")[0]) + 1
    assert issues[0]["log_offset"] == first_len
