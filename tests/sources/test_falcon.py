from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from relayhunt.sources.base import Head
from relayhunt.sources.falcon import FalconSource, looks_like_ndjson
from relayhunt.store import Store
from tests.conftest import FIXTURES, event_counts, load, rows, skipped_counts

CASE = FIXTURES / "falcon"
FIN07 = "0d6c3a5e8f1b4b2a9c7e5f3a1b2c4d6e"
ENG12 = "5b9e2c7a1f3d4e6b8a0c2e4f6a8b0d1f"
CMD = f"{FIN07}:2739168452013"
POWERSHELL = f"{FIN07}:2739172915587"
CHROME = f"{FIN07}:2739190023318"
EXPLORER = f"{FIN07}:2738801120945"


def _issues(s: Store) -> list[tuple[Any, ...]]:
    return s.con.execute(
        "SELECT log_line, log_record, severity, reason_code FROM ingest_issues "
        "ORDER BY log_line NULLS FIRST, reason_code"
    ).fetchall()


# -- the gzip FDR part --------------------------------------------------------------------


def test_fdr_gzip_events_land_in_their_tables() -> None:
    s = load(CASE / "fdr_gzip" / "part-00000.gz")
    assert event_counts(s) == {"process": 3, "dns": 2, "connection": 4, "file": 1}
    assert skipped_counts(s) == {"falcon:EndOfProcess": 1, "falcon:SensorHeartbeat": 1}
    assert s.count("ingest_issues") == 0
    (f,) = rows(s, "SELECT log_format, records_seen FROM ingest_files")
    assert f == {"log_format": "falcon.fdr", "records_seen": 12}


