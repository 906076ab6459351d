"""EQL for Elastic Security (Elastic Defend / ECS ``logs-endpoint.events.*``)."""

from __future__ import annotations

from relayhunt.export import cloud
from relayhunt.export.allowlist import (
    CHAIN_WHY,
    CLOUD_WHY,
    Column,
    EventColumns,
    GlobTest,
    Plan,
    header_for_plans,
    lucene_regex,
    predicate,
    skipped_header,
)
from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
    Rendered,
    comment_block,
    header_lines,
)
from relayhunt.export.escape import eql_string, eql_wildcard
from relayhunt.export.model import ExportSpec


def _list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(eql_string(v) for v in values) + ")"


def host_condition(spec: ExportSpec, field: str) -> str:
    """Label-boundary, case-insensitive hostname test: ``:`` wildcards (case-insensitive in
    Elastic EQL) for plain suffixes, ``regex~`` (Lucene, implicitly anchored) for patterns
    with placeholders."""
    wild = [eql_wildcard("." + s, any_prefix=True) for s in spec.plain_suffixes]
    wild += [eql_wildcard(s) for s in spec.plain_suffixes]
    parts = [f"{field} : (" + ", ".join(wild) + ")"]
    if spec.placeholder_hosts:
        alternation = "|".join(h.core_regex.replace("(?:", "(") for h in spec.placeholder_hosts)
        parts.append(f"{field} regex~ {eql_string('(.*[.])?(' + alternation + ')')}")
    return "(" + " or ".join(parts) + ")"


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

DNS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": (Column("process.executable", "full"), Column("process.name", "name")),
    "user": (Column("user.name", "full"),),
    "host": (Column("host.name", "full"),),
    "destination": (Column("dns.question.name", "host"),),
}
"""Elastic Defend lookup events: no parent or command line on them."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": (Column("process.executable", "full"), Column("process.name", "name")),
    "parent": (
        Column("process.parent.executable", "full"),
        Column("process.parent.name", "name"),
    ),
    "user": (Column("user.name", "full"),),
    "host": (Column("host.name", "full"),),
    "command_line": (Column("process.command_line", "full"),),
}
DNS_EVENT = "Elastic Defend DNS lookup events"
PROC_EVENT = "Elastic Defend process start events"


def _eql_test(t: GlobTest) -> str:
    # a missing field is null: test it first so that "not" never sees a null
    name = t.column.name
    return f"({name} != null and {name} regex~ {eql_string(lucene_regex(t))})"


_COLUMNS = EventColumns(DNS_COLUMNS, DNS_EVENT, PROC_COLUMNS, PROC_EVENT)


def _plan(spec: ExportSpec, rule_id: str, proc: bool = False) -> Plan | None:
    return _COLUMNS.plan(spec.allowlist, rule_id, proc)


def allow_clause(plan: Plan | None) -> str:
    """`` and\n  not (...)`` for the plan's exclusions; empty when there are none."""
    pred = predicate(plan, _eql_test, indent="\n    ")
    return f" and\n  not {pred}" if pred else ""


def _allow_header(spec: ExportSpec, plans: list[Plan | None]) -> list[str]:
    return header_for_plans(spec.allowlist, plans)


