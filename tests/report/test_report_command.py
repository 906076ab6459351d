"""`relayhunt report`: re-render the report from saved NDJSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lxml.html
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from relayhunt.cli import app
from relayhunt.report import ndjson
from relayhunt.report.context import ANCESTOR_TYPE
from tests.report.factories import (
    HOSTILE,
    beacon_row,
    finding_row,
    findings_table,
    incident_row,
    incidents_table,
)

runner = CliRunner()


def _doc(path: Path) -> Any:
    return lxml.html.document_fromstring(path.read_text(encoding="utf-8"))


def _svg_labels(doc: Any) -> list[str]:
    return sorted(str(s.get("aria-label")) for s in doc.iter("svg"))


def _normalized(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as NDJSON keeps them: stats parsed, nulls inside stats dropped."""

    def drop_nulls(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: drop_nulls(x) for k, x in v.items() if x is not None}
        return v

    rows = table.to_pylist()
    for row in rows:
        if row.get("stats") is not None:
            row["stats"] = drop_nulls(json.loads(row["stats"]))
    return rows


def test_findings_and_incidents_survive_the_round_trip(tmp_path: Path) -> None:
    ancestors = [{"name": "winword.exe", "executable": "C:\\w.exe", "command_line": "w", "pid": 7}]
    rows = [
        beacon_row(0, process_ancestors=ancestors),
        finding_row(1, process_command_line=HOSTILE["json_breaker"]),
    ]
    schema = findings_table([]).schema
    table = pa.Table.from_pylist(
        rows, schema=schema.append(pa.field("process_ancestors", ANCESTOR_TYPE))
    )
    incidents = incidents_table([incident_row(0), incident_row(1)])
    ndjson.write_findings(table, tmp_path / "f.ndjson")
    ndjson.write_incidents(incidents, tmp_path / "i.ndjson")
    back = ndjson.read_findings(tmp_path / "f.ndjson")
    assert back.schema == table.schema
    assert _normalized(back) == _normalized(table)
    assert ndjson.read_incidents(tmp_path / "i.ndjson").to_pylist() == incidents.to_pylist()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"rule": {"id": "RH-SL-001"}}\nnot json\n', ":2:"),
        ("[1, 2]\n", ":1:"),
        ('{"relayhunt": {"first_seen": "yesterday"}}\n', "first_seen"),
    ],
    ids=["not-json", "not-an-object", "bad-time"],
)
def test_bad_input_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "f.ndjson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ndjson.NdjsonError, match=where):
        ndjson.read_findings(path)
    res = runner.invoke(app, ["report", str(path), "--html", str(tmp_path / "r.html")])
    assert res.exit_code == 3
    assert where in res.output


def test_report_needs_an_output_and_an_existing_input(tmp_path: Path) -> None:
    path = tmp_path / "f.ndjson"
    path.write_text("", encoding="utf-8")
    assert runner.invoke(app, ["report", str(path)]).exit_code == 2
    missing = runner.invoke(app, ["report", str(tmp_path / "nope"), "--html", "x.html"])
    assert missing.exit_code == 3


def test_report_from_saved_hunt_output_matches_the_hunt_report(tmp_path: Path) -> None:
    f, i, direct, again = (tmp_path / n for n in ("f.ndjson", "i.ndjson", "a.html", "b.html"))
    res = runner.invoke(
        app,
        ["hunt", "samples", "--json", str(f), "--incidents", str(i), "--html", str(direct), "-q"],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(f), "--incidents", str(i), "--html", str(again)])
    assert res.exit_code == 0, res.output
    a, b = _doc(direct), _doc(again)
    labels = _svg_labels(b)
    assert labels == _svg_labels(a)
    assert any(lab.startswith("check-in timeline") for lab in labels)
    assert any(lab.startswith("interval histogram") for lab in labels)
    assert "process lineage" in labels
    # grandparents travel in the NDJSON (relayhunt.process.ancestors)
    docs = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
    assert any(d.get("relayhunt", {}).get("process", {}).get("ancestors") for d in docs)
    assert "grandparent" in b.xpath('string(//div[@id="rh-findings"])')
    assert (
        len(b.xpath('//section[@id="incidents"]/article'))
        == len(a.xpath('//section[@id="incidents"]/article'))
        > 0
    )
    assert [x.get("id") for x in b.xpath('//div[@id="rh-findings"]/article')] == [
        x.get("id") for x in a.xpath('//div[@id="rh-findings"]/article')
    ]


def test_report_without_incidents_says_so(tmp_path: Path) -> None:
    f, out = tmp_path / "f.ndjson", tmp_path / "r.html"
    ndjson.write_findings(findings_table([finding_row(0)]), f)
    res = runner.invoke(app, ["report", str(f), "--html", str(out)])
    assert res.exit_code == 0, res.output
    doc = _doc(out)
    assert "No incidents." in doc.xpath('string(//section[@id="incidents"])')
    assert "not given" in doc.xpath('string(//section[@id="summary"])')
