"""Sigma rules (SigmaHQ field names, Sigma v2 correlation rules).

Files: one YAML per relayhunt rule; correlation rules and the base rules they reference
share one multi-document file. Hostnames use ``QueryName`` of the ``dns_query`` logsource
(Sysmon EID 22, the name the process asked for) rather than ``DestinationHostname`` of
``network_connection`` (Sysmon EID 3), which is the reverse (PTR) lookup of the IP.
"""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from relayhunt.export import cloud
from relayhunt.export.allowlist import (
    CLOUD_WHY,
    Column,
    Plan,
    combined_regex,
    path_columns,
    sigma_glob,
    skipped_header,
)
from relayhunt.export.common import ExportFile, Omission, Rendered, header_lines
from relayhunt.export.escape import sigma_value
from relayhunt.export.model import ExportRule, ExportSpec

NAMESPACE = uuid.UUID("6f1b6a52-3c0e-4c43-9d8e-6b7e3f1c2a10")


def rule_uuid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


def _date(spec: ExportSpec) -> str:
    parts = spec.catalog_version.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return "-".join(parts)
    return "2026-01-01"


def _image_endings(names: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(sigma_value("\\" + name))
        out.append(sigma_value("/" + name))
    return out


def host_selections(spec: ExportSpec, field: str) -> dict[str, Any]:
    """The label-boundary hostname test on ``field``: suffix list, apex list, regex list."""
    suffixes = [sigma_value("." + s) for s in spec.plain_suffixes]
    apexes = [sigma_value(s) for s in spec.plain_suffixes]
    sel: dict[str, Any] = {
        "selection_host_suffix": {f"{field}|endswith": suffixes},
        "selection_host_apex": {field: apexes},
    }
    regexes = [f"(?:^|[.]){h.core_regex}$" for h in spec.placeholder_hosts]
    if regexes:
        sel["selection_host_regex"] = {f"{field}|re|i": regexes}
    return sel


# -- the tuning file's allowlist -----------------------------------------------------------

SYSMON_DNS: dict[str, tuple[Column, ...]] = {
    "process": path_columns("Image"),
    "host": (Column("Computer", "full"),),
    "user": (Column("User", "user"),),
    "destination": (Column("QueryName", "host"),),
}
SYSMON_NET: dict[str, tuple[Column, ...]] = {
    "process": path_columns("Image"),
    "host": (Column("Computer", "full"),),
    "user": (Column("User", "user"),),
}
"""EID 3: DestinationHostname is a reverse lookup, not the name the engine matches."""
SYSMON_PROC: dict[str, tuple[Column, ...]] = {
    "process": path_columns("Image"),
    "parent": path_columns("ParentImage"),
    "host": (Column("Computer", "full"),),
    "user": (Column("User", "user"),),
    "command_line": (Column("CommandLine", "full"),),
}
"""EID 1: the engine's destination is the hostname taken from the command line; a
per-event rule cannot tell which of the names on it an exclusion is about."""


def _allow_filters(plan: Plan) -> dict[str, Any]:
    """``filter_allow_<n>`` selections: one per entry (keys ANDed, values ORed)."""
    out: dict[str, Any] = {}
    for ex in plan.exclusions:
        sel: dict[str, Any] = {}
        for f in ex.fields:
            (col,) = {c.name for c in f.columns()}
            if all(t.column.kind == "full" for t in f.tests):
                sel[col] = [sigma_glob(t.glob) for t in f.tests]
            else:
                sel[f"{col}|re|i"] = combined_regex(f)
        out[f"filter_{ex.name}"] = sel
    return out


def _with_allow(detection: dict[str, Any], plan: Plan | None) -> dict[str, Any]:
    """Add the allowlist filters to a detection: ``... and not 1 of filter_allow_*``."""
    if plan is None or not plan.exclusions:
        return detection
    cond = detection["condition"]
    rest = {k: v for k, v in detection.items() if k != "condition"}
    return {**rest, **_allow_filters(plan), "condition": f"{cond} and not 1 of filter_allow_*"}


CHAIN_WHY = (
    "the chain is a correlation of three events (write, run, lookup) grouped by computer; "
    "the engine suppresses the joined finding, and an exclusion on one base rule would "
    "not be the same test"
)
BEACON_ALLOW_NOTE = (
    "  - the exclusions drop lookups before they are counted; the correlation groups by "
    "Computer, Image and QueryName, so an entry on process, host and destination removes "
    "whole groups as the engine removes whole findings (a user glob drops events of that "
    "user only: the engine tests one user per finding)"
)


def _base(
    spec: ExportSpec,
    rule: ExportRule,
    *,
    name: str,
    title: str,
    description: str,
    logsource: dict[str, str],
    detection: dict[str, Any],
    level: str,
    fields: list[str],
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "title": title,
        "id": rule_uuid(name),
        "name": name,
        "status": "experimental",
        "description": description,
        "references": [
            f"https://attack.mitre.org/techniques/{t.replace('.', '/')}/"
            for t in rule.techniques[:2]
        ],
        "author": "relayhunt (generated)",
        "date": _date(spec),
        "tags": list(rule.attack_tags),
        "logsource": logsource,
        "detection": detection,
        "fields": fields,
        "falsepositives": list(rule.false_positives) or ["Unknown"],
        "level": level,
    }
    return doc


def _dump(header: list[str], docs: list[dict[str, Any]]) -> str:
    head = "".join(f"# {line}\n" for line in header)
    body = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=False, width=100)
    return head + body


