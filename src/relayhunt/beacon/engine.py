"""Beacon analytics over the ``net_obs`` table: group, merge into check-ins, aggregate in
the engine, then test the candidate groups with numpy.

The SQL uses standard window functions and aggregates (``lag``, a running ``sum``,
``percentile_cont ... WITHIN GROUP``, ``avg``, ``count ... FILTER``) and ``hash``, so the
same statements run on Spark SQL with ``xxhash64`` in place of ``hash``. Stages:

1. **Groups.** One group per (host, process image, parent image, destination, event kind):
   the image and parent rather than the process entity, so C2 that starts a new
   ``curl.exe`` per beat forms one group; network-only formats (Zeek) have no image and
   group per (host, destination). Groups with fewer events than ``min_checkins`` are
   dropped before anything is sorted.
2. **Check-ins.** Events of a group less than ``merge_s`` apart are one check-in (a
   beacon's DNS lookup, TLS connection and retry). Per check-in: start, end, connections,
   bytes sent and received.
3. **Aggregates** per group: check-in count, interval quartiles, MAD, the intervals
   folded for missed beats, Moran's statistic over the gaps (pauses longer than
   ``pause_factor`` median intervals excluded, so a beacon that goes quiet and resumes
   keeps its regularity), payload medians and MADs.
4. **Candidates** — groups more regular than a Poisson process on the cheap statistics —
   get the periodogram (numpy FFT on their check-in times) and the p-values; the result
   is the ``beacon_groups`` table (one row per candidate group) that rule RH-SL-005 reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from relayhunt.beacon import stats

GROUP_KEYS = ("host_key", "image_key", "parent_key", "dest_key", "obs_kind")

# Key expressions over net_obs; lower-cased so C:\Windows\System32\curl.exe and
# c:\windows\system32\CURL.EXE are one image.
KEY_SQL = {
    "host_key": "host_key",
    "image_key": "lower(coalesce(process_executable, process_name))",
    "parent_key": "lower(coalesce(process_parent_name, process_parent_executable))",
    "dest_key": "coalesce(lower(domain), destination_ip)",
    "obs_kind": "obs_kind",
}


@dataclass(frozen=True)
class BeaconParams:
    """Tunables of the analysis (rule RH-SL-005's thresholds of the same names)."""

    merge_s: float = 1.0
    """Events of a group closer than this are one check-in."""
    min_checkins: int = 8
    """Groups with fewer check-ins are not analysed."""
    pause_factor: float = 10.0
    """Intervals longer than this many median intervals are pauses: excluded from the
    gap statistics, counted in ``pauses``."""
    fold_tolerance: float = 0.25
    """An interval within this fraction of k median intervals (k = 2..8) counts as k
    beats with k - 1 missed, when the group's core intervals are tight."""
    candidate_z: float = 2.0
    """Cheap SQL cut: keep groups whose Moran statistic is this many standard deviations
    below its Poisson mean (p of about 0.02 and below), or whose folded intervals are
    tight."""


def _keys_sql(prefix: str = "") -> str:
    return ", ".join(f"{KEY_SQL[k]} AS {prefix}{k}" for k in GROUP_KEYS)


def _hash_sql() -> str:
    return "hash(" + ", ".join(KEY_SQL[k] for k in GROUP_KEYS) + ")"


def build_checkins(
    con: duckdb.DuckDBPyConnection, params: BeaconParams, source: str = "net_obs"
) -> None:
    """Stages 1-2: ``_rh_bc_dim`` (group keys, events, host window) and ``_rh_bc_ci``
    (one row per check-in with its interval and gap)."""
    merge = float(params.merge_s)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_dim AS
        WITH k AS (
          SELECT {_keys_sql()}, {_hash_sql()} AS gid
          FROM {source}
          WHERE timestamp IS NOT NULL AND coalesce(domain, destination_ip) IS NOT NULL
        )
        SELECT gid, {", ".join(GROUP_KEYS)}, count(*) AS events
        FROM k GROUP BY ALL HAVING count(*) >= {int(params.min_checkins)}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_ci AS
        WITH e AS (
          SELECT gid, t, sb, db, t - lag(t) OVER (PARTITION BY gid ORDER BY t) AS gap
          FROM (SELECT {_hash_sql()} AS gid, epoch_us(timestamp) / 1e6 AS t,
                       source_bytes AS sb, destination_bytes AS db
                FROM {source}
                WHERE timestamp IS NOT NULL
                  AND coalesce(domain, destination_ip) IS NOT NULL) s
          WHERE gid IN (SELECT gid FROM _rh_bc_dim)
        ),
        k AS (
          SELECT gid, t, sb, db,
                 sum(CASE WHEN gap IS NULL OR gap > {merge} THEN 1 ELSE 0 END)
                   OVER (PARTITION BY gid ORDER BY t
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ci
          FROM e
        ),
        c AS (
          SELECT gid, ci, min(t) AS t0, max(t) AS t1, count(*) AS nconn,
                 sum(sb) AS sb, sum(db) AS db
          FROM k GROUP BY gid, ci
        )
        SELECT gid, ci, t0, t1, nconn, sb, db,
               t0 - lag(t0) OVER (PARTITION BY gid ORDER BY ci) AS iv,
               t0 - lag(t1) OVER (PARTITION BY gid ORDER BY ci) - {merge} AS gap
        FROM c
        """
    )


def aggregate(con: duckdb.DuckDBPyConnection, params: BeaconParams) -> None:
    """Stage 3: ``_rh_bc_agg``, one row per group with at least ``min_checkins``
    check-ins."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_g1 AS
        SELECT gid, count(*) AS checkins, sum(nconn) AS connections,
               min(t0) AS first_t, max(t1) AS last_t,
               percentile_cont(0.25) WITHIN GROUP (ORDER BY iv) AS iv_q1,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY iv) AS iv_med,
               percentile_cont(0.75) WITHIN GROUP (ORDER BY iv) AS iv_q3,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY sb) AS sent_med,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY db) AS recv_med
        FROM _rh_bc_ci GROUP BY gid HAVING count(*) >= {int(params.min_checkins)}
        """
    )
    tol = float(params.fold_tolerance)
    pause = float(params.pause_factor)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_agg AS
        WITH f AS (
          SELECT c.gid, c.iv, c.gap, c.sb, c.db, g.iv_med, g.sent_med, g.recv_med,
                 c.iv > {pause} * g.iv_med AS is_pause,
                 -- fold missed beats: k beats in one interval, when the core is tight
                 CASE WHEN g.iv_med > 0 AND (g.iv_med - g.iv_q1) <= 0.15 * g.iv_med
                           AND round(c.iv / g.iv_med) BETWEEN 2 AND 8
                           AND abs(c.iv / round(c.iv / g.iv_med) - g.iv_med)
                               <= {tol} * g.iv_med
                      THEN c.iv / round(c.iv / g.iv_med) ELSE c.iv END AS ivf
          FROM _rh_bc_ci c JOIN _rh_bc_g1 g ON c.gid = g.gid
        )
        SELECT g.*,
               a.iv_mad, a.ivf_q05, a.ivf_q25, a.ivf_med, a.ivf_q75, a.ivf_q95, a.ivf_mad,
               a.sent_mad, a.recv_mad, a.gaps, a.gap_mean, a.gap_lnmean, a.pauses,
               a.folded
        FROM _rh_bc_g1 g JOIN (
          SELECT gid,
                 median(abs(iv - iv_med)) AS iv_mad,
                 percentile_cont(0.05) WITHIN GROUP (ORDER BY ivf) AS ivf_q05,
                 percentile_cont(0.25) WITHIN GROUP (ORDER BY ivf) AS ivf_q25,
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY ivf) AS ivf_med,
                 percentile_cont(0.75) WITHIN GROUP (ORDER BY ivf) AS ivf_q75,
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY ivf) AS ivf_q95,
                 median(abs(ivf - iv_med)) AS ivf_mad,
                 median(abs(sb - sent_med)) AS sent_mad,
                 median(abs(db - recv_med)) AS recv_mad,
                 count(gap) FILTER (WHERE NOT is_pause AND gap > 0) AS gaps,
                 avg(gap) FILTER (WHERE NOT is_pause AND gap > 0) AS gap_mean,
                 avg(ln(gap)) FILTER (WHERE NOT is_pause AND gap > 0) AS gap_lnmean,
                 count(*) FILTER (WHERE is_pause) AS pauses,
                 count(*) FILTER (WHERE ivf < iv) AS folded
          FROM f GROUP BY gid
        ) a ON a.gid = g.gid
        """
    )


