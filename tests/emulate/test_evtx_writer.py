"""The EVTX writer's files are real EVTX: the independent ``evtx`` package reads them."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import evtx
import pytest
from lxml import etree

from relayhunt.emulate.evtx import (
    CHUNK_SIZE,
    EVENT_NS,
    FILE_HEADER_SIZE,
    EvtxEvent,
    EvtxWriter,
    SysmonHost,
    Typed,
    ValueType,
    filetime,
    name_hash,
    render_xml,
    sysmon_event,
    system_time,
    write_evtx,
)

T0 = datetime(2026, 11, 3, 9, 0, 2, 130_000, tzinfo=UTC)
HOST = SysmonHost("WS-FIN-07.corp.example", service_pid=3020, service_tid=4108)
GUID = "{5e0a0b7f-3cda-6543-2a01-000000001200}"
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"


def _dns(i: int = 0) -> EvtxEvent:
    return sysmon_event(
        22,
        T0 + timedelta(seconds=60 * i),
        HOST,
        [
            ("RuleName", "-"),
            ("ProcessGuid", GUID),
            ("ProcessId", 6612),
            ("QueryName", "sync-api.acme-cdn.workers.dev"),
            ("QueryStatus", "0"),
            ("QueryResults", "::ffff:104.21.48.113;::ffff:172.67.182.25;"),
            ("Image", PS),
            ("User", "CORP\\alice"),
        ],
    )


def _connect() -> EvtxEvent:
    return sysmon_event(
        3,
        T0,
        HOST,
        [
            ("RuleName", "-"),
            ("ProcessGuid", GUID),
            ("ProcessId", 6612),
            ("Image", PS),
            ("User", "CORP\\alice"),
            ("Protocol", "tcp"),
            ("Initiated", True),
            ("SourceIsIpv6", False),
            ("SourceIp", "10.20.31.47"),
            ("SourceHostname", None),
            ("SourcePort", 50212),
            ("DestinationIp", "104.21.48.113"),
            ("DestinationHostname", "-"),
            ("DestinationPort", 443),
        ],
    )


def _read(path: Path) -> list[dict[str, Any]]:
    parser = evtx.PyEvtxParser(str(path), number_of_threads=1, validate_checksums=True)
    return [
        {"id": r["event_record_id"], **json.loads(r["data"])["Event"]}
        for r in parser.records_json()
    ]


@pytest.fixture
def one_of_each(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "one.evtx"
    write_evtx(path, [_dns(), _connect()])
    return _read(path)


def test_system_values_round_trip(one_of_each: list[dict[str, Any]]) -> None:
    system = one_of_each[0]["System"]
    assert system["EventID"] == 22
    assert system["Version"] == 5
    assert system["Level"] == 4
    assert system["Task"] == 22
    assert system["Keywords"] == "0x8000000000000000"
    assert system["EventRecordID"] == 1
    assert system["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert system["Computer"] == "WS-FIN-07.corp.example"
    assert system["Provider"]["#attributes"] == {
        "Name": "Microsoft-Windows-Sysmon",
        "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9",
    }
    assert system["Execution"]["#attributes"] == {"ProcessID": 3020, "ThreadID": 4108}
    assert system["Security"]["#attributes"] == {"UserID": "S-1-5-18"}
    # TimeCreated is a FILETIME: 1 ms after UtcTime, rendered by the parser.
    assert system["TimeCreated"]["#attributes"]["SystemTime"].startswith("2026-11-03T09:00:02.131")


def test_typed_event_data_round_trips(one_of_each: list[dict[str, Any]]) -> None:
    data = one_of_each[1]["EventData"]
    assert data["UtcTime"] == "2026-11-03 09:00:02.130"  # inserted after RuleName
    assert list(data)[:2] == ["RuleName", "UtcTime"]
    assert data["ProcessGuid"] == "5E0A0B7F-3CDA-6543-2A01-000000001200"  # a GUID value
    assert data["ProcessId"] == 6612  # UInt32
    assert data["Initiated"] is True  # Boolean
    assert data["SourceIsIpv6"] is False
    assert data["SourcePort"] == 50212  # UInt16
    assert data["SourceHostname"] == ""  # None -> empty
    assert data["DestinationHostname"] == "-"
    assert data["Image"] == PS


def test_explicit_types(tmp_path: Path) -> None:
    event = EvtxEvent(
        event_id=4688,
        time_created=T0,
        computer="WS-FIN-07.corp.example",
        channel="Security",
        provider_name="Microsoft-Windows-Security-Auditing",
        data=(
            ("SubjectLogonId", Typed(ValueType.HEXINT64, 0x3E7)),
            ("NewProcessId", Typed(ValueType.HEXINT32, 0x1A2C)),
            ("When", T0),
            ("Big", 2**40),
            ("Sid", Typed(ValueType.SID, "S-1-5-21-1482476501-1644491937-682003330-1117")),
            ("Flag", Typed(ValueType.UINT8, 7)),
        ),
    )
    path = tmp_path / "typed.evtx"
    write_evtx(path, [event])
    (rec,) = _read(path)
    assert "Guid" not in rec["System"]["Provider"]["#attributes"]
    assert rec["EventData"] == {
        "SubjectLogonId": "0x3e7",
        "NewProcessId": "0x1a2c",
        "When": "2026-11-03T09:00:02.130000Z",
        "Big": 2**40,
        "Sid": "S-1-5-21-1482476501-1644491937-682003330-1117",
        "Flag": 7,
    }


def test_many_records_fill_several_chunks(tmp_path: Path) -> None:
    path = tmp_path / "many.evtx"
    n = write_evtx(path, (_dns(i) for i in range(400)), first_record_id=9001)
    assert n == 400
    blob = path.read_bytes()
    chunks = (len(blob) - FILE_HEADER_SIZE) // CHUNK_SIZE
    assert chunks >= 3
    assert (len(blob) - FILE_HEADER_SIZE) % CHUNK_SIZE == 0
    records = _read(path)
    assert [r["id"] for r in records] == list(range(9001, 9401))
    assert [r["System"]["EventRecordID"] for r in records] == list(range(9001, 9401))
    assert records[-1]["EventData"]["UtcTime"] == "2026-11-03 15:39:02.130"


def test_file_and_chunk_headers_are_consistent(tmp_path: Path) -> None:
    path = tmp_path / "many.evtx"
    write_evtx(path, (_dns(i) for i in range(400)))
    blob = path.read_bytes()
    magic, first, last, next_id, size, minor, major, block, count = struct.unpack_from(
        "<8sQQQIHHHH", blob, 0
    )
    chunks = (len(blob) - FILE_HEADER_SIZE) // CHUNK_SIZE
    assert (magic, first, last, next_id, size, minor, major, block, count) == (
        b"ElfFile\x00",
        0,
        chunks - 1,
        401,
        128,
        1,
        3,
        4096,
        chunks,
    )
    assert struct.unpack_from("<I", blob, 124)[0] == zlib.crc32(blob[:120])
    previous_last = 0
    for i in range(chunks):
        chunk = blob[FILE_HEADER_SIZE + i * CHUNK_SIZE : FILE_HEADER_SIZE + (i + 1) * CHUNK_SIZE]
        assert chunk[:8] == b"ElfChnk\x00"
        first_id, last_id = struct.unpack_from("<QQ", chunk, 8)
        assert first_id == previous_last + 1
        previous_last = last_id
        free, data_crc = struct.unpack_from("<II", chunk, 48)
        assert zlib.crc32(chunk[512:free]) == data_crc
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        assert set(chunk[free:]) <= {0}
    assert previous_last == 400


def test_context_manager_returns_record_ids(tmp_path: Path) -> None:
    path = tmp_path / "cm.evtx"
    with EvtxWriter(path, first_record_id=42) as writer:
        assert writer.write(_dns()) == 42
        assert writer.write(_connect()) == 43
    assert [r["id"] for r in _read(path)] == [42, 43]


@pytest.mark.parametrize(
    ("chars", "message"),
    [
        pytest.param(32_000, "too large for one EVTX chunk", id="record-over-chunk"),
        pytest.param(40_000, "BinXML allows 65535", id="value-over-64k"),
    ],
)
def test_oversize_events_are_refused(tmp_path: Path, chars: int, message: str) -> None:
    huge = sysmon_event(1, T0, HOST, [("CommandLine", "A" * chars)])
    with EvtxWriter(tmp_path / "huge.evtx") as writer:
        writer.write(_dns())
        with pytest.raises(ValueError, match=message):
            writer.write(huge)
        writer.write(_dns(1))  # the writer is still usable
    assert [r["id"] for r in _read(tmp_path / "huge.evtx")] == [1, 2]


def test_empty_file_is_a_valid_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.evtx"
    assert write_evtx(path, []) == 0
    blob = path.read_bytes()
    assert len(blob) == FILE_HEADER_SIZE
    assert blob[:8] == b"ElfFile\x00"
    assert _read(path) == []


@pytest.mark.parametrize(
    ("name", "units"),
    [
        pytest.param("EventData", [ord(c) for c in "EventData"], id="ascii"),
        pytest.param("", [], id="empty"),
        pytest.param("Zeit\u00e9", [90, 101, 105, 116, 0xE9], id="latin1"),
        pytest.param("\U0001f600", [0xD83D, 0xDE00], id="surrogate-pair"),
    ],
)
def test_name_hash_is_over_utf16_code_units(name: str, units: list[int]) -> None:
    """[MS-EVEN6] NameHash: hash = hash * 65599 + code unit, low 16 bits."""
    h = 0
    for unit in units:
        h = (h * 65599 + unit) % 2**32
    assert name_hash(name) == h % 2**16


def test_filetime() -> None:
    assert filetime(datetime(1601, 1, 1, tzinfo=UTC)) == 0
    assert filetime(datetime(1970, 1, 1, tzinfo=UTC)) == 116_444_736_000_000_000
    assert filetime(datetime(2026, 11, 3, 9, 0, 2, 130_000)) == filetime(T0)  # naive = UTC
    assert system_time(T0) == "2026-11-03T09:00:02.1300000Z"


def test_rendered_xml_matches_the_binary(tmp_path: Path) -> None:
    event = _connect()
    xml = render_xml(event, 7)
    root = etree.fromstring(xml.encode())
    ns = {"e": EVENT_NS}
    assert root.findtext("e:System/e:EventRecordID", namespaces=ns) == "7"
    assert root.find("e:System/e:TimeCreated", ns).get("SystemTime") == (
        "2026-11-03T09:00:02.1310000Z"
    )
    data = {d.get("Name"): d.text for d in root.iterfind("e:EventData/e:Data", ns)}
    assert data["ProcessGuid"] == GUID
    assert data["Initiated"] == "true"
    assert data["SourceHostname"] is None  # <Data Name='SourceHostname'/>
    assert data["SourcePort"] == "50212"
    assert "\n" not in xml and xml.startswith(f"<Event xmlns='{EVENT_NS}'>")
    # The binary record carries the same values.
    path = tmp_path / "x.evtx"
    write_evtx(path, [event], first_record_id=7)
    (rec,) = _read(path)
    assert str(rec["EventData"]["SourcePort"]) == data["SourcePort"]
    assert "{" + rec["EventData"]["ProcessGuid"].lower() + "}" == data["ProcessGuid"]


def test_rendering_info_and_escaping() -> None:
    event = sysmon_event(1, T0, HOST, [("CommandLine", "cmd /c \"a & b\" > c <d> 'e'")])
    xml = render_xml(event, 1, rendering_info="Process Create:\r\nCommandLine: a & b")
    root = etree.fromstring(xml.encode())
    ns = {"e": EVENT_NS}
    data = {d.get("Name"): d.text for d in root.iterfind("e:EventData/e:Data", ns)}
    assert data == {
        "UtcTime": "2026-11-03 09:00:02.130",
        "CommandLine": "cmd /c \"a & b\" > c <d> 'e'",
    }
    assert root.findtext("e:RenderingInfo/e:Message", namespaces=ns) == (
        "Process Create:\nCommandLine: a & b"  # XML normalizes CR LF
    )
    assert root.findtext("e:RenderingInfo/e:Task", namespaces=ns) == (
        "Process Create (rule: ProcessCreate)"
    )


def test_sysmon_event_defaults() -> None:
    event = _dns()
    assert (event.provider_name, event.channel, event.version, event.task, event.user_sid) == (
        "Microsoft-Windows-Sysmon",
        "Microsoft-Windows-Sysmon/Operational",
        5,
        22,
        "S-1-5-18",
    )
    assert event.provider_guid == uuid.UUID("5770385f-c22a-43e0-bf4c-06f5698ffbd9")
    assert event.time_created - T0 == timedelta(milliseconds=1)
    values = dict(event.data)
    assert values["ProcessGuid"] == uuid.UUID(GUID.strip("{}"))
    assert values["ProcessId"] == Typed(ValueType.UINT32, 6612)
