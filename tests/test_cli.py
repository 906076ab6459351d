"""The command line: outputs, summary, documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from relayhunt.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, app
from tests.conftest import FIXTURES

GOOD = FIXTURES / "ecs" / "defend_windows" / "events.ndjson"
BAD = FIXTURES / "ecs" / "invalid_json" / "events.ndjson"
runner = CliRunner()


def test_normalize_prints_summary() -> None:
    res = runner.invoke(app, ["normalize", str(GOOD)])
    assert res.exit_code == EXIT_OK, res.output
    assert "ecs.ndjson" in res.output
    assert "connection" in res.output
    assert "no records rejected" in res.output


def test_parquet_output_has_every_event_with_utc_time(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    res = runner.invoke(app, ["normalize", str(GOOD), "--out", str(out)])
    assert res.exit_code == EXIT_OK, res.output
    table = pq.read_table(out)
    assert table.num_rows == 5
    assert sorted(set(table.column("event_category").to_pylist())) == [
        "connection",
        "dns",
        "file",
        "process",
    ]
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    # every time column, not only the event's (process_start was zone-less)
    assert str(table.schema.field("process_start").type) == "timestamp[us, tz=UTC]"


def test_ndjson_output(tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    res = runner.invoke(app, ["normalize", str(GOOD), "--out", str(out), "-q"])
    assert res.exit_code == EXIT_OK
    assert res.output == ""
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    dns = [r for r in recs if r["event_category"] == "dns"]
    assert dns[0]["dns_resolved_ip"] == ["104.21.48.11", "172.67.181.20"]
    assert dns[0]["timestamp"] == "2026-11-03T09:14:03.020000Z"
    (proc,) = [r for r in recs if r["event_category"] == "process"]
    assert proc["process_start"] == "2026-11-03T09:14:02.311000Z"


def test_duckdb_output_keeps_tables(tmp_path: Path) -> None:
    out = tmp_path / "store.duckdb"
    res = runner.invoke(app, ["normalize", str(BAD), "--out", str(out), "-q"])
    assert res.exit_code == EXIT_OK
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT count(*) FROM connection").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM ingest_issues").fetchone() == (3,)


def test_issues_file(tmp_path: Path) -> None:
    issues = tmp_path / "issues.csv"
    res = runner.invoke(app, ["normalize", str(BAD), "--issues", str(issues)])
    assert res.exit_code == EXIT_OK
    text = issues.read_text()
    assert text.splitlines()[0].startswith("log_file_path,log_format,log_line")
    assert text.count(",error,invalid_json,") == 3


def test_strict_turns_rejected_records_into_exit_3() -> None:
    assert runner.invoke(app, ["normalize", str(BAD), "-q"]).exit_code == EXIT_OK
    assert runner.invoke(app, ["normalize", str(BAD), "-q", "--strict"]).exit_code == EXIT_INPUT
    assert runner.invoke(app, ["normalize", str(GOOD), "-q", "--strict"]).exit_code == EXIT_OK


@pytest.mark.parametrize("content", [b"hello\n", b"\x00\x01\x02garbage"], ids=["text", "binary"])
def test_unreadable_input_exits_3(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.dat"
    p.write_bytes(content)
    res = runner.invoke(app, ["normalize", str(GOOD), str(p)])
    assert res.exit_code == EXIT_INPUT
    assert "unknown_format" in res.output


def test_missing_path_exits_3(tmp_path: Path) -> None:
    assert runner.invoke(app, ["normalize", str(tmp_path / "nope")]).exit_code == EXIT_INPUT


@pytest.mark.parametrize(
    "args",
    [
        ["normalize"],
        ["normalize", str(GOOD), "--out", "x.xlsx"],
        ["normalize", str(GOOD), "--bogus"],
        ["frobnicate"],
        ["normalize", str(GOOD), "--memory-limit", "lots"],
        ["hunt", str(GOOD), "--memory-limit", "x'; SET threads=1; '"],
    ],
    ids=[
        "no-paths",
        "bad-extension",
        "bad-option",
        "bad-command",
        "bad-memory-limit",
        "bad-memory-limit-hunt",
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == EXIT_USAGE


def test_hostile_file_name_is_escaped_in_summary(tmp_path: Path) -> None:
    p = tmp_path / "evil\x1b[31m.txt"
    p.write_text("not telemetry\n")
    res = runner.invoke(app, ["normalize", str(p)])
    assert "\x1b[31m" not in res.output
    assert "\\x1b" in res.output


def test_formats_lists_readers() -> None:
    res = runner.invoke(app, ["formats"])
    assert res.exit_code == EXIT_OK
    assert "ecs.ndjson" in res.output


def test_export_is_registered_on_the_main_command(tmp_path: Path) -> None:
    res = runner.invoke(app, ["export", "--target", "sigma", "--out", str(tmp_path / "x")])
    assert res.exit_code == EXIT_OK, res.output
    written = sorted(p.name for p in (tmp_path / "x").rglob("*.yml"))
    assert "rh_sl_005_beacon_count.yml" in written, written
    bad = runner.invoke(app, ["export", "--target", "cobol"])
    assert bad.exit_code == EXIT_USAGE
