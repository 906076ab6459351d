"""Cloudflare account audit logs: Logpush (``audit_logs``, ``audit_logs_v2``) and the API.

References: Cloudflare Logs, "Audit Logs" dataset fields (``ActionResult`` bool,
``ActionType``, ``ActorEmail``, ``ActorID``, ``ActorIP``, ``ActorType``, ``ID``,
``Interface``, ``Metadata``, ``NewValue``, ``OldValue``, ``OwnerID``, ``ResourceID``,
``ResourceType``, ``When``) and "Audit Logs V2" dataset fields (``AccountID``,
``ActionDescription``, ``ActionResult`` string, ``ActionTimestamp``, ``ActionType``,
``ActorContext``, ``ActorEmail``, ``ActorID``, ``ActorIPAddress``, ``ActorType``,
``AuditLogID``, ``Raw`` {``method``, ``status_code``, ``uri``, ``user_agent``},
``ResourceID``, ``ResourceProduct``, ``ResourceRequest``, ``ResourceType`` ...);
API v4 ``GET /accounts/{id}/audit_logs`` (``{"result": [{"id", "action": {"type",
"result", "info"}, "actor": {"id", "email", "type", "ip"}, "owner": {"id"},
"resource": {"id", "type"}, "when", "metadata", "newValue", "oldValue"}],
"success": true}``) and the version 2 API ``GET /accounts/{id}/logs/audit``
(``account``, ``action`` {``description``, ``result``, ``time``, ``type``}, ``actor``
{``email``, ``id``, ``ip_address``, ``type``, ``context``}, ``raw``, ``resource``
{``id``, ``product``, ``request``, ``type``}).

Accepted layouts: Logpush NDJSON (gzip as delivered), API response pages, JSON arrays and
NDJSON of API records. Times may be RFC 3339 or Unix seconds / nanoseconds (Logpush
``timestamp_format``).

Only Workers records are stored in ``cloud_audit``: ``ResourceProduct`` ``workers*``,
a resource type naming a worker or script, or a request URI under ``/workers/``. Every
other record is counted as skipped (``cloudflare:<product or resource type>``).
A script upload (``PUT .../workers/scripts/<name>``, what ``wrangler deploy`` sends) is
``function.create`` when the action type is ``create`` and ``function.update_code``
otherwise; a Worker route is ``route.create``; enabling the script's ``workers.dev``
subdomain is ``function.public_access``; secrets are ``secret.update``.
"""

from __future__ import annotations

from typing import Any

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.cloud_common import epoch_or_iso, url_host
from relayhunt.sources.engine import RecordMapping, read_json

V = "VARCHAR"

_RAW: dict[str, Any] = {"method": V, "status_code": V, "uri": V, "user_agent": V}

# DuckDB struct fields are case-insensitive ("When" and "when" would be one field), so the
# Logpush and the API shapes are parsed with a structure each, chosen per file.
LOGPUSH_STRUCT: dict[str, Any] = {
    "ID": V,  # audit_logs
    "AuditLogID": V,  # audit_logs_v2
    "When": V,
    "ActionTimestamp": V,
    "ActionType": V,
    "ActionResult": V,
    "ActionDescription": V,
    "ActorEmail": V,
    "ActorID": V,
    "ActorIP": V,
    "ActorIPAddress": V,
    "ActorType": V,
    "AccountID": V,
    "OwnerID": V,
    "ResourceID": V,
    "ResourceType": V,
    "ResourceProduct": V,
    "ResourceRequest": V,
    "NewValue": V,
    "Raw": _RAW,
}

API_STRUCT: dict[str, Any] = {
    "id": V,
    "when": V,  # v4 audit_logs
    "action": {"type": V, "result": V, "time": V, "description": V, "info": V},
    "actor": {"id": V, "email": V, "type": V, "ip": V, "ip_address": V},
    "owner": {"id": V},
    "account": {"id": V},
    "resource": {"id": V, "type": V, "product": V, "request": V},
    "newValue": V,
    "raw": _RAW,
    "success": V,  # an API response page ({"result": [...], "success": true}) as a line
}

