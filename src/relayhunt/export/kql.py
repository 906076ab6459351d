"""KQL for Microsoft Defender XDR advanced hunting and Microsoft Sentinel
(``DeviceNetworkEvents``, ``DeviceEvents`` with ``ActionType == "DnsQueryResponse"``,
``DeviceProcessEvents``, ``DeviceFileEvents``)."""

from __future__ import annotations

import re

from relayhunt.export import cloud
from relayhunt.export.allowlist import (
    CHAIN_WHY,
    CLOUD_WHY,
    RARITY_WHY,
    Column,
    GlobTest,
    Plan,
    header_for,
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
from relayhunt.export.escape import kql_string
from relayhunt.export.model import ExportSpec


def _dyn(values: tuple[str, ...]) -> str:
    return "dynamic([" + ", ".join(kql_string(v) for v in values) + "])"


def prelude(spec: ExportSpec) -> str:
    """The ``let`` statements every query shares: catalog regex and process classes."""
    return (
        f"let ServerlessHostRegex = {kql_string(spec.host_regex())};\n"
        f"let BrowserProcesses = {_dyn(spec.browsers)};\n"
        f"let LolbinProcesses = {_dyn(spec.all_lolbins)};\n"
    )


# The host part of RemoteUrl (Defender writes a bare hostname or a URL).
_URL_HOST = (
    'tolower(extract(@"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^@/?#]*@)?([^:/?#]+)", 1, RemoteUrl))'
)

_DNS_EVENTS = """DeviceEvents
| where ActionType == "DnsQueryResponse"
| extend QueryName = tolower(trim_end(@"\\.",
    tostring(parse_json(AdditionalFields).DnsQueryString)))"""


# -- the tuning file's allowlist (allowlist.py) ----------------------------------------

NET_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": (
        Column("InitiatingProcessFolderPath", "full"),
        Column("InitiatingProcessFileName", "name"),
    ),
    "parent": (Column("InitiatingProcessParentFileName", "name"),),
    "user": (Column("InitiatingProcessAccountName", "full"),),
    "host": (Column("DeviceName", "full"),),
    "destination": (Column("DestinationHost", "host"),),
    "command_line": (Column("InitiatingProcessCommandLine", "full"),),
}
"""DeviceNetworkEvents / DeviceEvents (DnsQueryResponse), after DestinationHost is set:
Defender gives the parent's file name only."""
PROC_COLUMNS: dict[str, tuple[Column, ...]] = {
    "process": (Column("FolderPath", "full"), Column("FileName", "name")),
    "parent": (
        Column("InitiatingProcessFolderPath", "full"),
        Column("InitiatingProcessFileName", "name"),
    ),
    "user": (Column("AccountName", "full"),),
    "host": (Column("DeviceName", "full"),),
    "command_line": (Column("ProcessCommandLine", "full"),),
}
"""DeviceProcessEvents: no destination (the engine's is the hostname taken from the
command line; a per-event query cannot tell which name an exclusion is about)."""
NET_EVENT = "DeviceNetworkEvents / DeviceEvents DnsQueryResponse"
PROC_EVENT = "DeviceProcessEvents"


def _kql_test(t: GlobTest) -> str:
    return f"{t.column.name} matches regex {kql_string('(?i)' + t.regex())}"


def allow_where(plan: Plan | None) -> str:
    """``| where not(...)`` for the plan's exclusions; empty when there are none."""
    pred = predicate(plan, _kql_test, indent="\n      ")
    return f"| where not{pred}\n" if pred else ""


def _plan(
    spec: ExportSpec, rule_id: str, columns: dict[str, tuple[Column, ...]], event: str
) -> Plan | None:
    return spec.allowlist.plan(rule_id, columns, event) if spec.allowlist else None


def _egress(spec: ExportSpec) -> str:
    allow = allow_where(_plan(spec, "RH-SL-001", NET_COLUMNS, NET_EVENT))
    return (
        prelude(spec)
        + f"""let Lookback = 1d;
let Connections = DeviceNetworkEvents
| where Timestamp > ago(Lookback)
| where isnotempty(RemoteUrl)
| extend DestinationHost = {_URL_HOST}
| where DestinationHost matches regex ServerlessHostRegex
| extend Evidence = "RemoteUrl", ProcessName = tolower(InitiatingProcessFileName);
let Lookups = {_DNS_EVENTS}
| where Timestamp > ago(Lookback)
| where QueryName matches regex ServerlessHostRegex
| extend DestinationHost = QueryName, Evidence = "DnsQueryResponse",
         ProcessName = tolower(InitiatingProcessFileName);
union Connections, Lookups
| where not(ProcessName in (BrowserProcesses))
{allow}| summarize FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Events = count(),
            Evidence = make_set(Evidence), Pids = make_set(InitiatingProcessId, 20),
            CommandLine = take_any(InitiatingProcessCommandLine),
            Account = take_any(InitiatingProcessAccountName),
            RemoteIPs = make_set(RemoteIP, 10)
  by DeviceName, ProcessName, InitiatingProcessFolderPath,
     InitiatingProcessParentFileName, DestinationHost
| extend Severity = iff(ProcessName in (LolbinProcesses), "High", "Medium")
| order by Severity asc, Events desc
"""
    )


