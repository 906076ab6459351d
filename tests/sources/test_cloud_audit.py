"""Cloud audit readers: CloudTrail, Cloudflare, Google Cloud audit, Azure Activity."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from relayhunt.sources.azure_activity import operations_sql
from relayhunt.sources.base import Head
from relayhunt.sources.cloudflare_audit import CloudflareAuditSource
from relayhunt.sources.cloudtrail import CloudTrailSource
from tests.conftest import FIXTURES, load, rows

CT = FIXTURES / "cloudtrail"
CF = FIXTURES / "cloudflare_audit"
GCP = FIXTURES / "gcp_audit"
AZ = FIXTURES / "azure_activity"
S3_FILE = CT / "s3_log_file" / "111122223333_CloudTrail_us-east-1_20261103T1105Z_EXAMPLE.json"
LAMBDA_URL = "abcdefghijklmnopqrstuvwxyz234567.lambda-url.us-east-1.on.aws"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (S3_FILE, "cloudtrail.json"),
        (CT / "ndjson" / "events.ndjson", "cloudtrail.json"),
        (CT / "eventbridge" / "event.json", "cloudtrail.json"),
        (CF / "logpush_v1" / "audit_logs.ndjson", "cloudflare-audit.json"),
        (CF / "api_v4" / "audit_logs_page1.json", "cloudflare-audit.json"),
        (CF / "logpush_v2_broken" / "audit_logs_v2.ndjson", "cloudflare-audit.json"),
        (GCP / "gcloud_array" / "entries.json", "gcp-audit.json"),
        (AZ / "records" / "PT1H.json", "azure-activity.json"),
        (AZ / "rest_value" / "activity.json", "azure-activity.json"),
    ],
)
def test_format_detected(path: Path, fmt: str) -> None:
    s = load(path)
    assert rows(s, "SELECT log_format FROM ingest_files") == [{"log_format": fmt}]


def test_large_cloudtrail_file_is_sniffed_from_text() -> None:
    head = Head("x.json", S3_FILE.read_bytes()[:1500])
    assert head.first_json is None
    assert CloudTrailSource().sniff(head)
    assert not CloudflareAuditSource().sniff(head)


@pytest.mark.parametrize(
    "doc",
    [
        {"@timestamp": "2026-11-03T09:14:03Z", "event": {"category": ["network"]}},
        {"records": [{"time": "x", "operationName": "Publish", "category": "AdvancedHunting-X"}]},
        {"eventName": "x"},
    ],
)
def test_not_cloud(doc: dict[str, object]) -> None:
    head = Head("x.json", (json.dumps(doc) + "\n").encode())
    assert not CloudTrailSource().sniff(head)
    assert not CloudflareAuditSource().sniff(head)


def test_cloudtrail_s3_file_mapping_and_provenance() -> None:
    s = load(S3_FILE)
    got = rows(
        s,
        "SELECT event_id, event_action, action_normalized, actor_type, actor_name, "
        "actor_principal, cloud_account_id, cloud_region, target_name, target_id, "
        "destination_domain, change_detail, event_outcome, log_format, log_line, log_record "
        "FROM cloud_audit ORDER BY log_record",
    )
    assert [r["action_normalized"] for r in got] == [
        "function.update_code",
        "function.public_access",
        "function.public_access",
    ]
    first, perm, url = got
    assert first["actor_principal"] == "arn:aws:iam::111122223333:role/ci-deploy"
    assert first["actor_name"] == "arn:aws:sts::111122223333:assumed-role/ci-deploy/gh-123"
    assert first["target_id"] == "arn:aws:lambda:us-east-1:111122223333:function:billing-sync"
    assert first["change_detail"] == "code replaced, from s3://b/k.zip"
    assert (first["log_line"], first["log_record"]) == (None, 1)
    assert perm["target_name"] == "billing-sync"  # from the ARN in functionName
    assert perm["change_detail"].startswith("resource policy grants principal *")
    assert url["destination_domain"] == LAMBDA_URL
    assert url["change_detail"] == "function URL with AuthType NONE"
    assert {r["cloud_account_id"] for r in got} == {"111122223333"}
    # the S3 GetObject event is not the serverless control plane
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "cloudtrail:s3.amazonaws.com", "count": 1}
    ]
    assert s.count("ingest_issues") == 0


def test_cloudtrail_gzip_and_concatenated_files(tmp_path: Path) -> None:
    data = S3_FILE.read_bytes().replace(b"\n", b"")
    gz = tmp_path / "a.json.gz"
    gz.write_bytes(gzip.compress(data + b"\n" + data + b"\n"))
    s = load(gz)
    assert s.count("cloud_audit") == 6
    assert rows(s, "SELECT DISTINCT log_format FROM cloud_audit") == [
        {"log_format": "cloudtrail.json"}
    ]


def test_cloudtrail_ndjson_bad_lines_counted() -> None:
    s = load(CT / "ndjson" / "events.ndjson")
    got = rows(s, "SELECT log_line, error_code, event_outcome FROM cloud_audit ORDER BY 1")
    assert got == [
        {"log_line": 1, "error_code": None, "event_outcome": "success"},
        {"log_line": 4, "error_code": "AccessDenied", "event_outcome": "failure"},
    ]
    issues = rows(s, "SELECT log_line, reason_code FROM ingest_issues ORDER BY log_line")
    assert issues == [
        {"log_line": 2, "reason_code": "invalid_json"},
        {"log_line": 3, "reason_code": "invalid_json"},
        {"log_line": 5, "reason_code": "missing_timestamp"},
    ]


def test_cloudtrail_eventbridge_envelope_unwrapped() -> None:
    s = load(CT / "eventbridge" / "event.json")
    got = rows(s, "SELECT event_action, destination_domain, log_record FROM cloud_audit")
    assert got == [
        {
            "event_action": "CreateFunctionUrlConfig20211031",
            "destination_domain": LAMBDA_URL,
            "log_record": 1,
        }
    ]


def test_cloudtrail_truncated_log_file_keeps_its_complete_records() -> None:
    # A {"Records": [...]} document cut short in its third record: the two complete
    # records before the break are read, and the break is reported at record 3.
    s = load(CT / "truncated" / "cut.json")
    assert s.count("cloud_audit") == 2
    issues = rows(s, "SELECT reason_code, severity, log_record FROM ingest_issues")
    assert issues == [{"reason_code": "truncated_file", "severity": "error", "log_record": 3}]


def test_concatenated_wrapper_documents_are_all_read(tmp_path: Path) -> None:
    # Two whole {"Records": [...]} documents then a third cut short in its last record:
    # every complete record is read.
    record = json.loads(S3_FILE.read_text())["Records"][0]
    docs = [
        json.dumps({"Records": [{**record, "eventID": f"d{d}r{r}"} for r in range(3)]})
        for d in range(3)
    ]
    (tmp_path / "cat.json").write_text(docs[0] + "\n" + docs[1] + "\n" + docs[2][:-40])
    s = load(tmp_path / "cat.json")
    got = [r["event_id"] for r in rows(s, "SELECT event_id FROM cloud_audit ORDER BY log_record")]
    assert got == ["d0r0", "d0r1", "d0r2", "d1r0", "d1r1", "d1r2", "d2r0", "d2r1"]
    assert rows(s, "SELECT reason_code FROM ingest_issues") == [{"reason_code": "truncated_file"}]


def test_cloudtrail_damaged_gzip(tmp_path: Path) -> None:
    lines = [
        json.dumps({**json.loads(S3_FILE.read_text())["Records"][0], "eventID": f"e{i}"})
        for i in range(2000)
    ]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    bad = tmp_path / "cut.ndjson.gz"
    bad.write_bytes(blob[: len(blob) // 2])
    s = load(bad)
    assert 0 < s.count("cloud_audit") < 2000
    assert rows(s, "SELECT DISTINCT reason_code FROM ingest_issues WHERE severity = 'error'") in (
        [{"reason_code": "truncated_gzip"}],
        [{"reason_code": "truncated_gzip"}, {"reason_code": "invalid_json"}],
        [{"reason_code": "invalid_json"}, {"reason_code": "truncated_gzip"}],
    )


def test_cloudflare_shapes() -> None:
    s = load(CF / "logpush_v1", CF / "api_v4", CF / "logpush_v2_broken")
    got = rows(
        s,
        "SELECT strftime(timestamp, '%H:%M:%S') AS t, actor_principal, action_normalized, "
        "target_name, destination_domain, change_detail, event_outcome, error_code, "
        "user_agent_original, cloud_account_id FROM cloud_audit ORDER BY timestamp",
    )
    assert [(r["t"], r["action_normalized"], r["target_name"]) for r in got] == [
        ("08:00:00", "function.update_code", "edge-auth"),  # v1 'script_update'
        ("09:01:00", "route.create", "df00tech-relay"),  # When as Unix seconds
        ("09:01:00", "function.create", "df00tech-relay"),  # v2, as the emulator writes it
        ("09:05:00", "function.public_access", "df00tech-relay"),  # API: subdomain on
        ("09:06:00", "function.get", "payments"),
    ]
    assert got[1]["destination_domain"] == "argus-shop.example"
    assert got[2]["user_agent_original"] == "wrangler/3.84.1"
    assert got[4]["event_outcome"] == "failure" and got[4]["error_code"] == "403"
    assert {r["cloud_account_id"] for r in got} == {"5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"}
    issues = rows(s, "SELECT log_line, reason_code FROM ingest_issues ORDER BY log_line")
    assert issues == [
        {"log_line": 2, "reason_code": "missing_timestamp"},
        {"log_line": 3, "reason_code": "invalid_json"},
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "cloudflare:dns_record", "count": 1}
    ]


def test_gcp_audit_mapping() -> None:
    s = load(GCP / "gcloud_array")
    got = rows(
        s,
        "SELECT log_record, action_normalized, target_name, destination_domain, "
        "change_detail, event_outcome, error_code, actor_principal, cloud_account_id, "
        "cloud_region FROM cloud_audit ORDER BY log_record",
    )
    assert [(r["log_record"], r["action_normalized"]) for r in got] == [
        (1, "function.update"),
        (2, "function.public_access"),
        (3, "function.delete"),
    ]
    assert got[0]["destination_domain"] == "us-central1-df00tech-argus-test.cloudfunctions.net"
    assert got[1]["change_detail"] == "allUsers roles/run.invoker"
    assert (got[2]["event_outcome"], got[2]["error_code"]) == ("failure", "7")
    assert {r["cloud_account_id"] for r in got} == {"df00tech-argus-test"}
    assert rows(s, "SELECT log_record, reason_code FROM ingest_issues") == [
        {"log_record": 5, "reason_code": "missing_timestamp"}
    ]
    assert rows(s, "SELECT label FROM ingest_skipped") == [{"label": "gcp:compute.googleapis.com"}]


def test_azure_activity_mapping() -> None:
    s = load(AZ / "records", AZ / "rest_value")
    got = rows(
        s,
        "SELECT action_normalized, actor_principal, target_name, destination_domain, "
        "change_detail, event_outcome, error_code, cloud_account_id, event_correlation_id, "
        "request_parameters FROM cloud_audit ORDER BY timestamp",
    )
    # Start entries are kept (they carry the request body); Success entries have none.
    assert [(r["action_normalized"], r["event_outcome"]) for r in got] == [
        ("function.update", "success"),
        ("secret.read", "failure"),
        ("function.public_access", "started"),  # function key write: Start
        ("function.public_access", "success"),  # ... and its Success
        ("function.public_access", "started"),  # function write, authLevel anonymous
        ("function.update_code", "success"),  # ... its Success: no body of its own
        ("function.public_access", "started"),  # CORS * written
        ("function.public_access", "started"),  # a second CORS write, never finished
        ("function.update_config", "success"),  # the first one's Success, next file
    ]
    assert got[1]["error_code"] == "AuthorizationFailed"
    assert got[3]["change_detail"].startswith("function key written")
    assert got[4]["change_detail"] == "authLevel anonymous"
    assert got[5]["request_parameters"] is None
    assert got[4]["target_name"] == got[5]["target_name"] == "orders-api/relay"
    assert got[6]["change_detail"] == "CORS allowedOrigins *"
    assert [r["event_correlation_id"] for r in got[2:]] == [
        "c0a1-start",
        "c0a1-start",
        "c0a2-fn",
        "c0a2-fn",
        "c0a3-cors",
        "c0a4-orphan",
        "c0a3-cors",
    ]
    assert {r["destination_domain"] for r in got} == {"orders-api.azurewebsites.net"}
    assert {r["cloud_account_id"] for r in got} == {"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}
    skipped = dict(s.con.execute("SELECT label, count FROM ingest_skipped").fetchall())
    assert skipped == {"azure:MICROSOFT.NETWORK": 1}


def test_azure_operations_join_start_body_to_final_entry() -> None:
    """The final entry of an operation takes its Start entry's request body, so that an
    anonymous authLevel or CORS * is seen on the record whose outcome says it happened."""
    s = load(AZ / "records")
    got = rows(
        s,
        "SELECT action_normalized, event_outcome, change_detail, event_correlation_id, "
        "request_parameters IS NOT NULL AS has_body, log_file_path "
        f"FROM ({operations_sql('cloud_audit')}) WHERE event_correlation_id IS NOT NULL "
        "ORDER BY timestamp",
    )
    assert [
        (r["event_correlation_id"], r["event_outcome"], r["action_normalized"]) for r in got
    ] == [
        ("c0a1-start", "success", "function.public_access"),
        ("c0a2-fn", "success", "function.public_access"),
        ("c0a4-orphan", "started", "function.public_access"),
        ("c0a3-cors", "success", "function.public_access"),
    ]
    assert [r["change_detail"] for r in got[1:]] == [
        "authLevel anonymous",
        "CORS allowedOrigins *",
        "CORS allowedOrigins *",
    ]
    assert all(r["has_body"] for r in got[1:])
    # the joined row keeps the final entry's provenance (here: the next hour's file)
    assert got[3]["log_file_path"].endswith("next_hour/PT1H.json")
    # three Start entries found their final entry and are folded into it
    (raw,) = s.con.execute("SELECT count(*) FROM cloud_audit").fetchone() or (0,)
    total = s.con.execute(f"SELECT count(*) FROM ({operations_sql('cloud_audit')})").fetchone()
    assert (raw, total) == (7, (4,))


def test_azure_start_does_not_lend_its_body_to_another_operation() -> None:
    """Same correlation id (one ARM deployment) but another resource: no join."""
    s = load(AZ / "records")
    s.con.execute(
        "UPDATE cloud_audit SET target_id = target_id || '/OTHER' "
        "WHERE event_correlation_id = 'c0a2-fn' AND event_outcome = 'success'"
    )
    got = rows(
        s,
        "SELECT event_outcome, change_detail FROM "
        f"({operations_sql('cloud_audit')}) WHERE event_correlation_id = 'c0a2-fn' "
        "ORDER BY timestamp",
    )
    assert got == [
        {"event_outcome": "started", "change_detail": "authLevel anonymous"},
        {"event_outcome": "success", "change_detail": None},
    ]


def test_directory_of_cloud_logs_with_gzip(tmp_path: Path) -> None:
    for src in (CF / "logpush_v1" / "audit_logs.ndjson", AZ / "rest_value" / "activity.json"):
        with src.open("rb") as fi, gzip.open(tmp_path / (src.name + ".gz"), "wb") as fo:
            shutil.copyfileobj(fi, fo)
    s = load(tmp_path)
    assert dict(
        s.con.execute("SELECT log_format, count(*) FROM cloud_audit GROUP BY ALL").fetchall()
    ) == {"cloudflare-audit.json": 2, "azure-activity.json": 2}


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        ("]", "truncated_file"),  # closing brace missing: all records read, damage reported
        ("]  ,", "invalid_json"),  # something else after the array
    ],
)
def test_damaged_wrapper_end_is_reported(tmp_path: Path, cut: str, reason: str) -> None:
    record = json.loads(S3_FILE.read_text())["Records"][0]
    body = ", ".join(json.dumps({**record, "eventID": f"r{r}"}) for r in range(3))
    (tmp_path / "d.json").write_text('{"Records": [' + body + cut)
    s = load(tmp_path / "d.json")
    assert s.count("cloud_audit") == 3
    assert [r["reason_code"] for r in rows(s, "SELECT reason_code FROM ingest_issues")] == [reason]


@pytest.mark.parametrize(
    ("extra", "action", "detail"),
    [
        ({}, "function.public_access", "resource policy grants principal * lambda:InvokeFunction"),
        (
            {"principalOrgID": "o-a1b2c3d4e5"},
            "function.permission",
            "resource policy grants principal * limited to organization o-a1b2c3d4e5",
        ),
        (
            {"sourceArn": "arn:aws:execute-api:us-east-1:111122223333:abc123/*"},
            "function.permission",
            "resource policy grants principal * limited to source "
            "arn:aws:execute-api:us-east-1:111122223333:abc123/*",
        ),
    ],
)
def test_add_permission_to_star_is_public_only_without_a_condition(
    tmp_path: Path, extra: dict[str, str], action: str, detail: str
) -> None:
    # AddPermission's principalOrgID / sourceAccount / sourceArn narrow principal "*"
    # (AWS Lambda API reference, AddPermission).
    record = json.loads(S3_FILE.read_text())["Records"][0]
    record.update(
        eventName="AddPermission20150331v2",
        requestParameters={
            "functionName": "billing-sync",
            "statementId": "s1",
            "action": "lambda:InvokeFunction",
            "principal": "*",
            **extra,
        },
    )
    (tmp_path / "one.json").write_text(json.dumps({"Records": [record]}))
    got = rows(
        load(tmp_path / "one.json"), "SELECT action_normalized, change_detail FROM cloud_audit"
    )
    assert got == [{"action_normalized": action, "change_detail": detail}]


def test_azure_client_app_names_well_known_first_party_clients(tmp_path: Path) -> None:
    """The Activity Log has no user agent: the token's appid names the client, and the
    Azure CLI's makes the call a command-line call for the rules."""
    line = (AZ / "records" / "PT1H.json").read_text().splitlines()[0]
    doc = json.loads(line)
    for rec, appid in zip(
        doc["records"][:2],
        ["04b07795-8ddb-461a-bbee-02f9e1bf7b46", "0000aaaa-1111-2222-3333-444455556666"],
        strict=True,
    ):
        rec["identity"]["claims"]["appid"] = appid
    (tmp_path / "PT1H.json").write_text(json.dumps(doc))
    s = load(tmp_path / "PT1H.json")
    got = rows(s, "SELECT client_app, user_agent_original FROM cloud_audit ORDER BY timestamp")
    assert got == [
        {"client_app": "Azure CLI", "user_agent_original": None},
        {"client_app": "appid 0000aaaa-1111-2222-3333-444455556666", "user_agent_original": None},
    ]


