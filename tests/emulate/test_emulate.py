"""The emulator: deterministic output, each product's way of linking a process to its DNS
and connections, the vendors' field names, the truth and tuning files, and the CLI."""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from relayhunt.api import hunt
from relayhunt.cli import EXIT_OK, EXIT_USAGE, app, samples_dir
from relayhunt.config import load_config
from relayhunt.emulate.emulate import Emulation, build, emulate, parse_start
from relayhunt.emulate.model import Connection, DnsLookup
from relayhunt.emulate.scenarios import BY_NAME, SCENARIOS
from relayhunt.emulate.writers import BY_NAME as FORMATS
from relayhunt.emulate.writers import FORMATS as ALL_FORMATS
from relayhunt.emulate.writers import resolve
from relayhunt.emulate.writers.cloud import (
    AZURE_CLI_APPID,
    cloudflare_record,
    cloudtrail_record,
)
from relayhunt.ingest import ingest
from relayhunt.sources.sysmon import FIELDS_BY_EVENT
from relayhunt.store import Store

runner = CliRunner()
SMALL = [
    BY_NAME[n]
    for n in (
        "t1583-wscript-apps-script",
        "t1584-aws-cli-lambda",
        "t1584-wrangler-deploy",
        "c2-sliver",
        "t1584-gcp-function-hijack",
        "t1584-azure-function-zipdeploy",
    )
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulation]:
    yield emulate(tmp_path_factory.mktemp("emulate"), SMALL)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        data = path.read_bytes()
        h.update(gzip.decompress(data) if path.suffix == ".gz" else data)
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    one = emulate(tmp_path / "a", SMALL[:1], [FORMATS["ecs"], FORMATS["zeek-tsv"]], seed=7)
    two = emulate(tmp_path / "b", SMALL[:1], [FORMATS["ecs"], FORMATS["zeek-tsv"]], seed=7)
    three = emulate(tmp_path / "c", SMALL[:1], [FORMATS["ecs"], FORMATS["zeek-tsv"]], seed=8)
    assert _digest(one.out / "ecs") == _digest(two.out / "ecs")
    assert _digest(one.out / "zeek-tsv") == _digest(two.out / "zeek-tsv")
    assert _digest(one.out / "ecs") != _digest(three.out / "ecs")


def test_start_time_moves_everything(tmp_path: Path) -> None:
    t0 = parse_start("2027-01-05T08:00:00+01:00")
    tel = build(BY_NAME["t1584-beacon-workers"], start=t0)
    assert min(e.t for e in tel.events) >= t0
    assert parse_start("2027-01-05T07:00:00") == t0


def test_source_tests_as_the_seeds_describe_them() -> None:
    beacon = build(BY_NAME["t1584-beacon-workers"])
    conns = [
        e for e in beacon.events if isinstance(e, Connection) and e.proc.name == "powershell.exe"
    ]
    assert len(conns) == 15
    gaps = [b.t - a.t for a, b in itertools.pairwise(conns)]
    mean = sum(gaps) / len(gaps)
    sd = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    assert 28 < mean < 32 and sd / mean < 0.05  # "~30 s apart, jitter coefficient < 0.05"
    curl = build(BY_NAME["t1583-curl-cloudfunctions"])
    curls = {e.proc for e in curl.events if isinstance(e, Connection) and e.proc.name == "curl.exe"}
    assert len(curls) == 4  # a new curl.exe per check-in
    for name in ("t1584-lambda-url-post", "t1583-python-lambda"):
        tel = build(BY_NAME[name])
        names = {e.dest.domain for e in tel.events if isinstance(e, DnsLookup)}
        assert any(n.endswith(".lambda-url.us-east-1.on.aws") for n in names)
        assert not any("amazonaws.com" in n and "lambda-url" in n for n in names)


@pytest.mark.parametrize(
    "fmt",
    [
        "ecs",
        "sysmon-evtx",
        "sysmon-xml",
        "sysmon-winlogbeat",
        "sysmon-json",
        "falcon",
        "defender-json",
        "defender-csv",
        "udm",
    ],
)
def test_endpoint_formats_link_every_network_event_to_its_process(
    small: Emulation, fmt: str
) -> None:
    with Store() as store:
        result = ingest([small.out / fmt], store)
        assert result.unreadable == 0
        assert store.count("ingest_issues") == 0
        con = store.con
        for table in ("connection", "dns", "file"):
            orphans = con.execute(
                f"""SELECT count(*) FROM {table} t
                    WHERE NOT EXISTS (SELECT 1 FROM process p
                                      WHERE p.process_entity_id = t.process_entity_id)"""
            ).fetchone()
            assert orphans == (0,), (fmt, table)
        # the script chain: cmd.exe wrote the .js, its child wscript.exe ran it
        row = con.execute(
            """SELECT p.process_parent_entity_id = f.process_entity_id
               FROM process p JOIN file f ON f.file_name = 'df00tech_gapps_test.js'
               WHERE lower(p.process_name) = 'wscript.exe'"""
        ).fetchone()
        assert row == (True,), fmt


