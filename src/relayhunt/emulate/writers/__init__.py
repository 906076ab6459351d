"""One writer per product format: each turns the format-neutral :class:`Telemetry` into the
records that product writes, with its field names, types, time formats and its own way
of linking a process to its DNS lookups and connections.

:data:`FORMATS` lists them; ``reader`` is the relayhunt reader (``relayhunt formats``)
that must recognise the output. :func:`reader_registered` says whether a format's reader
is registered (a format without one is written, not hunted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relayhunt.emulate.model import Telemetry
from relayhunt.emulate.writers import cloud, defender, ecs, falcon, sysmon, udm, zeek

Writer = Callable[[Telemetry, Path], list[Path]]


@dataclass(frozen=True)
class Format:
    name: str
    product: str
    family: str
    """``endpoint`` (processes), ``network`` (a sensor: no processes) or ``cloud``."""
    reader: str
    write: Writer
    cloud: str | None = None
    """For cloud formats, the provider whose calls they hold (``aws``, ``cloudflare``,
    ``gcp``, ``azure``)."""


FORMATS: tuple[Format, ...] = (
    Format("ecs", "Elastic Defend (ECS NDJSON)", "endpoint", "ecs.ndjson", ecs.write),
    Format("sysmon-evtx", "Sysmon EVTX files", "endpoint", "sysmon.evtx", sysmon.write_evtx_files),
    Format(
        "sysmon-xml", "Sysmon rendered XML (wevtutil)", "endpoint", "sysmon.xml", sysmon.write_xml
    ),
    Format(
        "sysmon-winlogbeat",
        "Sysmon via Winlogbeat 8",
        "endpoint",
        "sysmon.winlogbeat",
        sysmon.write_winlogbeat,
    ),
    Format(
        "sysmon-json",
        "Sysmon via NXLog (flattened JSON)",
        "endpoint",
        "sysmon.json",
        sysmon.write_nxlog,
    ),
    Format("falcon", "CrowdStrike Falcon FDR", "endpoint", "falcon.fdr", falcon.write),
    Format(
        "defender-json",
        "Defender for Endpoint (Sentinel export JSON)",
        "endpoint",
        "defender.json",
        defender.write_json,
    ),
    Format(
        "defender-csv",
        "Defender for Endpoint (advanced hunting CSV export)",
        "endpoint",
        "defender.csv",
        defender.write_csv,
    ),
    Format("udm", "Google SecOps UDM (WINDOWS_SYSMON)", "endpoint", "udm.json", udm.write),
    Format("zeek-tsv", "Zeek conn/dns/ssl/http (TSV)", "network", "zeek.tsv", zeek.write_tsv),
    Format("zeek-json", "Zeek conn/dns/ssl/http (JSON)", "network", "zeek.json", zeek.write_json),
    Format(
        "cloudtrail",
        "AWS CloudTrail log files",
        "cloud",
        "cloudtrail.json",
        cloud.write_cloudtrail,
        cloud="aws",
    ),
    Format(
        "cloudflare-audit",
        "Cloudflare audit logs (Logpush audit_logs_v2)",
        "cloud",
        "cloudflare-audit.json",
        cloud.write_cloudflare,
        cloud="cloudflare",
    ),
    Format(
        "gcp-audit",
        "Google Cloud audit logs (Logging sink to Cloud Storage, NDJSON)",
        "cloud",
        "gcp-audit.json",
        cloud.write_gcp_audit,
        cloud="gcp",
    ),
    Format(
        "azure-activity",
        "Azure Activity Log (storage export, {records: [...]})",
        "cloud",
        "azure-activity.json",
        cloud.write_azure_activity,
        cloud="azure",
    ),
)
BY_NAME = {f.name: f for f in FORMATS}


def reader_registered(fmt: Format) -> bool:
    """Is the reader of ``fmt`` in relayhunt's reader registry?"""
    from relayhunt.sources import registry

    return fmt.reader in {r.name for r in registry()}


def resolve(name: str) -> Format:
    """A format by its name or its reader's name (``ecs`` or ``ecs.ndjson``)."""
    key = name.strip().lower()
    if key in BY_NAME:
        return BY_NAME[key]
    for f in FORMATS:
        if f.reader == key:
            return f
    raise KeyError(name)


__all__ = ["BY_NAME", "FORMATS", "Format", "Writer", "reader_registered", "resolve"]
