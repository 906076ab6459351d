"""Azure Activity Log: exported records (storage / Event Hub) and the REST API shape.

References: Azure Monitor, "Azure Monitor activity log schema" (the REST / ``az monitor
activity-log list`` event: ``authorization``, ``caller``, ``claims``, ``eventDataId``,
``eventTimestamp``, ``httpRequest.clientIpAddress``, ``operationName`` {``value``,
``localizedValue``}, ``resourceId``, ``status`` {``value``}, ``subStatus``,
``subscriptionId``, ``properties``) and its "Schema from storage account and event hubs"
section (``{"records": [...]}`` with ``time``, ``resourceId``, ``operationName`` as a
string, ``category``, ``resultType``, ``resultSignature``, ``callerIpAddress``,
``identity`` {``authorization``, ``claims``}, ``properties``); Azure resource provider
operations for ``Microsoft.Web`` (``MICROSOFT.WEB/SITES/WRITE``,
``Microsoft.Web/sites/functions/write``, ``Microsoft.Web/sites/host/functionKeys/write``,
``Microsoft.Web/sites/publishxml/action``, ``Microsoft.Web/sites/config/write``,
``Microsoft.Web/sites/extensions/write`` ...).

Accepted layouts: ``{"records": [...]}`` documents (one per line in storage exports, or
pretty-printed), NDJSON of records or REST events, ``{"value": [...]}`` REST pages and
JSON arrays.

Only ``Microsoft.Web`` operations (Functions and App Service) go to ``cloud_audit``;
others are counted as skipped (``azure:<resource provider>``), and so are the
intermediate ``Accepted`` / ``Active`` / ``In Progress`` entries of long-running
operations (``azure:Accepted``). An operation's ``Start`` entry is kept (outcome
``started``): it alone carries the request body, which :func:`operations_sql` joins to
the final ``Succeeded`` / ``Failed`` entry by ``correlationId`` when ``cloud_obs`` is
built. The target's hostname is
``<site>.azurewebsites.net`` (apps created with a unique default hostname have
``<site>-<hash>.<region>-01.azurewebsites.net`` instead, which the log does not give).
"""

from __future__ import annotations

from typing import Any

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.engine import (
    RecordMapping,
    read_json,
)

V = "VARCHAR"

STRUCT: dict[str, Any] = {
    # REST API / az CLI shape
    "eventTimestamp": V,
    "eventDataId": V,
    "caller": V,
    "subscriptionId": V,
    "operationName": V,  # a string in records, {"value", "localizedValue"} in REST
    "status": V,
    "subStatus": V,
    "httpRequest": {"clientIpAddress": V},
    "claims": V,
    # storage / Event Hub records
    "time": V,
    "resourceId": V,
    "resultType": V,
    "resultSignature": V,
    "callerIpAddress": V,
    "correlationId": V,
    "identity": {"claims": V},
    "category": V,
    "properties": V,
}

PRELUDE = ", ".join(
    [
        # operationName / status: "X" or {"value": "X", "localizedValue": ...}
        """upper(CASE WHEN starts_with(ltrim(s.operationName), '{')
            THEN TRY(json_extract_string(s.operationName, '$.value'))
            ELSE s.operationName END) AS az_op""",
        """CASE WHEN starts_with(ltrim(s.status), '{')
            THEN TRY(json_extract_string(s.status, '$.value'))
            ELSE coalesce(s.status, s.resultType) END AS az_status""",
        "coalesce(s.claims, s.identity.claims) AS az_claims",
        "upper(s.resourceId) AS az_rid",
        """coalesce(TRY(json_extract_string(s.properties, '$.requestbody')),
            TRY(json_extract_string(s.properties, '$.requestBody'))) AS az_body""",
    ]
)

_OP = """upper(CASE WHEN starts_with(ltrim(s.operationName), '{')
    THEN TRY(json_extract_string(s.operationName, '$.value')) ELSE s.operationName END)"""
_STATUS = """CASE WHEN starts_with(ltrim(s.status), '{')
    THEN TRY(json_extract_string(s.status, '$.value')) ELSE coalesce(s.status, s.resultType) END"""

# The Start entry of an operation is kept (it alone carries the request body); the
# intermediate Accepted / Active / In Progress entries of long-running operations are not.
_INTERMEDIATE = "('Accepted', 'Accept', 'Active', 'In Progress')"

