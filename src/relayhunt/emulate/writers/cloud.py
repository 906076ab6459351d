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
* **Google Cloud**: Admin Activity audit log entries as a Logging sink exports them to
  Cloud Storage: NDJSON, one ``LogEntry`` per line, in hourly files
  ``cloudaudit.googleapis.com/activity/<YYYY>/<MM>/<DD>/<HH>:00:00_<HH>:59:59_S0.json``
  (Cloud Logging, "View logs routed to Cloud Storage"). Each entry has ``logName``
  (``projects/<p>/logs/cloudaudit.googleapis.com%2Factivity``), ``resource`` {``type``
  ``cloud_function``, ``labels`` {``function_name``, ``project_id``, ``region``}},
  ``timestamp``, ``receiveTimestamp``, ``insertId``, ``severity`` ``NOTICE`` and the
  ``AuditLog`` ``protoPayload``: ``serviceName``, ``methodName``
  (``google.cloud.functions.v1.CloudFunctionsService.UpdateFunction``, ``...SetIamPolicy``),
  ``resourceName``, ``status`` (``{}`` on success), ``authenticationInfo.principalEmail``,
  ``requestMetadata`` {``callerIp``, ``callerSuppliedUserAgent``}, ``authorizationInfo``,
  ``request`` and, for IAM changes, ``serviceData.policyDelta.bindingDeltas`` (Cloud
  Audit Logs, "AuditLog"; IAM, "Audit logging examples: policy changes"; Cloud Functions,
  "Cloud Functions audit logging").
* **Azure**: the Activity Log as a diagnostic setting archives it to a storage account,
  ``insights-activity-logs/resourceId=/SUBSCRIPTIONS/<SUB>/y=<YYYY>/m=<MM>/d=<DD>/h=<HH>/
  m=00/PT1H.json``, each line a ``{"records": [...]}`` document (Azure Monitor, "Azure
  activity log event schema", "Schema from storage account and event hubs"): ``time``,
  ``resourceId`` and ``operationName`` (upper case), ``category`` ``Administrative``,
  ``resultType`` (``Start``, then ``Success``), ``resultSignature``, ``durationMs``,
  ``callerIpAddress``, ``correlationId``, ``identity`` {``authorization``, ``claims``},
  ``level``, ``location``, ``properties``. The Activity Log records no user agent: the
  client shows as the token's ``appid`` claim (the Azure CLI's is
  ``04b07795-8ddb-461a-bbee-02f9e1bf7b46``). A zip deployment's upload goes to the
  app's Kudu (``scm``) endpoint, which the Activity Log does not record; what it records
  are the ARM calls around it (app settings read and written, ``syncfunctiontriggers``).
  The request body (``properties.requestbody``) is logged on the ``Start`` entry.
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


# -- Google Cloud audit logs ---------------------------------------------------------------

GCP_PERMISSIONS = {
    "CreateFunction": "cloudfunctions.functions.create",
    "UpdateFunction": "cloudfunctions.functions.update",
    "DeleteFunction": "cloudfunctions.functions.delete",
    "SetIamPolicy": "cloudfunctions.functions.setIamPolicy",
}
"""``authorizationInfo[].permission`` of the Cloud Functions methods emulated."""


def gcp_audit_entry(c: CloudApiCall) -> dict[str, Any]:
    """One Admin Activity ``LogEntry`` of a Cloud Functions call."""
    res = c.resource or ""
    op = c.action.rsplit(".", 1)[-1]
    extra = dict(c.extra or {})
    auth: dict[str, Any] = {"principalEmail": c.actor}
    auth.update(extra.pop("authenticationInfo", {}))
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": auth,
        "requestMetadata": {
            "callerIp": c.source_ip,
            "callerSuppliedUserAgent": c.user_agent,
            "requestAttributes": {"time": iso(c.t - 0.2, 6), "auth": {}},
            "destinationAttributes": {},
        },
        "serviceName": c.service,
        "methodName": c.action,
        "authorizationInfo": [
            {
                "resource": res,
                "permission": GCP_PERMISSIONS.get(op, f"cloudfunctions.functions.{op.lower()}"),
                "granted": True,
                "resourceAttributes": {},
            }
        ],
        "resourceName": res,
        "resourceLocation": {"currentLocations": [c.region]},
    }
    if c.request is not None:
        payload["request"] = c.request
    for key in ("response", "serviceData"):
        if key in extra:
            payload[key] = extra[key]
    return {
        "protoPayload": payload,
        "insertId": hex_id("gcp-insert", 12, c.t, c.action),
        "resource": {
            "type": "cloud_function",
            "labels": {
                "function_name": res.rsplit("/", 1)[-1],
                "project_id": c.account,
                "region": c.region,
            },
        },
        "timestamp": iso(c.t, 6),
        "severity": "NOTICE",
        "logName": f"projects/{c.account}/logs/cloudaudit.googleapis.com%2Factivity",
        "receiveTimestamp": iso(c.t + 0.61, 9),
    }


