"""The format-neutral model of emulated telemetry: hosts, processes, destinations and the
events between them, and the :class:`Builder` scenarios use to describe what happened.

A scenario says *what happened* once (a process started with this command line, resolved
this name, connected to this address at these times, wrote this file); the writers in
:mod:`relayhunt.emulate.writers` say *how each product records it*. Everything a product
derives on its own (Sysmon's ``ProcessGuid``, Elastic's ``process.entity_id``, Falcon's
UPIDs, Defender's ``DeviceId``) is derived here, deterministically, from the host and
process, so that every event of one process carries the same id in every format.

Times are POSIX seconds (float, UTC). All randomness comes from the builder's
``numpy.random.Generator``: a seed reproduces the telemetry byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_NS = uuid.UUID("6f1c2a3e-8d4b-4e5f-9a0b-1c2d3e4f5a6b")
DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
SYSTEM_SID = "S-1-5-18"
FALCON_CID = "c0ffee1d5e4b4f0a9b8c7d6e5f4a3b2c"
RESOLVER = "10.20.0.53"


def _digest(kind: str, *parts: object) -> bytes:
    return hashlib.sha256("|".join([kind, *map(str, parts)]).encode()).digest()


def hex_id(kind: str, n: int, *parts: object) -> str:
    """``n`` hex digits derived from ``parts`` (stable ids: agent ids, hashes)."""
    return hashlib.sha256("|".join([kind, *map(str, parts)]).encode()).hexdigest()[:n]


def basename(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


@dataclass(frozen=True)
class Host:
    """A Windows host: its NetBIOS name, address and primary (interactive) user."""

    name: str
    ip: str
    user: str = "alice"
    workstation: bool = True
    """A user's workstation (runs the Microsoft 365 apps), not a server."""
    dns_domain: str = "corp.example"
    netbios_domain: str = "CORP"
    fqdn: str = field(init=False)
    agent_id: str = field(init=False)
    """Elastic Agent / Winlogbeat ``agent.id`` (UUID)."""
    ecs_host_id: str = field(init=False)
    aid: str = field(init=False)
    """Falcon sensor id (32 hex)."""
    device_id: str = field(init=False)
    """Defender ``DeviceId`` (40 hex)."""
    machine_id: int = field(init=False)
    """First 32 bits of Sysmon's ``ProcessGuid`` (derived from the machine GUID)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "fqdn", f"{self.name.lower()}.{self.dns_domain}")
        set_(self, "agent_id", str(uuid.uuid5(_NS, "agent:" + self.name)))
        set_(self, "ecs_host_id", hex_id("host", 32, self.name))
        set_(self, "aid", hex_id("aid", 32, self.name))
        set_(self, "device_id", hex_id("device", 40, self.name))
        set_(self, "machine_id", int.from_bytes(_digest("machine", self.name)[:4], "big"))

    def ids(self) -> tuple[str, ...]:
        """Every identifier a finding's ``host_name`` can carry for this host, lowercase:
        the name, the FQDN, the Falcon aid (raw FDR has no computer name), the Defender
        DeviceId and the address (network sensors)."""
        return tuple(
            dict.fromkeys(
                v.lower()
                for v in (self.name, self.fqdn, self.aid, self.device_id, self.ip, self.agent_id)
            )
        )


def user_sid(user: str, domain: str) -> str:
    if domain.upper() == "NT AUTHORITY":
        return {"system": SYSTEM_SID, "local service": "S-1-5-19", "network service": "S-1-5-20"}[
            user.lower()
        ]
    rid = 1100 + int.from_bytes(_digest("rid", user.lower())[:2], "big") % 8000
    return f"{DOMAIN_SID}-{rid}"


@dataclass(frozen=True, eq=False)
class Process:
    """One process: image, command line, user, parent; ``logged`` is False for processes
    started before the data begins (explorer.exe, services.exe), which appear only as
    parents."""

    host: Host
    pid: int
    image: str
    command_line: str
    start: float
    parent: Process | None
    user: str
    user_domain: str
    integrity: str = "Medium"
    cwd: str = "C:\\Windows\\system32\\"
    logged: bool = True
    seq: int = 0
    name: str = field(init=False)
    guid: str = field(init=False)
    """Sysmon ``ProcessGuid``: machine id, start time (seconds, low then high 16 bits),
    a sequence number, as Sysmon builds it."""
    ecs_entity_id: str = field(init=False)
    """Elastic Defend ``process.entity_id``: base64 of agent id, pid and start time."""
    upid: str = field(init=False)
    """Falcon ``TargetProcessId`` / ``ContextProcessId``."""
    sha256: str = field(init=False)
    md5: str = field(init=False)
    sha1: str = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", basename(self.image))
        secs = int(self.start)
        guid = (
            f"{{{self.host.machine_id:08x}-{secs & 0xFFFF:04x}-{(secs >> 16) & 0xFFFF:04x}-"
            f"{0x2A00 + (self.seq & 0xFF):04x}-{self.seq * 0x100 + 0x1000:012x}}}"
        )
        set_(self, "guid", guid)
        raw = f"{self.host.agent_id}-{self.pid}-{filetime_of(self.start)}"
        set_(self, "ecs_entity_id", base64.b64encode(raw.encode()).decode())
        upid = (
            2_700_000_000_000
            + int.from_bytes(_digest("upid", self.host.name, self.pid, secs)[:5], "big")
            % 90_000_000_000
        )
        set_(self, "upid", str(upid))
        set_(self, "sha256", hex_id("sha256", 64, self.image.lower()))
        set_(self, "md5", hex_id("md5", 32, self.image.lower()))
        set_(self, "sha1", hex_id("sha1", 40, self.image.lower()))

    @property
    def account(self) -> str:
        """``DOMAIN\\user`` as Windows prints it."""
        return f"{self.user_domain}\\{self.user}"

    @property
    def sid(self) -> str:
        return user_sid(self.user, self.user_domain)


def filetime_of(t: float) -> int:
    """FILETIME ticks of a POSIX time."""
    return round(t * 10_000_000) + 116_444_736_000_000_000


@dataclass(frozen=True)
class Destination:
    """A name a client resolves and connects to. ``ptr`` is the reverse-DNS name of its
    addresses, a template over the address (``{dashed}`` = ``3-208-65-21``, ``{a}`` ..
    ``{d}`` = the octets), or None where the address has no PTR record (Cloudflare's
    anycast front end): it is what Sysmon puts in ``DestinationHostname``."""

    domain: str
    ips: tuple[str, ...]
    cnames: tuple[str, ...] = ()
    ptr: str | None = None
    port: int = 443
    tls: bool = True
    ttl: int = 300

    def reverse(self, ip: str) -> str | None:
        if self.ptr is None:
            return None
        a, b, c, d = ip.split(".")
        return self.ptr.format(dashed=ip.replace(".", "-"), a=a, b=b, c=c, d=d)


@dataclass(frozen=True)
class HttpRequest:
    """What a network sensor sees of a plain-HTTP request (Zeek ``http.log``)."""

    method: str
    uri: str
    user_agent: str
    status: int = 200
    response_body: int = 0


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessStart:
    t: float
    proc: Process


@dataclass(frozen=True, slots=True)
class DnsLookup:
    """A name lookup by a process. ``on_wire`` is False when the host's resolver cache
    answered it: endpoint sensors log every lookup, a network sensor only the others."""

    t: float
    proc: Process
    dest: Destination
    on_wire: bool
    src_port: int
    txid: int


@dataclass(frozen=True, slots=True)
class Connection:
    """An outbound TCP connection with its payload bytes and duration (seconds)."""

    t: float
    proc: Process
    dest: Destination
    ip: str
    src_port: int
    sent: int
    recv: int
    duration: float
    http: HttpRequest | None = None


@dataclass(frozen=True, slots=True)
class FileCreate:
    t: float
    proc: Process
    path: str


@dataclass(frozen=True, slots=True)
class ScriptBlock:
    """PowerShell script block logging (event 4104) of a process's script."""

    t: float
    proc: Process
    text: str
    block_id: str