def _cmdline(spec: ExportSpec) -> str:
    return (
        f"let CmdlineHostRegex = {kql_string(spec.cmdline_regex())};\n"
        + f"let BrowserProcesses = {_dyn(spec.browsers)};\n"
        + f"let LolbinProcesses = {_dyn(spec.all_lolbins)};\n"
        + """DeviceProcessEvents
| where Timestamp > ago(1d)
| where ProcessCommandLine matches regex CmdlineHostRegex
| extend ProcessName = tolower(FileName)
| where not(ProcessName in (BrowserProcesses))
"""
        + allow_where(_plan(spec, "RH-SL-002", PROC_COLUMNS, PROC_EVENT))
        + """| summarize FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Starts = count(),
            CommandLine = take_any(ProcessCommandLine), Pids = make_set(ProcessId, 20)
  by DeviceName, ProcessName, FolderPath, InitiatingProcessFileName
| extend Severity = iff(ProcessName in (LolbinProcesses), "High", "Medium")
"""
    )


def _chain(spec: ExportSpec) -> str:
    ext = "|".join(spec.script_extensions)
    script_re = (
        r"(?i)\\(?:appdata\\local\\temp|windows\\temp|users\\public|programdata)\\"
        r"[^\\" + '"' + r"]+[.](?:" + ext + r")\b"
    )
    return (
        prelude(spec)
        + f"let ScriptHosts = {_dyn(spec.script_hosts)};\n"
        + f"let ScriptExtensions = {_dyn(spec.script_extensions)};\n"
        + f"let ScriptInTempRegex = {kql_string(script_re)};\n"
        + """let Window = 1h;
let Writes = DeviceFileEvents
| where Timestamp > ago(1d) and ActionType == "FileCreated"
| where tolower(tostring(split(FileName, ".")[-1])) in (ScriptExtensions)
| where FolderPath matches regex ScriptInTempRegex
| project WriteTime = Timestamp, DeviceId, ScriptName = tolower(FileName), ScriptPath = FolderPath,
          Writer = InitiatingProcessFileName, WriterCommandLine = InitiatingProcessCommandLine;
let Runs = DeviceProcessEvents
| where Timestamp > ago(1d) and tolower(FileName) in (ScriptHosts)
| where ProcessCommandLine matches regex ScriptInTempRegex
| project RunTime = Timestamp, DeviceId, DeviceName, ScriptHost = FileName, ProcessId,
          ProcessCommandLine, HostCommandLower = tolower(ProcessCommandLine);
let Egress = union
    (DeviceNetworkEvents | where Timestamp > ago(1d) and isnotempty(RemoteUrl)
     | extend DestinationHost = """
        + _URL_HOST
        + """),
    ("""
        + _DNS_EVENTS.replace("\n", "\n     ")
        + """
     | where Timestamp > ago(1d) | extend DestinationHost = QueryName)
| where DestinationHost matches regex ServerlessHostRegex
| project EgressTime = Timestamp, DeviceId, ProcessId = InitiatingProcessId,
          ProcessName = tolower(InitiatingProcessFileName), DestinationHost;
Runs
| join kind=inner (Egress) on DeviceId, ProcessId
| where EgressTime between (RunTime .. (RunTime + Window))
| join kind=leftouter (Writes) on DeviceId
| where isempty(ScriptName)
    or (HostCommandLower has ScriptName and WriteTime between ((RunTime - Window) .. RunTime))
| summarize FirstEgress = min(EgressTime), Destinations = make_set(DestinationHost, 10),
            Writer = take_any(Writer), ScriptPath = take_any(ScriptPath)
  by DeviceName, ScriptHost, ProcessCommandLine, RunTime
| extend Severity = iff(isnotempty(Writer), "Critical", "High")
"""
    )


