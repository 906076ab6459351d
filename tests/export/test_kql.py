"""The KQL export parses and type-checks under Microsoft's Kusto language service
(``@kusto/language-service-next`` under Node) against the declared Defender table schemas.

Needs ``npm ci --prefix tests/export/kusto`` (or ``npm install``); skipped, with the reason
printed, when that folder's ``node_modules`` is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from relayhunt.export import Rendered

HERE = Path(__file__).parent
MODULES = HERE / "kusto" / "node_modules" / "@kusto" / "language-service-next"
CHECKER = HERE / "kusto_check.js"

pytestmark = pytest.mark.skipif(
    not MODULES.is_dir() or shutil.which("node") is None,
    reason=(
        "Kusto language service not installed: run `npm install --prefix tests/export/kusto` "
        "(needs node)"
    ),
)


def _check(paths: list[Path]) -> list[dict[str, object]]:
    proc = subprocess.run(
        ["node", str(CHECKER), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_every_kql_file_type_checks(rendered: Rendered, tmp_path: Path) -> None:
    files = [f for f in rendered.files if f.target == "kql"]
    assert len(files) == 10
    paths = []
    for f in files:
        p = tmp_path / Path(f.path).name
        p.write_text(f.text, encoding="utf-8")
        paths.append(p)
    results = _check(paths)
    assert len(results) == len(paths)
    for result in results:
        assert result["diagnostics"] == [], result


def test_checker_reports_unknown_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.kql"
    bad.write_text("DeviceNetworkEvents | where NoSuchColumn == 1\n", encoding="utf-8")
    (result,) = _check([bad])
    messages = [d["message"] for d in result["diagnostics"]]  # type: ignore[union-attr]
    assert any("NoSuchColumn" in str(m) for m in messages)


def test_cloud_kql_with_deployers_type_checks(tmp_path: Path) -> None:
    from relayhunt.export import build_spec, render

    out = render(["kql"], build_spec(deployers=["gha-deployer@*", "arn:aws:iam::*:role/ci-*"]))
    paths = []
    for f in out.files:
        if "RH-CP" in f.path:
            p = tmp_path / Path(f.path).name
            p.write_text(f.text, encoding="utf-8")
            paths.append(p)
    assert len(paths) == 5
    for result in _check(paths):
        assert result["diagnostics"] == [], result
