"""Telemetry readers. The registry is explicit: order matters, the first sniffer wins.

More specific formats come first: Sysmon through Winlogbeat is also ECS-shaped, and Zeek
via Filebeat is ECS too (it is read as ECS). Nothing registers itself on import.
"""

from __future__ import annotations

import importlib

from relayhunt.sources.base import Head, IngestContext, InputFile, Source

# (module, class) in sniffing order. Each reader adds its own line.
READERS: tuple[tuple[str, str], ...] = (
    # -- sysmon --
    ("relayhunt.sources.sysmon_evtx", "SysmonEvtxSource"),
    ("relayhunt.sources.sysmon_xml", "SysmonXmlSource"),
    ("relayhunt.sources.sysmon", "SysmonWinlogbeatSource"),
    ("relayhunt.sources.sysmon", "SysmonJsonSource"),
    # -- cloud control plane --
    ("relayhunt.sources.cloudtrail", "CloudTrailSource"),
    ("relayhunt.sources.cloudflare_audit", "CloudflareAuditSource"),
    ("relayhunt.sources.gcp_audit", "GcpAuditSource"),
    ("relayhunt.sources.azure_activity", "AzureActivitySource"),
    # -- falcon --
    ("relayhunt.sources.falcon", "FalconSource"),
    # -- defender --
    ("relayhunt.sources.defender", "DefenderJsonSource"),
    ("relayhunt.sources.defender", "DefenderCsvSource"),
    # -- udm --
    ("relayhunt.sources.udm", "UdmSource"),
    # -- zeek --
    ("relayhunt.sources.zeek", "ZeekTsvSource"),
    ("relayhunt.sources.zeek", "ZeekJsonSource"),
    ("relayhunt.sources.ecs", "EcsSource"),  # generic ECS: keep last
)


def registry() -> list[Source]:
    """All readers, most specific first."""
    readers: list[Source] = []
    for module, cls in READERS:
        readers.append(getattr(importlib.import_module(module), cls)())
    return readers


__all__ = ["READERS", "Head", "IngestContext", "InputFile", "Source", "registry"]
