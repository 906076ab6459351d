"""RH-SL-004: a serverless tenant that few hosts contact, or that appears for the first
time within the data.

A Workers or Lambda hostname used by one process on one laptop is far more interesting
than one the whole fleet polls. For every catalogued tenant (``acme-cdn.workers.dev``,
a Lambda URL, a Cloud Run service; the full hostname where the platform has no tenant
label) contacted by a non-browser process, relayhunt counts the hosts that contact it.
It fires per (tenant, host) when at most ``max_hosts`` hosts and at most
``max_fleet_fraction`` of the fleet do so — and only when the fleet in the data has at
least ``min_fleet`` hosts, because rarity means nothing on one machine. Independently,
a tenant first contacted more than ``novelty_after_s`` after the data begins is "new".
Low severity on its own; it raises an incident's risk when other rules fire on the same
process.
"""

from __future__ import annotations

from relayhunt.detect.base import (
    DESTINATION_CONTEXT,
    EVIDENCE_AGG,
    FINDING_CONTEXT,
    PROCESS_CONTEXT,
    SERVERLESS_NON_BROWSER,
    Rule,
    Thresholds,
    first,
    rule_columns,
    with_lookups,
)

ID = "RH-SL-004"
NAME = "Rare or newly seen serverless tenant"
TECHNIQUES = ("T1583.007", "T1584.007")


# The serverless records with their tenant (from net_domains: the catalog's tenant, else
# the matched hostname); ``columns`` of net_obs.
def _serverless(columns: str) -> str:
    return f"""SELECT o.*, coalesce(d.serverless_tenant, d.serverless_normalized_host) AS tenant
      FROM (SELECT {columns} FROM net_obs WHERE {SERVERLESS_NON_BROWSER}) o
      JOIN net_domains d ON d.domain = o.domain"""


def build(t: Thresholds) -> str:
    return f"""
    WITH sl AS (
      -- only what the counts need: the CTE is read three times, and DuckDB materialises
      -- it (every net_obs column of every serverless record cost ~6 s at 10M events)
      SELECT host_key, tenant, timestamp FROM ({_serverless("host_key, domain, timestamp")})
    ),
    host_start AS (SELECT host_key, min(timestamp) AS host_data_start FROM net_obs
                   GROUP BY host_key),
    fleet AS (SELECT count(DISTINCT host_key) AS hosts, min(timestamp) AS data_start
              FROM net_obs),
    tenants AS (
      SELECT tenant, count(DISTINCT host_key) AS tenant_hosts,
             min(timestamp) AS tenant_first_seen
      FROM sl GROUP BY tenant
    ),
    -- Which (host, tenant) pairs fire follows from the counts above alone, so it is
    -- decided first and the context is gathered for those pairs only: most pairs are
    -- neither rare nor new, and aggregating every pair's context cost ~6 s at 10M events.
    pairs AS (
      SELECT * FROM (
        SELECT p.host_key, p.tenant, t.tenant_hosts, t.tenant_first_seen,
          f.hosts AS fleet_hosts, h.host_data_start AS data_start,
          f.hosts >= {int(t["min_fleet"])}
            AND t.tenant_hosts <= {int(t["max_hosts"])}
            AND t.tenant_hosts <= {float(t["max_fleet_fraction"])} * f.hosts AS is_rare,
          -- new: first seen (fleet-wide) well after this host's own data begins
          t.tenant_first_seen > h.host_data_start
                                + INTERVAL {int(t["novelty_after_s"])} SECOND AS is_new
        FROM (SELECT DISTINCT host_key, tenant FROM sl) p
        JOIN tenants t USING (tenant) CROSS JOIN fleet f
        JOIN host_start h ON h.host_key = p.host_key
      ) WHERE is_rare OR is_new
    ),
    g AS (
      SELECT host_key AS host_name, tenant,
             {first("domain")} AS destination_domain,
             {PROCESS_CONTEXT},
             {DESTINATION_CONTEXT},
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             count(*) AS event_count,
             {EVIDENCE_AGG} AS evidence
      FROM ({_serverless("*")})
      JOIN (SELECT host_key, tenant FROM pairs) USING (host_key, tenant)
      GROUP BY ALL
    ),
    s AS (
      SELECT g.*, p.tenant_hosts, p.tenant_first_seen, p.fleet_hosts, p.data_start,
             p.is_rare, p.is_new
      FROM {with_lookups("g")} g
      JOIN pairs p ON p.host_key = g.host_name AND p.tenant = g.tenant
    )
    SELECT {rule_columns(ID, NAME, "default", TECHNIQUES)},
      CASE WHEN is_rare AND is_new THEN 'medium' ELSE 'low' END AS severity,
      'medium' AS confidence,
      rh_score(CASE WHEN is_rare AND is_new THEN 'medium' ELSE 'low' END, 'medium',
               10 * coalesce(serverless_weight, 0.5)) AS score,
      {FINDING_CONTEXT}, tenant AS serverless_tenant,
      first_seen, last_seen, event_count,
      tenant || ' (' || serverless_platform || ') is '
        || CASE WHEN is_rare THEN 'contacted by only ' || tenant_hosts || ' of '
                                  || fleet_hosts || ' hosts' ELSE '' END
        || CASE WHEN is_rare AND is_new THEN ' and ' ELSE '' END
        || CASE WHEN is_new THEN 'first seen ' || strftime(tenant_first_seen,
                  '%Y-%m-%d %H:%M:%S') || ' UTC, after this host''s data began at '
                  || strftime(data_start, '%Y-%m-%d %H:%M:%S') ELSE '' END
        || '; here from ' || coalesce(process_name, 'an unknown process') || ' on '
        || host_name || '.' AS reason,
      evidence,
      to_json(struct_pack(tenant_hosts := tenant_hosts, fleet_hosts := fleet_hosts,
                          rare := is_rare, new := is_new,
                          tenant_first_seen := tenant_first_seen,
                          data_start := data_start))::VARCHAR AS stats
    FROM s
    """


RULE = Rule(
    id=ID,
    name=NAME,
    techniques=TECHNIQUES,
    severity="low",
    confidence="medium",
    description=__doc__ or "",
    build=build,
    thresholds={
        "min_fleet": 5,
        "max_hosts": 2,
        "max_fleet_fraction": 0.05,
        "novelty_after_s": 86_400,
    },
    false_positives=(
        "A new internal service or a pilot group's SaaS tool on a serverless platform",
    ),
)
