"""Sysmon, four ways: EVTX files, rendered XML (``wevtutil qe /f:xml``), Winlogbeat 8 JSON
and NXLog ``im_msvistalog`` flattened JSON.

Every event is built once as the Windows event log holds it (an :class:`EvtxEvent` with
Sysmon 15's EventData names, order and types, after Sysmon's manifest): EID 1 *Process
Create*, 22 *Dns query*, 3 *Network connection detected*, 11 *File created*; a PowerShell
script block is EID 4104 of the ``Microsoft-Windows-PowerShell/Operational`` channel. The
four containers are then written from that one event, so they agree value for value.

Linking is Sysmon's: every event of a process carries its ``ProcessGuid`` (and EID 1 the
``ParentProcessGuid``); EID 22 ``QueryResults`` holds the answers
(``type:  5 <cname>;::ffff:<ip>;``) that EID 3 ``DestinationIp`` connects to. EID 3
``DestinationHostname`` is what Sysmon gets from a reverse (PTR) lookup of the address,
not the name the process asked for: empty (``-``) for Cloudflare's front end, an
``ec2-...compute-1.amazonaws.com`` or ``...1e100.net`` name for AWS and Google.

Files: EVTX per host and channel, as the event log keeps them
(``<HOST>/Microsoft-Windows-Sysmon%4Operational.evtx``, ``...PowerShell%4Operational.evtx``);
rendered XML per channel for all hosts (``sysmon-events.xml``, events back to back as
wevtutil prints them); Winlogbeat and NXLog ship both channels of every host into one
stream, as a central output or collector writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from relayhunt.emulate.evtx import (
    SYSMON_CHANNEL,
    EvtxEvent,
    EvtxWriter,
    SysmonHost,
    render_xml,
    sysmon_event,
    system_time,
)
from relayhunt.emulate.model import (
    Connection,
    DnsLookup,
    Event,
    FileCreate,
    Host,
    Process,
    ProcessStart,
    ScriptBlock,
    Telemetry,
    hex_id,
)
from relayhunt.emulate.writers._common import Files, dumps, pe_info, sysmon_utc, write_lines

PS_CHANNEL = "Microsoft-Windows-PowerShell/Operational"
PS_PROVIDER = "Microsoft-Windows-PowerShell"
PS_PROVIDER_GUID = uuid.UUID("a0c1853b-5c40-4b15-8766-3cf1c58f985a")

TITLES = {
    1: "Process Create",
    3: "Network connection detected",
    11: "File created",
    22: "Dns query",
    4104: "Creating Scriptblock text (1 of 1)",
}
TASKS = {
    1: "Process Create (rule: ProcessCreate)",
    3: "Network connection detected (rule: NetworkConnect)",
    11: "File created (rule: FileCreate)",
    22: "Dns query (rule: DnsQuery)",
    4104: "Execute a Remote Command",
}


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _logon_guid(p: Process) -> str:
    h = p.host.machine_id
    return f"{{{h:08x}-1c20-6543-{hex_id('logon', 4, p.user)}-0a0000000000}}"


def _hashes(p: Process) -> str:
    return f"MD5={p.md5.upper()},SHA256={p.sha256.upper()},IMPHASH={p.md5[::-1].upper()}"


def fields(ev: Event) -> tuple[int, list[tuple[str, str]]] | None:
    """Sysmon event id and EventData (name, rendered value) of an event, in schema order."""
    p = ev.proc
    head = [
        ("RuleName", "-"),
        ("UtcTime", sysmon_utc(ev.t)),
        ("ProcessGuid", p.guid),
        ("ProcessId", str(p.pid)),
    ]
    if isinstance(ev, ProcessStart):
        company, product, desc, original, version = pe_info(p)
        q = p.parent
        return 1, [
            *head,
            ("Image", p.image),
            ("FileVersion", version or "-"),
            ("Description", desc or "-"),
            ("Product", product or "-"),
            ("Company", company or "-"),
            ("OriginalFileName", original or "-"),
            ("CommandLine", p.command_line),
            ("CurrentDirectory", p.cwd),
            ("User", p.account),
            ("LogonGuid", _logon_guid(p)),
            ("LogonId", "0x3e7" if p.user_domain == "NT AUTHORITY" else "0x3c2e1a"),
            ("TerminalSessionId", "0" if p.user_domain == "NT AUTHORITY" else "1"),
            ("IntegrityLevel", p.integrity),
            ("Hashes", _hashes(p)),
            ("ParentProcessGuid", q.guid if q else "{00000000-0000-0000-0000-000000000000}"),
            ("ParentProcessId", str(q.pid) if q else "0"),
            ("ParentImage", q.image if q else "-"),
            ("ParentCommandLine", q.command_line if q else "-"),
            ("ParentUser", q.account if q else "-"),
        ]
    if isinstance(ev, DnsLookup):
        results = "".join(f"type:  5 {c};" for c in ev.dest.cnames) + "".join(
            f"::ffff:{ip};" for ip in ev.dest.ips
        )
        return 22, [
            *head,
            ("QueryName", ev.dest.domain),
            ("QueryStatus", "0"),
            ("QueryResults", results),
            ("Image", p.image),
            ("User", p.account),
        ]
    if isinstance(ev, Connection):
        return 3, [
            *head,
            ("Image", p.image),
            ("User", p.account),
            ("Protocol", "tcp"),
            ("Initiated", "true"),
            ("SourceIsIpv6", "false"),
            ("SourceIp", p.host.ip),
            ("SourceHostname", p.host.fqdn),
            ("SourcePort", str(ev.src_port)),
            ("SourcePortName", "-"),
            ("DestinationIsIpv6", "false"),
            ("DestinationIp", ev.ip),
            ("DestinationHostname", ev.dest.reverse(ev.ip) or "-"),
            ("DestinationPort", str(ev.dest.port)),
            ("DestinationPortName", {443: "https", 80: "http"}.get(ev.dest.port, "-")),
        ]
    if isinstance(ev, FileCreate):
        return 11, [
            *head,
            ("Image", p.image),
            ("TargetFilename", ev.path),
            ("CreationUtcTime", sysmon_utc(ev.t)),
            ("User", p.account),
        ]
    return None


class _Log:
    """EventRecordIDs per host and channel."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}

    def record_id(self, host: Host, channel: str) -> int:
        key = (host.name, channel)
        rid = self._next.get(key, 40_000 + host.machine_id % 20_000)
        self._next[key] = rid + 1
        return rid


