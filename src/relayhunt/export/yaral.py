"""YARA-L 2.0 rules for Google SecOps (Chronicle) over UDM events."""

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
from relayhunt.export.escape import slash_regex, yaral_backtick_regex, yaral_string
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


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

DNS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("$e.principal.process.file.full_path"),
    "host": (Column("$e.principal.hostname", "full"),),
    "destination": (Column("$e.network.dns.questions.name", "host"),),
}
"""UDM NETWORK_DNS: the parent, user and command line are not reliably populated on DNS
events, so entries that name them are not rendered."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("$e.target.process.file.full_path"),
    "parent": path_columns("$e.principal.process.file.full_path"),
    "host": (Column("$e.principal.hostname", "full"),),
    "command_line": (Column("$e.target.process.command_line", "full"),),
}
"""UDM PROCESS_LAUNCH: the launching process is the principal; no destination."""
DNS_EVENT = "UDM NETWORK_DNS"
PROC_EVENT = "UDM PROCESS_LAUNCH"


def _yl_test(t: GlobTest) -> str:
    return f"{t.column.name} = {_regex(t.regex())}"


_COLUMNS = EventColumns(DNS_COLUMNS, DNS_EVENT, PROC_COLUMNS, PROC_EVENT)


def _plan(spec: ExportSpec, rule_id: str, proc: bool = False) -> Plan | None:
    return _COLUMNS.plan(spec.allowlist, rule_id, proc)


def allow_line(plan: Plan | None) -> str:
    """``not (...)`` in the events section; empty when nothing is excluded."""
    pred = predicate(plan, _yl_test, indent="\n      ")
    return f"    not {pred}\n" if pred else ""


def _allow_header(spec: ExportSpec, plans: list[Plan | None]) -> list[str]:
    return header_for_plans(spec.allowlist, plans)


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
        + allow_line(_plan(spec, "RH-SL-001"))
        + "    $e.principal.hostname = $host\n"
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
        + allow_line(_plan(spec, "RH-SL-002", proc=True))
        + "  condition:\n    $e\n}\n"
    )
    beacon = (
        f"rule {_name(r5.id, 'beacon')} {{\n"
        + _meta(r5, "Repeated lookups of one serverless host by one image")
        + "  events:\n"
        '    $e.metadata.event_type = "NETWORK_DNS"\n'
        f"    $e.network.dns.questions.name = {host_re}\n"
        f"    not $e.principal.process.file.full_path = {browser}\n"
        + allow_line(_plan(spec, "RH-SL-005"))
        + "    $e.principal.hostname = $host\n"
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
    t4 = spec.rules["RH-SL-004"].thresholds
    rarity = (
        f"rule {_name('RH-SL-004', 'rare_tenant')} {{\n"
        + _meta(spec.rules["RH-SL-004"], spec.rules["RH-SL-004"].title)
        + "  events:\n"
        '    $e.metadata.event_type = "NETWORK_DNS"\n'
        f"    $e.network.dns.questions.name = {host_re}\n"
        f"    not $e.principal.process.file.full_path = {browser}\n"
        "    $tenant = re.capture(strings.to_lower($e.network.dns.questions.name), "
        f"{yaral_backtick_regex(spec.tenant_regex())})\n"
        '    $tenant != ""\n'
        "  match:\n    $tenant over 48h\n"
        "  outcome:\n"
        "    $tenant_hosts = count_distinct($e.principal.hostname)\n"
        "    $hosts = array_distinct($e.principal.hostname)\n"
        "    $images = array_distinct($e.principal.process.file.full_path)\n"
        "    $names = array_distinct($e.network.dns.questions.name)\n"
        "    $first_seen = min($e.metadata.event_timestamp.seconds)\n"
        "  condition:\n"
        f"    $e and $tenant_hosts <= {int(t4['max_hosts'])}\n}}\n"
    )
    r3 = spec.rules["RH-SL-003"]
    hosts = "|".join(_re_literal(h) for h in spec.script_hosts)
    script_re = _regex(spec.script_in_temp_regex())
    write_re = _regex(spec.script_in_temp_regex().removesuffix("\\b") + "$")
    image_re = slash_regex("(^|[\\\\/])(" + hosts + ")$", "yaral")
    window_m = int(r3.thresholds.get("write_to_run_s", 3600)) // 60
    chain = (
        f"rule {_name(r3.id, 'script_chain')} {{\n" + _meta(r3, r3.title) + "  events:\n"
        '    $write.metadata.event_type = "FILE_CREATION"\n'
        f"    $write.target.file.full_path = {write_re}\n"
        "    $write.principal.hostname = $host\n"
        '    $run.metadata.event_type = "PROCESS_LAUNCH"\n'
        f"    $run.target.process.file.full_path = {image_re} nocase\n"
        f"    $run.target.process.command_line = {script_re}\n"
        "    $run.principal.hostname = $host\n"
        "    $run.target.process.product_specific_process_id = $pid\n"
        '    $dns.metadata.event_type = "NETWORK_DNS"\n'
        f"    $dns.network.dns.questions.name = {host_re}\n"
        "    $dns.principal.hostname = $host\n"
        "    $dns.principal.process.product_specific_process_id = $pid\n"
        "    $write.metadata.event_timestamp.seconds <= $run.metadata.event_timestamp.seconds\n"
        "    $run.metadata.event_timestamp.seconds <= $dns.metadata.event_timestamp.seconds\n"
        f"  match:\n    $host, $pid over {window_m}m\n"
        "  outcome:\n"
        "    $scripts = array_distinct($write.target.file.full_path)\n"
        "    $command_lines = array_distinct($run.target.process.command_line)\n"
        "    $destinations = array_distinct($dns.network.dns.questions.name)\n"
        "  condition:\n    $write and $run and $dns\n}\n"
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
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
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
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-002", proc=True)]),
                )
            )
            + cmd,
        ),
        ExportFile(
            "yaral",
            "yaral/RH-SL-003_script_chain.yaral",
            ("RH-SL-003",),
            comment_block(
                header_lines(
                    spec,
                    r3,
                    language="YARA-L 2.0, Google SecOps",
                    detects="a script written to a temporary/public folder, a script host "
                    "started on such a script, and that process (product_specific_process_id) "
                    "resolving a serverless hostname, in that order on one host within the "
                    "window.",
                    loses=[
                        "the write is joined on the host, not on the script's file name "
                        "(YARA-L joins by equality; the name is inside the command line)",
                        "the high-severity variant without a file write",
                    ],
                    sources=[
                        "UDM FILE_CREATION, PROCESS_LAUNCH and NETWORK_DNS events with "
                        "product_specific_process_id (WINDOWS_SYSMON parser)"
                    ],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + chain,
        ),
        ExportFile(
            "yaral",
            "yaral/RH-SL-004_rare_tenant.yaral",
            ("RH-SL-004",),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-004"],
                    language="YARA-L 2.0, Google SecOps",
                    detects="serverless tenants resolved by non-browser processes on at most "
                    "max_hosts hosts within the match window (outcome count_distinct).",
                    loses=[
                        "the fleet-size conditions (min_fleet, max_fleet_fraction) and "
                        "novelty: a rule sees only the events it matched",
                        "bare platform apexes (no tenant label) are skipped",
                        "the tenant is one label left of the catalog pattern, not the "
                        "engine's per-entry derivation",
                        "a 48 h match window (the longest a YARA-L rule allows), not the "
                        "whole data",
                    ],
                    sources=src,
                    allowlist=skipped_header(spec.allowlist, "RH-SL-004", RARITY_WHY),
                )
            )
            + rarity,
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
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-005")]),
                )
            )
            + beacon,
        ),
    ]
    return Rendered(tuple(files), ())
