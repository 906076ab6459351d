from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from relayhunt.sources import udm
from relayhunt.sources.base import Head
from tests.conftest import FIXTURES, load, rows

CASE = FIXTURES / "udm"
SNAKE = CASE / "ndjson_snake_case" / "events.ndjson"
API = CASE / "api_events_wrapper" / "udm_search.json"
LAMBDA = "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws"
PY = r"C:\Users\alice\AppData\Local\Programs\Python\Python312\python.exe"
PY_GUID = "{6c1e2f3a-9b4d-6543-a201-000000002f00}"
CMD_GUID = "{6c1e2f3a-9b40-6543-9e01-000000002e00}"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(SNAKE, id="ndjson-snake"),
        pytest.param(API, id="api-response-camel"),
        pytest.param(CASE / "process_launch_parent" / "events.json", id="json-array"),
        pytest.param(CASE / "network_http" / "events.ndjson", id="http"),
    ],
)
def test_format_detected(path: Path) -> None:
    s = load(path)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "udm.json"}]


def test_large_api_response_is_sniffed_from_text() -> None:
    # A response too large for the 64 KiB head to parse as JSON.
    doc = API.read_text()
    head = Head("udm_search.json", doc.encode()[:2000])
    assert head.first_json is None
    assert udm.UdmSource().sniff(head)


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            {"@timestamp": "2026-11-03T09:14:03Z", "event": {"category": ["network"]}}, id="ecs"
        ),
        pytest.param({"metadata": {"name": "x"}, "principal": {}}, id="metadata-without-type"),
        pytest.param({"events": [{"id": 1}]}, id="other-events-list"),
    ],
)
def test_not_udm(doc: dict[str, Any]) -> None:
    assert not udm.UdmSource().sniff(Head("x.json", (json.dumps(doc) + "\n").encode()))


# -- snake_case NDJSON (Sysmon through Chronicle's parser) ---------------------------------


def test_events_land_in_their_tables() -> None:
    s = load(SNAKE)
    counts = dict(
        s.con.execute(
            "SELECT 'process', count(*) FROM process UNION ALL SELECT 'dns', count(*) FROM dns "
            "UNION ALL SELECT 'connection', count(*) FROM connection "
            "UNION ALL SELECT 'file', count(*) FROM file"
        ).fetchall()
    )
    assert counts == {"process": 1, "dns": 1, "connection": 4, "file": 1}
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "udm:PROCESS_TERMINATION", "count": 1},
        {"label": "udm:USER_LOGIN", "count": 1},
    ]
    assert s.count("ingest_issues") == 0


def test_process_launch_target_is_the_new_process() -> None:
    s = load(SNAKE)
    (p,) = rows(s, "SELECT * FROM process")
    expected: dict[str, Any] = {
        "timestamp": dt.datetime(2026, 11, 3, 9, 13, 58, 412000),
        "process_start": dt.datetime(2026, 11, 3, 9, 13, 58, 412000),
        "event_action": "PROCESS_LAUNCH",
        "event_code": "1",
        "event_id": "19001",
        "host_name": "WS-FIN-07.corp.example",
        "host_id": "Sysmon:WS-FIN-07",
        "user_name": "alice",
        "user_domain": "CORP",
        "process_entity_id": PY_GUID,
        "process_pid": 7344,
        "process_executable": PY,
        "process_name": "python.exe",
        "process_command_line": PY + r" C:\Users\alice\AppData\Local\Temp\sync.py --interval 60",
        "process_hash_sha256": "1f0b3c6a1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c",
        "process_parent_entity_id": CMD_GUID,
        "process_parent_pid": 6120,
        "process_parent_executable": r"C:\Windows\System32\cmd.exe",
        "process_parent_name": "cmd.exe",
        "process_parent_command_line": r'"C:\Windows\System32\cmd.exe" /c start /min '
        "python.exe sync.py",
        "log_format": "udm.json",
        "log_line": 1,
        "log_record": None,
    }
    assert {k: p[k] for k in expected} == expected


