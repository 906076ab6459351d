"""RH-SL-005 end to end over the store: grouping, check-in merging, ranking, stats."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from relayhunt.beacon.engine import BeaconParams, analyze
from relayhunt.detect.beacon import RULE
from relayhunt.detect.run import run_rules
from relayhunt.emulate import timing
from relayhunt.enrich.pipeline import prepare
from relayhunt.store import Store

T0 = 1_793_577_600.0  # 2026-11-02 00:00 UTC
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
TEAMS = r"C:\Program Files\Microsoft\Teams\ms-teams.exe"


@dataclass
class Flow:
    host: str | None
    image: str | None
    domain: str
    times: np.ndarray
    parent: str | None = "explorer.exe"
    sent: float | None = 420.0
    recv: float | None = 180.0
    entity_per_event: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _table(flows: Sequence[Flow]) -> pa.Table:
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "timestamp",
            "host_name",
            "source_ip",
            "process_executable",
            "process_name",
            "process_parent_name",
            "process_entity_id",
            "destination_domain",
            "destination_domain_origin",
            "destination_ip",
            "destination_port",
            "source_bytes",
            "destination_bytes",
            "log_format",
            "log_file_path",
            "log_line",
        )
    }
    line = 0
    for f_no, f in enumerate(flows):
        for i, t in enumerate(f.times):
            line += 1
            cols["timestamp"].append(int(t * 1e6))
            cols["host_name"].append(f.host)
            cols["source_ip"].append("10.0.0.5" if f.host is None else None)
            cols["process_executable"].append(f.image)
            cols["process_name"].append(f.image.rsplit("\\", 1)[-1] if f.image else None)
            cols["process_parent_name"].append(f.parent if f.image else None)
            cols["process_entity_id"].append(
                (f"{f_no}-{i}" if f.entity_per_event else str(f_no)) if f.image else None
            )
            cols["destination_domain"].append(f.domain)
            cols["destination_domain_origin"].append("record")
            cols["destination_ip"].append("203.0.113.7")
            cols["destination_port"].append(443)
            cols["source_bytes"].append(f.sent)
            cols["destination_bytes"].append(f.recv)
            cols["log_format"].append("test")
            cols["log_file_path"].append("flows")
            cols["log_line"].append(line)
    tbl = pa.table(cols)
    return tbl.set_column(0, "timestamp", tbl.column("timestamp").cast(pa.timestamp("us")))


@pytest.fixture
def hunt() -> Iterator[Any]:
    stores: list[Store] = []

    def run(flows: Sequence[Flow], **thresholds: Any) -> list[dict[str, Any]]:
        st = Store()
        stores.append(st)
        st.con.register("_flows", _table(flows))
        st.con.execute("INSERT INTO connection BY NAME SELECT * FROM _flows")
        st.con.unregister("_flows")
        prepare(st.con)
        run_rules(st.con, [RULE], thresholds={RULE.id: thresholds})
        cur = st.con.execute("SELECT * FROM findings_all ORDER BY score DESC")
        names = [d[0] for d in cur.description]
        out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for row in out:
            row["stats"] = json.loads(row["stats"])
        return out

    yield run
    for st in stores:
        st.close()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_jittered_beacon_fires_with_period_and_jitter(hunt: Any) -> None:
    t = timing.sleep_jitter(60.0, 0.3, T0, T0 + 4 * 3600, rng(1), missed=0.1)
    found = hunt([Flow("ws-1", PS, "sync.edge-relay.workers.dev", t)])
    assert len(found) == 1
    f = found[0]
    assert f["rule_id"] == "RH-SL-005"
    assert f["serverless_platform"] == "Cloudflare Workers"
    assert "T1583.007" in f["threat_technique_id"]
    s = f["stats"]
    assert s["checkins"] == t.size
    assert s["sleep_s"] == pytest.approx(60.0, rel=0.1)
    assert s["jitter_pct"] == pytest.approx(30.0, abs=10.0)
    assert s["log10_p"] < -6
    assert "serverless destination (Cloudflare Workers)" in s["raised_by"]
    assert "every" in f["reason"] and "jitter" in f["reason"]


def test_poisson_traffic_does_not_fire(hunt: Any) -> None:
    r = rng(2)
    flows = [
        Flow(f"ws-{i}", PS, "api.example.com", timing.poisson(1 / 120, T0, T0 + 86_400, r))
        for i in range(30)
    ]
    assert hunt(flows) == []


def test_new_process_per_beat_is_one_group(hunt: Any) -> None:
    t = timing.sleep_jitter(30.0, 0.2, T0, T0 + 3600, rng(3))
    flow = Flow(
        "ws-1",
        r"C:\Windows\System32\curl.exe",
        "us-central1-x.cloudfunctions.net",
        t,
        parent="cmd.exe",
        entity_per_event=True,
    )
    found = hunt([flow])
    assert len(found) == 1
    assert found[0]["stats"]["processes"] == t.size


def test_network_sensor_groups_by_host_and_destination(hunt: Any) -> None:
    t = timing.additive_jitter(60.0, 30.0, T0, T0 + 6 * 3600, rng(4))
    found = hunt([Flow(None, None, "relay.edge-relay.workers.dev", t)])
    assert len(found) == 1
    assert found[0]["host_name"] == "10.0.0.5"
    assert found[0]["process_name"] is None


def test_connections_within_merge_window_are_one_checkin(hunt: Any) -> None:
    beats = timing.sleep_jitter(120.0, 0.2, T0, T0 + 8 * 3600, rng(5))
    burst = np.sort(np.concatenate([beats, beats + 0.2, beats + 0.45]))
    found = hunt([Flow("ws-1", PS, "a.edge-relay.workers.dev", burst)])
    assert found[0]["stats"]["checkins"] == beats.size
    assert found[0]["stats"]["connections"] == burst.size


def test_pause_and_resume_keeps_regularity(hunt: Any) -> None:
    t = timing.sleep_jitter(
        300.0, 0.2, T0, T0 + 3 * 86_400, rng(6), pauses=[(T0 + 86_400, T0 + 2 * 86_400)]
    )
    found = hunt([Flow("ws-1", PS, "b.edge-relay.workers.dev", t)])
    assert found and found[0]["stats"]["pauses"] == 1
    assert found[0]["stats"]["log10_p"] < -20


def test_slow_beacon_of_eight_hours_fires(hunt: Any) -> None:
    # RITA's hour-bucket scores cannot pass for beacons slower than about 4 h
    t = timing.sleep_jitter(8 * 3600.0, 0.2, T0, T0 + 14 * 86_400, rng(7), missed=0.1)
    found = hunt([Flow("ws-1", PS, "slow-relay.script.google.com", t)])
    assert len(found) == 1
    assert found[0]["stats"]["period_s"] == pytest.approx(8 * 3600 * 0.9, rel=0.1)


def test_beacon_to_plain_domain_fires_without_serverless_context(hunt: Any) -> None:
    t = timing.sleep_jitter(60.0, 0.1, T0, T0 + 6 * 3600, rng(8))
    found = hunt([Flow("ws-1", PS, "httpbin.org", t)])
    assert len(found) == 1
    assert found[0]["serverless_platform"] is None
    assert found[0]["threat_technique_id"] == ["T1071.001"]


def test_serverless_c2_ranks_above_fleet_wide_poller(hunt: Any) -> None:
    r = rng(9)
    flows = [
        Flow(
            f"ws-{h:02d}",
            TEAMS,
            "teams.microsoft.com",
            timing.periodic_poller(60.0, T0, T0 + 86_400, r, jitter_s=0.5),
            sent=900,
            recv=1500,
        )
        for h in range(20)
    ]
    flows.append(
        Flow(
            "ws-07",
            PS,
            "c2.edge-relay.workers.dev",
            timing.sleep_jitter(60.0, 0.5, T0, T0 + 86_400, r, missed=0.2),
        )
    )
    found = hunt(flows)
    c2 = [f for f in found if f["destination_domain"] == "c2.edge-relay.workers.dev"]
    pollers = [f for f in found if f["destination_domain"] == "teams.microsoft.com"]
    assert len(c2) == 1 and pollers
    assert c2[0]["score"] > max(p["score"] for p in pollers)
    assert c2[0]["severity"] in ("high", "critical")
    assert all(p["severity"] in ("info", "low") for p in pollers)
    assert any("common destination" in x for x in pollers[0]["stats"]["lowered_by"])
    assert any("rare destination" in x for x in c2[0]["stats"]["raised_by"])


def test_thresholds_are_tunable(hunt: Any) -> None:
    t = timing.sleep_jitter(60.0, 0.3, T0, T0 + 3600, rng(10))
    assert hunt([Flow("ws-1", PS, "x.edge-relay.workers.dev", t)])
    assert hunt([Flow("ws-1", PS, "x.edge-relay.workers.dev", t)], min_checkins=500) == []


def test_analyze_writes_candidate_table() -> None:
    t = timing.sleep_jitter(60.0, 0.0, T0, T0 + 3600, rng(11))
    with Store() as st:
        st.con.register("_flows", _table([Flow("ws-1", PS, "y.workers.dev", t)]))
        st.con.execute("INSERT INTO connection BY NAME SELECT * FROM _flows")
        prepare(st.con)
        assert analyze(st.con, BeaconParams()) == 1
        row = st.con.execute("SELECT checkins, period_s, jitter_pct FROM beacon_groups").fetchone()
    assert row is not None
    assert row[0] == t.size
    assert row[1] == pytest.approx(60.0, rel=0.01)
    assert row[2] < 2.0


def test_thresholds_come_from_the_tuning_file() -> None:
    from relayhunt.config import parse_config
    from relayhunt.detect import rules

    registry = {r.id: dict(r.thresholds) for r in rules()}
    cfg = parse_config(
        "version: 1\nrules:\n  RH-SL-005:\n    min_checkins: 40\n    min_significance: 9.5\n",
        rules=registry,
    )
    assert cfg.rule_thresholds("RH-SL-005") == {"min_checkins": 40, "min_significance": 9.5}
    with pytest.raises(ValueError, match="min_significance"):
        parse_config("version: 1\nrules:\n  RH-SL-005:\n    min_significance: -6\n", rules=registry)


def test_finding_carries_the_plot_series_and_histogram(hunt: Any) -> None:
    t = timing.sleep_jitter(60.0, 0.2, T0, T0 + 3 * 3600, rng(12))
    (f,) = hunt([Flow("ws-1", PS, "z.edge-relay.workers.dev", t, sent=512.0, recv=2048.0)])
    series, hist = f["stats"]["series"], f["stats"]["interval_histogram"]
    n = t.size
    assert series["n"] == n and series["shown"] == n and series["sampled"] is False
    assert series["start"] == pytest.approx(t[0], abs=1e-3)
    assert series["t"] == pytest.approx(list(np.round(t - t[0], 1)), abs=0.051)
    # the interval before each check-in (-1 for the first), over the full data
    assert series["iv"][0] == -1
    assert series["iv"][1:] == pytest.approx(list(np.diff(t)), abs=0.051)
    assert set(series["sent"]) == {512} and set(series["recv"]) == {2048}
    # every interval is in a bin or counted above the range
    assert len(hist["counts"]) == BeaconParams().histogram_bins
    assert sum(hist["counts"]) + hist["above"] == n - 1
    assert hist["lo"] == pytest.approx(float(np.diff(t).min()), abs=1e-3)
    assert hist["width"] > 0


def test_long_series_is_an_even_sample_that_says_so(hunt: Any) -> None:
    t = timing.sleep_jitter(30.0, 0.1, T0, T0 + 2 * 86_400, rng(13))
    assert t.size > 2 * BeaconParams().series_points
    (f,) = hunt([Flow("ws-1", PS, "z.edge-relay.workers.dev", t, sent=None, recv=None)])
    series = f["stats"]["series"]
    m = BeaconParams().series_points
    assert series["n"] == t.size and series["shown"] == m and series["sampled"] is True
    assert len(series["t"]) == len(series["iv"]) == m
    assert series["t"] == sorted(series["t"])
    # an even sample by index: the kept check-ins are spread over the whole run
    assert series["t"][0] == 0.0 and series["t"][-1] > 0.99 * (t[-1] - t[0]) * (m - 1) / m
    kept = np.searchsorted(t, t[0] + np.asarray(series["t"]) - 0.06)
    steps = np.diff(kept)
    assert steps.min() >= t.size // m and steps.max() <= t.size // m + 1
    # the intervals are the true ones, not gaps between sampled points
    assert series["iv"][1:] == pytest.approx(list(np.diff(t)[kept[1:] - 1]), abs=0.051)
    # no bytes in the telemetry: no byte series (not a list of -1)
    assert series.get("sent") is None and series.get("recv") is None
    hist = f["stats"]["interval_histogram"]
    assert sum(hist["counts"]) + hist["above"] == t.size - 1


def test_series_table_is_bounded_per_group() -> None:
    t = timing.sleep_jitter(20.0, 0.0, T0, T0 + 86_400, rng(14))
    with Store() as st:
        st.con.register("_flows", _table([Flow("ws-1", PS, "y.workers.dev", t)]))
        st.con.execute("INSERT INTO connection BY NAME SELECT * FROM _flows")
        prepare(st.con)
        assert analyze(st.con, BeaconParams(series_points=50, histogram_bins=7)) == 1
        row = st.con.execute(
            "SELECT series_n, len(series_t), len(hist_counts) FROM beacon_series"
        ).fetchone()
    assert row == (t.size, 50, 7)
