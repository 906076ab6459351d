"""Google SecOps (Chronicle) UDM events as the ``WINDOWS_SYSMON`` parser produces them,
one snake_case event per line (the UDM field list's names; see
``tests/fixtures/udm/README.md``).

* ``PROCESS_LAUNCH``: the new process in ``target.process``, its parent in
  ``principal.process``;
* ``NETWORK_DNS``: ``network.dns.questions`` / ``answers`` (numeric record types);
* ``NETWORK_CONNECTION``: ``target.ip`` / ``target.port``; Sysmon's reverse-DNS
  ``DestinationHostname`` is not the name asked for, so ``target.hostname`` is left out
  and the name comes from the process's ``NETWORK_DNS`` event;
* ``FILE_CREATION``: ``target.file.full_path``.

UDM links them by ``principal.process.product_specific_process_id`` (Sysmon's
``ProcessGuid``), with ``parent_process`` describing the parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import (
    Connection,
    DnsLookup,
    FileCreate,
    Process,
    ProcessStart,
    Telemetry,
)
from relayhunt.emulate.writers._common import dumps, iso, write_lines


def _proc(p: Process, *, with_parent: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "pid": str(p.pid),
        "command_line": p.command_line,
        "product_specific_process_id": p.guid,
        "file": {"full_path": p.image, "sha256": p.sha256, "md5": p.md5},
    }
    if with_parent and p.parent is not None:
        q = p.parent
        doc["parent_process"] = {
            "pid": str(q.pid),
            "product_specific_process_id": q.guid,
            "command_line": q.command_line,
            "file": {"full_path": q.image},
        }
    return doc


def _principal(p: Process, proc: dict[str, Any], port: int | None = None) -> dict[str, Any]:
    h = p.host
    doc: dict[str, Any] = {
        "hostname": h.fqdn,
        "asset_id": f"Sysmon:{h.name}",
        "ip": [h.ip],
        "user": {"userid": p.user, "windows_sid": p.sid},
        "administrative_domain": p.user_domain,
        "process": proc,
    }
    if port is not None:
        doc["port"] = port
    return doc


def _meta(n: int, t: float, event_type: str, eid: str) -> dict[str, Any]:
    return {
        "product_log_id": str(19_000 + n),
        "event_timestamp": iso(t, 6),
        "event_type": event_type,
        "product_event_type": eid,
        "vendor_name": "Microsoft",
        "product_name": "Microsoft-Windows-Sysmon",
        "log_type": "WINDOWS_SYSMON",
    }


def records(tel: Telemetry) -> Iterator[str]:
    for n, ev in enumerate(tel.events):
        p = ev.proc
        doc: dict[str, Any]
        if isinstance(ev, ProcessStart):
            parent = p.parent
            doc = {
                "metadata": _meta(n, ev.t, "PROCESS_LAUNCH", "1"),
                "principal": _principal(p, _proc(parent, with_parent=False) if parent else {}),
                "target": {"process": _proc(p, with_parent=False)},
            }
        elif isinstance(ev, DnsLookup):
            answers = [
                {"name": ev.dest.domain, "type": 5, "ttl": ev.dest.ttl, "data": c}
                for c in ev.dest.cnames
            ]
            answers += [
                {"name": ev.dest.domain, "type": 1, "ttl": ev.dest.ttl, "data": ip}
                for ip in ev.dest.ips
            ]
            doc = {
                "metadata": _meta(n, ev.t, "NETWORK_DNS", "22"),
                "principal": _principal(p, _proc(p, with_parent=True)),
                "network": {
                    "application_protocol": "DNS",
                    "dns": {
                        "questions": [{"name": ev.dest.domain, "type": 1}],
                        "answers": answers,
                        "response_code": 0,
                    },
                },
            }
        elif isinstance(ev, Connection):
            doc = {
                "metadata": _meta(n, ev.t, "NETWORK_CONNECTION", "3"),
                "principal": _principal(p, _proc(p, with_parent=True), ev.src_port),
                "target": {"ip": [ev.ip], "port": ev.dest.port},
                "network": {"ip_protocol": "TCP", "direction": "OUTBOUND"},
            }
        elif isinstance(ev, FileCreate):
            doc = {
                "metadata": _meta(n, ev.t, "FILE_CREATION", "11"),
                "principal": _principal(p, _proc(p, with_parent=True)),
                "target": {"file": {"full_path": ev.path}},
            }
        else:
            continue
        yield dumps(doc)


def write(tel: Telemetry, out: Path) -> list[Path]:
    return [write_lines(out / "udm-events.ndjson", records(tel))]
