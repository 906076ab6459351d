"""Findings on one host and process lineage become one incident.

Lineage: each finding's process is walked up its parents (from the process start
events in the data) until the parent is a session root (explorer.exe, services.exe,
svchost.exe, a login shell, ...); the highest ancestor below the root is the lineage key.
So ``cmd.exe -> wscript.exe`` (the file write by cmd.exe and the beacon from wscript.exe)
is one incident, while two unrelated tools started from Explorer are two. Findings with
no process (network sensors) group by host and serverless tenant. Findings whose lineage
keys match and whose times lie within ``window_s`` of each other join one incident.

Cloud control-plane findings (``RH-CP-*``: an account, a principal, a function) join the
incident of the earliest endpoint or network finding that reaches the same function: the
same hostname or tenant, or, where the audit log names the function but not its host, an
endpoint hostname whose first label is the function's name on the same platform
(``<script>.<subdomain>.workers.dev``, ``<site>.azurewebsites.net``,
``<service>-<hash>-<region>.a.run.app``). So "someone replaced the Worker's code" and "a
host beacons to that Worker" are one story. Unmatched cloud findings group per account
and function.

Risk: ``100 * (1 - prod(1 - score_i / 100))`` — independent evidence adds up but never
passes 100, so three medium findings on one process outrank one.
"""

from __future__ import annotations

import duckdb

from relayhunt import model
from relayhunt.detect.base import install_macros, sql_list

SESSION_ROOTS = (
    "explorer.exe",
    "services.exe",
    "svchost.exe",
    "userinit.exe",
    "winlogon.exe",
    "wininit.exe",
    "smss.exe",
    "system",
    "csrss.exe",
    "lsass.exe",
    "runtimebroker.exe",
    "sihost.exe",
    "taskhostw.exe",
    "launchd",
    "systemd",
    "init",
    "sshd",
    "login",
    "gnome-shell",
    "kernel_task",
)


# What the incidents are built from: a finding's evidence, details and command lines stay
# in the findings table (with every column copied twice, correlation took 2.9-5.0 s at
# 10M events; with these, 1.2-1.6 s in the same session).
_KEYED = (
    "finding_id",
    "rule_id",
    "severity",
    "score",
    "threat_technique_id",
    "host_name",
    "user_name",
    "process_entity_id",
    "process_executable",
    "process_name",
    "destination_domain",
    "serverless_platform",
    "serverless_tenant",
    "first_seen",
    "last_seen",
    "reason",
)