@pytest.mark.parametrize("fmt", ["zeek-tsv", "zeek-json"])
def test_zeek_links_sessions_by_uid_and_sees_no_process(small: Emulation, fmt: str) -> None:
    with Store() as store:
        ingest([small.out / fmt], store)
        assert store.count("ingest_issues") == 0
        con = store.con
        unmatched = con.execute(
            """SELECT count(*) FROM connection s WHERE s.event_action = 'zeek.ssl'
               AND NOT EXISTS (SELECT 1 FROM connection c WHERE c.event_action = 'zeek.conn'
                               AND c.event_id = s.event_id)"""
        ).fetchone()
        assert unmatched == (0,)
        assert con.execute(
            "SELECT count(*) FROM connection WHERE process_name IS NOT NULL"
        ).fetchone() == (0,)
        assert store.count("process") == 0


def test_sysmon_fields_in_sysmon_order(small: Emulation) -> None:
    text = (small.out / "sysmon-xml" / "sysmon-events.xml").read_text()

    for eid, wanted in FIELDS_BY_EVENT.items():
        event = next(
            e for e in re.findall(r"<Event .*?</Event>", text) if f"<EventID>{eid}</EventID>" in e
        )
        names = re.findall(r"<Data Name='([^']+)'", event)
        assert set(wanted) <= set(names), eid
        assert names[:4] == ["RuleName", "UtcTime", "ProcessGuid", "ProcessId"], eid
    # Sysmon 15 puts User last on EID 11 (after TargetFilename and CreationUtcTime)
    event = next(e for e in re.findall(r"<Event .*?</Event>", text) if "<EventID>11</EventID>" in e)
    assert re.findall(r"<Data Name='([^']+)'", event)[-3:] == [
        "TargetFilename",
        "CreationUtcTime",
        "User",
    ]
    # EID 3 DestinationHostname is the PTR of the address, never the name asked for
    assert "<Data Name='DestinationHostname'>script.google.com<" not in text
    assert "1e100.net</Data>" in text


def test_defender_csv_columns_match_the_exported_tables(small: Emulation) -> None:
    for table in ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceEvents", "DeviceFileEvents"):
        sample = next(samples_dir().joinpath("defender").glob(f"*.{table}.csv"))
        with sample.open(encoding="utf-8-sig") as fh:
            want = next(csv.reader(fh))
        with (small.out / "defender-csv" / f"{table}.csv").open(encoding="utf-8-sig") as fh:
            got = next(csv.reader(fh))
        assert got == want, table


def test_cloud_audit_records_use_the_providers_field_names(small: Emulation) -> None:
    trail = next((small.out / "cloudtrail").rglob("*_CloudTrail_us-east-1_*.json.gz"))
    records = json.loads(gzip.decompress(trail.read_bytes()))["Records"]
    assert [r["eventName"] for r in records] == ["ListFunctions20150331", "Invoke"]
    documented = {
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID",
        "eventID", "readOnly", "eventType", "managementEvent", "recipientAccountId",
        "eventCategory", "tlsDetails", "resources", "additionalEventData",
    }  # fmt: skip
    for r in records:
        assert set(r) <= documented
        assert r["userAgent"].startswith("aws-cli/")
        assert r["sourceIPAddress"] and r["eventTime"].endswith("Z")
    assert (
        records[1]["eventCategory"] == "Data"
        and records[1]["resources"][0]["type"] == "AWS::Lambda::Function"
    )
    audit = next((small.out / "cloudflare-audit").rglob("*.log.gz"))
    (line,) = gzip.decompress(audit.read_bytes()).decode().splitlines()
    rec = json.loads(line)
    v2_fields = {
        "AccountID", "AccountName", "ActionDescription", "ActionResult", "ActionTimestamp",
        "ActionType", "ActorContext", "ActorEmail", "ActorID", "ActorIPAddress",
        "ActorTokenDetails", "ActorType", "AuditLogID", "Raw", "ResourceID", "ResourceProduct",
        "ResourceRequest", "ResourceResponse", "ResourceScope", "ResourceType", "ResourceValue",
        "ZoneID", "ZoneName",
    }  # fmt: skip
    assert set(rec) == v2_fields
    assert rec["ActionType"] in ("create", "update", "delete", "view", "login")
    assert rec["ResourceID"] == "df00tech-relay"
    assert callable(cloudtrail_record) and callable(cloudflare_record)


