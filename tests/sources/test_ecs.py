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


# -- shapes seen in published Elastic samples -------------------------------------------------


def test_endpoint_7x_addresses_make_connections() -> None:
    # Endpoint 7.x wrote source.address / destination.address only, and outgoing/incoming.
    s = load(CASE / "endpoint_7x_address" / "events.ndjson")
    got = rows(
        s,
        "SELECT log_line, event_action, source_ip, source_port, destination_ip, "
        "destination_port, network_direction, source_bytes, destination_bytes, timestamp "
        "FROM connection ORDER BY log_line",
    )
    assert got == [
        {
            "log_line": 1,
            "event_action": "connection_attempted",
            "source_ip": "10.44.3.17",
            "source_port": 50611,
            "destination_ip": "198.51.100.23",
            "destination_port": 8443,
            "network_direction": "egress",
            "source_bytes": None,
            "destination_bytes": None,
            "timestamp": dt.datetime(2026, 11, 4, 7, 2, 11, 482137),
        },
        {
            "log_line": 2,
            "event_action": "disconnect_received",
            "source_ip": "10.44.3.17",
            "source_port": 50611,
            "destination_ip": "198.51.100.23",
            "destination_port": 8443,
            "network_direction": "egress",
            "source_bytes": 1337,
            "destination_bytes": 20480,
            "timestamp": dt.datetime(2026, 11, 4, 7, 2, 14, 900551),
        },
        {
            "log_line": 3,
            "event_action": "connection_accepted",
            "source_ip": "10.44.9.200",
            "source_port": 61022,
            "destination_ip": "10.44.3.17",
            "destination_port": 3389,
            "network_direction": "ingress",
            "source_bytes": None,
            "destination_bytes": None,
            "timestamp": dt.datetime(2026, 11, 4, 7, 3, 0, 123),
        },
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        # destination.address is a host name, not an IP: not a usable connection row
        {"label": "endpoint.events.network:connection_attempted", "count": 1},
        # a running-process snapshot has no event.action: labelled by event.type
        {"label": "endpoint.events.process:info", "count": 1},
    ]
    assert s.count("ingest_issues") == 0
    (c,) = rows(s, "SELECT host_name, process_name, process_pid FROM connection WHERE log_line = 1")
    assert c == {"host_name": "WS-OPS-03", "process_name": "relayagent.exe", "process_pid": 4412}


def test_es_archiver_documents_are_unwrapped() -> None:
    s = load(CASE / "es_archiver" / "data.json")
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "ecs.ndjson"}]
    assert s.count("ingest_issues") == 0
    (p,) = rows(
        s,
        "SELECT timestamp, process_name, process_pid, process_parent_name, "
        "process_integrity_level, user_name, log_record FROM process",
    )
    assert p == {
        "timestamp": dt.datetime(2026, 11, 4, 8, 15, 30, 250001),
        "process_name": "rundll32.exe",
        "process_pid": 6016,
        "process_parent_name": "explorer.exe",
        "process_integrity_level": "medium",
        "user_name": "dana",
        "log_record": 1,
    }
    (d,) = rows(s, "SELECT dns_question_name, dns_resolved_ip, log_record FROM dns")
    assert d == {
        "dns_question_name": "upd-check.example.net",
        "dns_resolved_ip": ["203.0.113.80"],
        "log_record": 2,
    }
    (c,) = rows(
        s,
        "SELECT destination_ip, destination_port, source_ip, network_direction, "
        "process_entity_id, log_record FROM connection",
    )
    assert c == {
        "destination_ip": "203.0.113.80",
        "destination_port": 443,
        "source_ip": "10.44.3.17",
        "network_direction": "egress",
        "process_entity_id": "OWYxZTZjM2EtNjAxNi0xMzI0MTQ0NTYwMC4wMDAwMDAwMA==",
        "log_record": 3,
    }


def test_connection_action_wins_over_dns_fields() -> None:
    s = load(CASE / "connection_with_dns_fields" / "events.ndjson")
    assert rows(s, "SELECT event_action, dns_question_name, log_line FROM dns") == [
        {"event_action": "lookup_result", "dns_question_name": "cdn.vendor.example", "log_line": 1}
    ]
    assert rows(
        s,
        "SELECT event_action, destination_ip, source_bytes, destination_bytes, log_line "
        "FROM connection",
    ) == [
        {
            "event_action": "disconnect_received",
            "destination_ip": "192.0.2.44",
            "source_bytes": 902,
            "destination_bytes": 7311,
            "log_line": 2,
        }
    ]
