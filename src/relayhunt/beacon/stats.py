"""The beacon statistics: small functions over numpy arrays, one value per group.

Every function takes arrays with one element per (host, process, destination) group and
is vectorised over groups; scores are in [0, 1], probabilities are returned as log10 so
that a beacon with 100,000 check-ins (p far below 1e-308) still ranks. The SQL engine
(:mod:`relayhunt.beacon.engine`) computes the per-group aggregates these need; only the
periodogram (:func:`periodogram_log10p`) looks at individual check-in times, and only for
the candidate groups.

Notation: a group has ``n`` check-ins (connections less than ``merge_s`` apart are one
check-in). Its *intervals* are the times between check-in starts; its *gaps* are the
silences between the end of one check-in and the start of the next, less ``merge_s``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
LOG10P_FLOOR = -300.0
"""p-values are reported down to 1e-300 (identical gaps give exactly 0)."""


def _clip01(x: F64) -> F64:
    return np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)


def bowley_score(q1: F64, q2: F64, q3: F64) -> F64:
    """``1 - |Bowley skewness|`` of the intervals, RITA's first timing sub-score.

    Bowley skewness ``(q1 + q3 - 2 q2) / (q3 - q1)`` is 0 for a symmetric distribution
    and +-1 when the median sits on a quartile. A constant series (``q3 == q1``) scores 1.
    """
    spread = q3 - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(spread > 0, (q1 + q3 - 2.0 * q2) / spread, 0.0)
    return _clip01(1.0 - np.abs(skew))


def mad_median_score(mad: F64, median: F64) -> F64:
    """``1 - MAD / median``, clipped to [0, 1]: RITA's dispersion sub-score. A constant
    series scores 1; an exponential (Poisson) one about 0.31; zero median with zero MAD
    (every value 0) scores 1."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(median > 0, mad / median, np.where(mad > 0, np.inf, 0.0))
    return _clip01(1.0 - ratio)


def moran_null_moments(m: F64) -> tuple[F64, F64]:
    """Mean and variance of Moran's statistic ``s = ln(mean x) - mean(ln x)`` over ``m``
    independent exponential gaps (the gaps of a Poisson process).

    With ``x`` exponential, ``mean x`` is independent of the ratios ``x / mean x``
    (Lukacs), so ``Var(mean ln x) = Var(ln mean x) + Var(s)``; with
    ``E ln x = psi(1)``, ``Var ln x = psi'(1)``, ``E ln mean x = psi(m) - ln m`` and
    ``Var ln mean x = psi'(m)`` this gives ``E s = psi(m) - ln m + gamma`` and
    ``Var s = psi'(1) / m - psi'(m)``.
    """
    from scipy import special  # imported when used: scipy adds ~0.7 s to every start-up

    m = np.asarray(m, dtype=np.float64)
    mean = special.digamma(m) - np.log(m) + EULER_GAMMA
    var = special.polygamma(1, 1.0) / m - special.polygamma(1, m)
    return mean, var