def test_gcp_and_azure_records_use_the_providers_field_names(small: Emulation) -> None:
    sink = sorted((small.out / "gcp-audit" / "cloudaudit.googleapis.com" / "activity").rglob("*"))
    files = [p for p in sink if p.is_file()]
    assert files and all(re.fullmatch(r"(\d\d):00:00_\1:59:59_S0\.json", p.name) for p in files)
    entries = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert [e["protoPayload"]["methodName"] for e in entries] == [
        "google.cloud.functions.v1.CloudFunctionsService.UpdateFunction",
        "google.cloud.functions.v1.CloudFunctionsService.SetIamPolicy",
    ]
    log_entry = {
        "protoPayload", "insertId", "resource", "timestamp", "severity", "logName",
        "receiveTimestamp",
    }  # fmt: skip
    for e in entries:
        assert set(e) == log_entry
        p = e["protoPayload"]
        assert p["@type"] == "type.googleapis.com/google.cloud.audit.AuditLog"
        assert p["serviceName"] == "cloudfunctions.googleapis.com" and p["status"] == {}
        assert p["authenticationInfo"]["principalEmail"] == "r.vance.ext@gmail.com"
        assert p["requestMetadata"]["callerIp"] == "203.0.113.45"
        assert p["requestMetadata"]["callerSuppliedUserAgent"].startswith(
            "google-cloud-sdk gcloud/"
        )
        assert p["resourceName"].endswith("/functions/invoice-export")
        assert e["logName"].endswith("/logs/cloudaudit.googleapis.com%2Factivity")
        assert e["resource"]["type"] == "cloud_function"
    assert entries[1]["protoPayload"]["serviceData"]["policyDelta"]["bindingDeltas"] == [
        {"action": "ADD", "role": "roles/cloudfunctions.invoker", "member": "allUsers"}
    ]
    blobs = list((small.out / "azure-activity" / "insights-activity-logs").rglob("PT1H.json"))
    assert blobs and all("resourceId=" in p.parts and p.parent.name == "m=00" for p in blobs)
    records = [
        r for p in blobs for line in p.read_text().splitlines() for r in json.loads(line)["records"]
    ]
    storage_schema = {
        "time", "resourceId", "operationName", "category", "resultType", "resultSignature",
        "durationMs", "callerIpAddress", "correlationId", "identity", "level", "location",
        "properties",
    }  # fmt: skip
    assert {r["resultType"] for r in records} == {"Start", "Success"}
    for r in records:
        assert set(r) == storage_schema
        assert r["operationName"] == r["operationName"].upper()
        assert r["operationName"].startswith("MICROSOFT.WEB/SITES/")
        assert r["resourceId"] == r["resourceId"].upper()
        claims = r["identity"]["claims"]
        assert claims["appid"] == AZURE_CLI_APPID  # the Azure CLI: no user agent is logged
        assert claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"].endswith(
            "@acmecorp.onmicrosoft.com"
        )
    done = [r["operationName"] for r in records if r["resultType"] == "Success"]
    assert done[-1] == "MICROSOFT.WEB/SITES/FUNCTIONS/KEYS/WRITE"
    # the real readers take every record, reject none, and map the vendors' fields
    for fmt, reader, wanted in (
        ("gcp-audit", "gcp-audit.json", {"function.update_code", "function.public_access"}),
        (
            "azure-activity",
            "azure-activity.json",
            {"secret.read", "function.update_config", "function.update_code",
             "function.public_access"},
        ),
    ):  # fmt: skip
        with Store() as store:
            result = ingest([small.out / fmt], store)
            assert result.unreadable == 0 and store.count("ingest_issues") == 0, fmt
            con = store.con
            assert con.execute("SELECT DISTINCT log_format FROM ingest_files").fetchall() == [
                (reader,)
            ]
            rows = con.execute(
                "SELECT action_normalized, source_ip, actor_principal, event_outcome "
                "FROM cloud_audit"
            ).fetchall()
            assert {r[0] for r in rows} == wanted, fmt
            # Azure keeps each operation's Start entry (it carries the request body)
            outcomes = {"success", "started"} if fmt == "azure-activity" else {"success"}
            assert {r[1:] for r in rows} == {
                ("203.0.113.45", rows[0][2], outcome) for outcome in outcomes
            }, fmt


