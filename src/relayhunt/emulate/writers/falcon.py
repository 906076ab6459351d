"""CrowdStrike Falcon Data Replicator (FDR) events: gzip NDJSON parts as FDR delivers them
(``data/<batch-uuid>/part-00000.gz``), every value a string.

Record shapes after the FDR data dictionary as the Elastic ``crowdstrike`` integration's
FDR test data shows them (``tests/fixtures/falcon/README.md``): ``ProcessRollup2`` (no
``ContextTimeStamp``; ``ProcessStartTime`` in epoch seconds), ``DnsRequest``
(``DomainName``, ``IP4Records`` ``a;b;``, ``CNAMERecords``), ``NetworkConnectIP4``
(``ConnectionDirection`` 0), ``NewScriptWritten`` for scripts. ``timestamp`` is when the
cloud received the event (epoch ms, a little after ``ContextTimeStamp``).

Linking is Falcon's: a process is its UPID, ``TargetProcessId`` on its ProcessRollup2
and ``ContextProcessId`` on everything it does (``ParentProcessId`` names the parent's
UPID). Network events carry no image name and no host name; raw FDR carries no
``ComputerName`` at all (it lives in the ``aidmaster`` feed), so the host is the ``aid``.
Paths are the kernel's ``\\Device\\HarddiskVolume3\\...`` form. Falcon does not record
byte counts on connections.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import (
    FALCON_CID,
    Connection,
    DnsLookup,
    FileCreate,
    Process,
    ProcessStart,
    Telemetry,
    hex_id,
)
from relayhunt.emulate.writers._common import (
    device_path,
    dumps,
    epoch_ms,
    epoch_s3,
    extension,
    write_lines,
)

SCRIPT_EXTENSIONS = {"js", "jse", "vbs", "vbe", "wsf", "ps1", "bat", "cmd", "hta", "py"}
INTEGRITY_RID = {"Low": "4096", "Medium": "8192", "High": "12288", "System": "16384"}


def _base(n: int, t: float, p: Process, simple: str, version: str) -> dict[str, Any]:
    return {
        "event_simpleName": simple,
        "name": f"{simple}{version}",
        "aid": p.host.aid,
        "aip": "198.51.100.23",
        "cid": FALCON_CID,
        "event_platform": "Win",
        "id": str(uuid.UUID(hex_id("falcon-id", 32, p.host.aid, n))),
        "ConfigBuild": "1007.3.0019206.1",
        "ConfigStateHash": "1763245019",
        "Entitlements": "15",
        "EffectiveTransmissionClass": "3",
        "timestamp": epoch_ms(t + 0.9 + (n % 7) * 0.13),
    }


def records(tel: Telemetry) -> Iterator[str]:
    """The JSON line of every event Falcon records, in event order."""
    for n, ev in enumerate(tel.events):
        p = ev.proc
        if isinstance(ev, ProcessStart):
            doc = _base(n, ev.t, p, "ProcessRollup2", "V19")
            q = p.parent
            doc |= {
                "TargetProcessId": p.upid,
                "ParentProcessId": q.upid if q else "0",
                "SourceProcessId": q.upid if q else "0",
                "RawProcessId": str(p.pid),
                "ProcessStartTime": epoch_s3(p.start),
                "ProcessEndTime": "",
                "ImageFileName": device_path(p.image),
                "CommandLine": p.command_line,
                "ParentBaseFileName": q.name if q else "",
                "UserSid": p.sid,
                "UserName": p.user,
                "AuthenticationId": "999" if p.user_domain == "NT AUTHORITY" else "3384122",
                "IntegrityLevel": INTEGRITY_RID.get(p.integrity, "8192"),
                "TokenType": "1",
                "SessionId": "0" if p.user_domain == "NT AUTHORITY" else "1",
                "ImageSubsystem": "3",
                "SHA256HashData": p.sha256,
                "MD5HashData": p.md5,
                "SHA1HashData": "0000000000000000000000000000000000000000",
            }
        elif isinstance(ev, DnsLookup):
            doc = _base(n, ev.t, p, "DnsRequest", "V1")
            doc |= {
                "ContextTimeStamp": epoch_s3(ev.t),
                "ContextProcessId": p.upid,
                "ContextThreadId": str(int(p.upid) * 97 % 10**15),
                "DomainName": ev.dest.domain,
                "RequestType": "1",
                "DnsRequestCount": "1",
                "DualRequest": "0",
                "QueryStatus": "0",
                "DnsResponseType": "2",
                "InterfaceIndex": "0",
                "RespondingDnsServer": "10.20.0.53",
                "IP4Records": "".join(f"{ip};" for ip in ev.dest.ips),
                "CNAMERecords": "".join(f"{c};" for c in ev.dest.cnames),
                "FirstIP4Record": ev.dest.ips[0],
            }
        elif isinstance(ev, Connection):
            doc = _base(n, ev.t, p, "NetworkConnectIP4", "V5")
            doc |= {
                "ContextTimeStamp": epoch_s3(ev.t),
                "ContextProcessId": p.upid,
                "ContextThreadId": str(int(p.upid) * 89 % 10**15),
                "LocalAddressIP4": p.host.ip,
                "LocalPort": str(ev.src_port),
                "RemoteAddressIP4": ev.ip,
                "RemotePort": str(ev.dest.port),
                "Protocol": "6",
                "ConnectionDirection": "0",
                "ConnectionFlags": "0",
                "InContext": "0",
            }
        elif isinstance(ev, FileCreate) and extension(ev.path) in SCRIPT_EXTENSIONS:
            doc = _base(n, ev.t, p, "NewScriptWritten", "V3")
            doc |= {
                "ContextTimeStamp": epoch_s3(ev.t),
                "ContextProcessId": p.upid,
                "ContextBaseFileName": p.name,
                "ContextImageFileName": device_path(p.image),
                "TargetFileName": device_path(ev.path),
                "FileIdentifier": hex_id("file", 48, ev.path),
                "IrpFlags": "2500",
                "MajorFunction": "0",
                "MinorFunction": "0",
                "OperationFlags": "0",
                "Size": "214",
                "SHA256HashData": hex_id("sha256", 64, ev.path),
            }
        else:
            continue
        yield dumps(doc)


def write(tel: Telemetry, out: Path) -> list[Path]:
    batch = uuid.UUID(hex_id("fdr-batch", 32, *(h.name for h in tel.hosts)))
    return [write_lines(out / "data" / str(batch) / "part-00000.gz", records(tel), gz=True)]