Item = tuple[Host, EvtxEvent, int, list[tuple[str, str]]]
"""(host, event, EventRecordID, EventData as rendered text)."""


def evtx_events(tel: Telemetry) -> Iterator[Item]:
    """Every event Sysmon or PowerShell would log, with its EventRecordID and its
    EventData as Windows renders it (what the JSON shippers send)."""
    log = _Log()
    hosts: dict[str, SysmonHost] = {}
    for ev in tel.events:
        h = ev.proc.host
        if isinstance(ev, ScriptBlock):
            text = [
                ("MessageNumber", "1"),
                ("MessageTotal", "1"),
                ("ScriptBlockText", ev.text),
                ("ScriptBlockId", ev.block_id),
                ("Path", ""),
            ]
            e = EvtxEvent(
                event_id=4104,
                time_created=_dt(ev.t),
                computer=h.fqdn,
                channel=PS_CHANNEL,
                provider_name=PS_PROVIDER,
                provider_guid=PS_PROVIDER_GUID,
                data=(
                    ("MessageNumber", 1),
                    ("MessageTotal", 1),
                    ("ScriptBlockText", ev.text),
                    ("ScriptBlockId", ev.block_id),
                    ("Path", ""),
                ),
                version=1,
                level=5,
                task=2,
                opcode=15,
                keywords=0x0,
                process_id=ev.proc.pid,
                thread_id=ev.proc.pid + 4,
                user_sid=ev.proc.sid,
            )
            yield h, e, log.record_id(h, PS_CHANNEL), text
            continue
        built = fields(ev)
        if built is None:
            continue
        eid, data = built
        sh = hosts.get(h.name)
        if sh is None:
            sh = hosts[h.name] = SysmonHost(h.fqdn, service_pid=3020, service_tid=4108)
        yield h, sysmon_event(eid, _dt(ev.t), sh, data), log.record_id(h, SYSMON_CHANNEL), data


