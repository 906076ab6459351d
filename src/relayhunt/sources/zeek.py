"""Zeek ``conn``, ``dns``, ``ssl`` and ``http`` logs, as TSV (the ASCII writer) or JSON.

References: Zeek log formats (https://docs.zeek.org/en/master/log-formats.html) and the
script reference of each log's ``Info`` record (``base/protocols/conn/main.zeek``,
``.../dns/main.zeek``, ``.../ssl/main.zeek``, ``.../http/main.zeek``).

TSV: the ASCII writer's header (``#separator``, ``#set_separator``, ``#empty_field``,
``#unset_field``, ``#path``, ``#fields``, ``#types``, ``#open``/``#close``) may repeat
anywhere in a file (rotated logs concatenated, several logs in one file); every block is
read with its own header. Python looks only at header lines: each data line is tagged with
its block (numpy), its separators are counted in Arrow, and DuckDB splits it
(``string_split``) and projects the columns straight into the target table. Unset (``-``)
and empty (``(empty)``) fields are NULL. A line whose column count differs from
``#fields`` is an ``invalid_csv`` issue with its line number.

JSON (``LogAscii::use_json=T``, the JSON Streaming Logs package, Corelight): ``ts`` as
epoch seconds, ISO 8601 (``JSON::TS_ISO8601``) or epoch milliseconds (``JSON::TS_MILLIS``);
connection ids as ``id.orig_h``, ``id_orig_h`` (dots replaced by Logstash / Fluentd) or
a nested ``id`` object. Records of the Filebeat / Elastic Agent Zeek integration are ECS
(``@timestamp`` + ``event.*``) and are left to the ECS reader.

Which log a record belongs to: ``#path`` (TSV) or ``_path`` / ``@stream`` / ``log_type``
(JSON), else the field set (``conn_state`` -> conn; ``query`` with ``qtype_name`` /
``rcode_name`` / ``trans_id`` -> dns; a TLS-only field such as ``server_name`` /
``established`` / ``resumed`` / ``curve`` without ``history`` -> ssl, where ``cipher``
alone is not enough: ``kerberos.log`` has one; ``method`` with ``uri`` / ``host`` and no
``call_id`` -> http, ``sip.log`` having ``method`` and ``uri`` too), else the file name
(``files.log``, ``json_streaming_sip.1.log``, ``dns.09:00:00-10:00:00.log.gz``). Other logs
(files, x509, weird, sip, ...) are counted as skipped (``zeek:<log>``).

A JSON file is taken for Zeek when its first record has the connection id (``id.orig_h``,
``id_orig_h``, nested ``id``), or ``_path`` with ``ts`` / ``_write_ts`` (a JSON Streaming
stream may open with ``packet_filter``, which has neither ``uid`` nor ``id``), or
``fuid`` and ``ts`` (``files.log`` before Zeek 5), or ``ts`` in a file named like a
stock Zeek log (``packet_filter.log``, ``x509.log``, ...): every Zeek log of a directory
is then read, and the ones relayhunt does not use are counted as skipped, not reported
as an unknown format.

Mapping (a network sensor: no host, user or process fields):

* conn -> ``connection``, ``event_action`` ``zeek.conn``: originator = source, responder =
  destination; ``source_bytes``/``destination_bytes`` = ``orig_bytes``/``resp_bytes``
  (payload bytes, not ``orig_ip_bytes``: they compare with endpoint byte counts and
  exclude header overhead); ``event_duration`` in ns; ``network_protocol`` = ``service``
  (``ssl`` reported as ``tls``); ``event_outcome`` from ``conn_state``; ``network_direction``
  from ``local_orig``/``local_resp`` where the sensor sets them.
* dns -> ``dns``: ``query``, ``qtype_name``, ``rcode_name``; ``answers`` joined by ``,``
  into ``dns_answers`` and its IP addresses into ``dns_resolved_ip`` (``TTLs`` ignored);
  source = the asking host, destination = the resolver.
* ssl -> ``connection``, ``zeek.ssl``: ``server_name`` (SNI) as ``destination_domain`` with
  origin ``tls_sni``; ``network_protocol`` ``tls``; outcome from ``established``.
* http -> ``connection``, ``zeek.http``: ``host`` (port stripped; IP literals dropped) as
  ``destination_domain`` with origin ``http_host`` (for a ``CONNECT`` without one, the
  target host of ``uri``); ``url_original`` = ``http://`` + host +
  uri (``uri`` as is when absolute or for ``CONNECT``); body lengths as bytes.

``event_id`` is the Zeek ``uid`` (shared by the conn, ssl and http records of one
connection). Escaped bytes (``\\xHH``) in values are kept as Zeek wrote them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relayhunt import model
from relayhunt.sources.base import IP_LITERAL_RE, Head, IngestContext
from relayhunt.sources.engine import RecordMapping, read_json
from relayhunt.sources.lines import iter_line_tables, prefetch
from relayhunt.store import sql_literal

V = "VARCHAR"

FIELDS: tuple[str, ...] = (
    "ts",
    "uid",
    "id_orig_h",
    "id_orig_p",
    "id_resp_h",
    "id_resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "history",
    "trans_id",
    "query",
    "qtype_name",
    "rcode_name",
    "answers",
    "version",
    "cipher",
    "server_name",
    "established",
    "method",
    "host",
    "uri",
    "user_agent",
    "status_code",
    "request_body_len",
    "response_body_len",
)
"""The Zeek fields relayhunt reads, named as in ``#fields`` with ``.`` replaced by ``_``."""

