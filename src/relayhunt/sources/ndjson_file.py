"""Whole-file fast path for NDJSON: one ``read_json`` parse instead of two per record.

The line path (:func:`relayhunt.sources.engine.load_json_chunk`) splits lines in Python
(numpy) and parses each record twice with ``json_transform`` (once to route it, once for
its table's columns). For a clean NDJSON file on disk that is most of the cost: DuckDB's
own ``read_json`` reads, parses and builds the mapping's struct once, and one statement
computes every column of every table at once into a temporary table, from which each
event table takes its rows (in parallel). Measured on 1M ECS events in-process: about
10 s by the line path, 6.6 s here (docs/performance.md).

It gives exactly the line path's rows and issues, or nothing: ``read_json`` stops at the
first bad record and cannot say where blank lines were, so the fast path is only kept
when the file is clean NDJSON, and otherwise the whole file is read by the line path,
which locates every rejected record:

* any DuckDB error (malformed JSON, a line that is not an object, invalid UTF-8, a byte
  order mark, a record over the size limit, a damaged gzip) -> line path;
* the number of rows differs from the number of lines (a blank or whitespace line, which
  ``read_json`` skips, would shift every later line number) -> line path;
* a row with none of the mapping's top-level fields (``read_json`` reads a ``null`` line
  as such a row; the line path reports ``null`` as not an object) -> line path.

Row ``i`` of the temporary table is line ``i + 1`` of the file: the table is created on
one thread with ``preserve_insertion_order`` on. On two threads the rows usually kept
file order, but not always (tests/sources/test_ndjson_fast.py failed under load), so
parsing stays single-threaded until a line number can be had from DuckDB itself.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relayhunt import model
from relayhunt.sources.base import GzipTruncated, IngestContext
from relayhunt.sources.engine import RecordMapping, _prune, _refs, check_groups

FAST_MIN_BYTES = 4 * 1024 * 1024
"""Smaller files take the line path: the fast path's fixed cost (a line count, a
temporary table) does not pay off, and small files are where odd layouts live."""

OUTCOMES: Counter[str] = Counter()
"""How often the fast path was used or fell back, and why (for tests and benchmarks)."""
_UNREADABLE = (
    duckdb.InvalidInputException,
    duckdb.IOException,
    duckdb.ConversionException,
    duckdb.OutOfMemoryException,
)
_COUNT_BLOCK = 16 * 1024 * 1024
_MAX_TRAILING_BLANK = 64 * 1024
_PROVENANCE = ("timestamp", "log_format", "log_file_path", "log_line", "log_record")


def load_ndjson_file(ctx: IngestContext, mapping: RecordMapping) -> bool:
    """Load ``ctx.file`` (NDJSON, plain or gzip) in one pass; False if it must be read by
    the line path instead (then nothing has been written)."""
    if mapping.struct is None or mapping.unwrap is not None:
        return False
    if ctx.file.size is not None and ctx.file.size < FAST_MIN_BYTES:
        return False
    con = ctx.store.con
    outcome = "fallback: DuckDB could not read the file"
    counted: dict[str, Any] = {}
    counter = threading.Thread(
        target=_count_lines, args=(ctx, counted), name="relayhunt-count", daemon=True
    )
    counter.start()
    try:
        wide = _wide_sql(ctx, mapping)
    finally:
        counter.join()
    try:
        if counted.get("error"):
            outcome = "fallback: line count failed"
            return False
        if wide is None:
            return False
        rows, empty = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE _empty) FROM _rh_wide"
        ).fetchone() or (0, 0)
        if rows != counted["lines"]:
            outcome = "fallback: blank lines"
            return False
        if empty:
            outcome = "fallback: records with no known field"
            return False
        _store(ctx, wide)
        ctx.records_seen += int(rows)
        ctx.bytes_read += int(counted["bytes"])
        outcome = "used"
        return True
    finally:
        OUTCOMES[outcome] += 1
        con.execute("DROP TABLE IF EXISTS _rh_wide")


class _Wide:
    """What the wide table holds: per table, column name -> wide column alias."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, str]] = {}
        self.checks = 0


def _wide_sql(ctx: IngestContext, mapping: RecordMapping) -> _Wide | None:
    """Create ``_rh_wide``: every record's table, label, time, check messages and every
    column of its possible tables, computed once. None if DuckDB refused the file."""
    assert mapping.struct is not None
    con = ctx.store.con
    wide = _Wide()
    exprs: dict[tuple[str, str], str] = {}  # (expression, type) -> alias
    select: list[str] = []
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
                select.append(f"TRY_CAST(({expr}) AS {types[name]}) AS {alias}")
            out[name] = exprs[key]
    early, late = check_groups(mapping)
    groups = [early, late]
    msgs = []
    for group in groups:
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
    for whole, struct in ((False, _prune(mapping.struct, _refs(*uses))), (True, mapping.struct)):
        empty = " AND ".join(f's."{_ident(k)}" IS NULL' for k in struct)
        source = _read_json(ctx, struct)
        sql = f"""CREATE OR REPLACE TEMP TABLE _rh_wide AS
            SELECT _table, _label, _ts, _empty,
                   {", ".join(f"{m} AS _m{i}" for i, m in enumerate(msgs))},
                   {", ".join(select)}
            FROM (SELECT *, CASE WHEN NOT _empty THEN ({mapping.route}) END AS _table,
                         CAST(({mapping.label}) AS VARCHAR) AS _label,
                         ({mapping.timestamp}) AS _ts {prelude}
                  FROM (SELECT *, ({empty}) AS _empty FROM {source} s) s) s"""
        row = con.execute("SELECT current_setting('threads')").fetchone()
        threads = int(row[0]) if row else 1
        try:
            # One thread: row i of the table must be line i + 1. With two threads and
            # preserve_insertion_order the rows came back out of file order under load
            # (the 36 MB test failed in CI, 1 run in 3 with the machine busy).
            con.execute("SET threads = 1")
            con.execute("SET preserve_insertion_order = true")
            con.execute(sql)
            return wide
        except duckdb.BinderException:
            if whole:
                raise
            continue  # a field reference the pruning missed: use the whole structure
        except _UNREADABLE:
            return None  # the content, not the SQL: the line path will locate it
        finally:
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"SET threads = {threads}")
    return None