def _beacon(spec: ExportSpec) -> str:
    b = spec.beacon
    moran = b.moran_z_expr("log(MeanGap) - LnMeanGap", "Gaps")
    allow = allow_where(_plan(spec, "RH-SL-005", NET_COLUMNS, NET_EVENT))
    return (
        prelude(spec)
        + f"""let Lookback = {b.window_h}h;
let MinCheckins = {b.min_checkins};
let MinHours = {b.min_hours};
let MaxIntervalCv = {b.max_interval_cv};
let MaxMoranZ = {-b.moran_z};  // Moran's statistic this many sd below random (Poisson) timing
let MergeSeconds = {b.merge_s};
let Events = union
    (DeviceNetworkEvents | where Timestamp > ago(Lookback) and isnotempty(RemoteUrl)
     | extend DestinationHost = {_URL_HOST}),
    ({_DNS_EVENTS.replace(chr(10), chr(10) + "     ")}
     | where Timestamp > ago(Lookback) | extend DestinationHost = QueryName)
| where DestinationHost matches regex ServerlessHostRegex
| extend ProcessName = tolower(InitiatingProcessFileName)
| where not(ProcessName in (BrowserProcesses))
{allow}| project Timestamp, DeviceName, ProcessName,
          ParentName = tolower(InitiatingProcessParentFileName), DestinationHost;
// Check-ins: events of one group less than MergeSeconds apart are one check-in.
let Gaps = Events
| sort by DeviceName asc, ProcessName asc, ParentName asc, DestinationHost asc, Timestamp asc
| extend SameGroup = DeviceName == prev(DeviceName) and ProcessName == prev(ProcessName)
                     and ParentName == prev(ParentName) and DestinationHost == prev(DestinationHost)
| extend GapSeconds = iff(SameGroup,
    datetime_diff("millisecond", Timestamp, prev(Timestamp)) / 1000.0, real(null))
| where isnull(GapSeconds) or GapSeconds >= MergeSeconds
| summarize Checkins = count(), FirstSeen = min(Timestamp), LastSeen = max(Timestamp),
            Hours = dcount(bin(Timestamp, 1h)), MeanGap = avg(GapSeconds),
            StdevGap = stdev(GapSeconds), LnMeanGap = avg(log(GapSeconds)),
            Gaps = countif(isnotnull(GapSeconds)), MedianGap = percentile(GapSeconds, 50)
  by DeviceName, ProcessName, ParentName, DestinationHost
| where Checkins >= MinCheckins and Hours >= MinHours
| extend IntervalCv = iff(MeanGap > 0, StdevGap / MeanGap, real(null)),
         MoranZ = iff(Gaps >= 3, {moran}, real(null));
// Periodicity: per group, a 1-minute count series and its dominant period.
let Periods = Events
| make-series Hits = count() default = 0 on Timestamp from ago(Lookback) to now() step 1m
  by DeviceName, ProcessName, ParentName, DestinationHost
| extend (Periods, Scores) = series_periods_detect(Hits, 2.0, 720.0, 2)
| extend TopPeriodMinutes = todouble(Periods[0]), TopPeriodScore = todouble(Scores[0])
| project DeviceName, ProcessName, ParentName, DestinationHost, TopPeriodMinutes, TopPeriodScore;
Gaps
| join kind=leftouter (Periods) on DeviceName, ProcessName, ParentName, DestinationHost
| where IntervalCv <= MaxIntervalCv or MoranZ <= MaxMoranZ or TopPeriodScore >= 0.5
| extend Severity = iff(ProcessName in (LolbinProcesses), "High", "Medium")
| project FirstSeen, LastSeen, DeviceName, ProcessName, ParentName, DestinationHost, Checkins,
          Hours, MeanGap, MedianGap, IntervalCv, MoranZ, TopPeriodMinutes, TopPeriodScore,
          Severity
| order by MoranZ asc
"""
    )


