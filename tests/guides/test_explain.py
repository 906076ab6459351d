"""``relayhunt explain``: output, options and exit codes (docs/cli.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from relayhunt.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, app
from relayhunt.detect import rules
from relayhunt.export.escape import kql_string
from relayhunt.report.ndjson import read_findings, write_findings

runner = CliRunner()


def _explain(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["explain", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("rule", [r.id for r in rules()])
def test_every_rule_explains(rule: str) -> None:
    code, out, _ = _explain(rule)
    assert code == EXIT_OK
    registry = {r.id: r for r in rules()}[rule]
    assert rule in out and registry.techniques[0] in out
    for heading in ("What it detects", "What to look at first", "Pivots", "How to contain"):
        assert heading in out


def test_rule_id_is_case_insensitive() -> None:
    code, out, _ = _explain("rh-sl-001")
    assert code == EXIT_OK and "RH-SL-001" in out


def test_unknown_rule_is_a_usage_error_listing_the_known_ids() -> None:
    code, out, err = _explain("RH-SL-999")
    assert code == EXIT_USAGE
    assert out == ""
    assert "unknown rule id" in err
    for rule in rules():
        assert rule.id in err


def test_siem_filter_shows_one_language() -> None:
    code, out, _ = _explain("RH-SL-001", "--siem", "kql")
    assert code == EXIT_OK
    assert "DeviceNetworkEvents" in out
    assert "Splunk" not in out and "#event_simpleName" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["RH-SL-001", "--siem", "splunk"],
        ["RH-SL-001", "--format", "html"],
        ["RH-SL-001", "--id", "abc"],
    ],
)
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    code, _, err = _explain(*args)
    assert code == EXIT_USAGE
    assert "error" in err


def test_markdown_format() -> None:
    code, out, _ = _explain("RH-CP-002", "--format", "markdown", "--siem", "spl")
    assert code == EXIT_OK
    assert out.startswith("# RH-CP-002: Serverless function made publicly invokable\n")
    assert "- **ATT&CK:** T1584.007, T1583.007" in out
    assert "### Splunk (SPL)" in out and "### Microsoft" not in out
    assert "aws lambda delete-function-url-config" in out


def test_missing_findings_file_is_an_input_error(tmp_path: Path) -> None:
    code, _, err = _explain("RH-SL-001", "--finding", str(tmp_path / "nope.ndjson"), "--id", "x")
    assert code == EXIT_INPUT
    assert "cannot read findings" in err


def test_corrupt_findings_file_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{not json\n", encoding="utf-8")
    code, _, _ = _explain("RH-SL-001", "--finding", str(bad), "--id", "x")
    assert code == EXIT_INPUT


def _first(path: Path, rule_id: str) -> dict[str, object]:
    return next(r for r in read_findings(path).to_pylist() if r["rule_id"] == rule_id)


def test_finding_fills_the_pivots(findings_file: Path) -> None:
    row = _first(findings_file, "RH-SL-003")
    code, out, _ = _explain(
        "RH-SL-003",
        "--finding",
        str(findings_file),
        "--id",
        str(row["finding_id"]),
        "--siem",
        "kql",
    )
    assert code == EXIT_OK
    assert f'DeviceName =~ "{row["host_name"]}"' in out
    assert f'"{str(row["process_name"]).lower()}"' in out
    assert "{host}" not in out and "{process}" not in out
    assert str(row["finding_id"]) in out


def test_finding_of_another_rule_or_unknown_id(findings_file: Path) -> None:
    row = _first(findings_file, "RH-SL-003")
    code, _, err = _explain(
        "RH-SL-001", "--finding", str(findings_file), "--id", str(row["finding_id"])
    )
    assert code == EXIT_USAGE and "RH-SL-003" in err
    code, _, err = _explain("RH-SL-001", "--finding", str(findings_file), "--id", "nope")
    assert code == EXIT_USAGE and "no finding" in err


def test_several_findings_need_an_id(findings_file: Path) -> None:
    code, _, err = _explain("RH-SL-001", "--finding", str(findings_file))
    assert code == EXIT_USAGE and "--id is required" in err


def test_pivots_without_values_are_left_out_and_said_so(findings_file: Path) -> None:
    rows = read_findings(findings_file).to_pylist()
    sensor = next(r for r in rows if r["rule_id"] == "RH-SL-005" and not r["process_name"])
    code, out, _ = _explain(
        "RH-SL-005",
        "--finding",
        str(findings_file),
        "--id",
        str(sensor["finding_id"]),
        "--format",
        "markdown",
    )
    assert code == EXIT_OK
    assert "left out" in out and "{process}" in out
    body = out.split("## Pivots", 1)[1].split("## How to confirm", 1)[0]
    fences = re.findall(r"```[a-z]*\n(.*?)```", body, flags=re.S)
    assert fences and all("{process}" not in f and "{host}" not in f for f in fences)


PRINTABLE = "\"; | where true //```` [red]x[/red] */ \\ '--"
CONTROL = "\x1b[31m\u202e\n"


@pytest.fixture
def hostile_file(findings_file: Path, tmp_path: Path) -> tuple[Path, str]:
    table = read_findings(findings_file)
    rows = [r for r in table.to_pylist() if r["rule_id"] == "RH-SL-001"][:1]
    rows[0]["process_name"] = "evil" + PRINTABLE + ".exe"
    rows[0]["host_name"] = "host" + PRINTABLE
    rows[0]["process_command_line"] = "cmd " + PRINTABLE + CONTROL
    out = tmp_path / "hostile.ndjson"
    write_findings(pa.Table.from_pylist(rows, schema=table.schema), out)
    return out, str(rows[0]["finding_id"])


def test_hostile_finding_in_text_output(hostile_file: tuple[Path, str]) -> None:
    path, fid = hostile_file
    code, out, _ = _explain("RH-SL-001", "--finding", str(path), "--id", fid)
    assert code == EXIT_OK
    assert "\x1b" not in out and "\u202e" not in out
    assert "[red]x[/red]" in out  # shown as text, not taken as markup
    assert kql_string("host" + PRINTABLE) in out


def test_hostile_finding_in_markdown_output(hostile_file: tuple[Path, str]) -> None:
    path, fid = hostile_file
    code, out, _ = _explain(
        "RH-SL-001", "--finding", str(path), "--id", fid, "--format", "markdown"
    )
    assert code == EXIT_OK
    body = out.split("## Pivots", 1)[1].split("## How to confirm", 1)[0]
    tokens = MarkdownIt().parse(body)
    fences = [t for t in tokens if t.type == "fence"]
    titles = re.findall(r"^\*[^*].*\*$", body, flags=re.M)
    # One fence per pivot, each with its language: a ``` in a value closed none early.
    assert len(fences) == len(titles) > 0
    assert {t.info for t in fences} <= {"kusto", "spl", "eql", "logscale", "yaral", "sumo", "sql"}
    kql = [t.content for t in fences if t.info == "kusto"]
    assert any(kql_string("host" + PRINTABLE) in c for c in kql)
    # The finding's fields are code spans that hold the value whole.
    finding = out.split("## The finding", 1)[1].split("## What to look at first", 1)[0]
    inline = [t for t in MarkdownIt().parse(finding)[0:] if t.type == "inline"]
    codes = [c.content for t in inline for c in (t.children or []) if c.type == "code_inline"]
    assert any(("evil" + PRINTABLE + ".exe") in c for c in codes)