SUPPORTED = {"conn": "connection", "ssl": "connection", "http": "connection", "dns": "dns"}
_ID_FIELDS = ("orig_h", "orig_p", "resp_h", "resp_p")
_KIND_NAME_RE = re.compile(r"(?:^|[._\-])(conn|dns|ssl|http)(?:[._\-]|$)")
_SSL_ONLY = frozenset(
    {
        "server_name",
        "established",
        "resumed",
        "curve",
        "ssl_history",
        "next_protocol",
        "cert_chain_fps",
        "cert_chain_fuids",
        "sni_matches_cert",
    }
)
"""Fields only ``ssl.log`` has among the stock logs (``cipher`` is in ``kerberos.log``)."""
_NOT_HTTP = frozenset({"call_id", "request_from", "request_to"})
"""``sip.log`` fields: SIP has ``method`` and ``uri`` like HTTP."""
_STOCK_LOG_NAMES = """
    analyzer broker capture_loss cluster config conn dce_rpc dhcp dnp3 dns dpd files ftp http
    intel irc kerberos known_certs known_devices known_hosts known_modbus known_services ldap
    ldap_search loaded_scripts modbus modbus_register_change mqtt_connect mqtt_publish
    mqtt_subscribe mysql netcontrol netcontrol_drop netcontrol_shunt notice notice_alarm ntlm
    ntp ocsp openflow packet_filter pe postgresql print quic radius rdp redis reporter rfb
    signatures sip smb_cmd smb_files smb_mapping smtp snmp socks software ssh ssl stats syslog
    telemetry traceroute tunnel unified2 weird weird_stats websocket x509
"""
STOCK_LOGS = frozenset(_STOCK_LOG_NAMES.split())
"""Log names (``Log::ID`` paths) of the logs a stock Zeek writes, for file-name hints."""
_NAME_PREFIX_RE = re.compile(r"^(?:json_streaming_|zeek_|bro_|corelight_)")


def kind_from_fields(names: set[str]) -> str | None:
    """Which log a set of (canonical) field names belongs to, when nothing names it."""
    if "conn_state" in names:
        return "conn"
    if "query" in names and names & {"qtype_name", "rcode_name", "trans_id"}:
        return "dns"
    if names & _SSL_ONLY and "history" not in names:
        return "ssl"
    if "method" in names and names & {"uri", "host"} and not names & _NOT_HTTP:
        return "http"
    return None


