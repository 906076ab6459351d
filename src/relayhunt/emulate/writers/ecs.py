"""Elastic Defend (Endpoint) events in ECS, as exported from the ``logs-endpoint.events.*``
data streams: one JSON document per line.

Shape after the Elastic Common Schema reference and the Elastic Defend event docs (see
``tests/fixtures/ecs/defend_windows/README.md``):

* process start: ``event.action`` ``start``, ``event.category`` ``["process"]``,
  ``event.type`` ``["start"]``, dataset ``endpoint.events.process``; the process and its
  ``parent`` with ``entity_id``, ``pid``, ``executable``, ``args``, ``command_line``;
* DNS: ``lookup_result`` with ``dns.question.name`` and ``dns.resolved_ip``
  (``endpoint.events.network``);
* connection: ``connection_attempted`` when it opens and ``disconnect_received`` when it
  closes, the latter with ``source.bytes`` / ``destination.bytes``;
* file: ``creation`` with ``file.path`` / ``name`` / ``extension`` (``endpoint.events.file``).

Every event names its process by ``process.entity_id``, which is how Elastic links them.
Defend records no PowerShell script blocks (that is the Windows integration's
``powershell_operational`` data stream), so :class:`ScriptBlock` events are not written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import (
    Connection,
    DnsLookup,
    FileCreate,
    Host,
    Process,
    ProcessStart,
    Telemetry,
)
from relayhunt.emulate.writers._common import dumps, extension, iso, windows_args, write_lines

AGENT_VERSION = "8.15.2"


class _Ecs:
    def __init__(self) -> None:
        self.n = 0
        self._hosts: dict[str, dict[str, Any]] = {}
        self._procs: dict[int, dict[str, Any]] = {}

    def host(self, h: Host) -> dict[str, Any]:
        if h.name not in self._hosts:
            self._hosts[h.name] = {
                "hostname": h.name,
                "id": h.ecs_host_id,
                "name": h.fqdn,
                "os": {
                    "family": "windows",
                    "name": "Windows",
                    "platform": "windows",
                    "version": "22H2",
                },
            }
        return self._hosts[h.name]

    def base(self, t: float, h: Host, dataset: str) -> dict[str, Any]:
        self.n += 1
        return {
            "@timestamp": iso(t),
            "agent": {"id": h.agent_id, "type": "endpoint", "version": AGENT_VERSION},
            "data_stream": {"dataset": dataset, "namespace": "default", "type": "logs"},
            "ecs": {"version": "8.11.0"},
        }

    def event(
        self, t: float, h: Host, action: str, category: str, types: list[str], dataset: str
    ) -> dict[str, Any]:
        return {
            "action": action,
            "category": [category],
            "created": iso(t + 0.001),
            "dataset": dataset,
            "id": f"Nq{h.ecs_host_id[:6]}{self.n:010d}",
            "kind": "event",
            "module": "endpoint",
            "outcome": "unknown",
            "type": types,
        }

    def proc_ref(self, p: Process) -> dict[str, Any]:
        ref = self._procs.get(id(p))
        if ref is None:
            ref = {
                "entity_id": p.ecs_entity_id,
                "executable": p.image,
                "name": p.name,
                "pid": p.pid,
            }
            self._procs[id(p)] = ref
        return ref

    @staticmethod
    def user(p: Process) -> dict[str, Any]:
        return {"domain": p.user_domain, "id": p.sid, "name": p.user}


def _process(p: Process) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "args": windows_args(p.command_line),
        "args_count": len(windows_args(p.command_line)),
        "command_line": p.command_line,
        "entity_id": p.ecs_entity_id,
        "executable": p.image,
        "hash": {"md5": p.md5, "sha1": p.sha1, "sha256": p.sha256},
        "name": p.name,
        "pid": p.pid,
        "start": iso(p.start),
        "working_directory": p.cwd,
        "Ext": {"token": {"integrity_level_name": p.integrity.lower()}},
    }
    if p.parent is not None:
        q = p.parent
        doc["parent"] = {
            "args": windows_args(q.command_line),
            "command_line": q.command_line,
            "entity_id": q.ecs_entity_id,
            "executable": q.image,
            "name": q.name,
            "pid": q.pid,
        }
    return doc


def records(tel: Telemetry) -> Iterator[str]:
    """The JSON line of every event, in event order; a connection gives two (open and
    close, the close stamped when the connection ended: an export is not strictly
    ordered)."""
    w = _Ecs()
    for ev in tel.events:
        h = ev.proc.host
        if isinstance(ev, ProcessStart):
            ds = "endpoint.events.process"
            doc = w.base(ev.t, h, ds)
            doc["event"] = w.event(ev.t, h, "start", "process", ["start"], ds)
            doc["host"] = w.host(h)
            doc["process"] = _process(ev.proc)
            doc["user"] = w.user(ev.proc)
            yield dumps(doc)
        elif isinstance(ev, DnsLookup):
            ds = "endpoint.events.network"
            doc = w.base(ev.t, h, ds)
            doc["dns"] = {
                "Ext": {"options": "0x0", "status": "0"},
                "question": {"name": ev.dest.domain, "type": "A"},
                "resolved_ip": list(ev.dest.ips),
            }
            doc["event"] = w.event(ev.t, h, "lookup_result", "network", ["protocol", "info"], ds)
            doc["host"] = w.host(h)
            doc["network"] = {"protocol": "dns"}
            doc["process"] = w.proc_ref(ev.proc)
            doc["user"] = w.user(ev.proc)
            yield dumps(doc)
        elif isinstance(ev, Connection):
            ds = "endpoint.events.network"
            for t, action, types, with_bytes in (
                (ev.t, "connection_attempted", ["start", "connection"], False),
                (ev.t + ev.duration, "disconnect_received", ["end", "connection"], True),
            ):
                doc = w.base(t, h, ds)
                dst: dict[str, Any] = {"address": ev.ip, "ip": ev.ip, "port": ev.dest.port}
                src: dict[str, Any] = {"address": h.ip, "ip": h.ip, "port": ev.src_port}
                if with_bytes:
                    dst["bytes"] = ev.recv
                    src["bytes"] = ev.sent
                doc["destination"] = dst
                doc["event"] = w.event(t, h, action, "network", types, ds)
                doc["host"] = w.host(h)
                doc["network"] = {"direction": "egress", "transport": "tcp", "type": "ipv4"}
                doc["process"] = w.proc_ref(ev.proc)
                doc["source"] = src
                doc["user"] = w.user(ev.proc)
                yield dumps(doc)
        elif isinstance(ev, FileCreate):
            ds = "endpoint.events.file"
            doc = w.base(ev.t, h, ds)
            doc["event"] = w.event(ev.t, h, "creation", "file", ["creation"], ds)
            name = ev.path.rsplit("\\", 1)[-1]
            doc["file"] = {"extension": extension(ev.path), "name": name, "path": ev.path}
            doc["host"] = w.host(h)
            doc["process"] = w.proc_ref(ev.proc)
            doc["user"] = w.user(ev.proc)
            yield dumps(doc)


def write(tel: Telemetry, out: Path) -> list[Path]:
    return [write_lines(out / "endpoint-events.ndjson", records(tel))]
