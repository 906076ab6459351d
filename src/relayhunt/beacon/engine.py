"""Beacon analytics over the ``net_obs`` table: group, merge into check-ins, aggregate in
the engine, then test the candidate groups with numpy.

The SQL uses standard window functions and aggregates (``lag``, ``median``, ``avg``,
``count ... FILTER``) plus DuckDB's ``hash`` and ``quantile_cont(x, [list])`` (several
percentiles in one sort); on Spark SQL these are ``xxhash64`` and
``percentile_approx(x, array(...))``. Stages:

1. **Groups.** One group per (host, process image, parent image, destination, event kind):
   the image and parent rather than the process entity, so C2 that starts a new
   ``curl.exe`` per beat forms one group; network-only formats (Zeek) have no image and
   group per (host, destination). The keys are hashed in one scan; groups with fewer
   events than ``min_checkins`` are dropped before anything is sorted.
2. **Check-ins.** One window pass: an event more than ``merge_s`` after the previous
   event of its group starts a check-in (the rest are the same beat's retries and extra
   connections). A check-in's interval is the silence before it, measured from the
   previous event (the end of the previous check-in); its bytes are those of its first
   event. Formats that log a connection at both ends (Elastic Defend's
   ``disconnect_received``, :data:`FLOW_END_ACTIONS`) are handled apart: an end event
   never starts a check-in, and the check-in's bytes are the first recorded in it.
3. **Aggregates** per group: check-in count and interval quartiles for every group, which
   drop Poisson-like and bursty groups (interquartile range above ``max_iqr_ratio``
   medians); then for the rest MAD, the intervals folded for missed beats, Moran's
   statistic over the gaps (pauses longer than ``pause_factor`` median intervals
   excluded, so a beacon that goes quiet and resumes keeps its regularity), payload
   medians and MADs.
4. **Candidates** — groups more regular than a Poisson process on Moran's statistic —
   get the periodogram (numpy FFT on their check-in times) and the p-values; the result
   is the ``beacon_groups`` table (one row per candidate group) that rule RH-SL-005 reads.
5. **Series** for the report's plots, in ``beacon_series`` (one row per candidate group):
   up to ``series_points`` check-ins (time, interval before it, bytes; a systematic
   sample by index when the group has more, and it says so: ``series_n`` is the true
   count) and a histogram of *all* its intervals (:func:`build_series`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from relayhunt.beacon import stats

FLOW_END_ACTIONS = ("disconnect_received",)
"""``event_action`` values of a record that logs the *end* of a connection whose start
is logged too (Elastic Defend's ``disconnect_received``, which carries the byte counts):
part of the check-in that opened the connection, never a check-in of its own."""

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
    max_iqr_ratio: float = 1.4
    """Pass-1 cut: groups whose interval interquartile range is more than this many
    median intervals are not beacons (Poisson: 1.58)."""
    candidate_z: float = 2.0
    """Cheap SQL cut: keep groups whose Moran statistic is this many standard deviations
    below its Poisson mean (p of about 0.02 and below), or whose folded intervals are
    tight."""
    series_points: int = 500
    """Most check-ins per group kept in ``beacon_series`` for plotting."""
    histogram_bins: int = 40
    """Bins of the interval histogram in ``beacon_series``."""


def _keys_sql(prefix: str = "") -> str:
    return ", ".join(f"{KEY_SQL[k]} AS {prefix}{k}" for k in GROUP_KEYS)


def hash_sql() -> str:
    """The group id over ``net_obs``'s columns (what ``beacon_groups.gid`` holds)."""
    return "hash(" + ", ".join(KEY_SQL[k] for k in GROUP_KEYS) + ")"


def build_checkins(
    con: duckdb.DuckDBPyConnection, params: BeaconParams, source: str = "net_obs"
) -> None:
    """Stages 1-2: ``_rh_bc_n`` (events per group with at least ``min_checkins``) and
    ``_rh_bc_ci`` (one row per check-in: its start, the silence before it, the bytes of
    its first event).

    One scan hashes the group keys; one window (``lag`` over each group's events in time
    order) finds the check-in starts: an event more than ``merge_s`` after the previous
    one. The silence before a start is measured from the previous event, which is the
    end of the previous check-in."""
    merge = float(params.merge_s)
    ends = ", ".join(f"'{a}'" for a in FLOW_END_ACTIONS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_ev AS
        SELECT {hash_sql()} AS gid, epoch_us(timestamp) / 1e6 AS t,
               source_bytes AS sb, destination_bytes AS db,
               coalesce(event_action IN ({ends}), false) AS is_end
        FROM {source}
        WHERE timestamp IS NOT NULL AND coalesce(domain, destination_ip) IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_n AS
        SELECT gid, count(*) FILTER (WHERE NOT is_end) AS events FROM _rh_bc_ev
        GROUP BY gid HAVING count(*) FILTER (WHERE NOT is_end) >= {int(params.min_checkins)}
        """
    )
    has_ends = con.execute(
        "SELECT count(*) > 0 FROM _rh_bc_ev WHERE is_end AND gid IN (SELECT gid FROM _rh_bc_n)"
    ).fetchone()
    if has_ends is None or not has_ends[0]:
        # One row per connection (Sysmon, Falcon, Defender, UDM, Zeek): one window pass.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _rh_bc_ci AS
            SELECT gid, t AS t0, sb, db, d AS iv, d - {merge} AS gap
            FROM (
              SELECT gid, t, sb, db, t - lag(t) OVER (PARTITION BY gid ORDER BY t) AS d
              FROM _rh_bc_ev WHERE gid IN (SELECT gid FROM _rh_bc_n)
            ) e
            WHERE d IS NULL OR d > {merge}
            """
        )
    else:
        # Flows logged at both ends (Elastic Defend: connection_attempted, then
        # disconnect_received with the byte counts when it closes): an end event never
        # starts a check-in, whatever its distance, and closes the check-in it belongs to,
        # so the silence before the next one is measured from the flow's end; a
        # check-in's bytes are the first recorded in it (the end event's).
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _rh_bc_ci AS
            WITH w AS (
              SELECT gid, t, sb, db, is_end,
                     t - lag(t) OVER (PARTITION BY gid ORDER BY t, is_end) AS d
              FROM _rh_bc_ev WHERE gid IN (SELECT gid FROM _rh_bc_n)
            ),
            n AS (
              SELECT *, sum(CASE WHEN d IS NULL OR (NOT is_end AND d > {merge}) THEN 1
                                 ELSE 0 END)
                        OVER (PARTITION BY gid ORDER BY t, is_end
                              ROWS UNBOUNDED PRECEDING) AS ci
              FROM w
            )
            SELECT gid, min(t) AS t0,
                   arg_min(sb, t) FILTER (WHERE sb IS NOT NULL) AS sb,
                   arg_min(db, t) FILTER (WHERE db IS NOT NULL) AS db,
                   arg_min_null(d, t) AS iv, arg_min_null(d, t) - {merge} AS gap
            FROM n GROUP BY gid, ci
            """
        )
    con.execute("DROP TABLE _rh_bc_ev")


def aggregate(con: duckdb.DuckDBPyConnection, params: BeaconParams) -> None:
    """Stage 3: ``_rh_bc_agg``, one row per group with at least ``min_checkins`` check-ins
    whose interval quartiles are not Poisson-like or bursty.

    Pass 1 (every group): count, first and last time, interval quartiles. Groups whose
    interquartile range exceeds ``max_iqr_ratio`` median intervals are dropped here
    (an exponential has 1.58, bursty traffic more; a 90 %-jitter beacon with 30 % missed
    beats about 1.0). Pass 2 (the rest): MAD, folded intervals, Moran's statistic without
    pauses, payload medians; pass 3: payload MADs."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_g1 AS
        SELECT gid, checkins, first_t, last_t,
               q[1] AS iv_q1, q[2] AS iv_med, q[3] AS iv_q3
        FROM (
          -- quantile_cont(x, [..]) is percentile_cont(..) WITHIN GROUP (ORDER BY x) done
          -- in one sort; Spark: percentile_approx(x, array(0.25, 0.5, 0.75))
          SELECT gid, count(*) AS checkins, min(t0) AS first_t, max(t0) AS last_t,
                 quantile_cont(iv, [0.25, 0.5, 0.75]) AS q
          FROM _rh_bc_ci GROUP BY gid HAVING count(*) >= {int(params.min_checkins)}
        ) a
        WHERE q[2] > 0 AND (q[3] - q[1]) <= {float(params.max_iqr_ratio)} * q[2]
        """
    )
    tol = float(params.fold_tolerance)
    pause = float(params.pause_factor)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_bc_f AS
        SELECT c.gid, c.iv, c.gap, c.sb, c.db, g.iv_med,
               c.iv > {pause} * g.iv_med AS is_pause,
               -- fold missed beats: k beats in one interval, when the core is tight
               CASE WHEN (g.iv_med - g.iv_q1) <= 0.15 * g.iv_med
                         AND round(c.iv / g.iv_med) BETWEEN 2 AND 8
                         AND abs(c.iv / round(c.iv / g.iv_med) - g.iv_med)
                             <= {tol} * g.iv_med
                    THEN c.iv / round(c.iv / g.iv_med) ELSE c.iv END AS ivf
        FROM _rh_bc_ci c JOIN _rh_bc_g1 g ON c.gid = g.gid
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rh_bc_g2 AS
        SELECT gid,
               median(abs(iv - iv_med)) AS iv_mad,
               quantile_cont(ivf, [0.05, 0.25, 0.5, 0.75, 0.95]) AS qf,
               median(abs(ivf - iv_med)) AS ivf_mad,
               median(sb) AS sent_med, median(db) AS recv_med,
               count(gap) FILTER (WHERE NOT is_pause AND gap > 0) AS gaps,
               avg(gap) FILTER (WHERE NOT is_pause AND gap > 0) AS gap_mean,
               avg(ln(gap)) FILTER (WHERE NOT is_pause AND gap > 0) AS gap_lnmean,
               count(*) FILTER (WHERE is_pause) AS pauses,
               count(*) FILTER (WHERE ivf < iv) AS folded
        FROM _rh_bc_f GROUP BY gid
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rh_bc_agg AS
        SELECT g.*, n.events AS connections, a.iv_mad,
               a.qf[1] AS ivf_q05, a.qf[2] AS ivf_q25, a.qf[3] AS ivf_med,
               a.qf[4] AS ivf_q75, a.qf[5] AS ivf_q95, a.ivf_mad,
               a.sent_med, a.recv_med, p.sent_mad, p.recv_mad,
               a.gaps, a.gap_mean, a.gap_lnmean, a.pauses, a.folded
        FROM _rh_bc_g1 g
        JOIN _rh_bc_g2 a ON a.gid = g.gid
        JOIN _rh_bc_n n ON n.gid = g.gid
        JOIN (SELECT f.gid, median(abs(f.sb - a.sent_med)) AS sent_mad,
                     median(abs(f.db - a.recv_med)) AS recv_mad
              FROM _rh_bc_f f JOIN _rh_bc_g2 a ON a.gid = f.gid GROUP BY f.gid) p
          ON p.gid = g.gid
        """
    )