def test_dns_lookup_by_the_beaconing_process() -> None:
    s = load(SNAKE)
    (d,) = rows(s, "SELECT * FROM dns")
    expected: dict[str, Any] = {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 90439),
        "dns_question_name": LAMBDA,
        "dns_question_type": "A",
        "dns_response_code": "NOERROR",
        "dns_resolved_ip": ["3.208.65.21", "52.44.10.7"],
        "dns_answers": "3.208.65.21,52.44.10.7",
        "process_entity_id": PY_GUID,
        "process_name": "python.exe",
        "process_parent_entity_id": CMD_GUID,
        "process_parent_name": "cmd.exe",
        "source_ip": "10.20.7.41",
        "log_line": 2,
    }
    assert {k: d[k] for k in expected} == expected


def test_network_connections() -> None:
    s = load(SNAKE)
    got = rows(
        s,
        "SELECT timestamp, process_entity_id, process_pid, process_name, destination_ip, "
        "destination_port, destination_domain, destination_domain_origin, source_port, "
        "network_transport, network_direction, event_id FROM connection "
        "WHERE process_name = 'python.exe' ORDER BY timestamp",
    )
    assert [r["timestamp"] for r in got] == [
        dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
        dt.datetime(2026, 11, 3, 9, 15, 5, 377102),
        dt.datetime(2026, 11, 3, 9, 16, 2, 4981),
    ]
    assert got[0] == {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
        "process_entity_id": PY_GUID,
        "process_pid": 7344,
        "process_name": "python.exe",
        "destination_ip": "3.208.65.21",
        "destination_port": 443,
        "destination_domain": LAMBDA,
        "destination_domain_origin": "record",
        "source_port": 50112,
        "network_transport": "tcp",
        "network_direction": "egress",
        "event_id": "19003",
    }


def test_entity_id_falls_back_to_host_and_pid() -> None:
    s = load(SNAKE)
    (c,) = rows(
        s,
        "SELECT process_entity_id, process_parent_entity_id, event_outcome, "
        "user_name FROM connection WHERE process_name = 'chrome.exe'",
    )
    assert c == {
        "process_entity_id": "ws-eng-12.corp.example:11872",
        "process_parent_entity_id": None,
        "event_outcome": "success",
        "user_name": "bob",
    }


def test_file_creation() -> None:
    s = load(SNAKE)
    (f,) = rows(
        s,
        "SELECT file_path, file_name, file_extension, process_name, "
        "process_entity_id, log_line FROM file",
    )
    assert f == {
        "file_path": r"C:\Users\alice\AppData\Local\Temp\sync.cache",
        "file_name": "sync.cache",
        "file_extension": "cache",
        "process_name": "python.exe",
        "process_entity_id": PY_GUID,
        "log_line": 6,
    }


# -- the REST API's response (camelCase, wrapped) --------------------------------------------


def test_api_response_matches_snake_case() -> None:
    cols = (
        "process_entity_id, process_pid, process_parent_entity_id, destination_ip, "
        "destination_port, destination_domain, host_name, user_domain, event_id"
    )
    snake = rows(
        load(SNAKE),
        f"SELECT {cols} FROM connection WHERE process_pid = 7344 ORDER BY destination_ip, event_id",
    )
    api = rows(load(API), f"SELECT {cols} FROM connection ORDER BY destination_ip, event_id")
    assert api == snake


def test_api_response_fields() -> None:
    s = load(API)
    got = rows(
        s,
        "SELECT timestamp, source_bytes, destination_bytes, event_duration, log_line, "
        "log_record FROM connection ORDER BY log_record",
    )
    assert got[0] == {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),  # 9 digits, microseconds kept
        "source_bytes": 812,
        "destination_bytes": 5120,
        "event_duration": 412_337_000,
        "log_line": None,
        "log_record": 2,
    }
    (d,) = rows(
        s,
        "SELECT dns_question_name, dns_question_type, dns_response_code, "
        "dns_resolved_ip, log_record FROM dns",
    )
    # proto3 JSON omits a zero rcode: NOERROR is not stated, so it is not invented.
    assert d == {
        "dns_question_name": LAMBDA,
        "dns_question_type": "A",
        "dns_response_code": None,
        "dns_resolved_ip": ["3.208.65.21", "52.44.10.7"],
        "log_record": 1,
    }


def test_wrapped_records_as_ndjson(tmp_path: Path) -> None:
    events = json.loads(API.read_text())["events"]
    p = tmp_path / "events.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in events))
    s = load(p)
    assert rows(s, "SELECT log_line FROM connection ORDER BY 1") == [
        {"log_line": 2},
        {"log_line": 3},
        {"log_line": 4},
    ]
    assert s.count("dns") == 1