def candidates_sql(params: BeaconParams) -> str:
    """Stage 4's cheap cut, in SQL: Moran's statistic at least ``candidate_z`` standard
    deviations below its Poisson mean (:func:`relayhunt.beacon.stats.moran_null_moments`
    in series form: ``E s = gamma - 1/(2m) - 1/(12m^2)``,
    ``Var s = (pi^2/6 - 1)/m - 1/(2m^2) - 1/(6m^3)``), or tight folded intervals
    (a strict beacon with missed beats)."""
    z = float(params.candidate_z)
    return f"""
        SELECT a.*, d.host_key, d.image_key, d.parent_key, d.dest_key, d.obs_kind,
               d.events, ln(a.gap_mean) - a.gap_lnmean AS moran_s
        FROM _rh_bc_agg a JOIN _rh_bc_dim d ON a.gid = d.gid
        WHERE (a.gaps >= 3 AND ln(a.gap_mean) - a.gap_lnmean
                  < {stats.EULER_GAMMA} - 1 / (2.0 * a.gaps) - 1 / (12.0 * a.gaps * a.gaps)
                    - {z} * sqrt({math.pi**2 / 6 - 1} / a.gaps - 1 / (2.0 * a.gaps * a.gaps)
                                 - 1 / (6.0 * a.gaps * a.gaps * a.gaps)))
           OR (a.ivf_med > 0 AND a.ivf_mad <= 0.1 * a.ivf_med)
    """


