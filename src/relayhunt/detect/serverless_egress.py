"""RH-SL-001: a process that is not a browser talks to a serverless / edge platform.

Sources 002 (Sentinel), 003 (Chronicle) and 004 (Sumo) hold this logic; relayhunt adds
what they lack: the hostname the process asked for (DNS attribution instead of Sysmon's
reverse lookup), label-boundary catalog matching, and grouping per host, process and
hostname so one beacon is one finding, not hundreds.

Severity starts at medium and rises to high for a living-off-the-land binary (shell,
script host, downloader, interpreter, proxy execution) or an image in a user-writable
folder; a WebView2 host or a process the data cannot name (network sensors) is low.
Confidence follows the hostname's evidence: the record itself or the process's own DNS
lookup is high, another process's lookup on the same host medium, a reverse lookup low.
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
    rule_columns,
    with_lookups,
)

ID = "RH-SL-001"
NAME = "Serverless platform contacted by a non-browser process"
TECHNIQUES = ("T1583.007", "T1584.007", "T1071.001", "T1090.004")


def build(t: Thresholds) -> str:
    return f"""
    WITH g AS (
      SELECT host_key AS host_name,
             -- image + parent image, not the entity: C2 that starts a new process per
             -- check-in (a cmd loop running curl.exe) is one finding, not one per process.
             coalesce(lower(process_executable), lower(process_name), process_entity_id,
                      '(unknown process)') AS proc_key,
             lower(coalesce(process_parent_executable, process_parent_name, '')) AS parent_key,
             domain AS destination_domain,
             {PROCESS_CONTEXT},
             {DESTINATION_CONTEXT},
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             count(*) AS event_count,
             -- a connection logged at both ends (ECS disconnect_received) counts once
             count(*) FILTER (WHERE obs_kind = 'connection'
                              AND coalesce(event_action, '') <> 'disconnect_received')
               AS connections,
             count(*) FILTER (WHERE obs_kind = 'dns') AS lookups,
             count(DISTINCT process_entity_id) AS processes,
             arg_min(user_agent_original, obs_order) FILTER (WHERE user_agent_class = 'tool')
               AS tool_user_agent,
             min(DISTINCT process_pid, 20) AS pids,
             {EVIDENCE_AGG} AS evidence
      FROM net_obs
      WHERE {SERVERLESS_NON_BROWSER}
      GROUP BY ALL
      HAVING count(*) >= {int(t["min_events"])}
    ),
    s AS (
      SELECT *,
        CASE WHEN process_name IS NULL AND process_executable IS NULL THEN 'low'
             WHEN process_category = 'webview' THEN 'low'
             WHEN process_category = 'lolbin' OR process_user_writable_dir IS NOT NULL
                  THEN 'high'
             ELSE 'medium' END AS severity,
        CASE WHEN process_name IS NULL AND process_executable IS NULL THEN 'low'
             WHEN rh_origin_rank(destination_domain_origin) <= 2 THEN 'high'
             WHEN rh_origin_rank(destination_domain_origin) = 3 THEN 'medium'
             ELSE 'low' END AS confidence
      FROM {with_lookups("g")}
    )
    SELECT {rule_columns(ID, NAME, "default", TECHNIQUES)},
      severity, confidence,
      rh_score(severity, confidence,
               10 * coalesce(serverless_weight, 0.5)
               + CASE WHEN process_category = 'lolbin' THEN 5 ELSE 0 END
               + CASE WHEN process_user_writable_dir IS NOT NULL THEN 5 ELSE 0 END) AS score,
      {FINDING_CONTEXT}, serverless_tenant, first_seen, last_seen,
      event_count,
      coalesce(process_name, 'A client with user agent "' || left(tool_user_agent, 60)
                             || '" (process unknown: network sensor)')
        || CASE WHEN process_category = 'lolbin'
                THEN ' (living-off-the-land ' || coalesce(process_subcategory, 'binary') || ')'
                WHEN process_category = 'webview' THEN ' (WebView2 host)' ELSE '' END
        || CASE WHEN process_user_writable_dir IS NOT NULL
                THEN ', running from a user-writable folder (' || process_user_writable_dir
                     || '),' ELSE '' END
        || ' on ' || host_name || ' contacted ' || destination_domain
        || ' (' || serverless_platform || ') '
        || CASE WHEN connections > 0 THEN connections || ' time(s)'
                ELSE lookups || ' DNS lookup(s)' END
        || CASE WHEN processes > 1 THEN ' from ' || processes || ' separate processes'
                ELSE '' END
        || ' between ' || strftime(first_seen, '%Y-%m-%d %H:%M:%S') || ' and '
        || strftime(last_seen, '%Y-%m-%d %H:%M:%S') || ' UTC; hostname from '
        || rh_origin_text(destination_domain_origin) || '.' AS reason,
      evidence,
      to_json(struct_pack(connections := connections, dns_lookups := lookups,
                          processes := processes, pids := pids,
                          platform_weight := serverless_weight,
                          process_subcategory := process_subcategory,
                          image_folder := process_user_writable_dir))::VARCHAR AS stats
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
    thresholds={"min_events": 1},
    false_positives=(
        "CI/CD agents and build runners polling deployment endpoints",
        "Security and monitoring tools running health checks against serverless endpoints",
        "Desktop apps whose components call a vendor's serverless backend",
        "Developer tools (wrangler, vercel, netlify, supabase CLIs) on developer machines",
    ),
)