def write_gcp_audit(tel: Telemetry, out: Path) -> list[Path]:
    calls = [c for c in tel.cloud if c.cloud == "gcp"]
    hours: dict[str, list[str]] = {}
    for c in calls:
        stamp = iso(c.t, 0)
        day, hour = stamp[:10].replace("-", "/"), stamp[11:13]
        name = f"{day}/{hour}:00:00_{hour}:59:59_S0.json"
        hours.setdefault(name, []).append(json.dumps(gcp_audit_entry(c), separators=(",", ":")))
    base = out / "cloudaudit.googleapis.com" / "activity"
    return [write_lines(base / name, lines) for name, lines in hours.items()]


# -- Azure Activity Log ------------------------------------------------------------------

AZURE_TENANT = "4a1b2c3d-5e6f-4789-9abc-def012345678"
AZURE_CLI_APPID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""The Azure CLI's application id, as the ``appid`` claim of its tokens."""
_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_CONTRIBUTOR = "b24988ac-6180-42a0-ab3b-20f7382dd24c"


def _azure_claims(c: CloudApiCall) -> dict[str, Any]:
    issued = int(c.t) - 600
    claims: dict[str, Any] = {
        "aud": "https://management.core.windows.net/",
        "iss": f"https://sts.windows.net/{AZURE_TENANT}/",
        "iat": str(issued),
        "nbf": str(issued),
        "exp": str(issued + 4_500),
    }
    user = "@" in c.actor
    appid = str((c.extra or {}).get("appid", AZURE_CLI_APPID if user else c.actor))
    if user:
        claims.update(
            {
                "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
                "appid": appid,
                "appidacr": "0",
                "ipaddr": c.source_ip,
                "name": c.actor.split("@", 1)[0].replace(".", " ").title(),
                _OID: c.actor_id,
                "http://schemas.microsoft.com/identity/claims/tenantid": AZURE_TENANT,
                _UPN: c.actor,
                "ver": "1.0",
            }
        )
    else:
        claims.update(
            {
                "appid": appid,
                "appidacr": "2",
                "idtyp": "app",
                _OID: c.actor_id,
                "http://schemas.microsoft.com/identity/claims/tenantid": AZURE_TENANT,
                "ver": "1.0",
            }
        )
    return claims


def azure_activity_records(c: CloudApiCall) -> list[dict[str, Any]]:
    """The ``Start`` and ``Success`` entries of one ARM operation, storage schema."""
    rid = c.resource or f"/subscriptions/{c.account}"
    correlation = str(uuid.UUID(hex_id("az-corr", 32, c.t, c.action)))
    user = "@" in c.actor
    identity = {
        "authorization": {
            "scope": rid,
            "action": c.action,
            "evidence": {
                "role": "Contributor",
                "roleAssignmentScope": f"/subscriptions/{c.account}",
                "roleAssignmentId": hex_id("az-ra", 32, c.actor),
                "roleDefinitionId": _CONTRIBUTOR.replace("-", ""),
                "principalId": c.actor_id.replace("-", ""),
                "principalType": "User" if user else "ServicePrincipal",
            },
        },
        "claims": _azure_claims(c),
    }
    common = {
        "resourceId": rid.upper(),
        "operationName": c.action.upper(),
        "category": "Administrative",
        "callerIpAddress": c.source_ip,
        "correlationId": correlation,
        "identity": identity,
        "level": "Information",
        "location": "global",
    }
    hierarchy = f"{AZURE_TENANT}/{c.account}"
    start_props: dict[str, Any] = {
        "eventCategory": "Administrative",
        "entity": rid,
        "message": c.action,
        "hierarchy": hierarchy,
    }
    if c.request is not None:
        start_props["requestbody"] = json.dumps(c.request, separators=(",", ":"))
    created = c.action.lower().endswith("/write") and "keys/" in c.action.lower()
    start = {
        "time": iso(c.t - 0.9, 7),
        **common,
        "resultType": "Start",
        "resultSignature": "Started.",
        "durationMs": "0",
        "properties": start_props,
    }
    done = {
        "time": iso(c.t, 7),
        **common,
        "resultType": "Success",
        "resultSignature": "Succeeded.Created" if created else "Succeeded.OK",
        "durationMs": "900",
        "properties": {
            "statusCode": "Created" if created else "OK",
            "serviceRequestId": None,
            "eventCategory": "Administrative",
            "entity": rid,
            "message": c.action,
            "hierarchy": hierarchy,
        },
    }
    return [start, done]


def write_azure_activity(tel: Telemetry, out: Path) -> list[Path]:
    calls = [c for c in tel.cloud if c.cloud == "azure"]
    blobs: dict[Path, list[str]] = {}
    for c in calls:
        stamp = iso(c.t, 0)
        folder = (
            out
            / "insights-activity-logs"
            / "resourceId="
            / "SUBSCRIPTIONS"
            / c.account.upper()
            / f"y={stamp[:4]}"
            / f"m={stamp[5:7]}"
            / f"d={stamp[8:10]}"
            / f"h={stamp[11:13]}"
            / "m=00"
        )
        doc = {"records": azure_activity_records(c)}
        blobs.setdefault(folder / "PT1H.json", []).append(json.dumps(doc, separators=(",", ":")))
    return [write_lines(path, lines) for path, lines in blobs.items()]
