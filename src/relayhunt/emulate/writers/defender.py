"""Microsoft Defender for Endpoint advanced hunting rows, as CSV (the portal's export, one
file per table, header row) and as JSON (the tables exported from Microsoft Sentinel /
Log Analytics: one row per line, with the workspace's ``Type`` and ``TimeGenerated``).

Tables and column order after the advanced hunting schema reference (see
``tests/fixtures/defender/README.md``): ``DeviceProcessEvents`` (``ProcessCreated``),
``DeviceNetworkEvents`` (``ConnectionSuccess``, ``RemoteUrl`` = the host name the client
asked for), ``DeviceEvents`` (``DnsQueryResponse`` with ``AdditionalFields.DnsQueryString``
and ``DnsQueryResult``; ``PowerShellCommand`` for script blocks) and ``DeviceFileEvents``
(``FileCreated``). ``Timestamp`` has 7 fractional digits.

Defender has no process id of its own: a process is known by ``DeviceId``, its pid and
its creation time. The created process of a ``ProcessCreated`` row (``ProcessId``,
``ProcessCreationTime``) reappears as the ``InitiatingProcess*`` columns of everything it
does, its parent as ``InitiatingProcessParent*``. ``InitiatingProcessFolderPath`` is
lowercase, as Defender writes it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from relayhunt.emulate.model import (
    Connection,
    DnsLookup,
    FileCreate,
    Process,
    ProcessStart,
    ScriptBlock,
    Telemetry,
    hex_id,
)
from relayhunt.emulate.writers._common import Files, file_size, iso, pe_info

TENANT_ID = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

COLUMNS: Mapping[str, tuple[str, ...]] = {
    "DeviceProcessEvents": tuple(
        [
            "Timestamp",
            "DeviceId",
            "DeviceName",
            "ActionType",
            "FileName",
            "FolderPath",
            "SHA1",
            "SHA256",
            "MD5",
            "FileSize",
            "ProcessVersionInfoCompanyName",
            "ProcessVersionInfoProductName",
            "ProcessVersionInfoProductVersion",
            "ProcessVersionInfoInternalFileName",
            "ProcessVersionInfoOriginalFileName",
            "ProcessVersionInfoFileDescription",
            "ProcessId",
            "ProcessCommandLine",
            "ProcessIntegrityLevel",
            "ProcessTokenElevation",
            "ProcessCreationTime",
            "AccountDomain",
            "AccountName",
            "AccountSid",
            "AccountUpn",
            "AccountObjectId",
            "LogonId",
            "InitiatingProcessAccountDomain",
            "InitiatingProcessAccountName",
            "InitiatingProcessAccountSid",
            "InitiatingProcessAccountUpn",
            "InitiatingProcessAccountObjectId",
            "InitiatingProcessLogonId",
            "InitiatingProcessIntegrityLevel",
            "InitiatingProcessTokenElevation",
            "InitiatingProcessSHA1",
            "InitiatingProcessSHA256",
            "InitiatingProcessMD5",
            "InitiatingProcessFileName",
            "InitiatingProcessFileSize",
            "InitiatingProcessVersionInfoCompanyName",
            "InitiatingProcessVersionInfoProductName",
            "InitiatingProcessVersionInfoProductVersion",
            "InitiatingProcessVersionInfoInternalFileName",
            "InitiatingProcessVersionInfoOriginalFileName",
            "InitiatingProcessVersionInfoFileDescription",
            "InitiatingProcessId",
            "InitiatingProcessCommandLine",
            "InitiatingProcessCreationTime",
            "InitiatingProcessFolderPath",
            "InitiatingProcessParentId",
            "InitiatingProcessParentFileName",
            "InitiatingProcessParentCreationTime",
            "InitiatingProcessSignerType",
            "InitiatingProcessSignatureStatus",
            "ReportId",
            "AppGuardContainerId",
            "AdditionalFields",
        ]
    ),
    "DeviceNetworkEvents": tuple(
        [
            "Timestamp",
            "DeviceId",
            "DeviceName",
            "ActionType",
            "RemoteIP",
            "RemotePort",
            "RemoteUrl",
            "LocalIP",
            "LocalPort",
            "Protocol",
            "LocalIPType",
            "RemoteIPType",
            "InitiatingProcessSHA1",
            "InitiatingProcessSHA256",
            "InitiatingProcessMD5",
            "InitiatingProcessFileName",
            "InitiatingProcessFileSize",
            "InitiatingProcessVersionInfoCompanyName",
            "InitiatingProcessVersionInfoProductName",
            "InitiatingProcessVersionInfoProductVersion",
            "InitiatingProcessVersionInfoInternalFileName",
            "InitiatingProcessVersionInfoOriginalFileName",
            "InitiatingProcessVersionInfoFileDescription",
            "InitiatingProcessId",
            "InitiatingProcessCommandLine",
            "InitiatingProcessCreationTime",
            "InitiatingProcessFolderPath",
            "InitiatingProcessParentFileName",
            "InitiatingProcessParentId",
            "InitiatingProcessParentCreationTime",
            "InitiatingProcessAccountDomain",
            "InitiatingProcessAccountName",
            "InitiatingProcessAccountSid",
            "InitiatingProcessAccountUpn",
            "InitiatingProcessAccountObjectId",
            "InitiatingProcessIntegrityLevel",
            "InitiatingProcessTokenElevation",
            "ReportId",
            "AppGuardContainerId",
            "AdditionalFields",
        ]
    ),
    "DeviceEvents": tuple(
        [
            "Timestamp",
            "DeviceId",
            "DeviceName",
            "ActionType",
            "FileName",
            "FolderPath",
            "SHA1",
            "SHA256",
            "MD5",
            "FileSize",
            "AccountDomain",
            "AccountName",
            "AccountSid",
            "RemoteUrl",
            "RemoteDeviceName",
            "ProcessId",
            "ProcessCommandLine",
            "ProcessCreationTime",
            "ProcessTokenElevation",
            "LogonId",
            "RegistryKey",
            "RegistryValueName",
            "RegistryValueData",
            "RemoteIP",
            "RemotePort",
            "LocalIP",
            "LocalPort",
            "FileOriginUrl",
            "FileOriginIP",
            "InitiatingProcessSHA1",
            "InitiatingProcessSHA256",
            "InitiatingProcessMD5",
            "InitiatingProcessFileName",
            "InitiatingProcessFileSize",
            "InitiatingProcessFolderPath",
            "InitiatingProcessId",
            "InitiatingProcessCommandLine",
            "InitiatingProcessCreationTime",
            "InitiatingProcessAccountDomain",
            "InitiatingProcessAccountName",
            "InitiatingProcessAccountSid",
            "InitiatingProcessAccountUpn",
            "InitiatingProcessAccountObjectId",
            "InitiatingProcessVersionInfoCompanyName",
            "InitiatingProcessVersionInfoProductName",
            "InitiatingProcessVersionInfoProductVersion",
            "InitiatingProcessVersionInfoInternalFileName",
            "InitiatingProcessVersionInfoOriginalFileName",
            "InitiatingProcessVersionInfoFileDescription",
            "InitiatingProcessParentId",
            "InitiatingProcessParentFileName",
            "InitiatingProcessParentCreationTime",
            "InitiatingProcessLogonId",
            "ReportId",
            "AppGuardContainerId",
            "AdditionalFields",
        ]
    ),
    "DeviceFileEvents": tuple(
        [
            "Timestamp",
            "DeviceId",
            "DeviceName",
            "ActionType",
            "FileName",
            "FolderPath",
            "SHA1",
            "SHA256",
            "MD5",
            "FileOriginUrl",
            "FileOriginReferrerUrl",
            "FileOriginIP",
            "PreviousFolderPath",
            "PreviousFileName",
            "FileSize",
            "InitiatingProcessAccountDomain",
            "InitiatingProcessAccountName",
            "InitiatingProcessAccountSid",
            "InitiatingProcessAccountUpn",
            "InitiatingProcessAccountObjectId",
            "InitiatingProcessMD5",
            "InitiatingProcessSHA1",
            "InitiatingProcessSHA256",
            "InitiatingProcessFolderPath",
            "InitiatingProcessFileName",
            "InitiatingProcessFileSize",
            "InitiatingProcessVersionInfoCompanyName",
            "InitiatingProcessVersionInfoProductName",
            "InitiatingProcessVersionInfoProductVersion",
            "InitiatingProcessVersionInfoInternalFileName",
            "InitiatingProcessVersionInfoOriginalFileName",
            "InitiatingProcessVersionInfoFileDescription",
            "InitiatingProcessId",
            "InitiatingProcessCommandLine",
            "InitiatingProcessCreationTime",
            "InitiatingProcessIntegrityLevel",
            "InitiatingProcessTokenElevation",
            "InitiatingProcessParentId",
            "InitiatingProcessParentFileName",
            "InitiatingProcessParentCreationTime",
            "RequestProtocol",
            "RequestSourceIP",
            "RequestSourcePort",
            "RequestAccountName",
            "RequestAccountDomain",
            "RequestAccountSid",
            "ShareName",
            "SensitivityLabel",
            "SensitivitySubLabel",
            "IsAzureInfoProtectionApplied",
            "ReportId",
            "AppGuardContainerId",
            "AdditionalFields",
        ]
    ),
}

_ELEVATION = {"System": "TokenElevationTypeDefault", "High": "TokenElevationTypeFull"}


def _initiating(p: Process) -> dict[str, Any]:
    """The ``InitiatingProcess*`` columns of rows ``p`` caused (its parent included)."""
    company, product, desc, original, version = pe_info(p)
    row: dict[str, Any] = {
        "InitiatingProcessAccountDomain": p.user_domain.lower(),
        "InitiatingProcessAccountName": p.user.lower(),
        "InitiatingProcessAccountSid": p.sid,
        "InitiatingProcessAccountUpn": (
            f"{p.user}@{p.host.dns_domain}" if p.user_domain != "NT AUTHORITY" else ""
        ),
        "InitiatingProcessAccountObjectId": "",
        "InitiatingProcessLogonId": 999 if p.user_domain == "NT AUTHORITY" else 3940186,
        "InitiatingProcessIntegrityLevel": p.integrity,
        "InitiatingProcessTokenElevation": _ELEVATION.get(p.integrity, "TokenElevationTypeLimited"),
        "InitiatingProcessSHA1": p.sha1,
        "InitiatingProcessSHA256": p.sha256,
        "InitiatingProcessMD5": p.md5,
        "InitiatingProcessFileName": p.name,
        "InitiatingProcessFileSize": file_size(p),
        "InitiatingProcessVersionInfoCompanyName": company,
        "InitiatingProcessVersionInfoProductName": product,
        "InitiatingProcessVersionInfoProductVersion": version.split(" ")[0],
        "InitiatingProcessVersionInfoInternalFileName": original.rsplit(".", 1)[0],
        "InitiatingProcessVersionInfoOriginalFileName": original,
        "InitiatingProcessVersionInfoFileDescription": desc,
        "InitiatingProcessId": p.pid,
        "InitiatingProcessCommandLine": p.command_line,
        "InitiatingProcessCreationTime": iso(p.start, 7),
        "InitiatingProcessFolderPath": p.image.lower(),
        "InitiatingProcessSignerType": "OsVendor" if company.startswith("Microsoft") else "",
        "InitiatingProcessSignatureStatus": "Valid" if company else "Unsigned",
    }
    q = p.parent
    row |= {
        "InitiatingProcessParentId": q.pid if q else 0,
        "InitiatingProcessParentFileName": q.name if q else "",
        "InitiatingProcessParentCreationTime": iso(q.start, 7) if q else "",
    }
    return row


class _Rows:
    def __init__(self) -> None:
        self.report: dict[str, int] = {}

    def row(self, t: float, p: Process, action: str, values: dict[str, Any]) -> dict[str, Any]:
        h = p.host
        rid = self.report.get(h.name, 1000 + int(h.device_id[:4], 16) % 5000)
        self.report[h.name] = rid + 1
        return {
            "Timestamp": iso(t, 7),
            "DeviceId": h.device_id,
            "DeviceName": h.fqdn,
            "ActionType": action,
            "ReportId": rid,
            "AppGuardContainerId": "",
            **values,
        }


def rows(tel: Telemetry) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row keyed by column name) for every event, in event order."""
    acc = _Rows()
    for ev in tel.events:
        p = ev.proc
        if isinstance(ev, ProcessStart):
            if p.parent is None:
                continue
            company, product, desc, original, version = pe_info(p)
            init = _initiating(p.parent)
            yield (
                "DeviceProcessEvents",
                acc.row(
                    ev.t,
                    p,
                    "ProcessCreated",
                    {
                        "FileName": p.name,
                        "FolderPath": p.image,
                        "SHA1": p.sha1,
                        "SHA256": p.sha256,
                        "MD5": p.md5,
                        "FileSize": file_size(p),
                        "ProcessVersionInfoCompanyName": company,
                        "ProcessVersionInfoProductName": product,
                        "ProcessVersionInfoProductVersion": version.split(" ")[0],
                        "ProcessVersionInfoInternalFileName": original.rsplit(".", 1)[0],
                        "ProcessVersionInfoOriginalFileName": original,
                        "ProcessVersionInfoFileDescription": desc,
                        "ProcessId": p.pid,
                        "ProcessCommandLine": p.command_line,
                        "ProcessIntegrityLevel": p.integrity,
                        "ProcessTokenElevation": _ELEVATION.get(
                            p.integrity, "TokenElevationTypeLimited"
                        ),
                        "ProcessCreationTime": iso(p.start, 7),
                        "AccountDomain": p.user_domain.lower(),
                        "AccountName": p.user.lower(),
                        "AccountSid": p.sid,
                        "AccountUpn": init["InitiatingProcessAccountUpn"],
                        "AccountObjectId": "",
                        "LogonId": init["InitiatingProcessLogonId"],
                        **init,
                        "AdditionalFields": "",
                    },
                ),
            )
        elif isinstance(ev, Connection):
            yield (
                "DeviceNetworkEvents",
                acc.row(
                    ev.t,
                    p,
                    "ConnectionSuccess",
                    {
                        "RemoteIP": ev.ip,
                        "RemotePort": ev.dest.port,
                        "RemoteUrl": ev.dest.domain,
                        "LocalIP": p.host.ip,
                        "LocalPort": ev.src_port,
                        "Protocol": "Tcp",
                        "LocalIPType": "Private",
                        "RemoteIPType": "Public",
                        **_initiating(p),
                        "AdditionalFields": "",
                    },
                ),
            )
        elif isinstance(ev, DnsLookup):
            results = [{"DnsQueryType": 5, "Result": c} for c in ev.dest.cnames] + [
                {"DnsQueryType": 1, "Result": ip} for ip in ev.dest.ips
            ]
            extra = {"DnsQueryString": ev.dest.domain, "DnsQueryResult": results}
            yield (
                "DeviceEvents",
                acc.row(
                    ev.t,
                    p,
                    "DnsQueryResponse",
                    {**_initiating(p), "AdditionalFields": json.dumps(extra)},
                ),
            )
        elif isinstance(ev, FileCreate):
            yield (
                "DeviceFileEvents",
                acc.row(
                    ev.t,
                    p,
                    "FileCreated",
                    {
                        "FileName": ev.path.rsplit("\\", 1)[-1],
                        "FolderPath": ev.path,
                        "SHA1": hex_id("sha1", 40, ev.path),
                        "SHA256": hex_id("sha256", 64, ev.path),
                        "MD5": hex_id("md5", 32, ev.path),
                        "FileSize": 214,
                        **_initiating(p),
                        "AdditionalFields": json.dumps({"FileType": "Script"}),
                    },
                ),
            )
        elif isinstance(ev, ScriptBlock):
            command = _first_cmdlet(ev.text)
            yield (
                "DeviceEvents",
                acc.row(
                    ev.t,
                    p,
                    "PowerShellCommand",
                    {**_initiating(p), "AdditionalFields": json.dumps({"Command": command})},
                ),
            )


