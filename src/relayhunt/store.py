"""The DuckDB store: typed event tables, ingest bookkeeping, SQL helpers and exports."""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from relayhunt import model

# SQL macros shared by every reader. Each is small and documented because readers build
# their column mappings from them.
MACROS: tuple[str, ...] = (
    # ISO 8601 / RFC 3339 text (any offset, 'Z', or none = UTC) -> UTC TIMESTAMP. The
    # instant's microseconds make the TIMESTAMP (a third of the cost of a time zone
    # conversion); the second form catches what that does not (text padded with
    # non-ASCII spaces, 'infinity').
    """CREATE OR REPLACE MACRO rh_ts(s) AS
        coalesce(make_timestamp(epoch_us(TRY_CAST(CAST(s AS VARCHAR) AS TIMESTAMPTZ))),
                 CAST(TRY_CAST(NULLIF(trim(CAST(s AS VARCHAR)), '') AS TIMESTAMPTZ)
                      AS TIMESTAMP))""",
    # Epoch seconds with fraction (Zeek ts, '1730462400.123456') -> UTC TIMESTAMP.
    """CREATE OR REPLACE MACRO rh_epoch_s(s) AS
        TRY(make_timestamp(TRY_CAST(round(TRY_CAST(s AS DOUBLE) * 1000000) AS BIGINT)))""",
    # Epoch milliseconds (Falcon timestamp, '1730462400123') -> UTC TIMESTAMP.
    """CREATE OR REPLACE MACRO rh_epoch_ms(s) AS
        TRY(make_timestamp(TRY_CAST(round(TRY_CAST(s AS DOUBLE) * 1000) AS BIGINT)))""",
    # Windows FILETIME (100 ns ticks since 1601) -> UTC TIMESTAMP.
    """CREATE OR REPLACE MACRO rh_filetime(s) AS
        TRY(make_timestamp(TRY_CAST(TRY_CAST(s AS HUGEINT) // 10 - 11644473600000000
                                    AS BIGINT)))""",
    # Basename of a Windows or POSIX path.
    """CREATE OR REPLACE MACRO rh_basename(p) AS
        NULLIF(regexp_extract(CAST(p AS VARCHAR), '[^\\\\/]*$'), '')""",
    # Hostname as compared everywhere: lowercase, no surrounding blanks, no trailing dot.
    """CREATE OR REPLACE MACRO rh_host(h) AS
        NULLIF(rtrim(lower(trim(CAST(h AS VARCHAR))), '.'), '')""",
    # Empty string and the usual placeholders for "no value" ('-', '(empty)', 'null',
    # 'NULL'), with or without surrounding spaces (\p{Zs}: what trim() removes) -> NULL.
    # One regular expression: twice as fast as trim() + list_contains, and an IN list in a
    # select list is planned as a join.
    """CREATE OR REPLACE MACRO rh_nz(v) AS
        CASE WHEN regexp_full_match(CAST(v AS VARCHAR),
                                    '\\p{Zs}*(?:-|\\(empty\\)|null|NULL)?\\p{Zs}*')
             THEN NULL ELSE CAST(v AS VARCHAR) END""",
    # A JSON array of strings, a JSON scalar, or a delimited string -> VARCHAR[].
    """CREATE OR REPLACE MACRO rh_str_list(v, sep) AS
        CASE WHEN v IS NULL OR trim(CAST(v AS VARCHAR)) IN ('', '-', '[]') THEN NULL
             WHEN starts_with(ltrim(CAST(v AS VARCHAR)), '[')
             THEN TRY(from_json(CAST(v AS VARCHAR), '["VARCHAR"]'))
             ELSE list_filter(list_transform(string_split(CAST(v AS VARCHAR), sep),
                                             x -> trim(x)), x -> x <> '') END""",
    # Extension of a file name, lowercase, no dot.
    """CREATE OR REPLACE MACRO rh_ext(p) AS
        NULLIF(lower(regexp_extract(rh_basename(p), '\\.([^.]+)$', 1)), '')""",
    # Control characters escaped, length bounded: safe excerpt of hostile input.
    """CREATE OR REPLACE MACRO rh_excerpt(v) AS
        CASE WHEN length(CAST(v AS VARCHAR)) > 200
             THEN regexp_replace(left(CAST(v AS VARCHAR), 200), '[\\x00-\\x1f\\x7f]', '?', 'g')
                  || '...'
             ELSE regexp_replace(CAST(v AS VARCHAR), '[\\x00-\\x1f\\x7f]', '?', 'g') END""",
)


