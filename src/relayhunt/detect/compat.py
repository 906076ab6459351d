"""The source vendors' rules, reproduced so a user can see what each would have flagged.

Profile ``compat``: these run only when asked for (``--profile compat`` or ``all``), and
every finding says which vendor rule it reproduces. They keep the vendors' domain lists,
grouping and thresholds, mistakes included (an unanchored regex, a Lambda domain that
never occurs), with one deliberate change each, documented below: they are evaluated on
the hostname relayhunt attributes to each connection, because as written they look for a
field that does not exist on the events they query and would flag nothing at all.

* RH-COMPAT-000 (Elastic EQL, source 000): ``sequence by host.name, process.entity_id
  with maxspan=24h [network where event.type == "connection" ...] with runs=12`` —
  twelve connections from one process entity to a listed domain within 24 hours. As
  written it tests ``dns.question.name`` on connection events, which ECS never fills
  (names live on separate ``dns`` events), and ``event.outcome == "success"``, which
  Elastic Defend leaves "unknown"; relayhunt uses the attributed hostname and drops only
  explicit failures. It counts any 12 connections: no timing at all.
* RH-COMPAT-001 (CrowdStrike LogScale, source 001): NetworkConnectIP4 and DnsRequest
  events grouped by host, image and domain; >= 12 events, >= 3 distinct hour buckets,
  average sent < 4096 B and received < 16384 B, >= 2 events per busy hour. The regex is
  unanchored (``workers\\.dev`` also matches ``workers.dev.attacker.example``) and kept
  so. ``DomainName`` exists only on DnsRequest and ``BytesSent``/``BytesReceived`` on
  neither event; LogScale's ``sum()`` of a missing field is 0, so the byte checks pass
  vacuously where bytes are not recorded — reproduced, and flagged in ``stats``.
"""

from __future__ import annotations

from relayhunt.detect.base import (
    DESTINATION_CONTEXT,
    EVIDENCE_AGG,
    FINDING_CONTEXT,
    PROCESS_CONTEXT,
    Rule,
    Thresholds,
    rule_columns,
    with_lookups,
)

ELASTIC_000_GLOBS = (
    "*.workers.dev",
    "*.cloudflareworkers.com",
    "*.execute-api.*.amazonaws.com",
    "*.lambda-url.*.amazonaws.com",
    "script.google.com",
    "*.cloudfunctions.net",
    "*.run.app",
    "*.azurewebsites.net",
    "*.pages.dev",
    "*.netlify.app",
    "*.vercel.app",
    "*.supabase.co",
    "*.deno.dev",
)
LOGSCALE_001_REGEX = (
    r"(?i)(workers\.dev|cloudflareworkers\.com|execute-api\.[a-z0-9-]+\.amazonaws\.com|"
    r"lambda-url\.[a-z0-9-]+\.amazonaws\.com|script\.google\.com|cloudfunctions\.net|"
    r"\.run\.app|azurewebsites\.net|pages\.dev|netlify\.app|vercel\.app|supabase\.co|"
    r"deno\.dev)"
)


def _like_any(column: str, globs: tuple[str, ...]) -> str:
    likes = " OR ".join(
        f"{column} ILIKE '{g.replace(chr(39), chr(39) * 2).replace('*', '%')}'" for g in globs
    )
    return f"({likes})"


ID_000 = "RH-COMPAT-000"
NAME_000 = "Compat: Elastic 000 — 12 serverless connections per process in 24 h"


def _connections_000(columns: str) -> str:
    """The records rule 000 counts, with ``proc_key``: ``columns`` of them. The counting
    reads three columns and the context every column, each straight from net_obs: a CTE
    read twice is materialised, every column of every record."""
    return f"""SELECT {columns}, coalesce(process_entity_id, lower(process_executable)) AS proc_key
      FROM net_obs
      WHERE obs_kind = 'connection' AND coalesce(event_outcome, '') <> 'failure'
        AND domain IN (SELECT domain FROM net_domains
                       WHERE {_like_any("domain", ELASTIC_000_GLOBS)})"""


def build_000(t: Thresholds) -> str:
    runs = int(t["runs"])
    return f"""
    WITH c AS ({_connections_000("host_key, timestamp")}),
    -- The sequence count per connection over three columns, and which (host, process)
    -- pairs reach the threshold, before any context is gathered: the window sorted every
    -- net_obs column, and the context was aggregated for every pair (1M events: 1,893
    -- of 39,243 pairs fire).
    fired AS (
      SELECT host_key, proc_key, max(runs_in_span) AS max_runs
      FROM (SELECT host_key, proc_key,
                   count(*) OVER (PARTITION BY host_key, proc_key ORDER BY timestamp
                                  RANGE BETWEEN INTERVAL {int(t["maxspan_s"])} SECOND
                                        PRECEDING AND CURRENT ROW) AS runs_in_span
            FROM c)
      GROUP BY ALL
      HAVING max(runs_in_span) >= {runs}
    ),
    g AS (
      SELECT c.host_key AS host_name, c.proc_key, any_value(f.max_runs) AS max_runs,
             arg_max(domain, obs_order) AS destination_domain,
             {PROCESS_CONTEXT},
             {DESTINATION_CONTEXT},
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             count(*) AS event_count,
             count(DISTINCT domain) AS domains,
             {EVIDENCE_AGG} AS evidence
      FROM ({_connections_000("*")}) c JOIN fired f
        ON c.host_key IS NOT DISTINCT FROM f.host_key
       AND c.proc_key IS NOT DISTINCT FROM f.proc_key
      GROUP BY c.host_key, c.proc_key
    )
    SELECT {rule_columns(ID_000, NAME_000, "compat", ("T1584.007",))},
      'medium' AS severity, 'low' AS confidence, rh_score('medium', 'low', 0) AS score,
      {FINDING_CONTEXT}, serverless_tenant, first_seen, last_seen,
      event_count,
      'Elastic rule 000 would flag ' || coalesce(process_name, proc_key) || ' on '
        || host_name || ': ' || max_runs || ' connections to its serverless list within '
        || {int(t["maxspan_s"]) // 3600} || ' h (threshold {runs}; no timing check).'
        AS reason,
      evidence,
      to_json(struct_pack(max_runs_in_span := max_runs, runs_threshold := {runs},
                          domains := domains))::VARCHAR AS stats
    FROM {with_lookups("g")}
    """


