"""Microsoft Defender for Endpoint advanced hunting rows, as JSON or CSV.

References: the advanced hunting schema reference (``DeviceProcessEvents``,
``DeviceNetworkEvents``, ``DeviceFileEvents``, ``DeviceEvents`` tables), the Streaming API
storage / Event Hub record format, and public exports (see
``tests/fixtures/defender/README.md``).

Inputs:

* ``defender.json``: one row per line (advanced hunting API, Sentinel/Log Analytics
  export), a JSON array or a ``{"Results": [...]}`` / ``{"records": [...]}`` document, and
  Streaming API records ``{"time", "tenantId", "category": "AdvancedHunting-<Table>",
  "properties": {<row>}}`` (Storage blobs line by line, Event Hub ``{"records": [...]}``).
* ``defender.csv``: the portal's *Export* (header row, RFC 4180 quoting; command lines
  and ``AdditionalFields`` JSON hold commas, quotes and newlines). Parsed by DuckDB's CSV
  reader; rows it rejects (column count, quoting, encoding) become ``invalid_csv`` issues.
  A numpy pass over the file finds where each record starts (quote parity), which gives
  the physical line of every row; when that split and DuckDB's disagree, rows keep their
  record number and lose only the line. Column names are matched case-insensitively and
  a Log Analytics unit suffix (``TimeGenerated [UTC]``) is ignored.

Which table a row comes from: a ``Type`` / ``$table`` / ``TableName`` column or the
Streaming ``category``; else a table name in the file's path (``DeviceNetworkEvents.csv``,
``insights-logs-advancedhunting-devicenetworkevents/...``); else the ``ActionType``
(``ProcessCreated`` -> DeviceProcessEvents, ``Connection*`` -> DeviceNetworkEvents ...;
an ActionType no other table uses -> DeviceEvents), which also sorts the rows of a
``union`` export.

Mapping:

* process: DeviceProcessEvents ``ProcessCreated``; the created process is ``FileName``,
  ``FolderPath``, ``ProcessId``, ``ProcessCommandLine``, ``ProcessCreationTime``,
  ``AccountName``/``AccountDomain``; its parent is the ``InitiatingProcess*`` process.
* connection: DeviceNetworkEvents ``ConnectionSuccess``, ``ConnectionFailed``,
  ``ConnectionAttempt``, ``ConnectionRequest``, ``ConnectionFound``,
  ``ConnectionAcknowledged``, ``InboundConnectionAccepted`` (source and destination
  swapped so that ``source`` is the originator). ``RemoteUrl`` (a bare host name or a
  URL) gives ``destination_domain`` with origin ``'url'``. IPv4-mapped addresses
  (``::ffff:a.b.c.d``, IP type ``FourToSixMapping``) are stored as the IPv4 address. The
  network-inspection rows (``*ConnectionInspected``, ``NetworkSignatureInspected``)
  repeat connections without a process and ``ListeningConnectionCreated`` has no peer:
  they are counted as skipped.
* dns: DeviceEvents ``DnsQueryResponse``; ``AdditionalFields`` holds ``DnsQueryString``
  and ``DnsQueryResult`` (a list of ``{"DnsQueryType", "Result"}``, sometimes itself a
  JSON string, or, in portal exports, a list of strings each holding one such object).
  ``InitiatingProcess*`` is then the DNS client service (``svchost.exe``) and
  ``ClientProcessName`` / ``ClientProcessId`` in ``AdditionalFields`` name the process
  that asked: where they are present the row is that process's (name and pid only; no
  entity id, since its creation time is not given). Other DeviceEvents are skipped as
  ``defender:DeviceEvents:<ActionType>``.
* file: DeviceFileEvents ``FileCreated``, ``FileModified``, ``FileRenamed``.

Defender has no process entity id. relayhunt synthesizes ``DeviceId:pid:creation time``
(creation time as epoch microseconds; the 7th fractional digit is dropped) for the acting
(initiating) process, its parent and created processes, so a process row and the network
rows of the same process carry the same id. The id is NULL when the pid is 0 or the
creation time is missing.

``FolderPath`` is the full path in the process, file and network tables; some exports
give only the folder (the ``DeviceEvents`` rows of a union export, for example), in
which case ``FileName`` is appended, unless the path already names an image (``.exe``,
``.dll``, ``.sys`` ...): the kernel's rows give ``FileName`` ``System`` with
``...\\system32\\ntoskrnl.exe``.

Time: ``Timestamp`` (ISO 8601, 7 fractional digits, ``Z``, truncated to microseconds), or
``TimeGenerated`` when a Log Analytics projection dropped it. Localized date formats are
not guessed (month/day order is ambiguous): such rows are rejected as
``missing_timestamp``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import pyarrow as pa

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.engine import RecordMapping, load_json_chunk, load_struct_relation
from relayhunt.sources.falcon import iter_json_chunks, looks_like_ndjson, nz
from relayhunt.sources.ndjson_file import load_ndjson_file
from relayhunt.store import sql_literal

V = "VARCHAR"

FIELDS: tuple[str, ...] = (
    "Timestamp",
    "TimeGenerated",
    "DeviceId",
    "DeviceName",
    "ActionType",
    "ReportId",
    "ReportId_long",
    "ReportId_string",
    "Type",
    "$table",
    "TableName",
    "category",
    "AccountName",
    "AccountDomain",
    "FileName",
    "FolderPath",
    "SHA256",
    "ProcessId",
    "ProcessCommandLine",
    "ProcessCreationTime",
    "ProcessIntegrityLevel",
    "InitiatingProcessFileName",
    "InitiatingProcessFolderPath",
    "InitiatingProcessId",
    "InitiatingProcessCommandLine",
    "InitiatingProcessCreationTime",
    "InitiatingProcessSHA256",
    "InitiatingProcessIntegrityLevel",
    "InitiatingProcessParentFileName",
    "InitiatingProcessParentId",
    "InitiatingProcessParentCreationTime",
    "InitiatingProcessAccountName",
    "InitiatingProcessAccountDomain",
    "RemoteIP",
    "RemotePort",
    "RemoteUrl",
    "LocalIP",
    "LocalPort",
    "Protocol",
    "AdditionalFields",
)
STRUCT: dict[str, Any] = dict.fromkeys(FIELDS, V)

TABLES: tuple[str, ...] = (
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceRegistryEvents",
    "DeviceLogonEvents",
    "DeviceImageLoadEvents",
    "DeviceFileCertificateInfo",
    "DeviceNetworkInfo",
    "DeviceInfo",
    "DeviceEvents",
    "AlertEvidence",
    "AlertInfo",
)

CONNECTION_ACTIONS: tuple[str, ...] = (
    "ConnectionSuccess",
    "ConnectionFailed",
    "ConnectionAttempt",
    "ConnectionRequest",
    "ConnectionFound",
    "ConnectionAcknowledged",
    "InboundConnectionAccepted",
)
FILE_ACTIONS: tuple[str, ...] = ("FileCreated", "FileModified", "FileRenamed")
_OTHER_NETWORK_ACTIONS: tuple[str, ...] = ("ListeningConnectionCreated",)
_LOGON_ACTIONS: tuple[str, ...] = ("LogonSuccess", "LogonFailed", "LogonAttempted")


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def table_hint(path: str) -> str | None:
    """The advanced hunting table named in a file's path, nearest component first."""
    parts = PureWindowsPath(path).parts if "\\" in path else PurePosixPath(path).parts
    for part in reversed(parts):
        low = part.lower()
        found = [t for t in TABLES if t.lower() in low]
        if found:
            return max(found, key=len)
    return None


