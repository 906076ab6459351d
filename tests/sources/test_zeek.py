from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from relayhunt.sources import zeek
from relayhunt.sources.base import Head
from tests.conftest import FIXTURES, load, rows

CASE = FIXTURES / "zeek"
STOCK = CASE / "tsv_conn_dns_ssl_http"
BEACON = "sync-api.acme-cdn.workers.dev"


def _counts(path: Path) -> dict[str, int]:
    s = load(path)
    return dict(
        s.con.execute(
            "SELECT 'connection', count(*) FROM connection UNION ALL "
            "SELECT 'dns', count(*) FROM dns UNION ALL SELECT 'process', count(*) FROM process "
            "UNION ALL SELECT 'issues', count(*) FROM ingest_issues"
        ).fetchall()
    )


# -- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        pytest.param(STOCK / "conn.log", "zeek.tsv", id="tsv-conn"),
        pytest.param(CASE / "tsv_multiple_headers" / "all.log", "zeek.tsv", id="tsv-multi"),
        pytest.param(CASE / "tsv_gzip" / "conn.log.gz", "zeek.tsv", id="tsv-gzip"),
        pytest.param(CASE / "json_iso_timestamps" / "zeek.ndjson", "zeek.json", id="json-path"),
        pytest.param(
            CASE / "json_underscore_fields" / "logstash-zeek.ndjson", "zeek.json", id="json-dedot"
        ),
        pytest.param(CASE / "json_default_no_path" / "current.log", "zeek.json", id="json-stock"),
        pytest.param(
            FIXTURES / "ecs" / "defend_windows" / "events.ndjson", "ecs.ndjson", id="ecs-not-zeek"
        ),
    ],
)
def test_format_detected(path: Path, fmt: str) -> None:
    s = load(path)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": fmt}]


def test_filebeat_zeek_module_is_left_to_ecs() -> None:
    doc = (
        b'{"@timestamp":"2026-11-03T09:14:03.120Z","event":{"category":["network"],'
        b'"dataset":"zeek.connection"},"zeek":{"session_id":"CQ2hHa1uV8QFv2Gl7e"},'
        b'"source":{"ip":"10.20.7.41"},"ts":1793697243.12,"uid":"CQ2hHa1uV8QFv2Gl7e",'
        b'"id.orig_h":"10.20.7.41"}\n'
    )
    assert not zeek.ZeekJsonSource().sniff(Head("conn.json", doc))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("conn.log", "conn", id="plain"),
        pytest.param("/logs/2026-11-03/dns.09:00:00-10:00:00.log.gz", "dns", id="rotated"),
        pytest.param("zeek_ssl.json", "ssl", id="prefixed"),
        pytest.param("http_eth0.log", "http", id="suffixed"),
        pytest.param("connections.log", None, id="not-a-kind"),
        pytest.param("files.log", "files", id="stock-skipped-log"),
        pytest.param("json_streaming_sip.1.log", "sip", id="json-streaming-name"),
        pytest.param("x509.09:00:00-10:00:00.log.gz", "x509", id="rotated-skipped-log"),
    ],
)
def test_kind_from_file_name(name: str, expected: str | None) -> None:
    assert zeek.kind_from_name(name) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param({"ts", "uid", "conn_state", "history", "orig_bytes"}, "conn", id="conn"),
        pytest.param({"ts", "query", "qtype_name", "answers"}, "dns", id="dns"),
        pytest.param({"ts", "version", "cipher", "server_name", "established"}, "ssl", id="ssl"),
        pytest.param({"ts", "version", "server_name", "history"}, None, id="quic-is-not-ssl"),
        pytest.param({"ts", "method", "host", "uri", "status_code"}, "http", id="http"),
        pytest.param({"ts", "fuid", "mime_type"}, None, id="files"),
        pytest.param(
            {"ts", "request_type", "client", "service", "cipher", "forwardable"},
            None,
            id="kerberos-cipher-is-not-ssl",
        ),
        pytest.param(
            {"ts", "method", "uri", "request_from", "request_to", "call_id", "status_code"},
            None,
            id="sip-method-uri-is-not-http",
        ),
        pytest.param({"ts", "version", "cipher", "resumed"}, "ssl", id="ssl-without-sni"),
    ],
)
def test_kind_from_fields(names: set[str], expected: str | None) -> None:
    assert zeek.kind_from_fields(names) == expected