ID_001 = "RH-COMPAT-001"
NAME_001 = "Compat: LogScale 001 — serverless beaconing heuristics"


def _records_001(columns: str) -> str:
    """The records rule 001 groups, with ``image_key`` and ``hour_bucket``: ``columns``
    of them (narrow for the counts, every column for the context; see _connections_000)."""
    return f"""SELECT {columns}, lower(process_executable) AS image_key,
             date_trunc('hour', timestamp) AS hour_bucket
      FROM net_obs
      WHERE domain IN (SELECT domain FROM net_domains WHERE regexp_matches(
                         domain, '{LOGSCALE_001_REGEX.replace("(?i)", "")}', 'i'))"""


def build_001(t: Thresholds) -> str:
    return f"""
    WITH c AS (
      {_records_001("host_key, domain, source_bytes, destination_bytes, timestamp")}
    ),
    -- The rule's tests need only counts and sums per (host, image, domain): which groups
    -- pass is decided first, and the context gathered for those groups only.
    fired AS (
      SELECT *, total_sent / event_count AS avg_sent,
             total_received / event_count AS avg_received,
             event_count / hourly_buckets AS per_hour
      FROM (
        SELECT host_key, image_key, domain,
               count(*) AS event_count, count(DISTINCT hour_bucket) AS hourly_buckets,
               coalesce(sum(source_bytes), 0) AS total_sent,
               coalesce(sum(destination_bytes), 0) AS total_received,
               count(source_bytes) AS events_with_bytes
        FROM c GROUP BY ALL
      )
      WHERE event_count >= {int(t["min_connections"])}
        AND hourly_buckets >= {int(t["min_hour_buckets"])}
        AND total_sent / event_count < {int(t["max_avg_sent"])}
        AND total_received / event_count < {int(t["max_avg_received"])}
        AND event_count / hourly_buckets >= {float(t["min_per_hour"])}
    ),
    s AS (
      SELECT c.host_key AS host_name, c.image_key, c.domain AS destination_domain,
             {PROCESS_CONTEXT},
             {DESTINATION_CONTEXT},
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             any_value(f.event_count) AS event_count,
             any_value(f.hourly_buckets) AS hourly_buckets,
             any_value(f.events_with_bytes) AS events_with_bytes,
             any_value(f.avg_sent) AS avg_sent, any_value(f.avg_received) AS avg_received,
             any_value(f.per_hour) AS per_hour,
             min(DISTINCT process_pid, 20) AS pids,  -- bounded: the 20 lowest
             {EVIDENCE_AGG} AS evidence
      FROM ({_records_001("*")}) c JOIN fired f
        ON c.host_key IS NOT DISTINCT FROM f.host_key
       AND c.image_key IS NOT DISTINCT FROM f.image_key AND c.domain = f.domain
      GROUP BY c.host_key, c.image_key, c.domain
    )
    SELECT {rule_columns(ID_001, NAME_001, "compat", ("T1584.007",))},
      'high' AS severity, 'medium' AS confidence, rh_score('high', 'medium', 0) AS score,
      {FINDING_CONTEXT}, serverless_tenant, first_seen, last_seen,
      event_count,
      'LogScale rule 001 would flag ' || coalesce(process_name, '?') || ' on ' || host_name
        || ' -> ' || destination_domain || ': ' || event_count || ' events over '
        || hourly_buckets || ' hour buckets (' || round(per_hour, 1) || '/h), avg sent '
        || round(avg_sent) || ' B, received ' || round(avg_received) || ' B'
        || CASE WHEN events_with_bytes = 0 THEN ' (no byte counts recorded: passes vacuously)'
                ELSE '' END || '.' AS reason,
      evidence,
      to_json(struct_pack(connection_count := event_count, hourly_buckets := hourly_buckets,
                          avg_conn_per_hour := per_hour, avg_bytes_sent := avg_sent,
                          avg_bytes_received := avg_received,
                          bytes_recorded := events_with_bytes > 0, pids := pids))::VARCHAR
        AS stats
    FROM {with_lookups("s")}
    """


RULE_000 = Rule(
    id=ID_000,
    name=NAME_000,
    techniques=("T1584.007",),
    severity="medium",
    confidence="low",
    description=__doc__ or "",
    build=build_000,
    profile="compat",
    thresholds={"runs": 12, "maxspan_s": 86_400},
)
RULE_001 = Rule(
    id=ID_001,
    name=NAME_001,
    techniques=("T1584.007",),
    severity="high",
    confidence="medium",
    description=__doc__ or "",
    build=build_001,
    profile="compat",
    thresholds={
        "min_connections": 12,
        "min_hour_buckets": 3,
        "max_avg_sent": 4096,
        "max_avg_received": 16384,
        "min_per_hour": 2.0,
    },
)