def _rarity(spec: ExportSpec) -> str:
    t = spec.rules["RH-SL-004"].thresholds
    return (
        prelude(spec)
        + f"""let TenantRegex = {kql_string(spec.tenant_regex())};
let Lookback = 7d;
let MinFleet = {int(t["min_fleet"])};
let MaxHosts = {int(t["max_hosts"])};
let MaxFleetFraction = {float(t["max_fleet_fraction"])};
let NoveltyAfter = {int(t["novelty_after_s"])}s;
// The fleet: every device that sent network events in the lookback.
let FleetHosts = toscalar(DeviceNetworkEvents | where Timestamp > ago(Lookback)
    | summarize dcount(DeviceId));
let Contacts = union
    (DeviceNetworkEvents | where Timestamp > ago(Lookback) and isnotempty(RemoteUrl)
     | extend DestinationHost = {_URL_HOST}),
    ({_DNS_EVENTS.replace(chr(10), chr(10) + "     ")}
     | where Timestamp > ago(Lookback) | extend DestinationHost = QueryName)
| where DestinationHost matches regex ServerlessHostRegex
| extend ProcessName = tolower(InitiatingProcessFileName)
| where not(ProcessName in (BrowserProcesses))
| extend Tenant = coalesce(extract(TenantRegex, 1, DestinationHost), DestinationHost)
| project Timestamp, DeviceId, DeviceName, ProcessName, Tenant, DestinationHost;
let Tenants = Contacts
| summarize TenantHosts = dcount(DeviceId), TenantFirstSeen = min(Timestamp) by Tenant;
Contacts
| summarize FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Events = count(),
            Processes = make_set(ProcessName, 10), Hostnames = make_set(DestinationHost, 10)
  by Tenant, DeviceId, DeviceName
| join kind=inner (Tenants) on Tenant
| extend Rare = FleetHosts >= MinFleet and TenantHosts <= MaxHosts
                and TenantHosts <= MaxFleetFraction * FleetHosts,
         New = TenantFirstSeen > ago(Lookback) + NoveltyAfter
| where Rare or New
| extend Severity = "Low"
| project FirstSeen, LastSeen, DeviceName, Tenant, TenantHosts, FleetHosts, Rare, New,
          TenantFirstSeen, Processes, Hostnames, Events, Severity
"""
    )


SOURCES_NET = [
    "Defender for Endpoint DeviceNetworkEvents (RemoteUrl, InitiatingProcess*)",
    'DeviceEvents ActionType == "DnsQueryResponse" (AdditionalFields.DnsQueryString)',
]


