"""Sysmon: the field semantics shared by every Sysmon reader, and the JSON readers.

Sysmon (Sysinternals System Monitor) writes to the ``Microsoft-Windows-Sysmon/Operational``
channel. relayhunt uses four of its events (field names from Sysmon's manifest, as
``sysmon -s`` prints them and as documented by Microsoft and the Sysmon community guide):

* EID 1 *Process Create*: ``ProcessGuid``, ``ProcessId``, ``Image``, ``CommandLine``,
  ``CurrentDirectory``, ``User``, ``IntegrityLevel``, ``Hashes``, ``ParentProcessGuid``,
  ``ParentProcessId``, ``ParentImage``, ``ParentCommandLine`` -> ``process``;
* EID 3 *Network connection detected*: ``Protocol``, ``Initiated``, ``SourceIp``,
  ``SourcePort``, ``DestinationIp``, ``DestinationHostname``, ``DestinationPort`` ->
  ``connection``;
* EID 22 *Dns query*: ``QueryName``, ``QueryStatus``, ``QueryResults`` -> ``dns``;
* EID 11 *File created*: ``TargetFilename`` -> ``file``.

Every other Sysmon event is counted as skipped (``sysmon:<id>``); events of other
channels in the same input (Security 4688 ...) as ``<channel>:<id>``.

Semantics, the same for every container format:

* ``UtcTime`` (``2026-11-01 12:00:00.123``) is UTC and is the event time; the record's
  ``TimeCreated`` / ``@timestamp`` is used only when ``UtcTime`` is absent.
* ``ProcessGuid`` is normalized to ``{lowercase-guid}`` (EVTX parsers print GUID values in
  upper case without braces; Windows renders them in lower case with braces).
* ``User`` ``CORP\\alice`` -> ``user_domain`` ``CORP``, ``user_name`` ``alice``.
* ``QueryResults`` (``type:  5 edge.example.net;::ffff:104.21.1.1;172.67.2.2;``):
  ``dns_resolved_ip`` holds the addresses only (IPv4-mapped ``::ffff:`` prefix removed,
  ``type: N <name>`` CNAME entries dropped); ``dns_answers`` keeps the text as recorded.
* ``QueryStatus`` is a Windows status code: 0 -> ``NOERROR``, 9001-9005 ->
  ``FORMERR``/``SERVFAIL``/``NXDOMAIN``/``NOTIMP``/``REFUSED``, others kept as given.
* EID 3 ``DestinationHostname`` is Sysmon's *reverse DNS (PTR) lookup of the destination
  IP*, not the name the process asked for: for CDN and serverless front ends it is a CDN
  name or empty. It is stored as ``destination_domain`` with
  ``destination_domain_origin = 'reverse_dns'``; the name that was asked for comes from
  joining EID 22 (``QueryName``, ``QueryResults``) on ``ProcessGuid`` and address.
* ``Initiated`` true -> ``network_direction`` ``egress`` (the process opened the
  connection), false -> ``ingress``.
* ``Hashes`` ``SHA256=...`` (among ``MD5=``, ``IMPHASH=`` ...) -> ``process_hash_sha256``.

The mapping is written once, over accessor functions; each container (EVTX JSON from the
``evtx`` package, rendered XML, Winlogbeat / Elastic Agent JSON, flattened JSON) supplies
its accessors as a :class:`Shape`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.engine import RecordMapping, load_flat, read_json

V = "VARCHAR"

SYSMON_PROVIDER: Final = "Microsoft-Windows-Sysmon"
SYSMON_CHANNEL: Final = "Microsoft-Windows-Sysmon/Operational"

# EventData fields relayhunt reads, per event id, in the order Sysmon writes them (its
# manifest, schema 4.x).
FIELDS_BY_EVENT: Final[Mapping[int, tuple[str, ...]]] = {
    1: (
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "CommandLine",
        "CurrentDirectory",
        "User",
        "IntegrityLevel",
        "Hashes",
        "ParentProcessGuid",
        "ParentProcessId",
        "ParentImage",
        "ParentCommandLine",
    ),
    3: (
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "User",
        "Protocol",
        "Initiated",
        "SourceIp",
        "SourcePort",
        "DestinationIp",
        "DestinationHostname",
        "DestinationPort",
    ),
    11: ("UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "TargetFilename"),
    22: (
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "QueryName",
        "QueryStatus",
        "QueryResults",
        "Image",
        "User",
    ),
}
DATA_FIELDS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(f for fields in FIELDS_BY_EVENT.values() for f in fields)
)
TABLE_BY_EVENT: Final[Mapping[int, str]] = {1: "process", 3: "connection", 11: "file", 22: "dns"}
ACTION_BY_EVENT: Final[Mapping[int, str]] = {
    1: "Process Create",
    3: "Network connection detected",
    11: "File created",
    22: "Dns query",
}
# Windows DNS status codes as Sysmon's QueryStatus (and the names Elastic's pipeline
# translates them to) -> DNS response code.
DNS_STATUS: Final[Mapping[str, str]] = {
    "0": "NOERROR",
    "SUCCESS": "NOERROR",
    "9001": "FORMERR",
    "DNS_ERROR_RCODE_FORMAT_ERROR": "FORMERR",
    "9002": "SERVFAIL",
    "DNS_ERROR_RCODE_SERVER_FAILURE": "SERVFAIL",
    "9003": "NXDOMAIN",
    "DNS_ERROR_RCODE_NAME_ERROR": "NXDOMAIN",
    "9004": "NOTIMP",
    "DNS_ERROR_RCODE_NOT_IMPLEMENTED": "NOTIMP",
    "9005": "REFUSED",
    "DNS_ERROR_RCODE_REFUSED": "REFUSED",
    "9501": "DNS_INFO_NO_RECORDS",
    "1460": "ERROR_TIMEOUT",
}


@dataclass(frozen=True)
class Shape:
    """Where one container format keeps the Sysmon values, as SQL over the record ``s``.

    ``data(name)`` gives the EventData field ``name`` as text; the other members give
    the System values. ``fallback`` adds per-column SQL used when the Sysmon field is
    absent (Elastic's pipeline moves fields to ECS).
    """

    struct: Mapping[str, Any]
    data: Callable[[str], str]
    event_id: str
    computer: str
    record_id: str
    channel: str
    provider: str
    system_time: str
    unwrap: str | None = None
    prelude: str = ""
    """Extra select-list over ``s`` whose names ``data`` may use (see RecordMapping)."""
    fallback: Mapping[str, str] = field(default_factory=dict)
    clean: bool = False
    """The values are already cleaned (``rh_nz``: empty and placeholder text is NULL)."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _case_map(expr: str, mapping: Mapping[str, str], default: str) -> str:
    whens = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def build_mapping(shape: Shape) -> RecordMapping:
    """The Sysmon :class:`RecordMapping` for one container shape."""

    def nz(expr: str) -> str:
        return expr if shape.clean else f"rh_nz({expr})"

    def d(name: str) -> str:
        return nz(shape.data(name))

    def fb(column: str, expr: str) -> str:
        extra = shape.fallback.get(column)
        return f"coalesce({expr}, {extra})" if extra else expr

    eid_text = f"""(CASE WHEN starts_with(ltrim(CAST({shape.event_id} AS VARCHAR)), '{{')
        THEN json_extract_string(CAST({shape.event_id} AS VARCHAR), '$."#text"')
        ELSE trim(CAST({shape.event_id} AS VARCHAR)) END)"""
    eid = f"TRY_CAST({eid_text} AS INTEGER)"
    channel = nz(shape.channel)
    provider = nz(shape.provider)
    is_sysmon = f"""(CASE
        WHEN {channel} IS NOT NULL THEN {channel} ILIKE 'Microsoft-Windows-Sysmon%'
        WHEN {provider} IS NOT NULL THEN {provider} ILIKE '%Microsoft-Windows-Sysmon%'
        ELSE true END)"""
    routes = " ".join(f"WHEN {k} THEN '{v}'" for k, v in TABLE_BY_EVENT.items())
    route = f"CASE WHEN {is_sysmon} THEN CASE {eid} {routes} END END"
    label = f"""(CASE WHEN {is_sysmon} THEN 'sysmon'
        ELSE coalesce({channel}, {provider}, 'unknown') END) || ':' || coalesce({eid_text}, '?')"""
    utc = d("UtcTime")
    timestamp = f"coalesce(rh_ts({utc}), {shape.system_time})"

    def guid(expr: str) -> str:
        g = f"lower(trim({expr}, '{{}} '))"
        return (
            f"CASE WHEN {g} IS NULL OR {g} IN ('', '00000000-0000-0000-0000-000000000000') "
            f"THEN NULL ELSE '{{' || {g} || '}}' END"
        )

    user = d("User")
    actions = " ".join(f"WHEN {k} THEN '{v}'" for k, v in ACTION_BY_EVENT.items())
    common: dict[str, str] = {
        "event_action": f"CASE {eid} {actions} END",
        "event_code": f"CAST({eid} AS VARCHAR)",
        "event_id": nz(shape.record_id),
        "host_name": nz(shape.computer),
        "user_name": fb(
            "user_name",
            f"CASE WHEN contains({user}, '\\') THEN NULLIF(split_part({user}, '\\', 2), '') "
            f"ELSE {user} END",
        ),
        "user_domain": fb(
            "user_domain",
            f"CASE WHEN contains({user}, '\\') THEN NULLIF(split_part({user}, '\\', 1), '') END",
        ),
        "process_entity_id": guid(d("ProcessGuid")),
        "process_pid": d("ProcessId"),
        "process_executable": d("Image"),
        "process_name": f"rh_basename({d('Image')})",
    }
    if "host_id" in shape.fallback:
        common["host_id"] = shape.fallback["host_id"]
    status = f"upper({d('QueryStatus')})"
    qr = d("QueryResults")
    # Addresses of QueryResults: the entries that are an IPv4 (IPv4-mapped ``::ffff:``
    # prefix dropped) or IPv6 address; "type: 5 name" CNAME entries are skipped. Each
    # separator is doubled so that every entry can be anchored on the one before it.
    resolved = (
        f"CASE WHEN {qr} IS NOT NULL THEN NULLIF(regexp_extract_all("
        f"replace({qr}, ';', ';;') || ';', "
        r"'(?:^|;)\s*(?:::ffff:)?([0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)\s*;', "
        "1), []) END"
    )
    initiated = f"lower({d('Initiated')})"
    target = d("TargetFilename")
    hashes = d("Hashes")
    columns: dict[str, dict[str, str]] = {
        "process": {
            **common,
            "process_command_line": d("CommandLine"),
            "process_parent_entity_id": guid(d("ParentProcessGuid")),
            "process_parent_pid": d("ParentProcessId"),
            "process_parent_executable": d("ParentImage"),
            "process_parent_name": f"rh_basename({d('ParentImage')})",
            "process_parent_command_line": d("ParentCommandLine"),
            "process_start": fb("process_start", f"rh_ts({utc})"),
            "process_hash_sha256": fb(
                "process_hash_sha256",
                f"NULLIF(lower(regexp_extract({hashes}, '(?i)SHA256=([0-9a-f]{{64}})', 1)), '')",
            ),
            "process_working_directory": d("CurrentDirectory"),
            "process_integrity_level": d("IntegrityLevel"),
        },
        "connection": {
            **common,
            "source_ip": d("SourceIp"),
            "source_port": d("SourcePort"),
            "destination_ip": d("DestinationIp"),
            "destination_port": d("DestinationPort"),
            "destination_domain": f"rh_host({d('DestinationHostname')})",
            "destination_domain_origin": f"CASE WHEN rh_host({d('DestinationHostname')}) "
            "IS NOT NULL THEN 'reverse_dns' END",
            "network_transport": f"lower({d('Protocol')})",
            "network_direction": fb(
                "network_direction",
                f"CASE {initiated} WHEN 'true' THEN 'egress' WHEN 'false' THEN 'ingress' END",
            ),
        },
        "dns": {
            **common,
            "event_outcome": f"CASE WHEN {status} IN ('0', 'SUCCESS') THEN 'success' "
            f"WHEN {status} IS NOT NULL THEN 'failure' END",
            "dns_question_name": f"rh_host({d('QueryName')})",
            "dns_response_code": _case_map(status, DNS_STATUS, status),
            "dns_resolved_ip": fb("dns_resolved_ip", resolved),
            "dns_answers": fb("dns_answers", qr),
        },
        "file": {
            **common,
            "file_path": target,
            "file_name": f"rh_basename({target})",
            "file_extension": f"rh_ext({target})",
        },
    }
    return RecordMapping(
        struct=shape.struct,
        route=route,
        label=label,
        timestamp=timestamp,
        columns=columns,
        unwrap=shape.unwrap,
        prelude=shape.prelude,
        checks={
            "utc_time": f"CASE WHEN {utc} IS NOT NULL AND rh_ts({utc}) IS NULL "
            f"THEN 'UtcTime=' || left({utc}, 60) || ' (used the record time instead)' END",
        },
    )


def _data_struct() -> dict[str, str]:
    return dict.fromkeys(DATA_FIELDS, V)


# -- shapes ---------------------------------------------------------------------------------

# The flat record every XML and EVTX event is reduced to: the System values and the named
# EventData fields (rendered XML and the ``evtx`` package's JSON both come down to this).
RECORD_SYSTEM: Final[tuple[str, ...]] = (
    "EventID",
    "EventRecordID",
    "Channel",
    "Computer",
    "Provider",
    "SystemTime",
)


def _record_shape(
    system: Callable[[str], str],
    data: Callable[[str], str],
    struct: Mapping[str, Any],
    *,
    clean: bool = False,
) -> Shape:
    """The flat record's shape, given where its System values and Data fields are."""
    return Shape(
        struct=struct,
        data=data,
        event_id=system("EventID"),
        computer=system("Computer"),
        record_id=system("EventRecordID"),
        channel=system("Channel"),
        provider=system("Provider"),
        system_time=f"rh_ts({system('SystemTime')})",
        clean=clean,
    )


# As a struct ``s`` (parsed JSON of a record read by lxml).
RECORD_SHAPE: Final = _record_shape(
    lambda k: f"s.System.{_q(k)}",
    lambda n: f"s.EventData.{_q(n)}",
    {"System": dict.fromkeys(RECORD_SYSTEM, V), "EventData": _data_struct()},
)

# Winlogbeat 7/8 (``winlog.*``), Winlogbeat 6 (top-level ``event_data``, ``computer_name``
# ...) and Elastic Agent's ``windows.sysmon_operational`` data stream, whose ingest
# pipeline moves most EventData fields to ECS (``process.*``, ``destination.*``,
# ``dns.*``) and removes them from ``winlog.event_data``; Winlogbeat's own sysmon module
# does the same in the shipper (numeric ``winlog.event_id``, ``dns.grouped.ip``).
_WLB_ECS: Final[Mapping[str, str]] = {
    "ProcessGuid": "s.process.entity_id",
    "ProcessId": "s.process.pid",
    "Image": "s.process.executable",
    "CommandLine": "s.process.command_line",
    "CurrentDirectory": "s.process.working_directory",
    "ParentProcessGuid": "s.process.parent.entity_id",
    "ParentProcessId": "s.process.parent.pid",
    "ParentImage": "s.process.parent.executable",
    "ParentCommandLine": "s.process.parent.command_line",
    "Protocol": "s.network.transport",
    "SourceIp": "s.source.ip",
    "SourcePort": "s.source.port",
    "DestinationIp": "s.destination.ip",
    "DestinationPort": "s.destination.port",
    "DestinationHostname": "s.destination.domain",
    "QueryName": "s.dns.question.name",
    "QueryStatus": "s.sysmon.dns.status",
    "TargetFilename": "s.file.path",
}


def _wlb_data(name: str) -> str:
    paths = [f"rh_nz(s.winlog.event_data.{_q(name)})", f"rh_nz(s.event_data.{_q(name)})"]
    if name in _WLB_ECS:
        paths.append(f"rh_nz({_WLB_ECS[name]})")
    return f"coalesce({', '.join(paths)})"


# Addresses of an ECS DNS answer: dns.resolved_ip (Elastic Agent's pipeline), else
# dns.grouped.ip (Winlogbeat's sysmon module, which has no dns.resolved_ip).
_WLB_RESOLVED_IP: Final = (
    "coalesce(rh_str_list(s.dns.resolved_ip, ','), rh_str_list(s.dns.grouped.ip, ','))"
)

_PROC_ECS: Final = {"entity_id": V, "pid": V, "executable": V, "command_line": V}
WINLOGBEAT_SHAPE: Final = Shape(
    struct={
        "@timestamp": V,
        "winlog": {
            "event_id": V,
            "channel": V,
            "computer_name": V,
            "record_id": V,
            "provider_name": V,
            "event_data": _data_struct(),
        },
        "event_id": V,
        "computer_name": V,
        "record_number": V,
        "log_name": V,
        "source_name": V,
        "event_data": _data_struct(),
        "event": {"code": V, "provider": V},
        "host": {"name": V, "hostname": V},
        "agent": {"id": V},
        "user": {"name": V, "domain": V},
        "process": {
            **_PROC_ECS,
            "working_directory": V,
            "hash": {"sha256": V},
            "parent": _PROC_ECS,
        },
        "network": {"transport": V, "direction": V},
        "source": {"ip": V, "port": V},
        "destination": {"ip": V, "port": V, "domain": V},
        "dns": {"question": {"name": V}, "resolved_ip": V, "grouped": {"ip": V}, "answers": V},
        "sysmon": {"dns": {"status": V}},
        "file": {"path": V},
    },
    data=_wlb_data,
    event_id="coalesce(s.winlog.event_id, s.event_id, s.event.code)",
    computer="coalesce(s.winlog.computer_name, s.computer_name, s.host.name, s.host.hostname)",
    record_id="coalesce(s.winlog.record_id, s.record_number)",
    channel="coalesce(s.winlog.channel, s.log_name)",
    provider="coalesce(s.winlog.provider_name, s.source_name, s.event.provider)",
    system_time='rh_ts(s."@timestamp")',
    unwrap="$._source",
    fallback={
        # Elastic's pipeline splits EventData.User into user.*; Winlogbeat 6's top-level
        # user.* is the Sysmon service account instead, so it is not used.
        "user_name": "CASE WHEN s.log_name IS NULL THEN rh_nz(s.user.name) END",
        "user_domain": "CASE WHEN s.log_name IS NULL THEN rh_nz(s.user.domain) END",
        "network_direction": "lower(rh_nz(s.network.direction))",
        "dns_resolved_ip": _WLB_RESOLVED_IP,
        "dns_answers": "rh_nz(s.dns.answers)",
        "process_hash_sha256": "lower(rh_nz(s.process.hash.sha256))",
        # The pipelines set @timestamp from UtcTime (the process creation time for EID 1)
        # and drop UtcTime from winlog.event_data.
        "process_start": 'rh_ts(s."@timestamp")',
        "host_id": "rh_nz(s.agent.id)",
    },
)

# Flattened exports: NXLog im_msvistalog + xm_json (EventID, Hostname, EventTime,
# SourceName, Channel, RecordNumber and the EventData fields at the top level), Splunk
# search exports (``{"result": {...}}`` per line with EventCode, Computer, RecordID,
# _time), Microsoft Sentinel / Log Analytics results of a Sysmon parser (Computer,
# EventID, EventLog, Source, TimeGenerated), and exports that keep the fields under
# "EventData": as an object, or as the event's XML text (the Azure Monitor ``Event``
# table's EventData column, ``<DataItem ...><EventData ...><Data Name="UtcTime">``).
_FLAT_SYSTEM: Final = (
    "EventID",
    "EventCode",
    "Hostname",
    "Computer",
    "ComputerName",
    "RecordNumber",
    "EventRecordID",
    "RecordID",
    "Channel",
    "LogName",
    "EventLog",
    "SourceName",
    "ProviderName",
    "Source",
    "TimeCreated",
    "SystemTime",
    "TimeGenerated",
    "EventTime",
    "@timestamp",
    "_time",
)


def xml_unescape(expr: str) -> str:
    """Text of an XML element as SQL: the five predefined entities decoded and line
    breaks normalized as an XML parser does (no other entity is ever expanded)."""
    return f"""CASE WHEN contains({expr}, '&') OR contains({expr}, chr(13)) THEN
        replace(replace(replace(replace(replace(replace({expr}, chr(13) || chr(10), chr(10)),
            '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&apos;', ''''), '&amp;', '&')
        ELSE {expr} END"""


def _flat_data(name: str) -> str:
    """The field at the top level, else from the ``EventData`` object."""
    return f"coalesce(rh_nz(s.{_q(name)}), rh_nz(s.EventData.{_q(name)}))"


def _flat_xml_data(name: str) -> str:
    """The field at the top level, else from ``EventData`` given as the event's
    ``<EventData>`` XML text (the Azure Monitor / Log Analytics ``Event`` table's EventData
    column: ``<Data Name="UtcTime">...</Data>``)."""
    pattern = "<Data Name=[\"']" + name + "[\"']\\s*>([^<]*)</Data>"
    from_xml = xml_unescape(f"regexp_extract(s.EventData, {_sql_str(pattern)}, 1)")
    return f"coalesce(rh_nz(s.{_q(name)}), rh_nz({from_xml}))"


# EventTime from NXLog is the collector's local time without an offset unless the
# pipeline formats it; it is used only when it carries an explicit offset or 'Z'.
_FLAT_TIME: Final = """coalesce(rh_ts(s.TimeCreated), rh_ts(s.SystemTime), rh_ts(s.TimeGenerated),
    rh_ts(s."@timestamp"), rh_ts(s._time),
    CASE WHEN regexp_matches(trim(s.EventTime), '(Z|[+-][0-9]{2}:?[0-9]{2})$')
         THEN rh_ts(s.EventTime) END)"""

FLAT_SHAPE: Final = Shape(
    struct={
        **dict.fromkeys(_FLAT_SYSTEM, V),
        **_data_struct(),
        "EventData": _data_struct(),
    },
    data=_flat_data,
    event_id="coalesce(s.EventID, s.EventCode)",
    computer="coalesce(s.Hostname, s.Computer, s.ComputerName)",
    record_id="coalesce(s.RecordNumber, s.EventRecordID, s.RecordID)",
    channel="coalesce(s.Channel, s.LogName, s.EventLog)",
    provider="coalesce(s.SourceName, s.ProviderName, s.Source)",
    system_time=_FLAT_TIME,
    unwrap="$.result",
)

RECORD_MAPPING: Final = build_mapping(RECORD_SHAPE)
WINLOGBEAT_MAPPING: Final = build_mapping(WINLOGBEAT_SHAPE)
FLAT_MAPPING: Final = build_mapping(FLAT_SHAPE)
# Exports whose EventData is the event's <EventData> XML as text: chosen per file from its
# head (an object typed as text would be parsed again for every field).
FLAT_XML_MAPPING: Final = build_mapping(
    replace(FLAT_SHAPE, struct={**FLAT_SHAPE.struct, "EventData": V}, data=_flat_xml_data)
)


# -- flat records (XML, EVTX) ---------------------------------------------------------------

FLAT_RECORD_COLUMNS: Final[tuple[str, ...]] = RECORD_SYSTEM + tuple(f"d_{f}" for f in DATA_FIELDS)
"""Columns of a flat record table besides (idx, line_no, record_no, off): the System
values by name, then ``d_<field>`` for each EventData field in :data:`DATA_FIELDS`."""

# The same record as columns of a flat table, cleaned once (see :func:`flat_columns`):
# the mapping reads them by name.
COLUMNS_SHAPE: Final = _record_shape(_q, lambda n: _q("d_" + n), {}, clean=True)
COLUMNS_MAPPING: Final = build_mapping(COLUMNS_SHAPE)


def flat_columns(system: Mapping[str, str], data: Mapping[str, str]) -> str:
    """The select list of a flat record relation: each System value (by name, from
    ``system``) and EventData field (``d_<field>``, from ``data``) as cleaned text, NULL
    where ``system`` / ``data`` has no SQL for it. Each value is cleaned once here."""
    parts = [
        f"rh_nz({system[k]}) AS {_q(k)}" if k in system else f"NULL::VARCHAR AS {_q(k)}"
        for k in RECORD_SYSTEM
    ]
    parts += [
        f"rh_nz({data[f]}) AS {_q('d_' + f)}" if f in data else f"NULL::VARCHAR AS {_q('d_' + f)}"
        for f in DATA_FIELDS
    ]
    return ", ".join(parts)


def load_records(ctx: IngestContext, relation_sql: str, *, careful_sql: str | None = None) -> None:
    """Load flat records through the Sysmon mapping.

    ``relation_sql`` yields ``idx, line_no, record_no, off, _bad`` and the columns of
    :data:`FLAT_RECORD_COLUMNS` (built with :func:`flat_columns`); see
    :func:`relayhunt.sources.engine.load_flat`, also for ``careful_sql``. The values were
    extracted once; the mapping reads the columns directly, with no struct and nothing
    parsed twice. ``_rh_route`` holds the records read afterwards.
    """
    load_flat(ctx, relation_sql, COLUMNS_MAPPING, careful_sql=careful_sql)


# -- JSON readers ---------------------------------------------------------------------------


def _mentions_sysmon(*values: object) -> bool:
    return any(isinstance(v, str) and "sysmon" in v.lower() for v in values)


def _unwrap_source(doc: dict[str, Any]) -> dict[str, Any]:
    inner = doc.get("_source")
    return inner if isinstance(inner, dict) else doc


class SysmonWinlogbeatSource:
    """Sysmon events shipped by Winlogbeat or Elastic Agent (NDJSON or an ES export)."""

    name = "sysmon.winlogbeat"
    description = (
        "Sysmon via Winlogbeat 6-8 or Elastic Agent (windows.sysmon_operational), "
        "NDJSON or Elasticsearch export"
    )

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is None:
            return False
        if isinstance(doc.get("hits"), dict):
            return '"winlog"' in head.text and "Sysmon" in head.text
        doc = _unwrap_source(doc)
        winlog = doc.get("winlog")
        data_stream = doc.get("data_stream")
        event = doc.get("event")
        if isinstance(data_stream, dict) and data_stream.get("dataset") == (
            "windows.sysmon_operational"
        ):
            return True
        if isinstance(winlog, dict):
            return _mentions_sysmon(winlog.get("channel"), winlog.get("provider_name")) or (
                isinstance(event, dict) and _mentions_sysmon(event.get("module"))
            )
        # Winlogbeat 6: no "winlog" object.
        return "event_data" in doc and _mentions_sysmon(doc.get("log_name"), doc.get("source_name"))

    def read(self, ctx: IngestContext) -> None:
        read_json(ctx, WINLOGBEAT_MAPPING, wrapper_keys=("hits", "events", "data", "records"))


class SysmonJsonSource:
    """Sysmon events flattened to JSON (NXLog, Splunk, Sentinel, Sumo exports)."""

    name = "sysmon.json"
    description = "Sysmon events as flattened JSON (NXLog im_msvistalog, SIEM exports)"

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is not None and isinstance(doc.get("result"), dict):
            doc = doc["result"]  # Splunk search export
        if doc is None or "winlog" in doc:
            return False
        if "EventID" not in doc and "EventCode" not in doc:
            return False
        if _mentions_sysmon(
            doc.get("SourceName"),
            doc.get("ProviderName"),
            doc.get("Channel"),
            doc.get("LogName"),
            doc.get("EventLog"),
            doc.get("source"),
        ):
            return True
        inner = doc.get("EventData")
        data: dict[str, Any] = inner if isinstance(inner, dict) else doc
        return "UtcTime" in data and ("ProcessGuid" in data or "Image" in data)

    def read(self, ctx: IngestContext) -> None:
        text = ctx.head.text if ctx.head is not None else ""
        xml = re.search(r'"EventData"\s*:\s*"\s*<', text) is not None
        read_json(
            ctx,
            FLAT_XML_MAPPING if xml else FLAT_MAPPING,
            wrapper_keys=("events", "results", "data", "records"),
        )


__all__ = [
    "COLUMNS_MAPPING",
    "DATA_FIELDS",
    "FIELDS_BY_EVENT",
    "FLAT_MAPPING",
    "FLAT_RECORD_COLUMNS",
    "RECORD_MAPPING",
    "RECORD_SYSTEM",
    "SYSMON_CHANNEL",
    "SYSMON_PROVIDER",
    "WINLOGBEAT_MAPPING",
    "Shape",
    "SysmonJsonSource",
    "SysmonWinlogbeatSource",
    "build_mapping",
    "flat_columns",
    "load_records",
]
