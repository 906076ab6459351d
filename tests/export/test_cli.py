"""``relayhunt export`` as a typer command (registered in relayhunt/cli.py by the caller)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from relayhunt.export.cli import export_command


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("export")(export_command)

    @app.command("noop")
    def noop() -> None:  # a second command so "export" stays a subcommand
        """Nothing."""

    return app


def test_export_all(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["export", "--target", "all", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for target in ("sigma", "eql", "kql", "logscale", "yaral", "sumo", "spl"):
        assert any((tmp_path / target).iterdir()), target
    assert "RH-SL-005" in result.output
    assert "not exported" in result.output


def test_export_one_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["export", "-t", "kql", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kql"]


def test_unknown_target_is_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["export", "--target", "splunk", "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_bad_catalog_is_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries: [", encoding="utf-8")
    result = CliRunner().invoke(
        _app(), ["export", "--target", "sigma", "--catalog", str(bad), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2


def test_config_deployers_rendered(tmp_path: Path) -> None:
    cfg = tmp_path / "tuning.yaml"
    cfg.write_text(
        "version: 1\ndeployers:\n  - gha-deployer@*.iam.gserviceaccount.com\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        _app(), ["export", "-t", "sigma", "-t", "kql", "--config", str(cfg), "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    sigma = (tmp_path / "sigma" / "rh_cp_001_function_changed.yml").read_text(encoding="utf-8")
    assert "filter_deployer" in sigma and "gha-deployer@*.iam.gserviceaccount.com" in sigma
    kql = (tmp_path / "kql" / "RH-CP-001_function_changed.kql").read_text(encoding="utf-8")
    assert "gha\\\\-deployer@" in kql


def test_hostile_deployer_is_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "tuning.yaml"
    cfg.write_text('version: 1\ndeployers:\n  - "x\\") or true"\n', encoding="utf-8")
    result = CliRunner().invoke(
        _app(), ["export", "-t", "kql", "--config", str(cfg), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output


def test_config_allowlist_rendered(tmp_path: Path) -> None:
    cfg = Path(__file__).parent / "allowlist" / "tuning.yaml"
    result = CliRunner().invoke(
        _app(), ["export", "-t", "all", "--config", str(cfg), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    sigma = (tmp_path / "out" / "sigma" / "rh_sl_001_serverless_egress.yml").read_text("utf-8")
    assert "filter_allow_0:" in sigma and "not 1 of filter_allow_*" in sigma
    for path in (tmp_path / "out").rglob("*.*"):
        text = " ".join(path.read_text("utf-8").split())
        assert "entry 3 (retired agent, expired 2026-01-31)" in text, path
    assert "expired on 2026-01-31" in result.output + (getattr(result, "stderr", "") or "")


def test_config_without_allowlist_changes_nothing_but_deployers(tmp_path: Path) -> None:
    cfg = tmp_path / "tuning.yaml"
    cfg.write_text("version: 1\n", encoding="utf-8")
    for name, extra in (("plain", []), ("tuned", ["--config", str(cfg)])):
        result = CliRunner().invoke(
            _app(), ["export", "-t", "all", *extra, "-o", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    plain = {
        p.relative_to(tmp_path / "plain"): p.read_bytes() for p in (tmp_path / "plain").rglob("*.*")
    }
    tuned = {
        p.relative_to(tmp_path / "tuned"): p.read_bytes() for p in (tmp_path / "tuned").rglob("*.*")
    }
    assert plain == tuned