def _sysmon_first(items: Iterable[Item]) -> Iterator[Item]:
    """Readers recognise a stream by its first record: start it with a Sysmon event
    (anything logged before it is held back until then)."""
    held: list[Item] = []
    started = False
    for item in items:
        if started:
            yield item
        elif item[1].channel == SYSMON_CHANNEL:
            started = True
            yield item
            yield from held
        else:
            held.append(item)
    if not started:
        yield from held


def write_evtx_files(tel: Telemetry, out: Path) -> list[Path]:
    """One EVTX file per host and channel, as each host's event log keeps them."""
    writers: dict[Path, EvtxWriter] = {}
    names = {
        SYSMON_CHANNEL: "Microsoft-Windows-Sysmon%4Operational.evtx",
        PS_CHANNEL: "Microsoft-Windows-PowerShell%4Operational.evtx",
    }
    try:
        for host, e, rid, _ in evtx_events(tel):
            path = out / host.name / names[e.channel]
            w = writers.get(path)
            if w is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                w = writers[path] = EvtxWriter(path, first_record_id=rid)
            w.write(e)
    finally:
        for w in writers.values():
            w.close()
    return list(writers)


def write_xml(tel: Telemetry, out: Path) -> list[Path]:
    """One rendered-XML export per channel for all hosts (a SIEM raw export), events back
    to back as wevtutil prints them."""
    files = Files(newline="")
    names = {SYSMON_CHANNEL: "sysmon-events.xml", PS_CHANNEL: "powershell-events.xml"}
    for _, e, rid, _ in evtx_events(tel):
        files.write(out / names[e.channel], render_xml(e, rid))
    return files.close()


def _message(e: EvtxEvent, data: dict[str, str]) -> str:
    if e.event_id == 4104:
        return (
            f"Creating Scriptblock text (1 of 1):\n{data.get('ScriptBlockText', '')}\n\n"
            f"ScriptBlock ID: {data.get('ScriptBlockId', '')}\nPath: "
        )
    return f"{TITLES.get(e.event_id, 'Event')}:\n" + "\n".join(f"{k}: {v}" for k, v in data.items())


def _winlog_user(e: EvtxEvent) -> dict[str, str]:
    if e.channel == SYSMON_CHANNEL:
        return {
            "domain": "NT AUTHORITY",
            "identifier": "S-1-5-18",
            "name": "SYSTEM",
            "type": "User",
        }
    return {"identifier": e.user_sid or "", "type": "User"}