def test_tsv_without_path_header_uses_field_set(tmp_path: Path) -> None:
    p = tmp_path / "capture-0001.txt"
    p.write_text(
        "".join(
            line
            for line in (STOCK / "dns.log").read_text().splitlines(keepends=True)
            if not line.startswith("#path")
        )
    )
    assert _counts(p) == {"connection": 0, "dns": 6, "process": 0, "issues": 0}


# -- TSV: the four stock logs ------------------------------------------------------------


def test_stock_logs_land_in_their_tables() -> None:
    s = load(STOCK)
    got = rows(
        s,
        "SELECT event_action, count(*) AS n FROM connection GROUP BY ALL "
        "UNION ALL SELECT 'dns', count(*) FROM dns ORDER BY 1",
    )
    assert got == [
        {"event_action": "dns", "n": 6},
        {"event_action": "zeek.conn", "n": 9},
        {"event_action": "zeek.http", "n": 3},
        {"event_action": "zeek.ssl", "n": 3},
    ]
    assert s.count("ingest_issues") == 0
    assert s.count("process") == 0
    assert rows(s, "SELECT DISTINCT log_format FROM connection") == [{"log_format": "zeek.tsv"}]


def test_conn_row() -> None:
    s = load(STOCK / "conn.log")
    (c,) = rows(s, "SELECT * FROM connection WHERE event_id = 'CQ2hHa1uV8QFv2Gl7e'")
    expected: dict[str, Any] = {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
        "event_action": "zeek.conn",
        "event_outcome": "success",
        "source_ip": "10.20.7.41",
        "source_port": 50112,
        "destination_ip": "104.21.48.11",
        "destination_port": 443,
        "destination_domain": None,
        "destination_domain_origin": None,
        "network_transport": "tcp",
        "network_protocol": "tls",
        "network_direction": "egress",
        "source_bytes": 812,
        "destination_bytes": 5120,
        "event_duration": 412_337_000,
        "host_name": None,
        "process_entity_id": None,
        "log_format": "zeek.tsv",
        "log_line": 13,
        "log_record": None,
    }
    assert {k: c[k] for k in expected} == expected
    assert c["log_file_path"].endswith("conn.log")


@pytest.mark.parametrize(
    ("uid", "outcome", "protocol", "duration", "src_bytes"),
    [
        pytest.param("CsW5sE2mF8ryQ1GdJ3", "failure", None, None, None, id="S0-unset-fields"),
        pytest.param("CEjl8l1WQ0t4Ik2Kja", "failure", None, 391_000, 0, id="REJ"),
        pytest.param("CYx0Mo3KZf7cYlq3y2", "success", "dns", 11_871_000, 47, id="SF-dns"),
    ],
)
def test_conn_states_and_unset_fields(
    uid: str, outcome: str, protocol: str | None, duration: int | None, src_bytes: int | None
) -> None:
    s = load(STOCK / "conn.log")
    (c,) = rows(
        s,
        "SELECT event_outcome, network_protocol, event_duration, source_bytes FROM connection "
        "WHERE event_id = ?",
        uid,
    )
    assert c == {
        "event_outcome": outcome,
        "network_protocol": protocol,
        "event_duration": duration,
        "source_bytes": src_bytes,
    }