Event = ProcessStart | DnsLookup | Connection | FileCreate | ScriptBlock


@dataclass(frozen=True, slots=True)
class CloudApiCall:
    """One control-plane (or data-plane) call as a cloud provider's audit log records it.

    ``cloud`` is ``aws``, ``cloudflare``, ``gcp`` or ``azure``; ``action`` is the
    provider's own event name (``ListFunctions20150331``, ``Invoke``; ``create`` /
    ``update`` for Cloudflare; the full ``methodName`` for Google Cloud; the
    ``operationName`` for Azure); ``resource`` the function ARN, Worker script name, Google
    Cloud ``resourceName`` or Azure ``resourceId``; ``account`` the AWS account, Cloudflare
    account, Google Cloud project or Azure subscription; ``request`` the parameters (the
    Azure request body). ``extra`` holds what only one provider logs: Google Cloud's
    ``serviceData`` (``policyDelta``), the Azure token's ``appid`` (the client
    application: the Activity Log records no user agent)."""

    t: float
    cloud: str
    service: str
    action: str
    actor: str
    actor_id: str
    account: str
    region: str
    source_ip: str
    user_agent: str
    resource: str | None
    request: dict[str, Any] | None
    read_only: bool
    data_event: bool = False
    description: str = ""
    extra: dict[str, Any] | None = None


