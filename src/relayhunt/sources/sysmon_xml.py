"""Sysmon events as rendered XML: ``wevtutil qe ... /f:xml``, SIEM raw exports, ``<Events>``.

Accepted layouts: ``<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>``
elements concatenated with nothing between them (what ``wevtutil qe
Microsoft-Windows-Sysmon/Operational /f:xml`` prints), one per line (raw-message exports
of Sumo Logic, Splunk ``XmlWinEventLog``), pretty-printed, or wrapped in
``<Events>...</Events>``; with or without an XML declaration and ``<RenderingInfo>``
(``/f:RenderedXml``); UTF-8, or UTF-16 with a byte order mark (``wevtutil ... > file`` in
Windows PowerShell) which is transcoded first (offsets then refer to the UTF-8 text).

How it is read, fast and safely:

1. The input is read in blocks; ``<Event`` start tags are found with a byte-level regex,
   and each event's bytes become one string of an Arrow array (zero copy).
2. In DuckDB, each event is checked against a strict grammar of the Windows event layout
   (``System`` children by name, ``EventData/Data[@Name]``, ``RenderingInfo``; text
   without markup, only the five predefined entities). The grammar only accepts
   well-formed XML, so what it accepts is read there: the System values and the Data
   fields relayhunt uses are extracted with anchored regular expressions and unescaped,
   all columnar.
3. Anything else (other layouts, comments, numeric character references, damage) is
   parsed with lxml, one event at a time, entity expansion off, no network, no DTD
   loading: ``XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
   huge_tree=False)``. A malformed event becomes an ``invalid_xml`` issue (record number,
   byte offset, the parser's message) and reading goes on with the next ``<Event``;
   an event cut by the end of the file is ``truncated_file``.
4. A ``<!DOCTYPE`` or ``<!ENTITY`` declaration anywhere is reported as ``dtd_rejected``
   and never parsed; an event that contains one, or refers to entities such a
   declaration would define, is rejected without being expanded. Other events of the
   file are read. Memory stays bounded by the block size and the record size limit.

Both paths produce the same record (System values + EventData fields) and share the
Sysmon mapping (:data:`relayhunt.sources.sysmon.RECORD_MAPPING`).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
import pyarrow as pa
from lxml import etree

from relayhunt.sources.base import ByteStream, GzipTruncated, Head, IngestContext
from relayhunt.sources.engine import load_json_chunk
from relayhunt.sources.lines import prefetch
from relayhunt.sources.sysmon import (
    DATA_FIELDS,
    FIELDS_BY_EVENT,
    RECORD_MAPPING,
    RECORD_SYSTEM,
    flat_columns,
    load_records,
    xml_unescape,
)

BLOCK_BYTES: Final = 64 * 1024 * 1024
BATCH_ROWS: Final = 2048
EVENT_NS: Final = "http://schemas.microsoft.com/win/2004/08/events/event"

_EVENT_START: Final = re.compile(rb"<Event[\s>/]")
_DTD: Final = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
_PROLOGUE_OK: Final = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s|<\?xml[^<>]*\?>|<!--(?:[^-]|-[^-])*-->|<Events(?:\s[^<>]*)?>)*"
)
_TRAILER: Final = rb"(?:\s|</Events\s*>|<Events(?:\s[^<>]*)?>|<\?xml[^<>]*\?>)*"
_TRAILER_RE: Final = re.compile(_TRAILER + rb"\Z")
_CLOSE: Final = re.compile(rb"</Event\s*>")

# -- the strict grammar of the usual layout (RE2 syntax, no backreferences) ---------------

_ENT = r"&(?:amp|lt|gt|quot|apos);"
_TEXT = rf"(?:[^<&\x00-\x08\x0b\x0c\x0e-\x1f]|{_ENT})*"
_AV = rf"""(?:'(?:[^'<&]|{_ENT})*'|"(?:[^"<&]|{_ENT})*")"""
_ATTRS = rf"(?:\s+[A-Za-z_][\w.:-]*\s*=\s*{_AV})*\s*"