# Field -> SQL per shape.
_FIELDS: dict[str, dict[str, str]] = {
    "logpush": {
        "id": "coalesce(s.AuditLogID, s.ID)",
        "time": "coalesce(s.ActionTimestamp, s.When)",
        "type": "s.ActionType",
        "result": "s.ActionResult",
        "description": "s.ActionDescription",
        "email": "s.ActorEmail",
        "actor_id": "s.ActorID",
        "ip": "coalesce(s.ActorIPAddress, s.ActorIP)",
        "actor_type": "s.ActorType",
        "account": "s.AccountID",
        "owner": "s.OwnerID",
        "resource_id": "s.ResourceID",
        "rtype": "s.ResourceType",
        "product": "s.ResourceProduct",
        "request": "coalesce(s.ResourceRequest, s.NewValue)",
        "uri": "s.Raw.uri",
        "status": "s.Raw.status_code",
        "ua": "s.Raw.user_agent",
    },
    "api": {
        "id": "s.id",
        "time": "coalesce(s.action.time, s.when)",
        "type": "s.action.type",
        "result": "s.action.result",
        "description": "coalesce(s.action.description, s.action.info)",
        "email": "s.actor.email",
        "actor_id": "s.actor.id",
        "ip": "coalesce(s.actor.ip_address, s.actor.ip)",
        "actor_type": "s.actor.type",
        "account": "s.account.id",
        "owner": "s.owner.id",
        "resource_id": "s.resource.id",
        "rtype": "s.resource.type",
        "product": "s.resource.product",
        "request": "coalesce(s.resource.request, s.newValue)",
        "uri": "s.raw.uri",
        "status": "s.raw.status_code",
        "ua": "s.raw.user_agent",
    },
}

# Action types differ between versions (create / update / delete / view in v2; names such
# as script_update in v1): reduced to create, update, delete, view.
_VERB = """CASE
    WHEN contains(cf_type_raw, 'delete') OR contains(cf_type_raw, 'remove') THEN 'delete'
    WHEN contains(cf_type_raw, 'create') OR cf_type_raw IN ('add', 'upload', 'deploy')
         THEN 'create'
    WHEN contains(cf_type_raw, 'update') OR contains(cf_type_raw, 'edit')
         OR contains(cf_type_raw, 'upload') OR contains(cf_type_raw, 'deploy')
         OR contains(cf_type_raw, 'set') OR contains(cf_type_raw, 'change') THEN 'update'
    WHEN contains(cf_type_raw, 'view') OR contains(cf_type_raw, 'read')
         OR contains(cf_type_raw, 'get') OR contains(cf_type_raw, 'list') THEN 'view'
    END"""

_SUBDOMAIN_ON = """(contains(cf_uri, '/subdomain')
    AND coalesce(TRY(json_extract_string(cf_req, '$.enabled')), 'true') = 'true')"""

ACTION = f"""CASE
    WHEN contains(cf_uri, '/workers/scripts/') AND contains(cf_uri, '/subdomain')
         THEN CASE WHEN {_SUBDOMAIN_ON} AND cf_type IN ('create', 'update')
                   THEN 'function.public_access' ELSE 'function.permission' END
    WHEN contains(cf_uri, '/secrets') OR contains(cf_rtype, 'secret')
         THEN CASE WHEN cf_type = 'view' THEN 'secret.read' ELSE 'secret.update' END
    WHEN contains(cf_uri, '/routes') OR contains(cf_rtype, 'route')
         OR contains(cf_uri, '/workers/subdomain') OR contains(cf_uri, '/domains')
         THEN CASE WHEN cf_type IN ('create', 'update') THEN 'route.create' END
    WHEN contains(cf_uri, '/settings') OR contains(cf_rtype, 'setting')
         THEN CASE WHEN cf_type IN ('create', 'update') THEN 'function.update_config' END
    WHEN contains(cf_uri, '/deployments') OR contains(cf_uri, '/versions')
         THEN CASE WHEN cf_type IN ('create', 'update') THEN 'function.update_code' END
    WHEN cf_type = 'create' THEN 'function.create'
    WHEN cf_type = 'update' THEN 'function.update_code'
    WHEN cf_type = 'delete' THEN 'function.delete'
    WHEN cf_type = 'view' THEN 'function.get'
    END"""

_ROUTE_PATTERN = "TRY(json_extract_string(cf_req, '$.pattern'))"


