"""YARA-L 2.0 rules for Google SecOps (Chronicle) over UDM events."""

from __future__ import annotations

from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
    Rendered,
    comment_block,
    header_lines,
)
from relayhunt.export.escape import slash_regex, yaral_string
from relayhunt.export.model import ExportRule, ExportSpec


def _regex(value: str) -> str:
    return slash_regex(value.removeprefix("(?i)"), "yaral") + " nocase"


def _re_literal(value: str) -> str:
    return "".join("\\" + ch if ch in ".^$*+?()[]{}|\\/" else ch for ch in value)


def _browser_regex(spec: ExportSpec) -> str:
    names = "|".join(_re_literal(n) for n in spec.browsers)
    return f"(^|[\\\\/])({names})$"


def _meta(rule: ExportRule, description: str) -> str:
    lines = [
        f"    rule_id = {yaral_string(rule.id)}",
        f"    author = {yaral_string('relayhunt (generated)')}",
        f"    description = {yaral_string(description)}",
        f"    mitre_attack_technique = {yaral_string(', '.join(rule.techniques))}",
        f"    severity = {yaral_string(rule.severity.upper())}",
    ]
    return "  meta:\n" + "\n".join(lines) + "\n"


def _name(rule_id: str, suffix: str) -> str:
    return "relayhunt_" + rule_id.lower().replace("-", "_") + "_" + suffix


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    host_re = _regex(spec.host_regex())
    browser = slash_regex(_browser_regex(spec), "yaral") + " nocase"
    egress = (
        f"rule {_name(r1.id, 'serverless_dns')} {{\n" + _meta(r1, r1.title) + "  events:\n"
        '    $e.metadata.event_type = "NETWORK_DNS"\n'
        f"    $e.network.dns.questions.name = {host_re}\n"
        f"    not $e.principal.process.file.full_path = {browser}\n"
        "    $e.principal.hostname = $host\n"
        "  match:\n    $host over 1h\n"
        "  outcome:\n"
        "    $lookups = count($e.metadata.id)\n"
        "    $images = array_distinct($e.principal.process.file.full_path)\n"
        "    $names = array_distinct($e.network.dns.questions.name)\n"
        "  condition:\n    $e\n}\n"
    )
    cmd = (
        f"rule {_name(r2.id, 'cmdline')} {{\n" + _meta(r2, r2.title) + "  events:\n"
        '    $e.metadata.event_type = "PROCESS_LAUNCH"\n'
        f"    $e.target.process.command_line = {_regex(spec.cmdline_regex())}\n"
        f"    not $e.target.process.file.full_path = {browser}\n"
        "  condition:\n    $e\n}\n"
    )
    beacon = (
        f"rule {_name(r5.id, 'beacon')} {{\n"
        + _meta(r5, "Repeated lookups of one serverless host by one image")
        + "  events:\n"
        '    $e.metadata.event_type = "NETWORK_DNS"\n'
        f"    $e.network.dns.questions.name = {host_re}\n"
        f"    not $e.principal.process.file.full_path = {browser}\n"
        "    $e.principal.hostname = $host\n"
        "    $e.principal.process.file.full_path = $image\n"
        "    $e.network.dns.questions.name = $name\n"
        f"  match:\n    $host, $image, $name over {b.window_h}h\n"
        "  outcome:\n"
        "    $checkins = count_distinct($e.metadata.event_timestamp.seconds)\n"
        "    $first_seen = min($e.metadata.event_timestamp.seconds)\n"
        "    $last_seen = max($e.metadata.event_timestamp.seconds)\n"
        "    $span_s = max($e.metadata.event_timestamp.seconds) - "
        "min($e.metadata.event_timestamp.seconds)\n"
        "    $hours = count_distinct(timestamp.get_timestamp("
        '$e.metadata.event_timestamp.seconds, "%Y-%m-%d %H"))\n'
        "  condition:\n"
        f"    #e >= {b.min_checkins} and $hours >= {b.min_hours}\n}}\n"
    )
    src = ["UDM NETWORK_DNS events with principal.process (Sysmon EID 22, EDR DNS telemetry)"]
    files = [
        ExportFile(
            "yaral",
            "yaral/RH-SL-001_serverless_egress.yaral",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="YARA-L 2.0, Google SecOps",
                    detects="non-browser processes resolving catalogued hostnames; one "
                    "detection per host and hour.",
                    loses=[*COMMON_LOSSES, "LOLBin severity"],
                    sources=src,
                )
            )
            + egress,
        ),
        ExportFile(
            "yaral",
            "yaral/RH-SL-002_cmdline_url.yaral",
            (r2.id,),
            comment_block(
                header_lines(
                    spec,
                    r2,
                    language="YARA-L 2.0, Google SecOps",
                    detects="process launches with a catalogued hostname on the command line.",
                    loses=["grouping", "LOLBin severity"],
                    sources=["UDM PROCESS_LAUNCH with target.process.command_line"],
                )
            )
            + cmd,
        ),
        ExportFile(
            "yaral",
            "yaral/RH-SL-005_beacon.yaral",
            (r5.id,),
            comment_block(
                header_lines(
                    spec,
                    r5,
                    language="YARA-L 2.0, Google SecOps",
                    detects="repeated lookups of one serverless host by one image on one "
                    "host over the window, with distinct hours and the span as outcomes.",
                    loses=[
                        "interval statistics: outcome aggregates see values, not "
                        "consecutive gaps, so no spread, periodicity or p-values",
                        "payload sizes, fleet prevalence",
                    ],
                    sources=src,
                )
            )
            + beacon,
        ),
    ]
    omitted = (
        Omission("yaral", "RH-SL-003", "not exported to YARA-L yet"),
        Omission("yaral", "RH-SL-004", "tenant derivation (PSL) not expressible"),
    )
    return Rendered(tuple(files), omitted)