def test_ssl_sni_is_the_destination_domain() -> None:
    s = load(STOCK / "ssl.log")
    got = rows(
        s,
        "SELECT timestamp, event_id, destination_domain, destination_domain_origin, "
        "network_protocol, event_outcome, destination_ip, log_line FROM connection ORDER BY 1",
    )
    assert got[0] == {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 172551),
        "event_id": "CQ2hHa1uV8QFv2Gl7e",
        "destination_domain": BEACON,
        "destination_domain_origin": "tls_sni",
        "network_protocol": "tls",
        "event_outcome": "success",
        "destination_ip": "104.21.48.11",
        "log_line": 9,
    }
    assert [r["destination_ip"] for r in got] == ["104.21.48.11", "172.67.181.20", "104.21.48.11"]


@pytest.mark.parametrize(
    ("uid", "domain", "origin", "url", "method", "status", "agent", "sent", "received"),
    [
        pytest.param(
            "CpQfkTi8xytq87HW2a",
            "www.msftconnecttest.com",
            "http_host",
            "http://www.msftconnecttest.com/connecttest.txt",
            "GET",
            200,
            "Microsoft NCSI",
            0,
            22,
            id="plain-host",
        ),
        pytest.param(
            "CJ4uY2cR7vTn1aXo6b",
            "intranet.corp.example",
            "http_host",
            "http://intranet.corp.example:8080/api/v1/heartbeat?id=12",
            "POST",
            204,
            "curl/8.4.0",
            64,
            2,
            id="host-with-port",
        ),
        pytest.param(
            "CJ4uY2cR7vTn1aXo6c",
            None,
            None,
            "http://10.20.0.6/status",
            "GET",
            200,
            "Wget/1.21.4",
            0,
            17,
            id="ip-literal-host",
        ),
    ],
)
def test_http_rows(
    uid: str,
    domain: str | None,
    origin: str | None,
    url: str,
    method: str,
    status: int,
    agent: str,
    sent: int,
    received: int,
) -> None:
    s = load(STOCK / "http.log")
    (h,) = rows(
        s,
        "SELECT destination_domain, destination_domain_origin, url_original, "
        "http_request_method, http_response_status_code, user_agent_original, source_bytes, "
        "destination_bytes, network_protocol FROM connection WHERE event_id = ?",
        uid,
    )
    assert h == {
        "destination_domain": domain,
        "destination_domain_origin": origin,
        "url_original": url,
        "http_request_method": method,
        "http_response_status_code": status,
        "user_agent_original": agent,
        "source_bytes": sent,
        "destination_bytes": received,
        "network_protocol": "http",
    }


@pytest.mark.parametrize(
    ("uid", "name", "qtype", "rcode", "ips", "answers"),
    [
        pytest.param(
            "CYx0Mo3KZf7cYlq3y2",
            BEACON,
            "A",
            "NOERROR",
            ["104.21.48.11", "172.67.181.20"],
            "104.21.48.11,172.67.181.20",
            id="beacon-lookup",
        ),
        pytest.param(
            "CVw2kI3yBp5cN7tTq1",
            "www.msftconnecttest.com",
            "A",
            "NOERROR",
            ["23.215.0.136"],
            "www.msftconnecttest.com.edgekey.net,e86303.dscx.akamaiedge.net,23.215.0.136",
            id="cname-chain",
        ),
        pytest.param(
            "CfZ2pR0oWn1hM6kSd4", "wpad.corp.example", "A", "NXDOMAIN", None, None, id="nxdomain"
        ),
        pytest.param(
            "CgT3mQ1vXb8dE2rYu5", "teams.microsoft.com", "AAAA", None, None, None, id="no-reply"
        ),
    ],
)
def test_dns_rows(
    uid: str, name: str, qtype: str, rcode: str | None, ips: list[str] | None, answers: str | None
) -> None:
    s = load(STOCK / "dns.log")
    (d,) = rows(
        s,
        "SELECT dns_question_name, dns_question_type, dns_response_code, dns_resolved_ip, "
        "dns_answers, source_ip, destination_ip, destination_port, network_transport "
        "FROM dns WHERE event_id = ?",
        uid,
    )
    assert d["dns_question_name"] == name
    assert d["dns_question_type"] == qtype
    assert d["dns_response_code"] == rcode
    assert d["dns_resolved_ip"] == ips
    assert d["dns_answers"] == answers
    assert d["destination_ip"] == "10.20.0.53" and d["destination_port"] == 53
    assert d["network_transport"] == "udp"


