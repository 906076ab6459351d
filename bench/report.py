"""Report benchmark: render time and file size of the HTML report for N findings.

    python bench/report.py --findings 5000 --beacon-share 0.2
    python bench/report.py --findings 5000 --browser      # also time the page in Chromium

Findings are synthetic, in the exact schema of model.FINDINGS: every one has a process
(so a lineage plot) and ``--beacon-share`` of them are RH-SL-005 beacons whose stats carry
a full plot series (``--points`` check-ins, the engine's cap) and a 40-bin histogram, as
detect/beacon.py writes them. With ``--browser`` the report is opened in headless Chromium
(tests/report/chromium.py) and the time from navigation to the load event is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from relayhunt import model
from relayhunt.report import html as report_html

T0 = dt.datetime(2026, 11, 3, 9, 0, 0)


def _stats(i: int, points: int) -> str:
    period = 30.0 + (i % 7) * 15
    n = points * (1 + i % 3)  # some series are samples of longer runs
    step = period * n / points
    return json.dumps(
        {
            "checkins": n,
            "period_s": period,
            "sleep_s": period * 1.2,
            "jitter_pct": 30.0,
            "beacon_score": 0.8,
            "series": {
                "start": T0.replace(tzinfo=dt.UTC).timestamp() + i,
                "n": n,
                "shown": points,
                "sampled": n > points,
                "t": [round(k * step + (k * 7919 % 13), 1) for k in range(points)],
                "iv": [-1.0] + [round(period + (k * 31 % 11) - 5, 1) for k in range(1, points)],
                "sent": [400 + k * 17 % 90 for k in range(points)],
                "recv": [1800 + k * 29 % 400 for k in range(points)],
            },
            "interval_histogram": {
                "lo": period * 0.7,
                "width": period * 0.015,
                "counts": [(k * 37) % 23 for k in range(40)],
                "above": 3,
            },
        }
    )


def findings(count: int, beacon_share: float, points: int) -> pa.Table:
    rows: list[dict[str, Any]] = []
    every = max(1, round(1 / beacon_share)) if beacon_share > 0 else 0
    for i in range(count):
        beacon = bool(every) and i % every == 0
        rows.append(
            {
                "finding_id": f"{i:016x}",
                "rule_id": "RH-SL-005" if beacon else "RH-SL-001",
                "rule_name": "Beaconing" if beacon else "Serverless egress",
                "rule_profile": "default",
                "threat_technique_id": ["T1583.007", "T1584.007"],
                "severity": ("info", "low", "medium", "high", "critical")[i % 5],
                "confidence": "medium",
                "score": float(100 - i % 97),
                "host_name": f"WS-{i % 500:04d}",
                "user_name": "alice",
                "process_entity_id": f"{{{i:08x}-0000}}",
                "process_pid": 1000 + i,
                "process_executable": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                "process_name": "powershell.exe",
                "process_command_line": f"powershell.exe -nop -w hidden -c iwr https://a{i}.x.workers.dev/",
                "process_parent_executable": r"C:\Windows\System32\cmd.exe",
                "process_parent_name": "cmd.exe",
                "process_parent_command_line": "cmd.exe /c run.bat",
                "process_category": "lolbin",
                "destination_domain": f"a{i}.x.workers.dev",
                "destination_domain_origin": "dns_process",
                "destination_ip": "104.21.3.4",
                "destination_port": 443,
                "serverless_platform": "Cloudflare Workers",
                "serverless_provider": "Cloudflare",
                "serverless_kind": "edge",
                "serverless_tenant": "x.workers.dev",
                "first_seen": T0 + dt.timedelta(seconds=i),
                "last_seen": T0 + dt.timedelta(seconds=i + 3600),
                "event_count": 120,
                "reason": f"powershell.exe checked in with a{i}.x.workers.dev every 60 s.",
                "evidence": [
                    {
                        "log_format": "ecs.ndjson",
                        "log_file_path": "logs/ecs.ndjson",
                        "log_line": 10 * i + k,
                        "log_record": None,
                        "timestamp": T0 + dt.timedelta(seconds=i + 60 * k),
                        "event_kind": "connection",
                    }
                    for k in range(20)
                ],
                "stats": _stats(i, points) if beacon else json.dumps({"connections": 12}),
            }
        )
    return pa.Table.from_pylist(rows, schema=model.arrow_schema("findings"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--beacon-share", type=float, default=0.2)
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--out", type=Path, default=Path("/tmp/relayhunt-report-bench.html"))
    ap.add_argument("--browser", action="store_true", help="also time the load in Chromium")
    args = ap.parse_args()
    table = findings(args.findings, args.beacon_share, args.points)
    incidents = model.arrow_schema("incidents").empty_table()
    started, cpu = time.perf_counter(), time.process_time()
    report_html.write_report(args.out, findings=table, incidents=incidents, summary={})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = args.out.stat().st_size
    beacons = sum(1 for r in table.column("rule_id").to_pylist() if r == "RH-SL-005")
    print(
        f"{args.findings} findings ({beacons} beacons with {args.points}-point series): "
        f"rendered in {seconds:.2f} s ({cpu:.2f} s CPU), {size / 1e6:.1f} MB"
    )
    if args.browser:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.report.chromium import Browser, find_chromium

        exe = find_chromium()
        if exe is None:
            raise SystemExit("chromium not found")
        with Browser(exe, timeout_s=300) as browser:
            session = browser.open_page()
            started = time.perf_counter()
            browser.call("Page.navigate", {"url": args.out.resolve().as_uri()}, session=session)
            browser.wait_for("Page.loadEventFired")
            load = time.perf_counter() - started
            svgs = browser.evaluate(session, "document.querySelectorAll('svg').length")
            started = time.perf_counter()
            browser.evaluate(session, "document.getElementById('rh-next').click(); 1")
            page2 = time.perf_counter() - started
        print(
            f"Chromium: load event after {load:.2f} s ({svgs} SVG plots on page 1); "
            f"next page rendered in {page2:.2f} s"
        )


if __name__ == "__main__":
    main()
