"""The validation suite: every scenario emulated in every format, hunted, and judged
against the ground truth. One run (about half a minute) serves all tests here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from relayhunt.emulate.emulate import appears_in
from relayhunt.emulate.matrix import render
from relayhunt.emulate.scenarios import SCENARIOS
from relayhunt.emulate.truth import KNOWN_GAPS
from relayhunt.emulate.validate import Report, validate
from relayhunt.emulate.writers import BY_NAME, FORMATS, reader_registered


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    out = tmp_path_factory.mktemp("validate")
    yield validate(workdir=out)


def test_validation_passes(report: Report) -> None:
    assert report.input_problems == []
    assert report.failures == []
    assert report.ok


def test_matrix_covers_every_scenario_and_format(report: Report) -> None:
    assert {(s.name, f.name) for s in SCENARIOS for f in FORMATS} == set(report.cells)
    for sc in SCENARIOS:
        for fmt in FORMATS:
            cell = report.cells[(sc.name, fmt.name)]
            assert cell.present == (appears_in(sc, fmt) is None)
            if cell.present:
                judged = [i for i in cell.items if i.kind == "expect"]
                assert len(judged) == len(sc.expect), (sc.name, fmt.name)
    # every endpoint and network format holds every scenario that runs on the estate
    for sc in SCENARIOS:
        for fmt in FORMATS:
            if fmt.family != "cloud":
                assert report.cells[(sc.name, fmt.name)].present != bool(sc.off_estate)


def test_every_emulated_file_is_read_by_its_own_reader(report: Report) -> None:
    for fmt in FORMATS:
        run = report.runs[fmt.name]
        if not reader_registered(fmt):
            assert fmt.family == "cloud" and not run.hunted
            continue
        assert run.hunted, fmt.name
        assert run.records >= (1 if fmt.family == "cloud" else 1_000), (fmt.name, run.records)
        assert run.input_problems == [], fmt.name


def test_every_adversary_scenario_is_flagged_where_its_rules_can_fire(report: Report) -> None:
    for sc in SCENARIOS:
        if sc.kind != "adversary":
            continue
        for fmt in FORMATS:
            cell = report.cells[(sc.name, fmt.name)]
            expected = [i for i in cell.items if i.kind == "expect" and i.status != "n/a"]
            decided = [i for i in expected if i.status not in ("pending", "gap")]
            assert all(i.status == "ok" for i in decided), (sc.name, fmt.name, decided)
    # the endpoint formats see every source test that has endpoint rules
    for name in ("t1584-beacon-workers", "t1583-wscript-apps-script", "t1583-curl-cloudfunctions"):
        for fmt in FORMATS:
            if fmt.family == "endpoint":
                assert report.cells[(name, fmt.name)].status == "ok", (name, fmt.name)


def test_benign_scenarios_raise_no_judged_finding(report: Report) -> None:
    for sc in SCENARIOS:
        if sc.kind != "benign":
            continue
        for fmt in FORMATS:
            cell = report.cells[(sc.name, fmt.name)]
            flagged = [i for i in cell.items if i.kind in ("forbid", "extra")]
            assert all(i.status == "gap" for i in flagged), (sc.name, fmt.name, flagged)


def test_allowlist_hides_the_documented_false_positives_only(report: Report) -> None:
    """The benign agents do trip the rules out of the box (as the rules' own
    false-positive lists say); the estate's tuning suppresses them, and suppresses
    nothing on an adversary host."""
    cicd = report.cells[("benign-cicd-agent", "ecs")]
    assert {i.rule for i in cicd.items if i.kind == "allowlisted"} >= {"RH-SL-001"}
    for sc in SCENARIOS:
        if sc.kind == "adversary":
            for fmt in FORMATS:
                assert not [
                    i for i in report.cells[(sc.name, fmt.name)].items if i.kind == "allowlisted"
                ]


def test_network_sensor_limits_are_na_not_passes(report: Report) -> None:
    cell = report.cells[("t1583-wscript-apps-script", "zeek-tsv")]
    assert cell.status == "n/a"
    assert {i.status for i in cell.items if i.kind == "expect"} == {"n/a"}
    beacon = report.cells[("c2-sliver", "zeek-json")]
    statuses = {i.rule: i.status for i in beacon.items if i.kind == "expect"}
    assert statuses["RH-SL-001"] == "n/a"
    assert statuses["RH-SL-005"] in ("ok", "pending")


def test_cloud_scenarios_are_judged_once_the_control_plane_rules_exist(report: Report) -> None:
    """Pending (not a miss) while no RH-CP rule is registered; met once one is."""
    registered = any(r.startswith("RH-CP-") for r in report.registry)
    for name, fmt in (
        ("t1584-aws-cli-lambda", "cloudtrail"),
        ("t1584-wrangler-deploy", "cloudflare-audit"),
    ):
        cell = report.cells[(name, fmt)]
        assert cell.present
        statuses = [i.status for i in cell.items if i.kind == "expect"]
        assert statuses == (["ok"] if registered else ["pending"]), (name, statuses)
        # their endpoint side is emulated too, with nothing an endpoint rule must flag
        endpoint = report.cells[(name, "ecs")]
        assert endpoint.present and endpoint.status == "n/a"
    assert report.runs["cloudtrail"].hunted == reader_registered(BY_NAME["cloudtrail"])


def test_google_cloud_and_azure_scenarios(report: Report) -> None:
    """A hijacked Cloud Function and Function App raise RH-CP-001 and RH-CP-002 in their
    provider's log only; the daily CI deployments beside them raise nothing, untuned:
    deploying on several days makes their principals established deployers."""
    for name, fmt in (
        ("t1584-gcp-function-hijack", "gcp-audit"),
        ("t1584-azure-function-zipdeploy", "azure-activity"),
    ):
        cell = report.cells[(name, fmt)]
        assert [(i.rule, i.status) for i in cell.items if i.kind == "expect"] == [
            ("RH-CP-001", "ok"),
            ("RH-CP-002", "ok"),
        ], (name, cell.items)
        assert not [i for i in cell.items if i.kind == "extra"], cell.items
        others = [f for f in FORMATS if f.name != fmt]
        assert not any(report.cells[(name, f.name)].present for f in others), name
    for name, fmt in (
        ("benign-gcp-ci-deploys", "gcp-audit"),
        ("benign-azure-devops-deploys", "azure-activity"),
    ):
        cell = report.cells[(name, fmt)]
        assert cell.present and cell.status == "ok" and cell.items == [], (name, cell.items)
    for fmt in ("gcp-audit", "azure-activity"):
        run = report.runs[fmt]
        assert run.hunted and run.input_problems == [] and run.findings >= 2, fmt


def test_azure_request_body_on_start_entry_reaches_the_rule(report: Report) -> None:
    """authLevel anonymous and CORS * are logged only in the Start entries' request
    bodies: RH-CP-002 fires only because they are joined to the Success entries."""
    cell = report.cells[("t1584-azure-function-anonymous", "azure-activity")]
    assert [(i.rule, i.status) for i in cell.items if i.kind == "expect"] == [
        ("RH-CP-002", "ok")
    ], cell.items


def test_known_gaps_show_as_gaps(report: Report) -> None:
    shown = {
        (sc, i.rule)
        for (sc, _), cell in report.cells.items()
        for i in cell.items
        if i.status == "gap"
    }
    for gap in KNOWN_GAPS:
        assert gap.reason
        if gap.rule in report.registry:
            assert (gap.scenario, gap.rule) in shown, gap


def test_matrix_and_json_render(report: Report, tmp_path: Path) -> None:
    console = Console(record=True, width=220)
    render(report, console)
    text = console.export_text()
    assert "PASS" in text
    for sc in SCENARIOS:
        assert sc.name in text
    data = report.to_json()
    assert data["ok"] is True
    assert len(data["cells"]) == len(SCENARIOS) * len(FORMATS)
    (tmp_path / "r.json").write_text(json.dumps(data))