# App Service / Functions resource logs (diagnostic settings: AppServiceConsoleLogs,
# AppServiceHTTPLogs, FunctionAppLogs ...) share the records envelope and the provider
# (``Microsoft.Web/sites/log``, ``Microsoft.Web/sites/functions/log``) but are what the
# app printed or served, not control-plane calls: they are skipped under their category.
_RESOURCE_LOG = f"""(coalesce(ends_with({_OP}, '/LOG'), false)
    OR starts_with(upper(coalesce(s.category, '')), 'APPSERVICE')
    OR upper(coalesce(s.category, '')) = 'FUNCTIONAPPLOGS')"""

ROUTE = f"""CASE WHEN starts_with({_OP}, 'MICROSOFT.WEB/')
    AND coalesce({_STATUS}, '') NOT IN {_INTERMEDIATE}
    AND NOT {_RESOURCE_LOG}
    THEN 'cloud_audit' END"""

LABEL = f"""'azure:' || CASE
    WHEN {_RESOURCE_LOG} THEN coalesce(s.category, 'resource log')
    WHEN {_STATUS} IN {_INTERMEDIATE} THEN {_STATUS}
    ELSE coalesce(split_part({_OP}, '/', 1), '(no operationName)') END"""

_ANON = """regexp_matches(coalesce(az_body, ''), '(?i)"authLevel"\\s*:\\s*"anonymous"')"""
_CORS_ANY = (
    """regexp_matches(coalesce(az_body, ''), '(?i)"allowedOrigins"\\s*:\\s*\\[[^\\]]*"\\*"')"""
)

ACTION = f"""CASE
    WHEN az_op LIKE '%/FUNCTIONKEYS/WRITE' OR az_op LIKE '%/HOST/%/KEYS/WRITE'
         OR az_op LIKE '%/FUNCTIONS/KEYS/WRITE' OR az_op LIKE '%/SYSTEMKEYS/WRITE'
         OR ((az_op LIKE '%/FUNCTIONS/WRITE' OR az_op LIKE '%/CONFIG/WRITE'
              OR az_op = 'MICROSOFT.WEB/SITES/WRITE') AND ({_ANON} OR {_CORS_ANY}))
         THEN 'function.public_access'
    WHEN az_op LIKE '%/PUBLISHXML/ACTION' OR az_op LIKE '%/CONFIG/LIST/ACTION'
         OR az_op LIKE '%/LISTKEYS/ACTION' OR az_op LIKE '%/LISTSECRETS/ACTION'
         THEN 'secret.read'
    WHEN az_op LIKE '%/FUNCTIONS/WRITE' OR az_op LIKE '%ZIPDEPLOY%'
         OR az_op LIKE '%/EXTENSIONS/WRITE' OR az_op LIKE '%/SOURCECONTROLS/WRITE'
         OR az_op LIKE '%/DEPLOYMENTS/WRITE' OR az_op LIKE '%/SYNCFUNCTIONTRIGGERS/ACTION'
         THEN 'function.update_code'
    WHEN az_op LIKE '%/CONFIG/WRITE' OR az_op LIKE '%/APPSETTINGS/WRITE'
         THEN 'function.update_config'
    WHEN az_op IN ('MICROSOFT.WEB/SITES/WRITE', 'MICROSOFT.WEB/SITES/SLOTS/WRITE')
         THEN 'function.update'
    WHEN az_op IN ('MICROSOFT.WEB/SITES/DELETE', 'MICROSOFT.WEB/SITES/FUNCTIONS/DELETE')
         THEN 'function.delete'
    WHEN az_op LIKE '%/FUNCTIONS/READ' OR az_op = 'MICROSOFT.WEB/SITES/READ'
         THEN 'function.list'
    END"""

_SITE = "NULLIF(regexp_extract(az_rid, '/PROVIDERS/MICROSOFT\\.WEB/SITES/([^/]+)', 1), '')"
_FN = "NULLIF(regexp_extract(az_rid, '/FUNCTIONS/([^/]+)', 1), '')"

DETAIL = f"""CASE
    WHEN az_op LIKE '%KEYS/WRITE' THEN 'function key written (' || lower(az_op) || ')'
    WHEN {_ANON} THEN 'authLevel anonymous'
    WHEN {_CORS_ANY} THEN 'CORS allowedOrigins *'
    WHEN az_op LIKE '%/PUBLISHXML/ACTION' THEN 'publishing profile (deployment credentials) read'
    END"""

_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"

_ERROR_CODE = """coalesce(
    TRY(json_extract_string(TRY(json_extract_string(s.properties, '$.statusMessage')),
                            '$.error.code')),
    CASE WHEN starts_with(ltrim(s.subStatus), '{')
         THEN NULLIF(TRY(json_extract_string(s.subStatus, '$.value')), '')
         ELSE NULLIF(s.subStatus, '') END,
    TRY(json_extract_string(s.properties, '$.statusCode')),
    s.resultSignature)"""