def render(spec: ExportSpec) -> Rendered:
    r1, r2, r3, r5 = (spec.rules[i] for i in ("RH-SL-001", "RH-SL-002", "RH-SL-003", "RH-SL-005"))
    files = [
        ExportFile(
            "kql",
            "kql/RH-SL-001_serverless_egress.kql",
            (r1.id,),
            comment_block(
                header_lines(
                    spec,
                    r1,
                    language="KQL, Defender XDR / Sentinel",
                    detects="non-browser processes whose connection names (RemoteUrl) or "
                    "DNS lookups (DnsQueryResponse) match the catalog; one row per device, "
                    "image, parent and hostname; High for LOLBins.",
                    loses=[
                        *COMMON_LOSSES,
                        "connections with an empty RemoteUrl are not joined to the process's "
                        "DNS answers (Defender's DnsQueryResponse answers are not reliably "
                        "populated), so an IP-only connection is seen through its lookup only",
                        "user-writable image folder context",
                    ],
                    sources=SOURCES_NET,
                    allowlist=header_for(
                        spec.allowlist,
                        [p for p in [_plan(spec, "RH-SL-001", NET_COLUMNS, NET_EVENT)] if p],
                    ),
                )
            )
            + _egress(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-SL-002_cmdline_url.kql",
            (r2.id,),
            comment_block(
                header_lines(
                    spec,
                    r2,
                    language="KQL, Defender XDR / Sentinel",
                    detects="process starts with a catalogued hostname on the command line "
                    "(label-bounded regex).",
                    loses=["the engine also extracts and reports the tenant"],
                    sources=["DeviceProcessEvents (ProcessCommandLine)"],
                    allowlist=header_for(
                        spec.allowlist,
                        [p for p in [_plan(spec, "RH-SL-002", PROC_COLUMNS, PROC_EVENT)] if p],
                    ),
                )
            )
            + _cmdline(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-SL-003_script_chain.kql",
            (r3.id,),
            comment_block(
                header_lines(
                    spec,
                    r3,
                    language="KQL, Defender XDR / Sentinel",
                    detects="a script host started on a script in a temporary/public folder "
                    "that then contacts or resolves a serverless host from the same "
                    "process; Critical when the file write is in the data.",
                    loses=[
                        "the write is matched on the file name appearing in the command "
                        "line (has), not on a parsed path",
                    ],
                    sources=[*SOURCES_NET, "DeviceProcessEvents", "DeviceFileEvents"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-003", CHAIN_WHY),
                )
            )
            + _chain(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-SL-004_rare_tenant.kql",
            (spec.rules["RH-SL-004"].id,),
            comment_block(
                header_lines(
                    spec,
                    spec.rules["RH-SL-004"],
                    language="KQL, Defender XDR / Sentinel",
                    detects="a serverless tenant that at most MaxHosts devices (and at most "
                    "MaxFleetFraction of the fleet) contact from non-browser processes, or "
                    "that is first seen more than NoveltyAfter into the lookback.",
                    loses=[
                        "the tenant is one label left of the catalog pattern, not the "
                        "engine's per-entry derivation (PSL and tenant_labels overrides)",
                        "dcount() is an estimate (HyperLogLog); exact at these sizes",
                        "novelty counts from the start of Lookback, not from each host's "
                        "first data",
                    ],
                    sources=SOURCES_NET,
                    tuning=["MinFleet, MaxHosts, MaxFleetFraction, Lookback"],
                    allowlist=skipped_header(spec.allowlist, "RH-SL-004", RARITY_WHY),
                )
            )
            + _rarity(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-SL-005_beacon.kql",
            (r5.id,),
            comment_block(
                header_lines(
                    spec,
                    r5,
                    language="KQL, Defender XDR / Sentinel",
                    detects="regular check-ins from one non-browser image to one serverless "
                    "host: merged check-ins, interval mean/stdev/median, coefficient of "
                    "variation, Moran's statistic as a z-score against random (Poisson) "
                    "timing (the engine's candidate cut), distinct hours, plus "
                    "series_periods_detect on a 1-minute series.",
                    loses=[
                        "exact p-values: KQL has no gamma CDF, so Moran's statistic is cut "
                        "at a z-score (normal approximation, the engine's candidate cut) "
                        "and pauses are not excluded from it",
                        "missed-beat folding and pause handling",
                        "payload regularity (Defender records no bytes per connection)",
                        "fleet prevalence, first-seen, and beacons to non-serverless hosts",
                    ],
                    sources=SOURCES_NET,
                    tuning=[
                        "MaxIntervalCv, MaxMoranZ, MinCheckins, MinHours at the top of the query"
                    ],
                    allowlist=header_for(
                        spec.allowlist,
                        [p for p in [_plan(spec, "RH-SL-005", NET_COLUMNS, NET_EVENT)] if p],
                    ),
                )
            )
            + _beacon(spec),
        ),
    ]
    files.extend(render_cloud(spec))
    return Rendered(tuple(files), ())


# -- RH-CP-001..005: Sentinel AWSCloudTrail, GCPAuditLogs and AzureActivity -----------------


def _re_list(values: tuple[str, ...]) -> str:
    return "|".join(re.escape(v) for v in values)


def _deployers(spec: ExportSpec) -> str:
    if not spec.deployers:
        return 'let DeployerRegex = "";  // none listed: pass --config with deployers\n'
    alternation = "|".join(cloud.glob_regex(g) for g in spec.deployers)
    return f"let DeployerRegex = {kql_string('(?i)' + alternation)};\n"


_NOT_DEPLOYER = "| where isempty(DeployerRegex) or not(Principal matches regex DeployerRegex)\n"


def _aws_calls(ops: tuple[cloud.AwsOps, ...]) -> str:
    tests = " or ".join(
        f"(EventSource == {kql_string(o.source)} and EventName matches regex {kql_string(o.regex)})"
        for o in ops
    )
    return f"""AWSCloudTrail
| where TimeGenerated > ago(Lookback) and isempty(ErrorCode)
| where {tests}
{_AWS_PROJECT}"""


_AWS_PROJECT = """| extend Principal = iff(isnotempty(SessionIssuerArn), SessionIssuerArn,
                        UserIdentityArn)
| project TimeGenerated, Provider = "aws", Account = RecipientAccountId, Principal,
          Operation = EventName,
          Target = tostring(parse_json(RequestParameters).functionName),
          SourceIp = SourceIpAddress, UserAgent, Detail = RequestParameters"""
_GCP_PROJECT = """| project TimeGenerated, Provider = "gcp", Account = ProjectId,
          Principal = PrincipalEmail,
          Operation = MethodName, Target = GCPResourceName,
          SourceIp = tostring(RequestMetadata.callerIp),
          UserAgent = tostring(RequestMetadata.callerSuppliedUserAgent),
          Detail = tostring(ServiceData)"""
_AZURE_PROJECT = """| project TimeGenerated, Provider = "azure", Account = SubscriptionId,
          Principal = Caller,
          Operation = OperationNameValue, Target = _ResourceId, SourceIp = CallerIpAddress,
          UserAgent = "", Detail = tostring(Properties_d.requestbody)"""


def _established(name: str, days_var: str = "EstablishedDays") -> str:
    """Keep the calls of principals that made such calls on fewer than EstablishedDays
    distinct days in the lookback (the engine's 'established' baseline)."""
    return f"""{name}
| join kind=inner (
    {name} | summarize ChangeDays = dcount(startofday(TimeGenerated))
             by Provider, Account, Principal
  ) on Provider, Account, Principal
| where ChangeDays < {days_var}
"""


_SUMMARY = """| summarize FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated),
            Events = count(),
            Operations = make_set(Operation, 10), SourceIps = make_set(SourceIp, 10),
            UserAgents = make_set(UserAgent, 5), Details = make_set(Detail, 5),
            ChangeDays = max(ChangeDays)
  by Provider, Account, Principal, Target
"""


def _cloud_prelude(spec: ExportSpec, rule_id: str) -> str:
    t = spec.rules[rule_id].thresholds
    return (
        "let Lookback = 14d;  // the baseline: how far back 'established' looks\n"
        f"let EstablishedDays = {int(t.get('established_days', 2))};\n" + _deployers(spec)
    )


def _cp_change(spec: ExportSpec) -> str:
    az = " or ".join(
        [f"OperationNameValue endswith {kql_string(s)}" for s in cloud.AZURE_CHANGE_SUFFIXES]
        + [f"OperationNameValue =~ {kql_string(s)}" for s in cloud.AZURE_CHANGE_EXACT]
    )
    gcp_re = "(?i)[.](" + "|".join(s.lstrip(".") for s in cloud.GCP_CHANGE) + ")$"
    return (
        _cloud_prelude(spec, "RH-CP-001")
        + "let Changes = union\n    ("
        + _aws_calls(cloud.AWS_CHANGE).replace("\n", "\n     ")
        + f"""),
    (GCPAuditLogs
     | where TimeGenerated > ago(Lookback)
     | where ServiceName in ({", ".join(kql_string(s) for s in cloud.GCP_SERVICES)})
     | where MethodName matches regex {kql_string(gcp_re)}
     {_GCP_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (AzureActivity
     | where TimeGenerated > ago(Lookback) and ActivityStatusValue =~ "Success"
     | where OperationNameValue startswith {kql_string(cloud.AZURE_PREFIX)}
     | where {az}
     | where not(tostring(Properties_d.requestbody) matches regex {kql_string(cloud.AZURE_ANON_RE)})
     {_AZURE_PROJECT.replace(chr(10), chr(10) + "     ")})
{_NOT_DEPLOYER};
"""
        + _established("Changes")
        + _SUMMARY
        + '| extend Severity = iff(Operations has_any ("UpdateFunctionCode", ".UpdateFunction", '
        '"UpdateService", "ReplaceService", "SYNCFUNCTIONTRIGGERS", "/FUNCTIONS/WRITE", '
        '"/DEPLOYMENTS/WRITE"), "High", "Medium")\n'
    )


def _cp_public(spec: ExportSpec) -> str:
    members = ", ".join(kql_string(m) for m in cloud.GCP_PUBLIC_MEMBERS)
    keys = " or ".join(
        f"OperationNameValue endswith {kql_string(s)}" for s in cloud.AZURE_KEY_SUFFIXES
    )
    return (
        _cloud_prelude(spec, "RH-CP-002")
        + f"""let Public = union
    (AWSCloudTrail
     | where TimeGenerated > ago(Lookback) and isempty(ErrorCode)
     | where EventSource == "lambda.amazonaws.com"
     | extend Request = parse_json(RequestParameters)
     | where (EventName matches regex {kql_string(cloud.AWS_PUBLIC_URL)}
              and toupper(tostring(Request.authType)) == "NONE")
          or (EventName matches regex {kql_string(cloud.AWS_ADD_PERMISSION)}
              and tostring(Request.principal) == "*")
     {_AWS_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (GCPAuditLogs
     | where TimeGenerated > ago(Lookback) and MethodName endswith ".SetIamPolicy"
     | where ServiceName in ({", ".join(kql_string(s) for s in cloud.GCP_SERVICES)})
     | mv-expand Delta = ServiceData.policyDelta.bindingDeltas
     | where tostring(Delta.action) == "ADD" and tostring(Delta.member) in ({members})
     {_GCP_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (AzureActivity
     | where TimeGenerated > ago(Lookback)
     | where ({keys} or OperationNameValue matches regex {kql_string(cloud.AZURE_HOST_KEYS_RE)})
          and ActivityStatusValue =~ "Success"
          or (OperationNameValue endswith "/FUNCTIONS/WRITE"
              or OperationNameValue endswith "/CONFIG/WRITE")
             and tostring(Properties_d.requestbody) matches regex {kql_string(cloud.AZURE_ANON_RE)}
     {_AZURE_PROJECT.replace(chr(10), chr(10) + "     ")})
{_NOT_DEPLOYER};
"""
        + _established("Public")
        + _SUMMARY
        + '| extend Severity = iff(Provider == "cloudflare", "Medium", "High")\n'
    )


def _cp_create(spec: ExportSpec) -> str:
    gcp_re = "(?i)[.](" + "|".join(s.lstrip(".") for s in cloud.GCP_CREATE) + ")$"
    return (
        _cloud_prelude(spec, "RH-CP-003")
        + "let Creates = union\n    ("
        + _aws_calls(cloud.AWS_CREATE).replace("\n", "\n     ")
        + f"""),
    (GCPAuditLogs
     | where TimeGenerated > ago(Lookback) and MethodName matches regex {kql_string(gcp_re)}
     {_GCP_PROJECT.replace(chr(10), chr(10) + "     ")})
{_NOT_DEPLOYER};
let SeenIps = union
    (AWSCloudTrail | where TimeGenerated > ago(Lookback)
     {_AWS_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (GCPAuditLogs | where TimeGenerated > ago(Lookback)
     {_GCP_PROJECT.replace(chr(10), chr(10) + "     ")})
| summarize IpDays = dcount(startofday(TimeGenerated))
  by Provider, Account, Principal, SourceIp;
Creates
| join kind=inner (
    Creates | summarize ChangeDays = dcount(startofday(TimeGenerated))
              by Provider, Account, Principal
  ) on Provider, Account, Principal
| join kind=leftouter (SeenIps) on Provider, Account, Principal, SourceIp
| where ChangeDays < EstablishedDays or IpDays <= 1
"""
        + _SUMMARY
        + """| extend Severity = iff(UserAgents has_any ("aws-cli", "Boto3", "botocore", "gcloud",
                                         "google-cloud-sdk"), "High", "Medium")
"""
    )


def _cp_enum(spec: ExportSpec) -> str:
    r = spec.rules["RH-CP-004"]
    window = int(r.thresholds.get("window_s", 3600))
    agents = ", ".join(kql_string(a) for a in cloud.AWS_TOOL_AGENTS)
    return (
        _cloud_prelude(spec, "RH-CP-004")
        + f"""let Window = {window}s;
let Calls = AWSCloudTrail
| where TimeGenerated > ago(Lookback) and EventSource == "lambda.amazonaws.com"
{_AWS_PROJECT};
let Lists = Calls
| where Operation matches regex {kql_string(cloud.AWS_LIST)}
| project ListTime = TimeGenerated, Account, Principal;
let Invokes = Calls
| where Operation matches regex {kql_string(cloud.AWS_INVOKE)}
| where UserAgent has_any ({agents})
{_NOT_DEPLOYER};
let Pairs = Invokes
| join kind=inner (Lists) on Account, Principal
| where ListTime between ((TimeGenerated - Window) .. TimeGenerated);
Pairs
| join kind=inner (
    Pairs | summarize PatternDays = dcount(startofday(TimeGenerated)) by Account, Principal
  ) on Account, Principal
| where PatternDays < EstablishedDays
| summarize FirstList = min(ListTime), FirstInvoke = min(TimeGenerated),
            LastInvoke = max(TimeGenerated), Invokes = dcount(TimeGenerated),
            SourceIps = make_set(SourceIp, 10), UserAgents = make_set(UserAgent, 5)
  by Provider, Account, Principal, Target
| extend Severity = "Medium"
"""
    )


def _cp_denied(spec: ExportSpec) -> str:
    r = spec.rules["RH-CP-005"]
    window = int(r.thresholds.get("window_s", 3600))
    min_failures = int(r.thresholds.get("min_failures", 5))
    services = ", ".join(kql_string(s) for s in cloud.AWS_SERVICES)
    denied = ", ".join(kql_string(s) for s in cloud.AWS_DENIED)
    return f"""let Lookback = 1d;
let Window = {window}s;
let MinFailures = {min_failures};
let Denied = union
    (AWSCloudTrail
     | where TimeGenerated > ago(Lookback) and EventSource in ({services})
     | where ErrorCode in ({denied})
        or ErrorMessage matches regex @"(?i)(not authorized|access denied)"
     {_AWS_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (GCPAuditLogs
     | where TimeGenerated > ago(Lookback)
     | where ServiceName in ({", ".join(kql_string(s) for s in cloud.GCP_SERVICES)})
     | where tostring(Status.code) in ("7", "16")
     {_GCP_PROJECT.replace(chr(10), chr(10) + "     ")}),
    (AzureActivity
     | where TimeGenerated > ago(Lookback) and ActivityStatusValue =~ "Failure"
     | where OperationNameValue startswith {kql_string(cloud.AZURE_PREFIX)}
     | where ActivitySubstatusValue in ("Forbidden", "Unauthorized")
        or tostring(Properties_d.statusCode) in ("Forbidden", "Unauthorized")
     {_AZURE_PROJECT.replace(chr(10), chr(10) + "     ")});
Denied
| summarize Failures = count(), DistinctOperations = dcount(Operation),
            Operations = make_set(Operation, 10), Targets = make_set(Target, 10),
            SourceIps = make_set(SourceIp, 10), FirstSeen = min(TimeGenerated),
            LastSeen = max(TimeGenerated)
  by Provider, Account, Principal, bin(TimeGenerated, Window)
| where Failures >= MinFailures
| extend Severity = iff(DistinctOperations >= 3, "Medium", "Low")
"""


CLOUD_SOURCES_KQL = [
    "Microsoft Sentinel AWSCloudTrail (AWS S3 connector; Lambda Invoke needs data events)",
    "GCPAuditLogs (Google Cloud Platform audit logs connector)",
    "AzureActivity (Azure Activity connector)",
]


def render_cloud(spec: ExportSpec) -> list[ExportFile]:
    def head(rule_id: str, detects: str, loses: list[str]) -> str:
        return comment_block(
            header_lines(
                spec,
                spec.rules[rule_id],
                language="KQL, Microsoft Sentinel",
                detects=detects,
                loses=loses,
                sources=CLOUD_SOURCES_KQL,
                tuning=[
                    "deployer globs rendered in: "
                    + (", ".join(spec.deployers) if spec.deployers else "none (--config)"),
                    "Lookback bounds the 'established' baseline (the engine uses all data)",
                ],
                allowlist=skipped_header(spec.allowlist, rule_id, CLOUD_WHY),
            )
        )

    baseline = (
        "the baseline covers Lookback only, and is per provider, account and principal "
        "as in the engine; Cloudflare audit logs have no Sentinel table here"
    )
    return [
        ExportFile(
            "kql",
            "kql/RH-CP-001_function_changed.kql",
            ("RH-CP-001",),
            head(
                "RH-CP-001",
                "function code or configuration changes by a principal that is not a listed "
                "deployer and changed functions on fewer than EstablishedDays days.",
                [baseline, "Lambda layers/environment detail (kept as raw RequestParameters)"],
            )
            + _cp_change(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-CP-002_function_public.kql",
            ("RH-CP-002",),
            head(
                "RH-CP-002",
                "a function opened to anyone (Lambda URL AuthType NONE, AddPermission *, "
                "SetIamPolicy ADD allUsers, Azure keys or anonymous authLevel) by a "
                "principal not established for it.",
                [baseline, "Azure CORS '*' (the body is matched for authLevel only)"],
            )
            + _cp_public(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-CP-003_function_created.kql",
            ("RH-CP-003",),
            head(
                "RH-CP-003",
                "functions, services and APIs created by a principal not established for "
                "it, or by an established one from an address seen on one day only.",
                [baseline, "Azure (no create distinct from update in the Activity Log)"],
            )
            + _cp_create(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-CP-004_enumerate_then_invoke.kql",
            ("RH-CP-004",),
            head(
                "RH-CP-004",
                "ListFunctions then Invoke from a CLI or SDK by one principal within the "
                "window, on fewer than EstablishedDays days.",
                [baseline, "Google Cloud CallFunction / ListFunctions pairs"],
            )
            + _cp_enum(spec),
        ),
        ExportFile(
            "kql",
            "kql/RH-CP-005_repeated_access_denied.kql",
            ("RH-CP-005",),
            head(
                "RH-CP-005",
                "repeated denied function API calls by one principal.",
                [
                    "fixed bins of Window instead of a sliding window (a burst across a bin "
                    "edge can be split)"
                ],
            )
            + _cp_denied(spec),
        ),
    ]