def test_fdr_process_rollup_fields() -> None:
    s = load(CASE / "fdr_gzip" / "part-00000.gz")
    (p,) = rows(s, "SELECT * FROM process WHERE process_name = 'powershell.exe'")
    assert p["timestamp"] == dt.datetime(2026, 11, 2, 8, 14, 5, 106000)  # ProcessStartTime
    assert p["process_start"] == dt.datetime(2026, 11, 2, 8, 14, 5, 106000)
    assert p["event_action"] == "ProcessRollup2"
    assert p["event_id"] == "d3ac94af-0f21-1db6-acad-4a268d116ece"
    assert p["process_entity_id"] == POWERSHELL
    assert p["process_parent_entity_id"] == CMD
    assert p["process_pid"] == 7344
    assert p["process_parent_pid"] is None  # FDR has only the parent's UPID
    assert p["process_executable"] == (
        "\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    )
    assert p["process_command_line"] == (
        "powershell.exe -nop -w hidden -ep bypass -f "
        "C:\\Users\\alice\\AppData\\Local\\Temp\\upd\\beacon.ps1"
    )
    assert p["process_parent_name"] == "cmd.exe"
    assert p["process_hash_sha256"] == (
        "9785001b0dcf755eddb8af294a373c0b87b2498660f724e76c4d53f9c217c7a3"
    )
    assert p["process_integrity_level"] == "Medium"
    assert p["host_id"] == FIN07
    assert p["host_name"] is None  # raw FDR carries no ComputerName
    assert p["user_name"] is None
    assert p["log_format"] == "falcon.fdr"
    assert p["log_file_path"].endswith("fdr_gzip/part-00000.gz")
    assert (p["log_line"], p["log_record"]) == (3, None)


def test_fdr_lineage_links_by_upid() -> None:
    s = load(CASE / "fdr_gzip" / "part-00000.gz")
    chain = rows(
        s,
        "SELECT process_name, process_entity_id, process_parent_entity_id FROM process "
        "ORDER BY timestamp",
    )
    assert chain == [
        {"process_name": "cmd.exe", "process_entity_id": CMD, "process_parent_entity_id": EXPLORER},
        {
            "process_name": "powershell.exe",
            "process_entity_id": POWERSHELL,
            "process_parent_entity_id": CMD,
        },
        {
            "process_name": "chrome.exe",
            "process_entity_id": CHROME,
            "process_parent_entity_id": EXPLORER,
        },
    ]


def test_fdr_network_and_dns_join_their_process() -> None:
    s = load(CASE / "fdr_gzip" / "part-00000.gz")
    beats = rows(
        s,
        "SELECT c.timestamp, c.source_ip, c.source_port, c.destination_ip, c.destination_port, "
        "c.network_transport, c.network_direction, c.destination_domain, p.process_name, "
        "c.log_line FROM connection c JOIN process p USING (process_entity_id) "
        "WHERE c.process_entity_id = ? ORDER BY c.timestamp",
        POWERSHELL,
    )
    assert [b["timestamp"] for b in beats] == [
        dt.datetime(2026, 11, 2, 8, 14, 5, 934000),
        dt.datetime(2026, 11, 2, 8, 15, 6, 411000),
        dt.datetime(2026, 11, 2, 8, 16, 5, 722000),
    ]
    assert beats[0] == {
        "timestamp": dt.datetime(2026, 11, 2, 8, 14, 5, 934000),
        "source_ip": "10.20.31.47",
        "source_port": 49812,
        "destination_ip": "104.21.48.112",
        "destination_port": 443,
        "network_transport": "tcp",
        "network_direction": "egress",
        "destination_domain": None,  # Falcon connection events carry no name
        "process_name": "powershell.exe",
        "log_line": 5,
    }
    (d,) = rows(s, "SELECT * FROM dns WHERE process_entity_id = ?", POWERSHELL)
    assert d["dns_question_name"] == "sync-api.acme-cdn.workers.dev"
    assert d["dns_question_type"] == "A"
    assert d["dns_response_code"] == "NOERROR"
    assert d["dns_resolved_ip"] == ["104.21.48.112", "172.67.161.20"]
    assert d["dns_answers"] == "104.21.48.112;172.67.161.20"
    assert d["destination_ip"] == "10.20.0.53"
    assert d["process_name"] == "powershell.exe"
    assert d["timestamp"] == dt.datetime(2026, 11, 2, 8, 14, 5, 870000)
    assert d["log_line"] == 4


def test_fdr_new_script_written() -> None:
    s = load(CASE / "fdr_gzip" / "part-00000.gz")
    (f,) = rows(s, "SELECT * FROM file")
    assert f["event_action"] == "NewScriptWritten"
    assert (
        f["file_path"]
        == "\\Device\\HarddiskVolume3\\Users\\alice\\AppData\\Local\\Temp\\upd\\beacon.ps1"
    )
    assert (f["file_name"], f["file_extension"]) == ("beacon.ps1", "ps1")
    assert f["file_hash_sha256"] == (
        "2d9a331f045a9c6b13d45eabe948b5c7dfdc25e1251bff6756fa306581087da9"
    )
    assert f["process_entity_id"] == CMD
    assert f["process_executable"] == "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe"
    assert f["process_name"] == "cmd.exe"
    assert f["timestamp"] == dt.datetime(2026, 11, 2, 8, 14, 4, 327000)
    assert f["log_line"] == 2


# -- other event types and shapes ---------------------------------------------------------


def test_mixed_eventsevent_counts() -> None:
    s = load(CASE / "mixed_events" / "events.ndjson")
    assert event_counts(s) == {"process": 2, "dns": 3, "connection": 4, "file": 1}
    assert s.count("ingest_issues") == 0 and s.count("ingest_skipped") == 0


def test_synthetic_rollup_user_domain_and_integrity() -> None:
    s = load(CASE / "mixed_events" / "events.ndjson")
    (p,) = rows(s, "SELECT * FROM process WHERE event_action = 'SyntheticProcessRollup2'")
    assert (p["user_name"], p["user_domain"]) == ("bob", "CORP")
    assert p["process_integrity_level"] == "High"
    assert p["host_name"] == "WS-ENG-12"
    assert p["process_entity_id"] == f"{ENG12}:3105520418762"
    assert p["process_pid"] == 5532
    (edge,) = rows(s, "SELECT user_name, user_domain FROM process WHERE process_pid = 8812")
    assert edge == {"user_name": "bob", "user_domain": None}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            4,
            {
                "event_action": "NetworkConnectIP6",
                "source_ip": "fd00:20:31::52",
                "source_port": 50211,
                "destination_ip": "2620:1ec:21::14",
                "destination_port": 443,
                "network_transport": "tcp",
                "network_direction": "egress",
                "process_name": "OneDrive.exe",
            },
            id="connect-ipv6",
        ),
        pytest.param(
            5,
            {
                "event_action": "NetworkReceiveAcceptIP4",
                "source_ip": "10.20.5.17",
                "source_port": 51234,
                "destination_ip": "10.20.31.52",
                "destination_port": 445,
                "network_transport": "tcp",
                "network_direction": "ingress",
                "process_name": "svchost.exe",
            },
            id="inbound-accept-swapped",
        ),
        pytest.param(
            9,
            {
                "event_action": "NetworkConnectIP4",
                "source_ip": "10.20.31.52",
                "source_port": 61001,
                "destination_ip": "8.8.8.8",
                "destination_port": 53,
                "network_transport": "udp",
                "network_direction": "egress",
                "process_name": "python.exe",
            },
            id="connect-udp",
        ),
    ],
)
def test_connection_variants(line: int, expected: dict[str, Any]) -> None:
    s = load(CASE / "mixed_events" / "events.ndjson")
    (c,) = rows(
        s,
        f"SELECT {', '.join(expected)} FROM connection WHERE log_line = ?",
        line,
    )
    assert c == expected