def kind_from_name(display: str) -> str | None:
    """Log name from a file name: ``conn.09:00:00-10:00:00.log.gz`` -> ``conn``,
    ``json_streaming_files.1.log`` -> ``files``, ``zeek_ssl.json`` -> ``ssl``.

    A stock log name before the first dot counts as is; otherwise one of the four logs
    relayhunt reads may appear anywhere in the name, between separators
    (``http_eth0.log``)."""
    name = PurePath(display).name.lower()
    stem = _NAME_PREFIX_RE.sub("", name.split(".", 1)[0])
    if stem in STOCK_LOGS:
        return stem
    m = _KIND_NAME_RE.search(name)
    return m.group(1) if m else None


def normalize_path(path: str) -> str:
    """``_path`` / ``@stream`` / ``log_type`` values -> log name (``zeek_dns`` -> ``dns``)."""
    p = path.strip().lower()
    p = re.sub(r"^(zeek|bro|corelight)[._\-]", "", p)
    return re.sub(r"\.log$", "", p)


def _timestamp(v: str) -> str:
    """Epoch seconds, epoch milliseconds (``JSON::TS_MILLIS``) or ISO 8601 -> TIMESTAMP."""
    return f"""CASE WHEN TRY_CAST({v} AS DOUBLE) IS NULL THEN rh_ts({v})
        WHEN TRY_CAST({v} AS DOUBLE) >= 1e11 THEN rh_epoch_ms({v})
        ELSE rh_epoch_s({v}) END"""


