"""Sysmon in Windows event log files (``.evtx``), read with the ``evtx`` package.

``evtx`` (pyevtx-rs, Rust) renders each record as JSON; batches of those strings go
through the shared Sysmon mapping (:mod:`relayhunt.sources.sysmon`) in DuckDB. The
record's 1-based position in the file becomes ``log_record`` and its ``EventRecordID``
``event_id``.

The parser alone would lose damaged data silently: it skips a chunk whose signature is
gone, stops a chunk at the first bad record, ignores a chunk cut short by the end of the
file, and renders records of a chunk whose checksum fails without a word. So the file's
structure is checked first (file header signature and CRC32, each 64 KiB chunk's
signature, header CRC32 and record-data CRC32, the record-number range each chunk
declares) and what the parser yields is reconciled with it afterwards: every record a
chunk declares but the parser did not yield becomes a located issue
(``truncated_file`` for a file cut inside a chunk, ``corrupt_record`` otherwise, with
the chunk offset, the record offset where the framing shows it, and the parser's
message). A damaged file header is replaced, in a view of the file, by one rebuilt from
the chunks, and a chunk cut by the end of the file is padded, so that the parser reads
every record that is still whole.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

import evtx
import numpy as np
import pyarrow as pa

from relayhunt.sources.base import Head, IngestContext
from relayhunt.sources.lines import prefetch
from relayhunt.sources.sysmon import DATA_FIELDS, flat_columns, load_records

FILE_HEADER_SIZE: Final = 4096
CHUNK_SIZE: Final = 65536
CHUNK_HEADER_SIZE: Final = 512
MAX_RECORDS_PER_CHUNK: Final = (CHUNK_SIZE - CHUNK_HEADER_SIZE) // 28
BATCH_RECORDS: Final = 50_000
MAX_CONSECUTIVE_ERRORS: Final = 100_000
MAX_UNATTRIBUTED_ISSUES: Final = 100
MAX_LISTED_BAD: Final = 1000  # unreadable records listed one by one per batch
_FILE_MAGIC: Final = b"ElfFile\x00"
_CHUNK_MAGIC: Final = b"ElfChnk\x00"
_RECORD_MAGIC: Final = b"**\x00\x00"
_ZERO_CHUNK: Final = bytes(CHUNK_SIZE)
# Where the record JSON of the ``evtx`` package keeps the values relayhunt reads.
_SYSTEM_PATHS: Final = {
    "EventID": "$.Event.System.EventID",
    "EventRecordID": "$.Event.System.EventRecordID",
    "Channel": "$.Event.System.Channel",
    "Computer": "$.Event.System.Computer",
    "Provider": '$.Event.System.Provider."#attributes".Name',
    "SystemTime": '$.Event.System.TimeCreated."#attributes".SystemTime',
}
_PATHS: Final = [*_SYSTEM_PATHS.values(), *(f'$.Event.EventData."{f}"' for f in DATA_FIELDS)]
# Each record's JSON is parsed once, every value extracted in that one pass (the list
# form of json_extract_string). The careful form gives a record whose JSON does not parse
# NULL values and ``_bad`` (reported by the reader); it costs every record more, so it is
# used only for a batch where the plain form fails.
_EXTRACT: Final = (
    "json_extract_string(j, [" + ", ".join("'" + p.replace("'", "''") + "'" for p in _PATHS) + "])"
)
_FLAT_SQL: Final = (
    "SELECT idx, CAST(NULL AS BIGINT) AS line_no, record_no, CAST(NULL AS BIGINT) AS off, "
    "v IS NULL AS _bad, "
    + flat_columns(
        {k: f"v[{i + 1}]" for i, k in enumerate(_SYSTEM_PATHS)},
        {f: f"v[{len(_SYSTEM_PATHS) + i + 1}]" for i, f in enumerate(DATA_FIELDS)},
    )
    + " FROM (SELECT idx, record_no, {extract} AS v FROM _rh_evtx_chunk)"
)
_FAST_SQL: Final = _FLAT_SQL.format(extract=_EXTRACT)
_CAREFUL_SQL: Final = _FLAT_SQL.format(extract=f"TRY({_EXTRACT})")


@dataclass
class _Chunk:
    """What the structure check found in one 64 KiB chunk slot."""

    index: int
    offset: int
    length: int  # bytes present in the file (< CHUNK_SIZE when the file is cut)
    magic_ok: bool
    all_zero: bool
    header_crc_ok: bool = False
    data_crc_ok: bool = False
    first_id: int | None = None
    last_id: int | None = None

    @property
    def partial(self) -> bool:
        return self.length < CHUNK_SIZE

    @property
    def declared(self) -> int:
        """Records the chunk header declares (0 when the header cannot be trusted)."""
        if self.first_id is None or self.last_id is None or self.last_id < self.first_id:
            return 0
        n = self.last_id - self.first_id + 1
        return n if self.header_crc_ok and n <= MAX_RECORDS_PER_CHUNK else 0


@dataclass
class _Layout:
    size: int
    readable_end: int
    """Where the parser's view stops taking real bytes (the end of the last whole record
    of a chunk cut by the end of the file; the file size otherwise)."""
    header_magic_ok: bool
    header_crc_ok: bool
    header_last_chunk: int | None
    chunks: list[_Chunk] = field(default_factory=list)

    @property
    def needs_view(self) -> bool:
        """The parser must be given a repaired view (bad header, cut chunk)."""
        return (
            not self.header_magic_ok
            or self.size < FILE_HEADER_SIZE
            or bool(self.chunks and self.chunks[-1].partial)
        )


def _scan(path: Path) -> _Layout:
    """Check the file header and every chunk (C-speed CRC32 over whole chunks)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(FILE_HEADER_SIZE)
        magic_ok = header[:8] == _FILE_MAGIC
        crc_ok = len(header) >= 128 and struct.unpack_from("<I", header, 124)[0] == zlib.crc32(
            header[:120]
        )
        last_chunk = struct.unpack_from("<Q", header, 16)[0] if magic_ok and crc_ok else None
        layout = _Layout(size, size, magic_ok, crc_ok, last_chunk)
        index = 0
        while True:
            offset = FILE_HEADER_SIZE + index * CHUNK_SIZE
            buf = fh.read(CHUNK_SIZE)
            if not buf:
                break
            layout.chunks.append(_check_chunk(index, offset, buf))
            index += 1
    if layout.chunks and layout.chunks[-1].partial:
        # A record cut by the end of the file must not reach the parser: zeros replace
        # everything from its first byte.
        last = layout.chunks[-1]
        if last.magic_ok and last.length >= CHUNK_HEADER_SIZE:
            found, _ = _walk_records(path, last)
            ends = [
                off + struct.unpack_from("<I", _read_at(path, off + 4, 4))[0]
                for off in found.values()
            ]
            layout.readable_end = max(ends, default=last.offset + CHUNK_HEADER_SIZE)
        else:
            layout.readable_end = last.offset
    return layout