def table_sql(hint: str | None) -> str:
    """SQL naming the table of record ``s`` (see the module docstring for the order)."""
    explicit = (
        'NULLIF(regexp_replace(trim(coalesce(s.Type, s."$table", s.TableName, s.category)),'
        " '^AdvancedHunting-', ''), '')"
    )
    inferred = f"""CASE
        WHEN s.ActionType = 'ProcessCreated' THEN 'DeviceProcessEvents'
        WHEN list_contains({_list(CONNECTION_ACTIONS + _OTHER_NETWORK_ACTIONS)}, s.ActionType)
             OR ends_with(s.ActionType, 'Inspected') THEN 'DeviceNetworkEvents'
        WHEN list_contains({_list((*FILE_ACTIONS, "FileDeleted"))}, s.ActionType)
             THEN 'DeviceFileEvents'
        WHEN starts_with(s.ActionType, 'Registry') THEN 'DeviceRegistryEvents'
        WHEN list_contains({_list(_LOGON_ACTIONS)}, s.ActionType) THEN 'DeviceLogonEvents'
        WHEN s.ActionType = 'ImageLoaded' THEN 'DeviceImageLoadEvents'
        WHEN trim(s.ActionType) <> '' THEN 'DeviceEvents' END"""
    return f"coalesce({explicit}, {sql_literal(hint)}, {inferred})"


def _eid(pid: str, created: str) -> str:
    """``DeviceId:pid:creation epoch µs``, NULL unless all three are known.

    ``created`` is an already parsed TIMESTAMP (a prelude alias).
    """
    return f"""CASE WHEN df_dev IS NOT NULL AND {created} IS NOT NULL
        AND TRY_CAST({pid} AS BIGINT) > 0
        THEN df_dev || ':' || CAST(TRY_CAST({pid} AS BIGINT) AS VARCHAR) || ':'
             || CAST(epoch_us({created}) AS VARCHAR) END"""


