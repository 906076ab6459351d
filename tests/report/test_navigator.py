"""ATT&CK Navigator layer: format 4.5's required fields, scores, comments, no network."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from relayhunt.cli import app
from relayhunt.report import navigator
from tests.report.factories import finding_row, findings_table

LAYER_KEYS_REQUIRED = {"name": str, "domain": str}
TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


def _check_required(doc: dict[str, Any]) -> None:
    """The 4.5 format's required fields, checked independently of validate_layer."""
    for key, kind in LAYER_KEYS_REQUIRED.items():
        assert isinstance(doc[key], kind)
    assert doc["domain"] == "enterprise-attack"
    assert doc["versions"]["layer"] == "4.5"
    major, minor, *_ = (int(p) for p in doc["versions"]["navigator"].split("."))
    assert (major, minor) >= (4, 9)
    for t in doc["techniques"]:
        assert TECHNIQUE.match(t["techniqueID"])
        assert isinstance(t["score"], int | float) and not isinstance(t["score"], bool)
        assert isinstance(t["comment"], str)
        assert all(
            isinstance(m["name"], str) and isinstance(m["value"], str) for m in t["metadata"]
        )
    g = doc["gradient"]
    assert len(g["colors"]) >= 2 and g["maxValue"] > g["minValue"]


def _findings() -> Any:
    return findings_table(
        [
            finding_row(0, score=40.0, severity="low"),
            finding_row(1, score=90.0, severity="high", host_name="WS-900"),
            finding_row(
                2,
                rule_id="RH-SL-005",
                threat_technique_id=["T1071.001", "T1583.007", "not-an-id"],
                score=70.0,
                severity="medium",
            ),
        ]
    )


def test_layer_counts_findings_per_technique() -> None:
    doc = navigator.layer(_findings())
    _check_required(doc)
    assert navigator.validate_layer(doc) == []
    by_id = {t["techniqueID"]: t for t in doc["techniques"]}
    assert sorted(by_id) == ["T1071.001", "T1583.007", "T1584.007"]  # "not-an-id" dropped
    assert by_id["T1583.007"]["score"] == 3
    assert by_id["T1584.007"]["score"] == 2
    assert by_id["T1071.001"]["score"] == 1
    assert by_id["T1583.007"]["comment"] == "relayhunt rules: RH-SL-001 (2), RH-SL-005 (1)"
    meta = {m["name"]: m["value"] for m in by_id["T1583.007"]["metadata"]}
    assert meta["findings"] == "3" and meta["highest severity"] == "high"
    assert meta["highest score"] == "90.0"
    assert doc["gradient"]["maxValue"] == 3


def test_layer_scored_by_max_risk() -> None:
    doc = navigator.layer(_findings(), score="max")
    assert navigator.validate_layer(doc) == []
    by_id = {t["techniqueID"]: t["score"] for t in doc["techniques"]}
    assert by_id == {"T1071.001": 70.0, "T1583.007": 90.0, "T1584.007": 90.0}
    assert doc["gradient"]["maxValue"] == 100


def test_empty_findings_make_a_valid_empty_layer() -> None:
    doc = navigator.layer(findings_table([]))
    _check_required(doc)
    assert doc["techniques"] == [] and navigator.validate_layer(doc) == []


def _broken(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(navigator.layer(_findings()))
    node: Any = doc
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("name", KeyError),
        ("domain", "enterprise"),
        ("versions.layer", "4.4"),
        ("versions.navigator", "4.8.2"),
        ("techniques.0.techniqueID", "1583.007"),
        ("techniques.0.score", "3"),
        ("techniques.0.metadata", [{"name": "x"}]),
        ("gradient.maxValue", 0),
        ("gradient.colors", ["#ffffff"]),
    ],
    ids=lambda v: str(v),
)
def test_validate_layer_finds_what_the_navigator_would_refuse(path: str, value: object) -> None:
    assert navigator.validate_layer(_broken(path, value))


def test_hunt_and_report_write_the_same_layer(tmp_path: Path) -> None:
    runner = CliRunner()
    layer, findings = tmp_path / "layer.json", tmp_path / "f.ndjson"
    res = runner.invoke(
        app, ["hunt", "samples", "--navigator", str(layer), "--json", str(findings), "-q"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(layer.read_text(encoding="utf-8"))
    _check_required(doc)
    assert navigator.validate_layer(doc) == []
    ids = {t["techniqueID"] for t in doc["techniques"]}
    assert {"T1583.007", "T1584.007", "T1071.001"} <= ids
    again = tmp_path / "again.json"
    res = runner.invoke(app, ["report", str(findings), "--navigator", str(again), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(again.read_text(encoding="utf-8")) == doc
