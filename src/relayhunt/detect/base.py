"""What every detection shares: rule metadata, thresholds, and the SQL that turns a
group of observations into one finding row (the ``findings`` schema in model.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb

SEVERITIES = ("info", "low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")

Thresholds = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """A detection: metadata plus a function returning SQL that yields finding rows."""

    id: str
    name: str
    techniques: tuple[str, ...]
    severity: str
    confidence: str
    description: str
    build: Callable[[Thresholds], str]
    """SQL over the enriched tables returning the findings columns except
    ``finding_id`` (added centrally) in any order, by name."""
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    profile: str = "default"
    """'default' (relayhunt's rules) or 'compat' (a source vendor's rule reproduced)."""
    false_positives: tuple[str, ...] = ()
    prepare: Callable[[duckdb.DuckDBPyConnection, Thresholds], None] | None = None
    """Work to do before ``build``'s SQL runs (e.g. the beacon analysis), given the
    thresholds in effect."""

    def values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The thresholds with ``overrides`` applied (unknown names are an error)."""
        values = dict(self.thresholds)
        for key, value in (overrides or {}).items():
            if key not in values:
                raise ValueError(
                    f"{self.id}: unknown threshold {key!r} "
                    f"(known: {', '.join(sorted(values)) or 'none'})"
                )
            values[key] = value
        return values

    def sql(self, overrides: Mapping[str, Any] | None = None) -> str:
        return self.build(self.values(overrides))


SCORE_MACROS: tuple[str, ...] = (
    """CREATE OR REPLACE MACRO rh_sev_rank(s) AS
        CASE s WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
               WHEN 'low' THEN 1 ELSE 0 END""",
    """CREATE OR REPLACE MACRO rh_sev_name(r) AS
        CASE WHEN r >= 4 THEN 'critical' WHEN r = 3 THEN 'high' WHEN r = 2 THEN 'medium'
             WHEN r = 1 THEN 'low' ELSE 'info' END""",
    # Ranking score 0-100: severity base scaled by confidence, plus context points.
    """CREATE OR REPLACE MACRO rh_score(sev, conf, bonus) AS
        least(100.0, greatest(0.0, round(
            (CASE sev WHEN 'critical' THEN 85 WHEN 'high' THEN 65 WHEN 'medium' THEN 45
                      WHEN 'low' THEN 25 ELSE 10 END)
            * (CASE conf WHEN 'high' THEN 1.0 WHEN 'medium' THEN 0.85 ELSE 0.7 END)
            + bonus, 1)))""",
    # A duration in seconds as a short text: 45 s, 12.5 min, 3.2 h, 2.1 d.
    """CREATE OR REPLACE MACRO rh_duration(s) AS
        CASE WHEN s IS NULL THEN '?'
             WHEN s < 120 THEN round(s, 1)::VARCHAR || ' s'
             WHEN s < 7200 THEN round(s / 60, 1)::VARCHAR || ' min'
             WHEN s < 172800 THEN round(s / 3600, 1)::VARCHAR || ' h'
             ELSE round(s / 86400, 1)::VARCHAR || ' d' END""",
    # The most frequent non-NULL value, ties to the smallest: DuckDB's mode() breaks ties
    # by the order its threads met the rows, so a group with two equally common IPs named
    # either from run to run (81 of 3,000 groups in the 1M-event benchmark). Counting
    # with histogram() and sorting each group's few distinct values is no slower.
    """CREATE OR REPLACE MACRO rh_mode(x) AS
        list_sort(list_transform(map_entries(histogram(x)),
                                 e -> struct_pack(n := -e.value, v := e.key)))[1].v""",
    # How far to trust a hostname, by where it came from.
    """CREATE OR REPLACE MACRO rh_origin_rank(o) AS
        CASE o WHEN 'url' THEN 1 WHEN 'http_host' THEN 1 WHEN 'tls_sni' THEN 1
               WHEN 'record' THEN 1 WHEN 'dns_query' THEN 2 WHEN 'same_session' THEN 2
               WHEN 'dns_process' THEN 2 WHEN 'dns_host' THEN 3 WHEN 'reverse_dns' THEN 4
               ELSE 5 END""",
    # A total order of the origins, by trust first (rh_origin_rank), for picking a group's
    # best one: ranking by trust alone left dns_query, same_session and dns_process tied,
    # and arg_min named whichever a thread met first (a quarter of the 1M-event
    # benchmark's findings changed origin from run to run).
    """CREATE OR REPLACE MACRO rh_origin_order(o) AS
        CASE o WHEN 'url' THEN 10 WHEN 'http_host' THEN 11 WHEN 'tls_sni' THEN 12
               WHEN 'record' THEN 13 WHEN 'same_session' THEN 20 WHEN 'dns_process' THEN 21
               WHEN 'dns_query' THEN 22 WHEN 'dns_host' THEN 30 WHEN 'reverse_dns' THEN 40
               ELSE 50 END""",
    """CREATE OR REPLACE MACRO rh_origin_text(o) AS
        CASE o WHEN 'url' THEN 'the requested URL'
               WHEN 'http_host' THEN 'the HTTP Host header'
               WHEN 'tls_sni' THEN 'the TLS server name'
               WHEN 'record' THEN 'the product''s own attribution'
               WHEN 'dns_query' THEN 'the process''s own DNS lookup'
               WHEN 'same_session' THEN 'the TLS/HTTP record of the same session'
               WHEN 'dns_process' THEN 'the process''s own DNS lookup'
               WHEN 'dns_host' THEN 'a DNS lookup by another process on the host'
               WHEN 'reverse_dns' THEN 'a reverse (PTR) lookup only: weak evidence'
               ELSE 'unknown' END""",
)


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for macro in SCORE_MACROS:
        con.execute(macro)