# A FolderPath that already names an executable image is the full path even when FileName
# differs from its last component: the kernel's rows name the process 'System' with the
# image c:\windows\system32\ntoskrnl.exe.
_IMAGE_PATH = r"\.(exe|dll|sys|com|scr)$"


def _path(folder: str, name: str) -> str:
    """Full path from FolderPath and FileName (FolderPath usually already ends with it)."""
    return f"""CASE WHEN {nz(folder)} IS NULL THEN NULL
        WHEN {nz(name)} IS NULL THEN {folder}
        WHEN lower({folder}) = lower({name}) OR ends_with(lower({folder}), '\\' || lower({name}))
             OR ends_with(lower({folder}), '/' || lower({name}))
             OR regexp_matches(lower(trim({folder})), '{_IMAGE_PATH}') THEN {folder}
        WHEN contains({folder}, '/') AND NOT contains({folder}, '\\')
             THEN rtrim({folder}, '/') || '/' || {name}
        ELSE rtrim({folder}, '\\') || '\\' || {name} END"""


_IPV4 = r"[0-9]{1,3}(\.[0-9]{1,3}){3}"
_IPV6 = r"[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7}(%[0-9a-zA-Z]+)?"

# Host of RemoteUrl, a bare FQDN or a URL: scheme, user info, path and port dropped.
# Most values are bare host names; the capturing expression runs only on the others.
# (Kept to one prelude item: a prelude alias used by a later prelude item is expanded
# in place, so chains of aliases multiply the work.)
_URL = f"lower(trim({nz('s.RemoteUrl')}))"
_URL_RE = r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#\[]+)"
URL_HOST = f"""rh_host(CASE WHEN regexp_matches({_URL}, '[:/@?#\\[]')
    THEN regexp_extract({_URL}, '{_URL_RE}', 1) ELSE {_URL} END)"""
# An IP literal in RemoteUrl is not a domain; nor is anything on an inbound connection.
DOMAIN = """CASE WHEN df_inbound OR regexp_full_match(df_host, '[0-9.]+|\\[.*\\]')
    THEN NULL ELSE df_host END"""


def _prelude() -> str:
    items = [
        f"{nz('s.DeviceId')} AS df_dev",
        "rh_ts(s.InitiatingProcessCreationTime) AS df_ict",
        "rh_ts(s.InitiatingProcessParentCreationTime) AS df_pct",
        "rh_ts(s.ProcessCreationTime) AS df_cct",
        f"{_eid('s.InitiatingProcessId', 'df_ict')} AS df_ieid",
        f"{_eid('s.InitiatingProcessParentId', 'df_pct')} AS df_peid",
        f"{_eid('s.ProcessId', 'df_cct')} AS df_ceid",
        f"{_path('s.FolderPath', 's.FileName')} AS df_path",
        f"{_path('s.InitiatingProcessFolderPath', 's.InitiatingProcessFileName')} AS df_ipath",
        "coalesce(s.ActionType = 'InboundConnectionAccepted', false) AS df_inbound",
        f"{URL_HOST} AS df_host",
        "CASE WHEN s.ActionType = 'DnsQueryResponse' THEN TRY(CAST(s.AdditionalFields AS JSON))"
        " END AS df_af",
        # once per record, not in each of the DNS row's eleven process columns
        f"coalesce(df_af IS NOT NULL AND {_HAS_CLIENT}, false) AS df_client",
    ]
    return ", ".join(items)


ACTOR_USER: dict[str, str] = {
    "user_name": nz("s.InitiatingProcessAccountName"),
    "user_domain": nz("s.InitiatingProcessAccountDomain"),
}

COMMON: dict[str, str] = {
    "event_action": nz("s.ActionType"),
    "event_id": f"coalesce({nz('s.ReportId')}, {nz('s.ReportId_long')}, {nz('s.ReportId_string')})",
    "host_name": nz("s.DeviceName"),
    "host_id": "df_dev",
}

# Network, DNS and file rows: the initiating process acts, its parent is the parent.
INITIATING: dict[str, str] = {
    **COMMON,
    **ACTOR_USER,
    "process_entity_id": "df_ieid",
    "process_pid": f"NULLIF(trim({nz('s.InitiatingProcessId')}), '0')",
    "process_executable": "df_ipath",
    "process_name": f"coalesce({nz('s.InitiatingProcessFileName')}, rh_basename(df_ipath))",
    "process_command_line": nz("s.InitiatingProcessCommandLine"),
    "process_parent_entity_id": "df_peid",
    "process_parent_pid": f"NULLIF(trim({nz('s.InitiatingProcessParentId')}), '0')",
    # Usually a file name; some rows give a \Device\HarddiskVolumeN path instead.
    "process_parent_executable": f"""CASE WHEN contains(s.InitiatingProcessParentFileName, '\\')
        THEN {nz("s.InitiatingProcessParentFileName")} END""",
    "process_parent_name": "rh_basename(s.InitiatingProcessParentFileName)",
}