@dataclass
class Telemetry:
    """Everything one scenario (or a dataset) produced, events sorted by time."""

    hosts: list[Host]
    events: list[Event]
    cloud: list[CloudApiCall]

    def processes(self) -> list[Process]:
        seen: dict[int, Process] = {}
        for ev in self.events:
            seen.setdefault(id(ev.proc), ev.proc)
        return list(seen.values())


# -- building -------------------------------------------------------------------------------


class Builder:
    """Collects what a scenario does. Times are absolute POSIX seconds; ``at(s)`` is
    ``start + s``."""

    def __init__(self, start: float, rng: np.random.Generator) -> None:
        self.start = start
        self.rng = rng
        self.hosts: list[Host] = []
        self.events: list[Event] = []
        self.cloud: list[CloudApiCall] = []
        self._pids: dict[str, set[int]] = {}
        self._ports: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        self._dns_wire: dict[tuple[str, str], float] = {}
        self._running: dict[tuple[str, str, str | None], Process] = {}

    def at(self, seconds: float) -> float:
        return self.start + seconds

    # hosts and processes

    def host(self, name: str, ip: str, user: str = "alice", *, workstation: bool = True) -> Host:
        h = Host(name, ip, user, workstation)
        self.hosts.append(h)
        self._pids[name] = set()
        self._ports[name] = 49_152 + int(self.rng.integers(0, 8_000))
        return h

    def _pid(self, host: Host) -> int:
        used = self._pids[host.name]
        while True:
            pid = 4 * int(self.rng.integers(250, 6_000))
            if pid not in used:
                used.add(pid)
                return pid

    def process(
        self,
        host: Host,
        image: str,
        command_line: str | None = None,
        *,
        parent: Process | None,
        t: float,
        user: str | None = None,
        user_domain: str | None = None,
        integrity: str | None = None,
        cwd: str | None = None,
        logged: bool = True,
    ) -> Process:
        """A process started at ``t``; its start is logged unless ``logged`` is False."""
        system = (user or "").upper() == "SYSTEM"
        seq = self._seq.get(host.name, 0) + 1
        self._seq[host.name] = seq
        proc = Process(
            host=host,
            pid=self._pid(host),
            image=image,
            command_line=command_line if command_line is not None else f'"{image}"',
            start=t,
            parent=parent,
            user=user or host.user,
            user_domain=user_domain or ("NT AUTHORITY" if system else host.netbios_domain),
            integrity=integrity or ("System" if system else "Medium"),
            cwd=cwd or (f"C:\\Users\\{host.user}\\" if not system else "C:\\Windows\\system32\\"),
            logged=logged,
            seq=seq,
        )
        if logged:
            self.events.append(ProcessStart(t, proc))
        return proc

    def running(
        self, host: Host, image: str, command_line: str | None = None, **kw: Any
    ) -> Process:
        """A process that was already running when the data begins (not logged); asking
        twice for the same host, image and command line gives the same process."""
        key = (host.name, image.lower(), command_line)
        proc = self._running.get(key)
        if proc is None:
            proc = self._running[key] = self.process(
                host, image, command_line, parent=None, t=self.start - 3_600 * 6, logged=False, **kw
            )
        return proc

    # network

    def _src_port(self, host: Host) -> int:
        port = self._ports[host.name]
        self._ports[host.name] = (
            49_152 + (port - 49_152 + 1 + int(self.rng.integers(0, 3))) % 16_000
        )
        return port

    def lookup(self, proc: Process, dest: Destination, t: float) -> None:
        key = (proc.host.name, dest.domain)
        last = self._dns_wire.get(key)
        on_wire = last is None or t - last >= dest.ttl
        if on_wire:
            self._dns_wire[key] = t
        self.events.append(
            DnsLookup(
                t,
                proc,
                dest,
                on_wire,
                49_152 + int(self.rng.integers(0, 16_000)),
                int(self.rng.integers(1, 65_535)),
            )
        )

    def connect(
        self,
        proc: Process,
        dest: Destination,
        t: float,
        *,
        sent: int,
        recv: int,
        duration: float | None = None,
        http: HttpRequest | None = None,
        ip: str | None = None,
    ) -> None:
        self.events.append(
            Connection(
                t,
                proc,
                dest,
                ip or dest.ips[0],
                self._src_port(proc.host),
                int(sent),
                int(recv),
                float(duration if duration is not None else self.rng.uniform(0.15, 1.2)),
                http,
            )
        )

    def beacon(
        self,
        proc: Process,
        dest: Destination,
        times: Iterable[float],
        *,
        sent: tuple[float, float],
        recv: tuple[float, float],
        dns: str = "every",
        http: HttpRequest | None = None,
    ) -> int:
        """A check-in at each time: a lookup (``dns``: ``every`` check-in, only when the
        ``cache`` entry expired, or ``none``) 20-80 ms before a connection whose payload
        sizes are normal around ``sent`` / ``recv`` (mean, standard deviation). Returns
        the number of check-ins. Random draws are made per call, as arrays."""
        ts = np.asarray(list(times), dtype=np.float64)
        n = int(ts.size)
        if n == 0:
            return 0
        rng = self.rng
        sent_b = np.maximum(64, np.rint(rng.normal(sent[0], sent[1], n))).astype(np.int64)
        recv_b = np.maximum(0, np.rint(rng.normal(recv[0], recv[1], n))).astype(np.int64)
        ip_i = rng.integers(0, len(dest.ips), n)
        lead = rng.uniform(0.02, 0.08, n)
        dur = rng.uniform(0.15, 1.2, n)
        dns_ports = rng.integers(49_152, 65_536, n)
        txids = rng.integers(1, 65_535, n)
        steps = rng.integers(1, 4, n)
        host = proc.host
        key = (host.name, dest.domain)
        port = self._ports[host.name]
        last_wire = self._dns_wire.get(key)
        events = self.events
        for i in range(n):
            t = float(ts[i])
            if dns == "every" or (
                dns == "cache" and (last_wire is None or t - last_wire >= dest.ttl)
            ):
                lt = t - float(lead[i])
                on_wire = last_wire is None or lt - last_wire >= dest.ttl
                if on_wire:
                    last_wire = lt
                events.append(DnsLookup(lt, proc, dest, on_wire, int(dns_ports[i]), int(txids[i])))
            events.append(
                Connection(
                    t,
                    proc,
                    dest,
                    dest.ips[int(ip_i[i])],
                    port,
                    int(sent_b[i]),
                    int(recv_b[i]),
                    float(dur[i]),
                    http,
                )
            )
            port = 49_152 + (port - 49_152 + int(steps[i])) % 16_000
        self._ports[host.name] = port
        if last_wire is not None:
            self._dns_wire[key] = last_wire
        return n

    # files, scripts, cloud

    def write_file(self, proc: Process, path: str, t: float) -> None:
        self.events.append(FileCreate(t, proc, path))

    def script_block(self, proc: Process, text: str, t: float) -> None:
        block = str(uuid.UUID(bytes=_digest("block", proc.guid, text)[:16], version=4))
        self.events.append(ScriptBlock(t, proc, text, block))

    def cloud_call(self, call: CloudApiCall) -> None:
        self.cloud.append(call)

    def build(self) -> Telemetry:
        order = sorted(range(len(self.events)), key=lambda i: (self.events[i].t, i))
        return Telemetry(
            list(self.hosts),
            [self.events[i] for i in order],
            sorted(self.cloud, key=lambda c: c.t),
        )


def merge(parts: Sequence[Telemetry]) -> Telemetry:
    """Several telemetries as one (hosts in order, events re-sorted by time)."""
    events = [e for p in parts for e in p.events]
    events.sort(key=lambda e: e.t)
    cloud = sorted((c for p in parts for c in p.cloud), key=lambda c: c.t)
    return Telemetry([h for p in parts for h in p.hosts], events, cloud)


__all__ = [
    "DOMAIN_SID",
    "FALCON_CID",
    "RESOLVER",
    "Builder",
    "CloudApiCall",
    "Connection",
    "Destination",
    "DnsLookup",
    "Event",
    "FileCreate",
    "Host",
    "HttpRequest",
    "Process",
    "ProcessStart",
    "ScriptBlock",
    "Telemetry",
    "basename",
    "filetime_of",
    "hex_id",
    "merge",
    "user_sid",
]
