"""Progress of long runs: the ingest callback's counts, and silence when piped or quiet."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from relayhunt.cli import app
from relayhunt.ingest import IngestProgress, ingest
from relayhunt.progress import (
    IngestProgressDisplay,
    describe,
    human_bytes,
    ingest_progress,
    progress_enabled,
)
from relayhunt.store import Store
from tests.conftest import FIXTURES

GOOD = FIXTURES / "ecs" / "defend_windows" / "events.ndjson"
BAD = FIXTURES / "ecs" / "invalid_json" / "events.ndjson"
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "relayhunt" / "samples"


def _ingest(paths: list[str], **kwargs: object) -> tuple[list[IngestProgress], object]:
    seen: list[IngestProgress] = []
    with Store() as store:
        result = ingest(paths, store, progress=seen.append, **kwargs)  # type: ignore[arg-type]
    return seen, result


def test_callback_reports_the_ingest_counts(tmp_path: Path) -> None:
    gz = tmp_path / "copy.ndjson.gz"
    import gzip

    gz.write_bytes(gzip.compress(GOOD.read_bytes()))
    paths = [str(GOOD), str(BAD), str(gz)]
    seen, result = _ingest(paths, progress_interval=0)

    final = seen[-1]
    assert final.finished
    assert final.files_done == 3
    assert final.records == result.records  # type: ignore[attr-defined]
    assert final.bytes_read == result.bytes_read  # type: ignore[attr-defined]

    # One start and one end per file, in order, with the file's own final counts.
    ends = [p for p in seen if p.file_done]
    assert [p.file for p in ends] == paths
    assert [p.files_done for p in ends] == [1, 2, 3]
    with Store() as store:
        per_file = [
            ingest([p], store).records
            for p in paths  # each file alone
        ]
    assert [p.file_records for p in ends] == per_file
    assert ends[-1].records == sum(per_file)
    assert ends[0].file_bytes == GOOD.stat().st_size
    starts = [p for p in seen if not p.file_done and not p.finished]
    assert [p.file for p in starts] == paths
    assert starts[0].file_size == GOOD.stat().st_size
    assert starts[2].file_size is None  # gzip: bytes on disk do not measure the work

    # Totals never go backwards.
    totals = [p.records for p in seen]
    assert totals == sorted(totals)
    assert [p.bytes_read for p in seen] == sorted(p.bytes_read for p in seen)


def test_callback_from_the_ticker_thread_is_consistent() -> None:
    # A tiny interval makes the background sampler run while files are read.
    seen, result = _ingest([str(GOOD), str(BAD)], progress_interval=0.001)
    assert seen[-1].finished
    assert seen[-1].records == result.records  # type: ignore[attr-defined]
    totals = [p.records for p in seen]
    assert totals == sorted(totals)
    assert all(p.records <= seen[-1].records for p in seen)


def test_missing_and_unknown_inputs_still_finish(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 not telemetry")
    seen, result = _ingest([str(tmp_path / "missing.json"), str(junk)], progress_interval=0)
    assert seen[-1].finished
    assert seen[-1].files_done == 1  # the missing path is an issue, not a file
    assert seen[-1].records == result.records  # type: ignore[attr-defined]


def test_progress_is_off_when_quiet_or_not_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    pipe = io.StringIO()
    assert progress_enabled(False, tty, tty)
    assert not progress_enabled(True, tty, tty)
    assert not progress_enabled(False, pipe, tty)
    assert not progress_enabled(False, tty, pipe)
    with ingest_progress(quiet=True, force=True) as display:
        assert display is None


def test_display_renders_and_clears(tmp_path: Path) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with ingest_progress(force=True, console=console, after="analysing") as display:
        assert isinstance(display, IngestProgressDisplay)
        with Store() as store:
            result = ingest([str(GOOD)], store, progress=display)
        display.stage("writing")
    assert display.last is not None and display.last.finished
    assert display.last.records == result.records
    assert "events/s" in describe(display.last)


def test_human_bytes() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1_500) == "1.5 KB"
    assert human_bytes(2_000_000_000) == "2.0 GB"


def test_cli_output_under_a_runner_has_no_progress() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["normalize", str(GOOD)])
    assert res.exit_code == 0, res.output
    assert "\x1b[" not in res.output
    assert "events/s" not in res.output
    assert "reading" not in res.output


@pytest.mark.parametrize("command", ["normalize", "hunt"])
def test_piped_commands_have_no_progress_artefacts(command: str) -> None:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "relayhunt.cli", command, str(SAMPLES / "ecs")],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 3), proc.stderr.decode(errors="replace")
    for stream in (proc.stdout, proc.stderr):
        text = stream.decode("utf-8", "replace")
        assert "\x1b[" not in text  # no cursor movement, colour or erase sequences
        assert "\r" not in text
        assert "events/s" not in text
        assert "reading " not in text