COLUMNS: dict[str, str] = {
    "event_action": """CASE WHEN starts_with(ltrim(s.operationName), '{')
        THEN TRY(json_extract_string(s.operationName, '$.value')) ELSE s.operationName END""",
    "event_outcome": """CASE WHEN az_status IN ('Succeeded', 'Success') THEN 'success'
        WHEN az_status IN ('Failed', 'Failure') THEN 'failure'
        WHEN az_status IN ('Started', 'Start') THEN 'started' END""",
    "event_id": "coalesce(s.eventDataId, s.correlationId)",
    "event_correlation_id": "s.correlationId",
    "cloud_provider": "'azure'",
    "cloud_account_id": """lower(coalesce(s.subscriptionId,
        NULLIF(regexp_extract(s.resourceId, '(?i)^/subscriptions/([^/]+)', 1), '')))""",
    "cloud_service": "'microsoft.web'",
    "actor_type": f"""CASE WHEN contains(coalesce(s.caller,
            TRY(json_extract_string(az_claims, '$."{_UPN}"')), ''), '@') THEN 'user'
        WHEN coalesce(s.caller, TRY(json_extract_string(az_claims, '$.appid'))) IS NOT NULL
        THEN 'servicePrincipal' END""",
    "actor_id": f"""coalesce(TRY(json_extract_string(az_claims, '$."{_OID}"')),
        TRY(json_extract_string(az_claims, '$.appid')))""",
    "actor_name": f"""coalesce(s.caller, TRY(json_extract_string(az_claims, '$."{_UPN}"')),
        TRY(json_extract_string(az_claims, '$.appid')))""",
    "actor_principal": f"""lower(coalesce(s.caller,
        TRY(json_extract_string(az_claims, '$."{_UPN}"')),
        TRY(json_extract_string(az_claims, '$.appid'))))""",
    "source_ip": "coalesce(s.httpRequest.clientIpAddress, s.callerIpAddress)",
    "action_normalized": ACTION,
    "target_name": f"lower(CASE WHEN {_FN} IS NOT NULL THEN {_SITE} || '/' || {_FN} "
    f"ELSE {_SITE} END)",
    "target_id": "s.resourceId",
    "destination_domain": f"lower({_SITE}) || '.azurewebsites.net'",
    "change_detail": DETAIL,
    "request_parameters": "az_body",
    "error_code": f"""CASE WHEN az_status IN ('Failed', 'Failure') THEN {_ERROR_CODE} END""",
    "error_message": """CASE WHEN az_status IN ('Failed', 'Failure') THEN
        coalesce(TRY(json_extract_string(TRY(json_extract_string(s.properties,
            '$.statusMessage')), '$.error.message')),
            TRY(json_extract_string(s.properties, '$.statusMessage'))) END""",
}

# Well-known first-party client application ids (the token's appid claim): Microsoft
# Entra, "Verify first-party Microsoft applications in sign-in reports"; the same ids
# are the public clients the tools sign in with (azure-cli, Az PowerShell, VS Code's
# Microsoft authentication provider).
CLIENT_APPS: dict[str, str] = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Azure PowerShell",
    "14d82eec-204b-4c2f-b7e8-296a70dab67e": "Microsoft Graph Command Line Tools",
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c": "Azure portal",
    "aebc6443-996d-45c2-90f0-388ff96faa56": "Visual Studio Code",
}

_APPID = "lower(TRY(json_extract_string(az_claims, '$.appid')))"
COLUMNS["client_app"] = (
    f"CASE {_APPID} "
    + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CLIENT_APPS.items())
    + f" ELSE 'appid ' || {_APPID} END"
)

MAPPING = RecordMapping(
    struct=STRUCT,
    route=ROUTE,
    label=LABEL,
    timestamp="rh_ts(coalesce(s.eventTimestamp, s.time))",
    columns={"cloud_audit": COLUMNS},
    prelude=PRELUDE,
)