def winlogbeat_doc(host: Host, e: EvtxEvent, rid: int, fields_: list[tuple[str, str]]) -> str:
    data = dict(fields_)
    sysmon = e.channel == SYSMON_CHANNEL
    doc = {
        "@timestamp": system_time(e.time_created)[:23] + "Z",
        "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": "8.15.3"},
        "agent": {
            "name": host.name,
            "type": "winlogbeat",
            "version": "8.15.3",
            "ephemeral_id": str(uuid.uuid5(uuid.NAMESPACE_OID, "ephemeral:" + host.name)),
            "id": host.agent_id,
        },
        "ecs": {"version": "8.0.0"},
        "host": {
            "name": host.fqdn,
            "hostname": host.name.lower(),
            "architecture": "x86_64",
            "os": {
                "platform": "windows",
                "family": "windows",
                "name": "Windows 10 Enterprise",
                "version": "10.0",
                "build": "19045.4291",
                "type": "windows",
            },
            "ip": [host.ip],
        },
        "log": {"level": "information" if e.level == 4 else "verbose"},
        "event": {
            "code": str(e.event_id),
            "kind": "event",
            "provider": e.provider_name,
            "created": system_time(e.time_created)[:23] + "Z",
            "action": TASKS.get(e.event_id, ""),
        },
        "message": _message(e, data),
        "winlog": {
            "channel": e.channel,
            "computer_name": e.computer,
            "event_data": data,
            "event_id": str(e.event_id),
            "opcode": "Info" if sysmon else "On create calls",
            "process": {"pid": e.process_id, "thread": {"id": e.thread_id}},
            "provider_guid": "{" + str(e.provider_guid) + "}",
            "provider_name": e.provider_name,
            "record_id": rid,
            "task": TASKS.get(e.event_id, ""),
            "user": _winlog_user(e),
            "version": e.version,
            "api": "wineventlog",
        },
    }
    return dumps(doc)


def write_winlogbeat(tel: Telemetry, out: Path) -> list[Path]:
    """All hosts' events in one NDJSON stream (Winlogbeat's file or Logstash output)."""
    items = _sysmon_first(evtx_events(tel))
    lines = (winlogbeat_doc(h, e, rid, d) for h, e, rid, d in items)
    return [write_lines(out / "winlogbeat-8.15.3.ndjson", lines)]


def nxlog_doc(host: Host, e: EvtxEvent, rid: int, fields_: list[tuple[str, str]]) -> str:
    """NXLog ``im_msvistalog`` + ``to_json()``: ``EventTime`` in the collector's local
    time (UTC+1 here) without an offset, the EventData fields at the top level."""
    data = dict(fields_)
    local = datetime.fromtimestamp(e.time_created.timestamp() + 3600, UTC).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    sysmon = e.channel == SYSMON_CHANNEL
    account = ("NT AUTHORITY", "SYSTEM") if sysmon else (host.netbios_domain, host.user)
    doc: dict[str, object] = {
        "EventTime": local,
        "Hostname": e.computer,
        "Keywords": -9223372036854775808 if e.keywords else 0,
        "EventType": "INFO" if e.level == 4 else "VERBOSE",
        "SeverityValue": 2 if e.level == 4 else 1,
        "Severity": "INFO" if e.level == 4 else "DEBUG",
        "EventID": e.event_id,
        "SourceName": e.provider_name,
        "ProviderGuid": "{" + str(e.provider_guid).upper() + "}",
        "Version": e.version,
        "Task": e.task,
        "OpcodeValue": e.opcode,
        "RecordNumber": rid,
        "ProcessID": e.process_id,
        "ThreadID": e.thread_id,
        "Channel": e.channel,
        "Domain": account[0],
        "AccountName": account[1],
        "UserID": e.user_sid,
        "AccountType": "User",
        "Message": _message(e, data).replace("\n", "\r\n"),
        "Category": TASKS.get(e.event_id, ""),
        "Opcode": "Info" if sysmon else "On create calls",
        **data,
        "EventReceivedTime": local,
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    return dumps(doc)


def write_nxlog(tel: Telemetry, out: Path) -> list[Path]:
    """All hosts' events in one file, as a central NXLog collector writes them."""
    items = _sysmon_first(evtx_events(tel))
    lines = (nxlog_doc(h, e, rid, d) for h, e, rid, d in items)
    return [write_lines(out / "nxlog-sysmon.json", lines)]


__all__ = [
    "PS_CHANNEL",
    "evtx_events",
    "fields",
    "write_evtx_files",
    "write_nxlog",
    "write_winlogbeat",
    "write_xml",
]
