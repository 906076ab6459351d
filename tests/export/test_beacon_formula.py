"""The Moran z-score every beacon export computes (KQL, SPL, Sumo) is the engine's
candidate cut: evaluated here on gap series, it separates jittered beacons from random
(Poisson) timing the way relayhunt.beacon.stats does."""

from __future__ import annotations

import math

import numpy as np

from relayhunt.beacon import stats
from relayhunt.export.model import BeaconSpec


def _z(gaps: np.ndarray) -> float:
    expr = BeaconSpec().moran_z_expr("log(mean) - lnmean", "m")
    env = {
        "log": math.log,
        "sqrt": math.sqrt,
        "mean": float(gaps.mean()),
        "lnmean": float(np.log(gaps).mean()),
        "m": float(len(gaps)),
    }
    return float(eval(expr, {"__builtins__": {}}, env))


def test_moran_z_matches_engine_constants() -> None:
    assert math.isclose(stats.EULER_GAMMA, 0.5772156649015329)
    expr = BeaconSpec().moran_z_expr("s", "m")
    assert "0.5772156649015329" in expr and repr(math.pi**2 / 6 - 1)[:12] in expr


def test_moran_z_separates_beacons_from_poisson() -> None:
    rng = np.random.default_rng(7)
    jitter90 = 60 * rng.uniform(0.1, 1.0, size=180)  # Cobalt Strike sleep 60, jitter 90 %
    jitter50 = 60 * rng.uniform(0.5, 1.0, size=180)
    assert _z(jitter50) < -2.0
    assert _z(jitter90) < -2.0  # missed by the coefficient-of-variation cut (cv ~ 0.4)
    assert float(jitter90.std() / jitter90.mean()) > BeaconSpec().max_interval_cv
    random_hits = sum(_z(rng.exponential(60, size=180)) < -2.0 for _ in range(200))
    assert random_hits <= 12  # about 2.3 % expected at z = -2