def candidates_sql(params: BeaconParams, source: str = "net_obs") -> str:
    """Stage 4's cheap cut, in SQL: Moran's statistic at least ``candidate_z`` standard
    deviations below its Poisson mean (:func:`relayhunt.beacon.stats.moran_null_moments`
    in series form: ``E s = gamma - 1/(2m) - 1/(12m^2)``,
    ``Var s = (pi^2/6 - 1)/m - 1/(2m^2) - 1/(6m^3)``), or tight folded intervals
    (a strict beacon with missed beats); with each group's keys from ``source``."""
    z = float(params.candidate_z)
    keys = ", ".join(GROUP_KEYS)
    return f"""
        WITH c AS (
          SELECT a.*, ln(a.gap_mean) - a.gap_lnmean AS moran_s
          FROM _rh_bc_agg a
          WHERE (a.gaps >= 3 AND ln(a.gap_mean) - a.gap_lnmean
                  < {stats.EULER_GAMMA} - 1 / (2.0 * a.gaps) - 1 / (12.0 * a.gaps * a.gaps)
                    - {z} * sqrt({math.pi**2 / 6 - 1} / a.gaps - 1 / (2.0 * a.gaps * a.gaps)
                                 - 1 / (6.0 * a.gaps * a.gaps * a.gaps)))
             OR (a.ivf_med > 0 AND a.ivf_mad <= 0.1 * a.ivf_med)
        ),
        k AS (
          SELECT DISTINCT gid, {keys}
          FROM (SELECT {hash_sql()} AS gid, {_keys_sql()} FROM {source}) s
          WHERE gid IN (SELECT gid FROM c)
        )
        SELECT c.*, {keys} FROM c JOIN k ON k.gid = c.gid
    """


