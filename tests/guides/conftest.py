from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from relayhunt.cli import app

SAMPLE_VALUES: dict[str, str] = {
    "host": "ws-fin-07",
    "user": "alice",
    "process": "powershell.exe",
    "process_path": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "parent": "winword.exe",
    "parent_path": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "domain": "sync.evil.acct.workers.dev",
    "tenant": "evil.acct.workers.dev",
    "ip": "104.21.1.1",
    "account": "123456789012",
    "actor": "arn:aws:iam::123456789012:role/deployer",
    "function": "billing-sync",
    "source_ip": "203.0.113.7",
}

HOSTILE_VALUES: list[str] = [
    'evil"; DROP',
    "back\\slash\\",
    'tail\\"',
    "pipe | where true | count",
    "star*/ comment /* x",
    "quote' single '' double\"",
    "line\nbreak",
    "tab\tand\rreturn",
    "brace {host} {tenant}",
    "```fence``` and `tick`",
    "[red]markup[/red] \u202eRTL",
    "// comment -- sql # hash",
    "$(whoami) `id` %PATH%",
]


@pytest.fixture(scope="session")
def findings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Findings NDJSON of a hunt over the bundled samples."""
    out = tmp_path_factory.mktemp("hunt") / "findings.ndjson"
    result = CliRunner().invoke(app, ["hunt", "samples", "--json", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    return out
