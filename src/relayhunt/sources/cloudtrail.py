"""AWS CloudTrail records: the files CloudTrail delivers to S3, NDJSON, single events.

References: CloudTrail User Guide, "CloudTrail record contents for management, data, and
network activity events" (``eventVersion``, ``userIdentity``, ``eventTime``,
``eventSource``, ``eventName``, ``awsRegion``, ``sourceIPAddress``, ``userAgent``,
``errorCode``, ``errorMessage``, ``requestParameters``, ``responseElements``,
``eventID``, ``recipientAccountId``, ``resources``), "CloudTrail userIdentity element"
(``type``, ``principalId``, ``arn``, ``accountId``, ``sessionContext.sessionIssuer``),
"CloudTrail log file examples" (``{"Records": [...]}``, gzip), "Logging AWS Lambda API
calls using AWS CloudTrail" (event names carry the API version: ``UpdateFunctionCode20150331v2``,
``AddPermission20150331v2``, ``CreateFunctionUrlConfig20211031``; ``Invoke`` is a data
event) and Amazon EventBridge, "AWS service events delivered via AWS CloudTrail"
(``{"detail-type": "AWS API Call via CloudTrail", "detail": {...}}``).

Accepted layouts: the S3 log file ``{"Records": [...]}`` (plain or gzip), a JSON array of
records, NDJSON (one record per line, as SIEM exports and ``jq -c '.Records[]'`` write),
a single (pretty-printed) record, EventBridge events wrapping a record in ``detail``, and
the event history as ``aws cloudtrail lookup-events`` prints it (``{"Events": [{"EventId":
..., "CloudTrailEvent": "<the record as JSON text>"}], "NextToken": ...}``, or its events
one per line as ``jq -c '.Events[]'`` writes them; CloudTrail API Reference, ``Event``).

Only the serverless control plane is stored in ``cloud_audit``: events of
``lambda.amazonaws.com``, ``apigateway.amazonaws.com`` and CloudFront Functions
(``cloudfront.amazonaws.com`` ``*Function`` calls). Every other event is counted as
skipped (``cloudtrail:<eventSource>``).

``action_normalized`` strips the API-version suffix and maps Lambda / API Gateway calls
(see docs/formats.md); ``AddPermission`` with principal ``*`` and a function URL with
``AuthType`` ``NONE`` become ``function.public_access``. A function URL host is read
from ``responseElements.functionUrl``; an API's ``execute-api`` host is built from its id
and region.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.engine import (
    RecordMapping,
    read_json,
)

V = "VARCHAR"

STRUCT: dict[str, Any] = {
    "eventVersion": V,
    "eventTime": V,
    "eventSource": V,
    "eventName": V,
    "awsRegion": V,
    "sourceIPAddress": V,
    "userAgent": V,
    "errorCode": V,
    "errorMessage": V,
    "eventID": V,
    "requestID": V,
    "recipientAccountId": V,
    "userIdentity": {
        "type": V,
        "principalId": V,
        "arn": V,
        "accountId": V,
        "userName": V,
        "invokedBy": V,
        "sessionContext": {"sessionIssuer": {"type": V, "arn": V, "userName": V}},
    },
    "requestParameters": V,
    "responseElements": V,
    "resources": [{"ARN": V, "type": V}],
}
"""The CloudTrail fields relayhunt reads; request and response stay JSON text."""

SERVICES = ("lambda.amazonaws.com", "apigateway.amazonaws.com", "cloudfront.amazonaws.com")

ROUTE = """CASE WHEN s.eventSource IN ('lambda.amazonaws.com', 'apigateway.amazonaws.com')
    OR (s.eventSource = 'cloudfront.amazonaws.com' AND s.eventName LIKE '%Function')
    THEN 'cloud_audit' END"""

LABEL = "'cloudtrail:' || coalesce(s.eventSource, '(no eventSource)')"

# Values several columns use, computed once per record (names ct_*).
PRELUDE = ", ".join(
    [
        # UpdateFunctionCode20150331v2 -> UpdateFunctionCode
        r"regexp_replace(s.eventName, '20[0-9]{6}(v[0-9]+)?$', '') AS ct_op",
        "s.requestParameters AS ct_req",
        "s.responseElements AS ct_resp",
        "TRY(json_extract_string(s.requestParameters, '$.functionName')) AS ct_fn",
        "TRY(json_extract_string(s.responseElements, '$.functionUrl')) AS ct_url",
    ]
)

# principal * narrowed by a condition (the caller's organization, account or source ARN)
# is not public: such grants stay function.permission.
_PUBLIC_PERMISSION = """(ct_op = 'AddPermission'
    AND TRY(json_extract_string(ct_req, '$.principal')) = '*'
    AND TRY(json_extract_string(ct_req, '$.principalOrgID')) IS NULL
    AND TRY(json_extract_string(ct_req, '$.sourceAccount')) IS NULL
    AND TRY(json_extract_string(ct_req, '$.sourceArn')) IS NULL)"""
_PUBLIC_URL = """(ct_op IN ('CreateFunctionUrlConfig', 'UpdateFunctionUrlConfig')
    AND upper(coalesce(TRY(json_extract_string(ct_req, '$.authType')),
                       TRY(json_extract_string(ct_resp, '$.authType')))) = 'NONE')"""

ACTION = f"""CASE
    WHEN s.eventSource = 'lambda.amazonaws.com' THEN CASE
        WHEN ct_op = 'CreateFunction' THEN 'function.create'
        WHEN ct_op = 'UpdateFunctionCode' THEN 'function.update_code'
        WHEN ct_op = 'UpdateFunctionConfiguration' THEN 'function.update_config'
        WHEN ct_op = 'DeleteFunction' THEN 'function.delete'
        WHEN {_PUBLIC_PERMISSION} OR {_PUBLIC_URL} THEN 'function.public_access'
        WHEN ct_op IN ('AddPermission', 'CreateFunctionUrlConfig', 'UpdateFunctionUrlConfig',
                       'RemovePermission', 'DeleteFunctionUrlConfig')
             THEN 'function.permission'
        WHEN ct_op = 'ListFunctions' THEN 'function.list'
        WHEN ct_op IN ('GetFunction', 'GetFunctionConfiguration', 'GetFunctionUrlConfig',
                       'GetPolicy', 'ListFunctionUrlConfigs') THEN 'function.get'
        WHEN ct_op IN ('Invoke', 'InvokeFunction', 'InvokeAsync', 'InvokeWithResponseStream')
             THEN 'function.invoke'
        WHEN ct_op IN ('PublishVersion', 'CreateAlias', 'UpdateAlias') THEN 'function.publish'
        WHEN ct_op = 'PublishLayerVersion' THEN 'layer.publish'
        END
    WHEN s.eventSource = 'apigateway.amazonaws.com' THEN CASE
        WHEN ct_op IN ('CreateRestApi', 'CreateApi', 'ImportRestApi', 'ImportApi')
             THEN 'api.create'
        WHEN ct_op IN ('CreateRoute', 'CreateResource', 'PutMethod', 'PutIntegration',
                       'CreateIntegration', 'CreateDeployment', 'CreateStage')
             THEN 'route.create'
        WHEN ct_op LIKE 'Delete%Api' THEN 'api.delete'
        WHEN ct_op LIKE 'Update%' OR ct_op LIKE 'Put%' THEN 'api.update'
        WHEN ct_op LIKE 'Get%' THEN 'function.list'
        END
    WHEN s.eventSource = 'cloudfront.amazonaws.com' THEN CASE ct_op
        WHEN 'CreateFunction' THEN 'function.create'
        WHEN 'UpdateFunction' THEN 'function.update_code'
        WHEN 'PublishFunction' THEN 'function.publish'
        WHEN 'DeleteFunction' THEN 'function.delete'
        WHEN 'ListFunctions' THEN 'function.list'
        WHEN 'TestFunction' THEN 'function.invoke' END
    END"""

_RESOURCE_ARN = "list_filter(s.resources, x -> x.ARN LIKE 'arn:%:function:%')[1].ARN"
TARGET_ID = f"""coalesce(
    TRY(json_extract_string(ct_resp, '$.functionArn')),
    CASE WHEN starts_with(ct_fn, 'arn:') THEN ct_fn END,
    {_RESOURCE_ARN},
    CASE WHEN ct_fn IS NOT NULL AND s.awsRegion IS NOT NULL
              AND coalesce(s.recipientAccountId, s.userIdentity.accountId) IS NOT NULL
         THEN 'arn:aws:lambda:' || s.awsRegion || ':'
              || coalesce(s.recipientAccountId, s.userIdentity.accountId) || ':function:'
              || regexp_extract(ct_fn, '([^:]+)$', 1) END,
    TRY(json_extract_string(ct_resp, '$.apiId')),
    TRY(json_extract_string(ct_resp, '$.id')),
    TRY(json_extract_string(ct_req, '$.restApiId')),
    TRY(json_extract_string(ct_req, '$.apiId')))"""

# functionName is a name, a partial ARN (123456789012:function:name) or an ARN, with an
# optional :qualifier; an ARN in resources names invocations (data events).
TARGET_NAME = f"""coalesce(
    NULLIF(regexp_extract(coalesce(ct_fn, {_RESOURCE_ARN}), '(?:^|:function:)([^:]+)(?::[^:]+)?$',
                          1), ''),
    TRY(json_extract_string(ct_req, '$.name')),
    TRY(json_extract_string(ct_req, '$.createDistributionRequest.name')),
    TRY(json_extract_string(ct_resp, '$.name')))"""

_API_ID = """coalesce(TRY(json_extract_string(ct_req, '$.restApiId')),
    TRY(json_extract_string(ct_req, '$.apiId')),
    CASE WHEN ct_op IN ('CreateRestApi', 'CreateApi', 'ImportRestApi', 'ImportApi')
         THEN coalesce(TRY(json_extract_string(ct_resp, '$.id')),
                       TRY(json_extract_string(ct_resp, '$.apiId'))) END)"""

DESTINATION = f"""rh_host(coalesce(
    NULLIF(regexp_extract(ct_url, '^[A-Za-z]+://([^/:?#]+)', 1), ''),
    CASE WHEN s.eventSource = 'apigateway.amazonaws.com' AND {_API_ID} IS NOT NULL
              AND s.awsRegion IS NOT NULL
         THEN {_API_ID} || '.execute-api.' || s.awsRegion || '.amazonaws.com' END))"""

DETAIL = f"""CASE
    WHEN {_PUBLIC_PERMISSION} THEN 'resource policy grants principal * '
        || coalesce(TRY(json_extract_string(ct_req, '$.action')), 'lambda:InvokeFunction')
        || CASE WHEN TRY(json_extract_string(ct_req, '$.functionUrlAuthType')) IS NOT NULL
                THEN ' (FunctionUrlAuthType '
                     || TRY(json_extract_string(ct_req, '$.functionUrlAuthType')) || ')'
                ELSE '' END
    WHEN {_PUBLIC_URL} THEN 'function URL with AuthType NONE'
    WHEN ct_op = 'AddPermission' AND TRY(json_extract_string(ct_req, '$.principal')) = '*'
        THEN 'resource policy grants principal * limited to ' || concat_ws(', ',
            'organization ' || TRY(json_extract_string(ct_req, '$.principalOrgID')),
            'account ' || TRY(json_extract_string(ct_req, '$.sourceAccount')),
            'source ' || TRY(json_extract_string(ct_req, '$.sourceArn')))
    WHEN ct_op = 'UpdateFunctionConfiguration' THEN NULLIF(concat_ws(', ',
        CASE WHEN TRY(json_extract(ct_req, '$.layers')) IS NOT NULL
             THEN 'layers ' || CAST(json_extract(ct_req, '$.layers') AS VARCHAR) END,
        CASE WHEN TRY(json_extract(ct_req, '$.environment')) IS NOT NULL
             THEN 'environment changed' END,
        CASE WHEN TRY(json_extract_string(ct_req, '$.role')) IS NOT NULL
             THEN 'role ' || json_extract_string(ct_req, '$.role') END,
        CASE WHEN TRY(json_extract_string(ct_req, '$.handler')) IS NOT NULL
             THEN 'handler ' || json_extract_string(ct_req, '$.handler') END), '')
    WHEN ct_op = 'UpdateFunctionCode' THEN NULLIF(concat_ws(', ', 'code replaced',
        CASE WHEN TRY(json_extract_string(ct_req, '$.s3Bucket')) IS NOT NULL
             THEN 'from s3://' || json_extract_string(ct_req, '$.s3Bucket') || '/'
                  || coalesce(TRY(json_extract_string(ct_req, '$.s3Key')), '') END,
        CASE WHEN TRY(json_extract_string(ct_req, '$.imageUri')) IS NOT NULL
             THEN 'image ' || json_extract_string(ct_req, '$.imageUri') END), '')
    END"""

ACTOR_PRINCIPAL = """CASE
    WHEN s.userIdentity.type = 'AssumedRole'
         THEN coalesce(s.userIdentity.sessionContext.sessionIssuer.arn, s.userIdentity.arn)
    WHEN s.userIdentity.type = 'AWSService' THEN s.userIdentity.invokedBy
    ELSE coalesce(s.userIdentity.arn, s.userIdentity.userName, s.userIdentity.principalId) END"""

COLUMNS: dict[str, str] = {
    "event_action": "s.eventName",
    "event_outcome": "CASE WHEN s.errorCode IS NOT NULL THEN 'failure' ELSE 'success' END",
    "event_id": "s.eventID",
    "event_correlation_id": "s.requestID",
    "cloud_provider": "'aws'",
    "cloud_account_id": "coalesce(s.recipientAccountId, s.userIdentity.accountId)",
    "cloud_region": "s.awsRegion",
    "cloud_service": "s.eventSource",
    "actor_type": "s.userIdentity.type",
    "actor_id": "s.userIdentity.principalId",
    "actor_name": "coalesce(s.userIdentity.arn, s.userIdentity.invokedBy)",
    "actor_principal": ACTOR_PRINCIPAL,
    "source_ip": "s.sourceIPAddress",
    "user_agent_original": "s.userAgent",
    "action_normalized": ACTION,
    "target_name": TARGET_NAME,
    "target_id": TARGET_ID,
    "target_url": "ct_url",
    "destination_domain": DESTINATION,
    "change_detail": DETAIL,
    "request_parameters": "NULLIF(ct_req, 'null')",
    "error_code": "s.errorCode",
    "error_message": "s.errorMessage",
}

MAPPING = RecordMapping(
    struct=STRUCT,
    route=ROUTE,
    label=LABEL,
    timestamp="rh_ts(s.eventTime)",
    columns={"cloud_audit": COLUMNS},
    prelude=PRELUDE,
)

# The event history (``lookup-events``): the record is parsed out of ``CloudTrailEvent``.
# Where that text is not a readable record, the event itself remains (it still has
# ``CloudTrailEvent``): it is routed on, and so rejected for want of the record's time,
# an error with its place rather than a skipped record.
LOOKUP_MAPPING = replace(
    MAPPING,
    struct={**STRUCT, "CloudTrailEvent": V},
    route=f"CASE WHEN s.CloudTrailEvent IS NOT NULL THEN 'cloud_audit' ELSE ({ROUTE}) END",
    label=f"""CASE WHEN s.CloudTrailEvent IS NOT NULL
        THEN 'cloudtrail:event history entry whose CloudTrailEvent is not a readable record'
        ELSE {LABEL} END""",
    unwrap="$.CloudTrailEvent",
)


def _is_record(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "eventSource" in doc
        and "eventName" in doc
        and ("eventTime" in doc or "userIdentity" in doc or "eventVersion" in doc)
    )


def _is_lookup_event(doc: Any) -> bool:
    """An event of ``LookupEvents`` (the event history): the record is JSON text."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("CloudTrailEvent"), str)
        and ("EventName" in doc or "EventSource" in doc or "EventId" in doc)
    )