# -- TSV: header blocks, gzip, damage ----------------------------------------------------


def test_multiple_header_blocks_each_apply_to_their_lines() -> None:
    s = load(CASE / "tsv_multiple_headers" / "all.log")
    got = rows(
        s,
        "SELECT log_line, event_action, event_id, network_direction, destination_bytes "
        "FROM connection ORDER BY log_line",
    )
    assert got == [
        {
            "log_line": 9,
            "event_action": "zeek.conn",
            "event_id": "CpQfkTi8xytq87HW2a",
            "network_direction": "egress",
            "destination_bytes": 354,
        },
        {
            "log_line": 10,
            "event_action": "zeek.conn",
            "event_id": "CsW5sE2mF8ryQ1GdJ3",
            "network_direction": "internal",
            "destination_bytes": None,
        },
        {
            "log_line": 11,
            "event_action": "zeek.conn",
            "event_id": "CEjl8l1WQ0t4Ik2Kja",
            "network_direction": "internal",
            "destination_bytes": 0,
        },
        # the last block has no local_orig/local_resp columns: no direction, columns shifted
        {
            "log_line": 42,
            "event_action": "zeek.conn",
            "event_id": "C3bWqz2vQ6n0Ghx1k9",
            "network_direction": None,
            "destination_bytes": 5121,
        },
    ]
    assert rows(s, "SELECT log_line, dns_question_name FROM dns ORDER BY log_line") == [
        {"log_line": 31, "dns_question_name": "www.msftconnecttest.com"},
        {"log_line": 32, "dns_question_name": "wpad.corp.example"},
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "zeek:files", "count": 1}
    ]
    assert s.count("ingest_issues") == 0


def test_gzip_archive() -> None:
    s = load(CASE / "tsv_gzip" / "conn.log.gz")
    assert s.count("connection") == 9
    assert rows(s, "SELECT min(log_line) AS first, max(log_line) AS last FROM connection") == [
        {"first": 9, "last": 17}
    ]
    assert s.count("ingest_issues") == 0


def test_truncated_gzip_keeps_what_was_read() -> None:
    s = load(CASE / "truncated_gzip" / "conn.log.gz")
    assert rows(s, "SELECT log_line FROM connection ORDER BY 1") == [
        {"log_line": 9},
        {"log_line": 10},
    ]
    issues = rows(s, "SELECT reason_code, log_line, reason FROM ingest_issues ORDER BY reason_code")
    assert [i["reason_code"] for i in issues] == ["invalid_csv", "truncated_gzip"]
    assert issues[0]["log_line"] == 11
    assert "looks truncated" in issues[0]["reason"]


def test_wrong_column_count_is_located() -> None:
    s = load(CASE / "tsv_wrong_column_count" / "conn.log")
    assert rows(s, "SELECT log_line FROM connection ORDER BY 1") == [
        {"log_line": 9},
        {"log_line": 11},
        {"log_line": 12},
    ]
    issues = rows(
        s,
        "SELECT reason_code, severity, log_line, log_offset, reason, excerpt "
        "FROM ingest_issues ORDER BY log_line",
    )
    assert [(i["reason_code"], i["severity"], i["log_line"]) for i in issues] == [
        ("invalid_csv", "error", 10),
        ("invalid_csv", "error", 13),
    ]
    assert issues[0]["reason"] == "expected 21 columns (#fields), got 19"
    assert issues[0]["excerpt"].startswith("1793697100.250000?CsW5sE2mF8ryQ1GdJ3")
    text = (CASE / "tsv_wrong_column_count" / "conn.log").read_bytes()
    assert issues[0]["log_offset"] == len(b"".join(text.split(b"\n")[:9])) + 9
    assert issues[1]["reason"].endswith(
        "(last line of the file, unterminated: the file looks truncated)"
    )


