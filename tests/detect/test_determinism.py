"""The same events give the same findings, whatever order the records come in.

A finding's id hashes its process instance, user and destination. When a group spans
several process instances (a beacon re-launched by a scheduled task, a tool run many
times), the instance named used to be whichever row DuckDB met first (``any_value``), so
the ids, and the incidents built on them, changed with the file order and from run to run
on large inputs. The context is now taken from the group's earliest record.

The same held for the destination IP, the group's most frequent one: DuckDB's ``mode()``
breaks ties by the order it met the rows. A tie now goes to the smallest value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from relayhunt import model
from relayhunt.api import hunt
from relayhunt.detect.base import DESTINATION_CONTEXT, Rule, install_macros
from relayhunt.detect.run import run_rules
from tests.detect.ecs_events import connection, iso

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# the front end answers from two addresses, each in half of the check-ins: a tie
FRONT_ENDS = ("172.67.1.20", "104.21.0.9")
PYTHON = r"C:\Users\erin\AppData\Local\Programs\Python\Python312\python.exe"


def _event(i: int) -> dict[str, Any]:
    return connection(
        START + timedelta(seconds=300 * i + (i * 7919) % 23),
        host={"name": "ws-0042.corp.example", "id": "h42"},
        # a scheduled task re-launches the beacon: a new process (and here a new user
        # context) every 10 check-ins
        user={"name": ["erin", "svc-task", "admin-erin"][(i // 10) % 3], "domain": "CORP"},
        process={
            "entity_id": f"proc-{i // 10}",
            "pid": 4000 + i // 10,
            "executable": PYTHON,
            "name": "python.exe",
            "parent": {"name": "svchost.exe"},
        },
        source={"ip": "10.20.0.42", "port": 50000 + i},
        destination={
            "ip": FRONT_ENDS[i % 2],
            "port": 443,
            "domain": "sync-api.acme-cdn.workers.dev",
        },
    )


def _findings(path: Path) -> list[tuple[Any, ...]]:
    result = hunt([path])
    table = result.findings.select(
        [
            "finding_id",
            "rule_id",
            "process_entity_id",
            "user_name",
            "destination_domain",
            "destination_ip",
        ]
    )
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_findings_do_not_depend_on_record_order(tmp_path: Path) -> None:
    lines = [json.dumps(_event(i)) for i in range(60)]
    forward = tmp_path / "forward" / "events.ndjson"
    backward = tmp_path / "backward" / "events.ndjson"
    for path, ordered in ((forward, lines), (backward, lines[::-1])):
        path.parent.mkdir()
        path.write_text("\n".join(ordered) + "\n")
    first = _findings(forward)
    assert any(rule == "RH-SL-001" for _, rule, *_ in first), first
    # the earliest record's process instance and user
    assert {(entity, user) for _, _, entity, user, _, _ in first} == {("proc-0", "erin")}
    # the tie between the two addresses goes to the smaller, in either order
    assert {ip for *_, ip in first} == {min(FRONT_ENDS)}
    assert _findings(backward) == first


def test_best_hostname_origin_does_not_depend_on_row_order() -> None:
    # A group's DNS lookups (dns_query) and the connections attributed from them
    # (dns_process) are equally trusted: ranked by trust alone, arg_min named whichever
    # row it met first. Fed to one thread in both orders, the choice must not change.
    con = duckdb.connect()
    con.execute("SET threads = 1")
    install_macros(con)
    con.execute(
        """CREATE TABLE obs (domain_origin VARCHAR, destination_ip VARCHAR,
             destination_port INTEGER, serverless_platform VARCHAR,
             serverless_provider VARCHAR, serverless_kind VARCHAR, serverless_tenant VARCHAR,
             serverless_weight DOUBLE, serverless_legacy BOOLEAN, obs_order HUGEINT)"""
    )
    rows = [("dns_query", 1), ("dns_process", 2), ("same_session", 3), ("dns_host", 0)]
    chosen = set()
    for ordered in (rows, rows[::-1]):
        con.execute("DELETE FROM obs")
        for origin, order in ordered:
            con.execute(
                "INSERT INTO obs VALUES (?, '104.21.0.9', 443, 'Cloudflare Workers', "
                "'Cloudflare', 'edge', 'acme-cdn.workers.dev', 0.9, false, ?)",
                [origin, order],
            )
        row = con.execute(f"SELECT {DESTINATION_CONTEXT} FROM obs").fetchone()
        assert row is not None
        chosen.add(row[0])
    assert chosen == {"same_session"}


def test_a_reused_process_id_does_not_merge_findings(tmp_path: Path) -> None:
    # pid-based process ids come back for another program: two programs, two findings,
    # two ids (the id hashed only the process id, so both got one).
    lines = []
    for i, image in enumerate([PYTHON, r"C:\Windows\System32\curl.exe"] * 3):
        event = _event(i)
        event["process"] = event["process"] | {
            "entity_id": "pid-4242",
            "executable": image,
            "name": image.rsplit("\\", 1)[-1],
        }
        lines.append(json.dumps(event))
    path = tmp_path / "reuse" / "events.ndjson"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    rows = [r for r in _findings(path) if r[1] == "RH-SL-001"]
    assert len(rows) == 2, rows
    assert len({finding_id for finding_id, *_ in rows}) == 2, rows


def test_findings_that_name_the_same_things_get_distinct_ids() -> None:
    # Two findings of one rule that hash alike still get distinct ids, in a fixed order.
    con = duckdb.connect()
    names = [c.name for c in model.FINDINGS if c.name != "finding_id"]

    def build(_: Any) -> str:
        rows = []
        for reason, seen in (("second", "2026-11-02 09:00:00"), ("first", "2026-11-02 08:00:00")):
            values = {n: "NULL" for n in names}
            values |= {
                "rule_id": "'RH-T-1'",
                "host_name": "'ws-1'",
                "reason": f"'{reason}'",
                "first_seen": f"TIMESTAMP '{seen}'",
                "severity": "'low'",
                "confidence": "'low'",
                "score": "10.0",
            }
            rows.append("SELECT " + ", ".join(f"{v} AS {n}" for n, v in values.items()))
        return " UNION ALL ".join(rows)

    rule = Rule("RH-T-1", "test", (), "low", "low", "", build)
    assert run_rules(con, [rule]) == {"RH-T-1": 2}
    ids = dict(con.execute("SELECT reason, finding_id FROM findings_all").fetchall())
    assert ids["second"] == ids["first"] + "-2"
    assert len(ids["first"]) == 16


def test_network_sensor_client_named_by_its_earliest_user_agent(tmp_path: Path) -> None:
    # Without a process (a network sensor), the finding names the client by a tool user
    # agent: the earliest one, not whichever row a thread met first.
    lines = []
    for i, agent in enumerate(["curl/8.4.0", "python-requests/2.31.0"] * 3):
        event = _event(i)
        del event["process"]
        event["user_agent"] = {"original": agent}
        lines.append(json.dumps(event))
    reasons = set()
    for name, ordered in (("forward", lines), ("backward", lines[::-1])):
        path = tmp_path / name / "events.ndjson"
        path.parent.mkdir()
        path.write_text("\n".join(ordered) + "\n")
        table = hunt([path]).findings
        (row,) = [r for r in table.to_pylist() if r["rule_id"] == "RH-SL-001"]
        reasons.add(row["reason"].split('"')[1])
    assert reasons == {"curl/8.4.0"}


def _chain_events() -> list[dict[str, Any]]:
    """The BlackWater chain (cmd writes a script to %TEMP%, wscript runs it) whose script
    then makes 25 connections to Apps Script in the same millisecond."""
    at = START + timedelta(minutes=10)
    host = {"name": "ws-0007.corp.example", "id": "h7"}
    user = {"name": "alice", "domain": "CORP"}
    cmd = {"entity_id": "cmd-1", "pid": 6120, "executable": r"C:\Windows\System32\cmd.exe"}
    script = r"C:\Users\alice\AppData\Local\Temp\update.js"
    wscript = {
        "entity_id": "ws-1",
        "pid": 6200,
        "executable": r"C:\Windows\System32\wscript.exe",
        "name": "wscript.exe",
        "command_line": f'wscript.exe "{script}"',
        "parent": cmd | {"name": "cmd.exe"},
    }
    base = {"host": host, "user": user}
    events: list[dict[str, Any]] = [
        base
        | {
            "@timestamp": iso(at + timedelta(seconds=1)),
            "event": {"action": "creation", "category": ["file"], "type": ["creation"]},
            "file": {"path": script, "name": "update.js", "extension": "js"},
            "process": cmd | {"name": "cmd.exe"},
        },
        base
        | {
            "@timestamp": iso(at + timedelta(seconds=3)),
            "event": {"action": "start", "category": ["process"], "type": ["start"]},
            "process": wscript,
        },
    ]
    events += [
        connection(
            at + timedelta(seconds=4),
            host=host,
            user=user,
            process=wscript,
            source={"ip": "10.20.7.41", "port": 50000 + i},
            destination={"ip": "142.250.74.46", "port": 443, "domain": "script.google.com"},
        )
        for i in range(25)
    ]
    return events


def test_script_chain_evidence_ties_go_to_the_earliest_lines(tmp_path: Path) -> None:
    # 27 records, 25 of them in one millisecond: the finding cites 20, the earliest by time
    # and then by line. Ordered by time alone, the tied connections came in hash-table
    # order (the group's DISTINCT lists), so which 18 were cited changed from run to run.
    lines = [json.dumps(e) for e in _chain_events()]
    for name, ordered in (("forward", lines), ("backward", lines[:2] + lines[:1:-1])):
        path = tmp_path / name / "events.ndjson"
        path.parent.mkdir()
        path.write_text("\n".join(ordered) + "\n")
        (row,) = [r for r in hunt([path]).findings.to_pylist() if r["rule_id"] == "RH-SL-003"]
        cited = [(e["event_kind"], e["log_line"]) for e in row["evidence"]]
        assert cited == [("file", 1), ("process", 2)] + [("connection", n) for n in range(3, 21)]
        assert row["event_count"] == 27