# DnsQueryResult is a JSON list, or a string holding one; the raw text is kept. Its items
# are {"DnsQueryType", "Result"} objects, or (portal exports) strings that each hold such an
# object as JSON text.
DNS_RAW = """CASE json_type(df_af, '$.DnsQueryResult')
    WHEN 'VARCHAR' THEN json_extract_string(df_af, '$.DnsQueryResult')
    ELSE CAST(json_extract(df_af, '$.DnsQueryResult') AS VARCHAR) END"""
_DNS_JSON = f"CASE WHEN json_valid({DNS_RAW}) THEN CAST({DNS_RAW} AS JSON) END"
_ITEM_TEXT = "json_extract_string(x, '$')"
_DNS_VALUES = f"""list_transform(json_extract({_DNS_JSON}, '$[*]'), x ->
    CASE WHEN json_type(x) = 'VARCHAR' THEN
        CASE WHEN json_valid({_ITEM_TEXT}) AND starts_with(ltrim({_ITEM_TEXT}), '{{')
             THEN coalesce(json_extract_string(TRY_CAST({_ITEM_TEXT} AS JSON), '$.Result'),
                           json_extract_string(TRY_CAST({_ITEM_TEXT} AS JSON),
                                               '$.DnsQueryResultRecord'))
             ELSE {_ITEM_TEXT} END
    ELSE coalesce(json_extract_string(x, '$.Result'),
                  json_extract_string(x, '$.DnsQueryResultRecord')) END)"""
_IP_LIST = f"""list_filter(list_transform({_DNS_VALUES}, v -> trim(v)),
    v -> regexp_full_match(v, '{_IPV4}') OR regexp_full_match(v, '{_IPV6}'))"""

# The DNS client service (svchost.exe -k NetworkService) resolves names on behalf of other
# processes; where AdditionalFields names that client (ClientProcessName / ClientProcessId)
# the client is the process that asked. Its creation time is not given, so it has no entity
# id, and the service's own user, command line and parent are not the client's.
_CLIENT_PID = "json_extract_string(df_af, '$.ClientProcessId')"
_CLIENT_NAME = "json_extract_string(df_af, '$.ClientProcessName')"
_HAS_CLIENT = f"coalesce({nz(_CLIENT_PID)}, {nz(_CLIENT_NAME)}) IS NOT NULL"
_CLIENT_VALUES: dict[str, str] = {
    "process_pid": f"NULLIF(trim({nz(_CLIENT_PID)}), '0')",
    "process_name": f"rh_basename({nz(_CLIENT_NAME)})",
}
_ACTOR_KEYS = (
    "user_name",
    "user_domain",
    "process_entity_id",
    "process_pid",
    "process_executable",
    "process_name",
    "process_command_line",
    "process_parent_entity_id",
    "process_parent_pid",
    "process_parent_executable",
    "process_parent_name",
)


def _dns_actor() -> dict[str, str]:
    """Acting-process columns of a DnsQueryResponse row: the client where named."""
    return {
        key: f"CASE WHEN df_client THEN {_CLIENT_VALUES.get(key, 'NULL')} "
        f"ELSE {INITIATING[key]} END"
        for key in _ACTOR_KEYS
    }


# IPv4-mapped IPv6 addresses (RemoteIPType / LocalIPType 'FourToSixMapping', on dual-stack
# sockets) are given as ::ffff:a.b.c.d; the IPv4 address is what other sources record.
def _ip(field: str) -> str:
    # contains() first: the regular expression only where the prefix can be there
    return f"""CASE WHEN contains({field}, ':')
             AND regexp_full_match(lower(trim({field})), '::ffff:{_IPV4}')
        THEN substr(trim({field}), 8) ELSE {nz(field)} END"""