def test_gzip_input(tmp_path: Path) -> None:
    gz = tmp_path / "events.ndjson.gz"
    with SNAKE.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    s = load(gz)
    assert s.count("connection") == 4
    assert rows(s, "SELECT log_line FROM dns") == [{"log_line": 2}]


# -- NETWORK_HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            1,
            {
                "destination_domain": "script.google.com",
                "destination_domain_origin": "url",
                "url_original": "https://script.google.com/macros/s/"
                "AKfycbzQ1x2y3z4_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789/exec?id=ws-eng-12",
                "http_request_method": "POST",
                "http_response_status_code": 302,
                "user_agent_original": "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; "
                "Win64; x64; Trident/7.0)",
                "network_protocol": "http",
                "source_bytes": 684,
                "destination_bytes": 2210,
                "event_outcome": None,
                "process_name": "wscript.exe",
                "user_name": "bob@corp.example",
            },
            id="url-only",
        ),
        pytest.param(
            2,
            {
                "destination_domain": "sync-api.acme-cdn.workers.dev",
                "destination_domain_origin": "record",
                "url_original": "https://sync-api.acme-cdn.workers.dev:443/v2/beat",
                "http_request_method": "GET",
                "http_response_status_code": 200,
                "user_agent_original": "python-requests/2.32.3",
                "network_protocol": "http",
                "source_bytes": 412,
                "destination_bytes": 96,
                "event_outcome": "failure",
                "process_name": None,
                "user_name": None,
            },
            id="hostname-and-blocked",
        ),
    ],
)
def test_network_http(line: int, expected: dict[str, Any]) -> None:
    s = load(CASE / "network_http" / "events.ndjson")
    (c,) = rows(s, f"SELECT {', '.join(expected)} FROM connection WHERE log_line = ?", line)
    assert c == expected


# -- PROCESS_LAUNCH parents ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            1,
            {
                "timestamp": dt.datetime(2026, 11, 3, 8, 59, 59, 999000),
                "process_entity_id": "CS:3f9a1c2b4d5e6f708192a3b4c5d6e7f8:4472901117",
                "process_pid": 9020,
                "process_name": "wscript.exe",
                "process_parent_entity_id": "CS:3f9a1c2b4d5e6f708192a3b4c5d6e7f8:4471233381",
                "process_parent_pid": 5532,
                "process_parent_name": "explorer.exe",
                "host_id": "CS:3f9a1c2b4d5e6f708192a3b4c5d6e7f8",
            },
            id="product-specific-ids",
        ),
        pytest.param(
            2,
            {
                "timestamp": dt.datetime(2026, 11, 3, 8, 0, 1),  # +01:00 offset honoured
                "process_entity_id": "build-01.corp.example:4410",
                "process_pid": 4410,
                "process_name": "curl",
                "process_parent_entity_id": "build-01.corp.example:812",
                "process_parent_pid": 812,
                "process_parent_name": "bash",
                "host_id": None,
            },
            id="host-pid-fallback",
        ),
        pytest.param(
            3,
            {
                "timestamp": dt.datetime(2026, 11, 3, 9, 0, 2, 500000),
                "process_entity_id": "ws-fin-07.corp.example:7344",
                "process_pid": 7344,
                "process_name": "python.exe",
                "process_parent_entity_id": "CB:6120-133910684381",
                "process_parent_pid": 6120,
                "process_parent_name": "cmd.exe",
                "host_id": None,
            },
            id="parent-under-target",
        ),
    ],
)
def test_process_launch_parent(record: int, expected: dict[str, Any]) -> None:
    s = load(CASE / "process_launch_parent" / "events.json")
    (p,) = rows(
        s, f"SELECT {', '.join(expected)}, log_line FROM process WHERE log_record = ?", record
    )
    assert p == {**expected, "log_line": None}


# -- bad input -------------------------------------------------------------------------------


def test_missing_and_unreadable_timestamps_are_rejected() -> None:
    s = load(CASE / "missing_timestamp" / "events.ndjson")
    assert s.count("connection") == 1
    assert s.count("dns") == 0
    issues = rows(
        s, "SELECT reason_code, severity, log_line, reason FROM ingest_issues ORDER BY log_line"
    )
    assert issues == [
        {
            "reason_code": "missing_timestamp",
            "severity": "error",
            "log_line": 2,
            "reason": "record of type udm:NETWORK_CONNECTION bound for table connection has no "
            "readable timestamp; rejected",
        },
        {
            "reason_code": "missing_timestamp",
            "severity": "error",
            "log_line": 3,
            "reason": "record of type udm:NETWORK_DNS bound for table dns has no readable "
            "timestamp; rejected",
        },
    ]
    # a skipped type needs no time
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "udm:USER_LOGIN", "count": 1}
    ]


