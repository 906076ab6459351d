"""Dataset mode: a labelled fleet whose labels agree with the data written."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from relayhunt.api import hunt
from relayhunt.cli import EXIT_OK, EXIT_USAGE, app
from relayhunt.emulate.dataset import LABEL_COLUMNS, dataset
from relayhunt.emulate.model import Connection
from relayhunt.emulate.writers import BY_NAME

runner = CliRunner()


def test_labels_describe_every_connection_group(tmp_path: Path) -> None:
    ds = dataset(tmp_path, [BY_NAME["ecs"]], hosts=24, days=1.5, seed=3)
    groups = Counter(
        (e.proc.host.name, e.proc.image.lower(), e.dest.domain)
        for e in ds.telemetry.events
        if isinstance(e, Connection)
    )
    labels = {(lab.host, lab.process_image.lower(), lab.destination): lab for lab in ds.labels}
    assert set(groups) == set(labels)
    for key, n in groups.items():
        assert labels[key].checkins == n
    c2 = [lab for lab in ds.labels if lab.label == "c2"]
    assert len(c2) >= 3 and len({lab.host for lab in c2}) == len(c2)
    assert {lab.family for lab in c2} <= {
        "cobalt-strike",
        "sliver",
        "mythic",
        "havoc",
        "apps-script",
        "custom",
    }
    assert all(lab.period_s and lab.jitter is not None for lab in c2)
    assert {"m365-heartbeat", "browser", "ncsi", "monitoring"} <= {lab.family for lab in ds.labels}
    with (tmp_path / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == LABEL_COLUMNS and len(rows) == len(ds.labels)
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["hosts"] == 24 and meta["c2_groups"] == len(c2)


def test_dataset_is_deterministic_and_hunts(tmp_path: Path) -> None:
    a = dataset(tmp_path / "a", [BY_NAME["falcon"]], hosts=12, days=1.0, seed=5)
    b = dataset(tmp_path / "b", [BY_NAME["falcon"]], hosts=12, days=1.0, seed=5)
    assert (tmp_path / "a" / "labels.csv").read_bytes() == (
        tmp_path / "b" / "labels.csv"
    ).read_bytes()
    assert len(a.telemetry.events) == len(b.telemetry.events)
    with hunt([tmp_path / "a" / "falcon"]) as r:
        assert r.store.count("ingest_issues") == 0
        flagged = {
            (f["process_name"], f["destination_domain"])
            for f in r.findings.to_pylist()
            if f["rule_id"] == "RH-SL-001"
        }
    for lab in a.labels:
        if lab.label == "c2":
            assert (lab.process_name, lab.destination) in flagged, lab


def test_cli_dataset(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "emulate",
            "--dataset",
            "--hosts",
            "6",
            "--days",
            "0.5",
            "-f",
            "zeek-tsv",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == EXIT_OK, res.output
    assert (tmp_path / "zeek-tsv" / "conn.log").is_file()
    assert "labelled groups" in res.output
    bad = runner.invoke(app, ["emulate", "--dataset", "--hosts", "1", "-o", str(tmp_path / "x")])
    assert bad.exit_code == EXIT_USAGE
    assert (
        runner.invoke(
            app, ["emulate", "--dataset", "-s", "c2-havoc", "-o", str(tmp_path / "y")]
        ).exit_code
        == EXIT_USAGE
    )