def _elem(name: str, inner: str = _TEXT, attrs: str = _ATTRS) -> str:
    return rf"<{name}{attrs}(?:/>|>{inner}</{name}\s*>)"


def _seq(*alternatives: str) -> str:
    return r"(?:\s*(?:" + "|".join(alternatives) + r"))*\s*"


_SYSTEM_CHILDREN: Final = (
    "Provider",
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "Correlation",
    "Execution",
    "Channel",
    "Computer",
    "Security",
)
# Data in Windows' own rendering only (``<Data Name='Image'>``): its fields are then found
# by a literal prefix, which is what makes the fast path fast. Other spellings are read
# by lxml.
_DATA = r"<Data Name='[A-Za-z0-9_.-]+'(?:/>|>" + _TEXT + r"</Data>)"
_RENDERING = _elem(
    "RenderingInfo",
    _seq(
        *(_elem(n) for n in ("Message", "Level", "Task", "Opcode", "Channel", "Provider")),
        _elem("Keywords", _seq(_elem("Keyword"))),
    ),
)
GRAMMAR: Final = (
    r"\s*"
    + _elem(
        "Event",
        r"\s*"
        + _elem("System", _seq(*(_elem(n) for n in _SYSTEM_CHILDREN)))
        + r"\s*(?:"
        + _elem("EventData", _seq(_DATA, _elem("Binary")))
        + r"\s*)?(?:"
        + _RENDERING
        + r"\s*)?",
    )
    + _TRAILER.decode()
)


def _lit(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def _text_of(element: str) -> str:
    pattern = "<" + element + r"(?:\s[^<>]*)?>([^<]*)</" + element
    return f"regexp_extract(ev, {_lit(pattern)}, 1)"


def _attr_of(element: str, attr: str) -> str:
    pattern = "<" + element + r"\s(?:[^<>]*\s)?" + attr + r"""\s*=\s*['"]([^'"]*)['"]"""
    return f"regexp_extract(ev, {_lit(pattern)}, 1)"


def _data_part(name: str) -> str:
    """The event's text from ``<Data Name='name`` on (its first such element), for the
    events whose id has the field; NULL otherwise. ``_parts`` is the event cut at each
    ``<Data Name='``, ``_keys`` each part's name. Cut at the whole start tag: apostrophes
    and '>' are legal in text, so a value may hold "Name='ParentImage'>..." but never
    '<'. (The first part, before any Data, holds '<Event' and so names no field.)"""
    eids = ", ".join(str(e) for e, fields in FIELDS_BY_EVENT.items() if name in fields)
    return f"CASE WHEN _eid IN ({eids}) THEN _parts[list_position(_keys, {_lit(name)})] END"


def _data_value(name: str) -> str:
    """The text of ``name``'s Data element from its part (``"name'>text</Data>..."``);
    NULL for an empty element (``"name'/>"``) or an absent one."""
    part = f'"{name}_p"'
    n = len(name)
    return (
        f"CASE WHEN substr({part}, {n + 2}, 1) = '>' "
        f"THEN split_part(substr({part}, {n + 3}), '<', 1) END"
    )


_SYSTEM_SQL: Final = {
    "EventID": _text_of("EventID"),
    "EventRecordID": _text_of("EventRecordID"),
    "Channel": _text_of("Channel"),
    "Computer": _text_of("Computer"),
    "Provider": _attr_of("Provider", "Name"),
    "SystemTime": _attr_of("TimeCreated", "SystemTime"),
}
# The fast path: the events that match the grammar, their System values and the Data
# fields relayhunt uses extracted once into flat record columns (see
# :func:`relayhunt.sources.sysmon.load_records`). An absent value extracts as '', which
# flat_columns' cleaning turns into NULL.
_EXTRACT_SQL: Final = f"""
SELECT idx, line_no, record_no, off, false AS _bad,
       {
    flat_columns(
        {k: xml_unescape(f'"{k}_"') for k in RECORD_SYSTEM},
        {f: xml_unescape(f'"{f}_"') for f in DATA_FIELDS},
    )
}
FROM (
  SELECT *, {", ".join(f'{_data_value(f)} AS "{f}_"' for f in DATA_FIELDS)}
  FROM (
  SELECT *, {", ".join(f'{_data_part(f)} AS "{f}_p"' for f in DATA_FIELDS)}
  FROM (
  SELECT *, list_transform(_parts, p -> split_part(p, '''', 1)) AS _keys
  FROM (
    SELECT *, TRY_CAST(trim("EventID_") AS INTEGER) AS _eid,
           string_split(ev, '<Data Name=''') AS _parts
    FROM (
      SELECT idx, line_no, record_no, off, ev,
             {", ".join(f'{_SYSTEM_SQL[k]} AS "{k}_"' for k in RECORD_SYSTEM)}
      FROM _rh_xml_spans WHERE regexp_full_match(ev, {_lit(GRAMMAR)})
    )
  )
  )
  )
)"""

_SPAN_SCHEMA: Final = pa.schema(
    [
        ("idx", pa.int64()),
        ("line_no", pa.int64()),
        ("record_no", pa.int64()),
        ("off", pa.int64()),
        ("ev", pa.large_string()),
    ]
)

_PARSER_OPTIONS: Final[dict[str, Any]] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "collect_ids": False,
}


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comment, processing instruction
    return tag.rsplit("}", 1)[-1]