def render(spec: ExportSpec) -> Rendered:
    files: list[ExportFile] = []
    browser_filter = {"filter_browser": {"Image|endswith": _image_endings(spec.browsers)}}
    r1 = spec.rules["RH-SL-001"]
    al = spec.allowlist
    p1 = al.plan("RH-SL-001", SYSMON_DNS, "Sysmon EID 22 (dns_query)") if al else None
    p1n = al.plan("RH-SL-001", SYSMON_NET, "Sysmon EID 3 (network_connection)") if al else None
    dns_detection = {
        **host_selections(spec, "QueryName"),
        **browser_filter,
        "condition": "1 of selection_host_* and not filter_browser",
    }
    dns_doc = _base(
        spec,
        r1,
        name="relayhunt_rh_sl_001_dns_query",
        title=r1.title + " (DNS query)",
        description=(
            r1.description + " Uses the name the process asked its resolver for (Sysmon "
            "EID 22 QueryName), not Sysmon EID 3 DestinationHostname, which is a reverse "
            "(PTR) lookup of the IP and for shared front ends names the CDN, not the tenant."
        ),
        logsource={"category": "dns_query", "product": "windows"},
        detection=_with_allow(dns_detection, p1),
        level="medium",
        fields=["Image", "QueryName", "QueryResults", "ProcessGuid"],
    )
    net_doc = _base(
        spec,
        r1,
        name="relayhunt_rh_sl_001_network_connection",
        title=r1.title + " (reverse DNS, weak)",
        description=(
            "Fallback for data without DNS query events. DestinationHostname in Sysmon "
            "EID 3 is the reverse (PTR) lookup of the destination IP, not the requested "
            "name: it is empty or a CDN name for most serverless front ends, so this rule "
            "misses most traffic and has low confidence. Prefer the dns_query rule."
        ),
        logsource={"category": "network_connection", "product": "windows"},
        detection=_with_allow(
            {
                **host_selections(spec, "DestinationHostname"),
                **browser_filter,
                "condition": "1 of selection_host_* and not filter_browser",
            },
            p1n,
        ),
        level="low",
        fields=["Image", "DestinationHostname", "DestinationIp", "DestinationPort"],
    )
    files.append(
        ExportFile(
            "sigma",
            "sigma/rh_sl_001_serverless_egress.yml",
            ("RH-SL-001",),
            _dump(
                header_lines(
                    spec,
                    r1,
                    language="Sigma",
                    detects="a non-browser process resolving (dns_query) or, as a weak "
                    "fallback, connecting to (network_connection) a catalogued serverless, "
                    "edge, PaaS or tunnel hostname.",
                    loses=[
                        "DNS-to-connection attribution (Sigma rules see one event at a time)",
                        "severity raised for LOLBins and user-writable image folders",
                        "grouping and ranking; one alert per event",
                    ],
                    sources=[
                        "Sysmon EID 22 (DnsQuery) with Image; EID 3 only as fallback",
                    ],
                    allowlist=al.header([p for p in (p1, p1n) if p]) if al else (),
                ),
                [dns_doc, net_doc],
            ),
        )
    )

    r2 = spec.rules["RH-SL-002"]
    p2 = al.plan("RH-SL-002", SYSMON_PROC, "Sysmon EID 1 (process_creation)") if al else None
    cmd_doc = _base(
        spec,
        r2,
        name="relayhunt_rh_sl_002_cmdline",
        title=r2.title,
        description=r2.description,
        logsource={"category": "process_creation", "product": "windows"},
        detection=_with_allow(
            {
                "selection": {"CommandLine|re|i": spec.cmdline_regex().removeprefix("(?i)")},
                "filter_browser": {"Image|endswith": _image_endings(spec.browsers)},
                "condition": "selection and not filter_browser",
            },
            p2,
        ),
        level="medium",
        fields=["Image", "CommandLine", "ParentImage", "User"],
    )
    files.append(
        ExportFile(
            "sigma",
            "sigma/rh_sl_002_cmdline_url.yml",
            ("RH-SL-002",),
            _dump(
                header_lines(
                    spec,
                    r2,
                    language="Sigma",
                    detects="a process started with a catalogued serverless hostname or URL "
                    "on its command line (label-bounded regex).",
                    loses=["severity raised for LOLBins", "grouping of repeated starts"],
                    sources=["Sysmon EID 1 / Security 4688 with command line"],
                    allowlist=al.header([p2]) if al and p2 else (),
                ),
                [cmd_doc],
            ),
        )
    )

    r3 = spec.rules["RH-SL-003"]
    ext_re = "|".join(spec.script_extensions)
    temp_re = r"\\(?:appdata\\local\\temp|windows\\temp|users\\public|programdata)\\"
    hosts_endings = _image_endings(spec.script_hosts)
    write_doc = _base(
        spec,
        r3,
        name="relayhunt_rh_sl_003_script_written",
        title="Script file written to a user-writable folder",
        description="Base rule of the RH-SL-003 correlation: a script file written to "
        "a temporary or public folder.",
        logsource={"category": "file_event", "product": "windows"},
        detection={
            "selection": {"TargetFilename|re|i": f"{temp_re}[^\\\\]+[.](?:{ext_re})$"},
            "condition": "selection",
        },
        level="low",
        fields=["Image", "TargetFilename"],
    )
    run_doc = _base(
        spec,
        r3,
        name="relayhunt_rh_sl_003_script_host_run",
        title="Script host runs a script from a user-writable folder",
        description="Base rule of the RH-SL-003 correlation.",
        logsource={"category": "process_creation", "product": "windows"},
        detection={
            "selection_image": {"Image|endswith": hosts_endings},
            "selection_script": {"CommandLine|re|i": f'{temp_re}[^\\\\"]+[.](?:{ext_re})\\b'},
            "condition": "all of selection_*",
        },
        level="medium",
        fields=["Image", "CommandLine", "ParentImage"],
    )
    dns3_doc = _base(
        spec,
        r3,
        name="relayhunt_rh_sl_003_script_host_dns",
        title="Script host resolves a serverless hostname",
        description="Base rule of the RH-SL-003 correlation.",
        logsource={"category": "dns_query", "product": "windows"},
        detection={
            **host_selections(spec, "QueryName"),
            "selection_image": {"Image|endswith": hosts_endings},
            "condition": "1 of selection_host_* and selection_image",
        },
        level="medium",
        fields=["Image", "QueryName"],
    )
    corr3: dict[str, Any] = {
        "title": r3.title,
        "id": rule_uuid("relayhunt_rh_sl_003_chain"),
        "status": "experimental",
        "description": r3.description,
        "author": "relayhunt (generated)",
        "date": _date(spec),
        "tags": list(r3.attack_tags),
        "correlation": {
            "type": "temporal_ordered",
            "rules": [
                "relayhunt_rh_sl_003_script_written",
                "relayhunt_rh_sl_003_script_host_run",
                "relayhunt_rh_sl_003_script_host_dns",
            ],
            "group-by": ["Computer"],
            "timespan": f"{int(r3.thresholds.get('write_to_run_s', 3600)) // 60}m",
        },
        "falsepositives": list(r3.false_positives),
        "level": "critical",
    }
    files.append(
        ExportFile(
            "sigma",
            "sigma/rh_sl_003_script_chain.yml",
            ("RH-SL-003",),
            _dump(
                header_lines(
                    spec,
                    r3,
                    language="Sigma correlation (temporal_ordered)",
                    detects="a script written to a temporary/public folder, a script host "
                    "running a script from such a folder, and a script host resolving a "
                    "serverless hostname, in that order on one computer within the window.",
                    loses=[
                        "the engine joins the three on the script's file name and the "
                        "script host's process entity; Sigma correlations can only group "
                        "by a field common to all three (the computer)",
                        "the high-severity variant without a file write",
                    ],
                    sources=["Sysmon EID 11, EID 1, EID 22"],
                    allowlist=al.header([al.skipped_all("RH-SL-003", CHAIN_WHY)]) if al else (),
                ),
                [corr3, write_doc, run_doc, dns3_doc],
            ),
        )
    )

    r5 = spec.rules["RH-SL-005"]
    b = spec.beacon
    p5 = al.plan("RH-SL-005", SYSMON_DNS, "Sysmon EID 22 (dns_query)") if al else None
    base5 = _base(
        spec,
        r5,
        name="relayhunt_rh_sl_005_serverless_lookup",
        title="Non-browser process resolves a serverless hostname (beacon base rule)",
        description="Base rule of the RH-SL-005 correlation.",
        logsource={"category": "dns_query", "product": "windows"},
        detection=_with_allow(dns_detection, p5),
        level="low",
        fields=["Image", "QueryName"],
    )
    corr5: dict[str, Any] = {
        "title": "Repeated serverless lookups by one process image (beacon candidate)",
        "id": rule_uuid("relayhunt_rh_sl_005_count"),
        "status": "experimental",
        "description": (
            f"At least {b.min_checkins} lookups of one serverless hostname by one image on "
            f"one computer within {b.window_h} h. A count, not a timing test: see the header."
        ),
        "author": "relayhunt (generated)",
        "date": _date(spec),
        "tags": list(r5.attack_tags),
        "correlation": {
            "type": "event_count",
            "rules": ["relayhunt_rh_sl_005_serverless_lookup"],
            "group-by": ["Computer", "Image", "QueryName"],
            "timespan": f"{b.window_h}h",
            "condition": {"gte": b.min_checkins},
        },
        "falsepositives": list(r5.false_positives),
        "level": "medium",
    }
    files.append(
        ExportFile(
            "sigma",
            "sigma/rh_sl_005_beacon_count.yml",
            ("RH-SL-005",),
            _dump(
                header_lines(
                    spec,
                    r5,
                    language="Sigma correlation (event_count)",
                    detects="repeated lookups of one serverless hostname by one non-browser "
                    "image (grouped by image, not process entity, so a loop starting a new "
                    "curl.exe per beat is one group).",
                    loses=[
                        "every timing statistic: Sigma correlations count events, they "
                        "cannot test intervals (no Moran/periodogram p-values, jitter, "
                        "missed beats, pauses), payload regularity or fleet prevalence",
                        "beacons to non-serverless destinations",
                    ],
                    sources=["Sysmon EID 22 with Image"],
                    tuning=[
                        f"raise condition gte ({b.min_checkins}) or shorten the timespan for "
                        "chatty developer tools"
                    ],
                    allowlist=([*al.header([p5] if p5 else []), BEACON_ALLOW_NOTE] if al else ()),
                ),
                [corr5, base5],
            ),
        )
    )
    files.extend(render_cloud(spec))
    omitted = (
        Omission(
            "sigma",
            "RH-SL-004",
            "tenant rarity needs the tenant (PSL-derived per catalog entry) and a fleet-wide "
            "distinct-host count per tenant; Sigma has neither field extraction nor a "
            "fleet baseline",
        ),
    )
    return Rendered(tuple(files), omitted)


