"""Beacon analytics at scale: time and memory to score N connection events.

    python bench/beacon_scale.py --events 100000000 --db /tmp/scale.duckdb

Builds a ``net_obs``-shaped table of ``--events`` connections in a DuckDB file (so the
buffer manager can spill): ``--hosts`` hosts, each with ``--groups-per-host`` (process,
destination) pairs; most pairs are Poisson traffic with random byte counts, one in
``--beacon-every`` is a jittered beacon. Then runs the beacon analysis
(:func:`relayhunt.beacon.engine.analyze`) under ``--memory-limit`` and reports the time of
each stage and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import duckdb

from relayhunt.beacon import engine


def build(
    con: duckdb.DuckDBPyConnection,
    events: int,
    hosts: int,
    per_host: int,
    beacon_every: int,
    days: float,
) -> None:
    groups = hosts * per_host
    window_us = int(days * 86_400 * 1e6)
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE net_obs AS
        WITH e AS (
          SELECT i, i % {groups} AS g FROM range({events}) r(i)
        )
        SELECT
          -- beacons: every 60 s within a jitter of 30 %; others: uniform random times
          CASE WHEN g % {beacon_every} = 0
               THEN TIMESTAMP '2026-11-02' + to_microseconds(
                      ((i // {groups}) * 60_000_000 + (random() * 18_000_000)::BIGINT)
                      % {window_us})
               ELSE TIMESTAMP '2026-11-02' + to_microseconds(
                      (random() * {window_us})::BIGINT) END AS timestamp,
          'ws-' || lpad((g // {per_host})::VARCHAR, 5, '0') AS host_key,
          'C:\\Program Files\\App' || (g % 37)::VARCHAR || '\\app' || (g % 37)::VARCHAR
            || '.exe' AS process_executable,
          'app' || (g % 37)::VARCHAR || '.exe' AS process_name,
          'explorer.exe' AS process_parent_name,
          NULL::VARCHAR AS process_parent_executable,
          'svc-' || ((g * 7919) % 5000)::VARCHAR || '.example.com' AS domain,
          '198.51.100.' || (g % 250)::VARCHAR AS destination_ip,
          'connection' AS obs_kind,
          (300 + random() * 2000)::BIGINT AS source_bytes,
          (500 + random() * 20000)::BIGINT AS destination_bytes
        FROM e
        """
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--hosts", type=int, default=5_000)
    ap.add_argument("--groups-per-host", type=int, default=40)
    ap.add_argument("--beacon-every", type=int, default=1_000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--db", type=Path, default=Path("bench/data/beacon_scale.duckdb"))
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reuse", action="store_true", help="keep an existing --db table")
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(args.db))
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    t = time.perf_counter()
    if not args.reuse:
        build(con, args.events, args.hosts, args.groups_per_host, args.beacon_every, args.days)
        con.execute("CHECKPOINT")
    build_s = time.perf_counter() - t
    rows = con.execute("SELECT count(*) FROM net_obs").fetchone()
    n = int(rows[0]) if rows else 0
    p = engine.BeaconParams()
    stages: dict[str, float] = {}
    t = time.perf_counter()
    engine.build_checkins(con, p)
    stages["groups + check-ins (SQL)"] = time.perf_counter() - t
    t = time.perf_counter()
    engine.aggregate(con, p)
    stages["aggregates (SQL)"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rh_bc_cand AS {engine.candidates_sql(p)}")
    cand = con.execute("SELECT * FROM _rh_bc_cand ORDER BY gid").to_arrow_table()
    scored = engine.score(con, cand, engine.host_windows(con, "net_obs"))
    stages["candidates + tests (numpy)"] = time.perf_counter() - t
    total = sum(stages.values())
    groups = con.execute("SELECT count(*) FROM _rh_bc_n").fetchone()
    cis = con.execute("SELECT count(*) FROM _rh_bc_ci").fetchone()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"events: {n:,} (table built in {build_s:.0f} s); groups analysed: "
        f"{groups[0] if groups else 0:,}; check-ins: {cis[0] if cis else 0:,}; "
        f"candidates: {cand.num_rows:,}; "
        f"significant (p<=1e-6): {sum(1 for v in scored.column('log10p').to_pylist() if v <= -6):,}"
    )
    print("| stage | seconds |")
    print("|---|---:|")
    for stage, sec in stages.items():
        print(f"| {stage} | {sec:.1f} |")
    print(f"| total | {total:.1f} ({n / total:,.0f} events/s) |")
    print(f"peak RSS {peak:,.0f} MB (memory_limit {args.memory_limit})")


if __name__ == "__main__":
    main()
