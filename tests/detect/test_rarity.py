"""RH-SL-004: rare and newly seen serverless tenants, on a small fleet built in ECS.

Forty hosts poll one tenant (common: every host; rare means at most 2 hosts and 5 % of
the fleet, so a fleet under 40 has no rare tenant at all); one host also calls a tenant nobody else
does (rare), first on the third day of its data (new as well); a second host calls a
third tenant once on its first day (rare, not new); a browser's call to a rare tenant is
not counted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relayhunt.api import hunt
from tests.detect.ecs_events import connection

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOSTS = [f"ws-{n:04d}.corp.example" for n in range(40)]


def _conn(at: datetime, host: str, image: str, domain: str, pid: int) -> dict[str, Any]:
    name = image.rsplit("\\", 1)[-1]
    return connection(
        at,
        host={"name": host},
        user={"name": "erin"},
        process={"entity_id": f"{host}-{pid}", "pid": pid, "executable": image, "name": name},
        source={"ip": "10.0.0.5", "port": 50000},
        destination={"ip": "104.21.0.9", "port": 443, "domain": domain},
    )


SYNC = r"C:\Program Files\Acme\sync.exe"
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"


def _events() -> list[dict[str, Any]]:
    events = []
    for day in range(4):
        for n, host in enumerate(HOSTS):
            at = START + timedelta(days=day, minutes=n)
            events.append(_conn(at, host, SYNC, "api.acme-sync.workers.dev", 100 + n))
    late = START + timedelta(days=2, hours=5)
    events.append(_conn(late, HOSTS[3], PS, "x7.mal-relay.workers.dev", 4242))
    events.append(
        _conn(late + timedelta(minutes=9), HOSTS[3], PS, "x7.mal-relay.workers.dev", 4242)
    )
    early = START + timedelta(hours=2)
    events.append(_conn(early, HOSTS[1], PS, "dev.tools-team.workers.dev", 777))
    events.append(_conn(late, HOSTS[4], EDGE, "news.browser-only.workers.dev", 900))
    return events


def test_rare_and_new_tenants(tmp_path: Path) -> None:
    path = tmp_path / "fleet" / "events.ndjson"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(e) for e in _events()) + "\n")
    found = [r for r in hunt([path]).findings.to_pylist() if r["rule_id"] == "RH-SL-004"]
    by_tenant = {r["serverless_tenant"]: r for r in found}
    assert set(by_tenant) == {"mal-relay.workers.dev", "tools-team.workers.dev"}, found
    mal = by_tenant["mal-relay.workers.dev"]
    stats = json.loads(mal["stats"])
    assert (mal["host_name"], mal["process_name"], mal["event_count"]) == (
        HOSTS[3],
        "powershell.exe",
        2,
    )
    assert (stats["rare"], stats["new"], stats["tenant_hosts"], stats["fleet_hosts"]) == (
        True,
        True,
        1,
        40,
    )
    assert mal["severity"] == "medium"  # rare and new
    assert mal["destination_domain"] == "x7.mal-relay.workers.dev"
    assert mal["process_command_line"] is None
    first_line = 4 * len(HOSTS) + 1  # after four days of polling
    assert [e["log_line"] for e in mal["evidence"]] == [first_line, first_line + 1]
    tools = by_tenant["tools-team.workers.dev"]
    assert (tools["host_name"], json.loads(tools["stats"])["new"]) == (HOSTS[1], False)
    assert tools["severity"] == "low"  # rare only
