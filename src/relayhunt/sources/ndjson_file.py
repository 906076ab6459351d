"""Fast path for NDJSON files: one ``read_json`` parse instead of two per record.

The line path (:func:`relayhunt.sources.engine.load_json_chunk`) splits lines in Python
(numpy) and parses each record twice with ``json_transform`` (once to route it, once for
its table's columns). For clean NDJSON that is most of the cost: DuckDB's own
``read_json`` reads, parses and builds the mapping's struct once, and one statement
computes every column of every table at once into a temporary table, from which each
event table takes its rows.

**Chunks in parallel, each on one thread.** A plain file is cut at line boundaries into
chunks of at most :data:`CHUNK_BYTES`. Each worker (one per DuckDB thread) takes the next
chunk, has a feeder thread copy its bytes into a named pipe, and parses the pipe with
``read_json`` on its own DuckDB connection while the database runs with ``threads = 1``:
every statement then executes on the thread that issued it, so rows arrive in pipe order
and row ``i`` of a chunk is its line ``i + 1`` by construction, while the workers still
use every core. (A single ``read_json`` over the whole file on two threads kept file
order on a quiet machine but not under load.) The feeder counts the chunk's lines as it
copies, which gives the number of every chunk's first line. Chunking also bounds memory:
only ``workers`` chunks are held at a time, whatever the file size. A gzip stream cannot
be cut by offset: one thread decompresses it once and deals line-aligned blocks to the
workers' pipes in turn, in rounds (:func:`_load_dealt`); a worker's rows then take their
line numbers from the blocks it was dealt.

**Exactly the line path's result, chunk by chunk.** ``read_json`` stops at the first bad
record and cannot say where blank lines were, so a chunk's parse is only kept when the
chunk is clean NDJSON; otherwise that chunk's byte range is read by the line path, which
locates every rejected record:

* any DuckDB error (malformed JSON, a line that is not an object, invalid UTF-8, a byte
  order mark, a record over the size limit) or a damaged gzip -> line path;
* the number of rows differs from the number of lines (a blank or whitespace line, which
  ``read_json`` skips, would shift every later line number) -> line path;
* a row with none of the mapping's top-level fields (``read_json`` reads a ``null`` line
  as such a row; the line path reports ``null`` as not an object) -> line path.

A damaged record in a 5 GB file thus costs one chunk on the slow path, not the file (in
a gzip stream: the rest of the stream from the damaged round on).
"""

from __future__ import annotations

import collections
import errno
import itertools
import math
import os
import queue
import re
import select
import tempfile
import threading
from collections import Counter
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relayhunt import model
from relayhunt.sources.base import ByteStream, GzipTruncated, IngestContext
from relayhunt.sources.engine import RecordMapping, _prune, _refs, check_groups, load_json_chunk
from relayhunt.sources.lines import iter_line_tables, prefetch

FAST_MIN_BYTES = 4 * 1024 * 1024
"""Smaller files take the line path: the fast path's fixed cost (pipes, threads, a
temporary table) does not pay off, and small files are where odd layouts live."""
DEAL_BYTES = 8 * 1024 * 1024
"""Block size dealt to the workers in turn when the stream cannot be cut by offset."""
CHUNK_BYTES = 256 * 1024 * 1024
"""Largest chunk of a plain file parsed as one piece (its temporary table holds roughly
as many bytes again, once per worker)."""
MAX_WORKERS = 8

OUTCOMES: Counter[str] = Counter()
"""How often a chunk took the fast path or fell back, and why (tests and benchmarks)."""
_UNREADABLE = (
    duckdb.InvalidInputException,
    duckdb.IOException,
    duckdb.ConversionException,
    duckdb.OutOfMemoryException,
)
_FEED_BLOCK = 1024 * 1024
_DEAL_AHEAD = 2  # blocks decompressed ahead per worker
_SCAN_BLOCK = 16 * 1024 * 1024
_PROVENANCE = ("timestamp", "log_format", "log_file_path", "log_line", "log_record")


@dataclass
class _Chunk:
    """A byte range of the (decompressed) content, ending just after a newline or at the
    end; ``end`` None means the end of the stream (gzip)."""

    index: int
    start: int
    end: int | None
    counted: threading.Event = field(default_factory=threading.Event)
    newlines: int | None = None
    """Every newline in the range; None when the range could not be read to its end."""
    lines: int = 0
    """Lines up to the last byte that is not a line break, as ``read_json`` yields rows."""
    nbytes: int = 0
    oversize: bool = False
    first_line: int | None = None
    fallback: str | None = None