def _dns(spec: ExportSpec, rule_id: str | None = None) -> str:
    return (
        'network where event.action == "lookup_requested" and\n  '
        + host_condition(spec, "dns.question.name")
        + f" and\n  not process.name in~ {_list(spec.browsers)}"
        + (allow_clause(_plan(spec, rule_id)) if rule_id else "")
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r3, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-003", "RH-SL-005"))
    b = spec.beacon
    egress = (
        "sequence by host.id, process.entity_id with maxspan=2m\n  ["
        + _dns(spec, "RH-SL-001")
        + ']\n  [network where event.action == "connection_attempted"]\n'
    )
    lookups = _dns(spec, "RH-SL-001") + "\n"
    cmd = (
        'process where event.type == "start" and\n  process.command_line regex~ '
        + eql_string(spec.cmdline_regex_lucene())
        + f" and\n  not process.name in~ {_list(spec.browsers)}"
        + allow_clause(_plan(spec, "RH-SL-002", proc=True))
        + "\n"
    )
    ext = ", ".join(eql_string("*." + e) for e in spec.script_extensions)
    folders = ", ".join(
        eql_string(p)
        for p in (
            "?:\\Users\\*\\AppData\\Local\\Temp\\*",
            "?:\\Windows\\Temp\\*",
            "?:\\Users\\Public\\*",
            "?:\\ProgramData\\*",
        )
    )
    chain = (
        "sequence by host.id with maxspan=1h\n"
        f'  [file where event.type == "creation" and file.path : ({folders}) and\n'
        f"     file.name : ({ext})] by file.name\n"
        f'  [process where event.type == "start" and process.name in~ {_list(spec.script_hosts)}]'
        " by process.args[1]\n"
    )
    chain_net = (
        "sequence by host.id, process.entity_id with maxspan=1h\n"
        f'  [process where event.type == "start" and process.name in~ {_list(spec.script_hosts)}'
        f" and\n     process.args : ({folders})]\n"
        '  [network where event.action == "lookup_requested" and '
        + host_condition(spec, "dns.question.name")
        + "]\n"
    )
    beacon = (
        f"sequence by host.id, process.executable, dns.question.name with maxspan={b.window_h}h\n"
        "  [" + _dns(spec, "RH-SL-005") + f"] with runs={b.min_checkins}\n"
    )
    net_src = ["Elastic Defend network events (DNS lookups with process.*)"]
    files = [
        ExportFile(
            "eql",
            "eql/RH-SL-001_serverless_egress.eql",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="EQL, Elastic Security",
                    detects="a non-browser process that resolves a catalogued hostname and "
                    "then opens a connection (same process entity, within 2 minutes). "
                    "Elastic Defend connection events carry no dns.question.name (source "
                    "000's mistake): the name is on the lookup event, joined by the sequence.",
                    loses=[
                        *COMMON_LOSSES,
                        "the sequence joins on the process, not on the resolved IP",
                    ],
                    sources=net_src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
                )
            )
            + egress,
        ),
        ExportFile(
            "eql",
            "eql/RH-SL-001_serverless_lookup.eql",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="EQL, Elastic Security",
                    detects="a non-browser process resolving a catalogued hostname "
                    "(connection or not).",
                    loses=list(COMMON_LOSSES),
                    sources=net_src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
                )
            )
            + lookups,
        ),
        ExportFile(
            "eql",
            "eql/RH-SL-002_cmdline_url.eql",
            (r2.id,),
            comment_block(
                header_lines(
                    spec,
                    r2,
                    language="EQL, Elastic Security",
                    detects="process starts with a catalogued hostname on the command line "
                    "(Lucene regex, case-insensitive via regex~, implicitly anchored).",
                    loses=["grouping of repeated starts", "LOLBin severity"],
                    sources=["Elastic Defend process events (process.command_line)"],
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-002", proc=True)]),
                )
            )
            + cmd,
        ),
        ExportFile(
            "eql",
            "eql/RH-SL-003_script_chain.eql",
            (r3.id,),
            comment_block(
                header_lines(
                    spec,
                    r3,
                    language="EQL, Elastic Security",
                    detects="part 1 of 2 of the chain: a script file written to a "
                    "temporary/public folder, then a script host whose first argument is "
                    "that file name.",
                    loses=[
                        "EQL joins each step on one key per step, so the write-run link and "
                        "the run-egress link are two sequences (this file and "
                        "RH-SL-003_script_host_egress.eql); correlate their alerts on "
                        "host.id in the case",
                        "process.args[1] must hold the bare file name; a full path there "
                        "does not join",
                    ],
                    sources=["Elastic Defend file and process events"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + chain,
        ),
        ExportFile(
            "eql",
            "eql/RH-SL-003_script_host_egress.eql",
            (r3.id,),
            comment_block(
                header_lines(
                    spec,
                    r3,
                    language="EQL, Elastic Security",
                    detects="part 2 of 2: a script host started on a script in a "
                    "temporary/public folder that resolves a serverless hostname.",
                    loses=["no file-write evidence in this half (see part 1)"],
                    sources=["Elastic Defend process and network events"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + chain_net,
        ),
        ExportFile(
            "eql",
            "eql/RH-SL-005_beacon.eql",
            (r5.id,),
            comment_block(
                header_lines(
                    spec,
                    r5,
                    language="EQL, Elastic Security",
                    detects=f"{b.min_checkins} lookups of one serverless hostname by one "
                    f"non-browser image on one host within {b.window_h} h (sequence with "
                    "runs), keyed by process.executable rather than process.entity_id so a "
                    "loop starting a new process per beat is still one sequence.",
                    loses=[
                        "all timing: EQL sequences cannot compute intervals, their spread, "
                        "periodicity, p-values, missed beats or pauses (use an ES|QL or "
                        "ML job for those)",
                        "payload sizes and fleet prevalence",
                    ],
                    sources=net_src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-005")]),
                    tuning=["runs and maxspan"],
                )
            )
            + beacon,
        ),
    ]
    files.extend(render_cloud(spec))
    omitted = (Omission("eql", "RH-SL-004", "EQL has no aggregation over hosts (tenant rarity)"),)
    return Rendered(tuple(files), omitted)


# -- RH-CP-001..005: Elastic AWS CloudTrail and Google Cloud audit integrations ------------

AWS_ARNS = (
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
)
GCP_PRINCIPAL = "gcp.audit.authentication_info.principal_email"


def _ops_wildcards(regex_ops: str) -> str:
    """``^(A|B)(20...)?$`` -> ``("A", "A20*", "B", "B20*")`` for EQL ``:``."""
    names = regex_ops.split("(", 2)[1].split(")", 1)[0].split("|")
    return "(" + ", ".join(eql_string(p) for n in names for p in (n, n + "20*")) + ")"


def _not_deployer(spec: ExportSpec, fields: tuple[str, ...]) -> str:
    if not spec.deployers:
        return ""
    globs = ", ".join(eql_string(g) for g in spec.deployers)
    # a missing field (an IAM user has no session issuer) must not drop the event
    return "".join(f" and\n  not ({f} != null and {f} : ({globs}))" for f in fields)


def _aws(ops: tuple[cloud.AwsOps, ...]) -> str:
    tests = " or\n     ".join(
        f"(event.provider == {eql_string(o.source)} and event.action : {_ops_wildcards(o.regex)})"
        for o in ops
    )
    return (
        'event.dataset == "aws.cloudtrail" and event.outcome == "success" and\n    (' + tests + ")"
    )


def _gcp(suffixes: tuple[str, ...]) -> str:
    methods = ", ".join(eql_string("*" + s) for s in suffixes)
    return f'event.dataset == "gcp.audit" and gcp.audit.method_name : ({methods})'


def render_cloud(spec: ExportSpec) -> list[ExportFile]:
    def head(rule_id: str, detects: str, loses: list[str], seq: bool = False) -> str:
        return comment_block(
            header_lines(
                spec,
                spec.rules[rule_id],
                language="EQL, Elastic Security" + (" (sequence)" if seq else ""),
                detects=detects,
                loses=[*cloud.CLOUD_LOSSES, *loses],
                sources=[
                    "Elastic AWS integration, CloudTrail data stream (logs-aws.cloudtrail-*)",
                    "Elastic Google Cloud integration, audit data stream (logs-gcp.audit-*)",
                ],
                tuning=[
                    "deployer globs rendered in: "
                    + (", ".join(spec.deployers) if spec.deployers else "none (--config)")
                ],
                allowlist=skipped_header(spec.allowlist, rule_id, CLOUD_WHY),
            )
        )

    no_azure = "Azure Activity Log (not exported to EQL)"
    aws_dep = _not_deployer(spec, AWS_ARNS)
    gcp_dep = _not_deployer(spec, (GCP_PRINCIPAL,))
    change = (
        "any where\n  ("
        + _aws(cloud.AWS_CHANGE)
        + aws_dep.replace("\n", "\n  ")
        + ") or\n  ("
        + _gcp(cloud.GCP_CHANGE)
        + gcp_dep.replace("\n", "\n  ")
        + ")\n"
    )
    create = (
        "any where\n  ("
        + _aws(cloud.AWS_CREATE)
        + aws_dep.replace("\n", "\n  ")
        + ") or\n  ("
        + _gcp(cloud.GCP_CREATE)
        + gcp_dep.replace("\n", "\n  ")
        + ")\n"
    )
    public = (
        'any where event.dataset == "aws.cloudtrail" and event.outcome == "success" and\n'
        '  event.provider == "lambda.amazonaws.com" and\n'
        f"  ((event.action : {_ops_wildcards(cloud.AWS_PUBLIC_URL)} and\n"
        "    aws.cloudtrail.request_parameters regex~ "
        + eql_string('.*(authType=NONE|"authType":"NONE").*')
        + ")"
        f" or\n   (event.action : {_ops_wildcards(cloud.AWS_ADD_PERMISSION)} and\n"
        "    aws.cloudtrail.request_parameters regex "
        + eql_string('.*(principal=[*][,} ]|"principal":"[*]").*')
        + "))"
        + aws_dep
        + "\n"
    )
    r4 = spec.rules["RH-CP-004"]
    window = int(r4.thresholds.get("window_s", 3600))
    agents = ", ".join(eql_string("*" + a + "*") for a in cloud.AWS_TOOL_AGENTS)
    enum = (
        f"sequence by cloud.account.id, aws.cloudtrail.user_identity.arn with maxspan={window}s\n"
        '  [any where event.dataset == "aws.cloudtrail" and '
        'event.provider == "lambda.amazonaws.com" and\n'
        f"     event.action : {_ops_wildcards(cloud.AWS_LIST)}]\n"
        '  [any where event.dataset == "aws.cloudtrail" and '
        'event.provider == "lambda.amazonaws.com" and\n'
        f"     event.action : {_ops_wildcards(cloud.AWS_INVOKE)} and\n"
        f"     user_agent.original : ({agents})" + aws_dep.replace("\n", "\n   ") + "]\n"
    )
    r5 = spec.rules["RH-CP-005"]
    window5 = int(r5.thresholds.get("window_s", 3600))
    runs = int(r5.thresholds.get("min_failures", 5))
    services = ", ".join(eql_string(s) for s in cloud.AWS_SERVICES)
    denied = ", ".join(eql_string(s) for s in cloud.AWS_DENIED)
    denied_q = (
        f"sequence by cloud.account.id, aws.cloudtrail.user_identity.arn with maxspan={window5}s\n"
        f'  [any where event.dataset == "aws.cloudtrail" and event.provider in ({services}) and\n'
        f"     aws.cloudtrail.error_code in ({denied})] with runs={runs}\n"
    )
    return [
        ExportFile(
            "eql",
            "eql/RH-CP-001_function_changed.eql",
            ("RH-CP-001",),
            head(
                "RH-CP-001",
                "function code or configuration changes (AWS, Google Cloud) "
                "by a principal not listed as a deployer.",
                [no_azure],
            )
            + change,
        ),
        ExportFile(
            "eql",
            "eql/RH-CP-002_function_public.eql",
            ("RH-CP-002",),
            head(
                "RH-CP-002",
                "Lambda function URL with AuthType NONE or AddPermission to *.",
                [
                    "the request parameters are matched as text (the integration keeps them "
                    "flattened)",
                    "Google Cloud SetIamPolicy deltas",
                    no_azure,
                ],
            )
            + public,
        ),
        ExportFile(
            "eql",
            "eql/RH-CP-003_function_created.eql",
            ("RH-CP-003",),
            head(
                "RH-CP-003",
                "functions, services and APIs created (AWS, Google Cloud) by a "
                "principal not listed as a deployer.",
                ["the 'established deployer from a new address' case", no_azure],
            )
            + create,
        ),
        ExportFile(
            "eql",
            "eql/RH-CP-004_enumerate_then_invoke.eql",
            ("RH-CP-004",),
            head(
                "RH-CP-004",
                "ListFunctions then Invoke from a CLI or SDK by one principal "
                "within the window (sequence by account and principal ARN).",
                ["Google Cloud and Azure"],
                seq=True,
            )
            + enum,
        ),
        ExportFile(
            "eql",
            "eql/RH-CP-005_repeated_access_denied.eql",
            ("RH-CP-005",),
            head(
                "RH-CP-005",
                f"{runs} denied Lambda / API Gateway / CloudFront calls by one "
                "principal within the window (sequence with runs).",
                [
                    "severity by distinct operations; the error-message fallback",
                    "Google Cloud and Azure",
                ],
                seq=True,
            )
            + denied_q,
        ),
    ]
