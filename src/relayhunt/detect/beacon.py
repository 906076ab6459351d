"""RH-SL-005: beaconing — regular, repeated check-ins from one host and process image to
one destination, on any destination; a serverless one raises the score.

The statistics are computed by :mod:`relayhunt.beacon` (docs/detections.md, "Beacon
analytics"): check-ins merged from connections less than ``merge_s`` apart; a Moran test
of the gaps against a Poisson process (robust to jitter up to 90 %) and a periodogram
(robust to missed beats), each with a p-value; payload regularity and size; coverage of
the host's observation window; the check-in count. Their weighted mean is the *beacon
score*.

It fires when the timing is significant — ``-log10 p >= min_significance`` (6) — and the
beacon score is at least ``min_beacon_score``. Because the prior odds differ, a
non-browser process talking to a catalogued serverless platform with regular payloads
needs only ``-log10 p >= min_significance_serverless`` (4); that exception is named in
the finding.

``stats.series`` holds up to 500 check-ins (a systematic sample, flagged ``sampled``,
when there are more) and ``stats.interval_histogram`` the histogram of every interval,
for the report's plots (:func:`relayhunt.beacon.engine.build_series`).

Ranking (score 0-100): ``60 * beacon_score`` plus context points, each named in the
finding's ``stats.raised_by`` / ``lowered_by`` and its reason: serverless destination
(+15 x the platform's weight), living-off-the-land binary (+10), image in a user-
writable folder (+8; +3 for AppData, where per-user installs live), a tool user agent
seen by a network sensor (+5), a destination few hosts contact (+10), first seen after
the host's data began (+5); a browser (-20) or WebView2 host (-10), a browser user agent
(-10), a destination most of the fleet contacts (-25, the signature of benign pollers
such as Teams or OneDrive heartbeats). Severity follows the score: high from 70, medium
from 50, low from 30, else info; a browser or browser user agent (a page that polls) is
always info, below the default ``min_severity``, and so is a program that is not a
LOLBin, runs from a system or AppData folder and polls a non-serverless host that is not
rare (update checks, telemetry): ``--min-severity info`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from relayhunt.beacon.engine import KEY_SQL, BeaconParams, analyze, hash_sql
from relayhunt.detect.base import (
    DESTINATION_CONTEXT,
    EVIDENCE_AGG,
    FINDING_CONTEXT,
    PROCESS_CONTEXT,
    Rule,
    Thresholds,
    first,
    with_lookups,
)

ID = "RH-SL-005"
NAME = "Beaconing: regular check-ins to one destination"
TECHNIQUES = ("T1071.001", "T1583.007", "T1584.007")

_HASH = hash_sql()  # the group id, exactly as the engine computes it


def params_of(t: Mapping[str, Any]) -> BeaconParams:
    return BeaconParams(
        merge_s=float(t["merge_s"]),
        min_checkins=int(t["min_checkins"]),
        pause_factor=float(t["pause_factor"]),
    )


def prepare(con: duckdb.DuckDBPyConnection, t: Thresholds) -> None:
    """Run the beacon analysis into ``beacon_groups`` (once per hunt)."""
    analyze(con, params_of(t))


def build(t: Thresholds) -> str:
    # significance thresholds are -log10 p (config values are never negative)
    p_any = -float(t["min_significance"])
    p_sl = -float(t["min_significance_serverless"])
    return f"""
    WITH fleet AS (SELECT count(DISTINCT host_key) AS hosts FROM net_obs),
    host_start AS (SELECT host_key, min(timestamp) AS host_data_start FROM net_obs
                   GROUP BY host_key),
    b AS (SELECT g.*, s.* EXCLUDE (gid) FROM beacon_groups g
          LEFT JOIN beacon_series s ON s.gid = g.gid
          WHERE checkins >= {int(t["min_checkins"])}
            AND beacon_score >= {float(t["min_beacon_score"])}
            AND log10p <= {max(p_any, p_sl)}),
    ctx AS (
      SELECT {_HASH} AS gid,
             {PROCESS_CONTEXT},
             {DESTINATION_CONTEXT},
             {first("domain")} FILTER (WHERE domain IS NOT NULL) AS destination_domain,
             {first("serverless_id")} FILTER (WHERE serverless_id IS NOT NULL)
               AS serverless_id,
             {first("user_agent_class")}
               FILTER (WHERE user_agent_class IS NOT NULL)
               AS user_agent_class,
             count(DISTINCT process_entity_id) AS processes,
             min(timestamp) AS first_seen, max(timestamp) AS last_seen,
             count(*) AS event_count,
             {EVIDENCE_AGG} AS evidence
      FROM net_obs
      WHERE {_HASH} IN (SELECT gid FROM b)
      GROUP BY ALL
    ),
    dest AS (
      SELECT {KEY_SQL["dest_key"]} AS dest_key, count(DISTINCT host_key) AS dest_hosts,
             min(timestamp) AS dest_first_seen
      FROM net_obs
      WHERE {KEY_SQL["dest_key"]} IN (SELECT dest_key FROM b)
      GROUP BY 1
    ),
    j AS (
      SELECT b.*, c.* EXCLUDE (gid), d.dest_hosts, d.dest_first_seen, f.hosts AS fleet_hosts,
             c.serverless_id IS NOT NULL
               AND coalesce(c.process_category, '') NOT IN ('browser', 'webview')
               AND coalesce(c.user_agent_class, '') <> 'browser'
               AND NOT coalesce(c.serverless_legacy, false) AS sl_tool,
             f.hosts >= {int(t["min_fleet"])}
               AND d.dest_hosts <= greatest(2, {float(t["rare_fraction"])} * f.hosts) AS rare,
             f.hosts >= {int(t["min_fleet"])}
               AND d.dest_hosts >= {float(t["common_fraction"])} * f.hosts AS common,
             d.dest_first_seen > h.host_data_start
               + INTERVAL {int(t["novelty_after_s"])} SECOND AS is_new
      FROM b JOIN {with_lookups("ctx")} c ON c.gid = b.gid
      JOIN dest d ON d.dest_key = b.dest_key
      JOIN host_start h ON h.host_key = b.host_key
      CROSS JOIN fleet f
    ),
    fired AS (
      SELECT *,
        log10p <= {p_any} OR (sl_tool AND log10p <= {p_sl}
                              AND coalesce(payload_score, 1.0) >= 0.7) AS significant
      FROM j
    ),
    pts AS (
      SELECT *,
        list_filter([
          CASE WHEN serverless_id IS NOT NULL
               THEN struct_pack(what := 'serverless destination (' || serverless_platform
                                 || ')', points := 15.0 * coalesce(serverless_weight, 1.0))
               END,
          CASE WHEN process_category = 'lolbin'
               THEN struct_pack(what := 'living-off-the-land '
                                 || coalesce(process_subcategory, 'binary'), points := 10.0)
               END,
          -- per-user installs (OneDrive, Teams, Slack) live in AppData: a weak signal
          CASE WHEN process_user_writable_dir = 'appdata'
               THEN struct_pack(what := 'image in appdata', points := 3.0)
               WHEN process_user_writable_dir IS NOT NULL
               THEN struct_pack(what := 'image in ' || process_user_writable_dir,
                                points := 8.0) END,
          CASE WHEN process_name IS NULL AND process_executable IS NULL
                    AND user_agent_class = 'tool'
               THEN struct_pack(what := 'tool user agent', points := 5.0) END,
          CASE WHEN rare THEN struct_pack(what := 'rare destination (' || dest_hosts
                                           || ' of ' || fleet_hosts || ' hosts)',
                                           points := 10.0) END,
          CASE WHEN is_new THEN struct_pack(what := 'first seen '
                                 || strftime(dest_first_seen, '%Y-%m-%d'), points := 5.0)
               END,
          CASE WHEN process_category = 'browser'
               THEN struct_pack(what := 'browser', points := -20.0) END,
          CASE WHEN process_category = 'webview'
               THEN struct_pack(what := 'WebView2 host', points := -10.0) END,
          CASE WHEN user_agent_class = 'browser'
               THEN struct_pack(what := 'browser user agent', points := -10.0) END,
          CASE WHEN common THEN struct_pack(what := 'common destination (' || dest_hosts
                                             || ' of ' || fleet_hosts || ' hosts)',
                                             points := -25.0) END
        ], x -> x IS NOT NULL) AS parts
      FROM fired WHERE significant
    ),
    s AS (
      SELECT *,
        least(100.0, greatest(0.0, round(60.0 * beacon_score
          + coalesce(list_sum([x.points FOR x IN parts]), 0), 1))) AS score_v
      FROM pts
    ),
    r AS (
      SELECT *,
        -- a browser (or browser user agent) polling a page is reported, at info only
        CASE WHEN process_category = 'browser' OR user_agent_class = 'browser' THEN 'info'
             -- an ordinary program polling an ordinary host: reported at info only
             WHEN serverless_id IS NULL AND coalesce(process_category, '') <> 'lolbin'
                  AND coalesce(process_user_writable_dir, 'appdata') = 'appdata'
                  AND coalesce(user_agent_class, '') <> 'tool' AND NOT rare THEN 'info'
             WHEN score_v >= 70 THEN 'high' WHEN score_v >= 50 THEN 'medium'
             WHEN score_v >= 30 THEN 'low' ELSE 'info' END AS severity,
        CASE WHEN log10p <= -8 THEN 'high' WHEN log10p <= -4 THEN 'medium'
             ELSE 'low' END AS confidence
      FROM s
      -- one finding per host, image, parent and destination: connections or lookups
      QUALIFY row_number() OVER (PARTITION BY host_key, image_key, parent_key, dest_key
                                 ORDER BY score_v DESC, obs_kind) = 1
    )
    SELECT '{ID}' AS rule_id, '{NAME}' AS rule_name, 'default' AS rule_profile,
      CASE WHEN serverless_id IS NOT NULL THEN {list(TECHNIQUES)}
           ELSE ['T1071.001'] END AS threat_technique_id,
      severity, confidence, score_v AS score,
      host_key AS host_name, {
        FINDING_CONTEXT.replace("host_name,", "").replace(
            "destination_domain,", "coalesce(destination_domain, dest_key) AS destination_domain,"
        )
    },
      serverless_tenant, first_seen, last_seen, event_count,
      coalesce(process_name, 'A client (process unknown: network sensor)') || ' on '
        || host_key || ' checked in with ' || dest_key || ' ' || checkins
        || ' times over ' || rh_duration(last_t - first_t) || ': every '
        || rh_duration(period_s) || ' (' || round(jitter_pct) || ' % jitter'
        || CASE WHEN folded > 0 THEN ', ' || folded || ' gaps of missed beats' ELSE '' END
        || CASE WHEN pauses > 0 THEN ', ' || pauses || ' pause(s)' ELSE '' END
        || '), p = ' || printf('%.1e', pow(10, greatest(log10p, -300)))
        || ' against random timing'
        || CASE WHEN sent_med IS NOT NULL OR recv_med IS NOT NULL
                THEN '; ' || coalesce(round(sent_med)::BIGINT::VARCHAR, '?') || ' B sent / '
                     || coalesce(round(recv_med)::BIGINT::VARCHAR, '?')
                     || ' B received per check-in (payload score '
                     || round(payload_score, 2) || ')' ELSE '' END
        || CASE WHEN len(list_filter(parts, x -> x.points > 0)) > 0
                THEN '; raised by ' || array_to_string(
                     [x.what FOR x IN parts IF x.points > 0], ', ') ELSE '' END
        || CASE WHEN len(list_filter(parts, x -> x.points < 0)) > 0
                THEN '; lowered by ' || array_to_string(
                     [x.what FOR x IN parts IF x.points < 0], ', ') ELSE '' END
        || CASE WHEN log10p > {p_any} THEN '; significant at the serverless level only'
                ELSE '' END
        || '.' AS reason,
      evidence,
      to_json(struct_pack(
        checkins := checkins, connections := connections, processes := processes,
        period_s := round(period_s, 3), sleep_s := round(sleep_s, 3),
        jitter_pct := round(jitter_pct, 1),
        interval_p10_s := round(ivf_q05, 3), interval_p95_s := round(ivf_q95, 3),
        missed_beats_folded := folded, pauses := pauses,
        log10_p := round(log10p, 2), log10_p_gaps := round(log10p_gaps, 2),
        log10_p_periodogram := round(log10p_periodogram, 2),
        periodogram_period_s := round(periodogram_period_s, 3),
        gamma_shape := round(gamma_shape, 2),
        sent_bytes_median := sent_med, received_bytes_median := recv_med,
        beacon_score := round(beacon_score, 3), timing_score := round(timing_score, 3),
        interval_score := round(interval_score, 3), skew_score := round(skew_score, 3),
        payload_score := round(payload_score, 3), coverage_score := round(coverage_score, 3),
        count_score := round(count_score, 3),
        dest_hosts := dest_hosts, fleet_hosts := fleet_hosts,
        raised_by := [x.what FOR x IN parts IF x.points > 0],
        lowered_by := [x.what FOR x IN parts IF x.points < 0],
        points := parts,
        -- for the report's plots (engine.build_series): a bounded sample of check-ins
        series := CASE WHEN series_t IS NOT NULL THEN struct_pack(
          start := series_start, n := series_n, shown := len(series_t),
          sampled := len(series_t) < series_n, t := series_t, iv := series_iv,
          sent := CASE WHEN list_max(series_sent) >= 0 THEN series_sent END,
          recv := CASE WHEN list_max(series_recv) >= 0 THEN series_recv END) END,
        interval_histogram := CASE WHEN hist_counts IS NOT NULL THEN struct_pack(
          lo := hist_lo, width := hist_width, counts := hist_counts,
          above := hist_above) END))::VARCHAR AS stats
    FROM r
    """


RULE = Rule(
    id=ID,
    name=NAME,
    techniques=TECHNIQUES,
    severity="medium",
    confidence="medium",
    description=__doc__ or "",
    build=build,
    prepare=prepare,
    thresholds={
        "merge_s": 1.0,
        "min_checkins": 8,
        "pause_factor": 10.0,
        "min_significance": 6.0,
        "min_significance_serverless": 4.0,
        "min_beacon_score": 0.45,
        "min_fleet": 10,
        "rare_fraction": 0.05,
        "common_fraction": 0.5,
        "novelty_after_s": 86_400,
    },
    false_positives=(
        "Update checks, telemetry and heartbeats of installed software (Teams, OneDrive, "
        "EDR and monitoring agents): fleet-wide, so they rank low; allowlist them by image",
        "CI/CD agents polling a deployment endpoint on a timer",
        "Scheduled scripts (cron, Task Scheduler) calling an API",
    ),
)
