"""Defender's DnsQueryResponse rows are the DNS client service's (svchost.exe); the
process that asked is named in AdditionalFields by name and pid only. Its lookups take the
process instance of that pid on the host nearest in time, so that a client's lookups and
connections are one process: one finding, the hostname from its own lookup."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from relayhunt.api import hunt

DEVICE = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233"
HOST = "lt-ops-31.corp.example"
COLUMNS = [
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "ActionType",
    "RemoteUrl",
    "RemoteIP",
    "RemotePort",
    "LocalIP",
    "LocalPort",
    "Protocol",
    "InitiatingProcessFileName",
    "InitiatingProcessFolderPath",
    "InitiatingProcessId",
    "InitiatingProcessCommandLine",
    "InitiatingProcessCreationTime",
    "InitiatingProcessAccountDomain",
    "InitiatingProcessAccountName",
    "InitiatingProcessParentId",
    "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime",
    "AdditionalFields",
    "Type",
]
SERVICE = {
    "InitiatingProcessFileName": "svchost.exe",
    "InitiatingProcessFolderPath": r"c:\windows\system32\svchost.exe",
    "InitiatingProcessId": "2216",
    "InitiatingProcessCommandLine": "svchost.exe -k NetworkService -p",
    "InitiatingProcessCreationTime": "2026-11-05T07:02:44.1187520Z",
    "InitiatingProcessAccountDomain": "nt authority",
    "InitiatingProcessAccountName": "network service",
    "InitiatingProcessParentId": "1004",
    "InitiatingProcessParentFileName": "services.exe",
    "InitiatingProcessParentCreationTime": "2026-11-05T07:02:41.9033176Z",
}


def _process(image: str, created: str) -> dict[str, str]:
    return {
        "InitiatingProcessFileName": image.rsplit("\\", 1)[-1],
        "InitiatingProcessFolderPath": image,
        "InitiatingProcessId": "7344",  # the same pid, reused three hours later
        "InitiatingProcessCommandLine": image.rsplit("\\", 1)[-1] + " -run",
        "InitiatingProcessCreationTime": created,
        "InitiatingProcessAccountDomain": "corp",
        "InitiatingProcessAccountName": "dana",
        "InitiatingProcessParentId": "5120",
        "InitiatingProcessParentFileName": "explorer.exe",
        "InitiatingProcessParentCreationTime": "2026-11-05T07:10:00.0000000Z",
    }


POWERSHELL = _process(
    r"c:\windows\system32\windowspowershell\v1.0\powershell.exe", "2026-11-05T08:40:00.1000000Z"
)
PYTHON = _process(
    r"c:\users\dana\appdata\local\programs\python\python312\python.exe",
    "2026-11-05T11:40:00.1000000Z",
)


def _rows(hour: int, client: str, domain: str, ip: str, proc: dict[str, str]) -> list[dict]:
    rows = []
    for i in range(6):
        asked = f"2026-11-05T{hour:02d}:{41 + i:02d}:17.2209914Z"
        answer = {"DnsQueryType": "A", "Result": ip}
        extra = {
            "DnsQueryString": domain,
            "DnsQueryResult": [json.dumps(answer)],  # as the portal exports it
            "ClientProcessName": client,
            "ClientProcessId": "7344",
        }
        rows.append(
            SERVICE
            | {
                "Timestamp": asked,
                "ActionType": "DnsQueryResponse",
                "Type": "DeviceEvents",
                "AdditionalFields": json.dumps(extra),
            }
        )
        rows.append(  # no RemoteUrl: the hostname can only come from the lookup
            proc
            | {
                "Timestamp": asked.replace(":17.22", ":17.33"),
                "ActionType": "ConnectionSuccess",
                "Type": "DeviceNetworkEvents",
                "RemoteIP": ip,
                "RemotePort": "443",
                "LocalIP": "10.1.2.3",
                "LocalPort": str(50000 + hour * 10 + i),
                "Protocol": "Tcp",
            }
        )
    return rows


def test_client_lookups_join_their_process(tmp_path: Path) -> None:
    rows = _rows(
        8, "powershell.exe", "relay-7f3a.acme-sync.workers.dev", "104.21.48.112", POWERSHELL
    )
    rows += _rows(11, "python.exe", "ingest-3.acme-tools.deno.dev", "34.120.54.55", PYTHON)
    path = tmp_path / "DeviceEvents_export.csv"
    with path.open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=COLUMNS)
        out.writeheader()
        for row in rows:
            out.writerow({c: "" for c in COLUMNS} | row | {"DeviceId": DEVICE, "DeviceName": HOST})
    findings = [f for f in hunt([path]).findings.to_pylist() if f["rule_id"] == "RH-SL-001"]
    got = sorted(
        (
            (
                f["process_executable"],
                f["destination_domain"],
                f["destination_domain_origin"],
                json.loads(f["stats"])["connections"],
                json.loads(f["stats"])["dns_lookups"],
            )
            for f in findings
        ),
        key=str,
    )
    # one finding per process (the lookups were a second, name-only process each), each
    # lookup given to the instance of pid 7344 alive at its time
    assert got == [
        (
            PYTHON["InitiatingProcessFolderPath"],
            "ingest-3.acme-tools.deno.dev",
            "dns_process",
            6,
            6,
        ),
        (
            POWERSHELL["InitiatingProcessFolderPath"],
            "relay-7f3a.acme-sync.workers.dev",
            "dns_process",
            6,
            6,
        ),
    ]
