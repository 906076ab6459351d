"""Split a byte stream into lines as Arrow string arrays, without a Python loop per line.

Newlines are found with numpy over large blocks; the block's bytes become the data buffer
of an Arrow ``large_string`` array (zero copy). Python only touches lines in the rare
blocks that hold invalid UTF-8 or over-long lines.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar, cast

import numpy as np
import pyarrow as pa

from relayhunt.sources.base import ByteStream, GzipTruncated, IngestContext

BLOCK_BYTES = 64 * 1024 * 1024
BATCH_ROWS = 16_384
LINE_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),
        ("line_no", pa.int64()),
        ("off", pa.int64()),
        ("j", pa.large_string()),
    ]
)


def iter_line_tables(
    stream: ByteStream,
    ctx: IngestContext,
    *,
    block_bytes: int = BLOCK_BYTES,
    first_line: int = 1,
    first_offset: int = 0,
) -> Iterator[pa.Table]:
    """Yield tables ``(idx, line_no, off, j)`` of the non-blank lines of ``stream``.

    ``line_no`` is 1-based, ``off`` the byte offset of the line's start in the
    (decompressed) stream; ``j`` keeps its line terminator. Over-long lines become
    ``oversize_record`` issues and are skipped without being held in memory; invalid UTF-8
    is replaced (U+FFFD) and reported as a warning; a damaged gzip stops the stream with a
    ``truncated_gzip`` issue after yielding what was decompressed. A stream that starts
    inside a file (at a line start) is numbered from ``first_line`` and ``first_offset``.
    """
    limit = ctx.max_record_bytes
    carry = b""
    carry_off = first_offset  # stream offset of carry[0]
    line_no = first_line  # number of the first line in carry
    skipping = False  # inside an oversize line whose start was already reported
    eof = False
    damage: GzipTruncated | None = None
    while not eof:
        try:
            block = stream.read(block_bytes)
        except GzipTruncated as exc:
            block = getattr(stream, "salvaged", b"")
            damage = exc  # reported below, at the line it cut
            eof = True
        if not block:
            eof = True
        ctx.bytes_read += len(block)
        if skipping:
            nl = block.find(b"\n")
            if nl < 0:
                carry_off += len(block)
                continue
            skipping = False
            carry_off += nl + 1
            line_no += 1
            block = block[nl + 1 :]
        data = carry + block
        if eof:
            cut = len(data)
        else:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > limit:
                    ctx.issue(
                        "oversize_record",
                        f"line longer than {limit} bytes; skipped",
                        line=line_no,
                        offset=carry_off,
                        excerpt=data[:200],
                    )
                    ctx.records_seen += 1
                    skipping = True
                    carry_off += len(data)
                    carry = b""
                else:
                    carry = data
                continue
        complete, carry = data[:cut], data[cut:]
        if complete:
            table, n_lines = _split(complete, line_no, carry_off, ctx, final=eof)
            line_no += n_lines
            carry_off += len(complete)
            if table.num_rows:
                yield table
        if damage is not None:
            # the line being read when the stream broke: the last one if it was cut short
            cut_short = bool(complete) and not complete.endswith(b"\n")
            ctx.issue(
                "truncated_gzip",
                f"gzip stream damaged after {damage.offset} decompressed bytes "
                f"({damage.detail}); lines before that point were read",
                line=line_no - 1 if cut_short else line_no,
                offset=damage.offset,
            )


def _split(
    data: bytes, first_line: int, base_off: int, ctx: IngestContext, *, final: bool
) -> tuple[pa.Table, int]:
    """Lines of ``data`` (which ends with a newline unless ``final``)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl if (len(nl) and nl[-1] == len(data) - 1) else np.append(nl, len(data))
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    n_lines = len(ends)
    lengths = ends - starts
    line_nos = np.arange(first_line, first_line + n_lines, dtype=np.int64)
    # Blank lines ('' or '\r') carry no record; they are not counted as records.
    keep = lengths > 1
    one = lengths == 1
    if one.any():
        keep |= one & (arr[starts.clip(max=len(arr) - 1)] != 13)
    over = lengths > ctx.max_record_bytes
    for i in np.flatnonzero(over):
        ctx.issue(
            "oversize_record",
            f"line of {int(lengths[i])} bytes exceeds the limit of {ctx.max_record_bytes}; skipped",
            line=int(line_nos[i]),
            offset=base_off + int(starts[i]),
            excerpt=data[int(starts[i]) : int(starts[i]) + 200],
        )
    keep &= ~over
    ctx.records_seen += int(over.sum())
    sel = np.flatnonzero(keep)
    # Line i is data[starts[i]:starts[i+1]]: it keeps its newline, which JSON parsers treat
    # as whitespace and which text readers trim.
    off_buf = np.empty(n_lines + 1, dtype=np.int64)
    off_buf[:-1] = starts
    off_buf[-1] = len(data)
    strings = pa.LargeStringArray.from_buffers(n_lines, pa.py_buffer(off_buf), pa.py_buffer(data))
    try:
        strings.validate(full=True)
        valid = True
    except pa.ArrowInvalid:
        valid = False
    if not valid:
        strings = _repair_utf8(data, starts, ends, line_nos, base_off, keep, ctx)
    all_kept = len(sel) == n_lines
    table = pa.table(
        {
            "idx": pa.array(np.arange(len(sel), dtype=np.int64)),
            "line_no": pa.array(line_nos if all_kept else line_nos[sel]),
            "off": pa.array((starts if all_kept else starts[sel]) + base_off),
            "j": strings if all_kept else strings.take(pa.array(sel)),
        },
        schema=LINE_SCHEMA,
    )
    ctx.records_seen += len(sel)
    return _rebatch(table), n_lines


def _repair_utf8(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    line_nos: np.ndarray,
    base_off: int,
    keep: np.ndarray,
    ctx: IngestContext,
) -> pa.LargeStringArray:
    """Slow path for a block with invalid UTF-8: decode line by line, replace, warn."""
    out: list[str] = []
    for i in range(len(starts)):
        raw = data[int(starts[i]) : int(ends[i]) + 1]
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            out.append(raw.decode("utf-8", "replace"))
            if keep[i]:
                ctx.issue(
                    "invalid_utf8",
                    f"invalid UTF-8 at byte {exc.start} of the line; replaced with U+FFFD and kept",
                    line=int(line_nos[i]),
                    offset=base_off + int(starts[i]) + exc.start,
                    excerpt=raw[:200],
                    severity="warning",
                )
    return pa.array(out, type=pa.large_string())


def _rebatch(table: pa.Table) -> pa.Table:
    """Split into record batches so DuckDB scans them on several threads."""
    if table.num_rows <= BATCH_ROWS:
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS))


T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``items`` in a background thread, ``depth`` chunks ahead.

    Reading, decompressing and splitting (zlib and numpy release the GIL) then overlaps
    with DuckDB parsing the previous chunk. Exceptions are re-raised in the caller.
    """
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="relayhunt-read", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield cast(T, value)
    finally:
        stop.set()
        worker.join()
