"""Sumo Logic searches over raw Sysmon XML (as source 004), parsed field by field."""

from __future__ import annotations

from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
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


def _lookups(spec: ExportSpec) -> str:
    return (
        f'{SCOPE} "<EventID>22</EventID>"\n'
        "| parse \"<Data Name='QueryName'>*</Data>\" as query\n"
        "| parse \"<Data Name='Image'>*</Data>\" as image\n"
        '| parse "<Computer>*</Computer>" as computer\n'
        "| toLowerCase(query) as query\n"
        f"| where query matches {_regex(spec.host_regex())}\n"
        + _procname()
        + f"| where !(process_name in {_in(spec.browsers)})\n"
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    sev = f'| if(process_name in {_in(spec.all_lolbins)}, "high", "medium") as severity\n'
    egress = (
        _lookups(spec)
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
        "| count as starts by computer, image, process_name, command_line\n" + sev
    )
    beacon = (
        _lookups(spec) + "| sort by computer, image, query, _messagetime asc\n"
        "| diff _messagetime by computer, image, query as gap_ms\n"
        f"| where isNull(gap_ms) or gap_ms >= {int(b.merge_s * 1000)}\n"
        '| formatDate(_messagetime, "yyyy-MM-dd HH") as hour\n'
        "| count as checkins, count_distinct(hour) as hours, avg(gap_ms) as mean_gap_ms, "
        "stddev(gap_ms) as stdev_gap_ms, pct(gap_ms, 50) as median_gap_ms "
        "by computer, image, process_name, query\n"
        "| if(mean_gap_ms > 0, stdev_gap_ms / mean_gap_ms, 99) as interval_cv\n"
        f"| where checkins >= {b.min_checkins} and hours >= {b.min_hours} "
        f"and interval_cv <= {b.max_interval_cv}\n" + sev
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
                )
            )
            + cmd,
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
                    "hours, coefficient of variation.",
                    loses=[
                        "p-values (a CV cut-off instead), periodogram, missed beats, pauses",
                        "payload sizes (EID 22 has none), fleet prevalence",
                    ],
                    sources=src,
                )
            )
            + beacon,
        ),
    ]
    omitted = (
        Omission("sumo", "RH-SL-003", "not exported to Sumo Logic yet"),
        Omission("sumo", "RH-SL-004", "tenant derivation (PSL) not expressible"),
    )
    return Rendered(tuple(files), omitted)