def build_mapping(
    a: dict[str, str], kind: str, *, struct: dict[str, Any] | None, timestamp: str
) -> RecordMapping:
    """The record mapping, given SQL accessors for :data:`FIELDS` and for the log kind.

    A literal ``kind`` (TSV: the header names the log) is inlined so DuckDB folds the
    per-kind ``CASE`` expressions away; an expression (JSON) is computed once, in the
    prelude.
    """
    literal = re.fullmatch(r"'[a-z0-9_]+'", kind) is not None
    k = kind if literal else "zeek_kind"
    is_ip = f"x -> regexp_matches(x, '{IP_LITERAL_RE}')"
    answers = f"rh_str_list({a['answers']}, ',')"
    host = a["host"]
    # A proxy's CONNECT names its target in the request target (``uri``: ``host:port``),
    # the Host header being optional there: used where the header is missing.
    target = f"""CASE WHEN {host} IS NULL AND upper({a["method"]}) = 'CONNECT'
        THEN NULLIF(regexp_extract({a["uri"]}, '^\\s*([^\\s/]+)', 1), '') ELSE {host} END"""
    http_domain = f"""CASE WHEN {target} IS NULL THEN NULL
        WHEN regexp_matches({target}, '^[0-9.]+(:[0-9]+)?$') THEN NULL
        WHEN contains({target}, ':') AND NOT regexp_matches({target}, '^[^:]+:[0-9]+$')
            THEN NULL
        ELSE rh_host(regexp_replace({target}, ':[0-9]+$', '')) END"""
    domain = f"""CASE {k} WHEN 'ssl' THEN rh_host({a["server_name"]})
        WHEN 'http' THEN {http_domain} END"""
    common = {
        "event_action": f"'zeek.' || {k}",
        "event_id": a["uid"],
        "source_ip": a["id_orig_h"],
        "source_port": a["id_orig_p"],
        "destination_ip": a["id_resp_h"],
        "destination_port": a["id_resp_p"],
        "network_transport": f"lower({a['proto']})",
    }
    truth = "IN ('T', 'true')"
    falsity = "IN ('F', 'false')"
    svc = a["service"]
    service = f"""CASE WHEN NOT contains({svc}, 'ssl') THEN {svc}
        ELSE regexp_replace({svc}, '(^|,)ssl(,|$)', '\\1tls\\2', 'g') END"""
    return RecordMapping(
        struct=struct,
        route=f"""CASE {kind} WHEN 'conn' THEN 'connection' WHEN 'ssl' THEN 'connection'
            WHEN 'http' THEN 'connection' WHEN 'dns' THEN 'dns' END""",
        label=f"'zeek:' || coalesce({kind}, 'unknown')",
        timestamp=timestamp,
        prelude="" if literal else f"{kind} AS zeek_kind",
        columns={
            "connection": {
                **common,
                "event_outcome": f"""CASE
                    WHEN {k} = 'conn' THEN CASE
                        WHEN {a["conn_state"]} IN ('SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR')
                            THEN 'success'
                        WHEN {a["conn_state"]} IN ('S0', 'REJ', 'RSTOS0', 'SH') THEN 'failure'
                        WHEN {a["conn_state"]} IS NOT NULL THEN 'unknown' END
                    WHEN {k} = 'ssl' THEN CASE
                        WHEN {a["established"]} {truth} THEN 'success'
                        WHEN {a["established"]} {falsity} THEN 'failure' END
                    END""",
                "destination_domain": domain,
                "destination_domain_origin": f"""CASE WHEN ({domain}) IS NULL THEN NULL
                    WHEN {k} = 'ssl' THEN 'tls_sni' ELSE 'http_host' END""",
                "network_protocol": f"""CASE {k} WHEN 'ssl' THEN 'tls' WHEN 'http' THEN 'http'
                    ELSE {service} END""",
                "network_direction": f"""CASE
                    WHEN {a["local_orig"]} {truth} AND {a["local_resp"]} {falsity} THEN 'egress'
                    WHEN {a["local_orig"]} {falsity} AND {a["local_resp"]} {truth} THEN 'ingress'
                    WHEN {a["local_orig"]} {truth} AND {a["local_resp"]} {truth} THEN 'internal'
                    WHEN {a["local_orig"]} {falsity} AND {a["local_resp"]} {falsity}
                        THEN 'external' END""",
                "source_bytes": f"coalesce({a['orig_bytes']}, {a['request_body_len']})",
                "destination_bytes": f"coalesce({a['resp_bytes']}, {a['response_body_len']})",
                "event_duration": f"CAST(round(TRY_CAST({a['duration']} AS DOUBLE) * 1e9) "
                "AS BIGINT)",
                "url_original": f"""CASE WHEN {k} <> 'http' THEN NULL
                    WHEN {a["uri"]} LIKE '%://%' OR {a["method"]} = 'CONNECT' OR {host} IS NULL
                        THEN {a["uri"]}
                    ELSE 'http://' || {host} || coalesce({a["uri"]}, '') END""",
                "http_request_method": a["method"],
                "http_response_status_code": a["status_code"],
                "user_agent_original": a["user_agent"],
            },
            "dns": {
                **common,
                "dns_question_name": f"rh_host({a['query']})",
                "dns_question_type": a["qtype_name"],
                "dns_response_code": a["rcode_name"],
                "dns_resolved_ip": f"NULLIF(list_filter({answers}, {is_ip}), [])",
                "dns_answers": f"NULLIF(array_to_string({answers}, ','), '')",
            },
        },
    )


# -- TSV -----------------------------------------------------------------------------------

_TSV_ACCESSORS = {name: f"s.{name}" for name in FIELDS}
_TSV_TIMESTAMP = f"coalesce(rh_epoch_s(s.ts), {_timestamp('s.ts')})"
TSV_MAPPINGS: dict[str, RecordMapping] = {
    kind: build_mapping(_TSV_ACCESSORS, f"'{kind}'", struct=None, timestamp=_TSV_TIMESTAMP)
    for kind in SUPPORTED
}
"""One mapping per log kind: a TSV header block names its log."""


def _unescape_header(value: str) -> str:
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


