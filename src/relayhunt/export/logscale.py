"""CrowdStrike Falcon LogScale (CQL) over Falcon sensor events.

Falcon ``DnsRequest`` events carry ``DomainName`` and ``ContextProcessId`` but no image:
``ImageFileName`` is on ``ProcessRollup2`` (keyed by ``TargetProcessId``), so the queries
join it in; ``NetworkConnectIP4`` has neither a domain name nor byte counts (source 001
reads ``DomainName``, ``BytesSent`` and ``BytesReceived`` on it)."""

from __future__ import annotations

import re

from relayhunt.export.allowlist import (
    CHAIN_WHY,
    RARITY_WHY,
    Column,
    EventColumns,
    GlobTest,
    Plan,
    header_for_plans,
    path_columns,
    predicate,
    skipped_header,
)
from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Rendered,
    comment_block,
    header_lines,
)
from relayhunt.export.escape import logscale_string, slash_regex
from relayhunt.export.model import ExportSpec


def _in(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(logscale_string(v) for v in values) + "]"


def _regex(value: str) -> str:
    # LogScale takes flags after the closing slash; drop the inline (?i).
    return slash_regex(value.removeprefix("(?i)"), "logscale") + "i"


_JOIN_IMAGE = (
    "| join({#event_simpleName=ProcessRollup2}, field=[aid, ContextProcessId], "
    "key=[aid, TargetProcessId], include=[ImageFileName, CommandLine, ParentBaseFileName])\n"
    '| process_name := lower(replace(field=ImageFileName, regex="^.*[\\\\\\\\/]", with=""))\n'
)


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

DNS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("ImageFileName"),
    "parent": (Column("ParentBaseFileName", "name"),),
    "host": (Column("ComputerName", "full"),),
    "destination": (Column("DomainName", "host"),),
    "command_line": (Column("CommandLine", "full"),),
}
"""DnsRequest joined to ProcessRollup2: the parent's file name only, no user name."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("ImageFileName"),
    "parent": (Column("ParentBaseFileName", "name"),),
    "host": (Column("ComputerName", "full"),),
    "command_line": (Column("CommandLine", "full"),),
}
"""ProcessRollup2: no destination (the engine's is the hostname taken from the command
line), no user name."""
DNS_EVENT = "Falcon DnsRequest + ProcessRollup2"
PROC_EVENT = "Falcon ProcessRollup2"


def _cql_test(t: GlobTest) -> str:
    return f"{t.column.name} = {_regex(t.regex())}"


_COLUMNS = EventColumns(DNS_COLUMNS, DNS_EVENT, PROC_COLUMNS, PROC_EVENT)


def _plan(spec: ExportSpec, rule_id: str, proc: bool = False) -> Plan | None:
    return _COLUMNS.plan(spec.allowlist, rule_id, proc)


def allow_filter(plan: Plan | None) -> str:
    """``| not (...)`` for the plan's exclusions; empty when there are none."""
    pred = predicate(plan, _cql_test, indent="\n    ")
    return f"| not {pred}\n" if pred else ""


def _allow_header(spec: ExportSpec, plans: list[Plan | None]) -> list[str]:
    return header_for_plans(spec.allowlist, plans)


def _lookups(spec: ExportSpec, rule_id: str | None = None) -> str:
    return (
        "#event_simpleName=DnsRequest\n"
        f"| DomainName = {_regex(spec.host_regex())}\n"
        + _JOIN_IMAGE
        + f"| !in(field=process_name, values={_in(spec.browsers)}, ignoreCase=true)\n"
        + (allow_filter(_plan(spec, rule_id)) if rule_id else "")
    )


def _rarity(spec: ExportSpec) -> str:
    t = spec.rules["RH-SL-004"].thresholds
    tenant = "(?<tenant>" + spec.tenant_regex()[1:-2] + ")$"
    return (
        _lookups(spec)
        + "| domain := lower(DomainName)\n"
        + f"| regex({logscale_string(tenant)}, field=domain, strict=false)\n"
        + "| case { tenant=* ; * | tenant := domain }\n"
        "| groupBy([tenant], function=[count(aid, distinct=true, as=tenant_hosts), "
        "count(as=lookups), min(@timestamp, as=first_seen), max(@timestamp, as=last_seen), "
        "collect([ComputerName, process_name, domain])], limit=max)\n"
        f"| tenant_hosts <= {int(t['max_hosts'])}\n"
        '| severity := "low"\n'
    )


