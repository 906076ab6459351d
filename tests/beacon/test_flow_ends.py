"""Connections logged at both ends (Elastic Defend: ``connection_attempted`` then
``disconnect_received`` with the byte counts) are one check-in each: the same beacon
reads the same in ECS as in Sysmon, which logs one event per connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relayhunt.api import hunt
from relayhunt.emulate.emulate import emulate
from relayhunt.emulate.scenarios import BY_NAME
from relayhunt.emulate.writers import FORMATS


@pytest.fixture(scope="module")
def beacons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, object]]]:
    out = tmp_path_factory.mktemp("flow-ends")
    fmts = {f.name: f for f in FORMATS}
    emulate(out, [BY_NAME["c2-cobalt-strike"]], [fmts["ecs"], fmts["sysmon-json"]])
    found: dict[str, dict[str, dict[str, object]]] = {}
    for fmt in ("ecs", "sysmon-json"):
        with hunt([out / fmt]) as r:
            found[fmt] = {
                str(f["host_name"]).split(".")[0].upper(): json.loads(str(f["stats"]))
                for f in r.findings.to_pylist()
                if f["rule_id"] == "RH-SL-005"
            }
    return found


def test_ecs_logs_both_ends_of_each_connection(tmp_path: Path) -> None:
    out = tmp_path / "e"
    emulate(out, [BY_NAME["c2-cobalt-strike"]], [next(f for f in FORMATS if f.name == "ecs")])
    actions = [
        json.loads(line)["event"]["action"]
        for p in sorted((out / "ecs").rglob("*.ndjson"))
        for line in p.read_text().splitlines()
        if '"network"' in line and '"destination"' in line
    ]
    assert actions.count("disconnect_received") == actions.count("connection_attempted") > 100


def test_same_check_ins_as_one_event_per_connection(
    beacons: dict[str, dict[str, dict[str, object]]],
) -> None:
    ecs, sysmon = beacons["ecs"], beacons["sysmon-json"]
    assert set(ecs) == set(sysmon) == {"WS-ACC-01", "WS-ACC-02", "WS-ACC-03"}
    for host in ecs:
        assert ecs[host]["checkins"] == sysmon[host]["checkins"], host


def test_fixed_sleep_stays_tight_and_bytes_come_from_the_end_event(
    beacons: dict[str, dict[str, dict[str, object]]],
) -> None:
    # WS-ACC-01 sleeps 60 s with no jitter: counting the disconnect as a check-in of its
    # own made the intervals alternate (duration, 60 s - duration): 100 % "jitter".
    strict = beacons["ecs"]["WS-ACC-01"]
    assert float(str(strict["jitter_pct"])) < 5
    assert abs(float(str(strict["sleep_s"])) - 60) < 2
    # the byte counts are on disconnect_received only
    assert strict["sent_bytes_median"] == pytest.approx(560, abs=30)
    assert strict["received_bytes_median"] == pytest.approx(5240, abs=60)