def _check_chunk(index: int, offset: int, buf: bytes) -> _Chunk:
    chunk = _Chunk(
        index=index,
        offset=offset,
        length=len(buf),
        magic_ok=buf[:8] == _CHUNK_MAGIC,
        all_zero=buf == _ZERO_CHUNK[: len(buf)],
    )
    if not chunk.magic_ok or len(buf) < CHUNK_HEADER_SIZE:
        return chunk
    first, last, _, _, _, _, free, data_crc = struct.unpack_from("<QQQQIIII", buf, 8)
    chunk.first_id, chunk.last_id = first, last
    chunk.header_crc_ok = struct.unpack_from("<I", buf, 124)[0] == zlib.crc32(
        buf[:120] + buf[128:CHUNK_HEADER_SIZE]
    )
    chunk.data_crc_ok = (
        CHUNK_HEADER_SIZE <= free <= len(buf)
        and zlib.crc32(buf[CHUNK_HEADER_SIZE:free]) == data_crc
    )
    return chunk


def _walk_records(path: Path, chunk: _Chunk) -> tuple[dict[int, int], int | None]:
    """Record id -> file offset for the records whose framing is intact, and the file
    offset where the framing breaks (None when it runs to the free space)."""
    with path.open("rb") as fh:
        fh.seek(chunk.offset)
        buf = fh.read(CHUNK_SIZE)
    free = struct.unpack_from("<I", buf, 48)[0] if len(buf) >= 52 else CHUNK_HEADER_SIZE
    end = min(max(free, CHUNK_HEADER_SIZE), len(buf))
    found: dict[int, int] = {}
    pos = CHUNK_HEADER_SIZE
    while pos < end:
        if pos + 24 > len(buf) or buf[pos : pos + 4] != _RECORD_MAGIC:
            return found, chunk.offset + pos
        size = struct.unpack_from("<I", buf, pos + 4)[0]
        if size < 28 or pos + size > len(buf):
            return found, chunk.offset + pos
        if struct.unpack_from("<I", buf, pos + size - 4)[0] != size:
            return found, chunk.offset + pos
        found[struct.unpack_from("<Q", buf, pos + 8)[0]] = chunk.offset + pos
        pos += size
    return found, None