def _chain(spec: ExportSpec) -> str:
    hosts = "|".join(re.escape(h) for h in spec.script_hosts)
    window = int(spec.rules["RH-SL-003"].thresholds.get("write_to_run_s", 3600))
    image_re = _regex("(?:^|[\\\\/])(?:" + hosts + ")$")
    return (
        "(#event_simpleName=ProcessRollup2 "
        f"ImageFileName={image_re} "
        f"CommandLine={_regex(spec.script_in_temp_regex())})\n"
        f"  or (#event_simpleName=DnsRequest DomainName={_regex(spec.host_regex())})\n"
        "| case { #event_simpleName=ProcessRollup2 | pid := TargetProcessId; "
        "* | pid := ContextProcessId }\n"
        "| case { #event_simpleName=ProcessRollup2 | run_time := @timestamp; "
        "* | egress_time := @timestamp }\n"
        "| groupBy([aid, pid], function=[count(#event_simpleName, distinct=true, as=kinds), "
        "min(run_time, as=run_time), max(egress_time, as=last_egress), "
        "collect([ComputerName, ImageFileName, CommandLine, DomainName])], limit=max)\n"
        "| kinds = 2\n"
        "| test(last_egress >= run_time)\n"
        f"| test(last_egress - run_time <= {window * 1000})\n"
        '| severity := "high"\n'
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    sev = (
        f"| case {{ in(field=process_name, values={_in(spec.all_lolbins)}, ignoreCase=true)"
        ' | severity := "high"; * | severity := "medium" }\n'
    )
    egress = (
        _lookups(spec, "RH-SL-001")
        + "| groupBy([aid, ComputerName, ImageFileName, process_name, DomainName], function=["
        "count(as=lookups), min(@timestamp, as=first_seen), max(@timestamp, as=last_seen), "
        "collect([ContextProcessId, CommandLine])])\n" + sev
    )
    cmd = (
        "#event_simpleName=ProcessRollup2\n"
        f"| CommandLine = {_regex(spec.cmdline_regex())}\n"
        '| process_name := lower(replace(field=ImageFileName, regex="^.*[\\\\\\\\/]", with=""))\n'
        f"| !in(field=process_name, values={_in(spec.browsers)}, ignoreCase=true)\n"
        + allow_filter(_plan(spec, "RH-SL-002", proc=True))
        + "| groupBy([aid, ComputerName, ImageFileName, process_name, ParentBaseFileName], "
        "function=[count(as=starts), collect([CommandLine, TargetProcessId])])\n" + sev
    )
    beacon = (
        _lookups(spec, "RH-SL-005") + '| hour := formatTime("%Y-%m-%d %H", field=@timestamp)\n'
        "| groupBy([aid, ComputerName, ImageFileName, process_name, DomainName], function=["
        "count(as=checkins), count(hour, distinct=true, as=hours), "
        "min(@timestamp, as=first_seen), max(@timestamp, as=last_seen), "
        "collect([ContextProcessId])], limit=max)\n"
        f"| checkins >= {b.min_checkins}\n"
        f"| hours >= {b.min_hours}\n"
        "| mean_gap_s := (last_seen - first_seen) / 1000 / (checkins - 1)\n"
        "| per_hour := checkins / hours\n" + sev + "| sort(checkins, order=desc)\n"
    )
    src = ["Falcon DnsRequest and ProcessRollup2 events (Falcon Data Replicator or LogScale)"]
    files = [
        ExportFile(
            "logscale",
            "logscale/RH-SL-001_serverless_egress.logscale",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="LogScale CQL, CrowdStrike Falcon",
                    detects="non-browser processes resolving catalogued hostnames "
                    "(DnsRequest joined to ProcessRollup2 for the image).",
                    loses=[
                        *COMMON_LOSSES,
                        "join() is limited in result size; on large tenants use a scheduled "
                        "search per hour",
                    ],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
                )
            )
            + egress,
        ),
        ExportFile(
            "logscale",
            "logscale/RH-SL-002_cmdline_url.logscale",
            (r2.id,),
            comment_block(
                header_lines(
                    spec,
                    r2,
                    language="LogScale CQL, CrowdStrike Falcon",
                    detects="process starts with a catalogued hostname on the command line.",
                    loses=["tenant extraction"],
                    sources=["Falcon ProcessRollup2 (CommandLine)"],
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-002", proc=True)]),
                )
            )
            + cmd,
        ),
        ExportFile(
            "logscale",
            "logscale/RH-SL-003_script_chain.logscale",
            ("RH-SL-003",),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-003"],
                    language="LogScale CQL, CrowdStrike Falcon",
                    detects="a script host (ProcessRollup2) started on a script in a "
                    "temporary/public folder whose process (TargetProcessId = "
                    "ContextProcessId) resolves a serverless hostname within the window.",
                    loses=[
                        "the file write (NewScriptWritten) and the critical variant: the "
                        "writer is another process, and groupBy joins on one key",
                        "the order is checked on the last lookup after the first start only",
                    ],
                    sources=src,
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + _chain(spec),
        ),
        ExportFile(
            "logscale",
            "logscale/RH-SL-004_rare_tenant.logscale",
            ("RH-SL-004",),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-004"],
                    language="LogScale CQL, CrowdStrike Falcon",
                    detects="serverless tenants resolved by non-browser processes on at most "
                    "max_hosts sensors (groupBy tenant, count(aid, distinct=true)).",
                    loses=[
                        "the fleet-size conditions (min_fleet, max_fleet_fraction) and "
                        "novelty: one groupBy cannot also count the fleet",
                        "the tenant is one label left of the catalog pattern, not the "
                        "engine's per-entry derivation",
                    ],
                    sources=src,
                    allowlist=skipped_header(spec.allowlist, "RH-SL-004", RARITY_WHY),
                )
            )
            + _rarity(spec),
        ),
        ExportFile(
            "logscale",
            "logscale/RH-SL-005_beacon.logscale",
            (r5.id,),
            comment_block(
                header_lines(
                    spec,
                    r5,
                    language="LogScale CQL, CrowdStrike Falcon",
                    detects="repeated lookups of one serverless hostname by one image: "
                    "count, distinct hour buckets, mean interval and rate (source 001's "
                    "heuristics, on fields that exist).",
                    loses=[
                        "interval spread and every timing test: groupBy sees no per-event "
                        "gaps, so only the mean interval (span / (n - 1)) is computed",
                        "byte-count heuristics: Falcon network events carry no bytes",
                        "p-values, periodogram, missed beats, pauses, fleet prevalence",
                    ],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-005")]),
                )
            )
            + beacon,
        ),
    ]
    return Rendered(tuple(files), ())
