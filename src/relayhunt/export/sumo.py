"""Sumo Logic searches over raw Sysmon XML (as source 004), parsed field by field."""

from __future__ import annotations

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
from relayhunt.export.escape import slash_regex, sumo_string
from relayhunt.export.model import ExportSpec

SCOPE = "_sourceCategory=*sysmon*"


def _regex(value: str) -> str:
    return slash_regex(value, "sumo")


def _procname() -> str:
    return '| toLowerCase(replace(image, /^.*[\\\\\\/]/, "")) as process_name\n'


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(sumo_string(v) for v in values) + ")"


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

DNS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("image"),
    "host": (Column("computer", "full"),),
    "destination": (Column("query", "host"),),
}
"""The fields the Sysmon XML queries parse: image, computer and the query (no parent, user
or command line on EID 22 here)."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("image"),
    "host": (Column("computer", "full"),),
    "command_line": (Column("command_line", "full"),),
}
"""EID 1 as parsed here: no parent or user; no destination (the engine's is the hostname
taken from the command line)."""
DNS_EVENT = "Sysmon EID 22 (XML, parsed image/computer/query)"
PROC_EVENT = "Sysmon EID 1 (XML, parsed image/computer/command line)"


def _sumo_test(t: GlobTest) -> str:
    return f"{t.column.name} matches {_regex('(?i)' + t.regex())}"


_COLUMNS = EventColumns(DNS_COLUMNS, DNS_EVENT, PROC_COLUMNS, PROC_EVENT)


def _plan(spec: ExportSpec, rule_id: str, proc: bool = False) -> Plan | None:
    return _COLUMNS.plan(spec.allowlist, rule_id, proc)


def allow_where(plan: Plan | None) -> str:
    """``| where !(...)`` for the plan's exclusions; empty when there are none."""
    pred = predicate(plan, _sumo_test, indent="\n    ")
    return f"| where !{pred}\n" if pred else ""


def _allow_header(spec: ExportSpec, plans: list[Plan | None]) -> list[str]:
    return header_for_plans(spec.allowlist, plans)


def _lookups(spec: ExportSpec, rule_id: str | None = None) -> str:
    return (
        f'{SCOPE} "<EventID>22</EventID>"\n'
        "| parse \"<Data Name='QueryName'>*</Data>\" as query\n"
        "| parse \"<Data Name='Image'>*</Data>\" as image\n"
        '| parse "<Computer>*</Computer>" as computer\n'
        "| toLowerCase(query) as query\n"
        f"| where query matches {_regex(spec.host_regex())}\n"
        + _procname()
        + f"| where !(process_name in {_in(spec.browsers)})\n"
        + (allow_where(_plan(spec, rule_id)) if rule_id else "")
    )


def _rarity(spec: ExportSpec) -> str:
    t = spec.rules["RH-SL-004"].thresholds
    tenant = "(?<tenant>" + spec.tenant_regex()[1:-2] + ")$"
    return (
        _lookups(spec) + f"| parse regex field=query {sumo_string(tenant)} nodrop\n"
        "| if(isBlank(tenant), query, tenant) as tenant\n"
        "| count as lookups, min(_messagetime) as first_seen, max(_messagetime) as last_seen "
        "by tenant, computer\n"
        "| count_distinct(computer) as tenant_hosts, first(computer) as host_a, "
        "last(computer) as host_b, sum(lookups) as lookups, min(first_seen) as first_seen, "
        "max(last_seen) as last_seen by tenant\n"
        f"| where tenant_hosts <= {int(t['max_hosts'])}\n"
        '| "low" as severity\n'
    )