def mapping(hint: str | None) -> RecordMapping:
    """The record mapping for one input (``hint``: the table named by its path)."""
    tbl = table_sql(hint)
    route = f"""CASE {tbl}
        WHEN 'DeviceProcessEvents' THEN
            CASE WHEN coalesce(s.ActionType, 'ProcessCreated') = 'ProcessCreated'
                 THEN 'process' END
        WHEN 'DeviceNetworkEvents' THEN
            CASE WHEN list_contains({_list(CONNECTION_ACTIONS)}, s.ActionType)
                 THEN 'connection' END
        WHEN 'DeviceEvents' THEN
            CASE WHEN s.ActionType = 'DnsQueryResponse' THEN 'dns' END
        WHEN 'DeviceFileEvents' THEN
            CASE WHEN list_contains({_list(FILE_ACTIONS)}, s.ActionType) THEN 'file' END
        END"""
    label = f"'defender:' || coalesce({tbl}, 'unknown') || ':' || coalesce(s.ActionType, '(none)')"
    return RecordMapping(
        struct=STRUCT,
        route=route,
        label=label,
        timestamp="coalesce(rh_ts(s.Timestamp), rh_ts(s.TimeGenerated))",
        prelude=_prelude(),
        columns={
            "process": {
                **COMMON,
                "user_name": nz("s.AccountName"),
                "user_domain": nz("s.AccountDomain"),
                "process_entity_id": "df_ceid",
                "process_pid": f"NULLIF(trim({nz('s.ProcessId')}), '0')",
                "process_executable": "df_path",
                "process_name": f"coalesce({nz('s.FileName')}, rh_basename(df_path))",
                "process_command_line": nz("s.ProcessCommandLine"),
                "process_parent_entity_id": "df_ieid",
                "process_parent_pid": f"NULLIF(trim({nz('s.InitiatingProcessId')}), '0')",
                "process_parent_executable": "df_ipath",
                "process_parent_name": (
                    f"coalesce({nz('s.InitiatingProcessFileName')}, rh_basename(df_ipath))"
                ),
                "process_parent_command_line": nz("s.InitiatingProcessCommandLine"),
                "process_start": "df_cct",
                "process_hash_sha256": f"lower({nz('s.SHA256')})",
                "process_integrity_level": nz("s.ProcessIntegrityLevel"),
            },
            "connection": {
                **INITIATING,
                "event_outcome": """CASE s.ActionType WHEN 'ConnectionSuccess' THEN 'success'
                    WHEN 'InboundConnectionAccepted' THEN 'success'
                    WHEN 'ConnectionFailed' THEN 'failure' END""",
                "source_ip": f"CASE WHEN df_inbound THEN {_ip('s.RemoteIP')} "
                f"ELSE {_ip('s.LocalIP')} END",
                "source_port": f"CASE WHEN df_inbound THEN {nz('s.RemotePort')} "
                f"ELSE {nz('s.LocalPort')} END",
                "destination_ip": f"CASE WHEN df_inbound THEN {_ip('s.LocalIP')} "
                f"ELSE {_ip('s.RemoteIP')} END",
                "destination_port": f"CASE WHEN df_inbound THEN {nz('s.LocalPort')} "
                f"ELSE {nz('s.RemotePort')} END",
                "destination_domain": DOMAIN,
                "destination_domain_origin": f"CASE WHEN ({DOMAIN}) IS NOT NULL THEN 'url' END",
                "url_original": "CASE WHEN NOT df_inbound AND contains(s.RemoteUrl, '://') "
                "THEN trim(s.RemoteUrl) END",
                # Tcp, Udp, Icmp, and the TcpV4 / UdpV6 ... variants.
                "network_transport": f"lower(regexp_replace(trim({nz('s.Protocol')}), "
                "'[Vv][46]$', ''))",
                "network_direction": """CASE s.ActionType
                    WHEN 'InboundConnectionAccepted' THEN 'ingress'
                    WHEN 'ConnectionSuccess' THEN 'egress' WHEN 'ConnectionFailed' THEN 'egress'
                    WHEN 'ConnectionAttempt' THEN 'egress' WHEN 'ConnectionRequest' THEN 'egress'
                    END""",
            },
            "dns": {
                **INITIATING,
                **_dns_actor(),
                "dns_question_name": "rh_host(json_extract_string(df_af, '$.DnsQueryString'))",
                "dns_resolved_ip": f"CASE WHEN len({_IP_LIST}) > 0 THEN {_IP_LIST} END",
                "dns_answers": DNS_RAW,
            },
            "file": {
                **INITIATING,
                "file_path": "df_path",
                "file_name": f"coalesce({nz('s.FileName')}, rh_basename(df_path))",
                "file_extension": f"rh_ext(coalesce(df_path, {nz('s.FileName')}))",
                "file_hash_sha256": f"lower({nz('s.SHA256')})",
            },
        },
        checks={
            "initiating_created": f"""CASE WHEN {nz("s.InitiatingProcessCreationTime")} IS NOT NULL
                AND df_ict IS NULL
                THEN 'InitiatingProcessCreationTime='
                     || left(s.InitiatingProcessCreationTime, 60) END""",
            "created": f"""CASE WHEN {nz("s.ProcessCreationTime")} IS NOT NULL
                AND df_cct IS NULL
                THEN 'ProcessCreationTime=' || left(s.ProcessCreationTime, 60) END""",
            "dns_fields": f"""CASE WHEN s.ActionType = 'DnsQueryResponse'
                AND {nz("s.AdditionalFields")} IS NOT NULL
                AND (df_af IS NULL OR json_extract_string(df_af, '$.DnsQueryString') IS NULL)
                THEN 'AdditionalFields=' || left(s.AdditionalFields, 60) END""",
        },
    )