# A group's context comes from its earliest record, never from whichever row a thread met
# first: any_value() made the chosen process instance, user and tenant, and with them the
# finding id, change from run to run. The key is the observation tables' ``obs_order``
# (enrich.pipeline.obs_order_sql: time in microseconds, then a hash of where the record was
# read), one HUGEINT: a row(...) of those five values was the first form, and comparing
# structs in every arg_min made the rules' aggregation ~1.6x slower.
FIRST = "obs_order"


# The first 20 records of a group (by FIRST: time, then location), kept in a bounded top-N
# state (arg_min with a count): an ordered list() would hold every record of a group in
# memory, which does not spill and ran out of memory on groups of millions of events.
EVIDENCE_AGG = (
    "arg_min(struct_pack(log_format := log_format, log_file_path := log_file_path, "
    'log_line := log_line, log_record := log_record, "timestamp" := timestamp, '
    f"event_kind := obs_kind), {FIRST}, 20)"
)


def first(expr: str) -> str:
    """SQL aggregate: ``expr`` of the group's earliest record (deterministic)."""
    return f"arg_min({expr}, {FIRST})"


PROCESS_CONTEXT = f"""
    arg_min(user_name, {FIRST}) FILTER (WHERE user_name IS NOT NULL) AS user_name,
    arg_min(process_entity_id, {FIRST}) AS process_entity_id,
    arg_min(process_pid, {FIRST}) AS process_pid,
    arg_min(process_executable, {FIRST}) FILTER (WHERE process_executable IS NOT NULL)
        AS process_executable,
    arg_min(process_name, {FIRST}) FILTER (WHERE process_name IS NOT NULL) AS process_name,
    arg_min(process_command_line, {FIRST}) FILTER (WHERE process_command_line IS NOT NULL)
        AS process_command_line,
    arg_min(process_parent_executable, {FIRST})
        FILTER (WHERE process_parent_executable IS NOT NULL) AS process_parent_executable,
    arg_min(process_parent_name, {FIRST}) FILTER (WHERE process_parent_name IS NOT NULL)
        AS process_parent_name,
    arg_min(process_parent_command_line, {FIRST})
        FILTER (WHERE process_parent_command_line IS NOT NULL) AS process_parent_command_line,
    arg_min(process_category, {FIRST}) AS process_category,
    arg_min(coalesce(process_executable, process_name), {FIRST}) AS process_image"""

DESTINATION_CONTEXT = """
    arg_min(domain_origin, rh_origin_order(domain_origin)) AS destination_domain_origin,
    rh_mode(destination_ip) AS destination_ip,
    rh_mode(destination_port) AS destination_port,
    bool_or(coalesce(serverless_legacy, false)) AS serverless_legacy"""


def with_lookups(groups: str, *, image: bool = True) -> str:
    """``groups`` (a relation with ``destination_domain`` and, with ``image``, the
    ``process_image`` of PROCESS_CONTEXT) with the hostname's catalog attributes
    (``serverless_platform``, ``_provider``, ``_kind``, ``_tenant``, ``_weight``) from
    ``net_domains`` and the image's ``process_subcategory`` and
    ``process_user_writable_dir`` from ``net_images``. Joined once per group after
    aggregation instead of copied onto every record of net_obs and aggregated: a group's
    hostname and image name its attributes, as the earliest record's did."""
    image_cols = ", i.process_subcategory, i.process_user_writable_dir" if image else ""
    image_join = "LEFT JOIN net_images i ON i.image = g.process_image" if image else ""
    return f"""(SELECT g.*, d.serverless_platform, d.serverless_provider, d.serverless_kind,
               d.serverless_tenant, d.serverless_weight{image_cols}
        FROM {groups} g
        LEFT JOIN net_domains d ON d.domain = g.destination_domain
        {image_join})"""


# The records RH-SL-001 and RH-SL-004 consider: a catalogued, non-legacy serverless
# hostname contacted by a process that is not a browser; without a process (network
# sensors), only a client whose user agent is a tool is evidence.
SERVERLESS_NON_BROWSER = """serverless_id IS NOT NULL
        AND coalesce(process_category, '') <> 'browser'
        AND NOT coalesce(serverless_legacy, false)
        AND (process_name IS NOT NULL OR process_executable IS NOT NULL
             OR user_agent_class = 'tool')"""


# The process and destination columns of a finding, as every grouped rule selects them
# from its aggregate (the names PROCESS_CONTEXT and DESTINATION_CONTEXT produce).
FINDING_CONTEXT = """host_name, user_name, process_entity_id, process_pid, process_executable,
      process_name, process_command_line, process_parent_executable, process_parent_name,
      process_parent_command_line, process_category, destination_domain,
      destination_domain_origin, destination_ip, destination_port, serverless_platform,
      serverless_provider, serverless_kind"""


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def rule_columns(rule_id: str, rule_name: str, profile: str, techniques: tuple[str, ...]) -> str:
    return (
        f"{sql_str(rule_id)} AS rule_id, {sql_str(rule_name)} AS rule_name, "
        f"{sql_str(profile)} AS rule_profile, {sql_list(techniques)} AS threat_technique_id"
    )
