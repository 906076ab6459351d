"""The loader refuses malformed guide files with an error naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relayhunt.guides import GuideError
from relayhunt.guides.loader import load_all, load_dir, values_from_finding

GOOD = {
    "rule_id": "RH-X-001",
    "title": "t",
    "summary": "s",
    "look_first": ["a"],
    "pivots": {"kql": [{"title": "p", "query": "DeviceEvents | where DeviceName =~ {host}"}]},
    "confirm": ["c"],
    "dismiss": ["d"],
    "contain": ["x"],
}


def _write(folder: Path, doc: object, name: str = "RH-X-001.yaml") -> None:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    (folder / name).write_text(text, encoding="utf-8")


def test_good_guide_loads(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    guides = load_dir(tmp_path)
    assert list(guides) == ["RH-X-001"]
    assert guides["RH-X-001"].pivots["kql"][0].title == "p"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"look_first": []}, "look_first"),
        ({"summary": ""}, "summary"),
        ({"confirm": "not a list"}, "confirm"),
        ({"extra": 1}, "unknown key(s) extra"),
        ({"pivots": {"splunk": [{"title": "t", "query": "q"}]}}, "unknown SIEM 'splunk'"),
        ({"pivots": {"kql": []}}, "pivots.kql"),
        ({"pivots": {"kql": [{"title": "t"}]}}, "pivots.kql[0].query"),
        ({"pivots": {"kql": [{"title": "t", "query": "q", "lang": "x"}]}}, "unknown key(s) lang"),
        ({"pivots": {"kql": [{"title": "t", "query": "T | where x == {hots}"}]}}, "{hots}"),
        ({"rule_id": "RH-X-002"}, "does not match the file name"),
    ],
)
def test_bad_guides_are_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    _write(tmp_path, {**GOOD, **change})
    with pytest.raises(GuideError) as err:
        load_dir(tmp_path)
    assert "guides/RH-X-001.yaml" in str(err.value)
    assert message in str(err.value)


def test_missing_key_and_bad_yaml(tmp_path: Path) -> None:
    doc = dict(GOOD)
    del doc["contain"]
    _write(tmp_path, doc)
    with pytest.raises(GuideError, match="missing key\\(s\\) contain"):
        load_dir(tmp_path)
    _write(tmp_path, "rule_id: [unclosed\n")
    with pytest.raises(GuideError, match="not valid YAML"):
        load_dir(tmp_path)
    _write(tmp_path, "- a list\n")
    with pytest.raises(GuideError, match="mapping at the top level"):
        load_dir(tmp_path)


def test_bundled_guides_load_once() -> None:
    assert load_all() is load_all()
    assert len(load_all()) >= 12


def test_values_from_an_endpoint_finding() -> None:
    values = values_from_finding(
        {
            "rule_id": "RH-SL-001",
            "host_name": "WS-1",
            "user_name": "bob",
            "process_name": "PowerShell.exe",
            "destination_domain": "X.Evil.Workers.Dev",
            "serverless_tenant": "evil.workers.dev",
            "destination_ip": None,
            "stats": '{"pids": [1]}',
        }
    )
    assert values == {
        "host": "WS-1",
        "user": "bob",
        "process": "powershell.exe",
        "domain": "x.evil.workers.dev",
        "tenant": "evil.workers.dev",
    }


def test_values_from_a_cloud_finding() -> None:
    values = values_from_finding(
        {
            "rule_id": "RH-CP-002",
            "host_name": "123456789012",
            "user_name": "arn:aws:iam::123456789012:role/x",
            "serverless_tenant": "billing-sync",
            "stats": {
                "account": "123456789012",
                "target": "billing-sync",
                "source_ips": ["203.0.113.7"],
            },
        }
    )
    assert values["account"] == "123456789012"
    assert values["actor"] == "arn:aws:iam::123456789012:role/x"
    assert values["function"] == "billing-sync"
    assert values["source_ip"] == "203.0.113.7"
    assert "host" not in values and "user" not in values


def test_values_ignore_broken_stats() -> None:
    assert values_from_finding({"rule_id": "RH-SL-001", "stats": "{not json"}) == {}
