"""CrowdStrike Falcon telemetry: Falcon Data Replicator (FDR) NDJSON and Event Streams.

References: the Falcon Data Replicator guide and data dictionary (event names and fields),
and the public FDR samples of the Elastic ``crowdstrike`` integration (see
``tests/fixtures/falcon/README.md``).

FDR delivers one JSON object per line (files ``data/<uuid>/part-*.gz``); every value is a
string. What relayhunt reads:

* process: ``ProcessRollup2`` and ``SyntheticProcessRollup2``. ``TargetProcessId`` is
  Falcon's unique process id (UPID), ``RawProcessId`` the OS pid, ``ParentProcessId`` the
  parent's UPID. ``process_entity_id`` = ``aid:TargetProcessId``, the parent's
  ``aid:ParentProcessId``.
* connection: ``NetworkConnectIP4/IP6`` (outbound, ``network_direction = 'egress'``) and
  ``NetworkReceiveAcceptIP4/IP6`` (inbound, ``'ingress'``; source and destination are
  swapped so that ``source`` is the originator, as in ECS). These events carry no host
  name: the name a process asked for is on its ``DnsRequest`` events, joined by process.
* dns: ``DnsRequest`` (``DomainName``, ``RequestType``, ``IP4Records``/``IP6Records`` as
  ``;``-separated lists, ``CNAMERecords``, ``QueryStatus`` = Windows DNS status).
* file: ``NewScriptWritten``, ``NewExecutableWritten``, ``PackedExecutableWritten`` and
  the ``*FileWritten`` family (``PeFileWritten``, ``JarFileWritten``, ``ZipFileWritten``
  ...): ``TargetFileName``.

Network, DNS and file events name the acting process by ``ContextProcessId`` (a UPID), so
their ``process_entity_id`` = ``aid:ContextProcessId`` joins the ``ProcessRollup2`` row of
that process.

Time: ``ContextTimeStamp`` (epoch seconds with milliseconds, set by the sensor when the
event happened) is preferred; ``ProcessRollup2`` has none and uses ``ProcessStartTime``;
otherwise ``timestamp`` (epoch milliseconds, when the cloud received the event) is used.
``ContextTimeStamp`` given as a Windows FILETIME (17+ digits, seen on some Event Streams
records) is converted.

Paths: ``ImageFileName`` and ``TargetFileName`` are kept exactly as the sensor wrote them
(``\\Device\\HarddiskVolume3\\Windows\\System32\\curl.exe``). The volume-to-drive-letter
map is per host and not part of the events; guessing ``C:`` would be wrong on hosts with
several volumes, and detections key on the image name, which is the same either way.

``ComputerName`` is not on most FDR events (it lives in the ``aidmaster`` feed):
``host_name`` is NULL where absent and ``host_id`` is always ``aid``.

Event Streams records (``{"metadata": {"eventType": ...}, "event": {...}}``, the SIEM
connector / streaming API) carry detection and audit summaries, not sensor telemetry:
they are recognised and counted as skipped ``falcon:<eventType>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.engine import (
    DEFAULT_DOCUMENT_LIMIT,
    RecordMapping,
    iter_document_records,
    load_json_chunk,
)
from relayhunt.sources.lines import iter_line_tables, prefetch
from relayhunt.sources.ndjson_file import load_ndjson_file

V = "VARCHAR"

STRUCT: dict[str, Any] = {
    "event_simpleName": V,
    "timestamp": V,
    "ContextTimeStamp": V,
    "ProcessStartTime": V,
    "id": V,
    "aid": V,
    "cid": V,
    "ComputerName": V,
    "TargetProcessId": V,
    "ParentProcessId": V,
    "ContextProcessId": V,
    "RawProcessId": V,
    "ImageFileName": V,
    "CommandLine": V,
    "ParentBaseFileName": V,
    "ParentCommandLine": V,
    "ContextBaseFileName": V,
    "ContextImageFileName": V,
    "UserName": V,
    "SHA256HashData": V,
    "IntegrityLevel": V,
    "RemoteAddressIP4": V,
    "RemoteAddressIP6": V,
    "RemotePort": V,
    "LocalAddressIP4": V,
    "LocalAddressIP6": V,
    "LocalPort": V,
    "Protocol": V,
    "DomainName": V,
    "RequestType": V,
    "QueryStatus": V,
    "IP4Records": V,
    "IP6Records": V,
    "CNAMERecords": V,
    "RespondingDnsServer": V,
    "TargetFileName": V,
    "metadata": {"eventType": V},
}

PROCESS_EVENTS = ("ProcessRollup2", "SyntheticProcessRollup2")
CONNECT_EVENTS = ("NetworkConnectIP4", "NetworkConnectIP6")
ACCEPT_EVENTS = ("NetworkReceiveAcceptIP4", "NetworkReceiveAcceptIP6")
FILE_EVENTS = ("NewScriptWritten", "NewExecutableWritten", "PackedExecutableWritten")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


ROUTE = f"""CASE
    WHEN s.event_simpleName IN {_in(PROCESS_EVENTS)} THEN 'process'
    WHEN s.event_simpleName IN {_in(CONNECT_EVENTS + ACCEPT_EVENTS)} THEN 'connection'
    WHEN s.event_simpleName = 'DnsRequest' THEN 'dns'
    WHEN s.event_simpleName IN {_in(FILE_EVENTS)}
         OR s.event_simpleName LIKE '%FileWritten' THEN 'file'
    END"""

LABEL = "'falcon:' || coalesce(s.event_simpleName, s.metadata.eventType, '(none)')"

# Seconds-with-fraction, or a FILETIME (100 ns ticks since 1601) when given as 17+ digits.
# TRY(): the shared epoch macros raise on out-of-range numbers; hostile input must not.
_CONTEXT_TS = """CASE WHEN regexp_full_match(trim(s.ContextTimeStamp), '[0-9]{17,19}')
    THEN TRY(rh_filetime(trim(s.ContextTimeStamp)))
    ELSE TRY(rh_epoch_s(s.ContextTimeStamp)) END"""
_START_TS = "TRY(rh_epoch_s(s.ProcessStartTime))"

TIMESTAMP = f"""coalesce(
    {_CONTEXT_TS},
    CASE WHEN s.event_simpleName IN {_in(PROCESS_EVENTS)} THEN {_START_TS} END,
    TRY(rh_epoch_ms(s.timestamp)))"""


def nz(value: str) -> str:
    """SQL: ``value``, or NULL when empty or a placeholder ('-', 'null' ...).

    Same meaning as the shared ``rh_nz`` macro, written with ``list_contains``: DuckDB
    rewrites an ``IN`` list of five or more constants in a projection into a join, and
    ``rh_nz`` used for every column made one query of about 50 joins (seconds per chunk).
    """
    return (
        f"CASE WHEN list_contains(['', '-', '(empty)', 'null', 'NULL'], trim({value})) "
        f"THEN NULL ELSE {value} END"
    )


def _first(field: str) -> str:
    """A scalar, or the first element when a list-valued export gives a JSON array."""
    return (
        f"CASE WHEN starts_with(ltrim({field}), '[') "
        f"THEN TRY(json_extract_string({field}, '$[0]')) ELSE {nz(field)} END"
    )


def _uid(field: str) -> str:
    """``aid:<UPID>``, the id that links Falcon events of one process."""
    return (
        f"CASE WHEN fa_aid IS NOT NULL AND {nz(field)} IS NOT NULL "
        f"THEN fa_aid || ':' || trim({field}) END"
    )


# Values used by several columns are computed once, next to the route (names fa_*).
PRELUDE = ", ".join(
    [
        f"{nz('s.aid')} AS fa_aid",
        f"{nz('s.UserName')} AS fa_user",
        "s.event_simpleName IN ('NetworkReceiveAcceptIP4', 'NetworkReceiveAcceptIP6') AS fa_accept",
        f"coalesce({_first('s.LocalAddressIP4')}, {_first('s.LocalAddressIP6')}) AS fa_lip",
        f"coalesce({_first('s.RemoteAddressIP4')}, {_first('s.RemoteAddressIP6')}) AS fa_rip",
        f"{nz('s.LocalPort')} AS fa_lport",
        f"{nz('s.RemotePort')} AS fa_rport",
    ]
)

# UserName may be DOMAIN\user on enriched exports.
USER_NAME = (
    "CASE WHEN contains(fa_user, '\\') THEN regexp_extract(fa_user, '[^\\\\]*$') ELSE fa_user END"
)
USER_DOMAIN = (
    "CASE WHEN contains(fa_user, '\\') THEN regexp_extract(fa_user, '^([^\\\\]*)\\\\', 1) END"
)

COMMON: dict[str, str] = {
    "event_action": "s.event_simpleName",
    "event_id": nz("s.id"),
    "host_name": nz("s.ComputerName"),
    "host_id": "fa_aid",
    "user_name": USER_NAME,
    "user_domain": USER_DOMAIN,
}

# Network, DNS and file events: the acting process is ContextProcessId.
CONTEXT_PROCESS: dict[str, str] = {
    **COMMON,
    "process_entity_id": _uid("s.ContextProcessId"),
    "process_executable": nz("s.ContextImageFileName"),
    "process_name": f"coalesce({nz('s.ContextBaseFileName')}, rh_basename(s.ContextImageFileName))",
}

# Windows mandatory integrity RIDs (SECURITY_MANDATORY_*_RID) as Falcon reports them.
INTEGRITY = f"""CASE TRY_CAST(s.IntegrityLevel AS BIGINT)
    WHEN 0 THEN 'Untrusted' WHEN 4096 THEN 'Low' WHEN 8192 THEN 'Medium'
    WHEN 8448 THEN 'Medium Plus' WHEN 12288 THEN 'High' WHEN 16384 THEN 'System'
    WHEN 20480 THEN 'Protected' ELSE {nz("s.IntegrityLevel")} END"""

# DNS: Windows DnsQuery status codes (DNS_ERROR_RCODE_*); 0 is success.
DNS_STATUS = f"""CASE trim(s.QueryStatus)
    WHEN '0' THEN 'NOERROR' WHEN '9001' THEN 'FORMERR' WHEN '9002' THEN 'SERVFAIL'
    WHEN '9003' THEN 'NXDOMAIN' WHEN '9004' THEN 'NOTIMP' WHEN '9005' THEN 'REFUSED'
    WHEN '9501' THEN 'NOERROR' ELSE {nz("s.QueryStatus")} END"""
DNS_TYPE = f"""CASE trim(s.RequestType)
    WHEN '1' THEN 'A' WHEN '2' THEN 'NS' WHEN '5' THEN 'CNAME' WHEN '6' THEN 'SOA'
    WHEN '12' THEN 'PTR' WHEN '15' THEN 'MX' WHEN '16' THEN 'TXT' WHEN '28' THEN 'AAAA'
    WHEN '33' THEN 'SRV' WHEN '64' THEN 'SVCB' WHEN '65' THEN 'HTTPS' WHEN '255' THEN 'ANY'
    ELSE {nz("s.RequestType")} END"""
_RESOLVED = """list_concat(
    coalesce(rh_str_list(s.IP4Records, ';'), []),
    coalesce(rh_str_list(s.IP6Records, ';'), []))"""
RESOLVED_IP = f"CASE WHEN len({_RESOLVED}) > 0 THEN {_RESOLVED} END"
ANSWERS = """NULLIF(concat_ws(';',
    NULLIF(rtrim(trim(s.CNAMERecords), ';'), ''),
    NULLIF(rtrim(trim(s.IP4Records), ';'), ''),
    NULLIF(rtrim(trim(s.IP6Records), ';'), '')), '')"""

TRANSPORT = f"""CASE trim(s.Protocol) WHEN '6' THEN 'tcp' WHEN '17' THEN 'udp'
    WHEN '1' THEN 'icmp' WHEN '58' THEN 'ipv6-icmp' ELSE lower({nz("s.Protocol")}) END"""

MAPPING = RecordMapping(
    struct=STRUCT,
    route=ROUTE,
    label=LABEL,
    timestamp=TIMESTAMP,
    prelude=PRELUDE,
    columns={
        "process": {
            **COMMON,
            "process_entity_id": _uid("s.TargetProcessId"),
            "process_pid": nz("s.RawProcessId"),
            "process_executable": nz("s.ImageFileName"),
            "process_name": "rh_basename(s.ImageFileName)",
            "process_command_line": nz("s.CommandLine"),
            "process_parent_entity_id": _uid("s.ParentProcessId"),
            "process_parent_name": nz("s.ParentBaseFileName"),
            "process_parent_command_line": nz("s.ParentCommandLine"),
            "process_start": _START_TS,
            "process_hash_sha256": f"lower({nz('s.SHA256HashData')})",
            "process_integrity_level": INTEGRITY,
        },
        "connection": {
            **CONTEXT_PROCESS,
            "source_ip": "CASE WHEN fa_accept THEN fa_rip ELSE fa_lip END",
            "source_port": "CASE WHEN fa_accept THEN fa_rport ELSE fa_lport END",
            "destination_ip": "CASE WHEN fa_accept THEN fa_lip ELSE fa_rip END",
            "destination_port": "CASE WHEN fa_accept THEN fa_lport ELSE fa_rport END",
            "network_transport": TRANSPORT,
            "network_direction": "CASE WHEN fa_accept THEN 'ingress' ELSE 'egress' END",
        },
        "dns": {
            **CONTEXT_PROCESS,
            "dns_question_name": "rh_host(s.DomainName)",
            "dns_question_type": DNS_TYPE,
            "dns_response_code": DNS_STATUS,
            "dns_resolved_ip": RESOLVED_IP,
            "dns_answers": ANSWERS,
            "destination_ip": nz("s.RespondingDnsServer"),
        },
        "file": {
            **CONTEXT_PROCESS,
            "file_path": nz("s.TargetFileName"),
            "file_name": "rh_basename(s.TargetFileName)",
            "file_extension": "rh_ext(s.TargetFileName)",
            "file_hash_sha256": f"lower({nz('s.SHA256HashData')})",
        },
    },
    checks={
        # The record keeps the next time source; say the sensor time was unreadable.
        "context_time": f"""CASE WHEN trim(s.ContextTimeStamp) <> ''
            AND ({_CONTEXT_TS}) IS NULL
            THEN 'ContextTimeStamp=' || left(s.ContextTimeStamp, 60)
                 || ' (time taken from ProcessStartTime or timestamp)' END""",
    },
)


def looks_like_ndjson(head: Head | None) -> bool:
    """True when most complete lines of the head are JSON objects (see :class:`Head`): an
    NDJSON file whose first line is damaged is still read line by line."""
    return head is not None and head.json_layout == "ndjson"


def iter_json_chunks(ctx: IngestContext, wrapper_keys: tuple[str, ...]) -> Iterator[pa.Table]:
    """Chunks of raw JSON records: NDJSON line by line, otherwise as a document."""
    if looks_like_ndjson(ctx.head):
        with ctx.file.open() as stream:
            # Splitting the next block overlaps with DuckDB parsing this one.
            yield from prefetch(iter_line_tables(stream, ctx))
        return
    yield from iter_document_records(ctx, wrapper_keys, DEFAULT_DOCUMENT_LIMIT)


def _is_fdr(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("event_simpleName"), str) and any(
        k in doc for k in ("aid", "cid", "timestamp", "ContextTimeStamp")
    )


def _is_event_stream(doc: dict[str, Any]) -> bool:
    meta = doc.get("metadata")
    return (
        isinstance(meta, dict)
        and isinstance(meta.get("eventType"), str)
        and isinstance(doc.get("event"), dict)
        and ("customerIDString" in meta or "eventCreationTime" in meta)
    )


class FalconSource:
    """CrowdStrike Falcon Data Replicator (FDR) events, and Event Streams envelopes."""

    name = "falcon.fdr"
    description = "CrowdStrike Falcon FDR / Event Streams JSON (NDJSON, gzip as delivered)"

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            return _is_fdr(doc) or _is_event_stream(doc)
        if not looks_like_ndjson(head):
            return False
        # NDJSON whose first line is damaged: decide on the lines that parse.
        for line in head.text.split("\n")[1:200]:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return _is_fdr(obj) or _is_event_stream(obj)
        return False

    def read(self, ctx: IngestContext) -> None:
        if looks_like_ndjson(ctx.head) and load_ndjson_file(ctx, MAPPING):
            return
        for chunk in iter_json_chunks(ctx, ("events", "resources", "data")):
            load_json_chunk(ctx, chunk, MAPPING)