def test_data_before_fields_header(tmp_path: Path) -> None:
    p = tmp_path / "conn.log"
    p.write_text("#separator \\x09\n#path\tconn\n1793697243.1\tCx\t10.0.0.1\n")
    s = load(p)
    assert rows(s, "SELECT reason_code, log_line, reason FROM ingest_issues") == [
        {
            "reason_code": "invalid_csv",
            "log_line": 3,
            "reason": "data line before any #fields header",
        }
    ]


def test_unreadable_ts_and_port_in_tsv(tmp_path: Path) -> None:
    src = (STOCK / "conn.log").read_text().splitlines(keepends=True)
    src[8] = src[8].replace("1793697011.500000", "yesterday", 1)
    src[9] = src[9].replace("\t40111\t", "\tforty\t", 1)
    p = tmp_path / "conn.log"
    p.write_text("".join(src))
    s = load(p)
    assert s.count("connection") == 8
    issues = rows(
        s, "SELECT reason_code, severity, log_line, reason FROM ingest_issues ORDER BY log_line"
    )
    assert issues == [
        {
            "reason_code": "missing_timestamp",
            "severity": "error",
            "log_line": 9,
            "reason": "record of type zeek:conn bound for table connection has no readable "
            "timestamp; rejected",
        },
        {
            "reason_code": "bad_field_type",
            "severity": "warning",
            "log_line": 10,
            "reason": "field(s) not readable, stored as NULL: source_port=forty",
        },
    ]


def test_other_separators_and_set_separator(tmp_path: Path) -> None:
    p = tmp_path / "dns.log"
    p.write_text(
        "#separator \\x7c\n#set_separator|;\n#empty_field|(empty)\n#unset_field|-\n#path|dns\n"
        "#fields|ts|uid|id.orig_h|id.orig_p|id.resp_h|id.resp_p|proto|query|qtype_name|"
        "rcode_name|answers\n"
        "1793697243.090439|Cq|10.20.7.41|61112|10.20.0.53|53|udp|"
        + BEACON
        + "|A|NOERROR|104.21.48.11;172.67.181.20\n"
    )
    s = load(p)
    assert rows(s, "SELECT dns_resolved_ip, dns_answers FROM dns") == [
        {
            "dns_resolved_ip": ["104.21.48.11", "172.67.181.20"],
            "dns_answers": "104.21.48.11,172.67.181.20",
        }
    ]


def test_stdin_like_name_uses_header_path(tmp_path: Path) -> None:
    p = tmp_path / "capture.txt"
    shutil.copy(STOCK / "ssl.log", p)
    assert _counts(p) == {"connection": 3, "dns": 0, "process": 0, "issues": 0}


def test_gzip_of_concatenated_logs(tmp_path: Path) -> None:
    gz = tmp_path / "all.log.gz"
    with gzip.open(gz, "wb") as out:
        for name in ("conn.log", "dns.log", "ssl.log", "http.log"):
            out.write((STOCK / name).read_bytes())
    assert _counts(gz) == {"connection": 15, "dns": 6, "process": 0, "issues": 0}


# -- JSON ----------------------------------------------------------------------------------


def test_json_streaming_logs_with_path_and_iso_ts() -> None:
    s = load(CASE / "json_iso_timestamps" / "zeek.ndjson")
    got = rows(
        s,
        "SELECT log_line, timestamp, event_action, destination_domain, "
        "destination_domain_origin, source_port, destination_bytes, event_duration, "
        "network_direction FROM connection ORDER BY log_line",
    )
    assert got == [
        {
            "log_line": 2,
            "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
            "event_action": "zeek.conn",
            "destination_domain": None,
            "destination_domain_origin": None,
            "source_port": 50112,
            "destination_bytes": 5120,
            "event_duration": 412_337_065,
            "network_direction": "egress",
        },
        {
            "log_line": 3,
            "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 172551),
            "event_action": "zeek.ssl",
            "destination_domain": BEACON,
            "destination_domain_origin": "tls_sni",
            "source_port": 50112,
            "destination_bytes": None,
            "event_duration": None,
            "network_direction": None,
        },
        {
            "log_line": 4,
            "timestamp": dt.datetime(2026, 11, 3, 9, 10, 11, 520000),
            "event_action": "zeek.http",
            "destination_domain": "www.msftconnecttest.com",
            "destination_domain_origin": "http_host",
            "source_port": 52210,
            "destination_bytes": 22,
            "event_duration": None,
            "network_direction": None,
        },
    ]
    assert rows(s, "SELECT dns_question_name, dns_resolved_ip, dns_answers, log_line FROM dns") == [
        {
            "dns_question_name": BEACON,
            "dns_resolved_ip": ["104.21.48.11", "172.67.181.20"],
            "dns_answers": "104.21.48.11,172.67.181.20",
            "log_line": 1,
        }
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "zeek:x509", "count": 1}
    ]
    assert s.count("ingest_issues") == 0