def excerpt(value: str | bytes | None, limit: int = 200) -> str | None:
    """A bounded, printable excerpt of hostile input for ``ingest_issues``."""
    if value is None:
        return None
    text = (
        value[: limit * 4].decode("utf-8", "backslashreplace")
        if isinstance(value, bytes)
        else value
    )
    cut = text[:limit]
    safe = "".join(ch if ch.isprintable() else "?" for ch in cut)
    return safe + ("..." if len(text) > limit else "")


_UNITS = {
    "": 1,
    "B": 1,
    "K": 1000,
    "KB": 1000,
    "KIB": 1 << 10,
    "M": 1000**2,
    "MB": 1000**2,
    "MIB": 1 << 20,
    "G": 1000**3,
    "GB": 1000**3,
    "GIB": 1 << 30,
    "T": 1000**4,
    "TB": 1000**4,
    "TIB": 1 << 40,
}


def parse_size(text: str) -> int:
    """Bytes in a DuckDB-style size (``'4GB'``, ``'18.3 GiB'``, ``'512MB'``)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 4GB, 512MB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def auto_memory_limit() -> str:
    """Half of the memory DuckDB finds for this process (physical memory, or a container's
    cgroup limit where one is set; DuckDB's own default is 80 % of it), at least 1 GB.

    The hunt keeps every table of the store in DuckDB's buffer pool; past the limit it
    spills to disk and reads back. At 10M events the store holds about 5 GB before
    enrichment: under a 4 GB limit the hunt spilled up to 5 GB and took ~20 % longer."""
    con = duckdb.connect()
    try:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        con.close()
    try:
        found = parse_size(str(row[0])) * 10 // 8 if row else 0
    except ValueError:
        found = 0
    if not found:
        return "4GB"
    return f"{max(1000, found // 2 // 1_000_000)}MB"


class Store:
    """A DuckDB database holding the normalized tables.

    In memory by default (DuckDB spills to a temporary directory past ``memory_limit``:
    a size such as ``'4GB'``, ``'auto'`` for :func:`auto_memory_limit`, or None for
    DuckDB's default); pass ``path`` to persist to one file.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        self.path = str(path) if path else ":memory:"
        self.con = duckdb.connect(self.path)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if temp_directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="relayhunt-duckdb-")
            temp_directory = self._tmp.name
        self.con.execute(f"SET temp_directory = '{_sql_str(str(temp_directory))}'")
        self.con.execute("SET TimeZone = 'UTC'")
        if memory_limit == "auto":
            memory_limit = auto_memory_limit()
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{_sql_str(memory_limit)}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = false")
        for macro in MACROS:
            self.con.execute(macro)
        for name, cols in model.all_tables().items():
            self.con.execute(model.ddl(name, cols))
        self._pending_issues: list[dict[str, Any]] = []
        self._issues_lock = threading.Lock()
        self._staged: dict[str, int] = {}

    # -- staged appends -----------------------------------------------------------------
    # DuckDB appends to a growing table cost ~10x more per row in many 40k-row INSERTs
    # than in one large one (measured: 1M rows x 35 columns, 6.6 s against 0.6 s).
    # Readers insert into a temporary stage per table, which the store moves into the
    # real table every STAGE_ROWS rows and at the end of each input file. A temporary
    # table lives in DuckDB's buffer pool, so --memory-limit still bounds it (staging as
    # Arrow in Python did not, and doubled peak memory).
    STAGE_ROWS = 1_000_000

    def stage_target(self, table: str) -> str:
        """The table a reader should INSERT into for ``table`` (its temporary stage)."""
        if table not in model.TABLES:
            raise KeyError(table)
        name = f"_rh_stage_{table}"
        if table not in self._staged:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM {table} LIMIT 0")
            self._staged[table] = 0
        return name

    def staged(self, table: str, rows: int) -> None:
        """Readers report rows inserted into a stage; large stages are moved on."""
        self._staged[table] = self._staged.get(table, 0) + rows
        if self._staged[table] >= self.STAGE_ROWS:
            self._flush_stage(table)

    def _flush_stage(self, table: str) -> None:
        name = f"_rh_stage_{table}"
        self.con.execute(f"INSERT INTO {table} FROM {name}")
        self.con.execute(f"DROP TABLE {name}")
        del self._staged[table]

    def flush(self) -> None:
        """Write everything queued: staged rows and pending issues."""
        for table in list(self._staged):
            self._flush_stage(table)
        self.flush_issues()

    # -- ingest bookkeeping -------------------------------------------------------------
    def add_issue(
        self,
        *,
        file: str,
        fmt: str | None,
        reason_code: str,
        reason: str,
        line: int | None = None,
        record: int | None = None,
        offset: int | None = None,
        excerpt_text: str | bytes | None = None,
        severity: str = "error",
    ) -> None:
        """Queue one issue (flushed in batches)."""
        if reason_code not in model.REASON_CODES:
            raise ValueError(f"unknown reason code {reason_code!r}")
        row = {
            "log_file_path": file,
            "log_format": fmt,
            "log_line": line,
            "log_record": record,
            "log_offset": offset,
            "severity": severity,
            "reason_code": reason_code,
            "reason": reason,
            "excerpt": excerpt(excerpt_text),
        }
        with self._issues_lock:
            self._pending_issues.append(row)
        # Readers may report from a prefetch thread: only the main thread writes to DuckDB.
        if len(self._pending_issues) >= 10_000 and threading.current_thread() is (
            threading.main_thread()
        ):
            self.flush_issues()

    def flush_issues(self) -> None:
        # Swap under the lock: a prefetch thread may be adding issues meanwhile.
        with self._issues_lock:
            pending, self._pending_issues = self._pending_issues, []
        if pending:
            tbl = pa.Table.from_pylist(pending, schema=model.arrow_schema("ingest_issues"))
            self.insert_arrow("ingest_issues", tbl)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table whose columns are a subset of ``table``'s, by name."""
        cols = ", ".join(data.column_names)
        self.con.register("_rh_insert", data)
        try:
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _rh_insert")
        finally:
            self.con.unregister("_rh_insert")

    def record_file(self, row: Mapping[str, Any]) -> None:
        self.insert_arrow(
            "ingest_files",
            pa.Table.from_pylist([dict(row)], schema=model.arrow_schema("ingest_files")),
        )

    def record_skipped(self, file: str, fmt: str, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        rows = [
            {"log_file_path": file, "log_format": fmt, "label": k, "count": v}
            for k, v in sorted(counts.items())
        ]
        self.insert_arrow(
            "ingest_skipped",
            pa.Table.from_pylist(rows, schema=model.arrow_schema("ingest_skipped")),
        )

    # -- reading back -------------------------------------------------------------------
    def table(self, name: str) -> pa.Table:
        """One table as Arrow."""
        if name not in model.all_tables():
            raise KeyError(name)
        self.flush()
        return self.con.execute(f"SELECT * FROM {name}").to_arrow_table()

    def count(self, name: str) -> int:
        self.flush()
        row = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()
        return int(row[0]) if row else 0

    def summary(self) -> dict[str, Any]:
        """Events per table per format, rejected records per reason, skipped types."""
        self.flush()
        parts = " UNION ALL ".join(
            f"SELECT '{t}' AS tbl, log_format, count(*) AS n FROM {t} GROUP BY ALL"
            for t in model.EVENT_TABLES
        )
        events = self.con.execute(f"SELECT * FROM ({parts}) ORDER BY 2, 1").fetchall()
        issues = self.con.execute(
            "SELECT severity, reason_code, count(*) FROM ingest_issues GROUP BY ALL "
            "ORDER BY 1, 3 DESC"
        ).fetchall()
        skipped = self.con.execute(
            "SELECT log_format, label, sum(count) FROM ingest_skipped GROUP BY ALL "
            "ORDER BY 1, 3 DESC"
        ).fetchall()
        files = self.con.execute(
            "SELECT count(*), count(log_format), coalesce(sum(bytes_read), 0), "
            "coalesce(sum(records_seen), 0) FROM ingest_files"
        ).fetchone()
        assert files is not None
        return {
            "events": [{"table": t, "format": f, "count": int(n)} for t, f, n in events],
            "issues": [{"severity": s, "reason_code": r, "count": int(n)} for s, r, n in issues],
            "skipped": [{"format": f, "label": lab, "count": int(n)} for f, lab, n in skipped],
            "files": int(files[0]),
            "files_recognised": int(files[1]),
            "bytes_read": int(files[2]),
            "records_seen": int(files[3]),
        }

    # -- exports ------------------------------------------------------------------------
    def union_sql(self, tables: Sequence[str] = model.EVENT_TABLES) -> str:
        """All event tables as one relation with an ``event_category`` column."""
        columns: list[model.Column] = []
        seen: set[str] = set()
        for t in tables:
            for c in model.TABLES[t]:
                if c.name not in seen:
                    seen.add(c.name)
                    columns.append(c)
        selects = []
        for t in tables:
            have = {c.name for c in model.TABLES[t]}
            cols = ", ".join(
                c.name if c.name in have else f"CAST(NULL AS {c.sql_type}) AS {c.name}"
                for c in columns
            )
            selects.append(f"SELECT '{t}' AS event_category, {cols} FROM {t}")
        return " UNION ALL ".join(selects)

    def export(self, out: Path) -> None:
        """Write all events to ``out``: .parquet, .ndjson/.jsonl/.json, or .duckdb."""
        self.flush()
        suffix = out.suffix.lower()
        target = _sql_str(str(out))
        # Every time column (timestamp, process_start) as docs/schema.md promises: UTC
        # in Parquet (timestamp[us, tz=UTC]), RFC 3339 with 'Z' in NDJSON.
        times = sorted(
            {
                c.name
                for t in model.EVENT_TABLES
                for c in model.TABLES[t]
                if c.sql_type == "TIMESTAMP"
            }
        )
        if suffix == ".parquet":
            utc = ", ".join(f"CAST({n} AS TIMESTAMPTZ) AS {n}" for n in times)
            self.con.execute(
                f"COPY (SELECT * REPLACE ({utc}) FROM ({self.union_sql()})) "
                f"TO '{target}' (FORMAT PARQUET, COMPRESSION ZSTD)"
            )
        elif suffix in (".ndjson", ".jsonl", ".json"):
            rfc = ", ".join(f"strftime({n}, '%Y-%m-%dT%H:%M:%S.%fZ') AS {n}" for n in times)
            self.con.execute(
                f"COPY (SELECT * REPLACE ({rfc}) FROM ({self.union_sql()})) "
                f"TO '{target}' (FORMAT JSON)"
            )
        elif suffix == ".duckdb":
            if out.exists():
                out.unlink()
            self.con.execute(f"ATTACH '{target}' AS rh_out")
            try:
                for name in model.all_tables():
                    self.con.execute(f"CREATE TABLE rh_out.{name} AS SELECT * FROM {name}")
            finally:
                self.con.execute("DETACH rh_out")
        else:
            raise ValueError(
                f"unsupported output extension {suffix!r} (use .parquet, .ndjson or .duckdb)"
            )

    def export_issues(self, out: Path) -> None:
        """Write ``ingest_issues`` to CSV or NDJSON by extension."""
        self.flush_issues()
        target = _sql_str(str(out))
        fmt = "CSV, HEADER" if out.suffix.lower() == ".csv" else "JSON"
        self.con.execute(
            f"COPY (SELECT * FROM ingest_issues ORDER BY log_file_path, log_line, log_record) "
            f"TO '{target}' (FORMAT {fmt})"
        )

    def close(self) -> None:
        self.flush()
        self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_str(value: str) -> str:
    """Escape a value for a single-quoted SQL string literal."""
    return value.replace("'", "''")


def sql_literal(value: str | None) -> str:
    """A single-quoted SQL literal (or NULL)."""
    return "NULL" if value is None else "'" + _sql_str(value) + "'"


def sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"