def _first_cmdlet(text: str) -> str:
    for word in text.replace("(", " ").replace("|", " ").split():
        if "-" in word and word[0].isupper() and word.split("-", 1)[0].isalpha():
            return word
    return text.split()[0] if text.split() else ""


def _csv_value(v: Any) -> str:
    return "" if v is None else str(v)


def write_csv(tel: Telemetry, out: Path) -> list[Path]:
    """One CSV per table as the portal exports it: UTF-8 with a BOM, CRLF, a header row."""
    out.mkdir(parents=True, exist_ok=True)
    open_: dict[str, tuple[IO[str], Any]] = {}
    try:
        for table, r in rows(tel):
            if table not in open_:
                fh: IO[str] = (out / f"{table}.csv").open("w", encoding="utf-8", newline="")
                fh.write("\ufeff")
                w = csv.writer(fh, lineterminator="\r\n")
                w.writerow(COLUMNS[table])
                open_[table] = (fh, w)
            open_[table][1].writerow([_csv_value(r.get(c, "")) for c in COLUMNS[table]])
    finally:
        for fh, _ in open_.values():
            fh.close()
    return [out / f"{t}.csv" for t in open_]


def _typed(table: str, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in COLUMNS[table]:
        v = row.get(c, "")
        out[c] = None if v == "" else v
    return out


def write_json(tel: Telemetry, out: Path) -> list[Path]:
    """Microsoft Sentinel / Log Analytics export of the Defender tables: one JSON row per
    line and file per table, numbers as numbers, with the workspace's ``TenantId``,
    ``TimeGenerated``, ``SourceSystem``, ``MachineGroup`` and ``Type`` columns."""
    files = Files()
    for table, r in rows(tel):
        row = _typed(table, r)
        row |= {
            "TenantId": TENANT_ID,
            "TimeGenerated": r["Timestamp"][:-2] + "Z",
            "SourceSystem": "",
            "MachineGroup": "",
            "Type": table,
        }
        files.write(out / f"{table}.json", json.dumps(row, ensure_ascii=False))
    return files.close()
