"""Google Cloud audit logs: ``LogEntry`` records with an ``AuditLog`` payload.

References: Cloud Logging, "LogEntry" (``logName``, ``resource`` {``type``, ``labels``},
``timestamp``, ``receiveTimestamp``, ``insertId``, ``protoPayload``), Cloud Audit Logs,
"AuditLog" (``@type`` ``type.googleapis.com/google.cloud.audit.AuditLog``,
``serviceName``, ``methodName``, ``resourceName``, ``status`` {``code``, ``message``},
``authenticationInfo.principalEmail``, ``requestMetadata`` {``callerIp``,
``callerSuppliedUserAgent``}, ``request``, ``response``, ``serviceData``), "Cloud Run
audit logging" / "Cloud Functions audit logging" (method names such as
``google.cloud.functions.v2.FunctionService.UpdateFunction``,
``google.cloud.run.v2.Services.UpdateService``, ``SetIamPolicy``) and the IAM policy
delta (``serviceData.policyDelta.bindingDeltas[]`` {``action``, ``role``, ``member``}).

Accepted layouts: NDJSON (a Logging sink to Cloud Storage, ``gcloud logging read
--format=json | jq -c '.[]'``), the JSON array ``gcloud logging read --format=json``
prints, and ``entries:list`` responses ``{"entries": [...]}``.

Records of ``cloudfunctions.googleapis.com``, ``run.googleapis.com`` and
``apigateway.googleapis.com`` go to ``cloud_audit``; other services are counted as
skipped (``gcp:<serviceName>``). ``SetIamPolicy`` granting an invoker role
(``roles/run.invoker``, ``roles/cloudfunctions.invoker``) to ``allUsers`` or
``allAuthenticatedUsers`` is ``function.public_access``. A Cloud Functions target's
hostname is ``<region>-<project>.cloudfunctions.net``; a Cloud Run service's is read from
the response (``uri``, ``status.url``) when logged.
"""

from __future__ import annotations

from typing import Any

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.cloud_common import url_host
from relayhunt.sources.engine import RecordMapping, read_json

V = "VARCHAR"

STRUCT: dict[str, Any] = {
    "logName": V,
    "insertId": V,
    "timestamp": V,
    "receiveTimestamp": V,
    "operation": {"id": V, "producer": V},
    "resource": {
        "type": V,
        "labels": {
            "project_id": V,
            "function_name": V,
            "service_name": V,
            "region": V,
            "location": V,
        },
    },
    "protoPayload": {
        "@type": V,
        "serviceName": V,
        "methodName": V,
        "resourceName": V,
        "timestamp": V,
        "status": {"code": V, "message": V},
        "authenticationInfo": {"principalEmail": V, "principalSubject": V},
        "requestMetadata": {"callerIp": V, "callerSuppliedUserAgent": V},
        "request": V,
        "response": V,
        "serviceData": V,
    },
}

SERVICES = ("cloudfunctions.googleapis.com", "run.googleapis.com", "apigateway.googleapis.com")

ROUTE = f"""CASE WHEN s.protoPayload.serviceName IN
    ({", ".join(f"'{x}'" for x in SERVICES)}) THEN 'cloud_audit' END"""

LABEL = "'gcp:' || coalesce(s.protoPayload.serviceName, '(no serviceName)')"

# The fields an update names in its FieldMask (a "a,b" string in JSON, or {"paths": [...]}).
_MASK = """coalesce(
    TRY(json_extract_string(s.protoPayload.request, '$.updateMask')),
    TRY(json_extract_string(s.protoPayload.request, '$.update_mask')))"""
_MASK_FIELDS = f"""CASE WHEN starts_with(ltrim({_MASK}), '{{')
    THEN array_to_string(TRY(CAST(json_extract({_MASK}, '$.paths') AS VARCHAR[])), ',')
    ELSE {_MASK} END"""