class _RepairedView(io.RawIOBase):
    """The file as the parser should see it: a rebuilt header, a cut chunk padded."""

    def __init__(self, fh: BinaryIO, real_size: int, header: bytes | None, size: int) -> None:
        self._fh = fh
        self._real = real_size
        self._header = header
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self._size - self._pos))
        done = 0
        while done < want:
            pos = self._pos + done
            if self._header is not None and pos < FILE_HEADER_SIZE:
                piece = self._header[pos : min(FILE_HEADER_SIZE, pos + want - done)]
            elif pos < self._real:
                self._fh.seek(pos)
                piece = self._fh.read(min(want - done, self._real - pos))
            else:
                piece = bytes(want - done)
            if not piece:
                break
            view[done : done + len(piece)] = piece
            done += len(piece)
        self._pos += done
        return done


def _rebuilt_header(layout: _Layout) -> bytes:
    ids = [c.last_id for c in layout.chunks if c.magic_ok and c.last_id is not None]
    header = bytearray(FILE_HEADER_SIZE)
    n = len(layout.chunks)
    struct.pack_into(
        "<8sQQQIHHHH",
        header,
        0,
        _FILE_MAGIC,
        0,
        max(n - 1, 0),
        (max(ids) + 1) if ids else 1,
        128,
        1,
        3,
        FILE_HEADER_SIZE,
        min(n, 0xFFFF),
    )
    struct.pack_into("<II", header, 120, 0, zlib.crc32(header[:120]))
    return bytes(header)


@contextmanager
def _parser_input(path: Path, layout: _Layout) -> Iterator[str | io.RawIOBase]:
    if not layout.needs_view:
        yield str(path)
        return
    header = None if layout.header_magic_ok else _rebuilt_header(layout)
    padded = FILE_HEADER_SIZE + len(layout.chunks) * CHUNK_SIZE
    with path.open("rb") as fh:
        yield _RepairedView(fh, layout.readable_end, header, max(padded, FILE_HEADER_SIZE))


_ERR_RECORD = re.compile(r"record number (\d+)")
_ERR_RANGE = re.compile(r"record IDs (\d+)\.\.(\d+)")
_ERR_CHUNK = re.compile(r"chunk number (\d+)")


def _ranges(ids: np.ndarray) -> str:
    """'5-9, 12' for sorted ids."""
    if len(ids) == 0:
        return ""
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate(([ids[0]], ids[breaks + 1]))
    ends = np.concatenate((ids[breaks], [ids[-1]]))
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True)]
    shown = ", ".join(parts[:8])
    return shown + (f" and {len(parts) - 8} more ranges" if len(parts) > 8 else "")