def _host_windows(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, float]:
    rows = con.execute(
        f"""SELECT host_key, epoch_us(max(timestamp)) / 1e6 - epoch_us(min(timestamp)) / 1e6
            FROM {source} WHERE host_key IN (SELECT DISTINCT host_key FROM _rh_bc_cand)
            GROUP BY host_key"""
    ).fetchall()
    return {str(h): float(w) for h, w in rows}


def analyze(
    con: duckdb.DuckDBPyConnection,
    params: BeaconParams | None = None,
    *,
    source: str = "net_obs",
    table: str = "beacon_groups",
) -> int:
    """Run the stages over ``source`` (``net_obs``'s columns) into ``table``; returns the
    number of candidate groups scored."""
    p = params or BeaconParams()
    build_checkins(con, p, source)
    aggregate(con, p)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rh_bc_cand AS {candidates_sql(p)}")
    cand = con.execute("SELECT * FROM _rh_bc_cand ORDER BY gid").to_arrow_table()
    windows = _host_windows(con, source)
    scored = score(con, cand, windows)
    con.register("_rh_bc_scored", scored)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rh_bc_scored")
    con.unregister("_rh_bc_scored")
    for tmp in ("_rh_bc_dim", "_rh_bc_ci", "_rh_bc_g1", "_rh_bc_agg", "_rh_bc_cand"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    return int(scored.num_rows)


DECISIVE_LOG10P = -30.0
"""Groups whose gap test already gives p below 1e-30 skip the periodogram."""


def _split(ci: pa.Table) -> dict[int, stats.F64]:
    """``gid, t0`` rows sorted by gid into one time array per gid (no per-row Python)."""
    if ci.num_rows == 0:
        return {}
    gid = np.asarray(ci.column("gid").to_numpy(), dtype=np.uint64)
    t0 = np.asarray(ci.column("t0").to_numpy(), dtype=np.float64)
    cuts = np.flatnonzero(gid[1:] != gid[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    return {int(gid[s]): part for s, part in zip(starts, np.split(t0, cuts), strict=True)}


def _col(tbl: pa.Table, name: str) -> stats.F64:
    return np.asarray(tbl.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def score(con: duckdb.DuckDBPyConnection, cand: pa.Table, windows: dict[str, float]) -> pa.Table:
    """The p-values and scores of the candidate groups (numpy), as an Arrow table."""
    n = cand.num_rows
    moran_s = _col(cand, "moran_s")
    gaps = _col(cand, "gaps")
    log10p_gaps = stats.moran_log10p(moran_s, gaps)
    period = _col(cand, "ivf_med")
    log10p_fft = np.full(n, math.nan)  # NaN: not run (decisive already, or too short)
    fft_period = np.full(n, math.nan)
    gids = cand.column("gid").to_pylist()
    if n:
        # The periodogram adds nothing where the gap test is already decisive.
        need = [g for g, lp in zip(gids, log10p_gaps, strict=True) if lp > DECISIVE_LOG10P]
        con.register("_rh_bc_fft", pa.table({"gid": pa.array(need, type=pa.uint64())}))
        ci = con.execute(
            """SELECT gid, t0 FROM _rh_bc_ci WHERE gid IN (SELECT gid FROM _rh_bc_fft)
               ORDER BY gid, t0"""
        ).to_arrow_table()
        con.unregister("_rh_bc_fft")
        by_gid = _split(ci)
        for i, gid in enumerate(gids):
            ts = by_gid.get(gid)
            if ts is not None and period[i] > 0:
                log10p_fft[i], fft_period[i] = stats.periodogram_log10p(ts, float(period[i]))
    # Two tests on one group: Bonferroni (x2) on the smaller p.
    best = np.fmin(log10p_gaps, log10p_fft)
    log10p = np.clip(best + math.log10(2.0), stats.LOG10P_FLOOR, 0.0)
    timing = stats.timing_score(log10p)
    sleep_s, jitter_pct = stats.jitter_estimate(_col(cand, "ivf_q05"), _col(cand, "ivf_q95"))
    payload = stats.payload_score(
        _col(cand, "sent_mad"),
        _col(cand, "sent_med"),
        _col(cand, "recv_mad"),
        _col(cand, "recv_med"),
    )
    checkins = _col(cand, "checkins")
    hosts = cand.column("host_key").to_pylist()
    window = np.asarray([windows.get(str(h), math.nan) for h in hosts], dtype=np.float64)
    coverage = stats.coverage_score(checkins, period, window)
    count = stats.count_score(checkins)
    total = stats.beacon_score(timing, payload, count, coverage)
    interval = stats.mad_median_score(_col(cand, "ivf_mad"), period)
    skew = stats.bowley_score(_col(cand, "ivf_q25"), period, _col(cand, "ivf_q75"))
    extra = {
        "log10p_gaps": log10p_gaps,
        "log10p_periodogram": log10p_fft,
        "log10p": log10p,
        "periodogram_period_s": fft_period,
        "gamma_shape": stats.gamma_shape(moran_s),
        "period_s": period,
        "sleep_s": sleep_s,
        "jitter_pct": jitter_pct,
        "interval_score": interval,
        "skew_score": skew,
        "timing_score": timing,
        "payload_score": payload,
        "coverage_score": coverage,
        "count_score": count,
        "beacon_score": total,
        "window_s": window,
    }
    out = cand
    for name, values in extra.items():
        out = out.append_column(name, pa.array(values, type=pa.float64(), from_pandas=True))
    return out
