"""DNS-to-connection attribution: the hostname a process actually asked for.

For every connection, relayhunt picks the best evidence the format has, in this order
(``attributed_domain_origin`` says which):

1. ``url`` / ``http_host`` / ``tls_sni`` / ``record``: the connection record names the
   host the client asked for (Defender ``RemoteUrl``, UDM ``target.hostname``, Zeek
   ``ssl.server_name`` / ``http.host``, ECS ``destination.domain``).
2. ``same_session``: Zeek ``conn`` rows take the SNI / Host of the ``ssl`` / ``http``
   rows with the same ``uid``.
3. ``dns_process``: the latest DNS answer *of the same process* (entity id) on the same
   host that contained the destination IP, no older than ``dns_max_age`` and at most
   ``dns_skew`` after the connection (DNS and connection events are not always logged in
   order). This is the Sysmon EID 22 -> EID 3 join on ProcessGuid, Falcon DnsRequest ->
   NetworkConnect on aid + ContextProcessId, UDM NETWORK_DNS -> NETWORK_CONNECTION.
4. ``dns_host``: the same, from any process on the host (or, for network sensors, the
   same source address), when the process's own lookup is not in the data.
5. ``reverse_dns``: Sysmon's ``DestinationHostname``. It is a PTR lookup of the IP, not
   the name the process asked for; for shared front ends it is a CDN name or empty. Used
   only when nothing else is known, and findings say so.

Steps 3 and 4 find "the latest answer at or before the connection" in one of two forms
that give the same rows (``tests/enrich/test_attribution_forms.py`` runs both on random
data):

* DuckDB (the default): an ``ASOF JOIN`` of connections onto DNS answers on the keys and
  time, which merges two sorted runs instead of sorting their union through a window
  (10M events: 3.5-3.9 s against 4.5-5.8 s for the process-level step, same data).
* ``portable=True``: standard window functions only (``last_value ... IGNORE NULLS``
  over a union of DNS answers and connections, partitioned by host, process and IP),
  the form Spark runs (``last(x, true)``); Spark SQL has no ASOF join.

Answers of the same instant for the same key (two names behind one IP, logged in the
same millisecond) go to the one with the largest ``hash(name)`` in both forms; before,
the choice followed the order in which rows met the sort.
"""

from __future__ import annotations

import duckdb


def time_order_sql(time: str, low: str) -> str:
    """One HUGEINT that orders rows by ``time`` (a TIMESTAMP, to the microsecond), then by
    ``low`` (a UBIGINT, e.g. a hash) within a microsecond. A product, not ``<< 64``: DuckDB
    refuses to shift a negative number, and a time before 1970 has a negative epoch."""
    return f"(epoch_us({time})::HUGEINT * {1 << 64}::HUGEINT + ({low})::HUGEINT)"


RECORD_ORIGINS = ("url", "http_host", "tls_sni", "record")
ORIGIN_RANK = {
    "url": 1,
    "http_host": 1,
    "tls_sni": 1,
    "record": 1,
    "same_session": 2,
    "dns_process": 3,
    "dns_host": 4,
    "reverse_dns": 5,
}


