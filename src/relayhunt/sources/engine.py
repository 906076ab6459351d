"""Turn raw records into normalized rows with one declarative mapping per format.

A reader describes its format as a :class:`RecordMapping`: how to parse a record into a
DuckDB struct ``s``, which table a record belongs to, its time, and one SQL expression per
column. This module runs that description over Arrow chunks in DuckDB, so no Python code
touches individual records, and it reports every rejected record with its location:

* a record that is not a JSON object -> ``invalid_json``;
* a record bound for a table whose time cannot be read -> ``missing_timestamp``;
* a field that cannot be cast to its column type -> ``bad_field_type`` (row kept);
* a record of a type relayhunt does not use -> counted in ``ingest_skipped``.

Records a reader has already split into columns (Sysmon EVTX and XML) go through
:func:`load_flat` instead: the same mapping written over column names, no struct.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relayhunt import model
from relayhunt.sources.base import GzipTruncated, IngestContext
from relayhunt.sources.lines import iter_line_tables, prefetch

CHUNK_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),
        ("line_no", pa.int64()),
        ("record_no", pa.int64()),
        ("off", pa.int64()),
        ("j", pa.large_string()),
    ]
)

DEFAULT_DOCUMENT_LIMIT = 512 * 1024 * 1024
WRAPPER_KEYS = ("Records", "records", "events", "results", "value", "data", "hits")


@dataclass(frozen=True)
class RecordMapping:
    """How one format's records become normalized rows.

    All SQL is evaluated over the parsed record ``s`` (a struct).

    ``struct``: for JSON records, the ``json_transform`` structure (field -> type or nested
    dict); declare leaves as ``VARCHAR`` so that wrong types are caught by the engine
    rather than turned into NULL silently. ``None`` when the caller supplies ``s``.
    ``route``: SQL giving the target table name (``'process'`` ...) or NULL to skip.
    ``label``: SQL naming the record's event type, for counting skipped records.
    ``timestamp``: SQL giving the UTC ``TIMESTAMP`` of the record.
    ``columns``: table -> column -> SQL expression. The engine casts each expression to
    the column's type with ``TRY_CAST`` and reports values that do not cast.
    """

    struct: Mapping[str, Any] | None
    route: str
    label: str
    timestamp: str
    columns: Mapping[str, Mapping[str, str]]
    prelude: str = ""
    """Optional extra select-list over ``s`` (e.g. ``'lower(s.a) AS a_l'``); the names it
    defines can be used by ``columns`` and ``checks`` expressions."""
    unwrap: str | None = None
    """JSON path of an envelope to parse instead of the record when present
    (e.g. ``'$._source'`` for Elasticsearch exports); where the value there is a string,
    the JSON text it holds (``CloudTrailEvent`` of ``aws cloudtrail lookup-events``)."""
    checks: Mapping[str, str] = field(default_factory=dict)
    """Extra per-record warnings: message SQL keyed by a short name; evaluated over
    routed rows, a non-NULL result becomes a ``bad_field_type`` warning."""

    def __post_init__(self) -> None:
        for table, cols in self.columns.items():
            if table not in model.TABLES:
                raise ValueError(f"mapping targets unknown table {table!r}")
            known = {c.name for c in model.TABLES[table]}
            unknown = set(cols) - known
            if unknown:
                raise ValueError(f"mapping for {table!r} has unknown columns {sorted(unknown)}")


def load_json_chunk(ctx: IngestContext, chunk: pa.Table, mapping: RecordMapping) -> None:
    """Parse a chunk ``(idx, line_no, record_no, off, j)`` of JSON records and load it."""
    assert mapping.struct is not None
    doc = "j"
    if mapping.unwrap:
        path = mapping.unwrap.replace("'", "''")
        doc = f"""coalesce(TRY(CASE json_type(j, '{path}')
            WHEN 'VARCHAR' THEN CAST(json_extract_string(j, '{path}') AS JSON)
            ELSE json_extract(j, '{path}') END), j)"""

    con = ctx.store.con
    conformed = _conform(chunk)
    con.register("_rh_chunk", conformed)
    subsets: list[str] = []

    def source(paths: list[list[str]] | None, table: str | None) -> str:
        relation = "_rh_chunk"
        if table is not None:
            # This table's rows come from an Arrow-filtered copy of the chunk: with a
            # semi-join DuckDB would evaluate the parse first, on every row, per table.
            relation = f"_rh_sub_{table}"
            if relation not in subsets:
                route = con.execute(
                    "SELECT idx FROM _rh_route WHERE _table = ? AND _ts IS NOT NULL", [table]
                ).fetchnumpy()["idx"]
                mask = np.zeros(conformed.num_rows, dtype=bool)
                mask[route] = True
                con.register(relation, conformed.filter(pa.array(mask)))
                subsets.append(relation)
        struct = mapping.struct if paths is None else _prune(mapping.struct or {}, paths)
        spec = json.dumps(struct).replace("'", "''")
        # starts_with(j) first: ltrim copies the string and is needed only rarely.
        return (
            "SELECT idx, line_no, record_no, off, "
            f"CASE WHEN starts_with(j, '{{') OR starts_with(ltrim(j), '{{') "
            f"THEN TRY(json_transform({doc}, '{spec}')) END AS s FROM {relation}"
        )

    try:
        _apply(ctx, source, mapping)
        con.execute(
            """INSERT INTO ingest_issues
               SELECT ?, ?, c.line_no, c.record_no, c.off, 'error', 'invalid_json',
                      CASE WHEN json_valid(c.j) THEN 'valid JSON but not an object'
                           WHEN c.line_no IS NOT NULL AND c.j NOT LIKE '%\n'
                           THEN 'not valid JSON (last line of the file, unterminated: '
                                || 'the file looks truncated)'
                           ELSE 'not valid JSON' END,
                      rh_excerpt(c.j)
               FROM _rh_route p JOIN _rh_chunk c USING (idx) WHERE p._bad""",
            [ctx.file.display, ctx.fmt],
        )
    finally:
        con.unregister("_rh_chunk")
        for name in subsets:
            con.unregister(name)


def load_struct_relation(ctx: IngestContext, relation_sql: str, mapping: RecordMapping) -> None:
    """Load from SQL yielding ``(idx, line_no, record_no, off, s)`` with ``s`` a struct.

    The relation is evaluated once for routing and once per target table present."""

    def source(_paths: list[list[str]] | None, table: str | None) -> str:
        if table is None:
            return relation_sql
        return (
            f"SELECT * FROM ({relation_sql}) WHERE idx IN (SELECT idx FROM _rh_route "
            f"WHERE _table = '{table}' AND _ts IS NOT NULL)"
        )

    _apply(ctx, source, mapping)


def _conform(chunk: pa.Table) -> pa.Table:
    """Give a chunk all of CHUNK_SCHEMA's columns, in order."""
    n = chunk.num_rows
    cols = []
    for fld in CHUNK_SCHEMA:
        if fld.name in chunk.column_names:
            cols.append(chunk.column(fld.name).cast(fld.type))
        else:
            cols.append(pa.nulls(n, fld.type))
    return pa.Table.from_arrays(cols, schema=CHUNK_SCHEMA)