@pytest.mark.parametrize(
    ("line", "name", "qtype", "rcode", "resolved", "answers"),
    [
        pytest.param(
            2,
            "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws",
            "A",
            "NOERROR",
            ["3.213.41.187", "52.44.19.205"],
            "3.213.41.187;52.44.19.205",
            id="lambda-url",
        ),
        pytest.param(
            3,
            "g.live.com",
            "AAAA",
            "NOERROR",
            ["2620:1ec:21::14"],
            "g.msn.com;g-msn-com-nsatc.trafficmanager.net;2620:1ec:21::14",
            id="aaaa-with-cnames",
        ),
        pytest.param(7, "wpad.corp.example", "A", "NXDOMAIN", None, None, id="nxdomain"),
    ],
)
def test_dns_variants(
    line: int,
    name: str,
    qtype: str,
    rcode: str,
    resolved: list[str] | None,
    answers: str | None,
) -> None:
    s = load(CASE / "mixed_events" / "events.ndjson")
    (d,) = rows(
        s,
        "SELECT dns_question_name, dns_question_type, dns_response_code, dns_resolved_ip, "
        "dns_answers FROM dns WHERE log_line = ?",
        line,
    )
    assert d == {
        "dns_question_name": name,
        "dns_question_type": qtype,
        "dns_response_code": rcode,
        "dns_resolved_ip": resolved,
        "dns_answers": answers,
    }


def test_pe_file_written_hash_is_lowercased() -> None:
    s = load(CASE / "mixed_events" / "events.ndjson")
    (f,) = rows(s, "SELECT event_action, file_name, file_hash_sha256, process_name FROM file")
    assert f == {
        "event_action": "PeFileWritten",
        "file_name": "setup.exe",
        "file_hash_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "process_name": "msedge.exe",
    }


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        pytest.param(
            "stream.ndjson",
            {
                "falcon:DetectionSummaryEvent": 1,
                "falcon:FirewallMatchEvent": 1,
                "falcon:AuthActivityAuditEvent": 1,
            },
            id="ndjson",
        ),
        pytest.param(
            "stream_pretty.json",
            {"falcon:IncidentSummaryEvent": 1, "falcon:UserActivityAuditEvent": 1},
            id="pretty-printed",
        ),
    ],
)
def test_event_streams_are_recognised_andskipped_counts(name: str, labels: dict[str, int]) -> None:
    s = load(CASE / "event_stream" / name)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "falcon.fdr"}]
    assert event_counts(s) == {"process": 0, "dns": 0, "connection": 0, "file": 0}
    assert skipped_counts(s) == labels
    assert s.count("ingest_issues") == 0


def test_unknown_events_are_counted_by_name() -> None:
    s = load(CASE / "unknown_events" / "events.ndjson")
    assert skipped_counts(s) == {
        "falcon:EndOfProcess": 2,
        "falcon:UserLogon": 1,
        "falcon:SensorHeartbeat": 1,
        "falcon:AsepValueUpdate": 1,
        "falcon:ProcessRollup2Stats": 1,
    }
    assert event_counts(s) == {"process": 0, "dns": 1, "connection": 0, "file": 0}
    assert s.count("ingest_issues") == 0


# -- bad input ----------------------------------------------------------------------------


def test_truncated_gzip_keeps_rows_before_the_cut() -> None:
    s = load(CASE / "truncated_gzip" / "part-00000.gz")
    assert event_counts(s) == {"process": 2, "dns": 0, "connection": 0, "file": 1}
    assert _issues(s) == [  # the damage is reported at the line it cut short
        (4, None, "error", "invalid_json"),
        (4, None, "error", "truncated_gzip"),
    ]
    (issue,) = rows(
        s,
        "SELECT reason, excerpt FROM ingest_issues WHERE log_line = 4 "
        "AND reason_code = 'invalid_json'",
    )
    assert "truncated" in issue["reason"]
    assert issue["excerpt"].startswith('{"event_simpleName":"Dns')


def test_wrong_types_are_reported_and_rows_kept() -> None:
    s = load(CASE / "wrong_types" / "events.ndjson")
    assert _issues(s) == [
        (1, None, "error", "invalid_json"),
        (2, None, "warning", "bad_field_type"),
        (3, None, "warning", "bad_field_type"),
        (4, None, "error", "invalid_json"),
        (6, None, "warning", "bad_field_type"),
    ]
    reasons = dict(s.con.execute("SELECT log_line, reason FROM ingest_issues").fetchall())
    assert reasons[2].endswith("process_pid=N/A")
    assert reasons[3].endswith('source_port={"port":50001}; destination_port=https')
    assert reasons[4] == "valid JSON but not an object"
    assert "ContextTimeStamp=yesterday" in reasons[6]
    assert event_counts(s) == {"process": 2, "dns": 0, "connection": 2, "file": 0}
    assert skipped_counts(s) == {"falcon:17": 1}


