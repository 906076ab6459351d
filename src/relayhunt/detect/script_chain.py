"""RH-SL-003: a script host runs a script from a user-writable folder and the script host
then contacts a serverless platform (the BlackWater pattern: cmd.exe writes
``%TEMP%\\update.js``, ``wscript.exe`` runs it, it calls ``*.workers.dev``).

The chain is joined on the host, the script's file name appearing on the script host's
command line (within ``write_to_run_s`` after the file was written) and the script
host's process entity for the network events (within ``run_to_egress_s``). When the data
holds the file write, the finding is critical and names the writer; without it (formats
or configurations that do not log file creation) the script path on the command line
must lie in a user-writable folder, and the finding is high.
"""

from __future__ import annotations

from relayhunt.detect.base import Rule, Thresholds, rule_columns, sql_list, with_lookups
from relayhunt.enrich.pipeline import obs_order_sql

ID = "RH-SL-003"
NAME = "Script host ran a dropped script that contacted a serverless platform"
TECHNIQUES = ("T1583.007", "T1584.007", "T1059.005", "T1059.007", "T1071.001")


# Several scripts can lead to one run: take all three from the earliest (deterministic).
_SCRIPT_KEY = "row(l.script_time, l.script_path, l.writer_name, l.script_folder)"


def build(t: Thresholds) -> str:
    hosts = sql_list(list(t["script_hosts"]))
    exts = sql_list(list(t["script_extensions"]))
    ext_re = "|".join(t["script_extensions"])
    return f"""
    WITH runs AS (
      -- the run's context from its earliest record (a process logged twice, by two
      -- sensors or files, is one run whatever the order they were read in)
      SELECT p.*, coalesce(p.host_name, p.host_id) AS hk, {obs_order_sql("'process'")} AS _run_order
      FROM process p
      WHERE lower(p.process_name) IN {hosts.replace("[", "(").replace("]", ")")}
    ),
    scripts AS (
      SELECT f.*, coalesce(f.host_name, f.host_id) AS hk
      FROM file_obs f
      WHERE f.file_extension IN {exts.replace("[", "(").replace("]", ")")}
        AND f.file_user_writable_dir IS NOT NULL
    ),
    linked AS (
      SELECT r.*, s.file_path AS script_path, s.timestamp AS script_time,
             s.process_name AS writer_name, s.process_command_line AS writer_command_line,
             s.file_user_writable_dir AS script_folder,
             struct_pack(log_format := s.log_format, log_file_path := s.log_file_path,
                         log_line := s.log_line, log_record := s.log_record,
                         "timestamp" := s.timestamp, event_kind := 'file') AS file_ev
      FROM runs r
      LEFT JOIN scripts s
        ON r.hk = s.hk
       AND s.file_name IS NOT NULL
       AND contains(lower(r.process_command_line), lower(s.file_name))
       AND r.timestamp >= s.timestamp - INTERVAL 2 SECOND
       AND r.timestamp <= s.timestamp + INTERVAL {int(t["write_to_run_s"])} SECOND
      WHERE s.file_path IS NOT NULL
         OR regexp_matches(lower(r.process_command_line),
              '(\\\\temp\\\\|\\\\tmp\\\\|\\\\appdata\\\\|\\\\downloads\\\\|\\\\users\\\\public\\\\|/tmp/)[^"]*\\.({ext_re})\\b')
    ),
    chain AS (
      SELECT l.hk AS host_name, l.process_entity_id AS proc_key, e.domain AS destination_domain,
             arg_min(l.user_name, l._run_order) AS user_name,
             arg_min(l.process_entity_id, l._run_order) AS process_entity_id,
             arg_min(l.process_pid, l._run_order) AS process_pid,
             arg_min(l.process_executable, l._run_order) AS process_executable,
             arg_min(l.process_name, l._run_order) AS process_name,
             arg_min(l.process_command_line, l._run_order) AS process_command_line,
             arg_min(l.process_parent_executable, l._run_order) AS process_parent_executable,
             arg_min(l.process_parent_name, l._run_order) AS process_parent_name,
             arg_min(l.process_parent_command_line, l._run_order) AS process_parent_command_line,
             arg_min(l.script_path, {_SCRIPT_KEY}) AS script_path,
             arg_min(l.writer_name, {_SCRIPT_KEY}) AS writer_name,
             arg_min(l.script_folder, {_SCRIPT_KEY}) AS script_folder,
             min(l.script_time) AS script_time,
             min(l.timestamp) AS run_time,
             arg_min(e.domain_origin, rh_origin_order(e.domain_origin))
               AS destination_domain_origin,
             rh_mode(e.destination_ip) AS destination_ip,
             rh_mode(e.destination_port) AS destination_port,
             min(e.timestamp) AS first_egress, max(e.timestamp) AS last_egress,
             count(DISTINCT (e.timestamp, e.log_file_path, e.log_line, e.log_record))
               AS egress_events,
             list(DISTINCT l.file_ev) FILTER (WHERE l.file_ev IS NOT NULL) AS file_evs,
             list(DISTINCT struct_pack(log_format := l.log_format,
                     log_file_path := l.log_file_path, log_line := l.log_line,
                     log_record := l.log_record, "timestamp" := l.timestamp,
                     event_kind := 'process')) AS proc_evs,
             list(DISTINCT struct_pack(log_format := e.log_format,
                     log_file_path := e.log_file_path, log_line := e.log_line,
                     log_record := e.log_record, "timestamp" := e.timestamp,
                     event_kind := e.obs_kind)) AS net_evs
      FROM linked l
      JOIN net_obs e
        ON e.host_key = l.hk
       AND e.process_entity_id = l.process_entity_id
       AND e.serverless_id IS NOT NULL
       AND NOT coalesce(e.serverless_legacy, false)
       AND e.timestamp >= l.timestamp - INTERVAL 2 SECOND
       AND e.timestamp <= l.timestamp + INTERVAL {int(t["run_to_egress_s"])} SECOND
      GROUP BY ALL
    )
    SELECT {rule_columns(ID, NAME, "default", TECHNIQUES)},
      CASE WHEN script_path IS NOT NULL THEN 'critical' ELSE 'high' END AS severity,
      'high' AS confidence,
      rh_score(CASE WHEN script_path IS NOT NULL THEN 'critical' ELSE 'high' END, 'high', 10)
        AS score,
      host_name, user_name, process_entity_id, process_pid, process_executable,
      process_name, process_command_line, process_parent_executable, process_parent_name,
      process_parent_command_line, 'lolbin' AS process_category, destination_domain,
      destination_domain_origin, destination_ip, destination_port, serverless_platform,
      serverless_provider, serverless_kind, serverless_tenant,
      least(coalesce(script_time, run_time), run_time) AS first_seen,
      last_egress AS last_seen,
      egress_events + len(proc_evs) + coalesce(len(file_evs), 0) AS event_count,
      CASE WHEN script_path IS NOT NULL
           THEN coalesce(writer_name, 'a process') || ' wrote ' || script_path || ' at '
                || strftime(script_time, '%H:%M:%S') || ', '
           ELSE '' END
        || process_name || ' ran it' || CASE WHEN script_path IS NULL
              THEN ' (script in a user-writable folder, per its command line)' ELSE '' END
        || ' on ' || host_name || ' at ' || strftime(run_time, '%H:%M:%S')
        || ' and contacted ' || destination_domain || ' (' || serverless_platform || ') '
        || 'in ' || egress_events || ' network event(s) from '
        || strftime(first_egress, '%H:%M:%S')
        || ' UTC.' AS reason,
      (SELECT list(ev ORDER BY ev."timestamp", ev.log_file_path, ev.log_line, ev.log_record,
                   ev.event_kind)[1:20]
       FROM (SELECT unnest(coalesce(file_evs, []) || proc_evs || net_evs) AS ev)) AS evidence,
      to_json(struct_pack(script_path := script_path, script_writer := writer_name,
                          script_folder := script_folder,
                          seconds_write_to_run := date_diff('second', script_time, run_time),
                          seconds_run_to_egress := date_diff('second', run_time, first_egress),
                          egress_events := egress_events))::VARCHAR AS stats
    FROM {with_lookups("chain", image=False)}
    """


RULE = Rule(
    id=ID,
    name=NAME,
    techniques=TECHNIQUES,
    severity="critical",
    confidence="high",
    description=__doc__ or "",
    build=build,
    thresholds={
        "script_hosts": ["wscript.exe", "cscript.exe", "mshta.exe"],
        "script_extensions": ["js", "jse", "vbs", "vbe", "wsf", "wsh", "hta"],
        "write_to_run_s": 3600,
        "run_to_egress_s": 3600,
    },
    false_positives=(
        "Logon scripts or software installers that run .vbs/.js helpers from %TEMP% and "
        "call a vendor's serverless API (rare; allowlist by parent and destination)",
    ),
)