@pytest.mark.parametrize(
    ("mask", "action", "detail"),
    [
        (
            "sourceUploadUrl,entryPoint",
            "function.update_code",
            "fields sourceUploadUrl, entryPoint",
        ),
        ("environmentVariables", "function.update_config", "fields environmentVariables"),
        (
            {"paths": ["serviceConfig.environmentVariables", "serviceConfig.serviceAccountEmail"]},
            "function.update_config",
            "fields serviceConfig.environmentVariables, serviceConfig.serviceAccountEmail",
        ),
        ({"paths": ["buildConfig.source"]}, "function.update_code", "fields buildConfig.source"),
        ("template", "function.update", "fields template"),  # Cloud Run: image and env alike
        (None, "function.update", None),  # no mask: the log does not say
    ],
)
def test_gcp_update_kind_from_the_update_mask(
    tmp_path: Path, mask: object, action: str, detail: str | None
) -> None:
    entry = json.loads((GCP / "gcloud_array" / "entries.json").read_text())[0]
    assert entry["protoPayload"]["methodName"].endswith("UpdateFunction")
    request = dict(entry["protoPayload"].get("request") or {})
    request.pop("updateMask", None)
    if mask is not None:
        request["updateMask"] = mask
    entry["protoPayload"]["request"] = request
    (tmp_path / "e.json").write_text(json.dumps([entry]))
    got = rows(
        load(tmp_path / "e.json"), "SELECT action_normalized, change_detail FROM cloud_audit"
    )
    assert got == [{"action_normalized": action, "change_detail": detail}]