def test_wrong_types_keep_row_and_warn() -> None:
    s = load(CASE / "wrong_types" / "events.ndjson")
    (c,) = rows(
        s,
        "SELECT process_pid, source_ip, source_port, source_bytes, destination_bytes, "
        "process_entity_id FROM connection",
    )
    assert c == {
        "process_pid": None,
        "source_ip": "10.20.7.41",
        "source_port": None,
        "source_bytes": 812,
        "destination_bytes": None,
        "process_entity_id": "ws-fin-07.corp.example:seven-three-four-four",
    }
    (i,) = rows(s, "SELECT severity, reason_code, log_line, reason FROM ingest_issues")
    assert i["severity"] == "warning" and i["reason_code"] == "bad_field_type"
    assert i["log_line"] == 1
    assert "process_pid=seven-three-four-four" in i["reason"]
    assert "source_port=fifty-thousand" in i["reason"]
    assert 'destination_bytes={"value":5120}' in i["reason"]


def test_invalid_json_line(tmp_path: Path) -> None:
    lines = SNAKE.read_text().splitlines(keepends=True)
    p = tmp_path / "events.ndjson"
    p.write_text(lines[0] + '{"metadata": {"event_type": "NETWORK_DNS"\n' + "".join(lines[1:]))
    s = load(p)
    assert rows(s, "SELECT reason_code, log_line FROM ingest_issues") == [
        {"reason_code": "invalid_json", "log_line": 2}
    ]
    assert s.count("connection") == 4


def test_protobuf_timestamp_object(tmp_path: Path) -> None:
    p = tmp_path / "events.ndjson"
    p.write_text(
        json.dumps(
            {
                "metadata": {
                    "event_timestamp": {"seconds": 1793697243, "nanos": 120551000},
                    "event_type": "NETWORK_CONNECTION",
                },
                "principal": {"hostname": "WS-FIN-07.corp.example"},
                "target": {"ip": ["3.208.65.21"], "port": 443},
            }
        )
        + "\n"
    )
    s = load(p)
    assert rows(s, "SELECT timestamp FROM connection") == [
        {"timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551)}
    ]


# -- record envelopes seen in published samples ----------------------------------------------


def test_parser_expected_events_layout() -> None:
    path = CASE / "parser_expected_events" / "default_events.json"
    s = load(path)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "udm.json"}]
    assert s.count("ingest_issues") == 0
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "udm:GENERIC_EVENT", "count": 1},
        {"label": "udm:STATUS_UPDATE", "count": 1},
    ]
    got = rows(
        s,
        "SELECT log_record, timestamp, host_name, dns_question_name, dns_question_type, "
        "dns_response_code, dns_resolved_ip, dns_answers, source_ip, source_port, "
        "destination_ip, network_transport, event_outcome FROM dns ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 1,
            "timestamp": dt.datetime(2026, 11, 5, 6, 10),
            "host_name": "lab-ws-09",
            "dns_question_name": "telemetry.vendor-app.example",
            "dns_question_type": "A",
            "dns_response_code": None,
            "dns_resolved_ip": ["198.51.100.71"],
            "dns_answers": "edge.vendor-app.example,198.51.100.71",
            "source_ip": "10.70.2.9",
            "source_port": 51515,
            "destination_ip": "10.70.0.53",
            "network_transport": "udp",
            "event_outcome": "success",
        },
        {
            "log_record": 2,
            "timestamp": dt.datetime(2026, 11, 5, 6, 10, 2),
            "host_name": None,
            "dns_question_name": "nohost.vendor-app.example",
            "dns_question_type": "AAAA",
            "dns_response_code": "NXDOMAIN",
            "dns_resolved_ip": None,
            "dns_answers": None,
            "source_ip": "10.70.2.9",
            "source_port": 51516,
            "destination_ip": None,
            "network_transport": "tcp",
            "event_outcome": None,
        },
    ]
    (c,) = rows(
        s,
        "SELECT log_record, timestamp, event_id, process_entity_id, process_name, "
        "destination_ip, destination_port, destination_domain, network_direction, "
        "source_bytes, destination_bytes FROM connection",
    )
    assert c == {
        "log_record": 3,
        "timestamp": dt.datetime(2026, 11, 5, 6, 10, 3, 250000),
        "event_id": "conn-88121",
        "process_entity_id": "lab-ws-09:3308",
        "process_name": "vendor-app.exe",
        "destination_ip": "198.51.100.71",
        "destination_port": 443,
        "destination_domain": "edge.vendor-app.example",
        "network_direction": "egress",
        "source_bytes": 610,
        "destination_bytes": 4096,
    }


