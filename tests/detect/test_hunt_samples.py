"""The hunt over each format's bundled sample: the adversary is flagged in every endpoint
format, hostnames come from DNS where the connection record lacks them, and browsers and
pollers are left alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from relayhunt.api import HuntResult, hunt
from relayhunt.cli import samples_dir

BROWSERS = {"chrome.exe", "msedge.exe", "firefox.exe"}
POLLERS = {"OneDrive.exe", "onedrive.exe", "Teams.exe", "ms-teams.exe"}

# format folder -> (process, rule, destination suffix) that must be found
EXPECTED = {
    "ecs": [("node.exe", "RH-SL-001", ".deno.dev")],
    "sysmon": [
        ("powershell.exe", "RH-SL-001", ".workers.dev"),
        ("wscript.exe", "RH-SL-003", "script.google.com"),
    ],
    "falcon": [("python.exe", "RH-SL-001", ".lambda-url.us-east-1.on.aws")],
    "defender": [
        ("curl.exe", "RH-SL-001", ".cloudfunctions.net"),
        ("curl.exe", "RH-SL-002", ".cloudfunctions.net"),
        ("python.exe", "RH-SL-001", ".lambda-url.us-east-1.on.aws"),
    ],
    "udm": [("python.exe", "RH-SL-001", ".lambda-url.us-east-1.on.aws")],
}


@pytest.fixture(scope="module", params=[*sorted(EXPECTED), "zeek"])
def sample(request: pytest.FixtureRequest) -> Iterator[tuple[str, HuntResult]]:
    with hunt([samples_dir() / request.param]) as r:
        yield request.param, r


def test_sample_reads_cleanly(sample: tuple[str, HuntResult]) -> None:
    _, r = sample
    assert r.store.count("ingest_issues") == 0
    assert r.ingest.unreadable == 0


def test_adversary_is_flagged(sample: tuple[str, HuntResult]) -> None:
    fmt, r = sample
    found = {
        (f["process_name"], f["rule_id"], f["destination_domain"]) for f in r.findings.to_pylist()
    }
    for proc, rule, suffix in EXPECTED.get(fmt, []):
        assert any(p == proc and ru == rule and str(d).endswith(suffix) for p, ru, d in found), (
            fmt,
            proc,
            rule,
            suffix,
            found,
        )


def test_browsers_and_pollers_are_left_alone(sample: tuple[str, HuntResult]) -> None:
    _, r = sample
    names = {f["process_name"] for f in r.findings.to_pylist()}
    assert not names & (BROWSERS | POLLERS)


def test_network_sensor_does_not_flag_browsing(sample: tuple[str, HuntResult]) -> None:
    fmt, r = sample
    if fmt != "zeek":
        pytest.skip("network sensor only")
    # Plain browsing must never be a finding; the TLS-only beacon to a Workers host (no
    # user agent, so RH-SL-001 cannot speak for it) is found by the beacon analytics.
    found = r.findings.to_pylist()
    assert [(f["rule_id"], f["destination_domain"]) for f in found] == [
        ("RH-SL-005", "sync-api.acme-cdn.workers.dev")
    ]
    stats = json.loads(str(found[0]["stats"]))
    assert stats["checkins"] >= 12 and stats["log10_p"] < -6


def test_sysmon_hostname_comes_from_the_process_dns_query(sample: tuple[str, HuntResult]) -> None:
    fmt, r = sample
    if fmt != "sysmon":
        pytest.skip("Sysmon EID 3 lacks the requested hostname")
    ps = next(
        f
        for f in r.findings.to_pylist()
        if f["process_name"] == "powershell.exe" and f["rule_id"] == "RH-SL-001"
    )
    assert ps["destination_domain_origin"] in ("dns_process", "dns_query")
    connections = r.store.con.execute(
        "SELECT count(*) FROM connection_attributed WHERE log_format LIKE 'sysmon.%' "
        "AND attributed_domain_origin = 'dns_process'"
    ).fetchone()
    assert connections is not None and connections[0] > 0


def test_cloudtrail_sample_flags_the_backdoor_not_the_pipeline() -> None:
    """The CloudTrail sample: a GitHub Actions role deploying on five days stays quiet;
    a leaked access key lists, fails, overwrites invoice-sync, adds a foreign layer and
    opens a public function URL, then invokes it."""
    with hunt([samples_dir() / "cloudtrail"]) as r:
        assert r.store.count("ingest_issues") == 0
        found = r.findings.to_pylist()
        assert sorted(f["rule_id"] for f in found) == [
            "RH-CP-001",
            "RH-CP-002",
            "RH-CP-004",
            "RH-CP-005",
        ]
        assert {f["user_name"] for f in found} == {"arn:aws:iam::111122223333:user/svc-reporting"}
        change = next(f for f in found if f["rule_id"] == "RH-CP-001")
        assert "layers" in change["reason"] and "444455556666" in change["reason"]


def test_cloud_backdoor_and_endpoint_beacon_are_one_incident() -> None:
    """The function URL the leaked key opened is the one python.exe beacons to on
    WS-FIN-07 (Falcon and UDM samples): one incident holds both sides."""
    with hunt([samples_dir()]) as r:
        incidents = r.incidents.to_pylist()
        both = [
            i for i in incidents if {"RH-CP-001", "RH-CP-002", "RH-SL-001"} <= set(i["rule_ids"])
        ]
        assert len(both) == 1, [(i["host_name"], i["rule_ids"]) for i in incidents]