def correlate(
    con: duckdb.DuckDBPyConnection, findings: str = "findings", *, window_s: int = 86_400
) -> None:
    """Create ``incidents`` (model.INCIDENTS) and ``finding_incident`` (finding_id ->
    incident_id) from the ``findings`` table; needs ``proc_info``."""
    install_macros(con)
    roots = sql_list(list(SESSION_ROOTS)).replace("[", "(").replace("]", ")")
    # Each process's parent below the session roots, once; then the walk up from the
    # findings' processes only. (Walking up from every process start in the data, with
    # two joins on proc_info per step, took 2.3 s of the 4.5 s correlation at 10M events.)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_parent AS
        SELECT c.host_key, c.process_entity_id AS entity, p.process_entity_id AS parent,
               p.process_name AS parent_name
        FROM proc_info c
        JOIN proc_info p ON p.host_key = c.host_key
                        AND p.process_entity_id = c.process_parent_entity_id
        WHERE lower(p.process_name) NOT IN {roots}
          AND EXISTS (SELECT 1 FROM {findings} f WHERE f.host_name = c.host_key)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_lineage AS
        WITH RECURSIVE up(host_key, start_entity, entity, depth, path) AS (
          SELECT host_key, process_entity_id, process_entity_id, 0, [process_name]
          FROM proc_info p
          WHERE EXISTS (SELECT 1 FROM {findings} f
                        WHERE f.host_name = p.host_key
                          AND f.process_entity_id = p.process_entity_id)
          UNION ALL
          SELECT u.host_key, u.start_entity, r.parent, u.depth + 1,
                 list_prepend(r.parent_name, u.path)
          FROM up u
          JOIN _rh_parent r ON r.host_key = u.host_key AND r.entity = u.entity
          WHERE u.depth < 12
        )
        SELECT host_key, start_entity,
               arg_max(entity, depth) AS lineage_key,
               arg_max(path, depth) AS lineage
        FROM up GROUP BY ALL
        """
    )
    con.execute("DROP TABLE IF EXISTS _rh_parent")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_keyed AS
        SELECT {", ".join(f"f.{c}" for c in _KEYED)},
               coalesce(l.lineage_key,
                        CASE WHEN f.process_entity_id IS NOT NULL
                               OR f.process_executable IS NOT NULL
                             THEN coalesce(f.process_entity_id, lower(f.process_executable))
                             ELSE 'tenant:' || coalesce(f.serverless_tenant,
                                                         f.destination_domain, '?') END)
                 AS lineage_key,
               coalesce(l.lineage, [f.process_name]) AS lineage
        FROM {findings} f
        LEFT JOIN _rh_lineage l
               ON l.host_key = f.host_name AND l.start_entity = f.process_entity_id
        """
    )
    # Cloud findings take the host and lineage of the endpoint finding that reaches the
    # same function (see the module docstring).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rh_keyed AS
        WITH link AS (
          SELECT c.finding_id,
                 arg_min(e.host_name, e.first_seen) AS e_host,
                 arg_min(e.lineage_key, e.first_seen) AS e_key,
                 arg_min(e.lineage, e.first_seen) AS e_lineage
          FROM _rh_keyed c JOIN _rh_keyed e
            ON c.rule_id LIKE 'RH-CP-%' AND e.rule_id NOT LIKE 'RH-CP-%'
           AND (lower(e.destination_domain) = lower(c.destination_domain)
                OR lower(e.serverless_tenant) = lower(c.serverless_tenant)
                OR (c.destination_domain IS NULL
                    AND e.serverless_platform = c.serverless_platform
                    AND (split_part(lower(e.destination_domain), '.', 1)
                           = lower(c.serverless_tenant)
                         OR (e.serverless_platform LIKE 'Google Cloud Run%'
                             AND starts_with(lower(e.destination_domain),
                                             lower(c.serverless_tenant) || '-')))))
          GROUP BY c.finding_id
        )
        SELECT k.* REPLACE (coalesce(l.e_host, k.host_name) AS host_name,
                            coalesce(l.e_key, k.lineage_key) AS lineage_key,
                            coalesce(l.e_lineage, k.lineage) AS lineage)
        FROM _rh_keyed k LEFT JOIN link l USING (finding_id)
        """
    )
    # Sessionize per (host, lineage): a gap longer than window_s starts a new incident.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE finding_incident AS
        WITH o AS (
          SELECT *, CASE WHEN first_seen - max(last_seen) OVER (
                         PARTITION BY host_name, lineage_key ORDER BY first_seen, finding_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                         > INTERVAL {int(window_s)} SECOND THEN 1 ELSE 0 END AS brk
          FROM _rh_keyed
        ), n AS (
          SELECT *, sum(brk) OVER (PARTITION BY host_name, lineage_key
                                   ORDER BY first_seen, finding_id) AS part
          FROM o
        )
        SELECT *, substr(md5(concat_ws('|', host_name, lineage_key, part::VARCHAR)), 1, 12)
                  AS incident_id
        FROM n
        """
    )
    con.execute("DROP TABLE IF EXISTS incidents")
    con.execute(model.ddl("incidents", model.INCIDENTS))
    con.execute(
        """
        INSERT INTO incidents
        SELECT incident_id, any_value(host_name),
               -- the longest lineage; of equal ones, the last as text (not whichever
               -- the hash table met last)
               arg_max(lineage, (len(lineage), lineage::VARCHAR)) AS process_lineage,
               round(100 * (1 - exp(sum(ln(greatest(1e-9, 1 - least(score, 99.9) / 100))))),
                     1) AS risk_score,
               rh_sev_name(max(rh_sev_rank(severity))) AS severity,
               min(first_seen), max(last_seen),
               list(finding_id ORDER BY first_seen, finding_id),
               list(DISTINCT rule_id ORDER BY rule_id),
               list_sort(list_distinct(flatten(list(threat_technique_id)))),
               list_sort(list_distinct(list(destination_domain)
                                       FILTER (WHERE destination_domain IS NOT NULL))),
               rh_sev_name(max(rh_sev_rank(severity))) || ': '
                 || count(*) || ' finding(s) on ' || any_value(host_name) || ' — '
                 || array_to_string(list_sort(list(DISTINCT coalesce(process_name,
                        CASE WHEN rule_id LIKE 'RH-CP-%' THEN user_name END, '?'))), ', ')
                 || ' -> '
                 || coalesce(array_to_string(list_sort(list(DISTINCT destination_domain)
                        FILTER (WHERE destination_domain IS NOT NULL)), ', '), '?'),
               list(strftime(first_seen, '%Y-%m-%d %H:%M:%S') || 'Z [' || rule_id || '] '
                    || reason ORDER BY first_seen, finding_id)
        FROM finding_incident
        GROUP BY incident_id
        """
    )
