"""Hunt benchmark: time and memory of each stage of ``relayhunt hunt``.

    python bench/generate.py --events 1000000 --formats ecs --out bench/data
    python bench/hunt.py bench/data/ecs.ndjson

Stages: ingest (file -> store), enrich (attribution, catalog match, process classes),
detect (every rule of profile ``all``; the seconds of each rule are printed too),
correlate. The memory limit is the command's default (``auto``: half of this machine's
memory) unless ``--memory-limit`` says otherwise; each stage line shows what DuckDB held
spilled to disk at its end. Peak memory is the process's maximum
resident set size. CPU seconds (all threads of the process) are printed next to the wall
time: on a shared machine they vary far less than the wall time does.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from relayhunt.correlate import correlate
from relayhunt.detect import rules
from relayhunt.detect.run import run_rules
from relayhunt.enrich.pipeline import prepare
from relayhunt.ingest import ingest
from relayhunt.store import Store


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _stage(name: str, timings: dict[str, float], cpu: dict[str, float], store: Store) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = store.con.execute(
        "SELECT coalesce(sum(temporary_storage_bytes), 0) FROM duckdb_memory()"
    ).fetchone()
    spilled = float(row[0]) / 1e6 if row else 0.0
    print(
        f"[{name}] {timings[name]:.1f} s, {cpu[name]:.1f} CPU s, peak RSS so far {peak:,.0f} MB,"
        f" spilled to disk now {spilled:,.0f} MB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--memory-limit", default="auto")
    args = ap.parse_args()
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with Store(memory_limit=args.memory_limit) as store:
        limit = store.con.execute("SELECT current_setting('memory_limit')").fetchone()
        print(f"memory limit: {args.memory_limit} ({limit[0] if limit else '?'})", flush=True)
        t, c = time.perf_counter(), _cpu()
        result = ingest([str(p) for p in args.paths], store)
        timings["ingest"], cpu["ingest"] = time.perf_counter() - t, _cpu() - c
        _stage("ingest", timings, cpu, store)
        t, c = time.perf_counter(), _cpu()
        prepare(store.con)
        timings["enrich"], cpu["enrich"] = time.perf_counter() - t, _cpu() - c
        _stage("enrich", timings, cpu, store)
        t, c = time.perf_counter(), _cpu()
        per_rule: dict[str, float] = {}
        counts = run_rules(store.con, rules(), timings=per_rule)
        timings["detect"], cpu["detect"] = time.perf_counter() - t, _cpu() - c
        _stage("detect", timings, cpu, store)
        t, c = time.perf_counter(), _cpu()
        store.con.execute("CREATE OR REPLACE TABLE findings AS SELECT * FROM findings_all")
        correlate(store.con)
        timings["correlate"], cpu["correlate"] = time.perf_counter() - t, _cpu() - c
        _stage("correlate", timings, cpu, store)
        incidents = store.count("incidents")
    total = sum(timings.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"records: {result.records:,}; load average at the end: {os.getloadavg()[0]:.1f}")
    print("| stage | seconds | CPU seconds | records/s |")
    print("|---|---:|---:|---:|")
    for stage, sec in timings.items():
        print(f"| {stage} | {sec:.1f} | {cpu[stage]:.1f} | {result.records / sec:,.0f} |")
    print(f"| total | {total:.1f} | {sum(cpu.values()):.1f} | {result.records / total:,.0f} |")
    print(f"findings per rule: {counts}; incidents: {incidents}; peak RSS {peak_mb:,.0f} MB")
    slow = ", ".join(f"{rule} {sec:.1f}" for rule, sec in per_rule.items() if sec >= 0.05)
    print(f"detect, seconds per rule (0.05 s and more): {slow}")


if __name__ == "__main__":
    main()
