"""The hunt on one host's mixed adversary / benign telemetry (tests/fixtures/hunt)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relayhunt.api import HuntResult, hunt
from relayhunt.cli import EXIT_OK, app
from relayhunt.config import parse_config
from tests.conftest import FIXTURES

MIXED = FIXTURES / "hunt" / "ecs_mixed" / "events.ndjson"


@pytest.fixture(scope="module")
def result() -> Iterator[HuntResult]:
    with hunt([MIXED]) as r:
        yield r


def _findings(r: HuntResult, rule: str) -> list[dict[str, object]]:
    return [f for f in r.findings.to_pylist() if f["rule_id"] == rule]


def _by_process(r: HuntResult, rule: str) -> dict[str, dict[str, object]]:
    return {str(f["process_name"]): f for f in _findings(r, rule)}


def test_beacon_attributed_through_the_process_dns_lookup(result: HuntResult) -> None:
    ps = _by_process(result, "RH-SL-001")["powershell.exe"]
    assert ps["destination_domain"] == "sync-api.acme-cdn.workers.dev"
    assert ps["destination_domain_origin"] in ("dns_process", "dns_query")
    assert ps["serverless_platform"] == "Cloudflare Workers"
    assert ps["serverless_tenant"] == "acme-cdn.workers.dev"
    assert ps["severity"] == "high" and ps["confidence"] == "high"
    assert ps["process_parent_name"] == "explorer.exe"
    stats = json.loads(str(ps["stats"]))
    assert stats["connections"] == 30


def test_process_per_beacon_is_one_finding(result: HuntResult) -> None:
    curl = _by_process(result, "RH-SL-001")["curl.exe"]
    stats = json.loads(str(curl["stats"]))
    assert stats["processes"] == 4
    assert stats["pids"] == [8000, 8001, 8002, 8003]
    assert curl["process_parent_name"] == "cmd.exe"


def test_command_line_urls(result: HuntResult) -> None:
    by = _by_process(result, "RH-SL-002")
    assert set(by) == {"curl.exe", "cmd.exe"}
    assert by["curl.exe"]["destination_domain"] == "us-central1-acme-prod.cloudfunctions.net"
    assert by["curl.exe"]["event_count"] == 4


def test_script_chain_is_critical_and_names_the_writer(result: HuntResult) -> None:
    (chain,) = _findings(result, "RH-SL-003")
    assert chain["severity"] == "critical"
    assert chain["process_name"] == "wscript.exe"
    assert chain["destination_domain"] == "script.google.com"
    stats = json.loads(str(chain["stats"]))
    assert stats["script_writer"] == "cmd.exe"
    assert stats["script_path"].endswith("\\Temp\\update.js")
    kinds = [e["event_kind"] for e in chain["evidence"]]  # type: ignore[union-attr]
    assert kinds[0] == "file" and "process" in kinds and "connection" in kinds


def test_browsers_and_lookalikes_are_left_alone(result: HuntResult) -> None:
    names = {f["process_name"] for f in result.findings.to_pylist()}
    assert "chrome.exe" not in names
    assert "updater.exe" not in names  # workers.dev.attacker.example is not workers.dev
    domains = {f["destination_domain"] for f in result.findings.to_pylist()}
    assert "workers.dev.attacker.example" not in domains


def test_evidence_points_back_to_input_lines(result: HuntResult) -> None:
    ps = _by_process(result, "RH-SL-001")["powershell.exe"]
    ev = ps["evidence"][0]  # type: ignore[index]
    assert ev["log_format"] == "ecs.ndjson"
    assert ev["log_file_path"] == str(MIXED)
    line = MIXED.read_text().splitlines()[ev["log_line"] - 1]
    assert '"PS-1"' in line


def test_incidents_follow_the_lineage(result: HuntResult) -> None:
    incidents = result.incidents.to_pylist()
    chain = next(i for i in incidents if "RH-SL-003" in i["rule_ids"])
    assert chain["process_lineage"] == ["cmd.exe", "wscript.exe"]
    assert chain["severity"] == "critical"
    assert chain["story"] == sorted(chain["story"])
    ranks = [i["risk_score"] for i in incidents]
    assert ranks == sorted(ranks, reverse=True)
    assert incidents[0]["incident_id"] == chain["incident_id"]


ALLOW = """
version: 1
allowlist:
  - reason: Veeam agent polls its vendor API
    process: ["*\\\\Veeam\\\\*\\\\VeeamAgent.exe"]
    destination: ["*.execute-api.eu-west-1.amazonaws.com"]
