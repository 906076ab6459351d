"""When things happen: check-in times of C2 implants and of benign traffic.

Every generator returns sorted POSIX times in seconds (float64) within ``[start, end)``
and draws only from the ``numpy.random.Generator`` it is given, so a seed reproduces a
dataset exactly. These are the timing models the beacon analytics are measured against:

* :func:`sleep_jitter` — Cobalt Strike's and Mythic's model: each sleep is drawn
  uniformly from ``[period * (1 - jitter), period]`` (Cobalt Strike's ``sleep 60 90``
  means 60 s with up to 90 % subtracted).
* :func:`additive_jitter` — Sliver's default: ``period + uniform(0, extra)`` seconds.
* ``missed``: each beat is independently dropped with this probability (the host slept,
  the request failed, the sensor lost it); later beats keep their schedule.
* ``pauses``: ``(pause_start, pause_end)`` windows in which the implant is quiet and after
  which it resumes (an operator's ``sleep`` change, a laptop lid).
* :func:`poisson`, :func:`bursty` and :func:`human` — benign, non-periodic traffic: a
  memoryless process, clustered bursts (a page load fetching many resources) and
  office-hours activity with idle gaps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Times = NDArray[np.float64]


def _schedule(
    sleeps: Times,
    start: float,
    end: float,
    rng: np.random.Generator,
    missed: float,
    pauses: Sequence[tuple[float, float]],
) -> Times:
    t = start + float(rng.uniform(0.0, 1.0)) * float(sleeps[0]) + np.cumsum(sleeps)
    t = t[t < end]
    keep = rng.random(t.size) >= missed
    for lo, hi in pauses:
        keep &= ~((t >= lo) & (t < hi))
    return np.asarray(t[keep], dtype=np.float64)


def sleep_jitter(
    period: float,
    jitter: float,
    start: float,
    end: float,
    rng: np.random.Generator,
    *,
    missed: float = 0.0,
    pauses: Sequence[tuple[float, float]] = (),
) -> Times:
    """Sleeps uniform in ``[period * (1 - jitter), period]`` (Cobalt Strike, Mythic)."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter must be in [0, 1)")
    n = int(np.ceil((end - start) / (period * (1.0 - jitter)))) + 2
    sleeps = rng.uniform(period * (1.0 - jitter), period, size=n)
    return _schedule(sleeps, start, end, rng, missed, pauses)


def additive_jitter(
    period: float,
    extra: float,
    start: float,
    end: float,
    rng: np.random.Generator,
    *,
    missed: float = 0.0,
    pauses: Sequence[tuple[float, float]] = (),
) -> Times:
    """Sleeps of ``period + uniform(0, extra)`` seconds (Sliver's default)."""
    n = int(np.ceil((end - start) / period)) + 2
    sleeps = period + rng.uniform(0.0, extra, size=n)
    return _schedule(sleeps, start, end, rng, missed, pauses)


def poisson(rate_per_s: float, start: float, end: float, rng: np.random.Generator) -> Times:
    """A Poisson process: independent events at a constant mean rate."""
    n = int(rng.poisson(rate_per_s * (end - start)))
    return np.sort(rng.uniform(start, end, size=n))


def bursty(
    bursts_per_s: float,
    mean_burst: float,
    burst_span_s: float,
    start: float,
    end: float,
    rng: np.random.Generator,
) -> Times:
    """Poisson-placed bursts, each of ``1 + Poisson(mean_burst - 1)`` events spread
    exponentially over about ``burst_span_s`` seconds (page loads, sync storms)."""
    heads = poisson(bursts_per_s, start, end, rng)
    sizes = 1 + rng.poisson(max(mean_burst - 1.0, 0.0), size=heads.size)
    offsets = rng.exponential(burst_span_s, size=int(sizes.sum()))
    t = np.repeat(heads, sizes) + offsets
    return np.sort(t[t < end])


def human(
    sessions_per_day: float,
    start: float,
    end: float,
    rng: np.random.Generator,
    *,
    workday: tuple[float, float] = (8.0, 18.0),
    think_s: float = 40.0,
) -> Times:
    """Office-hours activity: sessions start at random times within ``workday`` (hours of
    the UTC day), each a run of requests separated by heavy-tailed think times."""
    days = int(np.ceil((end - start) / 86_400.0))
    out: list[Times] = []
    day0 = np.floor(start / 86_400.0) * 86_400.0
    for d in range(days):
        k = int(rng.poisson(sessions_per_day))
        begins = day0 + d * 86_400.0 + rng.uniform(workday[0], workday[1], size=k) * 3600.0
        for b in begins:
            n = 1 + int(rng.geometric(0.15))
            gaps = think_s * rng.pareto(1.5, size=n)
            out.append(b + np.cumsum(gaps))
    if not out:
        return np.empty(0, dtype=np.float64)
    t = np.sort(np.concatenate(out))
    return np.asarray(t[(t >= start) & (t < end)], dtype=np.float64)


def periodic_poller(
    period: float,
    start: float,
    end: float,
    rng: np.random.Generator,
    *,
    jitter_s: float = 1.0,
) -> Times:
    """A benign fixed-interval poller (Teams/OneDrive heartbeats, an update check): the
    period plus a little Gaussian scheduling noise."""
    n = int(np.ceil((end - start) / period)) + 1
    t = start + float(rng.uniform(0, period)) + period * np.arange(n)
    t = t + rng.normal(0.0, jitter_s, size=n)
    return np.sort(t[(t >= start) & (t < end)])
