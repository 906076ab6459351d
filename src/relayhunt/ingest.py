"""Walk inputs, sniff each file's format, and run its reader into the store."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from relayhunt.sources import registry
from relayhunt.sources.base import DEFAULT_MAX_RECORD_BYTES, Head, IngestContext, InputFile, Source
from relayhunt.store import Store


@dataclass(frozen=True)
class IngestProgress:
    """Where an ingest stands; handed to a :data:`ProgressFn`."""

    file: str
    """The file being read (as displayed: the path given, a walked member, or ``-``)."""
    file_size: int | None
    """Its size on disk when that measures the work (plain files); None for gzip/stdin."""
    files_done: int
    """Files finished so far (the current one included once ``file_done``)."""
    file_bytes: int
    """Bytes of the current file read so far (decompressed)."""
    file_records: int
    """Records of the current file seen so far."""
    bytes_read: int
    """Bytes read so far, all files."""
    records: int
    """Records seen so far, all files (stored, rejected and skipped alike)."""
    seconds: float
    """Since the ingest started."""
    file_done: bool = False
    """The current file is finished (its counts are final)."""
    finished: bool = False
    """The whole ingest is finished."""

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[IngestProgress], None]
"""Called when a file starts, every ``progress_interval`` seconds while it is read (from
a background thread), when it ends, and once at the end (``finished``)."""


class _Reporter:
    """Feeds a :data:`ProgressFn`: the readers update their context's counters; a daemon
    thread samples them, so readers need no hook of their own."""

    def __init__(self, fn: ProgressFn, interval: float) -> None:
        self._fn = fn
        self._interval = interval
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._bytes = 0  # finished files
        self._records = 0
        self._files_done = 0
        self._ctx: IngestContext | None = None
        self._live = False  # the current file is being read (not yet in the totals)
        self._size: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(
                target=self._tick, name="relayhunt-progress", daemon=True
            )
            self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._emit()
            except Exception:  # a failing display must not print a thread's traceback
                return

    def _emit(self, *, file_done: bool = False, finished: bool = False) -> None:
        with self._lock:
            ctx = self._ctx
            if ctx is None and not finished:
                return
            fb = ctx.bytes_read if ctx is not None else 0
            fr = ctx.records_seen if ctx is not None else 0
            if file_done or finished or not self._live:
                # A finished file's counts are in the totals already.
                fb_total, fr_total = self._bytes, self._records
            else:
                fb_total, fr_total = self._bytes + fb, self._records + fr
            snap = IngestProgress(
                file=ctx.file.display if ctx is not None else "",
                file_size=self._size,
                files_done=self._files_done,
                file_bytes=fb,
                file_records=fr,
                bytes_read=fb_total,
                records=fr_total,
                seconds=time.perf_counter() - self._t0,
                file_done=file_done,
                finished=finished,
            )
            self._fn(snap)

    def start_file(self, ctx: IngestContext) -> None:
        with self._lock:
            self._ctx = ctx
            self._live = True
            inp = ctx.file
            self._size = inp.size if not inp.compressed and inp.display != "-" else None
        self._emit()

    def end_file(self, ctx: IngestContext) -> None:
        with self._lock:
            self._bytes += ctx.bytes_read
            self._records += ctx.records_seen
            self._files_done += 1
            self._live = False
        self._emit(file_done=True)

    def finish(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._emit(finished=True)


@dataclass
class IngestResult:
    files: int = 0
    unreadable: int = 0
    """Files (or paths) that could not be read at all or only in part: unknown format,
    missing path, truncated/corrupt container."""
    records: int = 0
    bytes_read: int = 0
    seconds: float = 0.0


FILE_LEVEL_REASONS = frozenset(
    {
        "unknown_format",
        "unreadable_file",
        "truncated_gzip",
        "truncated_file",
        "document_too_large",
        "corrupt_record",
    }
)


def iter_paths(paths: Sequence[str], store: Store, stack: ExitStack) -> Iterator[InputFile]:
    """Input files in order: files as given, directories walked (sorted, dot-files
    skipped), ``-`` spooled from stdin to a temporary file."""
    for given in paths:
        if given == "-":
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relayhunt-"))) / (
                "stdin"
            )
            with tmp.open("wb") as dst:
                shutil.copyfileobj(sys.stdin.buffer, dst, 4 * 1024 * 1024)
            yield InputFile.from_path(tmp, display="-")
            continue
        path = Path(given)
        if path.is_dir():
            for member in sorted(path.rglob("*")):
                rel = member.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not member.is_file():
                    continue
                opened = _open(member, store)
                if opened is not None:
                    yield opened
        elif path.exists():
            opened = _open(path, store)
            if opened is not None:
                yield opened
        else:
            store.add_issue(
                file=given,
                fmt=None,
                reason_code="unreadable_file",
                reason="no such file or directory",
            )


def _open(path: Path, store: Store) -> InputFile | None:
    try:
        return InputFile.from_path(path)
    except OSError as exc:
        store.add_issue(
            file=str(path),
            fmt=None,
            reason_code="unreadable_file",
            reason=f"cannot open: {exc.strerror or exc}",
        )
        return None


def sniff(head: Head, readers: Sequence[Source]) -> Source | None:
    for reader in readers:
        if reader.sniff(head):
            return reader
    return None


def ingest(
    paths: Sequence[str],
    store: Store,
    *,
    readers: Sequence[Source] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    progress: ProgressFn | None = None,
    progress_interval: float = 0.25,
) -> IngestResult:
    """Read every input into ``store``; never raises for bad input.

    ``progress`` is called with an :class:`IngestProgress` as files start and end and
    every ``progress_interval`` seconds in between (0: only at file boundaries)."""
    readers = list(readers) if readers is not None else registry()
    result = IngestResult()
    t_all = time.perf_counter()
    reporter = _Reporter(progress, progress_interval) if progress is not None else None
    try:
        _ingest_all(paths, store, readers, max_record_bytes, result, reporter)
    finally:
        if reporter is not None:
            reporter.finish()
    store.flush()
    row = store.con.execute(
        "SELECT count(DISTINCT log_file_path) FROM ingest_issues WHERE reason_code IN "
        "(" + ", ".join(f"'{r}'" for r in sorted(FILE_LEVEL_REASONS)) + ")"
    ).fetchone()
    result.unreadable = int(row[0]) if row else 0
    result.seconds = time.perf_counter() - t_all
    return result


def _ingest_all(
    paths: Sequence[str],
    store: Store,
    readers: Sequence[Source],
    max_record_bytes: int,
    result: IngestResult,
    reporter: _Reporter | None,
) -> None:
    with ExitStack() as stack:
        for inp in iter_paths(paths, store, stack):
            t0 = time.perf_counter()
            result.files += 1
            head_bytes, damage = inp.head()
            head = Head(inp.display, head_bytes)
            reader = sniff(head, readers) if head.data else None
            if damage is not None and reader is None:
                store.add_issue(
                    file=inp.display,
                    fmt=None,
                    reason_code="truncated_gzip",
                    reason=f"gzip stream damaged after {damage.offset} decompressed bytes "
                    f"({damage.detail}); too little was readable to recognise the format",
                    offset=damage.offset,
                )
            fmt = reader.name if reader else None
            ctx = IngestContext(
                store=store,
                file=inp,
                fmt=fmt or "unknown",
                head=head,
                max_record_bytes=max_record_bytes,
            )
            if reporter is not None:
                reporter.start_file(ctx)
            if reader is None:
                if head.data:
                    store.add_issue(
                        file=inp.display,
                        fmt=None,
                        reason_code="unknown_format",
                        reason="no reader recognised this content (supported: "
                        + ", ".join(r.name for r in readers)
                        + ")",
                        offset=0,
                        excerpt_text=head.data[:200],
                    )
            else:
                try:
                    reader.read(ctx)
                except Exception as exc:  # a reader bug or an unforeseen damage: keep going
                    store.add_issue(
                        file=inp.display,
                        fmt=fmt,
                        reason_code="unreadable_file",
                        reason=f"reading stopped: {type(exc).__name__}: {exc}"[:500],
                    )
            store.flush()
            seconds = time.perf_counter() - t0
            store.record_file(
                {
                    "log_file_path": inp.display,
                    "log_format": fmt,
                    "compressed_bytes": inp.size if inp.display != "-" else None,
                    "bytes_read": ctx.bytes_read,
                    "records_seen": ctx.records_seen,
                    "seconds": seconds,
                }
            )
            store.record_skipped(inp.display, fmt or "unknown", ctx.skipped)
            result.records += ctx.records_seen
            result.bytes_read += ctx.bytes_read
            if reporter is not None:
                reporter.end_file(ctx)