def test_json_dedotted_fields_and_stream_names() -> None:
    s = load(CASE / "json_underscore_fields" / "logstash-zeek.ndjson")
    got = rows(
        s,
        "SELECT timestamp, source_ip, source_port, destination_ip, destination_port, "
        "network_protocol, log_line FROM connection ORDER BY log_line",
    )
    assert [r["timestamp"] for r in got] == [
        dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
        dt.datetime(2026, 11, 3, 9, 15, 5, 377102),
        dt.datetime(2026, 11, 3, 9, 16, 2, 5000),  # JSON::TS_MILLIS: millisecond precision
    ]
    assert got[0] == {
        "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
        "source_ip": "10.20.7.41",
        "source_port": 50112,
        "destination_ip": "104.21.48.11",
        "destination_port": 443,
        "network_protocol": "tls",
        "log_line": 2,
    }
    assert rows(s, "SELECT count(*) AS n, min(dns_question_name) AS q FROM dns") == [
        {"n": 3, "q": BEACON}
    ]


def test_json_without_path_uses_field_set() -> None:
    s = load(CASE / "json_default_no_path" / "current.log")
    got = rows(
        s,
        "SELECT log_line, event_action, destination_domain, source_port, "
        "event_outcome FROM connection ORDER BY log_line",
    )
    assert got == [
        {
            "log_line": 1,
            "event_action": "zeek.ssl",
            "destination_domain": BEACON,
            "source_port": 50131,
            "event_outcome": "success",
        },
        {
            "log_line": 3,
            "event_action": "zeek.ssl",
            "destination_domain": "teams.microsoft.com",
            "source_port": None,
            "event_outcome": "failure",
        },
    ]
    issues = rows(
        s, "SELECT reason_code, severity, log_line, reason FROM ingest_issues ORDER BY log_line"
    )
    assert issues == [
        {
            "reason_code": "missing_timestamp",
            "severity": "error",
            "log_line": 2,
            "reason": "record of type zeek:ssl bound for table connection has no readable "
            "timestamp; rejected",
        },
        {
            "reason_code": "bad_field_type",
            "severity": "warning",
            "log_line": 3,
            "reason": "field(s) not readable, stored as NULL: source_port=fifty",
        },
    ]


def test_json_nested_id_and_file_name_hint(tmp_path: Path) -> None:
    p = tmp_path / "http.json"
    p.write_text(
        '{"ts":1793697011.52,"uid":"Cx1","id":{"orig_h":"10.20.12.88","orig_p":52210,'
        '"resp_h":"23.215.0.136","resp_p":80},"host":"www.msftconnecttest.com",'
        '"uri":"/connecttest.txt","status_code":200}\n'
    )
    s = load(p)
    assert rows(
        s, "SELECT event_action, source_ip, destination_port, url_original FROM connection"
    ) == [
        {
            "event_action": "zeek.http",
            "source_ip": "10.20.12.88",
            "destination_port": 80,
            "url_original": "http://www.msftconnecttest.com/connecttest.txt",
        }
    ]