def _is_eventbridge(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and str(doc.get("detail-type", "")).endswith("via CloudTrail")
        and _is_record(doc.get("detail"))
    )


class CloudTrailSource:
    """AWS CloudTrail records (S3 log files, arrays, NDJSON, EventBridge events, the
    event history)."""

    name = "cloudtrail.json"
    description = (
        "AWS CloudTrail: S3 log files {Records: [...]} (gzip), arrays, NDJSON, single "
        "records, EventBridge 'AWS API Call via CloudTrail' events and lookup-events output"
    )

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            records = doc.get("Records")
            if isinstance(records, list):
                return bool(records) and _is_record(records[0])
            events = doc.get("Events")
            if isinstance(events, list):
                return bool(events) and _is_lookup_event(events[0])
            return _is_record(doc) or _is_eventbridge(doc) or _is_lookup_event(doc)
        if head.json_layout is None:
            return False
        # A log file too large for the head to parse.
        text = head.text
        if '"CloudTrailEvent"' in text and ('"EventName"' in text or '"EventSource"' in text):
            return True
        return (
            '"eventSource"' in text
            and '"eventName"' in text
            and ('"Records"' in text or '"userIdentity"' in text or '"detail-type"' in text)
        )

    def read(self, ctx: IngestContext) -> None:
        # EventBridge wraps the record in "detail"; unwrapping costs a second parse per
        # record, so it is used only for files that look like that.
        text = ctx.head.text if ctx.head is not None else ""
        mapping = MAPPING
        if '"CloudTrailEvent"' in text:
            mapping = LOOKUP_MAPPING  # the event history: each record is JSON text
        elif '"detail-type"' in text:
            # EventBridge wraps the record in "detail"; unwrapping costs a second parse per
            # record, so it is used only for files that look like that.
            mapping = replace(MAPPING, unwrap="$.detail")
        # An S3 log file is one line holding {"Records": [...]} (log files concatenated
        # with zcat: one per line); read_json reads such lines as documents.
        read_json(ctx, mapping, wrapper_keys=("Records", "records", "Events", "events"))


__all__ = ["MAPPING", "SERVICES", "STRUCT", "CloudTrailSource"]
