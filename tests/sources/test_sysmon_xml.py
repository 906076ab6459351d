"""Sysmon rendered XML: every layout gives the same rows as the EVTX file; hostile input
is rejected with a located issue and never expanded."""

from __future__ import annotations

import datetime as dt
import gzip
import resource
from pathlib import Path
from typing import Any

import pytest

from relayhunt.sources.base import Head
from relayhunt.sources.sysmon_xml import GRAMMAR, SysmonXmlSource
from tests.conftest import FIXTURES, event_counts, load, rows

CASE = FIXTURES / "sysmon_xml"
EVTX = FIXTURES / "sysmon_evtx" / "basic" / "Microsoft-Windows-Sysmon%4Operational.evtx"
LAYOUTS = ["wevtutil_concatenated", "one_per_line", "wrapped_events", "utf16", "gzip"]
EVENT_COLUMNS = ("process", "connection", "dns", "file")


def _path(case: str) -> Path:
    return next((CASE / case).iterdir())


def _events(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every event row without the provenance columns that name the file."""
    s = load(path)
    return {
        t: [
            {k: v for k, v in r.items() if k not in ("log_format", "log_file_path", "log_line")}
            for r in rows(s, f"SELECT * FROM {t} ORDER BY log_record")
        ]
        for t in EVENT_COLUMNS
    }


def _issues(path: Path) -> list[dict[str, Any]]:
    return rows(
        load(path),
        "SELECT reason_code, severity, log_line, log_record, log_offset FROM ingest_issues "
        "ORDER BY log_offset",
    )


# -- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        *(pytest.param(c, True, id=c) for c in LAYOUTS if c != "gzip"),
        pytest.param("billion_laughs", True, id="dtd-is-still-ours-to-reject"),
        pytest.param("pretty_printed", True, id="pretty"),
    ],
)
def test_sniff(case: str, expected: bool) -> None:
    data = _path(case).read_bytes()[: 64 * 1024]
    assert SysmonXmlSource().sniff(Head("x", data)) is expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<html><body>Event</body></html>", id="html"),
        pytest.param(b'{"Event": "<Event>"}', id="json"),
        pytest.param(b"<Events/>", id="no-event"),
    ],
)
def test_sniff_rejects(data: bytes) -> None:
    assert SysmonXmlSource().sniff(Head("x", data)) is False


def test_gzip_is_recognised() -> None:
    s = load(_path("gzip"))
    assert rows(s, "SELECT log_format, records_seen FROM ingest_files") == [
        {"log_format": "sysmon.xml", "records_seen": 11}
    ]


# -- the same events, whatever the layout ----------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_matches_the_evtx_file(layout: str) -> None:
    expected = _events(EVTX)
    assert sum(len(v) for v in expected.values()) == 9
    assert _events(_path(layout)) == expected


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_counts_skipped_and_no_issues(layout: str) -> None:
    s = load(_path(layout))
    assert rows(s, "SELECT label, count FROM ingest_skipped ORDER BY label") == [
        {"label": "Security:4688", "count": 1},
        {"label": "sysmon:5", "count": 1},
    ]
    assert s.count("ingest_issues") == 0


def test_values_and_provenance() -> None:
    path = _path("one_per_line")
    s = load(path)
    assert rows(
        s,
        "SELECT timestamp, log_format, log_file_path, log_line, log_record, event_id, "
        "process_pid, process_entity_id, dns_question_name, dns_resolved_ip FROM dns "
        "ORDER BY log_record LIMIT 1",
    ) == [
        {
            "timestamp": dt.datetime(2026, 11, 3, 9, 0, 2, 130_000),
            "log_format": "sysmon.xml",
            "log_file_path": str(path),
            "log_line": 2,
            "log_record": 2,
            "event_id": "2",
            "process_pid": 6612,
            "process_entity_id": "{5e0a0b7f-3cda-6543-2a01-000000001200}",
            "dns_question_name": "sync-api.acme-cdn.workers.dev",
            "dns_resolved_ip": ["104.21.48.113", "172.67.182.25"],
        }
    ]


def test_escaped_text_is_unescaped(tmp_path: Path) -> None:
    src = _path("wevtutil_concatenated").read_text(encoding="utf-8")
    cmd = "cmd.exe /c echo var x=new ActiveXObject("
    assert cmd in src
    path = tmp_path / "escaped.xml"
    path.write_text(
        src.replace(cmd, "cmd.exe /c &quot;a &amp; b&quot; &lt;c&gt; &apos;d&apos; " + cmd),
        encoding="utf-8",
    )
    s = load(path)
    (parent,) = rows(s, "SELECT process_parent_command_line AS c FROM process WHERE log_record = 5")
    assert parent["c"].startswith("cmd.exe /c \"a & b\" <c> 'd' cmd.exe /c echo")
    assert s.count("ingest_issues") == 0


def test_field_names_inside_values_do_not_spoof_fields(tmp_path: Path) -> None:
    # Apostrophes and '>' are legal in XML text, so a command line can carry text that
    # looks like another field's tag: the real field must still be read.
    src = _path("wevtutil_concatenated").read_text(encoding="utf-8")
    cmd = "<Data Name='CommandLine'>\"C:\\Windows\\System32\\WScript.exe\" "
    assert cmd in src
    spoof = "x Name='ParentImage'>C:\\Windows\\explorer.exe Name='User'>CORP\\admin y "
    path = tmp_path / "spoof.xml"
    path.write_text(src.replace(cmd, cmd + spoof, 1), encoding="utf-8")
    s = load(path)
    (row,) = rows(
        s,
        "SELECT process_parent_executable AS parent, user_name, process_command_line AS c "
        "FROM process WHERE process_command_line LIKE '%WScript.exe%'",
    )
    assert spoof in row["c"]
    assert row["parent"] == "C:\\Windows\\System32\\cmd.exe"
    assert row["user_name"] == "alice"
    assert s.count("ingest_issues") == 0


# -- the lxml path (layouts outside the strict grammar) gives the same values ---------


def test_pretty_printed_goes_through_lxml_with_the_same_values() -> None:
    fast = _events(_path("wevtutil_concatenated"))
    slow = _events(_path("pretty_printed"))
    # Records 1-3 of the basic file; the command line had a character reference.
    assert slow["process"] == fast["process"][:1]
    assert slow["dns"] == fast["dns"][:1]
    assert slow["connection"] == fast["connection"][:1]
    assert _issues(_path("pretty_printed")) == []


def test_grammar_rejects_what_lxml_must_see() -> None:
    import duckdb

    con = duckdb.connect()
    ok = _path("wevtutil_concatenated").read_text(encoding="utf-8").split("<Event ", 2)[1]
    event = "<Event " + ok
    cases = {
        "canonical": event,
        "comment": event.replace("<EventData>", "<EventData><!-- x -->"),
        "char-ref": event.replace("RuleName'>-", "RuleName'>&#45;"),
        "unclosed": event.replace("</EventData>", ""),
        "mismatched": event.replace("</Computer>", "</Channel>"),
        "double-quoted-data": event.replace("<Data Name='RuleName'>", '<Data Name="RuleName">'),
        "doctype": "<!DOCTYPE x>" + event,
    }
    got = {
        k: con.execute("SELECT regexp_full_match(?, ?)", [v, GRAMMAR]).fetchone()[0]
        for k, v in cases.items()
    }
    assert got == {
        "canonical": True,
        "comment": False,
        "char-ref": False,
        "unclosed": False,
        "mismatched": False,
        "double-quoted-data": False,
        "doctype": False,
    }


# -- hostile and damaged input -----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "counts", "issues"),
    [
        pytest.param(
            "billion_laughs",
            {"process": 0, "connection": 0, "dns": 1, "file": 0},
            [
                {"reason_code": "dtd_rejected", "severity": "error", "log_line": 2,
                 "log_record": None, "log_offset": 22},
                {"reason_code": "dtd_rejected", "severity": "error", "log_line": 15,
                 "log_record": 1, "log_offset": 796},
            ],
            id="billion-laughs",
        ),
        pytest.param(
            "external_entity",
            {"process": 0, "connection": 1, "dns": 0, "file": 0},
            [
                {"reason_code": "dtd_rejected", "severity": "error", "log_line": 2,
                 "log_record": None, "log_offset": 22},
                {"reason_code": "dtd_rejected", "severity": "error", "log_line": 6,
                 "log_record": 1, "log_offset": 97},
            ],
            id="external-entity",
        ),
        pytest.param(
            "unclosed_event",
            {"process": 1, "connection": 1, "dns": 0, "file": 0},
            [{"reason_code": "invalid_xml", "severity": "error", "log_line": 2,
              "log_record": 2, "log_offset": 2134}],
            id="unclosed-event",
        ),
        pytest.param(
            "truncated",
            {"process": 1, "connection": 0, "dns": 1, "file": 0},
            [{"reason_code": "truncated_file", "severity": "error", "log_line": 1,
              "log_record": 3, "log_offset": 3270}],
            id="truncated",
        ),
        pytest.param(
            "invalid_utf8",
            {"process": 2, "connection": 2, "dns": 4, "file": 1},
            [{"reason_code": "invalid_utf8", "severity": "warning", "log_line": 1,
              "log_record": 1, "log_offset": 1188}],
            id="invalid-utf8",
        ),
    ],
)  # fmt: skip
def test_damage_is_located(case: str, counts: dict[str, int], issues: list[dict[str, Any]]) -> None:
    path = _path(case)
    s = load(path)
    assert event_counts(s) == counts
    assert _issues(path) == issues


def test_billion_laughs_is_never_expanded() -> None:
    s = load(_path("billion_laughs"))
    text = str(rows(s, "SELECT * FROM dns")) + str(
        rows(s, "SELECT reason, excerpt FROM ingest_issues")
    )
    assert "lollollol" not in text
    assert rows(s, "SELECT bytes_read FROM ingest_files") == [
        {"bytes_read": _path("billion_laughs").stat().st_size}
    ]


def test_external_entity_is_never_resolved() -> None:
    s = load(_path("external_entity"))
    assert "root:" not in str(rows(s, "SELECT * FROM connection"))
    (row,) = rows(s, "SELECT host_name FROM connection")
    assert row["host_name"] == "WS-FIN-07.corp.example"


def test_large_billion_laughs_stays_bounded(tmp_path: Path) -> None:
    """Many documents with deep entity nesting: no expansion, memory does not explode."""
    entities = "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 16}">' for i in range(1, 30))
    event = (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<EventID>1</EventID><Computer>&a29;</Computer></System></Event>"
    )
    path = tmp_path / "bomb.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE Events [<!ENTITY a0 "x">{entities}]><Events>'
        + event * 2000
        + "</Events>"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    s = load(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512
    assert rows(s, "SELECT reason_code, count(*) AS n FROM ingest_issues GROUP BY 1") == [
        {"reason_code": "dtd_rejected", "n": 2001}
    ]


def test_unclosed_event_reports_the_parser_message() -> None:
    s = load(_path("unclosed_event"))
    (issue,) = rows(s, "SELECT reason, excerpt FROM ingest_issues")
    assert "Premature end of data in tag EventData" in issue["reason"]
    assert issue["excerpt"].startswith("<Event xmlns=")


def test_invalid_utf8_keeps_the_event_with_a_replacement_character() -> None:
    s = load(_path("invalid_utf8"))
    (row,) = rows(s, "SELECT process_command_line AS c FROM process WHERE log_record = 1")
    assert "-NoPr\ufffdfile" in row["c"]


def test_junk_before_and_between_events_is_reported_not_lost(tmp_path: Path) -> None:
    lines = _path("one_per_line").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "prefixed.xml"
    path.write_text(
        '<?xml version="1.0"?>\ngarbage before\n'
        + lines[0]
        + "\n"
        + lines[1]
        + "trailing junk\n"
        + lines[2]
        + "\n",
        encoding="utf-8",
    )
    s = load(path)
    assert event_counts(s) == {
        "process": 1,
        "connection": 1,
        "dns": 1,
        "file": 0,
    }
    assert rows(
        s, "SELECT reason_code, severity, log_line, log_record FROM ingest_issues ORDER BY 3"
    ) == [
        {"reason_code": "invalid_xml", "severity": "warning", "log_line": 1, "log_record": None},
        {"reason_code": "invalid_xml", "severity": "warning", "log_line": 4, "log_record": 2},
    ]


def test_oversize_event_is_skipped(tmp_path: Path) -> None:
    lines = _path("one_per_line").read_text(encoding="utf-8").splitlines()
    big = lines[0].replace("<Data Name='CommandLine'>", "<Data Name='CommandLine'>" + "A" * 5000)
    path = tmp_path / "big.xml"
    path.write_text("\n".join([lines[1], big, lines[2]]) + "\n", encoding="utf-8")
    s = load(path, max_record_bytes=4096)
    assert rows(s, "SELECT reason_code, log_record FROM ingest_issues") == [
        {"reason_code": "oversize_record", "log_record": 2}
    ]
    assert (s.count("dns"), s.count("connection"), s.count("process")) == (1, 1, 0)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(_path("one_per_line").read_bytes())
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    s = load(path)
    codes = [r["reason_code"] for r in rows(s, "SELECT reason_code FROM ingest_issues")]
    assert "truncated_gzip" in codes
    assert s.count("process") >= 1


# -- blocks: the next one is cut in a background thread ------------------------------------


def _all_rows(s: Any) -> dict[str, list[tuple[Any, ...]]]:
    out = {
        t: s.con.execute(f"SELECT * FROM {t} ORDER BY log_record").fetchall() for t in EVENT_COLUMNS
    }
    out["issues"] = s.con.execute(
        "SELECT reason_code, severity, log_line, log_record, log_offset, reason "
        "FROM ingest_issues ORDER BY log_offset, reason"
    ).fetchall()
    return out


def test_small_blocks_read_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import relayhunt.sources.sysmon_xml as reader

    one = _path("wevtutil_concatenated").read_text(encoding="utf-8")
    bad = _path("unclosed_event").read_text(encoding="utf-8")
    path = tmp_path / "many.xml"
    path.write_text(one * 20 + bad + one * 5, encoding="utf-8")
    whole = _all_rows(load(path))
    monkeypatch.setattr(reader, "BLOCK_BYTES", 3000)  # about one event per block
    small = _all_rows(load(path))
    assert small == whole
    assert len(whole["process"]) == 25 * 2 + 1
    assert [i[0] for i in whole["issues"]] == ["invalid_xml"]


def test_a_declaration_counts_from_its_block_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An event using an undeclared entity before any DTD is plain invalid XML; the same
    # event after a DTD (a later block, read ahead by the background thread) is rejected
    # as using the DTD's entity.
    import relayhunt.sources.sysmon_xml as reader

    one = _path("wevtutil_concatenated").read_text(encoding="utf-8")
    host = "<Computer>WS-FIN-07.corp.example</Computer>"
    assert host in one
    first_event = one[: one.index("</Event>") + len("</Event>")]
    with_entity = first_event.replace(host, "<Computer>&host;</Computer>")
    dtd = '<!DOCTYPE Events [<!ENTITY host "evil.example">]>'
    path = tmp_path / "late_dtd.xml"
    path.write_text(with_entity + one * 3 + dtd + one * 3 + with_entity, encoding="utf-8")
    monkeypatch.setattr(reader, "BLOCK_BYTES", 3000)
    s = load(path)
    issues = rows(s, "SELECT reason_code, log_record FROM ingest_issues ORDER BY log_offset")
    # 1: before the DTD's block; the declaration itself; 68: after it.
    assert [(i["reason_code"], i["log_record"]) for i in issues] == [
        ("invalid_xml", 1),
        ("dtd_rejected", None),
        ("dtd_rejected", 68),
    ]
    # Event 34, followed by the declaration, is outside it and read.
    stored = sum(s.count(t) for t in EVENT_COLUMNS)
    assert stored == 6 * 9  # 6 copies of 11 events, a Sysmon 5 and a Security 4688 skipped in each
    assert rows(s, "SELECT count(*) AS n FROM dns WHERE log_record = 34") == [{"n": 1}]
    assert "evil.example" not in str(rows(s, "SELECT host_name FROM process"))
