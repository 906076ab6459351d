"""SPL for Splunk over Sysmon (Splunk Add-on for Sysmon field names: ``EventCode``,
``Image``, ``QueryName``, ``CommandLine``, ``ParentImage``)."""

from __future__ import annotations

from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
    Rendered,
    header_lines,
)
from relayhunt.export.escape import spl_string
from relayhunt.export.model import ExportSpec

SYSMON = 'sourcetype="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"'


def _comment(lines: list[str]) -> str:
    # SPL inline comments are triple backticks; our header text never contains them.
    body = "\n".join(line.replace("```", "'''") for line in lines)
    return "```\n" + body + "\n```\n"


def _procname(field: str) -> str:
    return f'| eval process_name=lower(replace({field}, "^.*[\\\\\\\\/]", ""))\n'


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(spl_string(v) for v in values) + ")"


def _lookups(spec: ExportSpec) -> str:
    return (
        f"{SYSMON} EventCode=22\n"
        '| eval query=lower(trim(QueryName, "."))\n'
        f"| where match(query, {spl_string(spec.host_regex())})\n"
        + _procname("Image")
        + f"| where NOT process_name IN {_in(spec.browsers)}\n"
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    egress = (
        _lookups(spec)
        + "| stats min(_time) as first_seen, max(_time) as last_seen, count as lookups, "
        "values(ProcessId) as pids, values(QueryResults) as answers "
        "by host, process_name, Image, query\n"
        f'| eval severity=if(process_name IN {_in(spec.all_lolbins)}, "high", "medium")\n'
        "| convert ctime(first_seen) ctime(last_seen)\n"
    )
    cmd = (
        f"{SYSMON} EventCode=1\n"
        f"| where match(CommandLine, {spl_string(spec.cmdline_regex())})\n"
        + _procname("Image")
        + f"| where NOT process_name IN {_in(spec.browsers)}\n"
        "| stats min(_time) as first_seen, max(_time) as last_seen, count as starts, "
        "values(CommandLine) as command_lines by host, process_name, Image, ParentImage\n"
        f'| eval severity=if(process_name IN {_in(spec.all_lolbins)}, "high", "medium")\n'
    )
    beacon = (
        _lookups(spec) + "| sort 0 host, Image, query, _time\n"
        "| streamstats current=f window=1 last(_time) as prev_time by host, Image, query\n"
        "| eval gap=_time-prev_time\n"
        f"| where isnull(gap) OR gap >= {b.merge_s}\n"
        '| eval hour=strftime(_time, "%Y-%m-%d %H")\n'
        "| stats count as checkins, dc(hour) as hours, avg(gap) as mean_gap, "
        "stdev(gap) as stdev_gap, median(gap) as median_gap, min(_time) as first_seen, "
        "max(_time) as last_seen by host, process_name, Image, query\n"
        "| eval interval_cv=if(mean_gap > 0, stdev_gap / mean_gap, null())\n"
        f"| where checkins >= {b.min_checkins} AND hours >= {b.min_hours} "
        f"AND interval_cv <= {b.max_interval_cv}\n"
        f'| eval severity=if(process_name IN {_in(spec.all_lolbins)}, "high", "medium")\n'
        "| sort interval_cv\n"
    )
    src = [f"Sysmon via the Splunk Add-on for Sysmon ({SYSMON}), EID 22 with Image"]
    files = [
        ExportFile(
            "spl",
            "spl/RH-SL-001_serverless_egress.spl",
            (r1.id,),
            _comment(
                header_lines(
                    spec,
                    r1,
                    language="SPL, Splunk",
                    detects="non-browser processes resolving catalogued hostnames (Sysmon "
                    "EID 22 QueryName: the requested name, not EID 3's reverse-DNS "
                    "DestinationHostname); High for LOLBins.",
                    loses=[*COMMON_LOSSES],
                    sources=src,
                )
            )
            + egress,
        ),
        ExportFile(
            "spl",
            "spl/RH-SL-002_cmdline_url.spl",
            (r2.id,),
            _comment(
                header_lines(
                    spec,
                    r2,
                    language="SPL, Splunk",
                    detects="process starts with a catalogued hostname on the command line.",
                    loses=["tenant extraction"],
                    sources=["Sysmon EID 1 (CommandLine)"],
                )
            )
            + cmd,
        ),
        ExportFile(
            "spl",
            "spl/RH-SL-005_beacon.spl",
            (r5.id,),
            _comment(
                header_lines(
                    spec,
                    r5,
                    language="SPL, Splunk",
                    detects="regular lookups from one non-browser image to one serverless "
                    "host: check-ins merged within merge_s, interval mean/stdev/median "
                    "(streamstats + stats), distinct hours, coefficient of variation.",
                    loses=[
                        "p-values against random timing (a CV cut-off instead), so heavily "
                        "jittered beacons are missed",
                        "periodogram, missed-beat folding, pauses",
                        "payload regularity (EID 22 has no bytes), fleet prevalence",
                    ],
                    sources=src,
                    tuning=["the numbers in the final where clause"],
                )
            )
            + beacon,
        ),
    ]
    omitted = (
        Omission("spl", "RH-SL-003", "not exported to SPL yet (KQL, EQL and Sigma have it)"),
        Omission("spl", "RH-SL-004", "tenant derivation (PSL) not expressible; not exported"),
    )
    return Rendered(tuple(files), omitted)