def test_parser_expected_events_sniffed() -> None:
    doc = (CASE / "parser_expected_events" / "default_events.json").read_bytes()
    assert udm.UdmSource().sniff(Head("default_events.json", doc))


def test_event_reference_records() -> None:
    s = load(CASE / "event_reference" / "events.ndjson")
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "udm.json"}]
    assert s.count("ingest_issues") == 0
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "udm:USER_LOGIN", "count": 1}
    ]
    (d,) = rows(
        s,
        "SELECT log_line, timestamp, dns_question_name, dns_question_type, dns_resolved_ip, "
        "source_ip, destination_ip FROM dns",
    )
    assert d == {
        "log_line": 1,
        "timestamp": dt.datetime(2026, 11, 5, 7, 30, 0, 125000),
        "dns_question_name": "update.tooling.example",
        "dns_question_type": "A",
        "dns_resolved_ip": ["192.0.2.140"],
        "source_ip": "10.80.1.14",
        "destination_ip": "10.80.0.2",
    }
    (c,) = rows(
        s,
        "SELECT log_line, event_id, source_ip, source_port, destination_ip, destination_port "
        "FROM connection",
    )
    assert c == {
        "log_line": 2,
        "event_id": "AAAAAB1c2VyLWV2ZW50LTAwMDE=",
        "source_ip": "10.80.1.14",
        "source_port": 50999,
        "destination_ip": "192.0.2.140",
        "destination_port": 8443,
    }


def test_process_launch_bare_image_takes_target_file_path() -> None:
    s = load(CASE / "process_launch_bare_image" / "events.json")
    got = rows(
        s,
        "SELECT log_record, process_executable, process_name, process_pid, process_entity_id, "
        "process_parent_executable, process_parent_entity_id, user_name, user_domain "
        "FROM process ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 1,
            "process_executable": r"C:\Windows\System32\mshta.exe",
            "process_name": "mshta.exe",
            "process_pid": 7716,
            "process_entity_id": "fin-lt-22:7716",
            "process_parent_executable": r"c:\windows\explorer.exe",
            "process_parent_entity_id": "fin-lt-22:5120",
            "user_name": "maria",
            "user_domain": "FINCORP",
        },
        {
            "log_record": 2,
            "process_executable": r"C:\Windows\System32\rundll32.exe",
            "process_name": "rundll32.exe",
            "process_pid": 7790,
            "process_entity_id": "fin-lt-22:7790",
            "process_parent_executable": r"C:\Windows\System32\mshta.exe",
            "process_parent_entity_id": "fin-lt-22:7716",
            "user_name": None,
            "user_domain": None,
        },
        {
            "log_record": 3,
            "process_executable": "cmd.exe",
            "process_name": "cmd.exe",
            "process_pid": 7802,
            "process_entity_id": "fin-lt-22:7802",
            "process_parent_executable": None,
            "process_parent_entity_id": "fin-lt-22:7790",
            "user_name": None,
            "user_domain": None,
        },
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(CASE / "event_reference" / "events.ndjson", id="event"),
        pytest.param(CASE / "parser_expected_events" / "default_events.json", id="readOnlyUdm"),
    ],
)
def test_large_enveloped_document(tmp_path: Path, source: Path) -> None:
    # Too large for the head to parse: the envelope is recognised from the text.
    if source.suffix == ".ndjson":
        records = [json.loads(line) for line in source.read_text().splitlines()]
    else:
        records = json.loads(source.read_text())["events"]
    big = tmp_path / "response.json"
    big.write_text(json.dumps({"events": records * 300}, indent=1))
    assert big.stat().st_size > 256 * 1024
    s = load(big)
    assert s.count("ingest_issues") == 0
    assert s.count("dns") == (300 if source.suffix == ".ndjson" else 600)
    assert s.count("connection") == 300