def _text(element: Any) -> str:
    return str(etree.tostring(element, method="text", encoding="unicode", with_tail=False))


def flatten_event(event: Any) -> dict[str, dict[str, str]]:
    """The record of one parsed ``<Event>``: System values and named EventData fields."""
    system: dict[str, str] = {}
    data: dict[str, str] = {}
    for part in event:
        name = _local(part.tag)
        if name == "System":
            for child in part:
                tag = _local(child.tag)
                if tag in ("EventID", "EventRecordID", "Channel", "Computer"):
                    system[tag] = _text(child).strip()
                elif tag == "Provider" and child.get("Name") is not None:
                    system["Provider"] = child.get("Name")
                elif tag == "TimeCreated" and child.get("SystemTime") is not None:
                    system["SystemTime"] = child.get("SystemTime")
        elif name == "EventData":
            for child in part:
                key = child.get("Name") if _local(child.tag) == "Data" else None
                if key and key not in data:
                    data[key] = _text(child)
    return {"System": system, "EventData": data}


class _Utf16Reader:
    """A UTF-16 stream transcoded to UTF-8 on the fly."""

    def __init__(self, raw: ByteStream, encoding: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.salvaged = b""

    def read(self, n: int = -1) -> bytes:
        try:
            block = self._raw.read(n)
        except GzipTruncated:
            self.salvaged = self._decoder.decode(
                getattr(self._raw, "salvaged", b""), final=True
            ).encode("utf-8")
            raise
        return self._decoder.decode(block, final=not block).encode("utf-8")


def _utf16_encoding(data: bytes) -> str | None:
    if data[:2] == b"\xff\xfe" or data[:4] == b"<\x00?\x00" or data[:4] == b"<\x00E\x00":
        return "utf-16-le" if data[:2] != b"\xff\xfe" else "utf-16"
    if data[:2] == b"\xfe\xff" or data[:4] == b"\x00<\x00?" or data[:4] == b"\x00<\x00E":
        return "utf-16-be" if data[:2] != b"\xfe\xff" else "utf-16"
    return None


class _XmlReader:
    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        self.next_record = 1
        self.next_line = 1
        self.saw_dtd = False  # a declaration was found before the block being loaded
        self.dtd_found = False  # ... before the block being cut (the reading thread)
        self.prologue_checked = False
        self.parser = etree.XMLParser(**_PARSER_OPTIONS)

    def run(self, stream: ByteStream) -> None:
        # Reading and cutting the next block into events runs in a background thread
        # while DuckDB reads the current one; ``dtd_found`` travels with each block so
        # that its slow path sees the declarations found up to it, no further.
        for spans, final, dtd_found in prefetch(self._blocks(stream), depth=1):
            self.saw_dtd = dtd_found
            self._load(spans, final=final)

    def _blocks(self, stream: ByteStream) -> Iterator[tuple[pa.Table, bool, bool]]:
        """The events of each block read: (spans, last block of the input, a DTD seen)."""
        ctx = self.ctx
        carry = b""
        base = 0  # offset of carry[0] in the (decoded) stream
        skipping = False  # inside an oversize event: drop bytes up to the next <Event
        eof = False
        while not eof:
            try:
                block = stream.read(BLOCK_BYTES)
            except GzipTruncated as exc:
                block = getattr(stream, "salvaged", b"")
                ctx.issue(
                    "truncated_gzip",
                    f"gzip stream damaged after {exc.offset} decompressed bytes "
                    f"({exc.detail}); events before that point were read",
                    record=self.next_record,
                    offset=base + len(carry) + len(block),
                )
                eof = True
            if not block:
                eof = True
            ctx.bytes_read += len(block)
            data = carry + block
            if skipping:
                m = _EVENT_START.search(data)
                if m is None:
                    self.next_line += data.count(b"\n")
                    base += len(data)
                    carry = b""
                    continue
                self.next_line += data.count(b"\n", 0, m.start())
                base += m.start()
                data = data[m.start() :]
                skipping = False
            consumed, spans = self._process(data, base, final=eof)
            if spans is not None:
                yield spans, eof, self.dtd_found
            carry = data[consumed:]
            base += consumed
            if not eof and len(carry) > ctx.max_record_bytes:
                ctx.issue(
                    "oversize_record",
                    f"XML event longer than {ctx.max_record_bytes} bytes; skipped",
                    record=self.next_record,
                    line=self.next_line,
                    offset=base,
                    excerpt=carry[:200],
                )
                ctx.records_seen += 1
                self.next_record += 1
                self.next_line += carry.count(b"\n")
                base += len(carry)
                carry = b""
                skipping = True

    def _process(self, data: bytes, base: int, *, final: bool) -> tuple[int, pa.Table | None]:
        """Cut the complete events of ``data`` out: how many bytes were consumed, and the
        events as a table of spans (None when there were none)."""
        starts = [m.start() for m in _EVENT_START.finditer(data)]
        cut = len(data) if final else (starts[-1] if starts else 0)
        if not final:
            starts = starts[:-1] if starts else []
        head_end = starts[0] if starts else cut
        declared_until = -1  # end of the DOCTYPE whose internal subset is being skipped
        for m in _DTD.finditer(data, 0, cut):
            if m.start() < declared_until:
                continue  # an <!ENTITY inside a DOCTYPE already reported
            if m.group().endswith(b"DOCTYPE"):
                close = data.find(b"]>", m.start())
                declared_until = close if close >= 0 else len(data)
            self._dtd_issue(data, base, m.start())
        first = not self.prologue_checked and (bool(starts) or final)
        if first:
            self.prologue_checked = True
        if first and head_end > 0:
            prologue = data[:head_end]
            if not _DTD.search(prologue) and not _PROLOGUE_OK.fullmatch(prologue):
                self.ctx.issue(
                    "invalid_xml",
                    "content before the first <Event> is not an XML declaration or "
                    "<Events> wrapper; ignored",
                    line=1,
                    offset=base,
                    excerpt=prologue[:200],
                    severity="warning",
                )
        if not starts:
            if first and final and cut > 0:
                self.next_line += data.count(b"\n", 0, cut)
            return cut, None
        bounds = np.array([*starts, cut], dtype=np.int64)
        n = len(starts)
        newline_pos = np.flatnonzero(np.frombuffer(data, dtype=np.uint8, count=cut) == 10)
        line_nos = self.next_line + np.searchsorted(newline_pos, bounds[:-1])
        self.next_line += len(newline_pos)
        records = np.arange(self.next_record, self.next_record + n, dtype=np.int64)
        self.next_record += n
        self.ctx.records_seen += n
        offsets = bounds - starts[0]
        body = data[starts[0] : cut]
        strings = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(body))
        try:
            strings.validate(full=True)
        except pa.ArrowInvalid:
            strings = self._repair_utf8(body, offsets, records, line_nos, base + starts[0])
        lengths = np.diff(bounds)
        keep = lengths <= self.ctx.max_record_bytes
        for i in np.flatnonzero(~keep):
            self.ctx.issue(
                "oversize_record",
                f"XML event of {int(lengths[i])} bytes exceeds the limit of "
                f"{self.ctx.max_record_bytes}; skipped",
                record=int(records[i]),
                line=int(line_nos[i]),
                offset=base + int(bounds[i]),
                excerpt=data[int(bounds[i]) : int(bounds[i]) + 200],
            )
        if not keep.all():
            strings = strings.filter(pa.array(keep))
            line_nos, records, bounds = line_nos[keep], records[keep], bounds[:-1][keep]
        else:
            bounds = bounds[:-1]
        spans = pa.Table.from_arrays(
            [
                pa.array(np.arange(len(records), dtype=np.int64)),
                pa.array(line_nos),
                pa.array(records),
                pa.array(bounds + base),
                strings,
            ],
            schema=_SPAN_SCHEMA,
        )
        # Record batches let DuckDB scan the events on several threads.
        return cut, pa.Table.from_batches(spans.to_batches(max_chunksize=BATCH_ROWS))

    def _dtd_issue(self, data: bytes, base: int, pos: int) -> None:
        self.dtd_found = True
        self.ctx.issue(
            "dtd_rejected",
            "document type / entity declaration found; it is never parsed or expanded "
            "(events that use it are rejected, others are read)",
            line=self.next_line + data.count(b"\n", 0, pos),
            offset=base + pos,
            excerpt=data[pos : pos + 200],
        )

    def _repair_utf8(
        self,
        body: bytes,
        offsets: np.ndarray,
        records: np.ndarray,
        line_nos: np.ndarray,
        base: int,
    ) -> pa.LargeStringArray:
        out: list[str] = []
        for i in range(len(records)):
            raw = body[int(offsets[i]) : int(offsets[i + 1])]
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                out.append(raw.decode("utf-8", "replace"))
                self.ctx.issue(
                    "invalid_utf8",
                    f"invalid UTF-8 at byte {exc.start} of the event; replaced with U+FFFD "
                    "and kept",
                    record=int(records[i]),
                    line=int(line_nos[i]),
                    offset=base + int(offsets[i]) + exc.start,
                    excerpt=raw[max(0, exc.start - 60) : exc.start + 60],
                    severity="warning",
                )
        return pa.array(out, type=pa.large_string())

    def _load(self, spans: pa.Table, *, final: bool) -> None:
        con = self.ctx.store.con
        con.register("_rh_xml_spans", spans)
        try:
            load_records(self.ctx, _EXTRACT_SQL)
            fast = con.execute("SELECT idx FROM _rh_route").fetchnumpy()["idx"]
        finally:
            con.unregister("_rh_xml_spans")
            con.execute("DROP TABLE IF EXISTS _rh_route")
        slow = np.setdiff1d(np.arange(spans.num_rows), fast, assume_unique=True).tolist()
        if slow:
            self._slow_path(spans, slow, final=final)

    def _slow_path(self, spans: pa.Table, rows: list[int], *, final: bool) -> None:
        last = spans.num_rows - 1
        idx: list[int] = []
        line_nos: list[int] = []
        records: list[int] = []
        offs: list[int] = []
        docs: list[str] = []
        for i in rows:
            text = spans.column("ev")[i].as_py()
            record = int(spans.column("record_no")[i].as_py())
            line = int(spans.column("line_no")[i].as_py())
            offset = int(spans.column("off")[i].as_py())
            parsed = self._parse_one(text, record, line, offset, last_in_file=final and i == last)
            if parsed is not None:
                idx.append(len(idx))
                line_nos.append(line)
                records.append(record)
                offs.append(offset)
                docs.append(json.dumps(parsed, ensure_ascii=False))
        if docs:
            chunk = pa.table(
                {
                    "idx": pa.array(idx, type=pa.int64()),
                    "line_no": pa.array(line_nos, type=pa.int64()),
                    "record_no": pa.array(records, type=pa.int64()),
                    "off": pa.array(offs, type=pa.int64()),
                    "j": pa.array(docs, type=pa.large_string()),
                }
            )
            load_json_chunk(self.ctx, chunk, RECORD_MAPPING)

    def _parse_one(
        self, text: str, record: int, line: int, offset: int, *, last_in_file: bool
    ) -> dict[str, dict[str, str]] | None:
        raw = text.encode("utf-8")
        ctx = self.ctx
        closes = list(_CLOSE.finditer(raw))
        end = closes[-1].end() if closes else len(raw)
        if _DTD.search(raw, 0, end):
            ctx.issue(
                "dtd_rejected",
                "event contains a document type / entity declaration; not parsed",
                record=record,
                line=line,
                offset=offset,
                excerpt=raw[:200],
            )
            return None
        # A declaration after the event's last </Event> is outside it (already reported
        # where it stands, as dtd_rejected); the event itself is read.
        trailer = raw[end:]
        if closes and trailer and not _TRAILER_RE.match(trailer) and not _DTD.search(trailer):
            ctx.issue(
                "invalid_xml",
                "unexpected text after </Event>; ignored",
                record=record,
                line=line,
                offset=offset + end,
                excerpt=trailer[:200],
                severity="warning",
            )
        try:
            event = etree.fromstring(raw[:end], self.parser)
        except etree.XMLSyntaxError as exc:
            message = str(exc.msg if hasattr(exc, "msg") else exc)
            entity = "Entity" in message and ("not defined" in message or "undeclared" in message)
            if entity and self.saw_dtd:
                code = "dtd_rejected"
                reason = f"event uses an entity of a rejected DTD ({message}); not expanded"
            elif last_in_file and not closes:
                code = "truncated_file"
                reason = f"file ends inside this event (no </Event>): {message}"
            else:
                code = "invalid_xml"
                reason = (
                    f"malformed XML event ({message}); skipped, reading resumes at the next <Event"
                )
            ctx.issue(code, reason, record=record, line=line, offset=offset, excerpt=raw[:200])
            return None
        if _local(event.tag) != "Event":
            ctx.issue(
                "invalid_xml",
                f"element <{_local(event.tag)}> where <Event> was expected; skipped",
                record=record,
                line=line,
                offset=offset,
                excerpt=raw[:200],
            )
            return None
        return flatten_event(event)