def test_json_invalid_line_is_reported(tmp_path: Path) -> None:
    src = (CASE / "json_iso_timestamps" / "zeek.ndjson").read_text().splitlines(keepends=True)
    p = tmp_path / "zeek.ndjson"
    p.write_text("".join(src[:2]) + '{"_path":"conn","ts":\n' + "".join(src[2:]))
    s = load(p)
    assert rows(s, "SELECT reason_code, log_line FROM ingest_issues") == [
        {"reason_code": "invalid_json", "log_line": 3}
    ]
    assert s.count("connection") == 3


def test_byte_order_mark_before_header(tmp_path: Path) -> None:
    p = tmp_path / "ssl.log"
    p.write_bytes(b"\xef\xbb\xbf" + (STOCK / "ssl.log").read_bytes())
    assert _counts(p) == {"connection": 3, "dns": 0, "process": 0, "issues": 0}


# -- JSON: logs relayhunt does not use ---------------------------------------------------


def test_json_streaming_stream_opening_with_packet_filter() -> None:
    # `zeek -r - LogAscii::output_to_stdout=T json-streaming-logs` writes packet_filter
    # first: no uid, no connection id. The stream is still Zeek, read whole.
    s = load(CASE / "json_streaming_packet_filter_first" / "zeek-stdout.ndjson")
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": "zeek.json"}]
    assert rows(
        s,
        "SELECT log_line, timestamp, event_action, event_id, destination_domain, "
        "url_original, network_protocol, destination_bytes FROM connection ORDER BY log_line",
    ) == [
        {
            "log_line": 3,
            "timestamp": dt.datetime(2026, 11, 3, 9, 10, 11, 520017),
            "event_action": "zeek.http",
            "event_id": "CzW4m21qGvLk0aDp7e",
            "destination_domain": "www.msftconnecttest.com",
            "url_original": "http://www.msftconnecttest.com/connecttest.txt",
            "network_protocol": "http",
            "destination_bytes": 22,
        },
        {
            "log_line": 4,
            "timestamp": dt.datetime(2026, 11, 3, 9, 14, 3, 120551),
            "event_action": "zeek.conn",
            "event_id": "CQ2hHa1uV8QFv2Gl7e",
            "destination_domain": None,
            "url_original": None,
            "network_protocol": "tls",
            "destination_bytes": 5120,
        },
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "zeek:files", "count": 1},
        {"label": "zeek:packet_filter", "count": 1},
        {"label": "zeek:tunnel", "count": 1},
    ]
    assert s.count("ingest_issues") == 0


def test_json_logs_without_connection_id_are_skipped_not_unknown() -> None:
    # Stock use_json files.log (before Zeek 5: fuid, conn_uids, no id) and packet_filter.log
    # from a log directory: Zeek logs relayhunt does not use, so counted as skipped.
    s = load(CASE / "json_logs_without_conn_id")
    assert rows(s, "SELECT log_format FROM ingest_files ORDER BY log_file_path") == [
        {"log_format": "zeek.json"},
        {"log_format": "zeek.json"},
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "zeek:files", "count": 2},
        {"label": "zeek:packet_filter", "count": 1},
    ]
    assert s.count("ingest_issues") == 0
    assert _counts(CASE / "json_logs_without_conn_id" / "files.log") == {
        "connection": 0,
        "dns": 0,
        "process": 0,
        "issues": 0,
    }


@pytest.mark.parametrize(
    ("name", "zeek_json"),
    [
        pytest.param("packet_filter.log", True, id="stock-log-name"),
        pytest.param("metrics.log", False, id="other-ndjson-with-ts"),
    ],
)
def test_json_sniff_by_stock_log_name(name: str, zeek_json: bool) -> None:
    doc = b'{"ts":1793697641.003117,"node":"zeek","filter":"ip or not ip","init":true}\n'
    assert zeek.ZeekJsonSource().sniff(Head(name, doc)) is zeek_json


