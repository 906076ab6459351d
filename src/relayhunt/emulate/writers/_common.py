"""What several writers share: vendor time formats, Windows path and command-line
helpers, PE version information of common images, and file output."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from relayhunt.emulate.model import Process


def _split(t: float) -> tuple[str, int]:
    us = round(t * 1_000_000)
    secs, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)), frac


def iso(t: float, digits: int = 3) -> str:
    """RFC 3339 UTC with ``digits`` fractional digits (7 = Windows / Defender style)."""
    base, frac = _split(t)
    if digits == 0:
        return base + "Z"
    text = f"{frac:06d}" + "0" * max(0, digits - 6)
    return f"{base}.{text[:digits]}Z"


def sysmon_utc(t: float) -> str:
    """Sysmon's ``UtcTime``: ``2026-11-03 09:14:02.311``."""
    base, frac = _split(t)
    return f"{base.replace('T', ' ')}.{frac // 1000:03d}"


def epoch_ms(t: float) -> str:
    return str(round(t * 1000))


def epoch_s3(t: float) -> str:
    """Seconds with milliseconds, as Falcon's ``ContextTimeStamp``."""
    return f"{round(t * 1000) / 1000:.3f}"


def device_path(path: str) -> str:
    """``C:\\x`` as the Windows kernel (and Falcon) names it: ``\\Device\\HarddiskVolume3\\x``."""
    if len(path) > 2 and path[1] == ":":
        return "\\Device\\HarddiskVolume3" + path[2:]
    return path


def windows_args(command_line: str) -> list[str]:
    """Arguments as CommandLineToArgvW splits them (double quotes group, no escapes
    beyond that: enough for the command lines emulated here)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = False
    started = False
    for ch in command_line:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return args


def extension(path: str) -> str:
    name = path.replace("/", "\\").rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


# Version information of the images the scenarios run: (company, product, description,
# original file name, file version). Unknown images (implants) have none, as Sysmon shows
# them ("-").
PE_INFO: Mapping[str, tuple[str, str, str, str, str]] = {
    "powershell.exe": (
        "Microsoft Corporation",
        "Microsoft® Windows® Operating System",
        "Windows PowerShell",
        "PowerShell.EXE",
        "10.0.19041.3996 (WinBuild.160101.0800)",
    ),
    "cmd.exe": (
        "Microsoft Corporation",
        "Microsoft® Windows® Operating System",
        "Windows Command Processor",
        "Cmd.Exe",
        "10.0.19041.4355 (WinBuild.160101.0800)",
    ),
    "wscript.exe": (
        "Microsoft Corporation",
        "Microsoft ® Windows Script Host",
        "Microsoft ® Windows Based Script Host",
        "wscript.exe",
        "5.812.10240.16384",
    ),
    "curl.exe": (
        "curl, https://curl.se/",
        "The curl executable",
        "The curl executable",
        "curl.exe",
        "8.4.0",
    ),
    "rundll32.exe": (
        "Microsoft Corporation",
        "Microsoft® Windows® Operating System",
        "Windows host process (Rundll32)",
        "RUNDLL32.EXE",
        "10.0.19041.3636 (WinBuild.160101.0800)",
    ),
    "python.exe": (
        "Python Software Foundation",
        "Python",
        "Python",
        "python.exe",
        "3.12.4",
    ),
    "node.exe": ("Node.js", "Node.js", "Node.js JavaScript Runtime", "node.exe", "20.11.1"),
    "aws.exe": ("", "", "", "", ""),
    "chrome.exe": (
        "Google LLC",
        "Google Chrome",
        "Google Chrome",
        "chrome.exe",
        "130.0.6723.92",
    ),
    "msedge.exe": (
        "Microsoft Corporation",
        "Microsoft Edge",
        "Microsoft Edge",
        "msedge.exe",
        "130.0.2849.68",
    ),
    "firefox.exe": (
        "Mozilla Corporation",
        "Firefox",
        "Firefox",
        "firefox.exe",
        "132.0.1",
    ),
    "onedrive.exe": (
        "Microsoft Corporation",
        "Microsoft OneDrive",
        "Microsoft OneDrive",
        "OneDrive.exe",
        "24.201.1006.0005",
    ),
    "ms-teams.exe": (
        "Microsoft Corporation",
        "Microsoft Teams",
        "Microsoft Teams",
        "ms-teams.exe",
        "24295.605.3225.8804",
    ),
    "outlook.exe": (
        "Microsoft Corporation",
        "Microsoft Outlook",
        "Microsoft Outlook",
        "Outlook.exe",
        "16.0.17928.20156",
    ),
    "winword.exe": (
        "Microsoft Corporation",
        "Microsoft Office",
        "Microsoft Word",
        "WinWord.exe",
        "16.0.17928.20156",
    ),
    "svchost.exe": (
        "Microsoft Corporation",
        "Microsoft® Windows® Operating System",
        "Host Process for Windows Services",
        "svchost.exe",
        "10.0.19041.4355 (WinBuild.160101.0800)",
    ),
    "pwsh.exe": (
        "Microsoft Corporation",
        "PowerShell",
        "pwsh",
        "pwsh.dll",
        "7.4.6.500",
    ),
}


def pe_info(proc: Process) -> tuple[str, str, str, str, str]:
    return PE_INFO.get(proc.name.lower(), ("", "", "", "", ""))


def file_size(proc: Process) -> int:
    return 100_000 + int(proc.sha256[:6], 16) % 5_000_000


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(", ", ": "))


def write_lines(path: Path, lines: Iterable[str], *, gz: bool = False, newline: str = "\n") -> Path:
    """Write ``lines`` (each without its terminator) to ``path``, gzip-compressed if asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            for line in lines:
                f.write(line + newline)
    else:
        with path.open("w", encoding="utf-8", newline="") as f:
            for line in lines:
                f.write(line + newline)
    return path


class Files:
    """Text files opened on first use and closed together (streaming writers that spread
    records over several files: one per table, log or host)."""

    def __init__(self, *, newline: str = "\n") -> None:
        self._open: dict[Path, Any] = {}
        self.newline = newline

    def write(self, path: Path, line: str, header: Iterable[str] = ()) -> None:
        fh = self._open.get(path)
        if fh is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = self._open[path] = path.open("w", encoding="utf-8", newline="")
            for h in header:
                fh.write(h + self.newline)
        fh.write(line + self.newline)

    def has(self, path: Path) -> bool:
        return path in self._open

    def paths(self) -> list[Path]:
        return list(self._open)

    def close(self, footer: Mapping[Path, Iterable[str]] | None = None) -> list[Path]:
        for path, fh in self._open.items():
            for line in (footer or {}).get(path, ()):
                fh.write(line + self.newline)
            fh.close()
        return self.paths()
