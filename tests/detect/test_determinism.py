"""The same events give the same findings, whatever order the records come in.

A finding's id hashes its process instance, user and destination. When a group spans
several process instances (a beacon re-launched by a scheduled task, a tool run many
times), the instance named used to be whichever row DuckDB met first (``any_value``), so
the ids, and the incidents built on them, changed with the file order and from run to run
on large inputs. The context is now taken from the group's earliest record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relayhunt.api import hunt

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PYTHON = r"C:\Users\erin\AppData\Local\Programs\Python\Python312\python.exe"


def _event(i: int) -> dict[str, Any]:
    at = START + timedelta(seconds=300 * i + (i * 7919) % 23)
    return {
        "@timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": {
            "category": ["network"],
            "type": ["start", "connection"],
            "action": "connection_attempted",
            "kind": "event",
        },
        "host": {"name": "ws-0042.corp.example", "id": "h42"},
        # a scheduled task re-launches the beacon: a new process (and here a new user
        # context) every 10 check-ins
        "user": {"name": ["erin", "svc-task", "admin-erin"][(i // 10) % 3], "domain": "CORP"},
        "process": {
            "entity_id": f"proc-{i // 10}",
            "pid": 4000 + i // 10,
            "executable": PYTHON,
            "name": "python.exe",
            "parent": {"name": "svchost.exe"},
        },
        "source": {"ip": "10.20.0.42", "port": 50000 + i},
        "destination": {
            "ip": "104.21.0.9",
            "port": 443,
            "domain": "sync-api.acme-cdn.workers.dev",
        },
        "network": {"transport": "tcp", "direction": "egress"},
    }


def _findings(path: Path) -> list[tuple[Any, ...]]:
    result = hunt([path])
    table = result.findings.select(
        ["finding_id", "rule_id", "process_entity_id", "user_name", "destination_domain"]
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
    assert {(entity, user) for _, _, entity, user, _ in first} == {("proc-0", "erin")}
    assert _findings(backward) == first