def host_windows(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, float]:
    """Seconds between each candidate host's first and last event in ``source``."""
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
    series_table: str = "beacon_series",
) -> int:
    """Run the stages over ``source`` (``net_obs``'s columns) into ``table`` (and the plot
    series into ``series_table``); returns the number of candidate groups scored."""
    p = params or BeaconParams()
    build_checkins(con, p, source)
    aggregate(con, p)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rh_bc_cand AS {candidates_sql(p, source)}")
    cand = con.execute("SELECT * FROM _rh_bc_cand ORDER BY gid").to_arrow_table()
    windows = host_windows(con, source)
    scored = score(con, cand, windows)
    con.register("_rh_bc_scored", scored)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rh_bc_scored")
    con.unregister("_rh_bc_scored")
    build_series(con, p, series_table)
    for tmp in (
        "_rh_bc_n",
        "_rh_bc_ci",
        "_rh_bc_g1",
        "_rh_bc_f",
        "_rh_bc_g2",
        "_rh_bc_agg",
        "_rh_bc_cand",
    ):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    return int(scored.num_rows)


def build_series(
    con: duckdb.DuckDBPyConnection, params: BeaconParams, table: str = "beacon_series"
) -> None:
    """Stage 5: ``table``, one row per candidate group (``_rh_bc_cand``), for plotting.

    * ``series_start`` (POSIX s) and, per kept check-in, ``series_t`` (s after the start,
      0.1 s), ``series_iv`` (the silence before it, s, over *all* check-ins; -1 for the
      first), ``series_sent`` / ``series_recv`` (bytes of its first event; -1 where the
      event carried none). A group with more than ``series_points`` check-ins keeps a
      systematic sample: the first check-in of each of ``series_points`` equal runs by
      index, so gaps and bursts stay where they are. ``series_n`` is the true count.
    * ``hist_lo``, ``hist_width``, ``hist_counts`` (``histogram_bins`` counts) over every
      interval from the shortest up to ``min(longest, 2.5 x median)`` (so a missed beat
      still shows); ``hist_above`` counts
      the longer ones (pauses, runs of missed beats).

    Window functions and one aggregate per group; nothing per row in Python."""
    m = max(2, int(params.series_points))
    bins = max(1, int(params.histogram_bins))
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        WITH c AS (
          SELECT ci.gid, ci.t0, ci.iv, ci.sb, ci.db,
                 row_number() OVER (PARTITION BY ci.gid ORDER BY ci.t0) - 1 AS i,
                 count(*) OVER (PARTITION BY ci.gid) AS n,
                 min(ci.t0) OVER (PARTITION BY ci.gid) AS start
          FROM _rh_bc_ci ci WHERE ci.gid IN (SELECT gid FROM _rh_bc_cand)
        ),
        s AS (
          SELECT gid, any_value(n) AS series_n, any_value(start) AS series_start,
                 list(round(t0 - start, 1) ORDER BY t0) AS series_t,
                 list(coalesce(round(iv, 1), -1) ORDER BY t0) AS series_iv,
                 list(coalesce(sb, -1) ORDER BY t0) AS series_sent,
                 list(coalesce(db, -1) ORDER BY t0) AS series_recv
          FROM c
          -- the first check-in of each of {m} equal runs by index
          WHERE n <= {m} OR i = 0 OR (i * {m}) // n > ((i - 1) * {m}) // n
          GROUP BY gid
        ),
        r AS (
          SELECT gid, min(iv) AS lo, least(max(iv), 2.5 * median(iv)) AS hi
          FROM c WHERE iv IS NOT NULL GROUP BY gid
        ),
        b AS (
          SELECT r.gid, r.lo,
                 CASE WHEN r.hi > r.lo THEN (r.hi - r.lo) / {bins} ELSE 1.0 END AS width
          FROM r
        ),
        h AS (
          SELECT c.gid, least({bins - 1}, floor((c.iv - b.lo) / b.width))::INTEGER AS bin,
                 count(*) AS k
          FROM c JOIN b ON b.gid = c.gid
          WHERE c.iv IS NOT NULL AND c.iv <= b.lo + {bins} * b.width
          GROUP BY ALL
        ),
        hd AS (
          SELECT b.gid, any_value(b.lo) AS hist_lo, any_value(b.width) AS hist_width,
                 list(coalesce(h.k, 0) ORDER BY g.bin) AS hist_counts
          FROM b CROSS JOIN range({bins}) g(bin)
          LEFT JOIN h ON h.gid = b.gid AND h.bin = g.bin
          GROUP BY b.gid
        ),
        ab AS (
          SELECT c.gid, count(*) FILTER (WHERE c.iv > b.lo + {bins} * b.width) AS hist_above
          FROM c JOIN b ON b.gid = c.gid GROUP BY c.gid
        )
        SELECT s.*, round(hd.hist_lo, 3) AS hist_lo, round(hd.hist_width, 4) AS hist_width,
               hd.hist_counts, ab.hist_above
        FROM s LEFT JOIN hd ON hd.gid = s.gid LEFT JOIN ab ON ab.gid = s.gid
        """
    )


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