PRELUDE = ", ".join(
    [
        "regexp_extract(s.protoPayload.methodName, '([^.]+)$', 1) AS gc_op",
        "s.protoPayload.resourceName AS gc_res",
        """coalesce(s.resource.labels.project_id,
            NULLIF(regexp_extract(s.protoPayload.resourceName, '^projects/([^/]+)', 1), ''),
            NULLIF(regexp_extract(s.protoPayload.resourceName, '^namespaces/([^/]+)', 1), ''),
            NULLIF(regexp_extract(s.logName, '^projects/([^/]+)', 1), '')) AS gc_project""",
        """coalesce(s.resource.labels.region, s.resource.labels.location,
            NULLIF(regexp_extract(s.protoPayload.resourceName, '/locations/([^/]+)', 1), ''))
            AS gc_region""",
        # The IAM grants to everyone in a SetIamPolicy: the policy delta, else the policy.
        """list_filter(coalesce(
              TRY(from_json(json_extract(s.protoPayload.serviceData,
                  '$.policyDelta.bindingDeltas'), '[{"action":"VARCHAR","role":"VARCHAR",
                  "member":"VARCHAR"}]')),
              []), x -> x.action = 'ADD'
                        AND x.member IN ('allUsers', 'allAuthenticatedUsers'))
            AS gc_public_deltas""",
        """list_filter(coalesce(TRY(from_json(json_extract(s.protoPayload.request,
              '$.policy.bindings'), '[{"role":"VARCHAR","members":["VARCHAR"]}]')), []),
              x -> list_has_any(x.members, ['allUsers', 'allAuthenticatedUsers']))
            AS gc_public_bindings""",
        # an update's FieldMask fields, "a,b" (NULL without one)
        f"NULLIF({_MASK_FIELDS}, '') AS gc_mask",
    ]
)

# What an update changed, by its mask: code (source, entry point, runtime, build, image),
# configuration (environment, service account, ingress, memory ...), or NULL when there
# is no mask or it names a whole Cloud Run template (code and configuration alike).
_UPDATE_KIND = """CASE
    WHEN gc_mask IS NULL THEN NULL
    WHEN regexp_matches(gc_mask,
         '(?i)(source|entry_?point|runtime|docker|build_?config|image)') THEN 'code'
    WHEN regexp_matches(gc_mask, '(?i)(^|[,.])(template|containers|spec)([,.]|$)')
         THEN NULL
    ELSE 'config' END"""

_PUBLIC = """(gc_op = 'SetIamPolicy'
    AND (len(gc_public_deltas) > 0 OR len(gc_public_bindings) > 0))"""

ACTION = f"""CASE
    WHEN {_PUBLIC} THEN 'function.public_access'
    WHEN gc_op = 'SetIamPolicy' THEN 'function.permission'
    WHEN s.protoPayload.serviceName = 'apigateway.googleapis.com' THEN CASE
        WHEN gc_op IN ('CreateApi', 'CreateGateway') THEN 'api.create'
        WHEN gc_op = 'CreateApiConfig' THEN 'route.create'
        WHEN gc_op LIKE 'Update%' THEN 'api.update'
        WHEN gc_op LIKE 'Delete%' THEN 'api.delete' END
    WHEN gc_op IN ('CreateFunction', 'CreateService') THEN 'function.create'
    WHEN gc_op IN ('UpdateFunction', 'UpdateService', 'ReplaceService') THEN
        CASE {_UPDATE_KIND} WHEN 'code' THEN 'function.update_code'
             WHEN 'config' THEN 'function.update_config' ELSE 'function.update' END
    WHEN gc_op IN ('DeleteFunction', 'DeleteService') THEN 'function.delete'
    WHEN gc_op IN ('ListFunctions', 'ListServices') THEN 'function.list'
    WHEN gc_op IN ('GetFunction', 'GetService', 'GetIamPolicy') THEN 'function.get'
    WHEN gc_op = 'CallFunction' THEN 'function.invoke'
    WHEN gc_op IN ('GenerateUploadUrl', 'GenerateDownloadUrl') THEN 'function.get'
    END"""

# A Cloud Functions (2nd gen) response names both the function's own URL (``url``,
# ``https://<region>-<project>.cloudfunctions.net/<name>``) and the Cloud Run service
# behind it (``serviceConfig.uri``, ``*.run.app``): the function's URL comes first, so that
# both entries of one operation name the same host.
_RUN_URL = """coalesce(TRY(json_extract_string(s.protoPayload.response, '$.uri')),
    TRY(json_extract_string(s.protoPayload.response, '$.status.url')),
    TRY(json_extract_string(s.protoPayload.response, '$.url')),
    TRY(json_extract_string(s.protoPayload.response, '$.serviceConfig.uri')))"""

DESTINATION = f"""coalesce({url_host(_RUN_URL)},
    CASE WHEN s.protoPayload.serviceName = 'cloudfunctions.googleapis.com'
              AND gc_project IS NOT NULL AND gc_region IS NOT NULL
         THEN lower(gc_region || '-' || gc_project || '.cloudfunctions.net') END)"""