def load_ndjson_file(ctx: IngestContext, mapping: RecordMapping) -> bool:
    """Load ``ctx.file`` (NDJSON, plain or gzip); chunks the fast path cannot vouch for are
    read by the line path. False (nothing written) when the file is not for this path."""
    if mapping.struct is None or mapping.unwrap is not None or not hasattr(os, "mkfifo"):
        return False
    if ctx.file.size is not None and ctx.file.size < FAST_MIN_BYTES:
        return False
    con = ctx.store.con
    row = con.execute("SELECT current_setting('threads')").fetchone()
    threads = int(row[0]) if row else 1
    workers = max(1, min(MAX_WORKERS, threads))
    wide = _wide_select(mapping)
    with tempfile.TemporaryDirectory(prefix="relayhunt-pipe-") as tmp:
        pipes = Path(tmp)
        statement = _bindable(ctx, con, wide, pipes)
        try:
            # Every statement now runs on the thread that issues it: rows keep pipe order.
            con.execute("SET threads = 1")
            if workers > 1 and (ctx.file.compressed or not ctx.file.size):
                refused = _load_dealt(ctx, _RoundJob(ctx, wide, statement), workers, pipes)
                chunks = [refused] if refused else []
            else:
                chunks = _plan(ctx, workers)
                _Job(ctx, wide, statement, chunks, pipes).run(workers)
        finally:
            con.execute(f"SET threads = {threads}")
    _read_fallbacks(ctx, mapping, chunks)
    return True