def test_wrong_types_values() -> None:
    s = load(CASE / "wrong_types" / "events.ndjson")
    procs = rows(s, "SELECT log_line, process_pid, timestamp FROM process ORDER BY log_line")
    assert procs == [
        {
            "log_line": 2,
            "process_pid": None,
            "timestamp": dt.datetime(2026, 11, 2, 10, 0, 0, 100000),
        },
        # JSON numbers instead of strings are read the same way.
        {
            "log_line": 5,
            "process_pid": 4242,
            "timestamp": dt.datetime(2026, 11, 2, 10, 0, 5, 250000),
        },
    ]
    conns = rows(
        s, "SELECT log_line, source_port, destination_port, timestamp FROM connection ORDER BY 1"
    )
    assert conns == [
        {
            "log_line": 3,
            "source_port": None,
            "destination_port": None,
            "timestamp": dt.datetime(2026, 11, 2, 10, 0, 1, 200000),
        },
        # ContextTimeStamp unreadable: the cloud timestamp (ms) is used.
        {
            "log_line": 6,
            "source_port": 50002,
            "destination_port": 443,
            "timestamp": dt.datetime(2026, 11, 2, 10, 0, 6, 789000),
        },
    ]


def test_missing_timestamps_are_rejected_with_their_line() -> None:
    s = load(CASE / "missing_timestamp" / "events.ndjson")
    assert _issues(s) == [
        (1, None, "error", "missing_timestamp"),
        (2, None, "error", "missing_timestamp"),
        (5, None, "error", "missing_timestamp"),
    ]
    assert skipped_counts(s) == {"falcon:SensorHeartbeat": 1}


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        pytest.param("process", 3, dt.datetime(2026, 11, 2, 11, 0, 2, 345000), id="pr2-start-time"),
        pytest.param("process", 4, dt.datetime(2026, 11, 2, 11, 0, 3, 678000), id="pr2-cloud-ms"),
        pytest.param("connection", 7, dt.datetime(2026, 11, 2, 11, 0, 5, 123000), id="filetime"),
    ],
)
def test_timestamp_sources(table: str, line: int, expected: dt.datetime) -> None:
    s = load(CASE / "missing_timestamp" / "events.ndjson")
    (r,) = rows(s, f"SELECT timestamp FROM {table} WHERE log_line = ?", line)
    assert r["timestamp"] == expected


# -- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"event_simpleName":"DnsRequest","aid":"x"}\n', True, id="fdr"),
        pytest.param(
            'garbage\n{"event_simpleName":"DnsRequest","aid":"x"}\n', True, id="first-line-bad"
        ),
        pytest.param(
            '{"metadata":{"eventType":"DetectionSummaryEvent","customerIDString":"c"},'
            '"event":{}}\n',
            True,
            id="event-stream",
        ),
        pytest.param('{"@timestamp":"2026-11-01T00:00:00Z","event":{}}\n', False, id="ecs"),
        pytest.param('{"event_simpleName":"DnsRequest"}\n', False, id="name-only"),
        pytest.param("#separator \\x09\n", False, id="zeek"),
    ],
)
def test_sniff(text: str, expected: bool) -> None:
    assert FalconSource().sniff(Head("x.json", text.encode())) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"a":1}\n{"a":2}\n', True, id="ndjson"),
        pytest.param('bad\n{"a":1}\n{"a":2}\n', True, id="damaged-first-line"),
        pytest.param('{\n  "a": 1\n}\n', False, id="pretty-printed"),
        pytest.param('[{"a":1}]\n', False, id="array"),
    ],
)
def test_looks_like_ndjson(text: str, expected: bool) -> None:
    assert looks_like_ndjson(Head("x", text.encode())) is expected


# -- the bundled sample -------------------------------------------------------------------


def test_bundled_sample_reads_cleanly() -> None:
    sample = FIXTURES.parent.parent / "src" / "relayhunt" / "samples" / "falcon"
    s = load(sample)
    assert event_counts(s) == {"process": 3, "dns": 21, "connection": 45, "file": 1}
    assert s.count("ingest_issues") == 0
    beacon = rows(
        s,
        "SELECT count(*) AS n, count(DISTINCT destination_ip) AS ips FROM connection c "
        "JOIN process p USING (process_entity_id) WHERE p.process_name = 'python.exe'",
    )
    assert beacon == [{"n": 33, "ips": 2}]
    (name,) = s.con.execute(
        "SELECT DISTINCT dns_question_name FROM dns WHERE process_name = 'python.exe'"
    ).fetchone()
    assert name == "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws"