"""


def test_allowlisted_tool_is_suppressed_and_counted() -> None:
    with hunt([MIXED]) as plain:
        assert "VeeamAgent.exe" in {f["process_name"] for f in plain.findings.to_pylist()}
    with hunt([MIXED], parse_config(ALLOW)) as tuned:
        assert "VeeamAgent.exe" not in {f["process_name"] for f in tuned.findings.to_pylist()}
        sup = tuned.suppressed.to_pylist()
        # its egress (RH-SL-001) and its 5-minute polling (RH-SL-005) are both allowed
        assert sorted((s["rule_id"], s["process_name"], s["suppressed_by"]) for s in sup) == [
            ("RH-SL-001", "VeeamAgent.exe", "Veeam agent polls its vendor API"),
            ("RH-SL-005", "VeeamAgent.exe", "Veeam agent polls its vendor API"),
        ]
        assert tuned.summary["suppressed"] == 2


def test_compat_profile_reproduces_the_vendor_rules() -> None:
    with hunt([MIXED], profile="compat") as r:
        rules = {f["rule_id"] for f in r.findings.to_pylist()}
        assert rules == {"RH-COMPAT-000"}
        flagged = {f["process_name"] for f in r.findings.to_pylist()}
        # the Elastic rule flags the browser too: it has no process context
        assert {"powershell.exe", "chrome.exe", "VeeamAgent.exe"} <= flagged


def test_min_severity_filters_and_counts() -> None:
    with hunt([MIXED], min_severity="critical") as r:
        assert {f["rule_id"] for f in r.findings.to_pylist()} == {"RH-SL-003"}
        assert r.below_min_severity > 0


def test_cli_writes_every_output(tmp_path: Path) -> None:
    out = {k: tmp_path / f"f.{k}" for k in ("ndjson", "csv", "html")}
    res = CliRunner().invoke(
        app,
        [
            "hunt",
            str(MIXED),
            "--json",
            str(out["ndjson"]),
            "--csv",
            str(out["csv"]),
            "--html",
            str(out["html"]),
        ],
    )
    assert res.exit_code == EXIT_OK, res.output
    docs = [json.loads(x) for x in out["ndjson"].read_text().splitlines()]
    assert {d["rule"]["id"] for d in docs} >= {"RH-SL-001", "RH-SL-002", "RH-SL-003"}
    assert all(d["host"]["name"] == "ws-fin-07.corp.example" for d in docs)
    assert "RH-SL-003" in out["csv"].read_text()
    html = out["html"].read_text()
    assert "script.google.com" in html and "<script src" not in html


def test_script_chain_context_comes_from_the_earliest_record(tmp_path: Path) -> None:
    # The script host's start logged twice (a second sensor, a re-shipped file), the copy
    # a second later under another user: the run's context is the earliest record's,
    # whichever order the files list them in.
    lines = MIXED.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if '"wscript.exe"' in line and '"start"' in line)
    copy = json.loads(lines[start])
    copy["@timestamp"] = copy["@timestamp"].replace(":03.000Z", ":04.000Z")
    copy["user"]["name"] = "svc-reship"
    lines.insert(start + 1, json.dumps(copy))
    users = []
    for name, ordered in (("forward", lines), ("backward", lines[::-1])):
        path = tmp_path / name / "events.ndjson"
        path.parent.mkdir()
        path.write_text("\n".join(ordered) + "\n")
        with hunt([path]) as r:
            (chain,) = _findings(r, "RH-SL-003")
        users.append(chain["user_name"])
    assert users == ["alice", "alice"]