LOOKUP = CT / "lookup_events"


@pytest.mark.parametrize(
    ("name", "place"),
    [("lookup-events.json", "log_record"), ("events.ndjson", "log_line")],
)
def test_cloudtrail_event_history_records_are_read_from_their_json_text(
    name: str, place: str
) -> None:
    # `aws cloudtrail lookup-events` (and `jq -c '.Events[]'` of it): each record is JSON
    # text in CloudTrailEvent; the event's own EventTime, Username ... are not the record.
    path = LOOKUP / name
    assert CloudTrailSource().sniff(Head(name, path.read_bytes()[:65536]))
    s = load(path)
    got = rows(
        s,
        f"SELECT {place} AS place, timestamp, event_action, action_normalized, actor_principal, "
        "cloud_account_id, cloud_region, target_id, destination_domain, source_ip "
        "FROM cloud_audit ORDER BY place",
    )
    assert [(r["place"], r["action_normalized"]) for r in got] == [
        (1, "function.public_access"),
        (2, "function.update_code"),
    ]
    url, code = got
    assert str(url["timestamp"]) == "2026-11-06 14:02:11"
    assert (
        url["destination_domain"] == "q7x2m4k9v3abcdefghijklmnop0a1b2c.lambda-url.eu-west-1.on.aws"
    )
    assert code["target_id"] == "arn:aws:lambda:eu-west-1:444455556666:function:report-relay"
    for r in got:
        assert r["actor_principal"] == "arn:aws:iam::444455556666:role/deployer"
        assert (r["cloud_account_id"], r["cloud_region"]) == ("444455556666", "eu-west-1")
        assert r["source_ip"] == "198.51.100.40"
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "cloudtrail:signin.amazonaws.com", "count": 1}
    ]
    assert s.count("ingest_issues") == 0


def test_cloudtrail_event_history_entry_with_a_damaged_record_is_an_error(
    tmp_path: Path,
) -> None:
    lines = (LOOKUP / "events.ndjson").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["CloudTrailEvent"] = broken["CloudTrailEvent"][:100]  # cut short
    lines[1] = json.dumps(broken)
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    s = load(path)
    assert [r["log_line"] for r in rows(s, "SELECT log_line FROM cloud_audit")] == [1]
    (issue,) = rows(s, "SELECT log_line, severity, reason_code, reason FROM ingest_issues")
    assert (issue["log_line"], issue["severity"], issue["reason_code"]) == (
        2,
        "error",
        "missing_timestamp",
    )
    assert "CloudTrailEvent is not a readable record" in issue["reason"]
