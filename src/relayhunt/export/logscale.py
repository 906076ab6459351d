"""CrowdStrike Falcon LogScale (CQL) over Falcon sensor events.

Falcon ``DnsRequest`` events carry ``DomainName`` and ``ContextProcessId`` but no image:
``ImageFileName`` is on ``ProcessRollup2`` (keyed by ``TargetProcessId``), so the queries
join it in; ``NetworkConnectIP4`` has neither a domain name nor byte counts (source 001
reads ``DomainName``, ``BytesSent`` and ``BytesReceived`` on it)."""

from __future__ import annotations

from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
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


def _lookups(spec: ExportSpec) -> str:
    return (
        "#event_simpleName=DnsRequest\n"
        f"| DomainName = {_regex(spec.host_regex())}\n"
        + _JOIN_IMAGE
        + f"| !in(field=process_name, values={_in(spec.browsers)}, ignoreCase=true)\n"
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    sev = (
        f"| case {{ in(field=process_name, values={_in(spec.all_lolbins)}, ignoreCase=true)"
        ' | severity := "high"; * | severity := "medium" }\n'
    )
    egress = (
        _lookups(spec)
        + "| groupBy([aid, ComputerName, ImageFileName, process_name, DomainName], function=["
        "count(as=lookups), min(@timestamp, as=first_seen), max(@timestamp, as=last_seen), "
        "collect([ContextProcessId, CommandLine])])\n" + sev
    )
    cmd = (
        "#event_simpleName=ProcessRollup2\n"
        f"| CommandLine = {_regex(spec.cmdline_regex())}\n"
        '| process_name := lower(replace(field=ImageFileName, regex="^.*[\\\\\\\\/]", with=""))\n'
        f"| !in(field=process_name, values={_in(spec.browsers)}, ignoreCase=true)\n"
        "| groupBy([aid, ComputerName, ImageFileName, process_name, ParentBaseFileName], "
        "function=[count(as=starts), collect([CommandLine, TargetProcessId])])\n" + sev
    )
    beacon = (
        _lookups(spec) + '| hour := formatTime("%Y-%m-%d %H", field=@timestamp)\n'
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
                )
            )
            + cmd,
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
                )
            )
            + beacon,
        ),
    ]
    omitted = (
        Omission("logscale", "RH-SL-003", "not exported to LogScale yet"),
        Omission("logscale", "RH-SL-004", "tenant derivation (PSL) not expressible"),
    )
    return Rendered(tuple(files), omitted)
