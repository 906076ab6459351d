"""Progress of long runs on a terminal: files, bytes and events per second.

The display is drawn on stderr with :mod:`rich.progress` while ``hunt`` and ``normalize``
read their inputs, then shows what the command is doing next (analysing, writing) until
it ends; it is transient, so nothing of it is left on the screen or in a log. It is off
with ``--quiet`` and whenever stdout or stderr is not a terminal (piped, redirected, in
CI), so piped output never holds progress artefacts.

    with ingest_progress(quiet=quiet) as progress:
        ingest(paths, store, progress=progress)   # progress is None when disabled
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from relayhunt.ingest import IngestProgress
from relayhunt.textsafe import terminal_safe


def progress_enabled(
    quiet: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> bool:
    """True when a progress display should be drawn: not ``quiet`` and both stdout and
    stderr are terminals."""
    if quiet:
        return False
    for stream in (stdout or sys.stdout, stderr or sys.stderr):
        isatty = getattr(stream, "isatty", None)
        try:
            if isatty is None or not isatty():
                return False
        except (ValueError, OSError):  # closed or detached stream
            return False
    return True


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KB'`` (decimal units, as file sizes are usually shown)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def describe(p: IngestProgress) -> str:
    """One short line of counts: files done, bytes read, events and events per second."""
    return (
        f"{p.files_done} file{'s' if p.files_done != 1 else ''} · "
        f"{human_bytes(p.bytes_read)} · {p.records:,} events · "
        f"{p.records_per_second:,.0f} events/s"
    )


class IngestProgressDisplay:
    """A rich progress display fed by :func:`relayhunt.ingest.ingest`'s callback.

    Use as a context manager; call :meth:`stage` to say what follows the ingest."""

    def __init__(self, console: Console | None = None, *, after: str = "finishing") -> None:
        self.after = after
        """What the display says once every input is read (the next stage)."""
        self.console = console or Console(stderr=True, highlight=False)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=8,
        )
        self._task: TaskID | None = None
        self.last: IngestProgress | None = None

    def __enter__(self) -> IngestProgressDisplay:
        self._progress.start()
        self._task = self._progress.add_task("starting", total=None, counts="")
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, p: IngestProgress) -> None:
        """The ingest callback."""
        self.last = p
        if self._task is None:
            return
        if p.finished:
            self._progress.update(
                self._task, description=self.after, total=None, completed=0, counts=describe(p)
            )
            return
        name = terminal_safe(PurePath(p.file).name or p.file, 32)
        total = p.file_size if p.file_size else None
        self._progress.update(
            self._task,
            description=f"reading {name}",
            total=total,
            completed=min(p.file_bytes, total) if total else 0,
            counts=describe(p),
        )

    def stage(self, text: str) -> None:
        """Show what the command does now (e.g. ``'analysing'``), counts kept."""
        if self._task is not None:
            counts = describe(self.last) if self.last is not None else ""
            self._progress.update(self._task, description=text, total=None, counts=counts)


@contextmanager
def ingest_progress(
    quiet: bool = False,
    *,
    after: str = "finishing",
    console: Console | None = None,
    force: bool = False,
) -> Iterator[IngestProgressDisplay | None]:
    """A display for the duration of the block, or None when it must stay silent
    (``quiet``, or stdout/stderr not a terminal; ``force`` skips the terminal test).
    ``after`` is shown once the inputs are read, until the block ends."""
    if quiet or not (force or progress_enabled()):
        yield None
        return
    with IngestProgressDisplay(console, after=after) as display:
        yield display