# -- struct pruning: parse only the fields a query uses ----------------------------------

_REF = re.compile(
    r'(?<![\w."])s\.((?:"[^"]+"|[A-Za-z_@][\w@$]*)(?:\.(?:"[^"]+"|[A-Za-z_@][\w@$]*))*)'
)


def _refs(*sql: str) -> list[list[str]]:
    """Field paths referenced as ``s.a.b`` / ``s."@timestamp"`` in SQL text."""
    out: list[list[str]] = []
    for text in sql:
        for m in _REF.finditer(text):
            parts = re.findall(r'"[^"]+"|[^.]+', m.group(1))
            out.append([p.strip('"') for p in parts])
    return out


def _prune(struct: Mapping[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    """The part of a ``json_transform`` structure that ``paths`` reach (keys compared
    case-insensitively, as DuckDB does). A path ending on an object keeps its subtree."""
    out: dict[str, Any] = {}
    for path in paths:
        node: Any = struct
        dst = out
        for i, part in enumerate(path):
            if not isinstance(node, Mapping):
                break
            key = next((k for k in node if k.lower() == part.lower()), None)
            if key is None:
                break
            child = node[key]
            if i == len(path) - 1 or not isinstance(child, Mapping):
                dst[key] = child
                break
            existing = dst.get(key)
            if not isinstance(existing, dict):
                existing = {}
                dst[key] = existing
            dst, node = existing, child
    if not out:  # keep the struct non-empty so json_transform still validates objects
        first = next(iter(struct))
        out[first] = struct[first]
    return out


SourceFn = Callable[[list[list[str]] | None, str | None], str]
"""Builds the record source: (pruned field paths or None for all, the target table whose
routed rows to keep or None for every row) -> SQL yielding (idx, line_no, record_no, off,
s)."""


def check_groups(
    mapping: RecordMapping, *, prelude_checks: bool = True
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per-record warning SQL per table, in two groups, each reported as one message:
    numeric columns whose value does not cast (those needing no prelude alias), then
    those needing one, followed by the mapping's own checks (with ``prelude_checks``)."""
    aliases = set(re.findall(r"\bAS\s+([A-Za-z_]\w*)", mapping.prelude))
    early: dict[str, list[str]] = {}  # table -> numeric checks needing no prelude alias
    late: dict[str, list[str]] = {}
    for table, cols in mapping.columns.items():
        types = {c.name: c.sql_type for c in model.TABLES[table]}
        for name, expr in cols.items():
            if types.get(name) not in ("BIGINT", "INTEGER"):
                continue
            check = (
                f"CASE WHEN ({expr}) IS NOT NULL AND TRY_CAST(({expr}) AS {types[name]}) "
                f"IS NULL THEN '{name}=' || left(CAST(({expr}) AS VARCHAR), 60) END"
            )
            uses_alias = any(re.search(rf"\b{a}\b", expr) for a in aliases)
            (late if uses_alias else early).setdefault(table, []).append(check)
        if prelude_checks:
            late.setdefault(table, []).extend(f"({m})" for m in mapping.checks.values())
    return early, late


def _route_messages(mapping: RecordMapping) -> tuple[str, str, bool, dict[str, list[str]]]:
    """The routing pass's warning SQL over ``_ts`` / ``_table``: the early type checks
    (one message per record), the mapping's own checks, whether those are evaluated in
    the routing pass, and the checks left for each table's pass."""
    early, late = check_groups(mapping, prelude_checks=bool(mapping.prelude))
    # Without a prelude the mapping's own checks are evaluated in the routing pass: as a
    # separate pass per table they re-read (re-parsed) every routed record once more,
    # which cost Sysmon EVTX about a sixth of its ingest time.
    routed_checks = [f"({m})" for m in mapping.checks.values()] if not mapping.prelude else []
    check_msg = (
        "CASE WHEN _ts IS NOT NULL AND _table IS NOT NULL THEN "
        f"concat_ws('; ', {', '.join(routed_checks)}) END"
        if routed_checks
        else "NULL"
    )
    early_cases = " ".join(
        f"WHEN '{t}' THEN concat_ws('; ', {', '.join(c)})" for t, c in early.items() if c
    )
    early_msg = (
        f"CASE WHEN _ts IS NOT NULL THEN CASE _table {early_cases} END END"
        if early_cases
        else "NULL"
    )
    return early_msg, check_msg, bool(routed_checks), late


def _report_route(ctx: IngestContext, routed_checks: bool) -> tuple[dict[str, int], int]:
    """Warnings found while routing (``_rh_route``); the record count per target table
    ('' for none) and the number of records routed."""
    con = ctx.store.con
    params = [ctx.file.display, ctx.fmt]
    con.execute(
        """INSERT INTO ingest_issues
           SELECT ?, ?, line_no, record_no, off, 'warning', 'bad_field_type',
                  'field(s) not readable, stored as NULL: ' || _msg, NULL
           FROM _rh_route WHERE _msg IS NOT NULL AND _msg <> ''""",
        params,
    )
    if routed_checks:
        con.execute(
            """INSERT INTO ingest_issues
               SELECT ?, ?, line_no, record_no, off, 'warning', 'bad_field_type',
                      'field(s) not readable, stored as NULL: ' || _check_msg, NULL
               FROM _rh_route WHERE _check_msg IS NOT NULL AND _check_msg <> ''""",
            params,
        )
    counts = {
        str(t): int(n)
        for t, n in con.execute(
            "SELECT coalesce(_table, ''), count(*) FROM _rh_route "
            "WHERE _table IS NULL OR _ts IS NOT NULL GROUP BY ALL"
        ).fetchall()
    }
    row = con.execute("SELECT count(*) FROM _rh_route").fetchone()
    return counts, int(row[0]) if row else 0


def _insert_sql(ctx: IngestContext, mapping: RecordMapping, table: str) -> str:
    """``INSERT INTO <stage> (...) SELECT _ts, ?, ?, line_no, record_no, <columns> `` for
    one table (parameters: format, file); the caller appends the ``FROM``."""
    if table not in mapping.columns:
        raise ValueError(f"route produced table {table!r} with no column mapping")
    types = {c.name: c.sql_type for c in model.TABLES[table]}
    names: list[str] = []
    exprs: list[str] = []
    for name, expr in mapping.columns[table].items():
        if name in ("timestamp", "log_format", "log_file_path", "log_line", "log_record"):
            continue
        names.append(name)
        exprs.append(f"TRY_CAST(({expr}) AS {types[name]})")
    insert_cols = ", ".join(names)
    select_list = ", ".join(["_ts", "?", "?", "line_no", "record_no", *exprs])
    return (
        f"INSERT INTO {ctx.store.stage_target(table)} (timestamp, log_format, log_file_path, "
        f"log_line, log_record{', ' + insert_cols if insert_cols else ''}) SELECT {select_list} "
    )


def _check_sql(rel: str, checks: list[str]) -> str:
    """Warnings of a table's own checks over the rows of ``rel`` (parameters: file, format)."""
    return f"""INSERT INTO ingest_issues
        SELECT ?, ?, line_no, record_no, off, 'warning', 'bad_field_type',
               'field(s) not readable, stored as NULL: ' || msg, NULL
        FROM (SELECT line_no, record_no, off, concat_ws('; ', {", ".join(checks)})
                     AS msg FROM {rel})
        WHERE msg <> ''"""


def _report_unrouted(ctx: IngestContext) -> None:
    """Routed records without a time (rejected) and records of no table (skipped)."""
    con = ctx.store.con
    con.execute(
        """INSERT INTO ingest_issues
           SELECT ?, ?, line_no, record_no, off, 'error', 'missing_timestamp',
                  'record of type ' || coalesce(_label, '?') || ' bound for table '
                  || _table || ' has no readable timestamp; rejected', NULL
           FROM _rh_route WHERE _table IS NOT NULL AND _ts IS NULL""",
        [ctx.file.display, ctx.fmt],
    )
    for label, n in con.execute(
        "SELECT coalesce(_label, '(none)'), count(*) FROM _rh_route "
        "WHERE NOT _bad AND _table IS NULL GROUP BY ALL"
    ).fetchall():
        ctx.skipped[str(label)] += int(n)


def _apply(ctx: IngestContext, source: SourceFn, mapping: RecordMapping) -> None:
    """Route every record (a narrow parse), then parse each target table's records once
    more with just that table's fields and insert them into the store's stage for that
    table. No wide intermediate table: materializing every column of every table for
    every row cost more than the parsing itself."""
    con = ctx.store.con
    early_msg, check_msg, routed_checks, late = _route_messages(mapping)
    route_sql = [mapping.route, mapping.label, mapping.timestamp, early_msg, check_msg]
    _execute_pruned(
        con,
        route_sql,
        source,
        lambda src: (
            f"""CREATE OR REPLACE TEMP TABLE _rh_route AS
            SELECT idx, line_no, record_no, off, _bad, _table, _label, _ts,
                   {early_msg} AS _msg, {check_msg} AS _check_msg FROM (
              SELECT idx, line_no, record_no, off, s, s IS NULL AS _bad,
                     CASE WHEN s IS NOT NULL THEN ({mapping.route}) END AS _table,
                     CASE WHEN s IS NOT NULL THEN CAST(({mapping.label}) AS VARCHAR) END
                         AS _label,
                     CASE WHEN s IS NOT NULL THEN ({mapping.timestamp}) END AS _ts
              FROM ({src}))"""
        ),
    )
    params = [ctx.file.display, ctx.fmt]
    counts, len_chunk = _report_route(ctx, routed_checks)
    total = sum(counts.values())
    extra = f", {mapping.prelude}" if mapping.prelude else ""
    for table in (t for t in counts if t):
        insert_sql = _insert_sql(ctx, mapping, table)
        checks = late.get(table, [])

        # Only this table's records are parsed, with only the fields its columns use; the
        # source selects them, unless every record of the chunk goes to this table.
        keep = None if counts.get(table) == total == len_chunk else table

        def rows(src: str) -> str:
            # The time is recomputed: cheaper than joining it back from _rh_route.
            return f"""SELECT * {extra} FROM (
                         SELECT line_no, record_no, off, s, ({mapping.timestamp}) AS _ts
                         FROM ({src}) WHERE s IS NOT NULL)
                       WHERE _ts IS NOT NULL"""

        uses = [*mapping.columns[table].values(), *checks, mapping.timestamp, mapping.prelude]
        if mapping.prelude:
            # Prelude aliases are materialized once: inlined into many consumers they
            # multiply the work, and DuckDB may evaluate them outside their TRY().

            def materialize(src: str) -> str:
                return f"CREATE OR REPLACE TEMP TABLE _rh_rows AS {rows(src)}"

            _execute_pruned(con, uses, source, materialize, only=keep)
            done = con.execute(insert_sql + "FROM _rh_rows", [ctx.fmt, ctx.file.display])
            ctx.store.staged(table, _inserted(done))
            if checks:
                con.execute(_check_sql("_rh_rows", checks), params)
        else:

            def direct_insert(src: str, insert_sql: str = insert_sql) -> str:
                return insert_sql + f"FROM ({rows(src)})"

            def direct_check(src: str, checks: list[str] = checks) -> str:
                return _check_sql(f"({rows(src)})", checks)

            done = _execute_pruned(
                con, uses, source, direct_insert, [ctx.fmt, ctx.file.display], only=keep
            )
            ctx.store.staged(table, _inserted(done))
            if checks:
                _execute_pruned(
                    con, [*checks, mapping.timestamp], source, direct_check, params, only=keep
                )
    _report_unrouted(ctx)


def load_flat(
    ctx: IngestContext,
    relation_sql: str,
    mapping: RecordMapping,
    *,
    careful_sql: str | None = None,
) -> None:
    """Load records already split into columns.

    ``relation_sql`` yields ``idx, line_no, record_no, off, _bad`` (the record could not
    be read: it is neither routed nor counted as skipped, the caller reports it) and the
    columns that ``mapping``'s SQL reads by name (that SQL uses no struct ``s``;
    ``mapping.struct`` is unused and a prelude is not supported). One pass evaluates the
    relation together with each record's table, time and warnings into ``_rh_route``
    (left in place for the caller, e.g. to list the ``_bad`` records); each target table
    is then filled from those rows, with no parsing and no struct.

    ``careful_sql``, when given, is the same relation written so that it cannot fail on
    bad input (``TRY``), used only if ``relation_sql`` raises: the careful form costs
    every record more, and bad input is rare.
    """
    if mapping.prelude:
        raise ValueError("load_flat does not evaluate a prelude")
    con = ctx.store.con
    early_msg, check_msg, routed_checks, late = _route_messages(mapping)

    def route(relation: str) -> None:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _rh_route AS
            SELECT *, {early_msg} AS _msg, {check_msg} AS _check_msg FROM (
              SELECT *, CASE WHEN NOT _bad THEN ({mapping.route}) END AS _table,
                     CASE WHEN NOT _bad THEN CAST(({mapping.label}) AS VARCHAR) END AS _label,
                     CASE WHEN NOT _bad THEN ({mapping.timestamp}) END AS _ts
              FROM ({relation}))"""
        )

    if careful_sql is None:
        route(relation_sql)
    else:
        try:
            route(relation_sql)
        except duckdb.Error:
            route(careful_sql)
    params = [ctx.file.display, ctx.fmt]
    counts, _ = _report_route(ctx, routed_checks)
    for target in (t for t in counts if t):
        rows = f"FROM _rh_route WHERE _table = '{target}' AND _ts IS NOT NULL"
        done = con.execute(_insert_sql(ctx, mapping, target) + rows, [ctx.fmt, ctx.file.display])
        ctx.store.staged(target, _inserted(done))
        checks = late.get(target, [])
        if checks:
            con.execute(_check_sql(f"(SELECT * {rows})", checks), params)
    _report_unrouted(ctx)


def _inserted(result: Any) -> int:
    """Rows an INSERT reported."""
    row = result.fetchone()
    return int(row[0]) if row else 0


def _execute_pruned(
    con: Any,
    uses: list[str],
    source: SourceFn,
    build: Callable[[str], str],
    params: list[Any] | None = None,
    *,
    only: str | None = None,
) -> Any:
    """Run ``build(source(pruned, only))``; if a reference was missed (binder error), run
    it with the full structure instead. Returns the DuckDB result."""
    try:
        return con.execute(build(source(_refs(*uses), only)), params)
    except duckdb.BinderException:
        return con.execute(build(source(None, only)), params)


# -- JSON inputs --------------------------------------------------------------------------


def read_json(
    ctx: IngestContext,
    mapping: RecordMapping,
    *,
    wrapper_keys: Iterable[str] = WRAPPER_KEYS,
    document_limit: int = DEFAULT_DOCUMENT_LIMIT,
) -> None:
    """Read NDJSON (fast path, line numbers) or JSON documents (arrays / wrapper objects).

    Wrapper objects one per line (an S3 CloudTrail file, Azure storage exports, API pages
    a paging script appended) look like NDJSON to the head: where the first line's object
    holds a list under one of ``wrapper_keys``, the file is read as concatenated
    documents, so that every wrapper's records are read (an empty one adds none)."""
    head = ctx.head
    keys = tuple(wrapper_keys)
    first = head.first_json if head is not None else None
    wrapped = isinstance(first, dict) and any(isinstance(first.get(k), list) for k in keys)
    if head is not None and head.json_layout == "ndjson" and not wrapped:
        from relayhunt.sources.ndjson_file import load_ndjson_file

        if load_ndjson_file(ctx, mapping):
            return
        with ctx.file.open() as stream:
            for chunk in prefetch(iter_line_tables(stream, ctx)):
                load_json_chunk(ctx, chunk, mapping)
                ctx.store.flush_issues()
        return
    for chunk in iter_document_records(ctx, keys, document_limit):
        load_json_chunk(ctx, chunk, mapping)


def iter_document_records(
    ctx: IngestContext, wrapper_keys: Iterable[str], document_limit: int
) -> Iterator[pa.Table]:
    """Records of a JSON document: a top-level array, a wrapper object holding one
    (``{"Records": [...]}``), a single object, or concatenated / pretty-printed objects.

    The document is parsed with Python's json module (bounded by ``document_limit``);
    each record is re-serialized so the same mapping applies. A document that breaks off
    yields the records before the break plus a located issue.
    """
    size = ctx.file.size if not ctx.file.compressed else None
    if size is not None and size > document_limit:
        ctx.issue(
            "document_too_large",
            f"a single JSON document of {size} bytes exceeds {document_limit} bytes; "
            "convert it to NDJSON (e.g. jq -c '.[]') to read it as a stream",
        )
        return
    with ctx.file.open() as stream:
        try:
            raw = stream.read(document_limit + 1)
        except GzipTruncated as exc:  # keep what was decompressed
            raw = getattr(stream, "salvaged", b"")
            ctx.issue(
                "truncated_gzip",
                f"gzip stream damaged after {len(raw)} decompressed bytes ({exc}); "
                "records before that point were read",
                offset=len(raw),
            )
    ctx.bytes_read += len(raw)
    if len(raw) > document_limit:
        ctx.issue(
            "document_too_large",
            f"a single JSON document larger than {document_limit} bytes; convert it to "
            "NDJSON (e.g. jq -c '.[]') to read it as a stream",
        )
        return
    text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    records, error = _decode_records(text, tuple(wrapper_keys))
    ctx.records_seen += len(records)
    if error is not None:
        pos, msg = error
        ctx.issue(
            "truncated_file" if pos >= len(text.rstrip()) - 1 else "invalid_json",
            f"JSON document unreadable from character {pos}: {msg}; "
            f"{len(records)} records before it were read",
            record=len(records) + 1,
            offset=len(text[:pos].encode("utf-8")),
            excerpt=text[pos : pos + 200],
        )
    for start in range(0, len(records), 65_536):
        part = records[start : start + 65_536]
        yield pa.table(
            {
                "idx": pa.array(range(len(part)), type=pa.int64()),
                "record_no": pa.array(range(start + 1, start + 1 + len(part)), type=pa.int64()),
                "j": pa.array(part, type=pa.large_string()),
            }
        )


_WRAPPER_HEAD = re.compile(r'\{\s*"([A-Za-z_]+)"\s*:\s*\[')
_WRAPPER_TAIL = re.compile(r"\]\s*\}")


def _decode_records(
    text: str, wrapper_keys: tuple[str, ...]
) -> tuple[list[str], tuple[int, str] | None]:
    """Split a document into serialized records; on damage, the records before it."""
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if doc is not None:
        items = _unwrap(doc, wrapper_keys)
        return [json.dumps(x) for x in items], None
    # Damaged or concatenated: walk value by value, descending into one top-level array,
    # or into the array of a wrapper object when its key comes first ({"Records": [ ...,
    # as CloudTrail and Azure write them), so that a file cut short keeps its records.
    out: list[str] = []
    pos = len(text) - len(text.lstrip())
    in_array = text[pos : pos + 1] == "["
    wrapped = False  # inside the array of a damaged wrapper object
    if in_array:
        pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if wrapped and pos < len(text) and text[pos] == "]":
            close = _WRAPPER_TAIL.match(text, pos)
            if close is None:
                return out, (pos + 1, "wrapper object not closed after its array")
            in_array = wrapped = False
            pos = close.end()
            continue
        if pos >= len(text) or (in_array and text[pos] == "]"):
            return out, None
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            head = None if in_array else _WRAPPER_HEAD.match(text, pos)
            if head is not None and head.group(1) in wrapper_keys:
                in_array = wrapped = True  # this document breaks off: read its records
                pos = head.end()
                continue
            return out, (exc.pos, exc.msg)
        out.extend(json.dumps(x) for x in _unwrap(obj, wrapper_keys))
        pos = end


def _unwrap(doc: Any, wrapper_keys: tuple[str, ...]) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in wrapper_keys:
            inner = doc.get(key)
            if isinstance(inner, list):
                return inner
            if isinstance(inner, dict) and any(
                isinstance(inner.get(k), list) for k in wrapper_keys
            ):
                return _unwrap(inner, wrapper_keys)  # {"hits": {"hits": [...]}}
        return [doc]
    return [doc]
