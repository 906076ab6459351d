"""The normalized schema: one typed table per event kind, plus ``ingest_issues``.

Column names are ECS field names with ``.`` replaced by ``_`` (``process.command_line`` ->
``process_command_line``) so that every SQL dialect relayhunt targets (DuckDB, Spark SQL)
can use them unquoted. ``Column.ecs`` keeps the ECS name for exports and documentation.

All timestamps are ``TIMESTAMP`` (microsecond precision) holding UTC. Readers convert
vendor times (ISO 8601 with offsets, epoch seconds / milliseconds, FILETIME) to UTC before
a row enters the store; a record whose time cannot be read is rejected into
``ingest_issues``, never stored with a null time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    """One column of a normalized table."""

    name: str
    sql_type: str
    ecs: str
    doc: str

    @property
    def ddl_type(self) -> str:
        return EVIDENCE_SQL_TYPE if self.sql_type == "EVIDENCE[]" else self.sql_type

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.sql_type]


_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR[]": pa.list_(pa.string()),
}


# ECS field names whose last part has an underscore of its own.
_ECS_WORDS = (
    "command_line",
    "entity_id",
    "working_directory",
    "resolved_ip",
    "response_code",
    "status_code",
    "user_agent",
    "first_seen",
    "last_seen",
    "event_count",
    "rule_ids",
    "finding_ids",
    "risk_score",
)


def _ecs_name(name: str) -> str:
    dotted = name.replace("_", ".")
    for word in _ECS_WORDS:
        dotted = dotted.replace(word.replace("_", "."), word)
    return dotted


def _c(name: str, sql_type: str, doc: str, ecs: str | None = None) -> Column:
    return Column(name, sql_type, ecs or _ecs_name(name), doc)


# Columns every event table carries, in this order, first.
COMMON: Final[tuple[Column, ...]] = (
    _c("timestamp", "TIMESTAMP", "When the event happened, UTC, microseconds.", "@timestamp"),
    _c(
        "event_action",
        "VARCHAR",
        "Vendor event name or action (e.g. ProcessRollup2, "
        "ConnectionSuccess, connection_attempted, Sysmon 'Network connection detected').",
    ),
    _c("event_code", "VARCHAR", "Vendor event id where the product has one (Sysmon EventID)."),
    _c("event_outcome", "VARCHAR", "success | failure | unknown, where the source says."),
    _c(
        "event_id",
        "VARCHAR",
        "Vendor record id (EVTX EventRecordID, Zeek uid, Defender "
        "ReportId, Falcon id) for pivoting back to the original.",
    ),
    _c("host_name", "VARCHAR", "Host (computer) name as the source records it."),
    _c(
        "host_id",
        "VARCHAR",
        "Sensor/agent/device id (Falcon aid, Defender DeviceId, Elastic agent id).",
    ),
    _c("user_name", "VARCHAR", "Account name of the acting user, without domain."),
    _c("user_domain", "VARCHAR", "Account domain of the acting user."),
    _c(
        "process_entity_id",
        "VARCHAR",
        "Unique id of the acting process (Sysmon ProcessGuid, "
        "Elastic entity_id, Falcon aid:TargetProcessId, Defender DeviceId:pid:creation time).",
    ),
    _c("process_pid", "BIGINT", "Process id of the acting process."),
    _c("process_executable", "VARCHAR", "Full path of the acting process image."),
    _c("process_name", "VARCHAR", "Image file name (basename) of the acting process."),
    _c("process_command_line", "VARCHAR", "Command line of the acting process."),
    _c("process_parent_entity_id", "VARCHAR", "Unique id of the parent process."),
    _c("process_parent_pid", "BIGINT", "Process id of the parent process."),
    _c("process_parent_executable", "VARCHAR", "Full path of the parent process image."),
    _c("process_parent_name", "VARCHAR", "Image file name of the parent process."),
    _c("process_parent_command_line", "VARCHAR", "Command line of the parent process."),
)

# Provenance: every row says where it came from. Kept last in every table.
PROVENANCE: Final[tuple[Column, ...]] = (
    _c(
        "log_format",
        "VARCHAR",
        "Reader that produced the row, e.g. sysmon.evtx, ecs.ndjson, "
        "falcon.ndjson, defender.csv, udm.json, zeek.tsv.",
    ),
    _c(
        "log_file_path",
        "VARCHAR",
        "Input file (as given, or `-` for stdin; for members of "
        "a walked directory, the member path).",
    ),
    _c(
        "log_line",
        "BIGINT",
        "1-based line number in the (decompressed) file for "
        "line-oriented formats; NULL for record formats.",
        "log.file.line",
    ),
    _c(
        "log_record",
        "BIGINT",
        "1-based record number within the file: EVTX record "
        "position, n-th XML event, n-th element of a JSON array, n-th CSV row.",
        "log.file.record",
    ),
)

_PROCESS: Final[tuple[Column, ...]] = (
    _c("process_start", "TIMESTAMP", "Process creation time, UTC.", "process.start"),
    _c("process_hash_sha256", "VARCHAR", "SHA-256 of the image, where recorded."),
    _c("process_working_directory", "VARCHAR", "Working directory, where recorded."),
    _c(
        "process_integrity_level",
        "VARCHAR",
        "Windows integrity level, where recorded.",
        "process.Ext.token.integrity_level_name",
    ),
)

_DNS: Final[tuple[Column, ...]] = (
    _c("dns_question_name", "VARCHAR", "Name asked for, lowercase, without trailing dot."),
    _c("dns_question_type", "VARCHAR", "Query type (A, AAAA, CNAME, ...), where recorded."),
    _c("dns_response_code", "VARCHAR", "Response code (NOERROR, NXDOMAIN, ...) or status."),
    _c("dns_resolved_ip", "VARCHAR[]", "IP addresses in the answer."),
    _c("dns_answers", "VARCHAR", "All answer data as the source gave it (CNAMEs included)."),
    _c("source_ip", "VARCHAR", "Address that asked (network sensors)."),
    _c("source_port", "INTEGER", "Port that asked (network sensors)."),
    _c("destination_ip", "VARCHAR", "Resolver address (network sensors)."),
    _c("destination_port", "INTEGER", "Resolver port (network sensors)."),
    _c("network_transport", "VARCHAR", "udp | tcp."),
)

_CONNECTION: Final[tuple[Column, ...]] = (
    _c("source_ip", "VARCHAR", "Local / originating address."),
    _c("source_port", "INTEGER", "Local / originating port."),
    _c("destination_ip", "VARCHAR", "Remote / responding address."),
    _c("destination_port", "INTEGER", "Remote / responding port."),
    _c(
        "destination_domain",
        "VARCHAR",
        "Hostname of the destination as recorded on this "
        "event, lowercase; see destination_domain_origin for how trustworthy it is.",
    ),
    _c(
        "destination_domain_origin",
        "VARCHAR",
        "Where destination_domain came from: "
        "'url' (requested URL), 'http_host' (Host header), 'tls_sni' (TLS server name), "
        "'record' (the product's own attribution), 'reverse_dns' (Sysmon "
        "DestinationHostname: a PTR lookup, not what the process asked for).",
        "relayhunt.destination.domain_origin",
    ),
    _c("network_transport", "VARCHAR", "tcp | udp | icmp ..."),
    _c("network_protocol", "VARCHAR", "Application protocol (http, tls, dns), where known."),
    _c("network_direction", "VARCHAR", "egress | ingress | internal, where the source says."),
    _c("source_bytes", "BIGINT", "Bytes sent by the source (originator)."),
    _c("destination_bytes", "BIGINT", "Bytes sent by the destination (responder)."),
    _c("event_duration", "BIGINT", "Connection duration in nanoseconds, where recorded."),
    _c("url_original", "VARCHAR", "Requested URL, where recorded."),
    _c("http_request_method", "VARCHAR", "HTTP method, where recorded."),
    _c("http_response_status_code", "INTEGER", "HTTP status, where recorded."),
    _c("user_agent_original", "VARCHAR", "HTTP User-Agent, where recorded."),
)

_FILE: Final[tuple[Column, ...]] = (
    _c("file_path", "VARCHAR", "Full path of the file."),
    _c("file_name", "VARCHAR", "File name (basename)."),
    _c("file_extension", "VARCHAR", "Extension, lowercase, without the dot."),
    _c("file_hash_sha256", "VARCHAR", "SHA-256, where recorded."),
)

# Cloud control-plane audit records (CloudTrail, Google Cloud audit logs, Azure Activity
# Log, Cloudflare audit logs): an API call on a cloud account, not a host event.
_CLOUD_AUDIT: Final[tuple[Column, ...]] = (
    COMMON[0],
    _c(
        "event_action",
        "VARCHAR",
        "The provider's own event / method / operation name, as logged "
        "(UpdateFunctionCode20150331v2, google.cloud.functions.v2.FunctionService."
        "UpdateFunction, MICROSOFT.WEB/SITES/WRITE, Cloudflare's action type).",
    ),
    _c(
        "event_outcome",
        "VARCHAR",
        "success | failure, as the record says; started for an Azure operation's Start "
        "entry (the one that carries the request body).",
    ),
    _c(
        "event_id",
        "VARCHAR",
        "Record id (CloudTrail eventID, LogEntry insertId, Azure eventDataId, "
        "Cloudflare audit log id).",
    ),
    _c(
        "event_correlation_id",
        "VARCHAR",
        "Id shared by the records of one operation: Azure correlationId (its Start and "
        "Success entries), Google Cloud operation.id (first and last entries of a "
        "long-running operation), CloudTrail requestID.",
    ),
    _c("cloud_provider", "VARCHAR", "aws | gcp | azure | cloudflare."),
    _c(
        "cloud_account_id",
        "VARCHAR",
        "AWS account, Google Cloud project, Azure subscription or Cloudflare account id "
        "the call acted on.",
    ),
    _c("cloud_region", "VARCHAR", "Region or location, where logged."),
    _c(
        "cloud_service",
        "VARCHAR",
        "Service called: CloudTrail eventSource, LogEntry serviceName, the Azure resource "
        "provider, the Cloudflare product (lambda.amazonaws.com, run.googleapis.com, "
        "microsoft.web, workers).",
    ),
    _c(
        "actor_type",
        "VARCHAR",
        "Kind of identity: IAMUser, AssumedRole, Root, AWSService, user, serviceAccount, "
        "servicePrincipal, api_token ...",
    ),
    _c(
        "actor_id",
        "VARCHAR",
        "Stable id of the identity (principalId, principalSubject, object id, ActorID).",
    ),
    _c(
        "actor_name",
        "VARCHAR",
        "The identity as logged: ARN (for a role session the session ARN), e-mail, UPN.",
    ),
    _c(
        "actor_principal",
        "VARCHAR",
        "The principal behind the call, for baselines and deployer lists: the role ARN "
        "(session issuer) for assumed roles, else the user ARN, e-mail or UPN.",
        "relayhunt.actor.principal",
    ),
    _c("source_ip", "VARCHAR", "Caller address (sourceIPAddress, callerIp, ActorIP)."),
    _c("user_agent_original", "VARCHAR", "Caller's user agent, where logged."),
    _c(
        "client_app",
        "VARCHAR",
        "Client application named by the record rather than by a user agent: for Azure, "
        "the token's appid as a name where it is a well-known first-party client (Azure "
        "CLI, Azure PowerShell, Azure portal, Visual Studio Code), else 'appid <id>'.",
    ),
    _c(
        "action_normalized",
        "VARCHAR",
        "What the call did, provider-neutral: function.create, function.update_code, "
        "function.update_config, function.update (code or configuration: the log does "
        "not say), function.delete, function.public_access (made invokable by anyone), "
        "function.permission, function.list, function.get, function.invoke, "
        "function.publish, layer.publish, api.create, api.update, api.delete, "
        "route.create, secret.read, secret.update; NULL for other calls.",
        "relayhunt.action.normalized",
    ),
    _c(
        "target_name",
        "VARCHAR",
        "Function / service / site / Worker script / API name the call acted on.",
    ),
    _c(
        "target_id",
        "VARCHAR",
        "Full resource id: function ARN, resourceName, Azure resourceId, Cloudflare resource id.",
    ),
    _c("target_url", "VARCHAR", "Public URL of the function, where the record gives it."),
    _c(
        "destination_domain",
        "VARCHAR",
        "Public hostname of the function, lowercase, where known or derivable (Lambda "
        "function URL, <region>-<project>.cloudfunctions.net, *.run.app, "
        "<site>.azurewebsites.net, API Gateway execute-api host).",
    ),
    _c(
        "change_detail",
        "VARCHAR",
        "What the call changed, in words, where it matters to the rules (AuthType NONE, "
        "principal *, allUsers roles/run.invoker, layers, environment ...).",
        "relayhunt.change.detail",
    ),
    _c(
        "request_parameters",
        "VARCHAR",
        "The request as the provider logged it (JSON text).",
        "relayhunt.request.parameters",
    ),
    _c("error_code", "VARCHAR", "Error code of a failed call (AccessDenied, 7, Forbidden ...)."),
    _c("error_message", "VARCHAR", "Error message of a failed call."),
)

TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "process": COMMON + _PROCESS + PROVENANCE,
    "dns": COMMON + _DNS + PROVENANCE,
    "connection": COMMON + _CONNECTION + PROVENANCE,
    "file": COMMON + _FILE + PROVENANCE,
    "cloud_audit": _CLOUD_AUDIT + PROVENANCE,
}
"""Event tables: endpoint and network events, and cloud control-plane audit records."""

EVENT_TABLES: Final[tuple[str, ...]] = tuple(TABLES)

INGEST_ISSUES: Final[tuple[Column, ...]] = (
    _c("log_file_path", "VARCHAR", "Input file the issue is about."),
    _c("log_format", "VARCHAR", "Reader in use, or NULL when the format was not recognised."),
    _c("log_line", "BIGINT", "1-based line, for line-oriented formats.", "log.file.line"),
    _c("log_record", "BIGINT", "1-based record number, for record formats.", "log.file.record"),
    _c("log_offset", "BIGINT", "Byte offset in the (decompressed) input, where known."),
    _c(
        "severity",
        "VARCHAR",
        "'error': data was lost (record or rest of file rejected); "
        "'warning': the record was kept but a field could not be read.",
    ),
    _c("reason_code", "VARCHAR", "Stable machine-readable reason (see docs/schema.md)."),
    _c("reason", "VARCHAR", "Human-readable reason."),
    _c(
        "excerpt",
        "VARCHAR",
        "At most 200 characters of the offending input, control characters escaped.",
    ),
)

INGEST_FILES: Final[tuple[Column, ...]] = (
    _c("log_file_path", "VARCHAR", "Input file."),
    _c("log_format", "VARCHAR", "Reader chosen by sniffing, NULL if none matched."),
    _c("compressed_bytes", "BIGINT", "Size on disk (NULL for stdin)."),
    _c("bytes_read", "BIGINT", "Bytes of (decompressed) content read."),
    _c("records_seen", "BIGINT", "Records (lines, EVTX records, XML events, rows) seen."),
    _c("seconds", "DOUBLE", "Wall time spent on the file.", "relayhunt.seconds"),
)

INGEST_SKIPPED: Final[tuple[Column, ...]] = (
    _c("log_file_path", "VARCHAR", "Input file."),
    _c("log_format", "VARCHAR", "Reader."),
    _c(
        "label",
        "VARCHAR",
        "Event type that relayhunt does not use (e.g. 'sysmon:5', "
        "'falcon:UserLogon'): counted, not an error.",
    ),
    _c("count", "BIGINT", "How many were skipped."),
)

META_TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "ingest_issues": INGEST_ISSUES,
    "ingest_files": INGEST_FILES,
    "ingest_skipped": INGEST_SKIPPED,
}

_ARROW_TYPES["DOUBLE"] = pa.float64()
_ARROW_TYPES["EVIDENCE[]"] = pa.list_(
    pa.struct(
        [
            ("log_format", pa.string()),
            ("log_file_path", pa.string()),
            ("log_line", pa.int64()),
            ("log_record", pa.int64()),
            ("timestamp", pa.timestamp("us")),
            ("event_kind", pa.string()),
        ]
    )
)

EVIDENCE_SQL_TYPE: Final[str] = (
    "STRUCT(log_format VARCHAR, log_file_path VARCHAR, log_line BIGINT, log_record BIGINT, "
    '"timestamp" TIMESTAMP, event_kind VARCHAR)[]'
)

FINDINGS: Final[tuple[Column, ...]] = (
    _c(
        "finding_id",
        "VARCHAR",
        "Stable id of the finding (hash of rule, host, process, destination).",
        "relayhunt.finding.id",
    ),
    _c("rule_id", "VARCHAR", "Detection rule id (RH-...)."),
    _c("rule_name", "VARCHAR", "Detection rule title."),
    _c(
        "rule_profile",
        "VARCHAR",
        "'default' for relayhunt's own rules, 'compat' for "
        "reproductions of the source vendors' rules.",
        "rule.ruleset",
    ),
    _c("threat_technique_id", "VARCHAR[]", "MITRE ATT&CK technique ids.", "threat.technique.id"),
    _c("severity", "VARCHAR", "info | low | medium | high | critical.", "event.severity"),
    _c("confidence", "VARCHAR", "low | medium | high.", "relayhunt.confidence"),
    _c(
        "score",
        "DOUBLE",
        "0-100 ranking score: severity, confidence and context "
        "(platform weight, LOLBin, user-writable image path, rarity).",
        "event.risk_score",
    ),
    _c("host_name", "VARCHAR", "Host (or source address for network sensors)."),
    _c("user_name", "VARCHAR", "Acting user, where known."),
    _c("process_entity_id", "VARCHAR", "Acting process entity id."),
    _c("process_pid", "BIGINT", "Acting process id."),
    _c("process_executable", "VARCHAR", "Acting process image path."),
    _c("process_name", "VARCHAR", "Acting process image name."),
    _c("process_command_line", "VARCHAR", "Acting process command line."),
    _c("process_parent_executable", "VARCHAR", "Parent image path."),
    _c("process_parent_name", "VARCHAR", "Parent image name."),
    _c("process_parent_command_line", "VARCHAR", "Parent command line."),
    _c(
        "process_category",
        "VARCHAR",
        "browser | webview | lolbin | NULL (from the process list).",
        "relayhunt.process.category",
    ),
    _c("destination_domain", "VARCHAR", "Hostname contacted or named."),
    _c(
        "destination_domain_origin",
        "VARCHAR",
        "How the hostname is known (see "
        "attribution in docs/detections.md); 'reverse_dns' is weak evidence.",
        "relayhunt.destination.domain_origin",
    ),
    _c("destination_ip", "VARCHAR", "An address contacted."),
    _c("destination_port", "INTEGER", "A port contacted."),
    _c(
        "serverless_platform",
        "VARCHAR",
        "Catalogued platform (e.g. Cloudflare Workers).",
        "serverless.platform",
    ),
    _c(
        "serverless_provider",
        "VARCHAR",
        "Provider (Cloudflare, Amazon, Google ...).",
        "serverless.provider",
    ),
    _c("serverless_kind", "VARCHAR", "serverless | edge | paas | tunnel.", "serverless.kind"),
    _c(
        "serverless_tenant",
        "VARCHAR",
        "The tenant hostname (the part an attacker controls), e.g. acme-cdn.workers.dev.",
        "serverless.tenant",
    ),
    _c("first_seen", "TIMESTAMP", "First event of the finding, UTC.", "relayhunt.first_seen"),
    _c("last_seen", "TIMESTAMP", "Last event of the finding, UTC.", "relayhunt.last_seen"),
    _c("event_count", "BIGINT", "Events behind the finding.", "relayhunt.event_count"),
    _c("reason", "VARCHAR", "Why it fired, in one sentence.", "relayhunt.reason"),
    _c(
        "evidence",
        "EVIDENCE[]",
        "Up to 20 references to the input events (format, file, line/record, time, table).",
        "relayhunt.evidence",
    ),
    _c("stats", "VARCHAR", "Rule-specific statistics as a JSON object.", "relayhunt.stats"),
)

INCIDENTS: Final[tuple[Column, ...]] = (
    _c("incident_id", "VARCHAR", "Stable id of the incident.", "relayhunt.incident.id"),
    _c("host_name", "VARCHAR", "Host the incident is on."),
    _c(
        "process_lineage",
        "VARCHAR[]",
        "Image names of the process chain involved, ancestor first.",
        "relayhunt.incident.lineage",
    ),
    _c(
        "risk_score",
        "DOUBLE",
        "0-100: combines the findings' scores (noisy-OR), so "
        "several independent findings outrank one.",
        "event.risk_score",
    ),
    _c("severity", "VARCHAR", "Highest severity among the findings."),
    _c("first_seen", "TIMESTAMP", "First event, UTC."),
    _c("last_seen", "TIMESTAMP", "Last event, UTC."),
    _c("finding_ids", "VARCHAR[]", "Findings in the incident, in time order."),
    _c("rule_ids", "VARCHAR[]", "Distinct rules that fired."),
    _c("threat_technique_id", "VARCHAR[]", "ATT&CK techniques involved.", "threat.technique.id"),
    _c("destinations", "VARCHAR[]", "Hostnames involved."),
    _c("summary", "VARCHAR", "One line: what happened."),
    _c(
        "story",
        "VARCHAR[]",
        "The findings as sentences, in time order, each prefixed with its UTC time.",
    ),
)

OUTPUT_TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "findings": FINDINGS,
    "incidents": INCIDENTS,
}

REASON_CODES: Final[dict[str, str]] = {
    "unknown_format": "No reader recognised the file's content.",
    "unreadable_file": "The file could not be opened or read (permissions, not a file).",
    "truncated_gzip": "A gzip stream ended early or is corrupt; what was decompressed "
    "before that point was read.",
    "truncated_file": "A file ended in the middle of a record (last line unterminated and "
    "unparseable, XML element not closed, EVTX chunk cut).",
    "corrupt_record": "A record's binary structure is damaged (EVTX record/chunk).",
    "invalid_utf8": "A line is not valid UTF-8.",
    "invalid_json": "A line or record is not valid JSON or not a JSON object.",
    "invalid_xml": "An XML event could not be parsed.",
    "invalid_csv": "A CSV/TSV row could not be parsed (wrong column count, bad quoting).",
    "dtd_rejected": "XML with a DOCTYPE or entity declaration; never expanded.",
    "oversize_record": "A record longer than the configured maximum; skipped unparsed.",
    "missing_timestamp": "A record with no time, or a time that could not be read.",
    "bad_field_type": "A field could not be converted to its column type (the record is "
    "kept, the field is NULL).",
    "document_too_large": "A single JSON document (not NDJSON) above the size limit.",
}


def ddl(table: str, columns: tuple[Column, ...]) -> str:
    """``CREATE TABLE`` statement for one table."""
    cols = ",\n  ".join(f'"{c.name}" {c.ddl_type}' for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"


def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of an event or meta table."""
    cols = TABLES.get(table) or META_TABLES.get(table) or OUTPUT_TABLES[table]
    return pa.schema([pa.field(c.name, c.arrow_type) for c in cols])


def all_tables() -> dict[str, tuple[Column, ...]]:
    """Event tables followed by meta tables."""
    return {**TABLES, **META_TABLES}


def schema_markdown() -> str:
    """The column tables of docs/schema.md (kept in sync by a test)."""
    out: list[str] = []
    for name, cols in all_tables().items():
        out.append(f"### `{name}`\n")
        out.append("| column | type | ECS field | meaning |")
        out.append("|---|---|---|---|")
        for c in cols:
            out.append(f"| `{c.name}` | {c.sql_type} | `{c.ecs}` | {c.doc} |")
        out.append("")
    out.append("### Issue reason codes\n")
    out.append("| reason_code | meaning |")
    out.append("|---|---|")
    for code, doc in REASON_CODES.items():
        out.append(f"| `{code}` | {doc} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(schema_markdown(), end="")