def build_mapping(shape: str) -> RecordMapping:
    """The record mapping for the Logpush (``logpush``) or API (``api``) shape."""
    f = _FIELDS[shape]
    product = f"lower({f['product']})"
    rtype = f"lower({f['rtype']})"
    route = f"""CASE WHEN starts_with({product}, 'workers')
        OR contains({rtype}, 'worker') OR contains({rtype}, 'script')
        OR contains({f["uri"]}, '/workers/') THEN 'cloud_audit' END"""
    prelude = ", ".join(
        [
            f"lower({f['type']}) AS cf_type_raw",
            f"{rtype} AS cf_rtype",
            f"coalesce({f['uri']}, '') AS cf_uri",
            f"{f['request']} AS cf_req",
            f"regexp_extract({f['uri']}, '/workers/scripts/([^/?]+)', 1) AS cf_script",
        ]
    )
    result = f"lower({f['result']})"
    failed = f"{result} IN ('false', 'failure', 'fail')"
    detail = f"""CASE
        WHEN contains(cf_uri, '/subdomain') AND {_SUBDOMAIN_ON}
             THEN 'workers.dev subdomain enabled'
        WHEN {_ROUTE_PATTERN} IS NOT NULL THEN 'route ' || {_ROUTE_PATTERN}
             || coalesce(' -> ' || TRY(json_extract_string(cf_req, '$.script')), '')
        ELSE {f["description"]} END"""
    columns: dict[str, str] = {
        "event_action": f["type"],
        "event_outcome": f"""CASE WHEN {result} IN ('true', 'success') THEN 'success'
            WHEN {failed} THEN 'failure' END""",
        "event_id": f["id"],
        "cloud_provider": "'cloudflare'",
        "cloud_account_id": f"""coalesce({f["account"]},
            NULLIF(regexp_extract(cf_uri, '/accounts/([^/?]+)', 1), ''), {f["owner"]})""",
        "cloud_service": f"coalesce({product}, 'workers')",
        "actor_type": f["actor_type"],
        "actor_id": f["actor_id"],
        "actor_name": f["email"],
        "actor_principal": f"lower(coalesce({f['email']}, {f['actor_id']}))",
        "source_ip": f["ip"],
        "user_agent_original": f["ua"],
        "action_normalized": ACTION.replace("cf_type", f"({_VERB})").replace(
            f"({_VERB})_raw", "cf_type_raw"
        ),
        "target_name": f"""coalesce(NULLIF(cf_script, ''),
            TRY(json_extract_string(cf_req, '$.script')), {f["resource_id"]})""",
        "target_id": f["resource_id"],
        "destination_domain": url_host(_ROUTE_PATTERN),
        "change_detail": detail,
        "request_parameters": "NULLIF(NULLIF(cf_req, 'null'), '')",
        "error_code": f"CASE WHEN {failed} THEN coalesce({f['status']}, 'failure') END",
    }
    label = f"coalesce({product}, {rtype}, '(no resource type)')"
    if shape == "api":
        # An API response page among NDJSON records (an empty last page, as a paging
        # client appends it): not a record, but the engine reads it as one.
        label = f"""CASE WHEN s.success IS NOT NULL AND s.action IS NULL
            THEN '(API response page)' ELSE {label} END"""
    return RecordMapping(
        struct=LOGPUSH_STRUCT if shape == "logpush" else API_STRUCT,
        route=route,
        label=f"'cloudflare:' || {label}",
        timestamp=epoch_or_iso(f["time"]),
        columns={"cloud_audit": columns},
        prelude=prelude,
    )


LOGPUSH_MAPPING = build_mapping("logpush")
API_MAPPING = build_mapping("api")


def _is_logpush(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "ActionType" in doc
        and ("ActorEmail" in doc or "ActorID" in doc)
        and ("When" in doc or "ActionTimestamp" in doc)
    )


def _is_api_record(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    action, actor = doc.get("action"), doc.get("actor")
    if not isinstance(action, dict) or not isinstance(actor, dict) or "type" not in action:
        return False
    return "when" in doc or "time" in action


class CloudflareAuditSource:
    """Cloudflare account audit logs (Logpush v1/v2 NDJSON, API responses)."""

    name = "cloudflare-audit.json"
    description = (
        "Cloudflare audit logs: Logpush audit_logs / audit_logs_v2 NDJSON and API "
        "(v4 audit_logs, v2 logs/audit) responses"
    )

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            result = doc.get("result")
            if isinstance(result, list):
                return bool(result) and _is_api_record(result[0])
            return _is_logpush(doc) or _is_api_record(doc)
        if head.json_layout is None:
            return False
        text = head.text
        return ('"ActionType"' in text and '"ActorEmail"' in text) or (
            '"result"' in text and '"actor"' in text and '"action"' in text and '"when"' in text
        )

    def read(self, ctx: IngestContext) -> None:
        first = ctx.head.first_json if ctx.head is not None else None
        # API response pages one per line (a paging script appending each response) are
        # read page by page by read_json; such a first line is no Logpush record.
        api = (first is not None and not _is_logpush(first)) or (
            first is None and ctx.head is not None and '"ActionType"' not in ctx.head.text
        )
        read_json(ctx, API_MAPPING if api else LOGPUSH_MAPPING, wrapper_keys=("result",))


__all__ = ["API_MAPPING", "LOGPUSH_MAPPING", "CloudflareAuditSource", "build_mapping"]
