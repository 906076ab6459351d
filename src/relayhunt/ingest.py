"""Walk inputs, sniff each file's format, and run its reader into the store."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from relayhunt.sources import registry
from relayhunt.sources.base import DEFAULT_MAX_RECORD_BYTES, Head, IngestContext, InputFile, Source
from relayhunt.store import Store

ProgressFn = Callable[[str, int, int], None]
"""Called after each file with (file, bytes read so far, records so far)."""


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
) -> IngestResult:
    """Read every input into ``store``; never raises for bad input."""
    readers = list(readers) if readers is not None else registry()
    result = IngestResult()
    t_all = time.perf_counter()
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
            if progress is not None:
                progress(inp.display, result.bytes_read, result.records)
    store.flush()
    row = store.con.execute(
        "SELECT count(DISTINCT log_file_path) FROM ingest_issues WHERE reason_code IN "
        "(" + ", ".join(f"'{r}'" for r in sorted(FILE_LEVEL_REASONS)) + ")"
    ).fetchone()
    result.unreadable = int(row[0]) if row else 0
    result.seconds = time.perf_counter() - t_all
    return result