def operations_sql(source: str = "cloud_audit") -> str:
    """``source`` (rows of the ``cloud_audit`` schema) with each Azure operation's entries
    made one row.

    The Activity Log writes an operation as a ``Start`` entry, which alone carries the
    request body (``properties.requestbody``), and a final ``Success`` / ``Failure``
    entry with the outcome, sharing a ``correlationId``. The final entry takes the body
    of the latest Start entry before it with the same correlation id, operation and
    resource (an ASOF join: one ARM deployment runs many operations under one
    correlation id), and its ``action_normalized`` and ``change_detail`` are recomputed
    from that body, so that an ``authLevel`` of ``anonymous`` or a CORS ``*`` written in
    the request is seen on the record whose outcome says it took effect. A Start entry
    that found its final entry is dropped; one that did not stays, with the outcome
    ``started`` (the result is not in the data). Other providers' rows pass unchanged.
    """
    pair = (
        "cloud_provider = 'azure' AND event_correlation_id IS NOT NULL "
        "AND event_outcome IN ('success', 'failure', 'started')"
    )
    return f"""
    WITH rows AS (SELECT * FROM {source}),
    starts AS (
      SELECT event_correlation_id AS k_corr, upper(event_action) AS k_op,
             upper(coalesce(target_id, '')) AS k_target, timestamp AS k_ts,
             request_parameters AS start_body, event_id AS start_id,
             log_file_path AS start_file, coalesce(log_line, log_record) AS start_pos
      FROM rows
      WHERE cloud_provider = 'azure' AND event_outcome = 'started'
        AND event_correlation_id IS NOT NULL
    ),
    finals AS (
      SELECT *, upper(event_action) AS k_op, upper(coalesce(target_id, '')) AS k_target
      FROM rows
      WHERE cloud_provider = 'azure' AND event_outcome IN ('success', 'failure')
        AND event_correlation_id IS NOT NULL
    ),
    joined AS (
      SELECT f.* EXCLUDE (k_op, k_target), s.start_body, s.start_id, s.start_file,
             s.start_pos, upper(f.event_action) AS az_op,
             coalesce(f.request_parameters, s.start_body) AS az_body
      FROM finals f ASOF LEFT JOIN starts s
        ON f.event_correlation_id = s.k_corr AND f.k_op = s.k_op
       AND f.k_target = s.k_target AND f.timestamp >= s.k_ts
    ),
    used AS (
      SELECT DISTINCT start_file, start_pos, start_id FROM joined WHERE start_id IS NOT NULL
    )
    SELECT * FROM rows WHERE NOT ({pair})
    UNION ALL BY NAME
    SELECT * EXCLUDE (start_body, start_id, start_file, start_pos, az_op, az_body)
           REPLACE (az_body AS request_parameters, {ACTION} AS action_normalized,
                    coalesce({DETAIL}, change_detail) AS change_detail)
    FROM joined
    UNION ALL BY NAME
    SELECT r.* FROM rows r
    WHERE r.cloud_provider = 'azure' AND r.event_outcome = 'started'
      AND r.event_correlation_id IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM used u
        WHERE u.start_id IS NOT DISTINCT FROM r.event_id
          AND u.start_file IS NOT DISTINCT FROM r.log_file_path
          AND u.start_pos IS NOT DISTINCT FROM coalesce(r.log_line, r.log_record))"""


def _op(doc: dict[str, Any]) -> str:
    op = doc.get("operationName")
    if isinstance(op, dict):
        op = op.get("value")
    return str(op or "")


def _is_event(doc: Any) -> bool:
    if not isinstance(doc, dict) or "/" not in _op(doc):
        return False
    if "category" in doc and str(doc.get("category", "")).startswith("AdvancedHunting"):
        return False  # Defender streaming API records share the envelope
    return "resourceId" in doc and ("eventTimestamp" in doc or "time" in doc)


class AzureActivitySource:
    """Azure Activity Log events (records exports, REST API / az CLI output)."""

    name = "azure-activity.json"
    description = (
        "Azure Activity Log: storage / Event Hub {records: [...]} exports, REST API "
        "{value: [...]} pages, az CLI arrays, NDJSON"
    )

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            for key in ("records", "value"):
                inner = doc.get(key)
                if isinstance(inner, list):
                    return bool(inner) and _is_event(inner[0])
            return _is_event(doc)
        if head.json_layout is None:
            return False
        text = head.text
        return (
            '"operationName"' in text
            and '"resourceId"' in text
            and ('"eventTimestamp"' in text or '"callerIpAddress"' in text)
        )

    def read(self, ctx: IngestContext) -> None:
        # Storage exports hold one {"records": [...]} document per line: read_json reads
        # such lines as documents.
        read_json(ctx, MAPPING, wrapper_keys=("records", "value"))


__all__ = ["CLIENT_APPS", "MAPPING", "STRUCT", "AzureActivitySource", "operations_sql"]
