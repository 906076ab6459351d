"""Write Windows XML Event Log (EVTX) files, as the Windows event log service does.

Used to make test fixtures and the telemetry of emulated adversary tests. The output is a
real EVTX file: other parsers (the Rust ``evtx`` crate, libevtx, Event Viewer) read it.

Layout, after Joachim Metz's "Windows XML Event Log (EVTX) format" (libyal/libevtx,
documentation/Windows XML Event Log (EVTX).asciidoc) and [MS-EVEN6]:

* a 4096-byte file header (``ElfFile``, chunk count, next record id, CRC32 of its first
  120 bytes);
* 64 KiB chunks (``ElfChnk``): a 512-byte header holding the record number range, the
  free-space offset, the CRC32 of the record data, the 64-bucket common-string table and
  the 32-bucket template table, and a CRC32 over bytes 0-120 and 128-512; then the
  records;
* records (``**\\0\\0``, size, record id, written time, BinXML, copy of the size).

Each record's BinXML is what Windows writes: a fragment header and a *template
instance*. The first record of a chunk that uses a given shape of event carries the
template definition inline (the element tree of ``<Event>`` with substitution tokens where
values go); later records of that shape in the chunk point at it and only carry their
typed values (UInt16 EventID, FILETIME SystemTime, GUID ProcessGuid, SID UserID ...).
Element and attribute names are stored once per chunk and referenced by offset.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final
from xml.sax.saxutils import escape, quoteattr

FILE_HEADER_SIZE: Final = 4096
CHUNK_SIZE: Final = 65536
CHUNK_HEADER_SIZE: Final = 512
EVENT_NS: Final = "http://schemas.microsoft.com/win/2004/08/events/event"
_FILETIME_EPOCH: Final = datetime(1601, 1, 1, tzinfo=UTC)


class ValueType(IntEnum):
    """BinXML value types (libevtx "Value types")."""

    NULL = 0x00
    STRING = 0x01
    UINT8 = 0x04
    UINT16 = 0x06
    UINT32 = 0x08
    UINT64 = 0x0A
    BOOL = 0x0D
    GUID = 0x0F
    FILETIME = 0x11
    SID = 0x13
    HEXINT32 = 0x14
    HEXINT64 = 0x15


@dataclass(frozen=True)
class Typed:
    """A value with an explicit BinXML type (e.g. a port as ``UINT16``)."""

    type: ValueType
    value: str | int | bool | uuid.UUID | datetime | None


Value = str | int | bool | uuid.UUID | datetime | Typed | None


@dataclass(frozen=True)
class EvtxEvent:
    """One event: the ``System`` block and the named ``EventData`` values.

    ``data`` values are typed by their Python type (str -> string, bool -> Boolean,
    int -> UInt32/UInt64, UUID -> GUID, datetime -> FILETIME, None -> empty) unless
    wrapped in :class:`Typed`.
    """

    event_id: int
    time_created: datetime
    computer: str
    channel: str
    provider_name: str
    provider_guid: uuid.UUID | None = None
    data: tuple[tuple[str, Value], ...] = ()
    version: int = 0
    level: int = 4
    task: int = 0
    opcode: int = 0
    keywords: int = 0x8000000000000000
    process_id: int = 0
    thread_id: int = 0
    user_sid: str | None = None


# -- value encoding -------------------------------------------------------------------------


def filetime(when: datetime) -> int:
    """100 ns ticks since 1601-01-01 UTC (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {sid!r}")
    revision, authority = int(parts[1]), int(parts[2])
    subs = [int(p) for p in parts[3:]]
    return (
        bytes([revision, len(subs)])
        + authority.to_bytes(6, "big")
        + b"".join(struct.pack("<I", s) for s in subs)
    )


def _typed(value: Value) -> tuple[ValueType, object]:
    if isinstance(value, Typed):
        return value.type, value.value
    if value is None:
        return ValueType.NULL, None
    if isinstance(value, bool):
        return ValueType.BOOL, value
    if isinstance(value, int):
        return (ValueType.UINT32 if 0 <= value < 2**32 else ValueType.UINT64), value
    if isinstance(value, uuid.UUID):
        return ValueType.GUID, value
    if isinstance(value, datetime):
        return ValueType.FILETIME, value
    return ValueType.STRING, str(value)


def _value_bytes(vtype: ValueType, value: object) -> bytes:
    if value is None or vtype == ValueType.NULL:
        return b""
    if vtype == ValueType.STRING:
        return str(value).encode("utf-16-le")
    if vtype == ValueType.GUID:
        guid = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return guid.bytes_le
    if vtype == ValueType.FILETIME:
        ticks = filetime(value) if isinstance(value, datetime) else int(str(value))
        return struct.pack("<Q", ticks)
    if vtype == ValueType.SID:
        return _sid_bytes(str(value))
    if vtype == ValueType.BOOL:
        return struct.pack("<I", 1 if value else 0)
    number = int(str(value), 0) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    fmt = {
        ValueType.UINT8: "<B",
        ValueType.UINT16: "<H",
        ValueType.UINT32: "<I",
        ValueType.UINT64: "<Q",
        ValueType.HEXINT32: "<I",
        ValueType.HEXINT64: "<Q",
    }[vtype]
    return struct.pack(fmt, number)


def name_hash(name: str) -> int:
    """[MS-EVEN6] NameHash: low 16 bits of hash = hash * 65599 + code unit."""
    h = 0
    for unit in struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF


# -- the template of one event shape --------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    """Literal text in a template (an attribute value or element content)."""

    value: str


@dataclass(frozen=True)
class _Sub:
    """A substitution: the template instance's value number ``index``."""

    index: int
    type: ValueType
    optional: bool = False


@dataclass(frozen=True)
class _Elem:
    name: str
    attrs: tuple[tuple[str, _Text | _Sub], ...] = ()
    children: tuple[_Elem | _Text | _Sub, ...] = ()


# Substitution indexes of the System values, in the order Windows uses for its System
# template (Level, Opcode, Task, EventID, ..., Computer); EventData values follow.
_SYS_ORDER: Final = (
    ("Level", ValueType.UINT8),
    ("Opcode", ValueType.UINT8),
    ("Task", ValueType.UINT16),
    ("EventID", ValueType.UINT16),
    ("Keywords", ValueType.HEXINT64),
    ("SystemTime", ValueType.FILETIME),
    ("ProcessID", ValueType.UINT32),
    ("ThreadID", ValueType.UINT32),
    ("EventRecordID", ValueType.UINT64),
    ("Version", ValueType.UINT8),
    ("UserID", ValueType.SID),
    ("ProviderName", ValueType.STRING),
    ("ProviderGuid", ValueType.GUID),
    ("Channel", ValueType.STRING),
    ("Computer", ValueType.STRING),
)
_SYS_INDEX: Final = {name: i for i, (name, _) in enumerate(_SYS_ORDER)}


def _sub(name: str, optional: bool = False) -> _Sub:
    i = _SYS_INDEX[name]
    return _Sub(i, _SYS_ORDER[i][1], optional)


def _leaf(name: str) -> _Elem:
    """``<Name>{value}</Name>`` (optional: omitted when the value is NULL)."""
    return _Elem(name, children=(_sub(name, name != "EventID"),))


def _template_tree(data_types: Sequence[tuple[str, ValueType]], has_guid: bool) -> _Elem:
    provider: tuple[tuple[str, _Text | _Sub], ...] = (("Name", _sub("ProviderName")),)
    if has_guid:
        provider += (("Guid", _sub("ProviderGuid")),)
    system = _Elem(
        "System",
        children=(
            _Elem("Provider", provider),
            *(_leaf(n) for n in ("EventID", "Version", "Level", "Task", "Opcode", "Keywords")),
            _Elem("TimeCreated", (("SystemTime", _sub("SystemTime", True)),)),
            _leaf("EventRecordID"),
            _Elem("Correlation"),
            _Elem(
                "Execution",
                (("ProcessID", _sub("ProcessID", True)), ("ThreadID", _sub("ThreadID", True))),
            ),
            _leaf("Channel"),
            _leaf("Computer"),
            _Elem("Security", (("UserID", _sub("UserID", True)),)),
        ),
    )
    base = len(_SYS_ORDER)
    data = tuple(
        _Elem("Data", (("Name", _Text(name)),), (_Sub(base + i, vtype),))
        for i, (name, vtype) in enumerate(data_types)
    )
    return _Elem(
        "Event", (("xmlns", _Text(EVENT_NS)),), (system, _Elem("EventData", children=data))
    )


# -- chunk assembly -------------------------------------------------------------------------


def _crc(data: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


class _Chunk:
    """One 64 KiB chunk being filled."""

    def __init__(self) -> None:
        self.buf = bytearray(CHUNK_HEADER_SIZE)
        self.names: dict[str, int] = {}
        self.string_heads = [0] * 64
        self.templates: dict[tuple[object, ...], int] = {}
        self.template_tails: dict[int, int] = {}  # bucket -> offset of the last definition
        self.template_heads = [0] * 32
        self.first_id = 0
        self.last_id = 0
        self.last_record_offset = 0

    @property
    def empty(self) -> bool:
        return self.first_id == 0

    def try_add(self, record_id: int, event: EvtxEvent) -> bool:
        """Append one record; False (and nothing changed) when it does not fit."""
        txn = _Txn(self)
        start = len(self.buf)
        body = _RecordEncoder(self, txn, start + 24).record(record_id, event)
        body += b"\x00" * (-(len(body) + 28) % 8)  # records are 8-byte aligned
        size = len(body) + 28
        if start + size > CHUNK_SIZE:
            txn.rollback()
            return False
        self.buf += struct.pack(
            "<4sIQQ", b"**\x00\x00", size, record_id, filetime(event.time_created)
        )
        self.buf += body
        self.buf += struct.pack("<I", size)
        txn.commit()
        if self.empty:
            self.first_id = record_id
        self.last_id = record_id
        self.last_record_offset = start
        return True

    def finish(self) -> bytes:
        free = len(self.buf)
        out = self.buf + bytearray(CHUNK_SIZE - free)
        struct.pack_into(
            "<8sQQQQIIII",
            out,
            0,
            b"ElfChnk\x00",
            self.first_id,
            self.last_id,
            self.first_id,
            self.last_id,
            128,
            self.last_record_offset,
            free,
            _crc(out[CHUNK_HEADER_SIZE:free]),
        )
        struct.pack_into("<64I", out, 128, *self.string_heads)
        struct.pack_into("<32I", out, 384, *self.template_heads)
        struct.pack_into("<I", out, 124, _crc(bytes(out[:120]) + bytes(out[128:512])))
        return bytes(out)


class _Txn:
    """Names and templates defined by a record: undone when the record does not fit."""

    def __init__(self, chunk: _Chunk) -> None:
        self.chunk = chunk
        self.names: list[str] = []
        self.string_heads = list(chunk.string_heads)
        self.templates: list[tuple[tuple[object, ...], int, int]] = []

    def add_name(self, name: str, offset: int) -> int:
        """Register a name defined inline at ``offset``; returns the previous bucket head."""
        bucket = name_hash(name) % 64
        previous = self.chunk.string_heads[bucket]
        self.chunk.string_heads[bucket] = offset
        self.chunk.names[name] = offset
        self.names.append(name)
        return previous

    def add_template(self, key: tuple[object, ...], offset: int, template_id: int) -> None:
        self.chunk.templates[key] = offset
        self.templates.append((key, offset, template_id))

    def rollback(self) -> None:
        for name in self.names:
            del self.chunk.names[name]
        self.chunk.string_heads[:] = self.string_heads
        for key, _, _ in self.templates:
            del self.chunk.templates[key]

    def commit(self) -> None:
        # Template definitions are chained forward per bucket (next offset of the tail).
        for _, offset, template_id in self.templates:
            bucket = template_id % 32
            tail = self.chunk.template_tails.get(bucket)
            if tail is None:
                self.chunk.template_heads[bucket] = offset
            else:
                struct.pack_into("<I", self.chunk.buf, tail, offset)
            self.chunk.template_tails[bucket] = offset


class _RecordEncoder:
    """BinXML of one record, written at chunk offset ``base``."""

    def __init__(self, chunk: _Chunk, txn: _Txn, base: int) -> None:
        self.chunk = chunk
        self.txn = txn
        self.base = base
        self.out = bytearray()

    @property
    def pos(self) -> int:
        return self.base + len(self.out)

    def record(self, record_id: int, event: EvtxEvent) -> bytearray:
        data_types: list[tuple[str, ValueType]] = []
        data_values: list[object] = []
        for name, value in event.data:
            vtype, raw = _typed(value)
            data_types.append((name, vtype if vtype != ValueType.NULL else ValueType.STRING))
            data_values.append(raw)
        has_guid = event.provider_guid is not None
        key = (has_guid, tuple(data_types))
        system_values: dict[str, object] = {
            "Level": event.level,
            "Opcode": event.opcode,
            "Task": event.task,
            "EventID": event.event_id,
            "Keywords": event.keywords,
            "SystemTime": event.time_created,
            "ProcessID": event.process_id,
            "ThreadID": event.thread_id,
            "EventRecordID": record_id,
            "Version": event.version,
            "UserID": event.user_sid,
            "ProviderName": event.provider_name,
            "ProviderGuid": event.provider_guid,
            "Channel": event.channel,
            "Computer": event.computer,
        }
        values: list[tuple[ValueType, bytes]] = []
        for name, vtype in _SYS_ORDER:
            raw = system_values[name]
            values.append(
                (vtype, _value_bytes(vtype, raw)) if raw is not None else (ValueType.NULL, b"")
            )
        for (_, vtype), raw in zip(data_types, data_values, strict=True):
            values.append(
                (vtype, _value_bytes(vtype, raw)) if raw is not None else (ValueType.NULL, b"")
            )

        self.out += b"\x0f\x01\x01\x00"  # fragment header, BinXML 1.1
        self.out += b"\x0c\x01"  # template instance
        template_guid = uuid.uuid5(uuid.NAMESPACE_URL, repr(("relayhunt-evtx", key)))
        template_id = struct.unpack("<I", template_guid.bytes_le[:4])[0]
        self.out += struct.pack("<I", template_id)
        existing = self.chunk.templates.get(key)
        if existing is not None:
            self.out += struct.pack("<I", existing)
        else:
            definition = self.pos + 4
            self.out += struct.pack("<I", definition)
            self.out += struct.pack("<I", 0)  # next template definition (patched on commit)
            self.out += template_guid.bytes_le
            size_at = len(self.out)
            self.out += b"\x00\x00\x00\x00"
            body_start = len(self.out)
            self.out += b"\x0f\x01\x01\x00"
            self._element(_template_tree(data_types, has_guid))
            self.out += b"\x00"  # end of stream
            struct.pack_into("<I", self.out, size_at, len(self.out) - body_start)
            self.txn.add_template(key, definition, template_id)
        for (name, _), (_, raw) in zip((*_SYS_ORDER, *data_types), values, strict=True):
            if len(raw) > 0xFFFF:
                raise ValueError(f"value of {name} is {len(raw)} bytes; BinXML allows 65535")
        self.out += struct.pack("<I", len(values))
        for vtype, raw in values:
            self.out += struct.pack("<HBB", len(raw), vtype, 0)
        for _, raw in values:
            self.out += raw
        self.out += b"\x00"  # end of stream
        return self.out

    def _name(self, name: str) -> None:
        offset = self.chunk.names.get(name)
        if offset is not None:
            self.out += struct.pack("<I", offset)
            return
        here = self.pos + 4
        self.out += struct.pack("<I", here)
        previous = self.txn.add_name(name, here)
        encoded = name.encode("utf-16-le")
        self.out += struct.pack("<IHH", previous, name_hash(name), len(encoded) // 2)
        self.out += encoded + b"\x00\x00"

    def _content(self, item: _Text | _Sub) -> None:
        if isinstance(item, _Text):
            text = item.value.encode("utf-16-le")
            self.out += bytes([0x05, ValueType.STRING])  # value text, no more data follows
            self.out += struct.pack("<H", len(text) // 2) + text
        else:
            self.out += bytes([0x0E if item.optional else 0x0D])  # (optional) substitution
            self.out += struct.pack("<HB", item.index, item.type)

    def _element(self, node: _Elem) -> None:
        start = len(self.out)
        self.out += bytes([0x41 if node.attrs else 0x01])  # open start element
        self.out += struct.pack("<H", 0xFFFF)  # dependency identifier: none
        self.out += b"\x00\x00\x00\x00"  # data size, patched below
        self._name(node.name)
        if node.attrs:
            list_at = len(self.out)
            self.out += b"\x00\x00\x00\x00"
            for i, (attr_name, content) in enumerate(node.attrs):
                self.out += bytes([0x46 if i < len(node.attrs) - 1 else 0x06])  # attribute
                self._name(attr_name)
                self._content(content)
            struct.pack_into("<I", self.out, list_at, len(self.out) - list_at - 4)
        if node.children:
            self.out += b"\x02"  # close start element
            for child in node.children:
                if isinstance(child, _Elem):
                    self._element(child)
                else:
                    self._content(child)
            self.out += b"\x04"  # end element
        else:
            self.out += b"\x03"  # close empty element
        struct.pack_into("<I", self.out, start + 3, len(self.out) - start - 7)


# -- the file -------------------------------------------------------------------------------


class EvtxWriter:
    """Stream events into an EVTX file; chunks are written as they fill.

    >>> with EvtxWriter(path) as w:            # doctest: +SKIP
    ...     w.write(event)
    """

    def __init__(self, path: str | Path, *, first_record_id: int = 1) -> None:
        self._fh: BinaryIO = Path(path).open("wb")  # noqa: SIM115 - closed in close()
        self._fh.write(bytes(FILE_HEADER_SIZE))
        self._chunk = _Chunk()
        self._chunks = 0
        self._next_id = first_record_id
        self._closed = False

    def write(self, event: EvtxEvent) -> int:
        """Append one event; returns its EventRecordID."""
        record_id = self._next_id
        if not self._chunk.try_add(record_id, event):
            if self._chunk.empty:
                raise ValueError("event too large for one EVTX chunk")
            self._flush_chunk()
            if not self._chunk.try_add(record_id, event):
                raise ValueError("event too large for one EVTX chunk")
        self._next_id += 1
        return record_id

    def write_all(self, events: Iterable[EvtxEvent]) -> int:
        n = 0
        for event in events:
            self.write(event)
            n += 1
        return n

    def _flush_chunk(self) -> None:
        self._fh.write(self._chunk.finish())
        self._chunks += 1
        self._chunk = _Chunk()

    def close(self) -> None:
        if self._closed:
            return
        if not self._chunk.empty:
            self._flush_chunk()
        header = bytearray(FILE_HEADER_SIZE)
        struct.pack_into(
            "<8sQQQIHHHH",
            header,
            0,
            b"ElfFile\x00",
            0,
            max(self._chunks - 1, 0),
            self._next_id,
            128,
            1,  # minor version
            3,  # major version
            FILE_HEADER_SIZE,
            self._chunks,
        )
        struct.pack_into("<II", header, 120, 0, _crc(header[:120]))
        self._fh.seek(0)
        self._fh.write(header)
        self._fh.close()
        self._closed = True

    def __enter__(self) -> EvtxWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_evtx(path: str | Path, events: Iterable[EvtxEvent], *, first_record_id: int = 1) -> int:
    """Write ``events`` to a new EVTX file; returns how many were written."""
    with EvtxWriter(path, first_record_id=first_record_id) as writer:
        return writer.write_all(events)


# -- Sysmon ---------------------------------------------------------------------------------

SYSMON_PROVIDER: Final = "Microsoft-Windows-Sysmon"
SYSMON_PROVIDER_GUID: Final = uuid.UUID("5770385f-c22a-43e0-bf4c-06f5698ffbd9")
SYSMON_CHANNEL: Final = "Microsoft-Windows-Sysmon/Operational"

# Manifest types of the Sysmon fields that are not UnicodeString (Sysmon schema 4.x).
_SYSMON_TYPES: Final[Mapping[str, ValueType]] = {
    "ProcessGuid": ValueType.GUID,
    "ParentProcessGuid": ValueType.GUID,
    "LogonGuid": ValueType.GUID,
    "SourceProcessGUID": ValueType.GUID,
    "TargetProcessGUID": ValueType.GUID,
    "ProcessId": ValueType.UINT32,
    "ParentProcessId": ValueType.UINT32,
    "TerminalSessionId": ValueType.UINT32,
    "LogonId": ValueType.HEXINT64,
    "Initiated": ValueType.BOOL,
    "SourceIsIpv6": ValueType.BOOL,
    "DestinationIsIpv6": ValueType.BOOL,
    "SourcePort": ValueType.UINT16,
    "DestinationPort": ValueType.UINT16,
}

# (version, task) per event id, as Sysmon 15 writes them.
_SYSMON_VERSIONS: Final[Mapping[int, int]] = {1: 5, 3: 5, 5: 3, 11: 2, 22: 5}


@dataclass(frozen=True)
class SysmonHost:
    """Where Sysmon runs: computer name and the Sysmon service's process id."""

    computer: str
    service_pid: int = 3020
    service_tid: int = 4108


def _sysmon_value(name: str, value: object) -> Value:
    vtype = _SYSMON_TYPES.get(name)
    if value is None or vtype is None:
        return None if value is None else str(value)
    if vtype == ValueType.GUID:
        return uuid.UUID(str(value).strip("{}"))
    if vtype == ValueType.BOOL:
        return Typed(vtype, value if isinstance(value, bool) else str(value).lower() == "true")
    return Typed(vtype, int(str(value), 0))


def sysmon_event(
    event_id: int,
    utc_time: datetime,
    host: SysmonHost,
    fields: Sequence[tuple[str, object]] | Mapping[str, object],
    *,
    thread_id: int | None = None,
    logged_after: timedelta = timedelta(milliseconds=1),
) -> EvtxEvent:
    """A Sysmon event with Sysmon's field types, ``UtcTime`` rendered as Sysmon does
    (``2026-11-01 12:00:00.123``) and ``TimeCreated`` just after it.

    ``fields`` are the EventData values in schema order, without ``UtcTime`` (added
    second, after ``RuleName``, unless given); GUIDs as ``{...}`` text, numbers as
    int or text, booleans as bool or ``'true'``/``'false'``.
    """
    items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    if not any(k == "UtcTime" for k, _ in items):
        stamp = utc_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        at = 1 if items and items[0][0] == "RuleName" else 0
        items.insert(at, ("UtcTime", stamp))
    return EvtxEvent(
        event_id=event_id,
        time_created=utc_time + logged_after,
        computer=host.computer,
        channel=SYSMON_CHANNEL,
        provider_name=SYSMON_PROVIDER,
        provider_guid=SYSMON_PROVIDER_GUID,
        data=tuple((k, _sysmon_value(k, v)) for k, v in items),
        version=_SYSMON_VERSIONS.get(event_id, 0),
        level=4,
        task=event_id,
        opcode=0,
        keywords=0x8000000000000000,
        process_id=host.service_pid,
        thread_id=thread_id if thread_id is not None else host.service_tid,
        user_sid="S-1-5-18",
    )


# -- rendered XML, as wevtutil / EvtRender print it ----------------------------------------


def _render_value(value: Value) -> str:
    vtype, raw = _typed(value)
    if raw is None:
        return ""
    if vtype == ValueType.GUID:
        guid = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        return "{" + str(guid) + "}"
    if vtype == ValueType.BOOL:
        return "true" if raw else "false"
    if vtype in (ValueType.HEXINT32, ValueType.HEXINT64):
        return hex(int(str(raw), 0) if isinstance(raw, str) else int(raw))  # type: ignore[call-overload]
    if vtype == ValueType.FILETIME and isinstance(raw, datetime):
        return system_time(raw)
    return str(raw)


def system_time(when: datetime) -> str:
    """``SystemTime`` as Windows renders it: 7 fractional digits, ``Z``."""
    ticks = filetime(when) % 10_000_000
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ticks:07d}Z"


def render_xml(event: EvtxEvent, record_id: int, *, rendering_info: str | None = None) -> str:
    """The event as one line of XML, as ``wevtutil qe ... /f:xml`` prints it (single-quoted
    attributes, no whitespace between elements). ``rendering_info`` is the message text
    for a ``<RenderingInfo>`` block (``/f:RenderedXml``), or None for none."""
    guid = f" Guid='{{{event.provider_guid}}}'" if event.provider_guid else ""
    parts = [
        f"<Event xmlns='{EVENT_NS}'><System>",
        f"<Provider Name={_q(event.provider_name)}{guid}/>",
        f"<EventID>{event.event_id}</EventID><Version>{event.version}</Version>",
        f"<Level>{event.level}</Level><Task>{event.task}</Task>",
        f"<Opcode>{event.opcode}</Opcode><Keywords>{event.keywords:#x}</Keywords>",
        f"<TimeCreated SystemTime='{system_time(event.time_created)}'/>",
        f"<EventRecordID>{record_id}</EventRecordID><Correlation/>",
        f"<Execution ProcessID='{event.process_id}' ThreadID='{event.thread_id}'/>",
        f"<Channel>{escape(event.channel)}</Channel><Computer>{escape(event.computer)}</Computer>",
        f"<Security UserID='{event.user_sid}'/>" if event.user_sid else "<Security/>",
        "</System><EventData>",
    ]
    for name, value in event.data:
        text = _render_value(value)
        parts.append(
            f"<Data Name={_q(name)}>{escape(text)}</Data>" if text else f"<Data Name={_q(name)}/>"
        )
    parts.append("</EventData>")
    if rendering_info is not None:
        parts.append(
            "<RenderingInfo Culture='en-US'>"
            f"<Message>{escape(rendering_info)}</Message><Level>Information</Level>"
            f"<Task>{escape(_TASK_NAMES.get(event.event_id, ''))}</Task><Opcode>Info</Opcode>"
            "<Channel></Channel><Provider></Provider><Keywords></Keywords></RenderingInfo>"
        )
    parts.append("</Event>")
    return "".join(parts)


def _q(value: str) -> str:
    """Single-quoted attribute value, as Windows renders attributes."""
    quoted = quoteattr(value, {"'": "&apos;"})
    return "'" + quoted[1:-1] + "'" if quoted.startswith('"') else quoted


_TASK_NAMES: Final[Mapping[int, str]] = {
    1: "Process Create (rule: ProcessCreate)",
    3: "Network connection detected (rule: NetworkConnect)",
    5: "Process terminated (rule: ProcessTerminate)",
    11: "File created (rule: FileCreate)",
    22: "Dns query (rule: DnsQuery)",
}


__all__ = [
    "CHUNK_SIZE",
    "EVENT_NS",
    "FILE_HEADER_SIZE",
    "SYSMON_CHANNEL",
    "SYSMON_PROVIDER",
    "SYSMON_PROVIDER_GUID",
    "EvtxEvent",
    "EvtxWriter",
    "SysmonHost",
    "Typed",
    "Value",
    "ValueType",
    "filetime",
    "name_hash",
    "render_xml",
    "sysmon_event",
    "system_time",
    "write_evtx",
]