DETAIL = """CASE
    WHEN len(gc_public_deltas) > 0 THEN array_to_string(list_transform(gc_public_deltas,
        x -> x.member || ' ' || x.role), ', ')
    WHEN len(gc_public_bindings) > 0 THEN array_to_string(list_transform(gc_public_bindings,
        x -> 'allUsers/allAuthenticatedUsers ' || x.role), ', ')
    WHEN gc_op IN ('UpdateFunction', 'UpdateService', 'ReplaceService')
         AND gc_mask IS NOT NULL
         THEN 'fields ' || replace(gc_mask, ',', ', ')
    END"""

_EMAIL = "s.protoPayload.authenticationInfo.principalEmail"

COLUMNS: dict[str, str] = {
    "event_action": "s.protoPayload.methodName",
    "event_outcome": """CASE WHEN coalesce(s.protoPayload.status.code, '0') = '0'
        THEN 'success' ELSE 'failure' END""",
    "event_id": "s.insertId",
    "event_correlation_id": "s.operation.id",
    "cloud_provider": "'gcp'",
    "cloud_account_id": "gc_project",
    "cloud_region": "gc_region",
    "cloud_service": "s.protoPayload.serviceName",
    "actor_type": f"""CASE WHEN {_EMAIL} LIKE '%.gserviceaccount.com' THEN 'serviceAccount'
        WHEN {_EMAIL} IS NOT NULL THEN 'user' END""",
    "actor_id": f"coalesce(s.protoPayload.authenticationInfo.principalSubject, {_EMAIL})",
    "actor_name": _EMAIL,
    "actor_principal": f"lower({_EMAIL})",
    "source_ip": "s.protoPayload.requestMetadata.callerIp",
    "user_agent_original": "s.protoPayload.requestMetadata.callerSuppliedUserAgent",
    "action_normalized": ACTION,
    "target_name": """coalesce(
        NULLIF(regexp_extract(gc_res, '/(?:functions|services|apis|gateways)/([^/]+)', 1), ''),
        s.resource.labels.function_name, s.resource.labels.service_name)""",
    "target_id": "gc_res",
    "target_url": _RUN_URL,
    "destination_domain": DESTINATION,
    "change_detail": DETAIL,
    "request_parameters": "NULLIF(s.protoPayload.request, 'null')",
    "error_code": """CASE WHEN coalesce(s.protoPayload.status.code, '0') <> '0'
        THEN s.protoPayload.status.code END""",
    # System events carry a status message on success ("Ready condition status changed
    # to True for Service ..."): only a non-zero code makes it an error message.
    "error_message": """CASE WHEN coalesce(s.protoPayload.status.code, '0') <> '0'
        THEN NULLIF(s.protoPayload.status.message, '') END""",
}

MAPPING = RecordMapping(
    struct=STRUCT,
    route=ROUTE,
    label=LABEL,
    # ``gcloud logging read --format=json`` prints the entry's timestamp inside
    # ``protoPayload`` (no top-level ``timestamp``); sinks and the API put it at the top.
    timestamp="rh_ts(coalesce(s.timestamp, s.protoPayload.timestamp))",
    columns={"cloud_audit": COLUMNS},
    prelude=PRELUDE,
)


def _is_entry(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    payload = doc.get("protoPayload")
    return isinstance(payload, dict) and str(payload.get("@type", "")).endswith(
        "google.cloud.audit.AuditLog"
    )


class GcpAuditSource:
    """Google Cloud audit log entries (NDJSON, gcloud JSON arrays, entries:list)."""

    name = "gcp-audit.json"
    description = (
        "Google Cloud audit logs: LogEntry records with an AuditLog protoPayload "
        "(NDJSON, gcloud logging read --format=json arrays, entries:list responses)"
    )

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            entries = doc.get("entries")
            if isinstance(entries, list):
                return bool(entries) and _is_entry(entries[0])
            return _is_entry(doc)
        if head.json_layout is None:
            return False
        return '"protoPayload"' in head.text and "google.cloud.audit.AuditLog" in head.text

    def read(self, ctx: IngestContext) -> None:
        read_json(ctx, MAPPING, wrapper_keys=("entries",))


__all__ = ["MAPPING", "SERVICES", "STRUCT", "GcpAuditSource"]
