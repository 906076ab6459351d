"""Cloud audit logs of the control-plane scenarios (read by the ``cloudtrail.json`` and
``cloudflare-audit.json`` readers).

* **AWS CloudTrail**: log files as delivered to S3,
  ``<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz`` holding
  ``{"Records": [...]}`` (CloudTrail User Guide, "CloudTrail log file examples" and
  "CloudTrail record contents"). Lambda's ``ListFunctions`` is logged as the management
  event ``ListFunctions20150331``; an invocation is the *data* event ``Invoke``
  (``eventCategory`` ``Data``, ``resources`` ``AWS::Lambda::Function``), recorded only
  when the trail logs Lambda data events ("Logging AWS Lambda API calls using AWS
  CloudTrail"). The seeds' ``InvokeFunction`` is not an event name CloudTrail uses.
* **Cloudflare**: the account audit log as Logpush delivers it (dataset
  ``audit_logs_v2``, NDJSON, gzip): ``ActionType`` (``create`` / ``update`` / ``delete``
  / ``view`` / ``login``), ``ActorEmail``, ``ActorIPAddress``, ``ResourceProduct``,
  ``ResourceType``, ``ResourceID``, ``ActionTimestamp`` ... (Cloudflare Logs reference,
  "Audit Logs V2" dataset fields). The seeds' ``audit_log.action.type=deploy`` is not a
  value the documented ``ActionType`` takes; a ``wrangler deploy`` uploads the script
  (``PUT /accounts/<id>/workers/scripts/<name>``), logged as ``create`` the first time
  and ``update`` after. The ``ResourceProduct`` / ``ResourceType`` strings for Workers
  scripts (``workers`` / ``script``) are not listed in the documentation: unverified.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import CloudApiCall, Telemetry, hex_id
from relayhunt.emulate.writers._common import iso, write_lines


def cloudtrail_record(c: CloudApiCall) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": c.actor_id,
            "arn": f"arn:aws:iam::{c.account}:user/{c.actor}",
            "accountId": c.account,
            "accessKeyId": "AKIA" + hex_id("akid", 16, c.actor).upper(),
            "userName": c.actor,
        },
        "eventTime": iso(c.t, 0),
        "eventSource": c.service,
        "eventName": c.action,
        "awsRegion": c.region,
        "sourceIPAddress": c.source_ip,
        "userAgent": c.user_agent,
        "requestParameters": c.request,
        "responseElements": None,
        "requestID": str(uuid.UUID(hex_id("req", 32, c.t, c.action))),
        "eventID": str(uuid.UUID(hex_id("evt", 32, c.t, c.action))),
        "readOnly": c.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": not c.data_event,
        "recipientAccountId": c.account,
        "eventCategory": "Data" if c.data_event else "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"lambda.{c.region}.amazonaws.com",
        },
    }
    if c.data_event and c.resource:
        rec["resources"] = [
            {"accountId": c.account, "type": "AWS::Lambda::Function", "ARN": c.resource}
        ]
        rec["additionalEventData"] = {"functionVersion": f"{c.resource}:$LATEST"}
    return rec


def write_cloudtrail(tel: Telemetry, out: Path) -> list[Path]:
    calls = [c for c in tel.cloud if c.cloud == "aws"]
    if not calls:
        return []
    last = calls[-1]
    delivered = iso(last.t + 300, 0)
    stamp = (
        delivered[:4]
        + delivered[5:7]
        + delivered[8:10]
        + "T"
        + delivered[11:13]
        + delivered[14:16]
        + "Z"
    )
    unique = hex_id("ct", 16, last.t).upper()
    name = f"{last.account}_CloudTrail_{last.region}_{stamp}_{unique}.json.gz"
    doc = json.dumps({"Records": [cloudtrail_record(c) for c in calls]}, separators=(",", ":"))
    path = out / "AWSLogs" / last.account / "CloudTrail" / last.region / name
    return [write_lines(path, [doc], gz=True)]


def cloudflare_record(c: CloudApiCall) -> dict[str, Any]:
    return {
        "AccountID": c.account,
        "AccountName": "Argus Test",
        "ActionDescription": c.description,
        "ActionResult": "success",
        "ActionTimestamp": iso(c.t, 3),
        "ActionType": c.action,
        "ActorContext": "api_token",
        "ActorEmail": c.actor,
        "ActorID": c.actor_id,
        "ActorIPAddress": c.source_ip,
        "ActorTokenDetails": {"id": hex_id("token", 32, c.actor), "name": "wrangler"},
        "ActorType": "user",
        "AuditLogID": str(uuid.UUID(hex_id("cf-audit", 32, c.t, c.action))),
        "Raw": {
            "cf_ray_id": hex_id("ray", 16, c.t) + "-IAD",
            "method": "PUT",
            "status_code": 200,
            "uri": f"/client/v4/accounts/{c.account}/workers/scripts/{c.resource}",
            "user_agent": c.user_agent,
        },
        "ResourceID": c.resource,
        "ResourceProduct": "workers",
        "ResourceRequest": c.request,
        "ResourceResponse": None,
        "ResourceScope": "accounts",
        "ResourceType": "script",
        "ResourceValue": None,
        "ZoneID": None,
        "ZoneName": None,
    }


def write_cloudflare(tel: Telemetry, out: Path) -> list[Path]:
    calls = [c for c in tel.cloud if c.cloud == "cloudflare"]
    if not calls:
        return []
    first, last = iso(calls[0].t, 0), iso(calls[-1].t + 60, 0)

    def compact(s: str) -> str:
        return s.replace("-", "").replace(":", "")

    name = f"{compact(first)}_{compact(last)}_{hex_id('cf', 8, first)}.log.gz"
    lines = (json.dumps(cloudflare_record(c), separators=(",", ":")) for c in calls)
    return [write_lines(out / first[:10].replace("-", "") / name, lines, gz=True)]
