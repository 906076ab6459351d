"""The beacon statistics against their definitions and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from relayhunt.beacon import stats
from relayhunt.emulate import timing


def _moran(x: np.ndarray) -> np.ndarray:
    return np.log(x.mean(axis=-1)) - np.log(x).mean(axis=-1)


@pytest.mark.parametrize("m", [4, 11, 40])
def test_moran_null_moments_match_simulation(m: int) -> None:
    rng = np.random.default_rng(m)
    s = _moran(rng.exponential(size=(100_000, m)))
    mean, var = stats.moran_null_moments(np.array([float(m)]))
    assert s.mean() == pytest.approx(mean[0], rel=0.01)
    assert s.var() == pytest.approx(var[0], rel=0.03)


@pytest.mark.parametrize("m", [5, 12, 60])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.001])
def test_moran_pvalue_is_calibrated_on_poisson_gaps(m: int, alpha: float) -> None:
    rng = np.random.default_rng(1000 + m)
    s = _moran(rng.exponential(size=(200_000, m)))
    rate = float((stats.moran_log10p(s, np.full(s.size, float(m))) <= math.log10(alpha)).mean())
    # the gamma approximation is within 25 % of the nominal level down to 0.001
    assert alpha * 0.75 <= rate <= alpha * 1.25


def test_moran_regular_gaps_are_significant_and_bursty_are_not() -> None:
    rng = np.random.default_rng(3)
    regular = rng.uniform(0.9, 1.0, size=50)
    bursty = np.concatenate([rng.exponential(0.5, 40), rng.exponential(200.0, 10)])
    lp = stats.moran_log10p(np.array([_moran(regular), _moran(bursty)]), np.array([50.0, 50.0]))
    assert lp[0] < -20
    assert lp[1] > -0.5


def test_moran_detects_90_percent_jitter_with_enough_checkins() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0.1, 1.0, size=(2000, 60))  # Cobalt Strike sleep 1, jitter 90 %
    lp = stats.moran_log10p(_moran(x), np.full(2000, 60.0))
    assert float((lp <= -6).mean()) > 0.9


def test_moran_too_few_gaps_is_not_evidence() -> None:
    assert stats.moran_log10p(np.array([0.0]), np.array([2.0]))[0] == 0.0


def test_gamma_shape_reads_poisson_as_one() -> None:
    rng = np.random.default_rng(5)
    s = _moran(rng.exponential(size=(1, 20_000)))
    assert stats.gamma_shape(s)[0] == pytest.approx(1.0, abs=0.05)
    assert stats.gamma_shape(np.array([0.0]))[0] == 1000.0


def test_periodogram_survives_missed_beats() -> None:
    rng = np.random.default_rng(6)
    t = timing.sleep_jitter(300.0, 0.05, 0.0, 7 * 86_400.0, rng, missed=0.3)
    lp, period = stats.periodogram_log10p(t, float(np.median(np.diff(t))))
    assert lp < -20
    assert period == pytest.approx(300.0 * 0.975, rel=0.02)


def test_periodogram_is_quiet_on_poisson() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        t = timing.poisson(1 / 60.0, 0.0, 86_400.0, rng)
        lp, _ = stats.periodogram_log10p(t, float(np.median(np.diff(t))))
        hits += lp <= -2
    assert hits <= 8  # about 1 % expected at p <= 0.01


def test_periodogram_refuses_too_short_series() -> None:
    assert stats.periodogram_log10p(np.array([0.0, 1.0, 2.0]), 1.0) == (
        0.0,
        pytest.approx(math.nan, nan_ok=True),
    )


@pytest.mark.parametrize(("period", "jitter"), [(60.0, 0.0), (60.0, 0.3), (3600.0, 0.9)])
def test_jitter_estimate_recovers_cobalt_strike_settings(period: float, jitter: float) -> None:
    rng = np.random.default_rng(8)
    iv = rng.uniform(period * (1 - jitter), period, size=20_000)
    sleep, jit = stats.jitter_estimate(
        np.array([np.quantile(iv, 0.05)]), np.array([np.quantile(iv, 0.95)])
    )
    assert sleep[0] == pytest.approx(period, rel=0.01)
    assert jit[0] == pytest.approx(100 * jitter, abs=1.5)


def test_jitter_estimate_reads_sliver_default() -> None:
    rng = np.random.default_rng(9)
    iv = 60.0 + rng.uniform(0, 30.0, size=20_000)
    sleep, jit = stats.jitter_estimate(
        np.array([np.quantile(iv, 0.05)]), np.array([np.quantile(iv, 0.95)])
    )
    assert sleep[0] == pytest.approx(90.0, rel=0.01)
    assert jit[0] == pytest.approx(33.3, abs=1.5)


def test_bowley_and_mad_scores() -> None:
    assert stats.bowley_score(np.array([1.0]), np.array([2.0]), np.array([3.0]))[0] == 1.0
    assert stats.bowley_score(np.array([1.0]), np.array([1.0]), np.array([3.0]))[0] == 0.0
    assert stats.bowley_score(np.array([5.0]), np.array([5.0]), np.array([5.0]))[0] == 1.0
    # exponential: MAD / median = asinh(0.5) / ln 2
    score = stats.mad_median_score(np.array([math.asinh(0.5)]), np.array([math.log(2)]))
    assert score[0] == pytest.approx(1 - math.asinh(0.5) / math.log(2))
    assert stats.mad_median_score(np.array([0.0]), np.array([0.0]))[0] == 1.0
    assert stats.mad_median_score(np.array([3.0]), np.array([0.0]))[0] == 0.0


def test_payload_score_constant_small_payload_is_one_and_missing_is_nan() -> None:
    got = stats.payload_score(
        np.array([0.0, np.nan, 400.0]),
        np.array([420.0, np.nan, 500.0]),
        np.array([0.0, np.nan, 90_000.0]),
        np.array([180.0, np.nan, 100_000.0]),
    )
    assert got[0] == 1.0
    assert math.isnan(got[1])
    assert got[2] < 0.2


def test_beacon_score_renormalises_without_payload() -> None:
    one = np.array([1.0])
    assert stats.beacon_score(one, np.array([np.nan]), one, one)[0] == pytest.approx(1.0)
    assert stats.beacon_score(one, np.array([0.0]), one, one)[0] == pytest.approx(0.8)


def test_count_and_coverage_scores() -> None:
    assert stats.count_score(np.array([12.0]))[0] == pytest.approx(math.log(4) / math.log(100 / 3))
    assert stats.count_score(np.array([500.0]))[0] == 1.0
    cov = stats.coverage_score(
        np.array([24.0, 24.0]), np.array([3600.0, 3600.0]), np.array([86_400.0, 30 * 86_400.0])
    )
    assert cov[0] == 1.0
    assert cov[1] == pytest.approx(1 / 30)


finite = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, 5, elements=finite),
    arrays(np.float64, 5, elements=finite),
    arrays(np.float64, 5, elements=finite),
)
def test_scores_stay_in_unit_interval(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    q1, q2, q3 = np.sort(np.vstack([a, b, c]), axis=0)
    for score in (
        stats.bowley_score(q1, q2, q3),
        stats.mad_median_score(a, b),
        stats.timing_score(-a),
        stats.count_score(a),
        stats.coverage_score(a, b, c),
    ):
        assert np.all((score >= 0) & (score <= 1))
    assert np.all(stats.moran_log10p(a, b + 3) <= 0)