@dataclass(frozen=True)
class _Schema:
    """What one header block says about the lines that follow it."""

    separator: str
    set_separator: str
    empty_field: str
    unset_field: str
    kind: str
    fields: tuple[str, ...]

    def value(self, i: int) -> str:
        """SQL for column ``i`` (0-based) of the split line ``p``: NULL when unset/empty.

        Lines are split with their terminator; only the last column needs trimming.
        """
        v = f"p[{i + 1}]"
        if i == len(self.fields) - 1:
            v = f"rtrim({v}, E'\\r\\n')"
        return (
            f"NULLIF(NULLIF({v}, {sql_literal(self.unset_field)}), {sql_literal(self.empty_field)})"
        )

    def struct_sql(self, only: frozenset[str] | None = None) -> str:
        """``s`` for a split line: every name in :data:`FIELDS` (NULL where the block has
        no such column, or where ``only`` leaves it out)."""
        where = {name.replace(".", "_"): i for i, name in enumerate(self.fields)}
        parts = []
        for name in FIELDS:
            if name in where and (only is None or name in only):
                expr = self.value(where[name])
                if name == "answers" and self.set_separator != ",":
                    expr = f"replace({expr}, {sql_literal(self.set_separator)}, ',')"
            else:
                expr = "CAST(NULL AS VARCHAR)"
            parts.append(f"{name} := {expr}")
        return "struct_pack(" + ", ".join(parts) + ")"


@dataclass
class _TsvState:
    """Header state carried across chunks of one file."""

    hint: str | None
    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: tuple[str, ...] | None = None
    current: int = -1
    schemas: list[_Schema] = field(default_factory=list)
    ids: dict[_Schema, int] = field(default_factory=dict)

    def header(self, line: str) -> None:
        line = line.lstrip("\ufeff").rstrip("\r\n")
        if line.startswith("#separator"):
            # A new header block: everything it does not restate goes back to defaults.
            self.separator = _unescape_header(line[len("#separator") :].strip()) or "\t"
            self.set_separator, self.empty_field, self.unset_field = ",", "(empty)", "-"
            self.path = self.fields = None
            return
        key, _, rest = line[1:].partition(self.separator)
        if key == "set_separator":
            self.set_separator = _unescape_header(rest)
        elif key == "empty_field":
            self.empty_field = rest
        elif key == "unset_field":
            self.unset_field = rest
        elif key == "path":
            self.path = normalize_path(rest)
        elif key == "fields":
            self.fields = tuple(rest.split(self.separator))

    def schema_id(self) -> int:
        """Id of the schema in force, or -1 when no ``#fields`` line has been seen."""
        if self.fields is None:
            return -1
        names = {f.replace(".", "_") for f in self.fields}
        kind = self.path or kind_from_fields(names) or self.hint or "unknown"
        schema = _Schema(
            self.separator,
            self.set_separator,
            self.empty_field,
            self.unset_field,
            kind,
            self.fields,
        )
        if schema not in self.ids:
            self.ids[schema] = len(self.schemas)
            self.schemas.append(schema)
        return self.ids[schema]


_HEADER = -2
_CHUNK = "_rh_zeek_chunk"


