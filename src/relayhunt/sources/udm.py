"""Google SecOps (Chronicle) UDM events as NDJSON or as the API returns them.

References: the UDM field list and UDM usage guide
(https://cloud.google.com/chronicle/docs/reference/udm-field-list,
https://cloud.google.com/chronicle/docs/unified-data-model/udm-usage) and the REST types
(https://cloud.google.com/chronicle/docs/reference/rest/Shared.Types/UDM, ``Noun``,
``Metadata``, ``Network``, ``Dns``).

Accepted layouts, per record: a bare UDM event ``{"metadata": ..., "principal": ...}``, an
API event wrapper ``{"name": ..., "udm": {...}}``, an event reference ``{"event": {...}}``
(Backstory Detection Engine ``collectionElements.references``, and what API clients built
on it pass on), or a parser result ``{"event": {"timestamp": ..., "idm": {"readOnlyUdm":
{...}}}}`` (the expected-events files of Google's parser test data, ``RunParser`` output);
per file: NDJSON of any of these, a JSON array, or a response document holding them under
``events`` (``udmSearch`` / ``legacy:legacyFetchUdmSearchView`` / ingestion payloads /
parser test data).

Field names come in two spellings: the UDM documentation, parsers and ingestion payloads use
snake_case (``metadata.event_timestamp``); the REST API emits protobuf JSON in lowerCamelCase
(``metadata.eventTimestamp``, ``principal.process.commandLine``, ``network.sentBytes``),
where 64-bit integers are strings and enums (event type, DNS record type / rcode as
numbers) are names. Both spellings are read, per file: the head decides which are parsed
(both when it shows both, or neither).

* ``NETWORK_CONNECTION``, ``NETWORK_HTTP`` -> ``connection``; ``principal`` is the local
  side (its process is the acting process), ``target`` the remote one.
* ``NETWORK_DNS`` -> ``dns`` (first question; every answer's ``data``; numeric record types
  and response codes become their names).
* ``PROCESS_LAUNCH`` -> ``process``: ``target.process`` is the new process, ``principal.process``
  its parent. Where ``target.process.file.full_path`` is a bare file name and
  ``target.file.full_path`` the full path of that same name (the Microsoft Defender for
  Endpoint parser maps ``FileName`` and ``FolderPath`` so), the full path is the executable.
* ``FILE_CREATION`` -> ``file`` (``target.file.full_path``), acting process ``principal.process``.
* Any other ``metadata.event_type`` is counted as skipped (``udm:<event_type>``).

``process_entity_id`` is ``product_specific_process_id`` when the producer sets one, else
``<host>:<pid>`` (host lowercased), which is unique only while the pid is not reused.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from relayhunt.sources.base import IP_LITERAL_RE, Head, IngestContext
from relayhunt.sources.engine import RecordMapping, read_json

V = "VARCHAR"

_FILE: dict[str, Any] = {"full_path": V, "sha256": V}
_PROC_FIELDS: dict[str, Any] = {
    "pid": V,
    "command_line": V,
    "product_specific_process_id": V,
    "product_specific_parent_process_id": V,
    "parent_pid": V,
    "file": _FILE,
}
_PROC: dict[str, Any] = {**_PROC_FIELDS, "parent_process": _PROC_FIELDS}
_NOUN: dict[str, Any] = {
    "hostname": V,
    "asset_id": V,
    "asset": {"hostname": V, "asset_id": V},
    "ip": V,
    "port": V,
    "url": V,
    "administrative_domain": V,
    "user": {"userid": V},
    "process": _PROC,
    "file": _FILE,
}
UDM_STRUCT: dict[str, Any] = {
    "metadata": {
        "id": V,
        "product_log_id": V,
        "event_timestamp": V,
        "event_type": V,
        "product_event_type": V,
    },
    "principal": _NOUN,
    "target": _NOUN,
    "network": {
        "ip_protocol": V,
        "application_protocol": V,
        "direction": V,
        "sent_bytes": V,
        "received_bytes": V,
        "session_duration": V,
        "dns": {
            "questions": [{"name": V, "type": V}],
            "answers": [{"type": V, "data": V}],
            "response_code": V,
        },
        "http": {"method": V, "user_agent": V, "response_code": V},
    },
    "security_result": [{"action": V}],
}
"""The UDM fields relayhunt reads, in the documentation's snake_case."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _respell(spec: dict[str, Any], camel: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            value = _respell(value, camel)
        elif isinstance(value, list):
            value = [_respell(value[0], camel)]
        out[_camel(key) if camel else key] = value
    return out


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Deep-merge two struct specs (keys spelled alike in both styles share a subtree)."""
    for key, value in other.items():
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            _merge(mine, value)
        elif isinstance(mine, list) and isinstance(value, list):
            _merge(mine[0], value[0])
        else:
            into[key] = value


class _Spelling:
    """The struct to parse and the field accessors for the spellings a file uses."""

    def __init__(self, *, snake: bool, camel: bool, wrapped: bool) -> None:
        self.styles = [c for c, on in ((False, snake), (True, camel)) if on]
        spec: dict[str, Any] = {}
        for camel_style in self.styles:
            _merge(spec, _respell(UDM_STRUCT, camel_style))
        self.wrapped = wrapped
        self.struct: dict[str, Any] = {**spec, "udm": spec} if wrapped else spec

    def f(self, path: str) -> str:
        """SQL reading the dotted snake_case ``path`` in whichever spelling is present."""
        parts = path.split(".")
        options: list[str] = []
        for camel_style in self.styles:
            names = [_camel(p) if camel_style else p for p in parts]
            inner = ".".join(f'"{n}"' for n in names)
            roots = ["s.udm", "s"] if self.wrapped else ["s"]
            options.extend(f"{root}.{inner}" for root in roots)
        return options[0] if len(options) == 1 else f"coalesce({', '.join(options)})"


# Numeric DNS codes as the API emits them (RFC 1035 / IANA DNS parameters).
_QTYPES = {
    "1": "A",
    "2": "NS",
    "5": "CNAME",
    "6": "SOA",
    "12": "PTR",
    "15": "MX",
    "16": "TXT",
    "28": "AAAA",
    "33": "SRV",
    "64": "SVCB",
    "65": "HTTPS",
    "255": "ANY",
}
_RCODES = {
    "0": "NOERROR",
    "1": "FORMERR",
    "2": "SERVFAIL",
    "3": "NXDOMAIN",
    "4": "NOTIMP",
    "5": "REFUSED",
}
_URL_HOST_RE = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]+)"


def _case_map(expr: str, table: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in table.items())
    return f"CASE CAST({expr} AS VARCHAR) {whens} ELSE CAST({expr} AS VARCHAR) END"


def _timestamp(v: str) -> str:
    """RFC 3339 text (what the API and the ingestion format use) -> UTC TIMESTAMP; a
    protobuf ``Timestamp`` written as an object (``{"seconds":..,"nanos":..}``, as generic
    protobuf-to-JSON converters without the well-known-type mapping emit it) is read too."""
    return f"""CASE WHEN starts_with(ltrim({v}), '{{') THEN make_timestamp(
            TRY_CAST(json_extract_string({v}, '$.seconds') AS BIGINT) * 1000000
            + coalesce(TRY_CAST(json_extract_string({v}, '$.nanos') AS BIGINT), 0) // 1000)
        ELSE rh_ts({v}) END"""


def _duration_ns(v: str) -> str:
    """Protobuf Duration as JSON text (``"3.5s"``) or object -> nanoseconds."""
    return f"""CASE WHEN {v} IS NULL THEN NULL
        WHEN starts_with(ltrim({v}), '{{') THEN
            coalesce(TRY_CAST(json_extract_string({v}, '$.seconds') AS BIGINT), 0) * 1000000000
            + coalesce(TRY_CAST(json_extract_string({v}, '$.nanos') AS BIGINT), 0)
        ELSE CAST(round(TRY_CAST(rtrim({v}, 's') AS DOUBLE) * 1e9) AS BIGINT) END"""


def build_mapping(sp: _Spelling) -> RecordMapping:
    """The record mapping for one spelling combination."""
    f = sp.f
    event_type = f"upper({f('metadata.event_type')})"
    ts = _timestamp(f("metadata.event_timestamp"))
    host = f"coalesce({f('principal.hostname')}, {f('principal.asset.hostname')})"

    def pick(paths: list[str], leaf: str, *extra: str) -> str:
        """The first of ``<path>.<leaf>`` (then ``extra`` fields) that is present."""
        options = [f(f"{p}.{leaf}") for p in paths] + [f(e) for e in extra]
        return options[0] if len(options) == 1 else f"coalesce({', '.join(options)})"

    def process_columns(
        procs: list[str], parents: list[str], parent_psp: str, parent_pid: str
    ) -> dict[str, str]:
        """Columns of the acting process (first of ``procs``) and of its parent."""
        columns: dict[str, str] = {}
        for prefix, paths, extra_psp, extra_pid in (
            ("process", procs, (), ()),
            ("process_parent", parents, (parent_psp,), (parent_pid,)),
        ):
            pid = pick(paths, "pid", *extra_pid)
            image = pick(paths, "file.full_path")
            columns[f"{prefix}_entity_id"] = (
                f"coalesce({pick(paths, 'product_specific_process_id', *extra_psp)}, "
                f"lower({host}) || ':' || {pid})"
            )
            columns[f"{prefix}_pid"] = pid
            columns[f"{prefix}_executable"] = image
            columns[f"{prefix}_name"] = f"rh_basename({image})"
            columns[f"{prefix}_command_line"] = pick(paths, "command_line")
        return columns

    def first(list_field: str) -> str:
        return f"rh_str_list({f(list_field)}, ',')[1]"

    userid = f("principal.user.userid")
    common: dict[str, str] = {
        "event_action": event_type,
        "event_code": f("metadata.product_event_type"),
        "event_outcome": f"""CASE
            WHEN {f("security_result")} IS NULL THEN NULL
            WHEN list_bool_or(list_transform({f("security_result")},
                x -> regexp_matches(coalesce(x.action, ''), 'BLOCK|QUARANTINE'))) THEN 'failure'
            WHEN list_bool_or(list_transform({f("security_result")},
                x -> regexp_matches(coalesce(x.action, ''), 'ALLOW'))) THEN 'success' END""",
        "event_id": f"coalesce({f('metadata.product_log_id')}, {f('metadata.id')})",
        "host_name": host,
        "host_id": f"coalesce({f('principal.asset_id')}, {f('principal.asset.asset_id')})",
        "user_name": f"CASE WHEN contains({userid}, '\\') "
        f"THEN split_part({userid}, '\\', -1) ELSE {userid} END",
        "user_domain": f"CASE WHEN contains({userid}, '\\') "
        f"THEN split_part({userid}, '\\', 1) ELSE {f('principal.administrative_domain')} END",
    }
    # Network and file events: the acting process is principal.process.
    acting = process_columns(
        ["principal.process"],
        ["principal.process.parent_process"],
        "principal.process.product_specific_parent_process_id",
        "principal.process.parent_pid",
    )
    # PROCESS_LAUNCH: target.process is the new process, principal.process its parent
    # (some producers describe the parent under target.process.parent_process instead).
    launched = process_columns(
        ["target.process"],
        ["principal.process", "target.process.parent_process"],
        "target.process.product_specific_parent_process_id",
        "target.process.parent_pid",
    )
    new_image = f("target.process.file.full_path")
    target_file = f("target.file.full_path")
    launched["process_executable"] = f"""CASE
        WHEN NOT (contains({new_image}, '\\') OR contains({new_image}, '/'))
             AND (contains({target_file}, '\\') OR contains({target_file}, '/'))
             AND lower(rh_basename({target_file})) = lower({new_image})
        THEN {target_file} ELSE {new_image} END"""
    transport = f"""CASE WHEN upper({f("network.ip_protocol")}) LIKE 'UNKNOWN%' THEN NULL
        ELSE lower({f("network.ip_protocol")}) END"""
    answers = f"list_transform({f('network.dns.answers')}, x -> x.data)"
    url = f("target.url")
    url_host = f"rh_host(NULLIF(trim(regexp_extract({url}, '{_URL_HOST_RE}', 1), '[]'), ''))"
    target_host = f"rh_host({f('target.hostname')})"
    app_proto = f("network.application_protocol")
    return RecordMapping(
        struct=sp.struct,
        route=f"""CASE {event_type}
            WHEN 'NETWORK_CONNECTION' THEN 'connection'
            WHEN 'NETWORK_HTTP' THEN 'connection'
            WHEN 'NETWORK_DNS' THEN 'dns'
            WHEN 'PROCESS_LAUNCH' THEN 'process'
            WHEN 'FILE_CREATION' THEN 'file' END""",
        label=f"'udm:' || coalesce({event_type}, '(no event_type)')",
        timestamp=ts,
        columns={
            "process": {
                **common,
                **launched,
                "process_start": ts,
                "process_hash_sha256": f("target.process.file.sha256"),
            },
            "dns": {
                **common,
                **acting,
                "dns_question_name": f"rh_host({f('network.dns.questions')}[1].name)",
                "dns_question_type": _case_map(f("network.dns.questions") + "[1].type", _QTYPES),
                "dns_response_code": _case_map(f("network.dns.response_code"), _RCODES),
                "dns_resolved_ip": f"NULLIF(list_filter({answers}, "
                f"x -> regexp_matches(coalesce(x, ''), '{IP_LITERAL_RE}')), [])",
                "dns_answers": f"NULLIF(array_to_string({answers}, ','), '')",
                "source_ip": first("principal.ip"),
                "source_port": f("principal.port"),
                "destination_ip": first("target.ip"),
                "destination_port": f("target.port"),
                "network_transport": transport,
            },
            "connection": {
                **common,
                **acting,
                "source_ip": first("principal.ip"),
                "source_port": f("principal.port"),
                "destination_ip": first("target.ip"),
                "destination_port": f("target.port"),
                "destination_domain": f"coalesce({target_host}, {url_host})",
                "destination_domain_origin": f"""CASE WHEN {target_host} IS NOT NULL
                    THEN 'record' WHEN {url_host} IS NOT NULL THEN 'url' END""",
                "network_transport": transport,
                "network_protocol": f"""CASE WHEN {event_type} = 'NETWORK_HTTP' THEN 'http'
                    WHEN upper({app_proto}) LIKE 'UNKNOWN%' THEN NULL
                    ELSE lower({app_proto}) END""",
                "network_direction": f"""CASE upper({f("network.direction")})
                    WHEN 'OUTBOUND' THEN 'egress' WHEN 'INBOUND' THEN 'ingress' END""",
                "source_bytes": f("network.sent_bytes"),
                "destination_bytes": f("network.received_bytes"),
                "event_duration": _duration_ns(f("network.session_duration")),
                "url_original": url,
                "http_request_method": f("network.http.method"),
                "http_response_status_code": f("network.http.response_code"),
                "user_agent_original": f("network.http.user_agent"),
            },
            "file": {
                **common,
                **acting,
                "file_path": f("target.file.full_path"),
                "file_name": f"rh_basename({f('target.file.full_path')})",
                "file_extension": f"rh_ext({f('target.file.full_path')})",
                "file_hash_sha256": f("target.file.sha256"),
            },
        },
    )


_MAPPINGS: dict[tuple[bool, bool, bool], RecordMapping] = {}


def mapping_for(*, snake: bool, camel: bool, wrapped: bool) -> RecordMapping:
    key = (snake, camel, wrapped)
    if key not in _MAPPINGS:
        _MAPPINGS[key] = build_mapping(_Spelling(snake=snake, camel=camel, wrapped=wrapped))
    return _MAPPINGS[key]


_EVENT_TYPE_RE = re.compile(
    r'"(?:event_type|eventType)"\s*:\s*"(?:NETWORK|PROCESS|FILE|USER|REGISTRY|STATUS|'
    r"GENERIC_EVENT|SCAN|RESOURCE|SERVICE|SETTING|EMAIL|GROUP|MUTEX|SCHEDULED_TASK|"
    r'SYSTEM_AUDIT_LOG|DEVICE|ANALYST|EVENTTYPE_UNSPECIFIED)[A-Z_]*"'
)
_SNAKE_RE = re.compile(r'"(?:event_timestamp|event_type|product_log_id)"\s*:')
_CAMEL_RE = re.compile(r'"(?:eventTimestamp|eventType|productLogId)"\s*:')
# UDM itself has no field "event": an object under that key is an envelope.
_EVENT_ENVELOPE_RE = re.compile(r'"event"\s*:\s*\{')


def _event_unwrap(doc: Any) -> str | None:
    """JSON path of the UDM event inside a record ``{"event": ...}``, or None."""
    inner = doc.get("event") if isinstance(doc, dict) else None
    if not isinstance(inner, dict):
        return None
    return "$.event.idm.readOnlyUdm" if isinstance(inner.get("idm"), dict) else "$.event"


def _is_udm_event(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("udm"), dict):
        doc = doc["udm"]
    elif isinstance(doc.get("event"), dict):
        doc = doc["event"]
        idm = doc.get("idm")
        if isinstance(idm, dict) and isinstance(idm.get("readOnlyUdm"), dict):
            doc = idm["readOnlyUdm"]
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return False
    has_type = "event_type" in meta or "eventType" in meta
    has_time = any(
        k in meta
        for k in ("event_timestamp", "eventTimestamp", "collected_timestamp", "collectedTimestamp")
    )
    return has_type and (has_time or any(k in doc for k in ("principal", "target", "network")))


class UdmSource:
    """Google SecOps / Chronicle UDM events (NDJSON, JSON array, API responses)."""

    name = "udm.json"
    description = "Google SecOps (Chronicle) UDM events: NDJSON, JSON array or API response"

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            if _is_udm_event(doc):
                return True
            events = doc.get("events")
            if isinstance(events, list):
                return bool(events) and _is_udm_event(events[0])
        if head.json_layout is None:
            return False
        # A document too large for the head to parse: look for UDM's own markers.
        return bool(_EVENT_TYPE_RE.search(head.text)) and '"metadata"' in head.text

    def read(self, ctx: IngestContext) -> None:
        text = ctx.head.text if ctx.head is not None else ""
        snake = bool(_SNAKE_RE.search(text))
        camel = bool(_CAMEL_RE.search(text))
        if not snake and not camel:
            snake = camel = True
        wrapped = '"udm"' in text
        mapping = mapping_for(snake=snake, camel=camel, wrapped=wrapped)
        # {"event": ...} records: the event is parsed out of its envelope (a second parse
        # per record, so only for files whose first record has one).
        first = ctx.head.first_json if ctx.head is not None else None
        if isinstance(first, dict) and isinstance(first.get("events"), list) and first["events"]:
            first = first["events"][0]
        unwrap = _event_unwrap(first)
        if unwrap is None and first is None:  # a document too large for the head to parse
            if '"readOnlyUdm"' in text:
                unwrap = "$.event.idm.readOnlyUdm"
            elif _EVENT_ENVELOPE_RE.search(text):
                unwrap = "$.event"
        if unwrap is not None:
            mapping = replace(mapping, unwrap=unwrap)
        read_json(ctx, mapping, wrapper_keys=("events", "results"))


__all__ = ["UDM_STRUCT", "UdmSource", "build_mapping", "mapping_for"]