def _plan(ctx: IngestContext, workers: int) -> list[_Chunk]:
    """Chunks of about equal size, a multiple of ``workers`` of them, cut after newlines."""
    size = ctx.file.size
    if ctx.file.compressed or not size:
        return [_Chunk(0, 0, None)]
    n = max(workers, math.ceil(size / CHUNK_BYTES))
    n = math.ceil(n / workers) * workers
    cuts = [0]
    with ctx.file.path.open("rb") as fh:
        for k in range(1, n):
            at = max(size * k // n, cuts[-1])
            cut = _next_line_start(fh, at, size)
            if cut >= size:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    cuts.append(size)
    return [_Chunk(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(cuts))]


def _next_line_start(fh: Any, at: int, size: int) -> int:
    """The offset just after the first newline at or after ``at - 1`` (``size`` if none);
    reads in bounded blocks, so a gigabyte-long line costs no memory."""
    pos = max(at - 1, 0)
    fh.seek(pos)
    while pos < size:
        block: bytes = fh.read(_FEED_BLOCK)
        if not block:
            break
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(block)
    return size


class _Job:
    """One plain file's chunks, parsed by workers in parallel."""

    def __init__(
        self,
        ctx: IngestContext,
        wide: _WideSelect,
        statement: tuple[Mapping[str, Any], str],
        chunks: list[_Chunk],
        pipes: Path,
    ) -> None:
        self.ctx = ctx
        self.wide = wide
        self.statement = statement
        self.chunks = chunks
        self.pipes = pipes
        self.errors: list[BaseException] = []
        self.abort = threading.Event()
        self.lock = threading.Lock()
        self.session = _session(ctx)

    def run(self, workers: int) -> None:
        todo: queue.Queue[_Chunk] = queue.Queue()
        for chunk in self.chunks:
            todo.put(chunk)
        pool = [
            threading.Thread(target=self.work, args=(todo,), name=f"relayhunt-ndjson-{i}")
            for i in range(min(workers, len(self.chunks)))
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if self.errors:
            raise self.errors[0]

    def work(self, todo: queue.Queue[_Chunk]) -> None:
        cur = self.ctx.store.con.cursor()
        try:
            for statement in self.session:  # not inherited by a new connection
                cur.execute(statement)
            while not self.abort.is_set():
                try:
                    chunk = todo.get_nowait()
                except queue.Empty:
                    return
                self._chunk(cur, chunk)
        except BaseException as exc:  # re-raised by the caller once every worker stopped
            self.errors.append(exc)
            self.abort.set()
        finally:
            cur.close()

    def _chunk(self, cur: duckdb.DuckDBPyConnection, chunk: _Chunk) -> None:
        rows = 0
        try:
            parsed = self._parse(cur, chunk)
            if parsed is None:
                chunk.fallback = "fallback: DuckDB could not read the file"
            else:
                rows, empty = parsed
                if chunk.newlines is None:
                    chunk.fallback = "fallback: line count failed"
                elif chunk.oversize:
                    chunk.fallback = "fallback: record over the size limit"
                elif rows != chunk.lines:
                    chunk.fallback = "fallback: blank lines"
                elif empty:
                    chunk.fallback = "fallback: records with no known field"
            first = self._first_line(chunk)
            if first is None:
                chunk.fallback = chunk.fallback or "fallback: an earlier chunk was unreadable"
            if chunk.fallback is None:
                assert first is not None
                skipped = _store(self.ctx, cur, self.wide, (chunk.start, chunk.end, first))
                with self.lock:
                    self.ctx.skipped.update(skipped)
                    self.ctx.records_seen += int(rows)
                    self.ctx.bytes_read += chunk.nbytes
        finally:
            OUTCOMES[chunk.fallback or "used"] += 1
            cur.execute("DROP TABLE IF EXISTS _rh_wide")

    def _parse(self, cur: duckdb.DuckDBPyConnection, chunk: _Chunk) -> tuple[int, int] | None:
        """Create ``_rh_wide`` from the chunk: its rows and rows with no known field, or
        None if DuckDB refused it."""
        pipe = self.pipes / f"chunk-{chunk.index}"
        os.mkfifo(pipe)
        stop = threading.Event()
        feeder = threading.Thread(
            target=_feed, args=(self.ctx, chunk, pipe, stop), name="relayhunt-feed"
        )
        feeder.start()
        try:
            return _parse_wide(cur, self.wide, self.statement, pipe, self.ctx.max_record_bytes)
        except _UNREADABLE:
            return None
        finally:
            stop.set()
            feeder.join()
            pipe.unlink()

    def _first_line(self, chunk: _Chunk) -> int | None:
        """Number of the chunk's first line: 1 plus every newline of the earlier chunks
        (waits for their feeders); None if one of them could not be counted."""
        first = 1
        for earlier in self.chunks[: chunk.index]:
            while not earlier.counted.wait(0.05):
                if self.abort.is_set():
                    raise RuntimeError("ingest aborted")
            if earlier.newlines is None:
                return None
            first += earlier.newlines
        chunk.first_line = first
        return first


@dataclass
class _Deal:
    """A line-aligned block of a stream, dealt to one worker."""

    worker: int
    first_line: int
    lines: int
    """Rows ``read_json`` makes of it when every line is a record."""


def _load_dealt(ctx: IngestContext, job: _RoundJob, workers: int, pipes: Path) -> _Chunk | None:
    """A stream that cannot be cut by offset (gzip): one thread decompresses it once and
    deals line-aligned blocks of :data:`DEAL_BYTES` to the workers' pipes in turn; each
    worker parses its pipe in one statement, so its rows are its blocks' lines in order.
    The stream goes in rounds of about :data:`CHUNK_BYTES` per worker, each stored before
    the next, which bounds memory. Any doubt about a round (a DuckDB error, a row count
    that differs, a record too long, damage) and the rest of the stream from that round's
    start is left to the line path: the returned chunk."""
    dealer = _Dealer(ctx)
    thread = threading.Thread(target=dealer.run, name="relayhunt-deal")
    thread.start()
    try:
        for n in itertools.count():
            result = job.round([pipes / f"deal-{n}-{k}" for k in range(workers)], dealer)
            OUTCOMES[result.outcome] += 1
            if result.outcome != "used":
                refused = _Chunk(n, result.start, None, fallback=result.outcome)
                refused.first_line = result.first_line
                return refused
            if result.eof:
                return None
    finally:
        dealer.rounds.put(None)
        thread.join()
    raise AssertionError("unreachable")


@dataclass
class _Round:
    """What the dealer dealt in one round and what became of it."""

    start: int
    first_line: int
    deals: list[_Deal] = field(default_factory=list)
    bytes: int = 0
    eof: bool = False
    error: str | None = None
    outcome: str = "fallback: DuckDB could not read the file"


class _Dealer:
    """Decompresses the stream once, for all rounds, and deals its blocks."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        self.rounds: queue.Queue[tuple[list[Path], list[threading.Event], threading.Event] | None]
        self.rounds = queue.Queue()
        self.results: queue.Queue[_Round] = queue.Queue()
        self.offset = 0
        self.line = 1

    def run(self) -> None:
        blocks = self._blocks()
        try:
            while (task := self.rounds.get()) is not None:
                self.results.put(self._round(blocks, *task))
        finally:
            blocks.close()

    def _blocks(self) -> Generator[bytes, None, None]:
        """Line-aligned blocks of about DEAL_BYTES (the last may lack its newline)."""
        limit = self.ctx.max_record_bytes
        buf = bytearray()
        with self.ctx.file.open() as src:
            while piece := src.read(_FEED_BLOCK):
                buf += piece
                while len(buf) >= DEAL_BYTES:
                    # up to the last newline within DEAL_BYTES, else the first after it
                    cut = buf.rfind(b"\n", 0, DEAL_BYTES) + 1 or buf.find(b"\n") + 1
                    if cut == 0:
                        if len(buf) > DEAL_BYTES + limit:
                            raise _Refused("record over the size limit")
                        break
                    yield bytes(buf[:cut])
                    del buf[:cut]
        if buf:
            yield bytes(buf)

    def _round(
        self,
        blocks: Generator[bytes, None, None],
        pipes: list[Path],
        parsed: list[threading.Event],
        failed: threading.Event,
    ) -> _Round:
        """Deal about CHUNK_BYTES per pipe. Every pipe is opened before anything is sent:
        a statement must never wait for a writer that will not come (``parsed[k]``: its
        statement ended without opening the pipe)."""
        out = _Round(self.offset, self.line)
        fds: list[int | None] = []
        try:
            for pipe, ended in zip(pipes, parsed, strict=True):
                fds.append(_open_writer(pipe, ended))
            budget = CHUNK_BYTES * len(pipes)
            # Blocks waiting per pipe: a pipe holds 1 MiB, so writing to one pipe until it
            # took a whole block would leave the other workers without input meanwhile.
            pending: list[collections.deque[memoryview]] = [collections.deque() for _ in pipes]
            turn = 0
            done = False
            while True:
                k = turn % len(pipes)
                while not done and len(pending[k]) < _DEAL_AHEAD:
                    if out.bytes >= budget:
                        done = True
                        break
                    block = next(blocks, None)
                    if block is None:
                        out.eof = done = True
                        break
                    if fds[k] is None:
                        raise _Refused("DuckDB could not read the file")
                    pending[k].append(memoryview(self._deal(out, k, block)))
                    turn += 1
                    k = turn % len(pipes)
                waiting = [fd for fd, q in zip(fds, pending, strict=True) if q and fd is not None]
                if not waiting:
                    if done:
                        break
                    continue
                if failed.is_set():
                    raise _Refused("DuckDB could not read the file")
                _, ready, _ = select.select([], waiting, [], 0.05)
                for fd in ready:
                    q = pending[fds.index(fd)]
                    try:
                        n = os.write(fd, q[0])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        raise _Refused("DuckDB could not read the file") from None
                    q[0] = q[0][n:]
                    if not q[0]:
                        q.popleft()
        except _Refused as exc:
            out.error = str(exc)
        except GzipTruncated:
            out.error = "damaged gzip"
        except OSError as exc:
            out.error = f"read error: {exc}"
        except Exception as exc:  # whatever it is, the line path reads the stream
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            if out.error:
                failed.set()
            for opened in fds:
                if opened is not None:
                    os.close(opened)
        return out

    def _deal(self, out: _Round, k: int, block: bytes) -> bytes:
        """Count ``block``'s lines and record it as dealt to worker ``k``."""
        tally = _LineTally(self.ctx.max_record_bytes)
        tally.add(block)
        tally.finish()
        if tally.oversize:
            raise _Refused("record over the size limit")
        out.deals.append(_Deal(k, self.line, tally.lines))
        self.line += tally.newlines
        self.offset += len(block)
        out.bytes += len(block)
        return block


class _RoundJob:
    """Runs one round: a worker per pipe parses, then (if the round is clean) stores."""

    def __init__(
        self, ctx: IngestContext, wide: _WideSelect, statement: tuple[Mapping[str, Any], str]
    ) -> None:
        self.ctx = ctx
        self.wide = wide
        self.statement = statement
        self.session = _session(ctx)
        self.lock = threading.Lock()

    def round(self, pipes: list[Path], dealer: _Dealer) -> _Round:
        for pipe in pipes:
            os.mkfifo(pipe)
        workers = len(pipes)
        failed = threading.Event()
        parsed = [threading.Event() for _ in range(workers)]
        decided = threading.Event()
        verdict: dict[str, Any] = {}
        rows: list[tuple[int, int] | None] = [None] * workers
        errors: list[BaseException] = []
        pool = [
            threading.Thread(
                target=self._work,
                args=(k, pipe, rows, failed, parsed, decided, verdict, errors),
                name=f"relayhunt-ndjson-{k}",
            )
            for k, pipe in enumerate(pipes)
        ]
        for t in pool:
            t.start()
        dealer.rounds.put((pipes, parsed, failed))
        result = dealer.results.get()
        for event in parsed:
            event.wait()
        try:
            if errors:
                pass
            elif result.error:
                result.outcome = f"fallback: {result.error}"
            elif not failed.is_set():
                lines = _dealt_lines(result.deals, workers)
                if any(r is None or r[0] != len(n) for r, n in zip(rows, lines, strict=True)):
                    result.outcome = "fallback: blank lines"
                elif any(r[1] for r in rows if r):
                    result.outcome = "fallback: records with no known field"
                else:
                    verdict["lines"] = lines
                    result.outcome = "used"
        finally:
            decided.set()
            for t in pool:
                t.join()
            for pipe in pipes:
                pipe.unlink()
        if errors:
            raise errors[0]
        if result.outcome == "used":
            self.ctx.records_seen += sum(d.lines for d in result.deals)
            self.ctx.bytes_read += result.bytes
        return result

    def _work(
        self,
        k: int,
        pipe: Path,
        rows: list[tuple[int, int] | None],
        failed: threading.Event,
        parsed: list[threading.Event],
        decided: threading.Event,
        verdict: dict[str, Any],
        errors: list[BaseException],
    ) -> None:
        ctx = self.ctx
        cur = ctx.store.con.cursor()
        try:
            for sql in self.session:
                cur.execute(sql)
            try:
                rows[k] = _parse_wide(cur, self.wide, self.statement, pipe, ctx.max_record_bytes)
            except _UNREADABLE:
                failed.set()
            finally:
                parsed[k].set()
            decided.wait()
            if "lines" in verdict:
                cur.register("_rh_lines", pa.table({"_line": verdict["lines"][k]}))
                skipped = _store(
                    ctx,
                    cur,
                    self.wide,
                    (0, None, 1),
                    source="(SELECT * FROM _rh_wide POSITIONAL JOIN _rh_lines)",
                    line="_line",
                )
                with self.lock:
                    ctx.skipped.update(skipped)
        except BaseException as exc:  # re-raised by the caller
            errors.append(exc)
            failed.set()
            for event in parsed:
                event.set()
        finally:
            cur.execute("DROP TABLE IF EXISTS _rh_wide")
            cur.close()


def _parse_wide(
    cur: duckdb.DuckDBPyConnection,
    wide: _WideSelect,
    statement: tuple[Mapping[str, Any], str],
    path: Path,
    max_record_bytes: int,
) -> tuple[int, int]:
    """Create ``_rh_wide`` from the records at ``path`` (a pipe): its rows, and the rows
    with no known field. DuckDB's refusal (``_UNREADABLE``) reaches the caller."""
    struct, sql = statement
    cur.execute(sql.replace(wide.SOURCE, _read_json(struct, path, max_record_bytes)))
    row = cur.execute("SELECT count(*), count(*) FILTER (WHERE _empty) FROM _rh_wide").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _session(ctx: IngestContext) -> tuple[str, ...]:
    """What a new connection must be told to work like the store's: its database and
    time zone (session settings are not inherited)."""
    row = ctx.store.con.execute("SELECT current_database(), current_setting('TimeZone')").fetchone()
    assert row is not None
    return (f'USE "{_ident(str(row[0]))}"', f"SET TimeZone = '{_lit(str(row[1]))}'")


def _bindable(
    ctx: IngestContext, con: duckdb.DuckDBPyConnection, wide: _WideSelect, tmp: Path
) -> tuple[Mapping[str, Any], str]:
    """The first of ``wide``'s statements that binds (the pruned structure, unless a field
    reference was missed), tried on an empty file."""
    empty = tmp / "empty.ndjson"
    empty.write_bytes(b"")
    for n, (struct, sql) in enumerate(wide.statements, 1):
        source = _read_json(struct, empty, ctx.max_record_bytes)
        try:
            con.execute(sql.replace(wide.SOURCE, source).replace("_rh_wide", "_rh_wide_bind"))
            return struct, sql
        except duckdb.BinderException:
            if n == len(wide.statements):
                raise
        finally:
            con.execute("DROP TABLE IF EXISTS _rh_wide_bind")
    raise AssertionError("unreachable")


class _Refused(Exception):
    """The dealt stream cannot be vouched for; the line path reads it."""


def _dealt_lines(deals: list[_Deal], workers: int) -> list[np.ndarray]:
    """Per worker, the line number of each of its rows (its blocks' lines, in order)."""
    out = []
    for k in range(workers):
        mine = [d for d in deals if d.worker == k and d.lines]
        out.append(
            np.concatenate([np.arange(d.first_line, d.first_line + d.lines) for d in mine])
            if mine
            else np.zeros(0, dtype=np.int64)
        )
    return out


def _read_fallbacks(ctx: IngestContext, mapping: RecordMapping, chunks: list[_Chunk]) -> None:
    """Read the chunks the fast path refused with the line path; adjacent ones as one
    range (a chunk whose lines could not be counted takes the rest of the file)."""
    i = 0
    while i < len(chunks):
        if chunks[i].fallback is None:
            i += 1
            continue
        first = chunks[i]
        j = i
        while j + 1 < len(chunks) and chunks[j + 1].fallback is not None:
            j += 1
        end = chunks[j].end
        first_line = first.first_line
        if first_line is None:  # a run of fallbacks starts after a counted chunk
            raise RuntimeError(f"no line number for the chunk at byte {first.start}")
        with _open_range(ctx, first.start, end) as stream:
            for table in prefetch(
                iter_line_tables(stream, ctx, first_line=first_line, first_offset=first.start)
            ):
                load_json_chunk(ctx, table, mapping)
                ctx.store.flush_issues()
        i = j + 1


@contextmanager
def _open_range(ctx: IngestContext, start: int, end: int | None) -> Iterator[ByteStream]:
    if end is None:
        with ctx.file.open() as stream:
            left = start  # a stream that cannot seek: read up to the start
            while left and (skipped := stream.read(min(left, _SCAN_BLOCK))):
                left -= len(skipped)
            yield stream
        return
    with ctx.file.path.open("rb") as fh:
        fh.seek(start)
        yield _Range(fh, end - start)


class _Range:
    """At most ``left`` bytes of an open file."""

    def __init__(self, fh: Any, left: int) -> None:
        self._fh = fh
        self._left = left

    def read(self, n: int = -1, /) -> bytes:
        want = self._left if n < 0 else min(n, self._left)
        data: bytes = self._fh.read(want) if want else b""
        self._left -= len(data)
        return data


def _feed(ctx: IngestContext, chunk: _Chunk, pipe: Path, stop: threading.Event) -> None:
    """Copy the chunk into ``pipe`` while counting its lines. Once DuckDB stops reading
    (done, refused the content, or never opened the pipe) it goes on counting only:
    every later chunk's line numbers depend on it."""
    out: int | None = None
    tally = _LineTally(ctx.max_record_bytes)
    unreadable = False  # the line path will meet the same error and report it
    try:
        out = _open_writer(pipe, stop)
        with _open_range(ctx, chunk.start, chunk.end) as src:
            while block := src.read(_FEED_BLOCK):
                tally.add(block)
                if out is not None and not _write_all(out, block, stop):
                    os.close(out)
                    out = None
    except (OSError, GzipTruncated):
        unreadable = True
    finally:
        if out is not None:
            os.close(out)
        tally.finish()
        chunk.nbytes = tally.total
        chunk.lines = tally.lines
        chunk.newlines = None if unreadable else tally.newlines
        chunk.oversize = tally.oversize
        chunk.counted.set()


class _LineTally:
    """Counts of a byte stream, block by block: newlines; lines up to the last byte that
    is not a line break (what ``read_json`` turns into rows when every line is a record);
    and whether a line is longer than ``limit`` (DuckDB's ``maximum_object_size`` cannot
    go below its 16 MiB default, so a smaller limit is checked here)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.newlines = 0
        self.lines = 0
        self.oversize = False
        self._pending = 0  # newlines since the last byte that is not a line break
        self._content = False
        self._line_start = 0  # where the current line starts

    def add(self, block: bytes) -> None:
        base = self.total
        self.total += len(block)
        nl = block.count(b"\n")
        self.newlines += nl
        end = len(block.rstrip(b"\r\n"))  # only line breaks: a line of spaces is a record
        if end:
            inside = nl if end == len(block) else block.count(b"\n", 0, end)
            self.lines += self._pending + inside
            self._pending = nl - inside
            self._content = True
        else:
            self._pending += nl
        # Jump from line start to line start by the last newline within the limit: a
        # step per `limit` bytes, not per line.
        while not self.oversize:
            rel = max(self._line_start - base, 0)
            window_end = self._line_start + self.limit + 1 - base
            if window_end > len(block):
                last = block.rfind(b"\n", rel)
                if last >= 0:
                    self._line_start = base + last + 1
                return
            last = block.rfind(b"\n", rel, window_end)
            if last < 0:
                self.oversize = True
            else:
                self._line_start = base + last + 1

    def finish(self) -> None:
        if self.total - self._line_start > self.limit:
            self.oversize = True
        self.lines = self.lines + 1 if self._content else 0


def _open_writer(pipe: Path, stop: threading.Event) -> int | None:
    """The pipe's write end once DuckDB has opened it for reading; None if it never does."""
    while not stop.is_set():
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            stop.wait(0.002)
            continue
        try:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _FEED_BLOCK)
        except (ImportError, AttributeError, OSError):
            pass  # a smaller pipe only means more system calls
        return fd
    return None


def _write_all(fd: int, data: bytes, stop: threading.Event) -> bool:
    """Write ``data`` to the non-blocking pipe; False once the reader is gone (closed, or
    still open but its statement finished: ``stop``)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            if stop.is_set():
                return False
            select.select([], [fd], [], 0.05)
            continue
        except BrokenPipeError:
            return False
        view = view[n:]
    return True


class _WideSelect:
    """The statements that create ``_rh_wide`` (pruned structure, then the whole one),
    and what the table holds: per event table, column name -> wide column alias."""

    SOURCE = "__RH_SOURCE__"

    def __init__(self) -> None:
        self.statements: list[tuple[Mapping[str, Any], str]] = []
        self.columns: dict[str, dict[str, str]] = {}
        self.checks = 0


def _wide_select(mapping: RecordMapping) -> _WideSelect:
    """Every record's table, label, time, check messages and every column of its
    possible tables, computed once; ``{path}`` stands for the file to read."""
    assert mapping.struct is not None
    wide = _WideSelect()
    exprs: dict[tuple[str, str], str] = {}  # (expression, type) -> alias
    select_list: list[str] = []
    for table, cols in mapping.columns.items():
        types = {c.name: c.sql_type for c in model.TABLES[table]}
        out = wide.columns.setdefault(table, {})
        for name, expr in cols.items():
            if name in _PROVENANCE:
                continue
            key = (expr, types[name])
            if key not in exprs:
                alias = f"_c{len(exprs)}"
                exprs[key] = alias
                select_list.append(f"TRY_CAST(({expr}) AS {types[name]}) AS {alias}")
            out[name] = exprs[key]
    early, late = check_groups(mapping)
    msgs = []
    for group in (early, late):
        cases = " ".join(
            f"WHEN '{t}' THEN concat_ws('; ', {', '.join(c)})" for t, c in group.items() if c
        )
        msgs.append(
            f"CASE WHEN _ts IS NOT NULL THEN CASE _table {cases} END END" if cases else "NULL"
        )
    wide.checks = len(msgs)
    uses = [
        mapping.route,
        mapping.label,
        mapping.timestamp,
        mapping.prelude,
        *(e for cols in mapping.columns.values() for e in cols.values()),
        *mapping.checks.values(),
    ]
    prelude = f", {mapping.prelude}" if mapping.prelude else ""
    for struct in (_prune(mapping.struct, _refs(*uses)), mapping.struct):
        empty = " AND ".join(f's."{_ident(k)}" IS NULL' for k in struct)
        wide.statements.append(
            (
                struct,
                f"""CREATE OR REPLACE TEMP TABLE _rh_wide AS
            SELECT _table, _ts, _empty,
                   -- the label names skipped and rejected records only
                   CASE WHEN _table IS NULL OR _ts IS NULL
                        THEN CAST(({mapping.label}) AS VARCHAR) END AS _label,
                   {", ".join(f"{m} AS _m{i}" for i, m in enumerate(msgs))},
                   {", ".join(select_list)}
            FROM (SELECT *, CASE WHEN NOT _empty THEN ({mapping.route}) END AS _table,
                         ({mapping.timestamp}) AS _ts {prelude}
                  FROM (SELECT *, ({empty}) AS _empty FROM {wide.SOURCE} s) s) s""",
            )
        )
    return wide


def _store(
    ctx: IngestContext,
    cur: duckdb.DuckDBPyConnection,
    wide: _WideSelect,
    span: tuple[int, int | None, int],
    *,
    source: str = "_rh_wide",
    line: str | None = None,
) -> Counter[str]:
    """Issues and rows from ``source`` (``_rh_wide``'s columns; ``line`` gives each row's
    line, by default row i is line ``first + i``), which holds the byte range ``span``
    (start, end, number of its first line); the skipped record counts by label."""
    start, end, first = span
    params = [ctx.file.display, ctx.fmt]
    line = line or f"rowid + {int(first)}"
    flagged = " OR ".join(f"(_m{i} IS NOT NULL AND _m{i} <> '')" for i in range(wide.checks))
    lines = cur.execute(
        f"SELECT {line} AS line FROM {source} WHERE ({flagged}) OR "
        "(_table IS NOT NULL AND _ts IS NULL) ORDER BY 1"
    ).fetchnumpy()["line"]
    offsets = _line_offsets(ctx, start, end, first, np.asarray(lines, dtype=np.int64))
    cur.register("_rh_offsets", offsets)
    for i in range(wide.checks):
        cur.execute(
            f"""INSERT INTO ingest_issues
                SELECT ?, ?, w.line, NULL, o.off, 'warning', 'bad_field_type',
                       'field(s) not readable, stored as NULL: ' || w._m{i}, NULL
                FROM (SELECT {line} AS line, _m{i} FROM {source}
                      WHERE _m{i} IS NOT NULL AND _m{i} <> '') w
                LEFT JOIN _rh_offsets o USING (line) ORDER BY w.line""",
            params,
        )
    cur.execute(
        f"""INSERT INTO ingest_issues
           SELECT ?, ?, w.line, NULL, o.off, 'error', 'missing_timestamp',
                  'record of type ' || coalesce(_label, '?') || ' bound for table '
                  || _table || ' has no readable timestamp; rejected', NULL
           FROM (SELECT {line} AS line, _label, _table FROM {source}
                 WHERE _table IS NOT NULL AND _ts IS NULL) w
           LEFT JOIN _rh_offsets o USING (line) ORDER BY w.line""",
        params,
    )
    cur.unregister("_rh_offsets")
    skipped: Counter[str] = Counter()
    for label, n in cur.execute(
        "SELECT coalesce(_label, '(none)'), count(*) FROM _rh_wide WHERE _table IS NULL "
        "GROUP BY ALL"
    ).fetchall():
        skipped[str(label)] += int(n)
    for table, cols in wide.columns.items():
        names = list(cols)
        cur.execute(
            f"""INSERT INTO {table} ({", ".join(_PROVENANCE)}{"".join(", " + n for n in names)})
                SELECT _ts, ?, ?, {line}, NULL{"".join(", " + cols[n] for n in names)}
                FROM {source} WHERE _table = ? AND _ts IS NOT NULL""",
            [ctx.fmt, ctx.file.display, table],
        )
    return skipped


def _read_json(struct: Mapping[str, Any], path: Path, max_record_bytes: int) -> str:
    columns = ", ".join(f"'{_lit(k)}': '{_lit(_type(v))}'" for k, v in struct.items())
    # The pipe carries plain NDJSON (a gzip file is decompressed by its feeder). Records
    # over the size limit make DuckDB refuse the chunk; the line path then reports them.
    return (
        f"read_json('{_lit(str(path))}', format = 'newline_delimited', records = true, "
        f"compression = 'uncompressed', maximum_object_size = {int(max_record_bytes)}, "
        f"columns = {{{columns}}})"
    )


def _type(node: Any) -> str:
    if isinstance(node, Mapping):
        return "STRUCT(" + ", ".join(f'"{_ident(k)}" {_type(v)}' for k, v in node.items()) + ")"
    if isinstance(node, list) and len(node) == 1:
        return _type(node[0]) + "[]"
    if not re.fullmatch(r"[A-Z]+(\[\])?", str(node)):
        raise ValueError(f"unexpected JSON structure type {node!r}")
    return str(node)


def _lit(text: str) -> str:
    return text.replace("'", "''")


def _ident(text: str) -> str:
    return text.replace('"', '""')


def _line_offsets(
    ctx: IngestContext, start: int, end: int | None, first: int, lines: np.ndarray
) -> pa.Table:
    """``(line, off)``: where each of ``lines`` (sorted; the range from byte ``start`` to
    ``end`` begins with line ``first``) starts in the file. One more pass over the range,
    only when some record was reported."""
    rows = lines - (first - 1)  # 1-based within the range
    offs = np.full(len(rows), -1, dtype=np.int64)
    if len(rows):
        offs[rows == 1] = start
        seen = 0  # newlines before this block
        base = start
        with _open_range(ctx, start, end) as fh:
            while block := fh.read(_SCAN_BLOCK):
                nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                # row k starts after the range's (k-1)th newline: index k - 2 overall
                idx = rows - 2 - seen
                ok = (idx >= 0) & (idx < len(nl))
                offs[ok] = base + nl[idx[ok]] + 1
                seen += len(nl)
                base += len(block)
    return pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            "off": pa.array(offs, pa.int64(), mask=offs < 0),
        }
    )