def _chain(spec: ExportSpec) -> str:
    window = int(spec.rules["RH-SL-003"].thresholds.get("write_to_run_s", 3600))
    return (
        f'{SCOPE} ("<EventID>1</EventID>" or "<EventID>22</EventID>")\n'
        '| parse "<EventID>*</EventID>" as event_id\n'
        "| parse \"<Data Name='ProcessGuid'>*</Data>\" as guid\n"
        "| parse \"<Data Name='Image'>*</Data>\" as image\n"
        '| parse "<Computer>*</Computer>" as computer\n'
        "| parse \"<Data Name='CommandLine'>*</Data>\" as command_line nodrop\n"
        "| parse \"<Data Name='QueryName'>*</Data>\" as query nodrop\n"
        "| toLowerCase(query) as query\n"
        + _procname()
        + f"| where process_name in {_in(spec.script_hosts)}\n"
        f'| if(event_id = "1" and command_line matches '
        f"{_regex(spec.script_in_temp_regex())}, 1, 0) as is_run\n"
        f'| if(event_id = "22" and query matches {_regex(spec.host_regex())}, 1, 0) '
        "as is_egress\n"
        "| where is_run = 1 or is_egress = 1\n"
        "| if(is_run = 1, _messagetime, 99999999999999) as run_time\n"
        "| if(is_egress = 1, _messagetime, 0) as egress_time\n"
        "| min(run_time) as run_time, max(egress_time) as last_egress, sum(is_run) as runs, "
        "sum(is_egress) as lookups by computer, guid, process_name\n"
        "| where runs > 0 and lookups > 0 and last_egress >= run_time "
        f"and last_egress - run_time <= {window * 1000}\n"
        '| "high" as severity\n'
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    sev = f'| if(process_name in {_in(spec.all_lolbins)}, "high", "medium") as severity\n'
    egress = (
        _lookups(spec, "RH-SL-001")
        + "| count as lookups, min(_messagetime) as first_seen, max(_messagetime) as last_seen "
        "by computer, image, process_name, query\n" + sev
    )
    cmd = (
        f'{SCOPE} "<EventID>1</EventID>"\n'
        "| parse \"<Data Name='CommandLine'>*</Data>\" as command_line\n"
        "| parse \"<Data Name='Image'>*</Data>\" as image\n"
        '| parse "<Computer>*</Computer>" as computer\n'
        f"| where command_line matches {_regex(spec.cmdline_regex())}\n"
        + _procname()
        + f"| where !(process_name in {_in(spec.browsers)})\n"
        + allow_where(_plan(spec, "RH-SL-002", proc=True))
        + "| count as starts by computer, image, process_name, command_line\n"
        + sev
    )
    beacon = (
        _lookups(spec, "RH-SL-005") + "| sort by computer, image, query, _messagetime asc\n"
        "| diff _messagetime by computer, image, query as gap_ms\n"
        f"| where isNull(gap_ms) or gap_ms >= {int(b.merge_s * 1000)}\n"
        '| formatDate(_messagetime, "yyyy-MM-dd HH") as hour\n'
        "| if(gap_ms > 0, log(gap_ms), 0) as ln_gap\n"
        "| if(gap_ms > 0, 1, 0) as is_gap\n"
        "| count as checkins, count_distinct(hour) as hours, avg(gap_ms) as mean_gap_ms, "
        "stddev(gap_ms) as stdev_gap_ms, pct(gap_ms, 50) as median_gap_ms, "
        "sum(ln_gap) as ln_sum, sum(is_gap) as gaps "
        "by computer, image, process_name, query\n"
        "| if(mean_gap_ms > 0, stdev_gap_ms / mean_gap_ms, 99) as interval_cv\n"
        "| if(gaps >= 3, "
        + b.moran_z_expr("log(mean_gap_ms) - ln_sum / gaps", "gaps")
        + ", 0) as moran_z\n"
        f"| where checkins >= {b.min_checkins} and hours >= {b.min_hours} "
        f"and (interval_cv <= {b.max_interval_cv} or moran_z <= {-b.moran_z})\n" + sev
    )
    src = ["Sysmon XML in a Sumo source category matching *sysmon* (EID 22, EID 1)"]
    files = [
        ExportFile(
            "sumo",
            "sumo/RH-SL-001_serverless_egress.sumo",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="Sumo Logic search",
                    detects="non-browser processes resolving catalogued hostnames (Sysmon "
                    "EID 22 QueryName, not EID 3's reverse-DNS DestinationHostname).",
                    loses=[*COMMON_LOSSES],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
                )
            )
            + egress,
        ),
        ExportFile(
            "sumo",
            "sumo/RH-SL-002_cmdline_url.sumo",
            (r2.id,),
            comment_block(
                header_lines(
                    spec,
                    r2,
                    language="Sumo Logic search",
                    detects="process starts with a catalogued hostname on the command line.",
                    loses=["grouping per parent", "tenant extraction"],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-002", proc=True)]),
                )
            )
            + cmd,
        ),
        ExportFile(
            "sumo",
            "sumo/RH-SL-003_script_chain.sumo",
            ("RH-SL-003",),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-003"],
                    language="Sumo Logic search",
                    detects="a script host started on a script in a temporary/public folder "
                    "whose process (ProcessGuid) resolves a serverless hostname within the "
                    "window.",
                    loses=[
                        "the file write (EID 11) and the critical variant: the writer is "
                        "another process and one aggregation groups on one key",
                        "the order is checked on the last lookup after the first start only",
                    ],
                    sources=src,
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + _chain(spec),
        ),
        ExportFile(
            "sumo",
            "sumo/RH-SL-004_rare_tenant.sumo",
            ("RH-SL-004",),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-004"],
                    language="Sumo Logic search",
                    detects="serverless tenants resolved by non-browser processes on at most "
                    "max_hosts computers (count_distinct over the search range).",
                    loses=[
                        "the fleet-size conditions (min_fleet, max_fleet_fraction): one search "
                        "cannot count the whole fleet beside the tenants",
                        "novelty (first seen a day into the data)",
                        "the tenant is one label left of the catalog pattern, not the "
                        "engine's per-entry derivation",
                        "the host list: first() and last() name the (at most two) computers",
                    ],
                    sources=["Sysmon XML in a Sumo source category matching *sysmon* (EID 22)"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-004", RARITY_WHY),
                )
            )
            + _rarity(spec),
        ),
        ExportFile(
            "sumo",
            "sumo/RH-SL-005_beacon.sumo",
            (r5.id,),
            comment_block(
                header_lines(
                    spec,
                    r5,
                    language="Sumo Logic search",
                    detects="regular lookups from one non-browser image to one serverless "
                    "host: diff of message times, mean/stdev/median interval, distinct "
                    "hours, coefficient of variation and Moran's statistic as a z-score "
                    "against random timing.",
                    loses=[
                        "exact p-values (a Moran z-score cut instead), periodogram, missed "
                        "beats, pauses",
                        "payload sizes (EID 22 has none), fleet prevalence",
                    ],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-005")]),
                )
            )
            + beacon,
        ),
    ]
    return Rendered(tuple(files), ())