@contextmanager
def _open_decoded(ctx: IngestContext) -> Iterator[ByteStream]:
    """The decoded input (UTF-16 transcoded to UTF-8)."""
    head = ctx.head.data if ctx.head is not None else ctx.file.head(4)[0]
    encoding = _utf16_encoding(head)
    with ctx.file.open() as raw:
        yield _Utf16Reader(raw, encoding) if encoding else raw


class SysmonXmlSource:
    """Sysmon (and other channels') events as rendered XML."""

    name = "sysmon.xml"
    description = "Windows events as rendered XML (wevtutil /f:xml, SIEM raw exports)"

    def sniff(self, head: Head) -> bool:
        encoding = _utf16_encoding(head.data)
        if encoding:
            text = head.data[: len(head.data) // 2 * 2].decode(encoding, "replace")
        else:
            text = head.text
        text = text.lstrip("\ufeff \t\r\n")
        if not text.startswith("<") or re.search(r"<Event[\s>]", text) is None:
            return False
        return EVENT_NS in text or "<EventID" in text or "<!DOCTYPE" in text or "<!ENTITY" in text

    def read(self, ctx: IngestContext) -> None:
        with _open_decoded(ctx) as stream:
            _XmlReader(ctx).run(stream)


__all__ = ["GRAMMAR", "SysmonXmlSource", "flatten_event"]