# -- JSON ----------------------------------------------------------------------------------

_STREAMING_FLATTEN = """SELECT * REPLACE (
    CASE WHEN json_valid(j) AND json_type(j, '$.properties') = 'OBJECT'
         THEN CAST(json_merge_patch(json_extract(j, '$.properties'),
                   json_object('category', json_extract_string(j, '$.category'))) AS VARCHAR)
         ELSE j END AS j)
    FROM _rh_defender_chunk"""


def _flatten_streaming(ctx: IngestContext, chunk: pa.Table) -> pa.Table:
    """Streaming API record -> its ``properties`` row, keeping ``category`` (the table)."""
    con = ctx.store.con
    con.register("_rh_defender_chunk", chunk)
    try:
        return con.execute(_STREAMING_FLATTEN).to_arrow_table()
    finally:
        con.unregister("_rh_defender_chunk")


def _is_row(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    props = doc.get("properties")
    if isinstance(props, dict) and str(doc.get("category", "")).startswith("AdvancedHunting-"):
        return True
    has_device = "DeviceId" in doc or "DeviceName" in doc
    has_time = "Timestamp" in doc or "TimeGenerated" in doc
    has_kind = "ActionType" in doc or any(k.startswith("InitiatingProcess") for k in doc)
    return has_device and has_time and has_kind


_JSON_HINT = re.compile(r'"(?:DeviceId|DeviceName)"\s*:.*"ActionType"\s*:|"AdvancedHunting-', re.S)


class DefenderJsonSource:
    """Defender advanced hunting rows as JSON (API, Sentinel export, Streaming API)."""

    name = "defender.json"
    description = (
        "Microsoft Defender for Endpoint advanced hunting rows as JSON "
        "(API / Sentinel export, Streaming API records)"
    )
    wrapper_keys = ("records", "Records", "Results", "results", "value", "data")

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None:
            if _is_row(doc):
                return True
            for key in self.wrapper_keys:
                inner = doc.get(key)
                if isinstance(inner, list) and inner and _is_row(inner[0]):
                    return True
            return False
        # A document too large for the head to hold a whole record.
        if head.json_layout in ("array", "object"):
            return bool(_JSON_HINT.search(head.text)) and '"Timestamp"' in head.text
        return False

    def read(self, ctx: IngestContext) -> None:
        m = mapping(table_hint(ctx.file.display))
        streaming = ctx.head is not None and '"AdvancedHunting-' in ctx.head.text
        if not streaming and looks_like_ndjson(ctx.head) and load_ndjson_file(ctx, m):
            return
        for chunk in iter_json_chunks(ctx, self.wrapper_keys):
            load_json_chunk(ctx, _flatten_streaming(ctx, chunk) if streaming else chunk, m)


# -- CSV -----------------------------------------------------------------------------------

_CSV_HINT_COLUMNS = ("DeviceId", "DeviceName")
CSV_BATCH_ROWS = 262_144
_UNIT_SUFFIX = re.compile(r"\s*\[[^\]]*\]\s*$")  # Log Analytics 'TimeGenerated [UTC]'


def _header(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None


def _canonical(name: str) -> str:
    return _UNIT_SUFFIX.sub("", name.strip().lstrip("\ufeff"))


class DefenderCsvSource:
    """Defender advanced hunting rows exported from the portal as CSV."""

    name = "defender.csv"
    description = "Microsoft Defender for Endpoint advanced hunting export (CSV with header)"

    def sniff(self, head: Head) -> bool:
        first = head.text.split("\n", 1)[0].rstrip("\r")
        if not first or first.lstrip().startswith(("{", "[", "#")):
            return False
        cols = {_canonical(c) for c in _header(first) or []}
        has_kind = "ActionType" in cols or any(c.startswith("InitiatingProcess") for c in cols)
        return (
            ("Timestamp" in cols or "TimeGenerated" in cols)
            and any(c in cols for c in _CSV_HINT_COLUMNS)
            and has_kind
        )

    def read(self, ctx: IngestContext) -> None:
        def truncated(offset: int, detail: str) -> None:
            ctx.issue(
                "truncated_gzip",
                f"gzip stream damaged after {offset} decompressed bytes ({detail}); "
                "rows before that point were read",
                offset=offset,
            )

        with ctx.file.plain_path(on_truncated=truncated) as path:
            _read_csv(ctx, path)


def _read_csv(ctx: IngestContext, path: Path) -> None:
    con = ctx.store.con
    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8", "replace")
    header = _header(first.rstrip("\r\n")) or []
    names: list[str] = []
    for i, raw in enumerate(header):
        name = raw.lstrip("\ufeff") or f"column{i}"
        while name in names:
            name += "_"
        names.append(name)
    if not names:
        ctx.issue("invalid_csv", "no header row", line=1, record=None, excerpt=first)
        return
    by_canonical: dict[str, str] = {}
    for name in names:
        by_canonical.setdefault(_canonical(name).lower(), name)

    split = split_csv_records(path)
    size = path.stat().st_size
    ctx.bytes_read += size
    columns = "{" + ", ".join(f"{sql_literal(n)}: 'VARCHAR'" for n in names) + "}"
    previous = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = true")  # rowid = file order, for record numbers
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _rh_defender_csv AS
                SELECT * FROM read_csv({sql_literal(str(path))}, auto_detect = false,
                    header = true, delim = ',', quote = '"', escape = '"',
                    columns = {columns}, store_rejects = true,
                    rejects_table = '_rh_defender_rejects',
                    rejects_scan = '_rh_defender_scans',
                    max_line_size = {max(ctx.max_record_bytes, 1 << 20)})"""
        )
    finally:
        order = "true" if previous and previous[0] else "false"
        con.execute(f"SET preserve_insertion_order = {order}")
    try:
        _load_csv_rows(ctx, by_canonical, split)
    finally:
        con.execute("DROP TABLE IF EXISTS _rh_defender_csv")
        con.execute("DROP TABLE IF EXISTS _rh_defender_rejects")
        con.execute("DROP TABLE IF EXISTS _rh_defender_scans")


def _load_csv_rows(
    ctx: IngestContext,
    by_canonical: dict[str, str],
    split: CsvSplit,
) -> None:
    con = ctx.store.con
    good_row = con.execute("SELECT count(*) FROM _rh_defender_csv").fetchone()
    n_good = int(good_row[0]) if good_row else 0
    rejects = con.execute(
        """SELECT line, min(line_byte_position),
                  string_agg(DISTINCT error_type, ', ' ORDER BY error_type),
                  arg_min(error_message, (byte_position, error_message)),
                  arg_min(csv_line, (byte_position, csv_line))
           FROM _rh_defender_rejects GROUP BY line ORDER BY line"""
    ).fetchall()
    # DuckDB numbers the lines of the CSV grammar: a quoted newline does not start one,
    # a blank line does; the header is line 1. Our split numbers records the same way,
    # so line L is split record L - 1. Where both agree (same count, and each rejected
    # row's text is found where our split says it starts) physical lines, offsets and
    # data-row numbers are exact. DuckDB's own byte positions are not used: they are off
    # by one on LF files.
    reject_index = np.array([int(r[0]) - 1 for r in rejects], dtype=np.int64)
    data_index = np.flatnonzero(~split.blank)
    data_index = data_index[data_index > 0]
    agree = (
        bool(np.all((reject_index > 0) & (reject_index < len(split.starts))))
        and len(data_index) == n_good + len(rejects)
        and _rows_at(split, reject_index, [r[4] for r in rejects])
    )
    ctx.records_seen += n_good + len(rejects)
    if agree:
        row_of = np.zeros(len(split.starts), dtype=np.int64)
        row_of[data_index] = np.arange(1, len(data_index) + 1, dtype=np.int64)
        good_index = np.setdiff1d(data_index, reject_index, assume_unique=True)
        reject_rows = row_of[reject_index]
        record_no = row_of[good_index]
        line_no: pa.Array = pa.array(split.lines[good_index])
        offsets: pa.Array = pa.array(split.starts[good_index])
    else:
        # Fall back on DuckDB's numbering (it counts blank lines); no physical lines.
        reject_rows = reject_index
        k = np.arange(n_good, dtype=np.int64)
        gaps = reject_rows - 1 - np.arange(len(reject_rows), dtype=np.int64)
        record_no = k + 1 + np.searchsorted(gaps, k, side="right")
        line_no = pa.nulls(n_good, pa.int64())
        offsets = pa.nulls(n_good, pa.int64())
    for i, row, (_, _off, kinds, message, excerpt) in zip(
        reject_index, reject_rows, rejects, strict=True
    ):
        ctx.issue(
            "invalid_csv",
            f"CSV row rejected ({kinds}): {message}",
            line=int(split.lines[i]) if agree else None,
            record=int(row),
            offset=int(split.starts[i]) if agree else None,
            excerpt=(excerpt or "").lstrip("\r\n"),
        )
    if n_good == 0:
        return
    positions = pa.table(
        {
            "idx": pa.array(np.arange(n_good, dtype=np.int64)),
            "record_no": pa.array(record_no.astype(np.int64)),
            "line_no": line_no,
            "off": offsets,
        }
    )
    fields = []
    for field in FIELDS:
        source = by_canonical.get(field.lower())
        value = f't."{source.replace(chr(34), chr(34) * 2)}"' if source else "NULL::VARCHAR"
        fields.append(f'"{field}" := {value}')
    m = mapping(table_hint(ctx.file.display))
    # Batches bound the engine's per-chunk working tables on large exports.
    for lo in range(0, n_good, CSV_BATCH_ROWS):
        hi = min(lo + CSV_BATCH_ROWS, n_good)
        relation = f"""SELECT p.idx, p.line_no, p.record_no, p.off,
                   struct_pack({", ".join(fields)}) AS s
            FROM (SELECT rowid AS _rh_rowid, * FROM _rh_defender_csv
                  WHERE rowid >= {lo} AND rowid < {hi}) t
            JOIN _rh_defender_positions p ON p.idx = t._rh_rowid"""
        con.register("_rh_defender_positions", positions.slice(lo, hi - lo))
        try:
            load_struct_relation(ctx, relation, m)
        finally:
            con.unregister("_rh_defender_positions")


def _rows_at(split: CsvSplit, index: np.ndarray, texts: list[str | None]) -> bool:
    """Does each rejected row's text (as DuckDB quotes it) start where the split says?

    Compared on the first 32 characters (DuckDB shows undecodable bytes of an
    ``INVALID ENCODING`` row differently), which is where a Defender row starts with its
    timestamp anyway.
    """
    if not len(index):
        return True
    with split.path.open("rb") as fh:
        for i, text in zip(index, texts, strict=True):
            # DuckDB's text of a row in a CRLF file can begin with the previous '\n'.
            head = _ASCII_PREFIX.match((text or "").lstrip("\r\n"))
            want = head.group(0)[:32].encode("ascii") if head else b""
            if len(want) < 8:
                continue
            fh.seek(int(split.starts[i]))
            if fh.read(len(want)) != want:
                return False
    return True


_ASCII_PREFIX = re.compile(r"[\x20-\x7e\t]*")


@dataclass(frozen=True)
class CsvSplit:
    """Where the records of a CSV file start: byte offset, 1-based line, blank or not.

    Record 0 is the header. A newline ends a record when an even number of quote
    characters precede it (RFC 4180: ``""`` inside a quoted field toggles twice).
    """

    path: Path
    starts: np.ndarray
    lines: np.ndarray
    blank: np.ndarray


def split_csv_records(path: Path, block: int = 32 * 1024 * 1024) -> CsvSplit:
    """Vectorized record split of a CSV file (numpy over large blocks, no per-row Python)."""
    terminators: list[np.ndarray] = []
    term_lines: list[np.ndarray] = []
    in_quote = False
    base = 0
    line = 1
    with path.open("rb") as fh:
        while True:
            data = fh.read(block)
            if not data:
                break
            arr = np.frombuffer(data, dtype=np.uint8)
            quotes = np.flatnonzero(arr == 34)
            newlines = np.flatnonzero(arr == 10)
            before = np.searchsorted(quotes, newlines)
            outside = ((before + int(in_quote)) % 2) == 0
            terminators.append(newlines[outside] + base)
            term_lines.append(np.arange(line, line + len(newlines), dtype=np.int64)[outside])
            in_quote = bool((len(quotes) + int(in_quote)) % 2)
            line += len(newlines)
            base += len(data)
    ends = np.concatenate(terminators) if terminators else np.empty(0, dtype=np.int64)
    end_lines = np.concatenate(term_lines) if term_lines else np.empty(0, dtype=np.int64)
    starts = np.concatenate([[0], ends + 1]).astype(np.int64)
    lines = np.concatenate([[1], end_lines + 1]).astype(np.int64)
    keep = starts < base  # no record after the final newline
    starts, lines = starts[keep], lines[keep]
    # A blank record is a bare '\n' or '\r\n'.
    nxt = np.searchsorted(ends, starts)
    length = np.where(nxt < len(ends), ends[np.minimum(nxt, max(len(ends) - 1, 0))], base) - starts
    blank = length == 0
    if np.any(length == 1):
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        blank |= (length == 1) & (mm[np.minimum(starts, base - 1)] == 13)
        del mm
    blank[:1] = False
    return CsvSplit(path, starts, lines, blank)
