"""The compat rules' findings describe the hostname they name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relayhunt.api import hunt
from relayhunt.catalog import match_hosts
from tests.detect.ecs_events import connection

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_compat_000_names_the_platform_of_its_hostname(tmp_path: Path) -> None:
    """RH-COMPAT-000 counts a process's connections to any hostname on Elastic's list and
    names the latest one; its platform and tenant came from the earliest record's
    hostname instead, so a finding could name script.google.com as "Cloudflare Pages"."""
    hosts = ["docs-portal.pages.dev"] * 6 + ["script.google.com"] * 6
    events = [
        connection(
            START + timedelta(minutes=10 * i),
            host={"name": "ws-0042.corp.example", "id": "h42"},
            user={"name": "erin", "domain": "CORP"},
            process={
                "entity_id": "proc-1",
                "pid": 4100,
                "executable": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                "name": "powershell.exe",
            },
            source={"ip": "10.20.0.42", "port": 50000 + i},
            destination={"ip": "172.67.1.20", "port": 443, "domain": host},
        )
        for i, host in enumerate(hosts)
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    found = [
        f
        for f in hunt([path], profile="compat").findings.to_pylist()
        if f["rule_id"] == "RH-COMPAT-000"
    ]
    assert len(found) == 1
    f = found[0]
    assert f["destination_domain"] == "script.google.com"
    want = match_hosts(["script.google.com"]).to_pylist()[0]
    assert want["serverless_platform"] is not None
    assert f["serverless_platform"] == want["serverless_platform"]
    assert f["serverless_tenant"] == want["serverless_tenant"]
