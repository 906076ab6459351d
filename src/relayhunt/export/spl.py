"""SPL for Splunk over Sysmon (Splunk Add-on for Sysmon field names: ``EventCode``,
``Image``, ``QueryName``, ``CommandLine``, ``ParentImage``)."""

from __future__ import annotations

import re

from relayhunt.export import cloud
from relayhunt.export.allowlist import (
    CHAIN_WHY,
    CLOUD_WHY,
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


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

DNS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("Image"),
    "user": (Column("User", "user"),),
    "host": (Column("Computer", "full"),),
    "destination": (Column("query", "host"),),
}
"""Sysmon EID 22 (Splunk Add-on for Sysmon field names): no parent, no command line."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("Image"),
    "parent": path_columns("ParentImage"),
    "user": (Column("User", "user"),),
    "host": (Column("Computer", "full"),),
    "command_line": (Column("CommandLine", "full"),),
}
"""Sysmon EID 1: no destination (the engine's is the hostname taken from the command line)."""
DNS_EVENT = "Sysmon EID 22"
PROC_EVENT = "Sysmon EID 1"


def _spl_test(t: GlobTest) -> str:
    # coalesce: a missing field must make the test false, not null (NOT null drops events)
    return f'match(coalesce({t.column.name}, ""), {spl_string("(?i)" + t.regex())})'


_COLUMNS = EventColumns(DNS_COLUMNS, DNS_EVENT, PROC_COLUMNS, PROC_EVENT)


def _plan(spec: ExportSpec, rule_id: str, proc: bool = False) -> Plan | None:
    return _COLUMNS.plan(spec.allowlist, rule_id, proc)


def allow_where(plan: Plan | None) -> str:
    """``| where NOT (...)`` for the plan's exclusions; empty when there are none."""
    pred = predicate(plan, _spl_test, and_=" AND ", or_=" OR ", indent="\n    ")
    return f"| where NOT {pred}\n" if pred else ""


def _allow_header(spec: ExportSpec, plans: list[Plan | None]) -> list[str]:
    return header_for_plans(spec.allowlist, plans)


def _lookups(spec: ExportSpec, rule_id: str | None = None) -> str:
    return (
        f"{SYSMON} EventCode=22\n"
        '| eval query=lower(trim(QueryName, "."))\n'
        f"| where match(query, {spl_string(spec.host_regex())})\n"
        + _procname("Image")
        + f"| where NOT process_name IN {_in(spec.browsers)}\n"
        + (allow_where(_plan(spec, rule_id)) if rule_id else "")
    )


def _rarity(spec: ExportSpec) -> str:
    t = spec.rules["RH-SL-004"].thresholds
    return (
        _lookups(spec)
        + f"| rex field=query {spl_string('(?<tenant>' + spec.tenant_regex()[1:-2] + ')$')}\n"
        "| eval tenant=coalesce(tenant, query)\n"
        "| eventstats dc(host) as tenant_hosts, min(_time) as tenant_first_seen by tenant\n"
        "| stats min(_time) as first_seen, max(_time) as last_seen, count as lookups, "
        "values(process_name) as processes, values(query) as hostnames, "
        "max(tenant_hosts) as tenant_hosts, min(tenant_first_seen) as tenant_first_seen "
        "by tenant, host\n"
        f"| eval fleet_hosts=[search {SYSMON} | stats dc(host) as n | return $n]\n"
        "| addinfo\n"
        f"| eval rare=if(fleet_hosts >= {int(t['min_fleet'])} AND "
        f"tenant_hosts <= {int(t['max_hosts'])} AND "
        f"tenant_hosts <= {float(t['max_fleet_fraction'])} * fleet_hosts, 1, 0)\n"
        f"| eval new=if(tenant_first_seen > info_min_time + {int(t['novelty_after_s'])}, 1, 0)\n"
        "| where rare=1 OR new=1\n"
        '| eval severity="low"\n'
        "| convert ctime(first_seen) ctime(last_seen) ctime(tenant_first_seen)\n"
    )


def _chain(spec: ExportSpec) -> str:
    ext = "|".join(spec.script_extensions)
    script_re = (
        r"(?i)\\(?:appdata\\local\\temp|windows\\temp|users\\public|programdata)\\"
        r"[^\\" + '"' + r"]+[.](?:" + ext + r")\b"
    )
    window = int(spec.rules["RH-SL-003"].thresholds.get("write_to_run_s", 3600))
    write_re = script_re.removesuffix("\\b") + "$"
    return (
        f"{SYSMON} (EventCode=1 OR EventCode=11 OR EventCode=22)\n"
        + _procname("Image")
        + '| eval query=lower(trim(QueryName, "."))\n'
        + "| eval kind=case("
        f"EventCode==11 AND match(TargetFilename, {spl_string(write_re)}), "
        '"write", '
        f"EventCode==1 AND process_name IN {_in(spec.script_hosts)} AND "
        f"match(CommandLine, {spl_string(script_re)}), "
        '"run", '
        f"EventCode==22 AND process_name IN {_in(spec.script_hosts)} AND "
        f"match(query, {spl_string(spec.host_regex())}), "
        '"egress")\n'
        "| where isnotnull(kind)\n"
        '| eval script=if(kind=="write", lower(replace(TargetFilename, '
        + spl_string("^.*[\\\\/]")
        + ', "")), null())\n'
        "| eventstats values(script) as written by host\n"
        '| stats min(eval(if(kind=="run", _time, null()))) as run_time, '
        'min(eval(if(kind=="egress", _time, null()))) as egress_time, '
        'values(eval(if(kind=="egress", query, null()))) as destinations, '
        'values(eval(if(kind=="run", CommandLine, null()))) as command_line, '
        "values(written) as written, values(process_name) as script_host "
        "by host, ProcessGuid\n"
        "| where isnotnull(run_time) AND isnotnull(egress_time) AND egress_time >= run_time "
        f"AND egress_time - run_time <= {window}\n"
        '| eval cmd=lower(mvjoin(command_line, " "))\n'
        '| eval matched=mvmap(written, if(like(cmd, "%" . written . "%"), written, null()))\n'
        '| eval severity=if(isnotnull(matched), "critical", "high")\n'
        "| convert ctime(run_time) ctime(egress_time)\n"
    )


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-005"))
    b = spec.beacon
    egress = (
        _lookups(spec, "RH-SL-001")
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
        + allow_where(_plan(spec, "RH-SL-002", proc=True))
        + "| stats min(_time) as first_seen, max(_time) as last_seen, count as starts, "
        "values(CommandLine) as command_lines by host, process_name, Image, ParentImage\n"
        f'| eval severity=if(process_name IN {_in(spec.all_lolbins)}, "high", "medium")\n'
    )
    beacon = (
        _lookups(spec, "RH-SL-005") + "| sort 0 host, Image, query, _time\n"
        "| streamstats current=f window=1 last(_time) as prev_time by host, Image, query\n"
        "| eval gap=_time-prev_time\n"
        f"| where isnull(gap) OR gap >= {b.merge_s}\n"
        '| eval hour=strftime(_time, "%Y-%m-%d %H")\n'
        "| eval ln_gap=if(gap > 0, ln(gap), null())\n"
        "| stats count as checkins, dc(hour) as hours, avg(gap) as mean_gap, "
        "stdev(gap) as stdev_gap, median(gap) as median_gap, avg(ln_gap) as ln_mean_gap, "
        "count(ln_gap) as gaps, min(_time) as first_seen, "
        "max(_time) as last_seen by host, process_name, Image, query\n"
        "| eval interval_cv=if(mean_gap > 0, stdev_gap / mean_gap, null())\n"
        "| eval moran_z=if(gaps >= 3, "
        + b.moran_z_expr("ln(mean_gap) - ln_mean_gap", "gaps")
        + ", null())\n"
        f"| where checkins >= {b.min_checkins} AND hours >= {b.min_hours} "
        f"AND (interval_cv <= {b.max_interval_cv} OR moran_z <= {-b.moran_z})\n"
        f'| eval severity=if(process_name IN {_in(spec.all_lolbins)}, "high", "medium")\n'
        "| sort moran_z\n"
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
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-001")]),
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
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-002", proc=True)]),
                )
            )
            + cmd,
        ),
        ExportFile(
            "spl",
            "spl/RH-SL-003_script_chain.spl",
            ("RH-SL-003",),
            _comment(
                header_lines(
                    spec,
                    spec.rules["RH-SL-003"],
                    language="SPL, Splunk",
                    detects="a script host started on a script in a temporary/public folder "
                    "that resolves a serverless hostname from the same process (ProcessGuid) "
                    "within the window; critical when a script of that name was written on "
                    "the host (EID 11).",
                    loses=[
                        "the write is matched by file name anywhere in the command line, "
                        "and its time is not checked against the run",
                    ],
                    sources=["Sysmon EID 1, 11 and 22 (Splunk Add-on for Sysmon)"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + _chain(spec),
        ),
        ExportFile(
            "spl",
            "spl/RH-SL-004_rare_tenant.spl",
            ("RH-SL-004",),
            _comment(
                header_lines(
                    spec,
                    spec.rules["RH-SL-004"],
                    language="SPL, Splunk",
                    detects="serverless tenants resolved by non-browser processes on few "
                    "hosts (eventstats dc(host)) of a fleet of enough hosts (subsearch), or "
                    "first seen a day into the search range.",
                    loses=[
                        "the tenant is one label left of the catalog pattern, not the "
                        "engine's per-entry derivation (PSL and tenant_labels overrides)",
                        "the fleet is the hosts with Sysmon events in the search range",
                    ],
                    sources=[f"Sysmon via the Splunk Add-on for Sysmon ({SYSMON})"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-004", RARITY_WHY),
                    tuning=["the numbers in the rare/new evals"],
                )
            )
            + _rarity(spec),
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
                    "(streamstats + stats), distinct hours, coefficient of variation and "
                    "Moran's statistic as a z-score against random timing.",
                    loses=[
                        "exact p-values (Moran's statistic cut at a z-score, normal "
                        "approximation; pauses not excluded)",
                        "periodogram, missed-beat folding, pauses",
                        "payload regularity (EID 22 has no bytes), fleet prevalence",
                    ],
                    sources=src,
                    allowlist=_allow_header(spec, [_plan(spec, "RH-SL-005")]),
                    tuning=["the numbers in the final where clause"],
                )
            )
            + beacon,
        ),
    ]
    files.extend(render_cloud(spec))
    return Rendered(tuple(files), ())


# -- RH-CP-001..005: CloudTrail, Google Cloud audit and Azure Activity in Splunk ----------

AWS_ST = 'sourcetype="aws:cloudtrail"'
GCP_ST = 'sourcetype="google:gcp:pubsub:message"'
AZURE_ST = 'sourcetype="azure:monitor:activity"'

# One set of columns for every provider: provider, account, principal, op, target, src, ua.
_NORMALISE = (
    '| eval provider=case(sourcetype=="aws:cloudtrail", "aws", '
    'sourcetype=="google:gcp:pubsub:message", "gcp", true(), "azure")\n'
    "| eval account=coalesce(recipientAccountId, 'data.resource.labels.project_id', "
    "subscriptionId)\n"
    "| eval principal=coalesce('userIdentity.sessionContext.sessionIssuer.arn', "
    "'userIdentity.arn', 'data.protoPayload.authenticationInfo.principalEmail', caller)\n"
    "| eval op=coalesce(eventName, 'data.protoPayload.methodName', 'operationName.value')\n"
    "| eval target=coalesce('requestParameters.functionName', "
    "'data.protoPayload.resourceName', resourceId)\n"
    "| eval src=coalesce(sourceIPAddress, 'data.protoPayload.requestMetadata.callerIp', "
    "callerIpAddress)\n"
    "| eval ua=coalesce(userAgent, "
    "'data.protoPayload.requestMetadata.callerSuppliedUserAgent')\n"
)


def _deployer_where(spec: ExportSpec) -> str:
    if not spec.deployers:
        return ""
    alternation = "|".join(cloud.glob_regex(g) for g in spec.deployers)
    return (
        f"| where isnull(principal) OR NOT match(principal, {spl_string('(?i)' + alternation)})\n"
    )


def _aws_where(ops: tuple[cloud.AwsOps, ...]) -> str:
    return " OR ".join(
        f"(eventSource={spl_string(o.source)} AND match(eventName, {spl_string(o.regex)}))"
        for o in ops
    )


def _gcp_where(suffixes: tuple[str, ...]) -> str:
    rx = "[.](" + "|".join(s.lstrip(".") for s in suffixes) + ")$"
    return f"match('data.protoPayload.methodName', {spl_string(rx)})"


def _established(spec: ExportSpec, rule_id: str) -> str:
    days = int(spec.rules[rule_id].thresholds.get("established_days", 2))
    return (
        '| eval day=strftime(_time, "%Y-%m-%d")\n'
        "| eventstats dc(day) as change_days by provider, account, principal\n"
        f"| where change_days < {days}\n"
    )


_STATS = (
    "| stats min(_time) as first_seen, max(_time) as last_seen, count as events, "
    "values(op) as operations, values(src) as source_ips, values(ua) as user_agents, "
    "max(change_days) as change_days by provider, account, principal, target\n"
    "| convert ctime(first_seen) ctime(last_seen)\n"
)


def render_cloud(spec: ExportSpec) -> list[ExportFile]:
    azure_change = " OR ".join(
        [
            f"like(upper('operationName.value'), {spl_string('%' + s)})"
            for s in cloud.AZURE_CHANGE_SUFFIXES
        ]
        + [f"upper('operationName.value')={spl_string(s)}" for s in cloud.AZURE_CHANGE_EXACT]
    )
    azure_keys = " OR ".join(
        f"like(upper('operationName.value'), {spl_string('%' + s)})"
        for s in cloud.AZURE_KEY_SUFFIXES
    )
    gcp_services = _in(cloud.GCP_SERVICES)
    change = (
        f"({AWS_ST} NOT errorCode=*) OR ({GCP_ST}) OR ({AZURE_ST} status.value=Succeeded)\n"
        f"| where ({_aws_where(cloud.AWS_CHANGE)})\n"
        f"    OR ('data.protoPayload.serviceName' IN {gcp_services} AND "
        f"{_gcp_where(cloud.GCP_CHANGE)})\n"
        f"    OR ({azure_change})\n"
        + _NORMALISE
        + _deployer_where(spec)
        + _established(spec, "RH-CP-001")
        + _STATS
    )
    public = (
        f'({AWS_ST} eventSource="lambda.amazonaws.com" NOT errorCode=*) OR ({GCP_ST}) OR '
        f"({AZURE_ST} status.value=Succeeded)\n"
        f"| where (match(eventName, {spl_string(cloud.AWS_PUBLIC_URL)}) AND "
        "upper('requestParameters.authType')=\"NONE\")\n"
        f"    OR (match(eventName, {spl_string(cloud.AWS_ADD_PERMISSION)}) AND "
        "'requestParameters.principal'=\"*\")\n"
        "    OR (like('data.protoPayload.methodName', \"%.SetIamPolicy\") AND "
        "match('data.protoPayload.serviceData.policyDelta.bindingDeltas{}.member', "
        '"^(allUsers|allAuthenticatedUsers)$"))\n'
        f"    OR ({azure_keys})\n"
        + _NORMALISE
        + _deployer_where(spec)
        + _established(spec, "RH-CP-002")
        + _STATS
    )
    create = (
        f"({AWS_ST} NOT errorCode=*) OR ({GCP_ST})\n"
        f"| where ({_aws_where(cloud.AWS_CREATE)}) OR ({_gcp_where(cloud.GCP_CREATE)})\n"
        + _NORMALISE
        + _deployer_where(spec)
        + _established(spec, "RH-CP-003")
        + _STATS
    )
    r4 = spec.rules["RH-CP-004"]
    window = int(r4.thresholds.get("window_s", 3600))
    agents = "|".join(re.escape(a) for a in cloud.AWS_TOOL_AGENTS)
    enum = (
        f'{AWS_ST} eventSource="lambda.amazonaws.com"\n'
        f"| where match(eventName, {spl_string(cloud.AWS_LIST)}) OR "
        f"(match(eventName, {spl_string(cloud.AWS_INVOKE)}) AND isnull(errorCode) AND "
        f"match(userAgent, {spl_string('(?i)(' + agents + ')')}))\n"
        + _NORMALISE
        + f'| eval kind=if(match(eventName, {spl_string(cloud.AWS_LIST)}), "list", "invoke")\n'
        + _deployer_where(spec).replace("| where ", '| where kind="list" OR ', 1)
        + '| eval list_time=if(kind="list", _time, null())\n'
        "| sort 0 account, principal, _time\n"
        "| streamstats last(list_time) as last_list by account, principal\n"
        f'| where kind="invoke" AND _time - last_list <= {window}\n'
        + '| eval day=strftime(_time, "%Y-%m-%d")\n'
        "| eventstats dc(day) as change_days by provider, account, principal\n"
        f"| where change_days < {int(r4.thresholds.get('established_days', 2))}\n" + _STATS
    )
    r5 = spec.rules["RH-CP-005"]
    window5 = int(r5.thresholds.get("window_s", 3600))
    min_failures = int(r5.thresholds.get("min_failures", 5))
    denied = (
        f"({AWS_ST} eventSource IN {_in(cloud.AWS_SERVICES)} errorCode IN "
        f"{_in(cloud.AWS_DENIED)}) OR ({GCP_ST} data.protoPayload.status.code IN (7, 16))\n"
        + _NORMALISE
        + f"| bin _time span={window5}s\n"
        "| stats count as failures, dc(op) as distinct_operations, values(op) as operations, "
        "values(target) as targets by _time, provider, account, principal\n"
        f"| where failures >= {min_failures}\n"
        '| eval severity=if(distinct_operations >= 3, "medium", "low")\n'
    )

    def head(rule_id: str, detects: str, loses: list[str]) -> str:
        return _comment(
            header_lines(
                spec,
                spec.rules[rule_id],
                language="SPL, Splunk",
                detects=detects,
                loses=loses,
                sources=[
                    f"Splunk Add-on for AWS ({AWS_ST})",
                    f"Splunk Add-on for Google Cloud Platform, Pub/Sub audit sink ({GCP_ST})",
                    f"Splunk Add-on for Microsoft Cloud Services, Activity Log ({AZURE_ST}; "
                    "field names operationName.value, status.value, caller: check your "
                    "input, Event Hub inputs nest them under body.)",
                ],
                tuning=[
                    "deployer globs rendered in: "
                    + (", ".join(spec.deployers) if spec.deployers else "none (--config)"),
                    "the search time range is the 'established' baseline",
                ],
                allowlist=skipped_header(spec.allowlist, rule_id, CLOUD_WHY),
            )
        )

    baseline = (
        "the baseline is the search's time range (the engine uses all data it reads); "
        "Cloudflare audit logs are not exported"
    )
    return [
        ExportFile(
            "spl",
            "spl/RH-CP-001_function_changed.spl",
            ("RH-CP-001",),
            head(
                "RH-CP-001",
                "function code or configuration changes by principals "
                "that are not listed deployers and changed functions on fewer than "
                "established_days days (eventstats dc(day)).",
                [baseline],
            )
            + change,
        ),
        ExportFile(
            "spl",
            "spl/RH-CP-002_function_public.spl",
            ("RH-CP-002",),
            head(
                "RH-CP-002",
                "functions opened to anyone (Lambda URL AuthType NONE, "
                "AddPermission *, SetIamPolicy allUsers, Azure function keys).",
                [
                    baseline,
                    "Azure anonymous authLevel (the request body)",
                    "the policy delta's ADD action",
                ],
            )
            + public,
        ),
        ExportFile(
            "spl",
            "spl/RH-CP-003_function_created.spl",
            ("RH-CP-003",),
            head(
                "RH-CP-003",
                "functions, services and APIs created by principals not established for it.",
                [baseline, "the new-address case"],
            )
            + create,
        ),
        ExportFile(
            "spl",
            "spl/RH-CP-004_enumerate_then_invoke.spl",
            ("RH-CP-004",),
            head(
                "RH-CP-004",
                "an Invoke from a CLI or SDK within the window after the "
                "same principal's ListFunctions (streamstats).",
                [baseline, "Google Cloud and Azure"],
            )
            + enum,
        ),
        ExportFile(
            "spl",
            "spl/RH-CP-005_repeated_access_denied.spl",
            ("RH-CP-005",),
            head(
                "RH-CP-005",
                "repeated denied function API calls by one principal (AWS, Google Cloud).",
                [
                    "fixed time bins instead of a sliding window",
                    "Azure",
                    "the error-message fallback",
                ],
            )
            + denied,
        ),
    ]