class _Reader:
    def __init__(self, ctx: IngestContext, path: Path) -> None:
        self.ctx = ctx
        self.path = path
        self.ids = array("q")
        self.errors: list[str] = []

    def run(self) -> None:
        layout = _scan(self.path)
        self.ctx.bytes_read += layout.size
        self._report_header(layout)
        # The parser runs in a background thread, a batch ahead of DuckDB loading the
        # previous one. ``ids`` and ``errors`` are filled there and read after it ends.
        for chunk in prefetch(self._batches(layout)):
            self._load(chunk)
        self._reconcile(layout)

    def _batches(self, layout: _Layout) -> Iterator[pa.Table]:
        try:
            with _parser_input(self.path, layout) as source:
                parser = evtx.PyEvtxParser(source, number_of_threads=1)
                yield from self._iterate(parser.records_json())
        except (RuntimeError, OSError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _iterate(self, records: Any) -> Iterator[pa.Table]:
        consecutive = 0
        batch: list[str] = []
        start = 1
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception as exc:  # the parser raises RuntimeError per damaged record
                self.errors.append(str(exc))
                consecutive += 1
                if consecutive >= MAX_CONSECUTIVE_ERRORS:
                    self.errors.append("too many consecutive parse errors; reading stopped")
                    break
                continue
            consecutive = 0
            self.ids.append(int(rec["event_record_id"]))
            batch.append(rec["data"])
            if len(batch) >= BATCH_RECORDS:
                yield _chunk(batch, start)
                start += len(batch)
                batch = []
        if batch:
            yield _chunk(batch, start)

    def _load(self, chunk: pa.Table) -> None:
        self.ctx.records_seen += chunk.num_rows
        con = self.ctx.store.con
        con.register("_rh_evtx_chunk", chunk)
        try:
            load_records(self.ctx, _FAST_SQL, careful_sql=_CAREFUL_SQL)
            bad_idx = con.execute("SELECT idx FROM _rh_route WHERE _bad ORDER BY idx").fetchnumpy()[
                "idx"
            ]
        finally:
            con.unregister("_rh_evtx_chunk")
            con.execute("DROP TABLE IF EXISTS _rh_route")
        shown = bad_idx[:MAX_LISTED_BAD]
        for record_no, text in zip(
            chunk.column("record_no").take(shown).to_pylist(),
            chunk.column("j").take(shown).to_pylist(),
            strict=True,
        ):  # the parser's JSON did not parse: never seen so far
            self.ctx.issue(
                "corrupt_record",
                "the EVTX parser rendered this record as unreadable JSON; skipped",
                record=int(record_no),
                excerpt=text,
            )
        if len(bad_idx) > len(shown):
            first = int(chunk.column("record_no")[int(bad_idx[len(shown)])].as_py())
            self.ctx.issue(
                "corrupt_record",
                f"{len(bad_idx) - len(shown)} more records of this batch rendered as "
                "unreadable JSON by the EVTX parser; skipped (the first listed here)",
                record=first,
            )

    # -- reporting --------------------------------------------------------------------

    def _report_header(self, layout: _Layout) -> None:
        if layout.size < FILE_HEADER_SIZE:
            self.ctx.issue(
                "truncated_file",
                f"file of {layout.size} bytes ends inside the 4096-byte EVTX file header",
                offset=layout.size,
            )
        elif not layout.header_magic_ok:
            self.ctx.issue(
                "corrupt_record",
                "EVTX file header damaged (no ElfFile signature); the chunks were read without it",
                offset=0,
                severity="warning",
            )
        elif not layout.header_crc_ok:
            self.ctx.issue(
                "corrupt_record",
                "EVTX file header checksum mismatch; the chunks were read without relying "
                "on the header",
                offset=0,
                severity="warning",
            )

    def _reconcile(self, layout: _Layout) -> None:
        ids = (
            np.sort(np.frombuffer(self.ids, dtype=np.int64)) if self.ids else np.array([], np.int64)
        )
        attributed: set[int] = set()
        last_used = max((c.index for c in layout.chunks if not c.all_zero), default=-1)
        for i, chunk in enumerate(layout.chunks):
            if chunk.partial and chunk.length < CHUNK_HEADER_SIZE and chunk.magic_ok:
                self._issue_cut(chunk, ids, np.array([], np.int64))
                continue
            if not chunk.magic_ok:
                self._report_lost_chunk(layout, i, chunk, ids, last_used)
                continue
            if chunk.declared:
                assert chunk.first_id is not None and chunk.last_id is not None
                expected = np.arange(chunk.first_id, chunk.last_id + 1, dtype=np.int64)
            else:
                # Header unreadable or damaged: the records whose framing is intact are
                # what the chunk holds.
                framed, _ = _walk_records(self.path, chunk)
                expected = np.array(sorted(framed), dtype=np.int64)
                if len(expected) == 0:
                    if chunk.partial:
                        self._issue_cut(chunk, ids, expected)
                    else:
                        self.ctx.issue(
                            "corrupt_record",
                            f"chunk {chunk.index} at offset {chunk.offset}: header damaged "
                            "and no intact record found; its records are lost",
                            record=len(ids) + 1,
                            offset=chunk.offset,
                        )
                    continue
            lo = int(np.searchsorted(ids, expected[0], "left"))
            hi = int(np.searchsorted(ids, expected[-1], "right"))
            got = ids[lo:hi]
            missing = np.setdiff1d(expected, got, True)
            messages = self._chunk_errors(chunk, attributed)
            if chunk.partial:
                if len(missing):
                    self._issue_cut(chunk, ids, missing)
                continue
            if len(missing):
                found, broken_at = _walk_records(self.path, chunk)
                first_missing = int(missing[0])
                offset = found.get(first_missing, broken_at or chunk.offset)
                self.ctx.records_seen += len(missing)
                why = "; ".join(messages[:3]) or (
                    "chunk checksum mismatch"
                    if not (chunk.header_crc_ok and chunk.data_crc_ok)
                    else "the parser stopped inside the chunk"
                )
                self.ctx.issue(
                    "corrupt_record",
                    f"chunk {chunk.index} at offset {chunk.offset}: {len(missing)} of "
                    f"{len(expected)} records unreadable (EventRecordID "
                    f"{_ranges(missing)}): {why}",
                    record=int(np.searchsorted(ids, first_missing)) + 1,
                    offset=offset,
                )
            elif not chunk.data_crc_ok or not chunk.header_crc_ok:
                part = "record data" if not chunk.data_crc_ok else "header"
                self.ctx.issue(
                    "corrupt_record",
                    f"chunk {chunk.index} at offset {chunk.offset}: {part} checksum "
                    f"mismatch; its {len(expected)} records (EventRecordID "
                    f"{_ranges(expected)}) were read but may hold damaged values",
                    record=lo + 1,
                    offset=chunk.offset,
                    severity="warning",
                )
        left = [m for k, m in enumerate(self.errors) if k not in attributed]
        for message in left[:MAX_UNATTRIBUTED_ISSUES]:
            self.ctx.issue("corrupt_record", f"EVTX parser: {message}", excerpt=message)
        if len(left) > MAX_UNATTRIBUTED_ISSUES:
            self.ctx.issue(
                "corrupt_record",
                f"{len(left) - MAX_UNATTRIBUTED_ISSUES} more EVTX parser errors not listed",
            )

    def _chunk_errors(self, chunk: _Chunk, attributed: set[int]) -> list[str]:
        """Parser messages about this chunk (by chunk number or record id)."""
        out = []
        for k, message in enumerate(self.errors):
            m_chunk = _ERR_CHUNK.search(message)
            m_range = _ERR_RANGE.search(message)
            m_record = _ERR_RECORD.search(message)
            hit = (
                (m_chunk is not None and int(m_chunk.group(1)) == chunk.index)
                or (m_range is not None and int(m_range.group(1)) == chunk.first_id)
                or (
                    m_record is not None
                    and chunk.first_id is not None
                    and chunk.last_id is not None
                    and chunk.first_id <= int(m_record.group(1)) <= chunk.last_id
                )
            )
            if hit:
                attributed.add(k)
                out.append(message)
        if not out and self.errors and chunk.first_id is not None:
            # Messages without numbers (e.g. a bad record signature) belong to the chunk
            # whose records are missing; take the first unattributed one.
            for k, message in enumerate(self.errors):
                if k not in attributed and not (
                    _ERR_CHUNK.search(message)
                    or _ERR_RANGE.search(message)
                    or _ERR_RECORD.search(message)
                ):
                    attributed.add(k)
                    out.append(message)
                    break
        return out

    def _issue_cut(self, chunk: _Chunk, ids: np.ndarray, missing: np.ndarray) -> None:
        cut = chunk.offset + chunk.length
        lost = (
            f"{len(missing)} records from the cut on could not be read (EventRecordID "
            f"{_ranges(missing)})"
            if len(missing)
            else "its records could not be read"
        )
        self.ctx.issue(
            "truncated_file",
            f"file ends at byte {cut}, inside chunk {chunk.index} (offset {chunk.offset}, "
            f"{chunk.length} of {CHUNK_SIZE} bytes present): {lost}",
            record=(int(np.searchsorted(ids, missing[0])) + 1) if len(missing) else len(ids) + 1,
            offset=cut,
        )
        self.ctx.records_seen += len(missing)

    def _report_lost_chunk(
        self, layout: _Layout, i: int, chunk: _Chunk, ids: np.ndarray, last_used: int
    ) -> None:
        unused = chunk.all_zero and (
            chunk.index > last_used
            or (layout.header_last_chunk is not None and chunk.index > layout.header_last_chunk)
        )
        if unused:
            return  # never-written space after the last chunk
        before = next(
            (c.last_id for c in reversed(layout.chunks[:i]) if c.magic_ok and c.last_id), None
        )
        after = next(
            (c.first_id for c in layout.chunks[i + 1 :] if c.magic_ok and c.first_id), None
        )
        span = ""
        if before is not None and after is not None and after - before > 1:
            span = f" (EventRecordID {before + 1}-{after - 1}, {after - before - 1} records)"
            self.ctx.records_seen += after - before - 1
        position = int(np.searchsorted(ids, before, "right")) + 1 if before is not None else 1
        if chunk.partial and chunk.length < 8:
            self.ctx.issue(
                "truncated_file",
                f"file ends at byte {chunk.offset + chunk.length}, {chunk.length} bytes into "
                f"chunk {chunk.index}",
                record=position,
                offset=chunk.offset + chunk.length,
            )
            return
        what = "zeroed" if chunk.all_zero else "overwritten or not a chunk"
        self.ctx.issue(
            "corrupt_record",
            f"chunk {chunk.index} at offset {chunk.offset} has no ElfChnk signature "
            f"({what}); its records are lost{span}",
            record=position,
            offset=chunk.offset,
            excerpt=None if chunk.all_zero else _read_at(self.path, chunk.offset, 64),
        )


def _chunk(batch: list[str], start: int) -> pa.Table:
    """Records ``start``.. as a table (idx, record_no, j) in record batches, so that
    DuckDB parses them on several threads."""
    n = len(batch)
    table = pa.table(
        {
            "idx": pa.array(np.arange(n, dtype=np.int64)),
            "record_no": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "j": pa.array(batch, type=pa.large_string()),
        }
    )
    return pa.Table.from_batches(table.to_batches(2048))


def _read_at(path: Path, offset: int, n: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(n)


class SysmonEvtxSource:
    """Sysmon (and any other channel's) events in a Windows event log file."""

    name = "sysmon.evtx"
    description = "Windows event log files (.evtx) with Sysmon events"

    def sniff(self, head: Head) -> bool:
        data = head.data
        if data[:8] == _FILE_MAGIC:
            return True
        # A file whose header is damaged but whose first chunk is intact.
        return data[FILE_HEADER_SIZE : FILE_HEADER_SIZE + 8] == _CHUNK_MAGIC

    def read(self, ctx: IngestContext) -> None:
        def on_truncated(offset: int, detail: str) -> None:
            ctx.issue(
                "truncated_gzip",
                f"gzip stream damaged after {offset} decompressed bytes ({detail}); "
                "the EVTX data before that point was read",
                offset=offset,
            )

        with ctx.file.plain_path(on_truncated=on_truncated) as path:
            _Reader(ctx, Path(path)).run()


__all__ = ["SysmonEvtxSource"]
