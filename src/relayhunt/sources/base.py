"""What every reader shares: the input file, the sniffing head, the ingest context."""

from __future__ import annotations

import json
import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from relayhunt.store import Store

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
# An IPv4 or IPv6 literal, loosely (RE2, for SQL): what tells an address from a host name
# in fields that may hold either.
IP_LITERAL_RE = r"^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$"


class ByteStream(Protocol):
    """What readers need of an input stream."""

    def read(self, n: int = -1, /) -> bytes: ...


class GzipTruncated(Exception):
    """A gzip stream ended early or is corrupt after ``offset`` decompressed bytes."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(detail)
        self.offset = offset
        self.detail = detail


@dataclass
class InputFile:
    """One input: a plain or gzip file on disk (stdin is spooled to a file first)."""

    display: str
    path: Path
    compressed: bool
    size: int | None

    @classmethod
    def from_path(cls, path: Path, display: str | None = None) -> InputFile:
        with path.open("rb") as fh:
            magic = fh.read(2)
        return cls(
            display=display or str(path),
            path=path,
            compressed=magic == GZIP_MAGIC,
            size=path.stat().st_size,
        )

    @contextmanager
    def open(self) -> Iterator[ByteStream]:
        """Decompressed binary stream. A damaged gzip raises :class:`GzipTruncated`."""
        if not self.compressed:
            with self.path.open("rb") as fh:
                yield fh
            return
        with self.path.open("rb") as raw:
            yield _SafeGzip(raw)

    def head(self, n: int = HEAD_BYTES) -> tuple[bytes, GzipTruncated | None]:
        """First ``n`` decompressed bytes, and the damage met on the way if any (a damaged
        gzip gives what could be read)."""
        with self.open() as fh:
            try:
                return fh.read(n), None
            except GzipTruncated as exc:
                return getattr(fh, "salvaged", b""), exc

    @contextmanager
    def plain_path(self, on_truncated: Any = None) -> Iterator[Path]:
        """A path to the decompressed content (a temporary copy for gzip input).

        For readers that need a real file (EVTX, DuckDB's CSV reader). A damaged gzip is
        copied up to the damage and ``on_truncated(offset, detail)`` is called.
        """
        if not self.compressed:
            yield self.path
            return
        with tempfile.TemporaryDirectory(prefix="relayhunt-gz-") as tmp:
            target = Path(tmp) / (self.path.name.removesuffix(".gz") or "input")
            with self.open() as src, target.open("wb") as dst:
                try:
                    shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
                except GzipTruncated as exc:
                    dst.write(getattr(src, "salvaged", b""))
                    if on_truncated is not None:
                        on_truncated(exc.offset, exc.detail)
            yield target


class _SafeGzip:
    """Streaming gzip decompression that keeps everything before damage.

    ``gzip.GzipFile`` discards what a failing ``read`` had decompressed; this decoder feeds
    zlib 64 KiB of compressed input at a time, so at most that much is lost. Multi-member
    files (concatenated gzip, as ``cat a.gz b.gz`` makes) are read member after member.
    Damage surfaces as :class:`GzipTruncated`; ``salvaged`` holds the data decoded by the
    failing call.
    """

    def __init__(self, raw: ByteStream) -> None:
        self._raw = raw
        self._dec = zlib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._done = False
        self._started = False
        self.offset = 0
        self.salvaged = b""

    def _fill(self) -> None:
        piece = self._raw.read(64 * 1024)
        if not piece:
            if self._dec.eof or not self._started:
                self._done = True
                return
            raise GzipTruncated(
                self.offset + len(self._buf),
                "compressed stream ended before the end-of-stream marker",
            )
        data = self._dec.unused_data + piece if self._dec.eof else piece
        if self._dec.eof:
            if not data.lstrip(b"\x00"):
                return  # trailing padding after the last member
            self._dec = zlib.decompressobj(wbits=31)
        self._started = True
        try:
            self._buf += self._dec.decompress(data)
        except zlib.error as exc:
            raise GzipTruncated(self.offset + len(self._buf), f"corrupt data: {exc}") from None

    def read(self, n: int = -1, /) -> bytes:
        want = n if n >= 0 else 1 << 62
        try:
            while len(self._buf) < want and not self._done:
                self._fill()
        except GzipTruncated:
            self.salvaged = bytes(self._buf)
            self.offset += len(self._buf)
            self._buf.clear()
            self._done = True
            raise
        out = bytes(self._buf[:want])
        del self._buf[:want]
        self.offset += len(out)
        return out

    def readable(self) -> bool:
        return True


@dataclass
class Head:
    """What sniffers look at: the start of the decompressed content and the file name."""

    name: str
    data: bytes
    text: str = field(init=False)
    first_json: dict[str, Any] | None = field(init=False)
    json_layout: str | None = field(init=False)
    """'ndjson' (mostly one object per line), 'array' (a JSON array), 'object' (one
    document), 'concatenated' (objects back to back, e.g. pretty-printed), or None when
    the content does not start like JSON."""

    def __post_init__(self) -> None:
        self.text = self.data.decode("utf-8", "replace").lstrip("\ufeff")
        self.first_json, self.json_layout = _first_json(self.text)

    @property
    def lower_name(self) -> str:
        return self.name.lower()


def _first_json(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The first JSON object in the head and the layout.

    NDJSON is recognised when the first line or at least a third of the head's complete
    lines are JSON objects, so a damaged first line costs that record, not the file;
    ``first_json`` is then the first line that parses.
    """
    stripped = text.lstrip()
    if not stripped:
        return None, None
    decoder = json.JSONDecoder()
    if stripped[0] == "[":
        body = stripped[1:].lstrip()
        try:
            obj, _ = decoder.raw_decode(body)
        except ValueError:
            return None, "array"
        return (obj if isinstance(obj, dict) else None), "array"
    lines = [ln.strip() for ln in stripped.split("\n")[:201]]
    if len(lines) > 1 and len(text) >= HEAD_BYTES - 4:
        lines = lines[:-1]  # the head may end inside a line
    candidates = [ln for ln in lines if ln]
    objects: list[dict[str, Any]] = []
    for line in candidates:
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                objects.append(obj)
    # A complete object on one line hardly occurs inside a pretty-printed document.
    first_is_object = (
        bool(objects)
        and candidates[0].startswith("{")
        and objects[0] == (_loads_or_none(candidates[0]))
    )
    if objects and (first_is_object or len(objects) * 3 >= len(candidates)):
        return objects[0], "ndjson"
    if stripped[0] != "{":
        return None, None
    try:
        obj, end = decoder.raw_decode(stripped)
    except ValueError:
        return None, "object"
    rest = stripped[end:].lstrip()
    if isinstance(obj, dict) and rest.startswith("{"):
        return obj, "concatenated"  # pretty-printed or concatenated objects: a document
    return (obj if isinstance(obj, dict) else None), "object"


def _loads_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


@dataclass
class IngestContext:
    """Per-file state handed to a reader: where rows and issues go."""

    store: Store
    file: InputFile
    fmt: str
    head: Head | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    records_seen: int = 0
    bytes_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def issue(
        self,
        reason_code: str,
        reason: str,
        *,
        line: int | None = None,
        record: int | None = None,
        offset: int | None = None,
        excerpt: str | bytes | None = None,
        severity: str = "error",
    ) -> None:
        self.store.add_issue(
            file=self.file.display,
            fmt=self.fmt,
            reason_code=reason_code,
            reason=reason,
            line=line,
            record=record,
            offset=offset,
            excerpt_text=excerpt,
            severity=severity,
        )


class Source(Protocol):
    """A telemetry reader. Registered explicitly in :mod:`relayhunt.sources`."""

    name: str
    """Format id written to ``log_format`` (e.g. ``ecs.ndjson``)."""
    description: str

    def sniff(self, head: Head) -> bool:
        """True when ``head`` looks like this format (content first, name as a hint)."""
        ...

    def read(self, ctx: IngestContext) -> None:
        """Read ``ctx.file`` into ``ctx.store``; report every rejected record."""
        ...