# -- RH-CP-001..005: cloud control plane --------------------------------------------------

AWS_LOGSOURCE = {"product": "aws", "service": "cloudtrail"}
GCP_LOGSOURCE = {"product": "gcp", "service": "gcp.audit"}
AZURE_LOGSOURCE = {"product": "azure", "service": "activitylogs"}
AWS_PRINCIPALS = ("userIdentity.arn", "userIdentity.sessionContext.sessionIssuer.arn")
GCP_PRINCIPAL = "gcp.audit.authentication_info.principal_email"
AZURE_PRINCIPAL = "Caller"


def _deployer_filter(spec: ExportSpec, fields: tuple[str, ...]) -> dict[str, Any]:
    """``filter_deployer``: any principal field matches a deployer glob (Sigma wildcards
    are the globs' own ``*`` and ``?``); empty when no deployer is listed."""
    if not spec.deployers:
        return {}
    globs = [g.replace("\\", "\\\\") for g in spec.deployers]
    return {"filter_deployer": [{f: list(globs)} for f in fields]}


def _cond(detection: dict[str, Any], positive: str) -> dict[str, Any]:
    if "filter_deployer" in detection:
        return {**detection, "condition": f"({positive}) and not filter_deployer"}
    return {**detection, "condition": positive}


def _aws_ops(ops: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [{"eventSource": o.source, "eventName|re": o.regex, "errorCode": None} for o in ops]


def _azure_ops(suffixes: tuple[str, ...], exact: tuple[str, ...] = ()) -> dict[str, Any]:
    sel: dict[str, Any] = {
        "operationName|startswith": sigma_value(cloud.AZURE_PREFIX),
        "operationName|endswith": [sigma_value(s) for s in suffixes],
        "resultType": "Success",
    }
    return {
        "selection": sel,
        **(
            {"selection_exact": {"operationName": list(exact), "resultType": "Success"}}
            if exact
            else {}
        ),
    }


def _cloud_header(
    spec: ExportSpec,
    rule: ExportRule,
    detects: str,
    extra: list[str],
    sources: list[str],
    language: str = "Sigma",
) -> list[str]:
    return header_lines(
        spec,
        rule,
        language=language,
        detects=detects,
        loses=[*cloud.CLOUD_LOSSES, *extra],
        sources=sources,
        tuning=[
            "deployer globs rendered in: "
            + (", ".join(spec.deployers) if spec.deployers else "none (pass --config)")
        ],
        allowlist=skipped_header(spec.allowlist, rule.id, CLOUD_WHY),
    )


CLOUD_SOURCES = [
    "AWS CloudTrail (management events; Lambda Invoke needs data events), SigmaHQ field "
    "names (eventSource, eventName, userIdentity.*, requestParameters.*)",
    "Google Cloud Admin Activity audit logs, fields as the Elastic GCP integration and "
    "SigmaHQ name them (gcp.audit.method_name, gcp.audit.authentication_info.*, "
    "gcp.audit.service_data.*)",
    "Azure Activity Log (operationName, resultType, Caller as the Activity Log API and "
    "Sentinel AzureActivity give it)",
]


def render_cloud(spec: ExportSpec) -> list[ExportFile]:
    """The RH-CP Sigma files: one file per rule, one document per provider."""
    out: list[ExportFile] = []
    aws_dep = _deployer_filter(spec, AWS_PRINCIPALS)
    gcp_dep = _deployer_filter(spec, (GCP_PRINCIPAL,))
    az_dep = _deployer_filter(spec, (AZURE_PRINCIPAL,))

    def doc(
        rule: ExportRule,
        name: str,
        title: str,
        logsource: dict[str, str],
        detection: dict[str, Any],
        level: str,
        fields: list[str],
    ) -> dict[str, Any]:
        return _base(
            spec,
            rule,
            name=name,
            title=title,
            description=rule.description,
            logsource=logsource,
            detection=detection,
            level=level,
            fields=fields,
        )

    aws_fields = [
        "eventTime",
        "eventSource",
        "eventName",
        "userIdentity.arn",
        "sourceIPAddress",
        "userAgent",
        "requestParameters.functionName",
    ]
    gcp_fields = [
        "gcp.audit.method_name",
        GCP_PRINCIPAL,
        "gcp.audit.resource_name",
        "gcp.audit.request_metadata.caller_ip",
    ]
    az_fields = ["operationName", AZURE_PRINCIPAL, "resourceId", "callerIpAddress"]

    # RH-CP-001
    r = spec.rules["RH-CP-001"]
    docs = [
        doc(
            r,
            "relayhunt_rh_cp_001_aws",
            r.title + " (AWS)",
            AWS_LOGSOURCE,
            _cond({"selection": _aws_ops(cloud.AWS_CHANGE), **aws_dep}, "selection"),
            "high",
            aws_fields,
        ),
        doc(
            r,
            "relayhunt_rh_cp_001_gcp",
            r.title + " (Google Cloud)",
            GCP_LOGSOURCE,
            _cond(
                {
                    "selection": {
                        "gcp.audit.service_name": list(cloud.GCP_SERVICES),
                        "gcp.audit.method_name|endswith": list(cloud.GCP_CHANGE),
                    },
                    **gcp_dep,
                },
                "selection",
            ),
            "high",
            gcp_fields,
        ),
        doc(
            r,
            "relayhunt_rh_cp_001_azure",
            r.title + " (Azure)",
            AZURE_LOGSOURCE,
            _cond(
                {**_azure_ops(cloud.AZURE_CHANGE_SUFFIXES, cloud.AZURE_CHANGE_EXACT), **az_dep},
                "1 of selection*",
            ),
            "high",
            az_fields,
        ),
    ]
    out.append(
        ExportFile(
            "sigma",
            "sigma/rh_cp_001_function_changed.yml",
            (r.id,),
            _dump(
                _cloud_header(
                    spec,
                    r,
                    "code or configuration changes of Lambda / CloudFront "
                    "functions, Cloud Functions / Cloud Run services and Azure Function "
                    "Apps by any principal not listed as a deployer.",
                    ["high vs medium severity by code/layers vs other settings"],
                    CLOUD_SOURCES,
                ),
                docs,
            ),
        )
    )

    # RH-CP-002
    r = spec.rules["RH-CP-002"]
    members = list(cloud.GCP_PUBLIC_MEMBERS)
    docs = [
        doc(
            r,
            "relayhunt_rh_cp_002_aws",
            r.title + " (AWS)",
            AWS_LOGSOURCE,
            _cond(
                {
                    "selection_url": {
                        "eventSource": "lambda.amazonaws.com",
                        "eventName|re": cloud.AWS_PUBLIC_URL,
                        "requestParameters.authType": "NONE",
                        "errorCode": None,
                    },
                    "selection_permission": {
                        "eventSource": "lambda.amazonaws.com",
                        "eventName|re": cloud.AWS_ADD_PERMISSION,
                        "requestParameters.principal|re": "^[*]$",
                        "errorCode": None,
                    },
                    **aws_dep,
                },
                "1 of selection_*",
            ),
            "high",
            [*aws_fields, "requestParameters.authType", "requestParameters.principal"],
        ),
        doc(
            r,
            "relayhunt_rh_cp_002_gcp",
            r.title + " (Google Cloud)",
            GCP_LOGSOURCE,
            _cond(
                {
                    "selection_method": {
                        "gcp.audit.service_name": list(cloud.GCP_SERVICES),
                        "gcp.audit.method_name|endswith": ".SetIamPolicy",
                    },
                    "selection_delta": {
                        "gcp.audit.service_data.policy_delta.binding_deltas|contains": members
                    },
                    "selection_policy": {"gcp.audit.request.policy.bindings|contains": members},
                    **gcp_dep,
                },
                "selection_method and 1 of selection_delta, selection_policy".replace(
                    "1 of selection_delta, selection_policy",
                    "(selection_delta or selection_policy)",
                ),
            ),
            "high",
            gcp_fields,
        ),
        doc(
            r,
            "relayhunt_rh_cp_002_azure",
            r.title + " (Azure)",
            AZURE_LOGSOURCE,
            _cond(
                {
                    "selection_keys": {
                        "operationName|endswith": [
                            sigma_value(s) for s in cloud.AZURE_KEY_SUFFIXES
                        ],
                        "resultType": "Success",
                    },
                    "selection_host_keys": {
                        "operationName|re": cloud.AZURE_HOST_KEYS_RE,
                        "resultType": "Success",
                    },
                    "selection_anonymous": {
                        "operationName|endswith": ["/FUNCTIONS/WRITE", "/CONFIG/WRITE"],
                        "properties.requestbody|re": cloud.AZURE_ANON_RE,
                    },
                    **az_dep,
                },
                "1 of selection_*",
            ),
            "high",
            az_fields,
        ),
    ]
    out.append(
        ExportFile(
            "sigma",
            "sigma/rh_cp_002_function_public.yml",
            (r.id,),
            _dump(
                _cloud_header(
                    spec,
                    r,
                    "a function opened to anyone: Lambda URL with AuthType NONE or "
                    "AddPermission to *, SetIamPolicy adding allUsers / "
                    "allAuthenticatedUsers, Azure function or host keys written or "
                    "authLevel anonymous.",
                    [
                        "Google Cloud: the delta's ADD action is not checked per member (a "
                        "removal of allUsers also matches); Cloudflare routes are not "
                        "exported (no Sigma logsource for Cloudflare audit logs)"
                    ],
                    CLOUD_SOURCES,
                ),
                docs,
            ),
        )
    )

    # RH-CP-003
    r = spec.rules["RH-CP-003"]
    docs = [
        doc(
            r,
            "relayhunt_rh_cp_003_aws",
            r.title + " (AWS)",
            AWS_LOGSOURCE,
            _cond({"selection": _aws_ops(cloud.AWS_CREATE), **aws_dep}, "selection"),
            "medium",
            aws_fields,
        ),
        doc(
            r,
            "relayhunt_rh_cp_003_gcp",
            r.title + " (Google Cloud)",
            GCP_LOGSOURCE,
            _cond(
                {
                    "selection": {"gcp.audit.method_name|endswith": list(cloud.GCP_CREATE)},
                    **gcp_dep,
                },
                "selection",
            ),
            "medium",
            gcp_fields,
        ),
    ]
    out.append(
        ExportFile(
            "sigma",
            "sigma/rh_cp_003_function_created.yml",
            (r.id,),
            _dump(
                _cloud_header(
                    spec,
                    r,
                    "a function, Cloud Run service or API created by a principal "
                    "not listed as a deployer.",
                    [
                        "the 'established deployer from a never-seen address' case (needs "
                        "each principal's address history)",
                        "Azure: the Activity Log has "
                        "no create distinct from update (see RH-CP-001)",
                    ],
                    CLOUD_SOURCES,
                ),
                docs,
            ),
        )
    )

    # RH-CP-004: correlation
    r = spec.rules["RH-CP-004"]
    window = int(r.thresholds.get("window_s", 3600))
    list_doc = doc(
        r,
        "relayhunt_rh_cp_004_aws_list",
        "Lambda functions listed (base rule)",
        AWS_LOGSOURCE,
        {
            "selection": {"eventSource": "lambda.amazonaws.com", "eventName|re": cloud.AWS_LIST},
            "condition": "selection",
        },
        "informational",
        aws_fields,
    )
    inv_doc = doc(
        r,
        "relayhunt_rh_cp_004_aws_invoke",
        "Lambda function invoked from a CLI or SDK (base rule)",
        AWS_LOGSOURCE,
        _cond(
            {
                "selection": {
                    "eventSource": "lambda.amazonaws.com",
                    "eventName|re": cloud.AWS_INVOKE,
                    "errorCode": None,
                    "userAgent|contains": list(cloud.AWS_TOOL_AGENTS),
                },
                **aws_dep,
            },
            "selection",
        ),
        "low",
        aws_fields,
    )
    corr4: dict[str, Any] = {
        "title": r.title + " (AWS)",
        "id": rule_uuid("relayhunt_rh_cp_004_aws"),
        "status": "experimental",
        "description": r.description,
        "author": "relayhunt (generated)",
        "date": _date(spec),
        "tags": list(r.attack_tags),
        "correlation": {
            "type": "temporal_ordered",
            "rules": ["relayhunt_rh_cp_004_aws_list", "relayhunt_rh_cp_004_aws_invoke"],
            "group-by": ["userIdentity.arn"],
            "timespan": f"{window // 60}m",
        },
        "falsepositives": list(r.false_positives),
        "level": "medium",
    }
    out.append(
        ExportFile(
            "sigma",
            "sigma/rh_cp_004_enumerate_then_invoke.yml",
            (r.id,),
            _dump(
                _cloud_header(
                    spec,
                    r,
                    "a principal lists the Lambda functions and then invokes one "
                    "with a CLI or SDK within the window (Sigma temporal_ordered).",
                    [
                        "grouped by userIdentity.arn: an assumed role's sessions each "
                        "have their own ARN",
                        "Google Cloud and Azure (no correlation here; "
                        "the engine covers ListFunctions/CallFunction on Google Cloud)",
                    ],
                    CLOUD_SOURCES[:1],
                    language="Sigma correlation (temporal_ordered)",
                ),
                [corr4, list_doc, inv_doc],
            ),
        )
    )

    # RH-CP-005: correlation
    r = spec.rules["RH-CP-005"]
    window = int(r.thresholds.get("window_s", 3600))
    min_failures = int(r.thresholds.get("min_failures", 5))
    denied_doc = doc(
        r,
        "relayhunt_rh_cp_005_aws_denied",
        "Function API call denied (base rule)",
        AWS_LOGSOURCE,
        {
            "selection": {
                "eventSource": list(cloud.AWS_SERVICES),
                "errorCode": list(cloud.AWS_DENIED),
            },
            "condition": "selection",
        },
        "informational",
        [*aws_fields, "errorCode"],
    )
    corr5: dict[str, Any] = {
        "title": r.title + " (AWS)",
        "id": rule_uuid("relayhunt_rh_cp_005_aws"),
        "status": "experimental",
        "description": r.description,
        "author": "relayhunt (generated)",
        "date": _date(spec),
        "tags": list(r.attack_tags),
        "correlation": {
            "type": "event_count",
            "rules": ["relayhunt_rh_cp_005_aws_denied"],
            "group-by": ["userIdentity.arn"],
            "timespan": f"{window // 60}m",
            "condition": {"gte": min_failures},
        },
        "falsepositives": list(r.false_positives),
        "level": "medium",
    }
    out.append(
        ExportFile(
            "sigma",
            "sigma/rh_cp_005_repeated_access_denied.yml",
            (r.id,),
            _dump(
                _cloud_header(
                    spec,
                    r,
                    f"at least {min_failures} denied Lambda / API Gateway / "
                    "CloudFront calls by one principal within the window (Sigma "
                    "event_count).",
                    [
                        "the error-message fallback (not authorized ...) and the severity "
                        "by number of distinct operations",
                        "Google Cloud and Azure",
                    ],
                    CLOUD_SOURCES[:1],
                    language="Sigma correlation (event_count)",
                ),
                [corr5, denied_doc],
            ),
        )
    )
    return out