def moran_log10p(s: F64, m: F64) -> F64:
    """log10 of the probability that a Poisson process's ``m`` gaps look at least as
    regular as observed (Moran's statistic at most ``s``).

    ``s`` is 0 for identical gaps, about 0.58 for exponential ones and larger for bursty
    traffic, so the lower tail is the test for "more regular than chance". The null
    distribution of ``s`` is approximated by the gamma distribution with its exact mean
    and variance (:func:`moran_null_moments`); tests check the approximation against
    simulation. Groups with fewer than 3 gaps get 0 (p = 1).
    """
    s = np.asarray(s, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    out = np.zeros_like(s)
    ok = (m >= 3) & np.isfinite(s)
    if ok.any():
        from scipy import stats

        mean, var = moran_null_moments(m[ok])
        shape = mean * mean / var
        scale = var / mean
        logp = stats.gamma.logcdf(np.maximum(s[ok], 0.0), shape, scale=scale)
        out[ok] = np.clip(logp / math.log(10.0), LOG10P_FLOOR, 0.0)
    return out


def gamma_shape(s: F64) -> F64:
    """The maximum-likelihood gamma shape ``k`` of the gaps, from Moran's ``s``
    (Minka's approximation). ``k = 1`` is Poisson, ``k < 1`` bursty, ``k > 1`` regular;
    a strict beacon has a large ``k`` (capped at 1000)."""
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (3.0 - s + np.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
    return np.where(s > 0, np.minimum(k, 1000.0), 1000.0)


def periodogram_log10p(
    times: F64,
    period: float,
    *,
    oversample: int = 8,
    band: tuple[float, float] = (0.6, 1.6),
    max_bins: int = 1 << 18,
) -> tuple[float, float]:
    """Schuster periodogram of one group's check-in times near ``1 / period``.

    Check-ins are counted in bins of ``period / oversample`` seconds and Fourier
    transformed; the power ``|F(f)|^2 / n`` at a frequency is, for a Poisson process,
    exponential with mean 1, so the highest power ``Z`` among the ``K`` frequencies
    searched in ``[1 / (band[1] * period), 1 / (band[0] * period)]`` has
    ``p = 1 - (1 - exp(-Z))^K`` (Bonferroni over the band). Missed beats do not move
    the peak: they only lower ``Z``. Returns ``(log10 p, period at the peak in s)``;
    ``(0.0, nan)`` when the series is too short or too long to bin finely enough.
    """
    n = times.size
    if n < 4 or not period > 0:
        return 0.0, math.nan
    tau = times - times[0]
    span = float(tau[-1])
    dt = period / oversample
    if span / dt + 1 > max_bins:
        dt = span / (max_bins - 1)
        if dt > period / 3:
            return 0.0, math.nan
    bins = int(span / dt) + 1
    if bins < 8 or span < 3 * period:
        return 0.0, math.nan
    counts = np.bincount((tau / dt).astype(np.int64), minlength=bins).astype(np.float64)
    spec = np.abs(np.fft.rfft(counts)) ** 2 / n
    freqs = np.arange(spec.size) / (bins * dt)
    sel = (freqs >= 1.0 / (band[1] * period)) & (freqs <= 1.0 / (band[0] * period))
    k = int(sel.sum())
    if k == 0:
        return 0.0, math.nan
    idx = np.flatnonzero(sel)
    peak = int(idx[np.argmax(spec[idx])])
    z = float(spec[peak])
    tail = math.exp(-z) if z < 700 else 0.0
    if tail > 1e-12:
        logp = math.log10(-math.expm1(k * math.log1p(-tail))) if tail < 1 else 0.0
    else:  # p ~ K * exp(-Z) without underflow
        logp = (math.log(k) - z) / math.log(10.0)
    return min(max(logp, LOG10P_FLOOR), 0.0), 1.0 / float(freqs[peak])


def jitter_estimate(q05: F64, q95: F64) -> tuple[F64, F64]:
    """The implant's sleep and jitter in Cobalt Strike's convention (sleeps uniform in
    ``[S (1 - J), S]``), from the 5th and 95th percentile intervals: the full range is
    ``R = (q95 - q05) / 0.9`` and ``S = q95 + 0.05 R``. Returns ``(S in s, J in %)``.
    Sliver's ``60 s + 0..30 s`` reads as S = 90 s, J = 33 %."""
    rng = np.maximum(q95 - q05, 0.0) / 0.9
    sleep = q95 + 0.05 * rng
    with np.errstate(divide="ignore", invalid="ignore"):
        jitter = np.where(sleep > 0, 100.0 * rng / sleep, 0.0)
    return sleep, np.clip(jitter, 0.0, 100.0)


def timing_score(log10p: F64, saturate: float = 8.0) -> F64:
    """Significance as a score: ``-log10 p / saturate`` clipped to [0, 1] (p = 1e-4
    scores 0.5, p <= 1e-8 scores 1)."""
    return _clip01(-np.asarray(log10p, dtype=np.float64) / saturate)


def payload_score(
    sent_mad: F64,
    sent_med: F64,
    recv_mad: F64,
    recv_med: F64,
    *,
    small_sent: float = 4096.0,
    small_recv: float = 16384.0,
) -> F64:
    """Payload regularity and size, NaN where the format records no byte counts.

    Per direction ``1 - MAD / median`` (:func:`mad_median_score`) of the bytes per
    check-in; the two directions are averaged (one where only one is recorded). Small
    check-ins (median sent below ``small_sent`` and received below ``small_recv``, the
    LogScale rule's limits) add up to 0.2: ``0.8 * regularity + 0.2 * smallness``,
    where smallness decays as ``limit / median`` above the limit."""
    sent = np.where(np.isnan(sent_med), np.nan, mad_median_score(sent_mad, sent_med))
    recv = np.where(np.isnan(recv_med), np.nan, mad_median_score(recv_mad, recv_med))
    both = np.vstack([sent, recv])
    seen = (~np.isnan(both)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        regularity = np.where(seen > 0, np.nansum(both, axis=0) / seen, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        small_s = np.where(np.isnan(sent_med), 1.0, np.minimum(1.0, small_sent / sent_med))
        small_r = np.where(np.isnan(recv_med), 1.0, np.minimum(1.0, small_recv / recv_med))
    small = np.minimum(small_s, small_r)
    return np.asarray(0.8 * regularity + 0.2 * small, dtype=np.float64)


def coverage_score(checkins: F64, period: F64, window_s: F64) -> F64:
    """The share of the host's observation window the beacon fills:
    ``checkins * period / window`` clipped to [0, 1]. A beacon present all along scores
    about 1 (less its missed beats); one that ran for an hour of a 30-day capture, low."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _clip01(np.where(window_s > 0, checkins * period / window_s, 1.0))


def count_score(checkins: F64, full: float = 100.0) -> F64:
    """``ln(n / 3) / ln(full / 3)`` clipped to [0, 1]: more check-ins, more trust in the
    other statistics (12 check-ins 0.40, 50 0.80, 100 or more 1)."""
    return _clip01(np.log(np.maximum(checkins, 1.0) / 3.0) / math.log(full / 3.0))


WEIGHTS = {"timing": 0.55, "payload": 0.20, "count": 0.15, "coverage": 0.10}
"""Weights of the beacon score; payload's weight is spread over the others where the
format has no byte counts."""


def beacon_score(timing: F64, payload: F64, count: F64, coverage: F64) -> F64:
    """The weighted mean of the four scores (:data:`WEIGHTS`), renormalised over the
    scores that exist (payload is NaN without byte counts)."""
    has_payload = ~np.isnan(payload)
    num = (
        WEIGHTS["timing"] * timing
        + WEIGHTS["count"] * count
        + WEIGHTS["coverage"] * coverage
        + np.where(has_payload, WEIGHTS["payload"] * np.nan_to_num(payload), 0.0)
    )
    den = (
        WEIGHTS["timing"]
        + WEIGHTS["count"]
        + WEIGHTS["coverage"]
        + np.where(has_payload, WEIGHTS["payload"], 0.0)
    )
    return np.asarray(num / den, dtype=np.float64)