def _load_tsv_chunk(ctx: IngestContext, chunk: pa.Table, state: _TsvState) -> None:
    j = chunk.column("j")
    n = chunk.num_rows
    is_header = pc.starts_with(j, "#").to_numpy(zero_copy_only=False).copy()
    if n and not is_header[0] and str(j[0]).startswith("\ufeff#"):
        is_header[0] = True  # a byte-order mark before the first header line
    header_rows = np.flatnonzero(is_header)
    after = np.empty(len(header_rows) + 1, dtype=np.int32)
    after[0] = state.current
    if len(header_rows):
        for k, text in enumerate(j.take(pa.array(header_rows)).to_pylist()):
            state.header(text)
            after[k + 1] = state.schema_id()
        state.current = int(after[-1])
    sig = after[np.searchsorted(header_rows, np.arange(n), side="right")]
    sig[header_rows] = _HEADER
    present = [int(x) for x in np.unique(sig) if x >= 0]
    # Column counts: separators per line (in C++), compared with the block's #fields.
    ncols = np.zeros(n, dtype=np.int64)
    want = np.zeros(n, dtype=np.int64)
    for separator in {state.schemas[i].separator for i in present}:
        counts = pc.count_substring(j, separator).to_numpy(zero_copy_only=False) + 1
        for i in present:
            if state.schemas[i].separator == separator:
                rows = sig == i
                ncols[rows] = counts[rows]
                want[rows] = len(state.schemas[i].fields)
    data = sig != _HEADER
    bad = data & ((sig == -1) | (ncols != want))
    table = pa.table(
        {
            "idx": chunk.column("idx"),
            "line_no": chunk.column("line_no"),
            "off": chunk.column("off"),
            "j": j,
            "sig": pa.array(sig),
            "bad": pa.array(bad),
            "ncols": pa.array(ncols),
            "want": pa.array(want),
        }
    )
    con = ctx.store.con
    con.register(_CHUNK, pa.Table.from_batches(table.to_batches(max_chunksize=65_536)))
    try:
        if bad.any():
            con.execute(
                f"""INSERT INTO ingest_issues
                SELECT ?, ?, line_no, NULL, off, 'error', 'invalid_csv',
                       CASE WHEN sig = -1 THEN 'data line before any #fields header'
                       ELSE 'expected ' || want || ' columns (#fields), got ' || ncols END
                       || CASE WHEN NOT ends_with(j, E'\\n')
                          THEN ' (last line of the file, unterminated: the file looks '
                               || 'truncated)' ELSE '' END,
                       rh_excerpt(rtrim(j, E'\\r\\n'))
                FROM {_CHUNK} WHERE bad""",
                [ctx.file.display, ctx.fmt],
            )
        by_kind: dict[str, list[_Schema]] = {}
        by_sig: dict[_Schema, int] = {}
        good = data & ~bad
        for i in present:
            schema = state.schemas[i]
            if schema.kind not in SUPPORTED:
                skipped = int(np.count_nonzero(good & (sig == i)))
                if skipped:
                    ctx.skipped[f"zeek:{schema.kind}"] += skipped
                continue
            by_kind.setdefault(schema.kind, []).append(schema)
            by_sig[schema] = i
        for kind, schemas in by_kind.items():

            def relation(only: frozenset[str] | None, schemas: list[_Schema] = schemas) -> str:
                return " UNION ALL ".join(
                    f"""SELECT line_no, off, {schema.struct_sql(only)} AS s
                    FROM (SELECT line_no, off,
                                 string_split(j, {sql_literal(schema.separator)}) AS p
                          FROM {_CHUNK} WHERE sig = {by_sig[schema]} AND NOT bad)"""
                    for schema in schemas
                )

            _insert_direct(ctx, relation, TSV_MAPPINGS[kind], SUPPORTED[kind])
    finally:
        con.unregister(_CHUNK)


