"""RH-CP-001..005 over CloudTrail written here, deployer tuning, and correlation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relayhunt.api import HuntResult, hunt
from relayhunt.config import parse_config
from relayhunt.detect import rules
from tests.conftest import FIXTURES

ACCOUNT = "111122223333"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
PROBE = f"arn:aws:iam::{ACCOUNT}:user/probe"
UDM_BEACON = FIXTURES / "udm" / "ndjson_snake_case" / "events.ndjson"
UDM_LAMBDA = "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws"
REGISTRY = {r.id: dict(r.thresholds) for r in rules()}


def rec(
    day: int,
    minute: int,
    actor: str,
    event: str,
    params: dict[str, Any] | None = None,
    *,
    ua: str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64",
    ip: str = "203.0.113.5",
    error: str | None = None,
    response: dict[str, Any] | None = None,
    source: str = "lambda.amazonaws.com",
) -> dict[str, Any]:
    """One CloudTrail record as CloudTrail writes it."""
    if ":role/" in actor:
        name = actor.rsplit("/", 1)[1]
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{name}-run",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/run-{day}",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": actor, "userName": name}},
        }
    else:
        identity = {
            "type": "IAMUser",
            "principalId": "AIDA" + actor.rsplit("/", 1)[1].upper(),
            "arn": actor,
            "accountId": ACCOUNT,
            "userName": actor.rsplit("/", 1)[1],
        }
    out: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": f"2026-11-{day:02d}T10:{minute:02d}:00Z",
        "eventSource": source,
        "eventName": event,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": response,
        "eventID": f"{day}-{minute}-{event}-{actor[-6:]}",
        "recipientAccountId": ACCOUNT,
    }
    if error:
        out["errorCode"] = error
        out["errorMessage"] = f"User: {actor} is not authorized to perform: lambda:{event}"
    return out


def ci_days(days: range) -> list[dict[str, Any]]:
    """A CI pipeline that deploys every day: new code, configuration, a function, and a
    smoke test (list, invoke)."""
    out = []
    for d in days:
        out += [
            rec(d, 1, CI_ROLE, "UpdateFunctionCode20150331v2", {"functionName": "orders"}),
            rec(
                d,
                2,
                CI_ROLE,
                "UpdateFunctionConfiguration20150331v2",
                {"functionName": "orders", "environment": {"variables": "HIDDEN"}},
            ),
            rec(d, 3, CI_ROLE, "CreateFunction20150331", {"functionName": f"preview-{d}"}),
            rec(d, 4, CI_ROLE, "ListFunctions20150331", None),
            rec(
                d,
                5,
                CI_ROLE,
                "Invoke",
                {"functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders"},
            ),
        ]
    return out


def attack(day: int) -> list[dict[str, Any]]:
    boto = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5 lang/python#3.11.6"
    fn = "billing-sync"
    return [
        rec(
            day,
            20,
            MALLORY,
            "UpdateFunctionConfiguration20150331v2",
            {"functionName": fn, "layers": ["arn:aws:lambda:us-east-1:999988887777:layer:x:1"]},
            ua=boto,
            ip="198.51.100.7",
        ),
        rec(
            day,
            21,
            MALLORY,
            "AddPermission20150331v2",
            {
                "functionName": fn,
                "statementId": "pub",
                "action": "lambda:InvokeFunctionUrl",
                "principal": "*",
                "functionUrlAuthType": "NONE",
            },
            ua=boto,
            ip="198.51.100.7",
        ),
        rec(
            day,
            22,
            MALLORY,
            "CreateFunctionUrlConfig20211031",
            {"functionName": fn, "authType": "NONE"},
            ua=boto,
            ip="198.51.100.7",
            response={
                "functionUrl": f"https://{UDM_LAMBDA}/",
                "authType": "NONE",
                "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}",
            },
        ),
        rec(day, 30, PROBE, "ListFunctions20150331", None, ip="203.0.113.99"),
        rec(
            day,
            31,
            PROBE,
            "Invoke",
            {"functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}"},
            ip="203.0.113.99",
        ),
        *[
            rec(
                day,
                40 + i,
                PROBE,
                op,
                {"functionName": "payroll"},
                error="AccessDenied",
                ip="203.0.113.99",
            )
            for i, op in enumerate(
                [
                    "GetFunction20150331v2",
                    "GetPolicy20150331v2",
                    "UpdateFunctionCode20150331v2",
                    "GetFunction20150331v2",
                    "AddPermission20150331v2",
                ]
            )
        ],
    ]


def write(tmp_path: Path, records: list[dict[str, Any]], name: str = "ct.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"Records": records}))
    return path


def cp(result: HuntResult) -> list[dict[str, Any]]:
    return [f for f in result.findings.to_pylist() if f["rule_id"].startswith("RH-CP-")]


def by_rule(result: HuntResult) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in cp(result):
        out.setdefault(f["rule_id"], []).append(f)
    return out


def test_benign_ci_deployer_established_in_the_data_is_quiet(tmp_path: Path) -> None:
    with hunt([write(tmp_path, ci_days(range(1, 6)))]) as r:
        assert cp(r) == []
        assert r.store.count("cloud_audit") == 25


def test_attack_sequence_fires_each_rule(tmp_path: Path) -> None:
    with hunt([write(tmp_path, ci_days(range(1, 6)) + attack(5))]) as r:
        found = by_rule(r)
    assert sorted(found) == ["RH-CP-001", "RH-CP-002", "RH-CP-004", "RH-CP-005"]
    (change,) = found["RH-CP-001"]
    assert change["user_name"] == MALLORY and change["severity"] == "high"
    assert change["host_name"] == ACCOUNT
    # the function's URL, from the URL config made later, names its hostname
    assert change["destination_domain"] == UDM_LAMBDA
    assert json.loads(change["stats"])["target"] == "billing-sync"
    assert "attached layers" in change["reason"]
    assert change["evidence"][0]["log_record"] == 26
    assert "T1584.007" in change["threat_technique_id"]
    public = found["RH-CP-002"]
    assert len(public) == 1  # AddPermission and the URL config: one function, one finding
    assert public[0]["destination_domain"] == UDM_LAMBDA
    assert public[0]["serverless_platform"] == "AWS Lambda function URL"
    assert {e["log_record"] for e in public[0]["evidence"]} == {27, 28}
    (enum,) = found["RH-CP-004"]
    assert enum["user_name"] == PROBE and enum["event_count"] == 2
    assert json.loads(enum["stats"])["tools"] == ["cli"]
    (denied,) = found["RH-CP-005"]
    assert denied["user_name"] == PROBE and denied["event_count"] == 5
    assert denied["severity"] == "medium"


def test_new_function_by_unusual_deployer_and_from_new_address(tmp_path: Path) -> None:
    records = [
        *ci_days(range(1, 5)),
        rec(5, 50, MALLORY, "CreateFunction20150331", {"functionName": "relay"}, ip="198.51.100.7"),
        rec(
            5,
            51,
            CI_ROLE,
            "CreateFunction20150331",
            {"functionName": "preview-5"},
            ip="192.0.2.200",
        ),
    ]
    with hunt([write(tmp_path, records)]) as r:
        found = by_rule(r)["RH-CP-003"]
    got = {f["serverless_tenant"]: json.loads(f["stats"]) for f in found}
    assert set(got) == {"relay", "preview-5"}
    assert got["relay"]["established"] is False
    assert got["preview-5"]["established"] is True and got["preview-5"]["new_ip"] is True
    assert {f["severity"] for f in found} == {"high"}  # aws-cli user agent / new address


def test_deployers_in_the_tuning_config(tmp_path: Path) -> None:
    # A new pipeline on its first day: one change, not established.
    records = [
        rec(
            1,
            1,
            "arn:aws:iam::111122223333:role/ci-release",
            "UpdateFunctionCode20150331v2",
            {"functionName": "orders"},
        ),
        rec(
            1,
            2,
            "arn:aws:iam::111122223333:role/ci-release",
            "CreateFunction20150331",
            {"functionName": "orders-v2"},
        ),
    ]
    path = write(tmp_path, records)
    with hunt([path]) as r:
        assert sorted(by_rule(r)) == ["RH-CP-001", "RH-CP-003"]
    cfg = parse_config("version: 1\ndeployers:\n  - 'arn:aws:iam::*:role/CI-*'\n", rules=REGISTRY)
    assert cfg.rule_thresholds("RH-CP-001") == {"deployers": ("arn:aws:iam::*:role/ci-*",)}
    with hunt([path], cfg) as r:
        assert cp(r) == []
    # the same list given to one rule only
    cfg = parse_config(
        "version: 1\nrules:\n  RH-CP-001:\n    deployers: ['*:role/ci-release']\n",
        rules=REGISTRY,
    )
    with hunt([path], cfg) as r:
        assert sorted(by_rule(r)) == ["RH-CP-003"]


def test_allowlist_user_suppresses_cloud_findings(tmp_path: Path) -> None:
    path = write(tmp_path, attack(5))
    cfg = parse_config(
        "version: 1\nallowlist:\n  - reason: red team exercise\n    user: '*:user/probe'\n"
        "    rules: ['RH-CP-*']\n",
        rules=REGISTRY,
    )
    with hunt([path], cfg) as r:
        assert {f["user_name"] for f in cp(r)} == {MALLORY}
        assert {s["suppressed_by"] for s in r.suppressed.to_pylist()} == {"red team exercise"}


def test_cloud_change_and_endpoint_beacon_are_one_incident(tmp_path: Path) -> None:
    ct = write(tmp_path, attack(3))  # 2026-11-03, the day of the UDM beacon
    with hunt([ct, UDM_BEACON]) as r:
        incidents = r.incidents.to_pylist()
        findings = {f["finding_id"]: f for f in r.findings.to_pylist()}
    joined = [
        i
        for i in incidents
        if "RH-CP-002" in i["rule_ids"] and any(x.startswith("RH-SL-") for x in i["rule_ids"])
    ]
    assert len(joined) == 1
    inc = joined[0]
    assert inc["host_name"] == "WS-FIN-07.corp.example"
    # the layer change to the same function (its URL known from the URL config) joins too
    assert {"RH-CP-001", "RH-CP-002"} <= set(inc["rule_ids"])
    assert UDM_LAMBDA in inc["destinations"]
    assert any("[RH-CP-002]" in line for line in inc["story"])
    assert all(findings[f]["rule_id"] != "RH-CP-005" for f in inc["finding_ids"])


def test_no_cloud_records_no_cloud_findings() -> None:
    with hunt([UDM_BEACON]) as r:
        assert cp(r) == []
        assert r.store.count("cloud_audit") == 0
        assert all(r.rule_counts[x.id] == 0 for x in rules() if x.id.startswith("RH-CP-"))


def test_config_suggests_deployers_key() -> None:
    import pytest

    from relayhunt.config import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'deployers'"):
        parse_config("version: 1\ndeployer: ['x']\n", rules=REGISTRY)
    with pytest.raises(ConfigError, match="matches every principal"):
        parse_config("version: 1\ndeployers: ['*']\n", rules=REGISTRY)


def test_changes_through_infrastructure_as_code_are_reported_low(tmp_path: Path) -> None:
    """A stack role not yet listed as a deployer, seen on one day only, updating a
    function through CloudFormation: reported, but low and saying why."""
    stack = f"arn:aws:iam::{ACCOUNT}:role/cfn-exec"
    cfn = "cloudformation.amazonaws.com"
    records = [
        rec(3, 1, stack, "UpdateFunctionCode20150331v2",
            {"functionName": "billing-sync", "s3Bucket": "cf-templates", "s3Key": "a.zip"},
            ua=cfn, ip=cfn),
        rec(3, 2, stack, "UpdateFunctionCode20150331v2",
            {"functionName": "billing-sync", "s3Bucket": "b", "s3Key": "k.zip"},
            ua=cfn, ip=cfn),
    ]  # fmt: skip
    by_hand = [
        rec(3, 5, MALLORY, "UpdateFunctionCode20150331v2",
            {"functionName": "orders", "s3Bucket": "b", "s3Key": "k.zip"}),
    ]  # fmt: skip
    with hunt([write(tmp_path, records + by_hand)]) as r:
        got = {f["destination_domain"] or f["serverless_tenant"]: f for f in cp(r)}
        iac, hand = got["billing-sync"], got["orders"]
        assert (iac["rule_id"], iac["severity"], iac["confidence"]) == ("RH-CP-001", "low", "low")
        assert "infrastructure-as-code" in iac["reason"]
        assert (hand["severity"], hand["confidence"]) == ("high", "medium")
        assert "infrastructure-as-code" not in hand["reason"]