def test_truth_and_tuning_files(small: Emulation) -> None:
    truth = json.loads(small.truth_path.read_text())
    assert [s["name"] for s in truth["scenarios"]] == [s.name for s in SMALL]
    wscript = truth["scenarios"][0]
    assert wscript["kind"] == "adversary"
    expect = {e["rule"]: e for e in wscript["expect"]}
    assert expect["RH-SL-003"]["formats"]["ecs"] == "expected"
    assert expect["RH-SL-003"]["formats"]["zeek-tsv"].startswith("n/a: ")
    assert expect["RH-SL-003"]["destination_ips"] == ["142.250.72.206"]
    host = wscript["hosts"][0]
    assert host["name"] == "WS-HR-03" and host["falcon_aid"] in host["ids"]
    aws = truth["scenarios"][1]
    assert aws["formats"]["cloudtrail"] == "emulated"
    assert aws["formats"]["cloudflare-audit"].startswith("n/a")
    assert all(f["rule"] == "*" and f["process"] for f in aws["must_not_fire"])
    assert "known_gaps" in truth and truth["judged"]["profile"] == "default"
    cfg = load_config(small.tuning_path, rules={})
    assert cfg.allowlist == ()  # none of these scenarios needs tuning
    full = yaml.safe_load(
        emulate(
            small.out.parent / "tuned", [BY_NAME["benign-cicd-agent"]], [FORMATS["ecs"]]
        ).tuning_path.read_text()
    )
    entries = full["allowlist"]
    assert len(entries) == 2 and "10.30.1.15" in entries[1]["host"]


def test_emulated_samples_hunt_like_the_bundled_ones(small: Emulation) -> None:
    with hunt([small.out / "falcon"], small.tuning_path) as r:
        found = {(f["rule_id"], f["process_name"]) for f in r.findings.to_pylist()}
    assert ("RH-SL-003", "wscript.exe") in found
    assert ("RH-SL-001", "devsync.exe") in found


def test_format_names_and_aliases() -> None:
    assert resolve("ecs.ndjson") is FORMATS["ecs"]
    assert resolve("SYSMON-EVTX") is FORMATS["sysmon-evtx"]
    with pytest.raises(KeyError):
        resolve("syslog")
    from relayhunt.sources import registry

    registered = {r.name for r in registry()}
    assert {f.reader for f in ALL_FORMATS if f.family != "cloud"} <= registered
    # every endpoint and network reader has a format the emulator writes
    uncovered = registered - {f.reader for f in ALL_FORMATS}
    assert all(
        any(k in name for k in ("cloud", "gcp", "google", "azure", "audit", "activity"))
        for name in uncovered
    ), uncovered


def test_cli_emulate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["emulate", "-o", str(out), "-s", "t1583-curl-cloudfunctions", "-f", "udm,zeek-json"]
    )
    assert res.exit_code == EXIT_OK, res.output
    assert (out / "truth.json").is_file() and (out / "tuning.yaml").is_file()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["udm", "zeek-json"]
    listing = runner.invoke(app, ["emulate", "--list"])
    assert (
        listing.exit_code == EXIT_OK
        and "c2-havoc" in listing.output
        and "cloudtrail" in listing.output
    )
    assert (
        runner.invoke(app, ["emulate", "-s", "t1583-curl-cloudfunctions"]).exit_code == EXIT_USAGE
    )
    assert runner.invoke(app, ["emulate", "-o", str(out), "-s", "nope"]).exit_code == EXIT_USAGE
    assert runner.invoke(app, ["emulate", "-o", str(out), "-f", "nope"]).exit_code == EXIT_USAGE
    assert (
        runner.invoke(app, ["emulate", "-o", str(out), "--start", "soon"]).exit_code == EXIT_USAGE
    )
    clash = tmp_path / "file"
    clash.write_text("x")
    assert runner.invoke(app, ["emulate", "-o", str(clash)]).exit_code == EXIT_USAGE


def test_every_scenario_builds_with_unique_hosts() -> None:
    seen: dict[str, str] = {}
    for sc in SCENARIOS:
        tel = build(sc)
        assert tel.events or (sc.off_estate and tel.cloud and not tel.hosts), sc.name
        for h in tel.hosts:
            for key in (h.name, h.ip):
                assert key not in seen, (sc.name, seen.get(key), key)
                seen[key] = sc.name


def test_docs_list_every_scenario_and_format() -> None:
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "emulation.md").read_text()
    cli = (root / "docs" / "cli.md").read_text()
    for sc in SCENARIOS:
        assert f"`{sc.name}`" in doc, sc.name
    for fmt in ALL_FORMATS:
        assert f"`{fmt.name}`" in doc and f"`{fmt.name}`" in cli, fmt.name
    for command in ("relayhunt emulate", "relayhunt validate"):
        assert command in cli
    from relayhunt.emulate.truth import KNOWN_GAPS

    for gap in KNOWN_GAPS:
        assert f"`{gap.scenario}`" in doc.split("### Known gaps", 1)[1], gap
