"""Validation must be able to fail: a missed detection, a false positive, a stale known
gap and unreadable emulated data are each reported, with the documented exit codes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relayhunt.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_USAGE, app
from relayhunt.emulate import scenarios as sc_mod
from relayhunt.emulate import truth
from relayhunt.emulate import validate as val_mod
from relayhunt.emulate.model import Telemetry
from relayhunt.emulate.scenarios import BY_NAME
from relayhunt.emulate.truth import Expect, KnownGap
from relayhunt.emulate.validate import validate
from relayhunt.emulate.writers import BY_NAME as FORMATS
from relayhunt.emulate.writers import Format

runner = CliRunner()
WSCRIPT = BY_NAME["t1583-wscript-apps-script"]
CICD = BY_NAME["benign-cicd-agent"]
ECS = FORMATS["ecs"]


def _statuses(report: val_mod.Report, scenario: str, fmt: str) -> list[tuple[str, str]]:
    return [(i.rule, i.status) for i in report.cells[(scenario, fmt)].items if i.kind != "info"]


def test_a_subset_passes() -> None:
    report = validate([ECS], [WSCRIPT, CICD])
    assert report.ok, report.failures
    assert ("RH-SL-003", "ok") in _statuses(report, WSCRIPT.name, "ecs")


def test_an_expectation_no_rule_meets_is_a_miss() -> None:
    wrong = dataclasses.replace(
        WSCRIPT,
        expect=(
            *WSCRIPT.expect,
            Expect("RH-SL-003", "WS-HR-03", "cscript.exe", "script.google.com"),
        ),
    )
    report = validate([ECS], [wrong])
    assert not report.ok
    assert ("RH-SL-003", "miss") in _statuses(report, WSCRIPT.name, "ecs")
    assert any("miss RH-SL-003" in f and "cscript.exe" in f for f in report.failures)


def test_an_unregistered_rule_is_pending_not_a_failure() -> None:
    future = dataclasses.replace(
        WSCRIPT, expect=(*WSCRIPT.expect, Expect("RH-SL-999", "WS-HR-03", "wscript.exe"))
    )
    report = validate([ECS], [future])
    assert report.ok, report.failures
    assert ("RH-SL-999", "pending") in _statuses(report, WSCRIPT.name, "ecs")


def test_without_its_allowlist_a_benign_agent_is_a_false_positive() -> None:
    untuned = dataclasses.replace(CICD, allow=())
    report = validate([ECS], [untuned])
    assert not report.ok
    assert ("RH-SL-001", "fp") in _statuses(report, CICD.name, "ecs")


def test_a_known_gap_that_no_longer_happens_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = KnownGap(WSCRIPT.name, "RH-SL-003", "ecs", "pretend the chain is not joined")
    monkeypatch.setattr(truth, "KNOWN_GAPS", (stale,))
    report = validate([ECS], [WSCRIPT])
    assert ("RH-SL-003", "stale") in _statuses(report, WSCRIPT.name, "ecs")
    assert not report.ok


def test_a_listed_miss_is_a_gap_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dataclasses.replace(
        WSCRIPT, expect=(Expect("RH-SL-003", "WS-HR-03", "cscript.exe", "script.google.com"),)
    )
    gap = KnownGap(WSCRIPT.name, "RH-SL-003", "endpoint", "cscript is not emulated")
    monkeypatch.setattr(truth, "KNOWN_GAPS", (gap,))
    report = validate([ECS], [wrong])
    assert report.ok, report.failures
    assert ("RH-SL-003", "gap") in _statuses(report, WSCRIPT.name, "ecs")


def test_unreadable_emulated_data_is_an_input_problem() -> None:
    def garbage(tel: Telemetry, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "broken.ndjson"
        path.write_text("this is not telemetry\n")
        return [path]

    broken = dataclasses.replace(ECS, write=garbage)
    report = validate([broken], [WSCRIPT])
    assert report.input_problems
    assert not report.ok


def test_cli_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ["validate", "-s", "t1583-wscript-apps-script", "-f", "ecs"]
    res = runner.invoke(
        app, [*args, "--json", str(tmp_path / "r.json"), "--keep", str(tmp_path / "k")]
    )
    assert res.exit_code == EXIT_OK, res.output
    assert "PASS" in res.output
    assert (tmp_path / "r.json").is_file()
    assert (tmp_path / "k" / "truth.json").is_file()
    assert runner.invoke(app, ["validate", "-s", "no-such-scenario"]).exit_code == EXIT_USAGE
    assert runner.invoke(app, ["validate", "-f", "no-such-format"]).exit_code == EXIT_USAGE
    assert runner.invoke(app, [*args, "--start", "yesterday"]).exit_code == EXIT_USAGE

    wrong = dataclasses.replace(
        WSCRIPT, expect=(Expect("RH-SL-003", "WS-HR-03", "cscript.exe", "script.google.com"),)
    )
    monkeypatch.setitem(sc_mod.BY_NAME, WSCRIPT.name, wrong)
    res = runner.invoke(app, args)
    assert res.exit_code == EXIT_FAILED, res.output
    assert "FAIL" in res.output

    def garbage(tel: Telemetry, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        (out / "broken.ndjson").write_text("garbage\n")
        return [out / "broken.ndjson"]

    broken: Format = dataclasses.replace(ECS, write=garbage)
    from relayhunt.emulate import writers

    monkeypatch.setitem(writers.BY_NAME, "ecs", broken)
    assert runner.invoke(app, args).exit_code == EXIT_INPUT
