"""KQL for Microsoft Defender XDR advanced hunting and Microsoft Sentinel
(``DeviceNetworkEvents``, ``DeviceEvents`` with ``ActionType == "DnsQueryResponse"``,
``DeviceProcessEvents``, ``DeviceFileEvents``)."""

from __future__ import annotations

from relayhunt.export.common import (
    COMMON_LOSSES,
    ExportFile,
    Omission,
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


def _egress(spec: ExportSpec) -> str:
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
| summarize FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Events = count(),
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
| summarize FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Starts = count(),
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
    return (
        prelude(spec)
        + f"""let Lookback = {b.window_h}h;
let MinCheckins = {b.min_checkins};
let MinHours = {b.min_hours};
let MaxIntervalCv = {b.max_interval_cv};
let MergeSeconds = {b.merge_s};
let Events = union
    (DeviceNetworkEvents | where Timestamp > ago(Lookback) and isnotempty(RemoteUrl)
     | extend DestinationHost = {_URL_HOST}),
    ({_DNS_EVENTS.replace(chr(10), chr(10) + "     ")}
     | where Timestamp > ago(Lookback) | extend DestinationHost = QueryName)
| where DestinationHost matches regex ServerlessHostRegex
| extend ProcessName = tolower(InitiatingProcessFileName)
| where not(ProcessName in (BrowserProcesses))
| project Timestamp, DeviceName, ProcessName,
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
            StdevGap = stdev(GapSeconds),
            MedianGap = percentile(GapSeconds, 50)
  by DeviceName, ProcessName, ParentName, DestinationHost
| where Checkins >= MinCheckins and Hours >= MinHours
| extend IntervalCv = iff(MeanGap > 0, StdevGap / MeanGap, real(null));
// Periodicity: per group, a 1-minute count series and its dominant period.
let Periods = Events
| make-series Hits = count() default = 0 on Timestamp from ago(Lookback) to now() step 1m
  by DeviceName, ProcessName, ParentName, DestinationHost
| extend (Periods, Scores) = series_periods_detect(Hits, 2.0, 720.0, 2)
| extend TopPeriodMinutes = todouble(Periods[0]), TopPeriodScore = todouble(Scores[0])
| project DeviceName, ProcessName, ParentName, DestinationHost, TopPeriodMinutes, TopPeriodScore;
Gaps
| join kind=leftouter (Periods) on DeviceName, ProcessName, ParentName, DestinationHost
| where IntervalCv <= MaxIntervalCv or TopPeriodScore >= 0.5
| extend Severity = iff(ProcessName in (LolbinProcesses), "High", "Medium")
| project FirstSeen, LastSeen, DeviceName, ProcessName, ParentName, DestinationHost, Checkins,
          Hours, MeanGap, MedianGap, IntervalCv, TopPeriodMinutes, TopPeriodScore, Severity
| order by IntervalCv asc
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
                )
            )
            + _chain(spec),
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
                    "host: merged check-ins, interval mean/stdev/median and coefficient of "
                    "variation, distinct hours, plus series_periods_detect on a 1-minute "
                    "series.",
                    loses=[
                        "the p-values against random (Poisson) timing: KQL has no gamma CDF, "
                        "so a coefficient-of-variation cut-off replaces Moran's test and "
                        "90 % jitter beacons are missed",
                        "missed-beat folding and pause handling",
                        "payload regularity (Defender records no bytes per connection)",
                        "fleet prevalence, first-seen, and beacons to non-serverless hosts",
                    ],
                    sources=SOURCES_NET,
                    tuning=["MaxIntervalCv, MinCheckins, MinHours at the top of the query"],
                )
            )
            + _beacon(spec),
        ),
    ]
    omitted = (
        Omission(
            "kql",
            "RH-SL-004",
            "needs the tenant derived per catalog entry from the Public Suffix List; not "
            "exported yet",
        ),
    )
    return Rendered(tuple(files), omitted)
