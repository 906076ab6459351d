"""Zeek's view of the same traffic: ``conn``, ``dns``, ``ssl`` and ``http`` logs, as the
ASCII writer's TSV (``#fields`` / ``#types`` headers) or as JSON (``LogAscii::use_json``:
one object per line, unset fields left out, ``ts`` as epoch seconds).

Field lists and types are the ``Info`` records of Zeek's base scripts (``conn/main.zeek``,
``dns/main.zeek``, ``ssl/main.zeek``, ``http/main.zeek``), in the order Zeek writes them.

Zeek is a network sensor: it sees addresses, not processes or users. A TCP connection is
a ``conn`` row and, with the same ``uid``, an ``ssl`` row holding the TLS server name
(SNI) or an ``http`` row holding the ``Host`` header and user agent. A lookup is seen
only when it leaves the host, i.e. when the host's resolver cache could not answer it (a
``dns`` row plus the ``conn`` row of the UDP exchange with the resolver). Byte counts are
payload (``orig_bytes`` / ``resp_bytes``), TLS handshake included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import RESOLVER, Connection, DnsLookup, Telemetry, hex_id
from relayhunt.emulate.writers._common import Files

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

LOGS: dict[str, tuple[tuple[str, str], ...]] = {
    "conn": (
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("proto", "enum"),
        ("service", "string"),
        ("duration", "interval"),
        ("orig_bytes", "count"),
        ("resp_bytes", "count"),
        ("conn_state", "string"),
        ("local_orig", "bool"),
        ("local_resp", "bool"),
        ("missed_bytes", "count"),
        ("history", "string"),
        ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"),
        ("resp_pkts", "count"),
        ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ),
    "dns": (
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("proto", "enum"),
        ("trans_id", "count"),
        ("rtt", "interval"),
        ("query", "string"),
        ("qclass", "count"),
        ("qclass_name", "string"),
        ("qtype", "count"),
        ("qtype_name", "string"),
        ("rcode", "count"),
        ("rcode_name", "string"),
        ("AA", "bool"),
        ("TC", "bool"),
        ("RD", "bool"),
        ("RA", "bool"),
        ("Z", "count"),
        ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"),
        ("rejected", "bool"),
    ),
    "ssl": (
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("version", "string"),
        ("cipher", "string"),
        ("curve", "string"),
        ("server_name", "string"),
        ("resumed", "bool"),
        ("last_alert", "string"),
        ("next_protocol", "string"),
        ("established", "bool"),
        ("ssl_history", "string"),
        ("cert_chain_fps", "vector[string]"),
        ("client_cert_chain_fps", "vector[string]"),
        ("sni_matches_cert", "bool"),
    ),
    "http": (
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("trans_depth", "count"),
        ("method", "string"),
        ("host", "string"),
        ("uri", "string"),
        ("referrer", "string"),
        ("version", "string"),
        ("user_agent", "string"),
        ("origin", "string"),
        ("request_body_len", "count"),
        ("response_body_len", "count"),
        ("status_code", "count"),
        ("status_msg", "string"),
        ("info_code", "count"),
        ("info_msg", "string"),
        ("tags", "set[enum]"),
        ("username", "string"),
        ("password", "string"),
        ("proxied", "set[string]"),
        ("orig_fuids", "vector[string]"),
        ("orig_filenames", "vector[string]"),
        ("orig_mime_types", "vector[string]"),
        ("resp_fuids", "vector[string]"),
        ("resp_filenames", "vector[string]"),
        ("resp_mime_types", "vector[string]"),
    ),
}
_STATUS = {200: "OK", 204: "No Content", 302: "Found", 404: "Not Found"}
TLS_CLIENT_OVERHEAD = 517
TLS_SERVER_OVERHEAD = 3_870


def _uid(kind: str, n: int) -> str:
    v = int(hex_id("zeek-uid", 24, kind, n), 16)
    chars = []
    for _ in range(17):
        v, r = divmod(v, 62)
        chars.append(_B62[r])
    return "C" + "".join(chars)


def rows(tel: Telemetry) -> Iterator[tuple[str, dict[str, Any]]]:
    """(log, row: field name -> value, None = unset) in event order."""
    for n, ev in enumerate(tel.events):
        if isinstance(ev, DnsLookup):
            if not ev.on_wire:
                continue
            uid = _uid("dns", n)
            rtt = 0.004 + (n % 13) * 0.0011
            ids = {
                "id.orig_h": ev.proc.host.ip,
                "id.orig_p": ev.src_port,
                "id.resp_h": RESOLVER,
                "id.resp_p": 53,
            }
            answers = [*ev.dest.cnames, *ev.dest.ips]
            q_len = 17 + len(ev.dest.domain)
            yield (
                "conn",
                (
                    {
                        "ts": ev.t,
                        "uid": uid,
                        **ids,
                        "proto": "udp",
                        "service": "dns",
                        "duration": rtt,
                        "orig_bytes": q_len,
                        "resp_bytes": q_len + 16 * len(answers),
                        "conn_state": "SF",
                        "local_orig": True,
                        "local_resp": True,
                        "missed_bytes": 0,
                        "history": "Dd",
                        "orig_pkts": 1,
                        "orig_ip_bytes": q_len + 28,
                        "resp_pkts": 1,
                        "resp_ip_bytes": q_len + 16 * len(answers) + 28,
                        "tunnel_parents": None,
                    }
                ),
            )
            yield (
                "dns",
                (
                    {
                        "ts": ev.t,
                        "uid": uid,
                        **ids,
                        "proto": "udp",
                        "trans_id": ev.txid,
                        "rtt": rtt,
                        "query": ev.dest.domain,
                        "qclass": 1,
                        "qclass_name": "C_INTERNET",
                        "qtype": 1,
                        "qtype_name": "A",
                        "rcode": 0,
                        "rcode_name": "NOERROR",
                        "AA": False,
                        "TC": False,
                        "RD": True,
                        "RA": True,
                        "Z": 0,
                        "answers": answers,
                        "TTLs": [float(ev.dest.ttl)] * len(answers),
                        "rejected": False,
                    }
                ),
            )
        elif isinstance(ev, Connection):
            uid = _uid("conn", n)
            ids = {
                "id.orig_h": ev.proc.host.ip,
                "id.orig_p": ev.src_port,
                "id.resp_h": ev.ip,
                "id.resp_p": ev.dest.port,
            }
            tls = ev.dest.tls
            sent = ev.sent + (TLS_CLIENT_OVERHEAD if tls else 0)
            recv = ev.recv + (TLS_SERVER_OVERHEAD if tls else 0)
            opk, rpk = 3 + sent // 1_400, 3 + recv // 1_400
            yield (
                "conn",
                (
                    {
                        "ts": ev.t,
                        "uid": uid,
                        **ids,
                        "proto": "tcp",
                        "service": "ssl" if tls else "http",
                        "duration": ev.duration,
                        "orig_bytes": sent,
                        "resp_bytes": recv,
                        "conn_state": "SF",
                        "local_orig": True,
                        "local_resp": False,
                        "missed_bytes": 0,
                        "history": "ShADadFf",
                        "orig_pkts": opk,
                        "orig_ip_bytes": sent + 40 * opk,
                        "resp_pkts": rpk,
                        "resp_ip_bytes": recv + 40 * rpk,
                        "tunnel_parents": None,
                    }
                ),
            )
            if tls:
                yield (
                    "ssl",
                    (
                        {
                            "ts": ev.t + 0.03,
                            "uid": uid,
                            **ids,
                            "version": "TLSv13",
                            "cipher": "TLS_AES_256_GCM_SHA384",
                            "curve": "x25519",
                            "server_name": ev.dest.domain,
                            "resumed": False,
                            "last_alert": None,
                            "next_protocol": None,
                            "established": True,
                            "ssl_history": "CsiI",
                            "cert_chain_fps": None,
                            "client_cert_chain_fps": None,
                            "sni_matches_cert": None,
                        }
                    ),
                )
            elif ev.http is not None:
                r = ev.http
                yield (
                    "http",
                    (
                        {
                            "ts": ev.t + 0.02,
                            "uid": uid,
                            **ids,
                            "trans_depth": 1,
                            "method": r.method,
                            "host": ev.dest.domain,
                            "uri": r.uri,
                            "referrer": None,
                            "version": "1.1",
                            "user_agent": r.user_agent,
                            "origin": None,
                            "request_body_len": 0,
                            "response_body_len": r.response_body,
                            "status_code": r.status,
                            "status_msg": _STATUS.get(r.status, ""),
                            "info_code": None,
                            "info_msg": None,
                            "tags": [],
                            "username": None,
                            "password": None,
                            "proxied": None,
                            "orig_fuids": None,
                            "orig_filenames": None,
                            "orig_mime_types": None,
                            "resp_fuids": [_uid("file", n).replace("C", "F", 1)],
                            "resp_filenames": None,
                            "resp_mime_types": ["text/plain"],
                        }
                    ),
                )


def _tsv_value(v: Any, ztype: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "T" if v else "F"
    if ztype in ("time", "interval"):
        return f"{float(v):.6f}"
    if isinstance(v, list):
        return (
            ",".join(f"{x:.6f}" if isinstance(x, float) else str(x) for x in v) if v else "(empty)"
        )
    text = str(v)
    return text if text else "(empty)"


def _tsv_header(log: str, opened: str) -> list[str]:
    fields = LOGS[log]
    return [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{log}",
        f"#open\t{opened}",
        "#fields\t" + "\t".join(f for f, _ in fields),
        "#types\t" + "\t".join(t for _, t in fields),
    ]


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(t))


def write_tsv(tel: Telemetry, out: Path) -> list[Path]:
    files = Files()
    last: dict[Path, float] = {}
    for log, r in rows(tel):
        path = out / f"{log}.log"
        ts = float(r["ts"])
        header = () if files.has(path) else _tsv_header(log, _stamp(ts))
        files.write(path, "\t".join(_tsv_value(r[f], t) for f, t in LOGS[log]), header)
        last[path] = ts
    return files.close({p: [f"#close\t{_stamp(t + 1)}"] for p, t in last.items()})


def _json_line(log: str, r: dict[str, Any]) -> str:
    doc: dict[str, Any] = {}
    for f, t in LOGS[log]:
        v = r[f]
        if v is None:
            continue
        doc[f] = round(float(v), 6) if t in ("time", "interval") else v
    return json.dumps(doc, separators=(",", ":"))


def write_json(tel: Telemetry, out: Path) -> list[Path]:
    files = Files()
    for log, r in rows(tel):
        files.write(out / f"{log}.log", _json_line(log, r))
    return files.close()
