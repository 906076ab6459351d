"""Correlation: findings on one host and process lineage become one incident."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from relayhunt import model
from relayhunt.correlate import correlate

T0 = datetime(2026, 11, 2, 9, 0)

# explorer.exe (a session root) -> cmd.exe -> wscript.exe -> powershell.exe -> curl.exe,
# and a second, unrelated cmd.exe from explorer.exe with its own curl.exe.
PROCESSES = [
    ("p-explorer", None, "explorer.exe"),
    ("p-cmd", "p-explorer", "cmd.exe"),
    ("p-wscript", "p-cmd", "wscript.exe"),
    ("p-ps", "p-wscript", "powershell.exe"),
    ("p-curl", "p-ps", "curl.exe"),
    ("p-cmd2", "p-explorer", "cmd.exe"),
    ("p-curl2", "p-cmd2", "curl.exe"),
]


def _correlated(findings: list[tuple[str, str, str | None, int]]) -> duckdb.DuckDBPyConnection:
    """A connection, on one thread, where ``correlate`` has run over PROCESSES and the
    findings given as (id, entity, destination, minute), inserted in that order."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute(
        """CREATE TABLE proc_info (host_key VARCHAR, process_entity_id VARCHAR,
             process_name VARCHAR, process_parent_entity_id VARCHAR)"""
    )
    con.executemany(
        "INSERT INTO proc_info VALUES ('ws-1', ?, ?, ?)",
        [[e, name, parent] for e, parent, name in PROCESSES],
    )
    con.execute(model.ddl("findings", model.FINDINGS))
    names = {e: name for e, _, name in PROCESSES}
    for fid, entity, domain, minute in findings:
        at = T0 + timedelta(minutes=minute)
        con.execute(
            """INSERT INTO findings (finding_id, rule_id, severity, confidence, score,
                 host_name, process_entity_id, process_name, destination_domain,
                 first_seen, last_seen)
               VALUES (?, 'RH-SL-001', 'high', 'high', 60, 'ws-1', ?, ?, ?, ?, ?)""",
            [fid, entity, names[entity], domain, at, at],
        )
    correlate(con)
    return con


def _incidents(findings: list[tuple[str, str, int]]) -> dict[str, tuple[str, list[str]]]:
    """finding id -> (incident id, lineage) for findings given as (id, entity, minute)."""
    con = _correlated([(fid, entity, None, minute) for fid, entity, minute in findings])
    rows = con.execute("SELECT finding_id, incident_id, lineage FROM finding_incident")
    return {fid: (inc, lineage) for fid, inc, lineage in rows.fetchall()}


def test_findings_down_one_lineage_are_one_incident() -> None:
    """The lineage key is the highest ancestor below the session root, however deep:
    curl.exe four levels below explorer.exe and wscript.exe two levels below it share
    cmd.exe; the other cmd.exe's curl.exe is a different story."""
    got = _incidents(
        [("f-curl", "p-curl", 0), ("f-wscript", "p-wscript", 5), ("f-curl2", "p-curl2", 10)]
    )
    assert got["f-curl"][0] == got["f-wscript"][0]
    assert got["f-curl2"][0] != got["f-curl"][0]
    assert got["f-curl"][1] == ["cmd.exe", "wscript.exe", "powershell.exe", "curl.exe"]
    assert got["f-curl2"][1] == ["cmd.exe", "curl.exe"]


def _summaries(order: list[tuple[str, str, str | None]]) -> list[tuple[str, list[str]]]:
    """Incident (summary, lineage) for findings given as (id, entity, domain), inserted
    in the order given."""
    con = _correlated([(fid, entity, domain, 0) for fid, entity, domain in order])
    rows = con.execute("SELECT summary, process_lineage FROM incidents ORDER BY incident_id")
    return [(summary, lineage) for summary, lineage in rows.fetchall()]


def test_incident_summary_does_not_depend_on_row_order() -> None:
    """The summary named the incident's processes and hostnames in the order a hash table
    met them, and the lineage was any of the longest: the same findings gave a different
    headline from run to run (seen between two versions of the sample report)."""
    findings = [
        ("f-1", "p-wscript", "script.google.com"),
        ("f-2", "p-cmd", "script.googleusercontent.com"),
        ("f-3", "p-ps", "a.workers.dev"),
        ("f-4", "p-cmd", None),
    ]
    first = _summaries(findings)
    assert _summaries(list(reversed(findings))) == first
    ((summary, lineage),) = first
    assert summary.endswith(
        "cmd.exe, powershell.exe, wscript.exe -> "
        "a.workers.dev, script.google.com, script.googleusercontent.com"
    ), summary
    assert lineage == ["cmd.exe", "wscript.exe", "powershell.exe"]