def _store(ctx: IngestContext, wide: _Wide) -> None:
    """Issues, skipped counts and rows, from ``_rh_wide`` (row i = line i + 1)."""
    con = ctx.store.con
    params = [ctx.file.display, ctx.fmt]
    flagged = " OR ".join(f"(_m{i} IS NOT NULL AND _m{i} <> '')" for i in range(wide.checks))
    lines = con.execute(
        f"SELECT rowid + 1 AS line FROM _rh_wide WHERE ({flagged}) OR "
        "(_table IS NOT NULL AND _ts IS NULL) ORDER BY 1"
    ).fetchnumpy()["line"]
    offsets = _line_offsets(ctx, np.asarray(lines, dtype=np.int64))
    con.register("_rh_offsets", offsets)
    for i in range(wide.checks):
        con.execute(
            f"""INSERT INTO ingest_issues
                SELECT ?, ?, w.line, NULL, o.off, 'warning', 'bad_field_type',
                       'field(s) not readable, stored as NULL: ' || w._m{i}, NULL
                FROM (SELECT rowid + 1 AS line, _m{i} FROM _rh_wide
                      WHERE _m{i} IS NOT NULL AND _m{i} <> '') w
                LEFT JOIN _rh_offsets o USING (line) ORDER BY w.line""",
            params,
        )
    con.execute(
        """INSERT INTO ingest_issues
           SELECT ?, ?, w.line, NULL, o.off, 'error', 'missing_timestamp',
                  'record of type ' || coalesce(_label, '?') || ' bound for table '
                  || _table || ' has no readable timestamp; rejected', NULL
           FROM (SELECT rowid + 1 AS line, _label, _table FROM _rh_wide
                 WHERE _table IS NOT NULL AND _ts IS NULL) w
           LEFT JOIN _rh_offsets o USING (line) ORDER BY w.line""",
        params,
    )
    con.unregister("_rh_offsets")
    for label, n in con.execute(
        "SELECT coalesce(_label, '(none)'), count(*) FROM _rh_wide WHERE _table IS NULL "
        "GROUP BY ALL"
    ).fetchall():
        ctx.skipped[str(label)] += int(n)
    for table, cols in wide.columns.items():
        names = list(cols)
        # One statement per table and file: large enough to append straight to the table
        # (the stage exists to gather the line path's many small inserts).
        con.execute(
            f"""INSERT INTO {table} ({", ".join(_PROVENANCE)}{"".join(", " + n for n in names)})
                SELECT _ts, ?, ?, rowid + 1, NULL{"".join(", " + cols[n] for n in names)}
                FROM _rh_wide WHERE _table = ? AND _ts IS NOT NULL""",
            [ctx.fmt, ctx.file.display, table],
        )


def _read_json(ctx: IngestContext, struct: Mapping[str, Any]) -> str:
    columns = ", ".join(f"'{_lit(k)}': '{_lit(_type(v))}'" for k, v in struct.items())
    path = _lit(str(ctx.file.path))
    compression = "gzip" if ctx.file.compressed else "uncompressed"
    return (
        f"read_json('{path}', format = 'newline_delimited', records = true, "
        f"compression = '{compression}', maximum_object_size = {int(ctx.max_record_bytes)}, "
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


def _count_lines(ctx: IngestContext, out: dict[str, Any]) -> None:
    """Lines of the (decompressed) file up to its last non-blank byte, as the line path
    numbers them, and its decompressed size. Runs beside DuckDB; zlib and ``bytes.count``
    release the GIL."""
    lines = 0
    pending = 0  # newlines in the current run of trailing whitespace
    total = 0
    content = False
    try:
        with ctx.file.open() as fh:
            while block := fh.read(_COUNT_BLOCK):
                total += len(block)
                end = len(block)
                while end and block[end - 1] in b" \t\r\n":
                    end -= 1
                    if len(block) - end > _MAX_TRAILING_BLANK:
                        out["error"] = "long run of whitespace"
                        return
                if end:
                    lines += pending + block.count(b"\n", 0, end)
                    pending = block.count(b"\n", end)
                    content = True
                else:
                    pending += block.count(b"\n")
    except (OSError, GzipTruncated) as exc:
        out["error"] = str(exc)
        return
    out["lines"] = lines + 1 if content else 0
    out["bytes"] = total


def _line_offsets(ctx: IngestContext, lines: np.ndarray) -> pa.Table:
    """``(line, off)``: the byte offset where each of ``lines`` (1-based, sorted) starts.
    One more pass over the file, only when some record was reported."""
    offs = np.full(len(lines), -1, dtype=np.int64)
    if len(lines):
        offs[lines == 1] = 0
        seen = 0  # newlines before this block
        base = 0
        with ctx.file.open() as fh:
            while block := fh.read(_COUNT_BLOCK):
                nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                # line k starts after the file's (k-1)th newline: index k - 2 overall
                idx = lines - 2 - seen
                ok = (idx >= 0) & (idx < len(nl))
                offs[ok] = base + nl[idx[ok]] + 1
                seen += len(nl)
                base += len(block)
    return pa.table(
        {"line": pa.array(lines, pa.int64()), "off": pa.array(offs, pa.int64(), mask=offs < 0)}
    )
