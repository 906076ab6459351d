"""Generate large, realistic telemetry for the ingest benchmarks.

Each format gets the same fleet story: HOSTS Windows hosts whose processes start, resolve
names and connect (browsers, Office, OneDrive, svchost, a few powershell/curl/python
beacons to serverless hosts), written with each vendor's own field names, types and time
formats. Events are built from per-format templates with varying values; the point is
realistic size and shape per event and realistic join rates (processes live for a while;
connections follow their process's lookups), not a detection scenario (the emulator
does that).

    python bench/generate.py --events 1000000 --out bench/data
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOSTS = 500
T0 = dt.datetime(2026, 11, 2, 0, 0, 0, tzinfo=dt.UTC)

IMAGES = [
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Users\{user}\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\curl.exe",
    r"C:\Users\{user}\AppData\Local\Programs\Python\Python311\python.exe",
]
DOMAINS = [
    "www.google.com",
    "outlook.office365.com",
    "login.microsoftonline.com",
    "docs-portal.pages.dev",
    "sync-api.acme-cdn.workers.dev",
    "abcdefghij1234567890klmnopqrstuv.lambda-url.us-east-1.on.aws",
    "us-central1-acme-prod.cloudfunctions.net",
    "script.google.com",
    "graph.microsoft.com",
    "teams.microsoft.com",
    "www.bing.com",
    "app-1234.vercel.app",
]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


@dataclass
class Ev:
    i: int
    ts: dt.datetime
    host: str
    host_id: str
    user: str
    pid: int
    ppid: int
    image: str
    domain: str
    ip: str
    sport: int
    kind: str  # process | dns | connection


SLOTS = 6
"""Processes running on a host at a time; a process event replaces one of them."""
IPS_PER_DOMAIN = 4


def _domain_ips(rnd: random.Random) -> dict[str, list[str]]:
    """Each hostname answers with a few fixed addresses (CDN front ends)."""
    return {
        d: [
            ".".join(
                str(x)
                for x in (
                    rnd.choice((104, 172, 13, 142, 34)),
                    rnd.randrange(256),
                    rnd.randrange(256),
                    rnd.randrange(1, 255),
                )
            )
            for _ in range(IPS_PER_DOMAIN)
        ]
        for d in DOMAINS
    }


def events(n: int, seed: int = 1) -> Iterator[Ev]:
    """The fleet's events in time order.

    Each host runs a few processes at a time; a process start replaces one of them. A
    lookup is made by a running process and answered from the name's addresses; most
    connections go to an address that the same process looked up before (so DNS
    attribution has the join rate of real endpoint data), the rest to an address no
    lookup in the data explains (direct-IP traffic, cached answers)."""
    rnd = random.Random(seed)
    pools = _domain_ips(rnd)
    running: dict[tuple[int, int], tuple[int, int, str]] = {}  # (host, slot) -> process
    looked_up: dict[tuple[int, int], list[tuple[str, str]]] = {}

    def process(h: int, slot: int, user: str) -> tuple[int, int, str]:
        if (h, slot) not in running:
            img = IMAGES[rnd.randrange(len(IMAGES))].format(user=user)
            running[(h, slot)] = (1000 + rnd.randrange(60000), 500 + rnd.randrange(5000), img)
        return running[(h, slot)]

    for i in range(n):
        h = rnd.randrange(HOSTS)
        slot = rnd.randrange(SLOTS)
        user = USERS[h % len(USERS)]
        r = rnd.random()
        kind = "process" if r < 0.1 else "dns" if r < 0.35 else "connection"
        if kind == "process":
            running.pop((h, slot), None)
            looked_up.pop((h, slot), None)
        pid, ppid, img = process(h, slot, user)
        domain = DOMAINS[rnd.randrange(len(DOMAINS))]
        ip = pools[domain][rnd.randrange(IPS_PER_DOMAIN)]
        if kind == "dns":
            seen = looked_up.setdefault((h, slot), [])
            if (domain, ip) not in seen:
                seen.append((domain, ip))
        elif kind == "connection":
            seen = looked_up.get((h, slot), [])
            if seen and rnd.random() < 0.85:
                domain, ip = seen[rnd.randrange(len(seen))]
            else:
                domain = DOMAINS[rnd.randrange(len(DOMAINS))]
                ip = f"{rnd.choice((104, 172, 13))}.{rnd.randrange(256)}.{rnd.randrange(256)}.9"
        yield Ev(
            i=i,
            ts=T0 + dt.timedelta(microseconds=i * 86_400_000_000 // max(n, 1)),
            host=f"WS-{h:04d}",
            host_id=f"{h:032x}",
            user=user,
            pid=pid,
            ppid=ppid,
            image=img,
            domain=domain,
            ip=ip,
            sport=49152 + rnd.randrange(16000),
            kind=kind,
        )


def _iso(ts: dt.datetime, digits: int = 3) -> str:
    base = ts.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ts.microsecond:06d}"
    return f"{base}.{(frac + '0')[:digits]}Z"


def _name(path: str) -> str:
    return path.rsplit("\\", 1)[-1]


def ecs(e: Ev) -> str:
    proc = {
        "entity_id": f"{e.host_id[:8]}-{e.pid}",
        "pid": e.pid,
        "executable": e.image,
        "name": _name(e.image),
    }
    doc: dict[str, object] = {
        "@timestamp": _iso(e.ts),
        "agent": {"id": e.host_id, "type": "endpoint", "version": "8.15.2"},
        "ecs": {"version": "8.10.0"},
        "host": {
            "hostname": e.host,
            "id": e.host_id,
            "name": e.host.lower() + ".corp.example",
            "os": {"family": "windows", "name": "Windows", "version": "22H2"},
        },
        "user": {"domain": "CORP", "name": e.user},
    }
    if e.kind == "process":
        proc |= {
            "command_line": f'"{e.image}" --type=renderer --lang=en-US',
            "parent": {
                "entity_id": f"{e.host_id[:8]}-{e.ppid}",
                "pid": e.ppid,
                "executable": r"C:\Windows\explorer.exe",
                "name": "explorer.exe",
            },
        }
        doc |= {
            "event": {
                "action": "start",
                "category": ["process"],
                "type": ["start"],
                "kind": "event",
                "dataset": "endpoint.events.process",
            },
            "process": proc,
        }
    elif e.kind == "dns":
        doc |= {
            "event": {
                "action": "lookup_result",
                "category": ["network"],
                "type": ["protocol", "info"],
                "kind": "event",
                "dataset": "endpoint.events.network",
            },
            "dns": {"question": {"name": e.domain, "type": "A"}, "resolved_ip": [e.ip]},
            "process": proc,
        }
    else:
        doc |= {
            "event": {
                "action": "connection_attempted",
                "category": ["network"],
                "type": ["start", "connection"],
                "kind": "event",
                "dataset": "endpoint.events.network",
                "outcome": "unknown",
            },
            "source": {"ip": "10.20.0.5", "port": e.sport},
            "destination": {"ip": e.ip, "port": 443},
            "network": {"direction": "egress", "transport": "tcp", "type": "ipv4"},
            "process": proc,
        }
    return json.dumps(doc)


def falcon(e: Ev) -> str:
    ms = int(e.ts.timestamp() * 1000)
    base = {
        "aid": e.host_id,
        "cid": "c0ffee00c0ffee00c0ffee00c0ffee00",
        "timestamp": str(ms),
        "ContextTimeStamp": f"{e.ts.timestamp():.3f}",
        "event_platform": "Win",
        "id": f"{e.i:08x}-aaaa-bbbb-cccc-{e.i:012x}",
        "name": "",
        "ConfigBuild": "1007.3.0017706.1",
        "ConfigStateHash": "1763245019",
    }
    if e.kind == "process":
        base |= {
            "event_simpleName": "ProcessRollup2",
            "name": "ProcessRollup2V19",
            "TargetProcessId": str(e.pid * 1000 + 17),
            "ParentProcessId": str(e.ppid * 1000),
            "RawProcessId": str(e.pid),
            "ImageFileName": "\\Device\\HarddiskVolume3" + e.image[2:],
            "CommandLine": f'"{e.image}"',
            "ParentBaseFileName": "explorer.exe",
            "UserName": e.user,
            "ComputerName": e.host,
            "SHA256HashData": "9" * 64,
        }
    elif e.kind == "dns":
        base |= {
            "event_simpleName": "DnsRequest",
            "name": "DnsRequestV4",
            "ContextProcessId": str(e.pid * 1000 + 17),
            "DomainName": e.domain,
            "RequestType": "1",
            "IP4Records": e.ip + ";",
            "CNAMERecords": "",
        }
    else:
        base |= {
            "event_simpleName": "NetworkConnectIP4",
            "name": "NetworkConnectIP4V5",
            "ContextProcessId": str(e.pid * 1000 + 17),
            "RemoteAddressIP4": e.ip,
            "RemotePort": "443",
            "LocalAddressIP4": "10.20.0.5",
            "LocalPort": str(e.sport),
            "Protocol": "6",
            "ConnectionDirection": "0",
        }
    return json.dumps(base)


def defender(e: Ev) -> str:
    init = {
        "InitiatingProcessFileName": _name(e.image),
        "InitiatingProcessFolderPath": e.image,
        "InitiatingProcessId": e.pid,
        "InitiatingProcessCommandLine": f'"{_name(e.image)}"',
        "InitiatingProcessCreationTime": _iso(T0, 7),
        "InitiatingProcessAccountName": e.user,
        "InitiatingProcessAccountDomain": "corp",
        "InitiatingProcessParentFileName": "explorer.exe",
        "InitiatingProcessParentId": e.ppid,
    }
    base = {
        "Timestamp": _iso(e.ts, 7),
        "DeviceId": e.host_id + "00000000",
        "DeviceName": e.host.lower() + ".corp.example",
        "ReportId": e.i,
    }
    if e.kind == "process":
        base |= {
            "Type": "DeviceProcessEvents",
            "ActionType": "ProcessCreated",
            "FileName": _name(e.image),
            "FolderPath": e.image,
            "ProcessId": e.pid,
            "ProcessCommandLine": f'"{_name(e.image)}"',
            "ProcessCreationTime": _iso(e.ts, 7),
            "AccountName": e.user,
            "AccountDomain": "corp",
        } | init
    elif e.kind == "dns":
        extra = json.dumps(
            {
                "DnsQueryString": e.domain,
                "DnsQueryResult": [{"DnsQueryType": 1, "DnsQueryResultRecord": e.ip}],
            }
        )
        base |= {
            "Type": "DeviceEvents",
            "ActionType": "DnsQueryResponse",
            "AdditionalFields": extra,
        } | init
    else:
        base |= {
            "Type": "DeviceNetworkEvents",
            "ActionType": "ConnectionSuccess",
            "RemoteIP": e.ip,
            "RemotePort": 443,
            "RemoteUrl": e.domain,
            "LocalIP": "10.20.0.5",
            "LocalPort": e.sport,
            "Protocol": "Tcp",
            "RemoteIPType": "Public",
        } | init
    return json.dumps(base)


def udm(e: Ev) -> str:
    meta = {
        "event_timestamp": _iso(e.ts, 6),
        "product_name": "Sysmon",
        "vendor_name": "Microsoft",
        "id": f"AAAAA{e.i:020d}",
    }
    principal: dict[str, object] = {
        "hostname": e.host,
        "ip": ["10.20.0.5"],
        "user": {"userid": e.user},
        "process": {
            "pid": str(e.pid),
            "file": {"full_path": e.image},
            "product_specific_process_id": f"SYS:{e.pid}",
        },
    }
    if e.kind == "process":
        meta["event_type"] = "PROCESS_LAUNCH"
        doc = {
            "metadata": meta,
            "principal": principal,
            "target": {
                "process": {
                    "pid": str(e.pid),
                    "file": {"full_path": e.image},
                    "command_line": f'"{e.image}"',
                }
            },
        }
    elif e.kind == "dns":
        meta["event_type"] = "NETWORK_DNS"
        doc = {
            "metadata": meta,
            "principal": principal,
            "network": {
                "dns": {
                    "questions": [{"name": e.domain, "type": 1}],
                    "answers": [{"name": e.domain, "type": 1, "data": e.ip}],
                }
            },
        }
    else:
        meta["event_type"] = "NETWORK_CONNECTION"
        doc = {
            "metadata": meta,
            "principal": principal,
            "target": {"ip": [e.ip], "port": 443, "hostname": e.domain},
            "network": {"ip_protocol": "TCP", "direction": "OUTBOUND"},
        }
    return json.dumps(doc)


def zeek_json(e: Ev) -> str:
    return json.dumps(
        {
            "ts": round(e.ts.timestamp(), 6),
            "uid": f"C{e.i:017x}",
            "id.orig_h": "10.20.0.5",
            "id.orig_p": e.sport,
            "id.resp_h": e.ip,
            "id.resp_p": 443,
            "proto": "tcp",
            "service": "ssl",
            "duration": 0.412,
            "orig_bytes": 812,
            "resp_bytes": 5120,
            "conn_state": "SF",
            "local_orig": True,
            "local_resp": False,
            "missed_bytes": 0,
            "history": "ShADadFf",
            "orig_pkts": 9,
            "orig_ip_bytes": 1292,
            "resp_pkts": 8,
            "resp_ip_bytes": 5552,
        }
    )


ZEEK_FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
]
ZEEK_TYPES = [
    "time",
    "string",
    "addr",
    "port",
    "addr",
    "port",
    "enum",
    "string",
    "interval",
    "count",
    "count",
    "string",
    "bool",
    "bool",
    "count",
    "string",
    "count",
    "count",
    "count",
    "count",
    "set[string]",
]


def zeek_tsv_header() -> str:
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tconn\n#open\t2026-11-02-00-00-00\n#fields\t" + "\t".join(ZEEK_FIELDS) + "\n"
        "#types\t" + "\t".join(ZEEK_TYPES) + "\n"
    )


def zeek_tsv(e: Ev) -> str:
    return "\t".join(
        [
            f"{e.ts.timestamp():.6f}",
            f"C{e.i:017x}",
            "10.20.0.5",
            str(e.sport),
            e.ip,
            "443",
            "tcp",
            "ssl",
            "0.412000",
            "812",
            "5120",
            "SF",
            "T",
            "F",
            "0",
            "ShADadFf",
            "9",
            "1292",
            "8",
            "5552",
            "-",
        ]
    )


def sysmon_xml(e: Ev) -> str:
    eid, data = sysmon_data(e)
    body = "".join(f"<Data Name='{k}'>{_xml(v)}</Data>" for k, v in data.items())
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"
        f"<EventID>{eid}</EventID><Version>5</Version><Level>4</Level><Task>{eid}</Task>"
        "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
        f"<TimeCreated SystemTime='{_iso(e.ts, 7)}'/><EventRecordID>{e.i + 1}</EventRecordID>"
        "<Correlation/><Execution ProcessID='3120' ThreadID='4280'/>"
        "<Channel>Microsoft-Windows-Sysmon/Operational</Channel>"
        f"<Computer>{e.host.lower()}.corp.example</Computer><Security UserID='S-1-5-18'/>"
        f"</System><EventData>{body}</EventData></Event>"
    )


def _xml(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


WRITERS: dict[str, tuple[str, Callable[[Ev], str]]] = {
    "ecs": ("ecs.ndjson", ecs),
    "falcon": ("falcon.ndjson", falcon),
    "defender": ("defender.ndjson", defender),
    "udm": ("udm.ndjson", udm),
    "zeek_json": ("conn.json.log", zeek_json),
    "zeek_tsv": ("conn.log", zeek_tsv),
    "sysmon_xml": ("sysmon.xml", sysmon_xml),
}


def write(fmt: str, n: int, out: Path) -> Path:
    name, fn = WRITERS[fmt]
    path = out / name
    with path.open("w", encoding="utf-8", newline="\n") as f:
        if fmt == "zeek_tsv":
            f.write(zeek_tsv_header())
        sep = "" if fmt == "sysmon_xml" else "\n"  # wevtutil prints events back to back
        buf: list[str] = []
        for e in events(n):
            buf.append(fn(e) + sep)
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
        if fmt == "zeek_tsv":
            f.write("#close\t2026-11-03-00-00-00\n")
    return path


def sysmon_data(e: Ev) -> tuple[int, dict[str, str]]:
    """Sysmon event id and EventData of an event (shared by the XML and EVTX writers)."""
    eid = {"process": 1, "dns": 22, "connection": 3}[e.kind]
    utc = e.ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{e.ts.microsecond // 1000:03d}"
    guid = f"{{{e.host_id[:8]}-{e.pid:04x}-6723-0000-0010{e.pid:08x}}}"
    data = {
        "RuleName": "-",
        "UtcTime": utc,
        "ProcessGuid": guid,
        "ProcessId": str(e.pid),
        "Image": e.image,
    }
    if eid == 1:
        data |= {
            "FileVersion": "-",
            "CommandLine": f'"{e.image}"',
            "CurrentDirectory": "C:\\Windows\\system32\\",
            "User": f"CORP\\{e.user}",
            "IntegrityLevel": "Medium",
            "Hashes": "SHA256=" + "A" * 64,
            "ParentProcessGuid": guid,
            "ParentProcessId": str(e.ppid),
            "ParentImage": r"C:\Windows\explorer.exe",
            "ParentCommandLine": r"C:\Windows\Explorer.EXE",
        }
    elif eid == 22:
        data |= {
            "QueryName": e.domain,
            "QueryStatus": "0",
            "QueryResults": f"::ffff:{e.ip};",
            "User": f"CORP\\{e.user}",
        }
    else:
        data |= {
            "User": f"CORP\\{e.user}",
            "Protocol": "tcp",
            "Initiated": "true",
            "SourceIsIpv6": "false",
            "SourceIp": "10.20.0.5",
            "SourceHostname": "-",
            "SourcePort": str(e.sport),
            "SourcePortName": "-",
            "DestinationIsIpv6": "false",
            "DestinationIp": e.ip,
            "DestinationHostname": "-",
            "DestinationPort": "443",
            "DestinationPortName": "https",
        }
    return eid, data


def write_evtx(n: int, out: Path) -> Path:
    """Sysmon EVTX through relayhunt's own EVTX writer (the one the emulator uses)."""
    import uuid

    from relayhunt.emulate.evtx import EvtxEvent
    from relayhunt.emulate.evtx import write_evtx as write

    provider = uuid.UUID("5770385f-c22a-43e0-bf4c-06f5698ffbd9")
    path = out / "sysmon.evtx"
    write(
        path,
        (
            EvtxEvent(
                event_id=eid,
                time_created=e.ts,
                computer=e.host.lower() + ".corp.example",
                channel="Microsoft-Windows-Sysmon/Operational",
                provider_name="Microsoft-Windows-Sysmon",
                provider_guid=provider,
                data=tuple(data.items()),
                version=5,
                task=eid,
                process_id=3120,
                thread_id=4280,
                user_sid="S-1-5-18",
            )
            for e in events(n)
            for eid, data in (sysmon_data(e),)
        ),
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/data"))
    ap.add_argument("--formats", default=",".join([*WRITERS, "sysmon_evtx"]))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for fmt in args.formats.split(","):
        if fmt == "sysmon_evtx":
            p = write_evtx(args.events, args.out)
            print(fmt, p, f"{p.stat().st_size / 1e6:.0f} MB")
            continue
        p = write(fmt, args.events, args.out)
        print(fmt, p, f"{p.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
