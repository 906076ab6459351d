"""Ingest benchmark: events/s from file to store and peak memory, per format.

    python bench/generate.py --events 1000000 --out bench/data
    python bench/ingest.py bench/data            # one row per file
    python bench/ingest.py --big-gb 5            # peak memory on a 5 GB NDJSON input

Each measurement runs ``relayhunt normalize FILE --quiet --out STORE.duckdb`` in its own
process; wall time is the whole command (start-up included) and peak memory is that
process's maximum resident set size (``wait4``), CPU seconds its user + system time (all
threads; steadier than the wall time on a shared machine), load the 1-minute load average
when it ended. Events/s counts the records the run read, as reported in its
``ingest_files`` table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def measure(path: Path, *, out_suffix: str = ".parquet") -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rh-bench-") as tmp:
        db = Path(tmp) / "store.duckdb"
        cmd = [
            sys.executable,
            "-m",
            "relayhunt.cli",
            "normalize",
            str(path),
            "--quiet",
            "--out",
            str(db),
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 3):
            raise SystemExit(f"{path}: relayhunt exited {code}")
        con = duckdb.connect(str(db), read_only=True)
        records = con.execute(
            "SELECT sum(records_seen), sum(bytes_read) FROM ingest_files"
        ).fetchone()
        stored = sum(
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("process", "dns", "connection", "file")
        )
        issues = con.execute("SELECT count(*) FROM ingest_issues").fetchone()
        con.close()
    assert records is not None and issues is not None
    return {
        "records": float(records[0] or 0),
        "stored": float(stored),
        "issues": float(issues[0]),
        "mb": float(records[1] or 0) / 1e6,
        "seconds": wall,
        "rate": float(records[0] or 0) / wall,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
    }


def big_input(gb: float, workdir: Path) -> Path:
    """A large ECS NDJSON file made by repeating a generated 1M-event file."""
    sys.path.insert(0, str(Path(__file__).parent))
    from generate import write

    seed = write("ecs", 1_000_000, workdir)
    target = workdir / "big.ecs.ndjson"
    want = int(gb * 1e9)
    with target.open("wb") as out:
        while out.tell() < want:
            with seed.open("rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
    seed.unlink()
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--big-gb", type=float, default=0.0)
    ap.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = ap.parse_args()
    files: list[Path] = []
    for p in args.paths:
        files.extend(sorted(x for x in p.iterdir() if x.is_file()) if p.is_dir() else [p])
    if args.big_gb:
        args.workdir.mkdir(parents=True, exist_ok=True)
        files.append(big_input(args.big_gb, args.workdir))
    print(
        "| input | MB | records | stored | issues | seconds | CPU s | records/s | "
        "peak RSS MB | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for f in files:
        r = measure(f)
        print(
            f"| {f.name} | {r['mb']:,.0f} | {r['records']:,.0f} | {r['stored']:,.0f} | "
            f"{r['issues']:,.0f} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['rate']:,.0f} | "
            f"{r['peak_mb']:,.0f} | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