def _insert_direct(
    ctx: IngestContext,
    relation: Callable[[frozenset[str] | None], str],
    mapping: RecordMapping,
    table: str,
) -> None:
    """Project ``relation(fields)`` (``line_no, off, s``; all of it bound for ``table``)
    straight into ``table``, then report its issues in a second, narrower pass.

    Same results and issues as the engine's generic path (``missing_timestamp``,
    ``bad_field_type`` warnings), without materializing an intermediate table: for a
    pre-split TSV line, computing a few columns twice costs less than writing all of them
    twice.
    """
    con = ctx.store.con
    types = {c.name: c.sql_type for c in model.TABLES[table]}
    cols = mapping.columns[table]
    names = list(cols)

    def source(only: frozenset[str] | None) -> str:
        rel = relation(only)
        return f"(SELECT *, {mapping.prelude} FROM ({rel}))" if mapping.prelude else f"({rel})"

    projected = ", ".join(f"TRY_CAST(({cols[n]}) AS {types[n]})" for n in names)
    # Into the store's temporary stage for the table (bulk-appended; see Store.stage_target).
    inserted = con.execute(
        f"""INSERT INTO {ctx.store.stage_target(table)} (timestamp, log_format,
                                 log_file_path, log_line, log_record,
                                 {", ".join(names)})
            SELECT _ts, ?, ?, line_no, NULL, {projected}
            FROM (SELECT *, ({mapping.timestamp}) AS _ts FROM {source(None)})
            WHERE _ts IS NOT NULL""",
        [ctx.fmt, ctx.file.display],
    ).fetchone()
    ctx.store.staged(table, int(inserted[0]) if inserted else 0)
    ints = [n for n in names if types[n] in ("BIGINT", "INTEGER")]
    unreadable = {
        n: f"(({cols[n]}) IS NOT NULL AND TRY_CAST(({cols[n]}) AS {types[n]}) IS NULL)"
        for n in ints
    }
    any_unreadable = " OR ".join(unreadable.values()) or "false"
    msg = ", ".join(
        f"CASE WHEN {cond} THEN '{n}=' || left(CAST(({cols[n]}) AS VARCHAR), 60) END"
        for n, cond in unreadable.items()
    )
    # The issue pass reads only the fields that the time and the integer columns use;
    # only rows with an issue reach the projection, where the messages are built.
    used = frozenset(
        name
        for name in FIELDS
        if re.search(rf"\bs\.{name}\b", " ".join([mapping.timestamp, *unreadable.values()]))
    )
    con.execute(
        f"""INSERT INTO ingest_issues
            SELECT ?, ?, line_no, NULL, off,
                   CASE WHEN _ts IS NULL THEN 'error' ELSE 'warning' END,
                   CASE WHEN _ts IS NULL THEN 'missing_timestamp' ELSE 'bad_field_type' END,
                   CASE WHEN _ts IS NULL
                        THEN 'record of type ' || CAST(({mapping.label}) AS VARCHAR)
                             || ' bound for table {table} has no readable timestamp; rejected'
                        ELSE 'field(s) not readable, stored as NULL: '
                             || concat_ws('; ', {msg or "NULL"}) END,
                   NULL
            FROM (SELECT *, ({mapping.timestamp}) AS _ts FROM {source(used)})
            WHERE _ts IS NULL OR ({any_unreadable})""",
        [ctx.file.display, ctx.fmt],
    )


class ZeekTsvSource:
    """Zeek logs written by the ASCII writer (TSV with ``#`` headers)."""

    name = "zeek.tsv"
    description = "Zeek conn/dns/ssl/http logs, TSV (ASCII writer), header blocks may repeat"

    def sniff(self, head: Head) -> bool:
        text = head.text
        if text.startswith("#separator "):
            return True
        return text.startswith("#") and re.search(r"^#fields\t", text, re.M) is not None

    def read(self, ctx: IngestContext) -> None:
        state = _TsvState(hint=kind_from_name(ctx.file.display))
        with ctx.file.open() as stream:
            # Splitting the next block (numpy, zlib) overlaps with DuckDB loading this one.
            for chunk in prefetch(iter_line_tables(stream, ctx)):
                _load_tsv_chunk(ctx, chunk, state)


# -- JSON ----------------------------------------------------------------------------------

JSON_STRUCT: dict[str, Any] = {
    **{name: V for name in FIELDS if not name.startswith("id_")},
    **{f"id.{f}": V for f in _ID_FIELDS},
    **{f"id_{f}": V for f in _ID_FIELDS},
    "id": {f: V for f in _ID_FIELDS},
    **{name: V for name in sorted((_SSL_ONLY | _NOT_HTTP) - set(FIELDS))},
    "_path": V,
    "@stream": V,
    "log_type": V,
    "@timestamp": V,
}


def _json_accessors() -> dict[str, str]:
    acc = {name: f's."{name}"' for name in FIELDS}
    for f in _ID_FIELDS:
        acc[f"id_{f}"] = f's."id.{f}", s."id_{f}", s.id.{f}'
        acc[f"id_{f}"] = f"coalesce({acc[f'id_{f}']})"
    return acc


