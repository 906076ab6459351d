"""RH-SL-002: a process was started with a serverless hostname or URL on its command line.

The sources' own tests expect this signal (Sysmon EID 1 with ``Invoke-WebRequest
https://....workers.dev``, ``curl.exe https://...cloudfunctions.net``, ``python poll.py
https://....lambda-url....on.aws``), but none of their queries looks at command lines.
Hostnames are extracted from the command line and matched against the catalog on label
boundaries. Browsers opened on a link are left out (a user clicking a URL); a LOLBin
(shell, script host, downloader, interpreter) makes it high severity.
"""

from __future__ import annotations

from relayhunt.detect.base import EVIDENCE_AGG, Rule, Thresholds, first, rule_columns

ID = "RH-SL-002"
NAME = "Serverless URL or hostname on a process command line"
TECHNIQUES = ("T1583.007", "T1584.007", "T1059", "T1105")


# A group's process and destination context: each from its earliest record.
_FIRST_OF = ",\n             ".join(
    f"{first(c)} AS {c}"
    for c in (
        "user_name",
        "process_entity_id",
        "process_pid",
        "process_executable",
        "process_name",
        "process_command_line",
        "process_parent_executable",
        "process_parent_name",
        "process_parent_command_line",
        "process_category",
        "process_subcategory",
        "serverless_platform",
        "serverless_provider",
        "serverless_kind",
        "serverless_tenant",
    )
)


def build(t: Thresholds) -> str:
    return f"""
    WITH g AS (
      SELECT coalesce(host_name, host_id) AS host_name,
             coalesce(lower(process_executable), lower(process_name), process_entity_id)
               AS proc_key,
             lower(coalesce(process_parent_executable, process_parent_name, '')) AS parent_key,
             count(DISTINCT process_entity_id) AS processes,
             min(DISTINCT process_pid, 20) AS pids,
             serverless_normalized_host AS destination_domain,
             {_FIRST_OF},
             max(serverless_weight) AS serverless_weight,
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             count(*) AS event_count,
             {EVIDENCE_AGG} AS evidence
      FROM cmdline_hosts
      WHERE coalesce(process_category, '') <> 'browser'
        AND NOT coalesce(serverless_legacy, false)
      GROUP BY ALL
    ),
    s AS (
      SELECT *, CASE WHEN process_category = 'lolbin' THEN 'high' ELSE 'medium' END
                AS severity
      FROM g
    )
    SELECT {rule_columns(ID, NAME, "default", TECHNIQUES)},
      severity, 'high' AS confidence,
      rh_score(severity, 'high', 10 * coalesce(serverless_weight, 0.5)) AS score,
      host_name, user_name, process_entity_id, process_pid, process_executable,
      process_name, process_command_line, process_parent_executable, process_parent_name,
      process_parent_command_line, process_category, destination_domain,
      'command_line' AS destination_domain_origin, NULL AS destination_ip,
      NULL::INTEGER AS destination_port, serverless_platform, serverless_provider,
      serverless_kind, serverless_tenant, first_seen, last_seen, event_count,
      coalesce(process_name, '?')
        || CASE WHEN process_category = 'lolbin'
                THEN ' (living-off-the-land ' || coalesce(process_subcategory, 'binary') || ')'
                ELSE '' END
        || ' was started on ' || host_name || ' with ' || destination_domain || ' ('
        || serverless_platform || ') on its command line'
        || CASE WHEN process_parent_name IS NOT NULL
                THEN ', parent ' || process_parent_name ELSE '' END
        || CASE WHEN event_count > 1 THEN ', ' || event_count || ' times' ELSE '' END
        || '.' AS reason,
      evidence,
      to_json(struct_pack(starts := event_count, processes := processes, pids := pids,
                          platform_weight := serverless_weight,
                          process_subcategory := process_subcategory))::VARCHAR AS stats
    FROM s
    """


RULE = Rule(
    id=ID,
    name=NAME,
    techniques=TECHNIQUES,
    severity="medium",
    confidence="high",
    description=__doc__ or "",
    build=build,
    false_positives=(
        "Deployment scripts and developer tools (wrangler, vercel, netlify, curl health "
        "checks) naming the team's own functions",
    ),
)