def test_json_sip_and_kerberos_are_not_http_and_ssl() -> None:
    # sip.log has method + uri, kerberos.log has cipher: without _path or a telling file
    # name they must not pass for http / ssl.
    s = load(CASE / "json_sip_kerberos_no_path" / "sensor.json")
    assert rows(
        s, "SELECT log_line, event_action, destination_domain FROM connection ORDER BY 1"
    ) == [
        {"log_line": 3, "event_action": "zeek.ssl", "destination_domain": BEACON},
        {
            "log_line": 4,
            "event_action": "zeek.http",
            "destination_domain": "www.msftconnecttest.com",
        },
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "zeek:unknown", "count": 2}
    ]
    assert s.count("ingest_issues") == 0


def test_json_skipped_log_named_by_file_name(tmp_path: Path) -> None:
    p = tmp_path / "json_streaming_sip.1.log"
    p.write_text(
        (CASE / "json_sip_kerberos_no_path" / "sensor.json").read_text().splitlines()[0] + "\n"
    )
    s = load(p)
    assert s.count("connection") == 0
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [{"label": "zeek:sip", "count": 1}]


def test_splunk_export_lines_are_read_from_their_raw_text() -> None:
    # Splunk's search export wraps each event as {"preview": false, "result": {"_raw":
    # "<the Zeek JSON line>", ...}}; plain log lines may be mixed in. The wrapped lines
    # were rejected as missing_timestamp.
    s = load(CASE / "splunk_export_raw" / "results.json")
    assert rows(s, "SELECT log_line, dns_question_name, dns_resolved_ip FROM dns ORDER BY 1") == [
        {
            "log_line": 1,
            "dns_question_name": "files.acme-docs.example",
            "dns_resolved_ip": ["198.51.100.12"],
        },
        {
            "log_line": 2,
            "dns_question_name": "beacon-9c1.acme-sync.workers.dev",
            "dns_resolved_ip": ["104.21.77.3", "172.67.140.9"],
        },
    ]
    assert rows(
        s,
        "SELECT log_line, timestamp, source_ip, destination_ip, destination_port, source_bytes "
        "FROM connection",
    ) == [
        {
            "log_line": 3,
            "timestamp": dt.datetime(2026, 11, 5, 9, 20, 2, 610000),
            "source_ip": "10.30.4.21",
            "destination_ip": "104.21.77.3",
            "destination_port": 443,
            "source_bytes": 812,
        }
    ]
    assert s.count("ingest_issues") == 0


def test_splunk_export_of_zeek_json_is_sniffed() -> None:
    line = (CASE / "splunk_export_raw" / "results.json").read_text().splitlines()[1]
    assert zeek.ZeekJsonSource().sniff(Head("results.json", (line + "\n").encode()))


def test_http_connect_without_host_header_names_its_target(tmp_path: Path) -> None:
    # A proxy's CONNECT: the target is the request target (host:port); the Host header is
    # optional there. An IP literal target names no host.
    tsv = CASE / "tsv_http_connect" / "http.log"
    expected = [
        ("relay-2b.acme-sync.workers.dev", "http_host"),
        ("sync.vendor.example", "http_host"),
        (None, None),
    ]
    got = rows(
        load(tsv),
        "SELECT destination_domain, destination_domain_origin FROM connection ORDER BY log_line",
    )
    assert [(r["destination_domain"], r["destination_domain_origin"]) for r in got] == expected
    # the same records as JSON (use_json=T)
    lines = [x for x in tsv.read_text().splitlines() if not x.startswith("#")]
    names = next(x for x in tsv.read_text().splitlines() if x.startswith("#fields")).split("\t")[1:]
    docs = []
    for line in lines:
        rec = dict(zip(names, line.split("\t"), strict=True))
        docs.append({k: v for k, v in rec.items() if v not in ("-", "(empty)")})
    js = tmp_path / "http.log"
    js.write_text("".join(json.dumps(d) + "\n" for d in docs))
    got = rows(
        load(js),
        "SELECT destination_domain, destination_domain_origin FROM connection ORDER BY log_line",
    )
    assert [(r["destination_domain"], r["destination_domain_origin"]) for r in got] == expected