def _json_kind(hint: str | None) -> str:
    named = """NULLIF(regexp_replace(lower(trim(coalesce(s._path, s."@stream", s.log_type))),
        '^(zeek|bro|corelight)[._-]|\\.log$', '', 'g'), '')"""
    ssl_only = " OR ".join(f's."{f}" IS NOT NULL' for f in sorted(_SSL_ONLY))
    not_http = " AND ".join(f's."{f}" IS NULL' for f in sorted(_NOT_HTTP))
    inferred = f"""CASE
        WHEN s.conn_state IS NOT NULL THEN 'conn'
        WHEN s.query IS NOT NULL AND (s.qtype_name IS NOT NULL OR s.rcode_name IS NOT NULL
             OR s.trans_id IS NOT NULL) THEN 'dns'
        WHEN ({ssl_only}) AND s.history IS NULL THEN 'ssl'
        WHEN s.method IS NOT NULL AND (s.uri IS NOT NULL OR s.host IS NOT NULL)
             AND {not_http} THEN 'http'
        END"""
    return f"coalesce({named}, {inferred}, {sql_literal(hint)})"


_JSON_MAPPINGS: dict[str | None, RecordMapping] = {}


def json_mapping(hint: str | None) -> RecordMapping:
    """The JSON mapping; ``hint`` is the log kind the file name suggests."""
    if hint not in _JSON_MAPPINGS:
        _JSON_MAPPINGS[hint] = build_mapping(
            _json_accessors(),
            _json_kind(hint),
            struct=JSON_STRUCT,
            timestamp=f'coalesce({_timestamp("s.ts")}, rh_ts(s."@timestamp"))',
        )
    return _JSON_MAPPINGS[hint]


def _looks_like_zeek_json(doc: dict[str, Any], name: str = "") -> bool:
    event = doc.get("event")
    if isinstance(event, dict) or "ecs" in doc:
        return False  # ECS (Filebeat / Elastic Agent Zeek integration): the ECS reader's
    ids = isinstance(doc.get("id"), dict) and "orig_h" in doc["id"]
    ids = ids or "id.orig_h" in doc or "id_orig_h" in doc
    if "ts" not in doc and "_path" not in doc:
        return False
    if ids or ("uid" in doc and ("_path" in doc or "@stream" in doc)):
        return True
    # Zeek logs without a connection id: a JSON Streaming record of any log (its stream may
    # open with packet_filter), files.log before Zeek 5, or any stock log by its file name.
    if isinstance(doc.get("_path"), str) and ("ts" in doc or "_write_ts" in doc):
        return True
    if "ts" not in doc:
        return False
    if "fuid" in doc:
        return True
    stem = _NAME_PREFIX_RE.sub("", PurePath(name).name.lower().split(".", 1)[0])
    return stem in STOCK_LOGS


def _splunk_raw(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The Zeek record of a Splunk search export line (``{"preview": false, "result":
    {"_raw": "<the log line>", "_time": ..., "sourcetype": ...}}``), where the line is
    JSON; else None."""
    result = doc.get("result")
    raw = result.get("_raw") if isinstance(result, dict) else None
    if not isinstance(raw, str) or not raw.lstrip().startswith("{"):
        return None
    try:
        inner = json.loads(raw)
    except ValueError:
        return None
    return inner if isinstance(inner, dict) else None


class ZeekJsonSource:
    """Zeek logs written as JSON (one object per line)."""

    name = "zeek.json"
    description = "Zeek conn/dns/ssl/http logs as JSON (use_json, JSON Streaming Logs, Corelight)"

    def sniff(self, head: Head) -> bool:
        doc = head.first_json
        if doc is None:
            return False
        inner = _splunk_raw(doc)
        return _looks_like_zeek_json(doc if inner is None else inner, head.name)

    def read(self, ctx: IngestContext) -> None:
        mapping = json_mapping(kind_from_name(ctx.file.display))
        if ctx.head is not None and '"_raw"' in ctx.head.text and '"result"' in ctx.head.text:
            # Splunk search exports: the log line is JSON text in result._raw (lines of the
            # log itself may be mixed in: the envelope is used only where present). A second
            # parse per record, so only for files that hold such lines.
            mapping = replace(mapping, unwrap="$.result._raw")
        read_json(ctx, mapping)


__all__ = [
    "FIELDS",
    "JSON_STRUCT",
    "TSV_MAPPINGS",
    "ZeekJsonSource",
    "ZeekTsvSource",
    "json_mapping",
    "kind_from_fields",
    "kind_from_name",
]