def attribute_connections(
    con: duckdb.DuckDBPyConnection,
    *,
    dns_max_age_s: int = 86_400,
    dns_skew_s: int = 2,
    target: str = "connection_attributed",
    attribution: str = "connection_attribution",
    portable: bool = False,
    dns: str = "dns",
) -> None:
    """Create the view ``target``: every connection row plus ``conn_row`` (a row id),
    ``host_key``, ``attributed_domain``, ``attributed_domain_origin`` and
    ``attributed_dns_time`` (the DNS answer used, where one was), over the table
    ``attribution`` (``conn_row`` and those three, for attributed connections only). The
    DNS answers are read from ``dns`` (a table or view of the ``dns`` table's shape)."""
    origins = ", ".join(f"'{o}'" for o in RECORD_ORIGINS)
    # The connection table is read in place, its rowid as the row id: numbering it with
    # row_number() and copying it first cost more than any other step (1M rows: ~1.1 CPU s,
    # single-threaded). On Spark, monotonically_increasing_id() plays the rowid's part.
    conns = """(SELECT rowid + 1 AS conn_row,
                       coalesce(host_name, host_id, source_ip) AS host_key, *
                FROM connection)"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_dns_ans AS
        SELECT coalesce(host_name, host_id, source_ip) AS host_key,
               -- a lookup known by its process id alone (Defender names the client of the
               -- DNS service by pid) is keyed by that: it must not meet connections that
               -- lack a process, and meets its own by pid below
               coalesce(process_entity_id, 'pid:' || process_pid) AS ent,
               trim(replace(ip, '::ffff:', '')) AS ip,
               timestamp AS dns_ts,
               dns_question_name AS name
        FROM (SELECT *, unnest(dns_resolved_ip) AS ip FROM {dns}
              WHERE dns_resolved_ip IS NOT NULL AND dns_question_name IS NOT NULL)
        """
    )

    # Last matching answer per (host, [process,] ip) at or before the connection (+ skew).
    def last_answer(
        level: str, with_process: bool, only: str = "", conn_ent: str = "process_entity_id"
    ) -> str:
        keys = ["host_key", "ent", "ip"] if with_process else ["host_key", "ip"]
        conn_keys = (
            f"host_key, {conn_ent} AS ent, destination_ip AS ip"
            if with_process
            else "host_key, destination_ip AS ip"
        )
        dns_time = f"dns_ts - INTERVAL {int(dns_skew_s)} SECOND"
        max_age = f"INTERVAL {int(dns_max_age_s)} SECOND"
        if portable:
            part = ", ".join(keys)
            return f"""
            SELECT conn_row, name AS {level}_name, dns_ts AS {level}_ts FROM (
              SELECT conn_row, ts,
                     last_value(name IGNORE NULLS) OVER w AS name,
                     last_value(dns_ts IGNORE NULLS) OVER w AS dns_ts
              FROM (
                SELECT {part}, {dns_time} AS ts, name, dns_ts, NULL::BIGINT AS conn_row,
                       0 AS side
                FROM _rh_dns_ans
                UNION ALL
                SELECT {conn_keys}, timestamp AS ts, NULL AS name, NULL AS dns_ts,
                       conn_row, 1 AS side
                FROM {conns} WHERE destination_ip IS NOT NULL {only}
              )
              WINDOW w AS (PARTITION BY {part} ORDER BY ts, side, hash(name)
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            )
            WHERE conn_row IS NOT NULL AND name IS NOT NULL AND ts - dns_ts <= {max_age}
            """
        # The ASOF form. Its equality keys must group NULLs as PARTITION BY does (a Zeek
        # connection and a Zeek lookup both lack a process), and DuckDB's ASOF JOIN does
        # not match NULL keys even under IS NOT DISTINCT FROM: each key is compared as
        # (coalesce(key, ''), key IS NULL). The time is one HUGEINT ordered like the
        # window's (ts, side, hash(name)): the microsecond times 2^64, plus hash(name) for
        # an answer and 2^64 - 1 for a connection, so a connection follows every answer of
        # its own microsecond.
        on = " AND ".join(f"c.{k} = d.{k} AND c.{k}_null = d.{k}_null" for k in keys)
        key_cols = ", ".join(f"coalesce({k}, '') AS {k}, {k} IS NULL AS {k}_null" for k in keys)

        return f"""
        SELECT c.conn_row, d.name AS {level}_name, d.dns_ts AS {level}_ts
        FROM (SELECT conn_row, {key_cols}, ts,
                     {time_order_sql("ts", str((1 << 64) - 1))} AS ord
              FROM (SELECT conn_row, {conn_keys}, timestamp AS ts
                    FROM {conns} WHERE destination_ip IS NOT NULL {only})) c
        ASOF JOIN (
          SELECT {key_cols}, name, dns_ts,
                 {time_order_sql(dns_time, "hash(name)")} AS ord
          FROM _rh_dns_ans) d
          ON {on} AND c.ord >= d.ord
        WHERE c.ts - d.dns_ts <= {max_age}
        """

    con.execute(f"CREATE OR REPLACE TEMP TABLE _rh_attr_proc AS {last_answer('proc', True)}")
    # Lookups known by process id alone answer the connections of that process id (same
    # host, same address, within the answer's age) that their own process's lookups did
    # not: still the process's own lookup ('dns_process'). The hunt gives such a lookup
    # the entity of its pid's instance first (enrich.pipeline); what is left here is a
    # lookup with no known instance, or connections that carry a pid but no entity id.
    # Skipped where there are none.
    by_pid = con.execute(
        "SELECT count(*) FROM _rh_dns_ans WHERE starts_with(ent, 'pid:')"
    ).fetchone()
    if by_pid is not None and by_pid[0]:
        con.execute(
            "INSERT INTO _rh_attr_proc "
            + last_answer(
                "proc",
                True,
                "AND process_pid IS NOT NULL "
                "AND conn_row NOT IN (SELECT conn_row FROM _rh_attr_proc)",
                conn_ent="'pid:' || process_pid",
            )
        )
    # The host-level answer is used only where the process's own is missing: the second
    # window sorts only those connections.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rh_attr_host AS "
        + last_answer("host", False, "AND conn_row NOT IN (SELECT conn_row FROM _rh_attr_proc)")
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_session AS
        SELECT event_id, host_key, arg_min(destination_domain,
                 CASE destination_domain_origin WHEN 'tls_sni' THEN 0 ELSE 1 END) AS name,
               arg_min(destination_domain_origin,
                 CASE destination_domain_origin WHEN 'tls_sni' THEN 0 ELSE 1 END) AS origin
        FROM {conns}
        WHERE event_id IS NOT NULL AND destination_domain IS NOT NULL
          AND destination_domain_origin IN ('tls_sni', 'http_host')
          AND log_format LIKE 'zeek.%'
        GROUP BY event_id, host_key
        """
    )
    # Only the attribution is written (``attribution``: one narrow row per attributed
    # connection); ``target`` is a view joining it back onto the connection table. A wide
    # copy of every connection cost more than any other enrichment step at 10M events, and
    # its memory made everything after it spill.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {attribution} AS
        SELECT * FROM (
          SELECT c.conn_row,
            CASE
              WHEN c.destination_domain IS NOT NULL
                   AND c.destination_domain_origin IN ({origins}) THEN c.destination_domain
              WHEN s.name IS NOT NULL THEN s.name
              WHEN p.proc_name IS NOT NULL THEN p.proc_name
              WHEN h.host_name IS NOT NULL THEN h.host_name
              WHEN c.destination_domain IS NOT NULL THEN c.destination_domain
            END AS attributed_domain,
            CASE
              WHEN c.destination_domain IS NOT NULL
                   AND c.destination_domain_origin IN ({origins})
                   THEN c.destination_domain_origin
              WHEN s.name IS NOT NULL THEN 'same_session'
              WHEN p.proc_name IS NOT NULL THEN 'dns_process'
              WHEN h.host_name IS NOT NULL THEN 'dns_host'
              WHEN c.destination_domain IS NOT NULL
                   THEN coalesce(c.destination_domain_origin, 'reverse_dns')
            END AS attributed_domain_origin,
            CASE WHEN p.proc_name IS NOT NULL THEN p.proc_ts
                 WHEN h.host_name IS NOT NULL THEN h.host_ts END AS attributed_dns_time
          FROM (SELECT conn_row, host_key, event_id, log_format, destination_domain,
                       destination_domain_origin FROM {conns}) c
          LEFT JOIN _rh_session s
                 ON c.event_id = s.event_id AND c.host_key = s.host_key
                AND c.log_format LIKE 'zeek.%'
                AND coalesce(c.destination_domain_origin, '') NOT IN ({origins})
          LEFT JOIN _rh_attr_proc p USING (conn_row)
          LEFT JOIN _rh_attr_host h USING (conn_row)
        ) WHERE attributed_domain IS NOT NULL
        """
    )
    # A store from before attribution became a view holds a table of that name.
    if con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
        [target],
    ).fetchone() != (0,):
        con.execute(f"DROP TABLE {target}")
    con.execute(
        f"""
        CREATE OR REPLACE VIEW {target} AS
        SELECT c.*, a.attributed_domain, a.attributed_domain_origin, a.attributed_dns_time
        FROM {conns} c LEFT JOIN {attribution} a USING (conn_row)
        """
    )
    for tmp in ("_rh_dns_ans", "_rh_attr_proc", "_rh_attr_host", "_rh_session"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
