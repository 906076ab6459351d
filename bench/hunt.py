"""Hunt benchmark: time and memory of each stage of ``relayhunt hunt``.

    python bench/generate.py --events 1000000 --formats ecs --out bench/data
    python bench/hunt.py bench/data/ecs.ndjson

Stages: ingest (file -> store), enrich (attribution, catalog match, process classes),
detect (every rule of profile ``all``), correlate. Peak memory is the process's maximum
resident set size.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from relayhunt.correlate import correlate
from relayhunt.detect import rules
from relayhunt.detect.run import run_rules
from relayhunt.enrich.pipeline import prepare
from relayhunt.ingest import ingest
from relayhunt.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--memory-limit", default="4GB")
    args = ap.parse_args()
    timings: dict[str, float] = {}
    with Store(memory_limit=args.memory_limit) as store:
        t = time.perf_counter()
        result = ingest([str(p) for p in args.paths], store)
        timings["ingest"] = time.perf_counter() - t
        t = time.perf_counter()
        prepare(store.con)
        timings["enrich"] = time.perf_counter() - t
        t = time.perf_counter()
        counts = run_rules(store.con, rules())
        timings["detect"] = time.perf_counter() - t
        t = time.perf_counter()
        store.con.execute("CREATE OR REPLACE TABLE findings AS SELECT * FROM findings_all")
        correlate(store.con)
        timings["correlate"] = time.perf_counter() - t
        incidents = store.count("incidents")
    total = sum(timings.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"records: {result.records:,}")
    print("| stage | seconds | records/s |")
    print("|---|---:|---:|")
    for stage, sec in timings.items():
        print(f"| {stage} | {sec:.1f} | {result.records / sec:,.0f} |")
    print(f"| total | {total:.1f} | {result.records / total:,.0f} |")
    print(f"findings per rule: {counts}; incidents: {incidents}; peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
