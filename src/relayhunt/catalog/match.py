"""Vectorised catalog matching and process classification in SQL.

The catalog becomes small DuckDB tables (:func:`register_catalog`) and the matching is one
SQL query over a whole relation (:func:`match_sql`), never a Python call per row:

1. the distinct raw values of the host column are normalized (``hostnames.py``);
2. for each distinct value, the hostname's last k labels, for each k a catalog tail has
   (``a.b.workers.dev`` -> ``workers.dev``, ``b.workers.dev`` ...), are cut with
   ``split_part`` and equi-joined with ``catalog_patterns.tail``: a suffix made of whole
   labels can only equal a tail on a label boundary;
3. entries with placeholders are confirmed by their anchored, case-insensitive regex;
4. the most specific candidate wins (``ROW_NUMBER`` over ``priority``);
5. the tenant is cut from the hostname by label count, the count coming from the PSL at
   load time plus the PSL rules below the pattern (``catalog_psl_rules``);
6. the result is joined back to every row of the relation.

The SQL sticks to what DuckDB and Spark SQL share; docs/catalog.md lists the few renames
(``regexp_matches`` -> ``rlike``) and the one scalar function to register in Spark.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import duckdb
import pyarrow as pa
from duckdb.func import FunctionNullHandling, PythonUDFType

from relayhunt.catalog.hostnames import UDF_NAME, normalize_host, normalize_host_sql, sql_literal
from relayhunt.catalog.loader import load_catalog
from relayhunt.catalog.model import Catalog, ServerlessEntry

PATTERNS_TABLE: Final = "catalog_patterns"
PSL_RULES_TABLE: Final = "catalog_psl_rules"
PROCESS_CLASSES_TABLE: Final = "process_classes"
WRITABLE_PATHS_TABLE: Final = "catalog_user_writable_paths"

# Columns added by match_sql, after the prefix (default "serverless_").
MATCH_COLUMNS: Final[tuple[str, ...]] = (
    "normalized_host",
    "id",
    "platform",
    "provider",
    "kind",
    "weight",
    "pattern",
    "tenant",
    "legacy",
)
# Columns added by classify_process_sql, after the prefix (default "process_").
PROCESS_COLUMNS: Final[tuple[str, ...]] = (
    "basename",
    "category",
    "subcategory",
    "user_writable_dir",
)

_BARE_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_identifier(name: str) -> str:
    """``name`` as a SQL identifier: bare when it can be, else double-quoted (DuckDB)."""
    if _BARE_IDENTIFIER.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _catalog(catalog: Catalog | None) -> Catalog:
    return catalog if catalog is not None else load_catalog()


# ---------------------------------------------------------------------------- tables


def catalog_tables(catalog: Catalog | None = None) -> dict[str, pa.Table]:
    """The catalog as Arrow tables, keyed by the table names the SQL uses.

    Register them under these names in any engine (DuckDB, Spark temp views) to run the
    queries built by :func:`match_query` and :func:`classify_process_query`."""
    cat = _catalog(catalog)
    entries = cat.entries
    patterns = pa.table(
        {
            "entry_id": pa.array([e.id for e in entries], pa.string()),
            "priority": pa.array([e.priority for e in entries], pa.int32()),
            "platform": pa.array([e.platform for e in entries], pa.string()),
            "provider": pa.array([e.provider for e in entries], pa.string()),
            "kind": pa.array([e.kind for e in entries], pa.string()),
            "pattern": pa.array([e.pattern for e in entries], pa.string()),
            "tail": pa.array([e.tail for e in entries], pa.string()),
            "tail_labels": pa.array([e.tail_labels for e in entries], pa.int32()),
            "pattern_labels": pa.array([e.pattern_labels for e in entries], pa.int32()),
            "regex": pa.array(
                [e.regex if e.has_placeholder else None for e in entries], pa.string()
            ),
            "weight": pa.array([e.weight for e in entries], pa.float64()),
            "legacy": pa.array([e.legacy for e in entries], pa.bool_()),
            "customer_namespace": pa.array([e.customer_namespace for e in entries], pa.bool_()),
            "tenant_mode": pa.array([e.tenant_mode for e in entries], pa.string()),
            "tenant_label_count": pa.array([e.tenant_label_count for e in entries], pa.int32()),
            "psl_covered": pa.array([e.psl_covered for e in entries], pa.bool_()),
            "source": pa.array([e.source for e in entries], pa.string()),
            "notes": pa.array([e.notes for e in entries], pa.string()),
        }
    )
    rules = [(e.id, r.suffix, r.public_suffix_labels) for e in entries for r in e.psl_rules]
    psl_rules = pa.table(
        {
            "entry_id": pa.array([r[0] for r in rules], pa.string()),
            "suffix": pa.array([r[1] for r in rules], pa.string()),
            "public_suffix_labels": pa.array([r[2] for r in rules], pa.int32()),
        }
    )
    processes = pa.table(
        {
            "name": pa.array([p.name for p in cat.processes], pa.string()),
            "category": pa.array([p.category for p in cat.processes], pa.string()),
            "subcategory": pa.array([p.subcategory for p in cat.processes], pa.string()),
            "product": pa.array([p.product for p in cat.processes], pa.string()),
            "os": pa.array([",".join(p.os) for p in cat.processes], pa.string()),
            "source": pa.array([p.source for p in cat.processes], pa.string()),
        }
    )
    paths = pa.table(
        {
            "pattern": pa.array([w.pattern for w in cat.writable_paths], pa.string()),
            "label": pa.array([w.label for w in cat.writable_paths], pa.string()),
            "regex": pa.array([w.regex for w in cat.writable_paths], pa.string()),
            "os": pa.array([",".join(w.os) for w in cat.writable_paths], pa.string()),
            "source": pa.array([w.source for w in cat.writable_paths], pa.string()),
        }
    )
    return {
        PATTERNS_TABLE: patterns,
        PSL_RULES_TABLE: psl_rules,
        PROCESS_CLASSES_TABLE: processes,
        WRITABLE_PATHS_TABLE: paths,
    }


def _normalize_vector(values: pa.Array) -> pa.Array:
    # Called by DuckDB with a vector of raw values that are not plain printable ASCII
    # (Unicode, whitespace, control characters): rare, and only distinct values reach it.
    return pa.array([normalize_host(v) for v in values.to_pylist()], pa.string())


def _has_function(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
    ).fetchone()
    return row is not None and int(row[0]) > 0


def register_catalog(con: duckdb.DuckDBPyConnection, catalog: Catalog | None = None) -> Catalog:
    """Create (or replace) the catalog's temporary tables on ``con`` and register the
    ``relayhunt_normalize_host`` function the matching SQL calls. Returns the catalog used.

    Tables: ``catalog_patterns``, ``catalog_psl_rules``, ``process_classes``,
    ``catalog_user_writable_paths`` (columns as in :func:`catalog_tables`)."""
    cat = _catalog(catalog)
    for name, table in catalog_tables(cat).items():
        view = f"relayhunt_arrow_{name}"
        con.register(view, table)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            con.unregister(view)
    if not _has_function(con, UDF_NAME):
        con.create_function(
            UDF_NAME,
            _normalize_vector,
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"),
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
    return cat


def _relation_columns(con: duckdb.DuckDBPyConnection, source_relation: str) -> list[str]:
    description = con.execute(
        f"SELECT * FROM {source_relation} AS relayhunt_input LIMIT 0"
    ).description
    return [str(column[0]) for column in description or []]


def _check_columns(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    column: str,
    added: Sequence[str],
) -> None:
    present = {c.lower() for c in _relation_columns(con, source_relation)}
    if column.lower() not in present:
        raise ValueError(f"{source_relation}: no column {column!r}")
    clashes = [name for name in added if name.lower() in present]
    if clashes:
        raise ValueError(
            f"{source_relation} already has column(s) {', '.join(clashes)}; choose another prefix"
        )


# ---------------------------------------------------------------------------- hostnames


def _last_labels_regex(count: int) -> str:
    """Regex whose leftmost match is the last ``count`` labels of a hostname (the leftmost
    match starts at a label boundary because ``[^.]+`` cannot stop inside a label)."""
    return "[^.]+" + (f"(?:[.][^.]+){{{count - 1}}}" if count > 1 else "") + "$"


def _suffix_concat(count: int) -> str:
    """SQL joining the last ``count`` labels (columns l<count> .. l1) with dots."""
    return "concat(" + ", '.', ".join(f"l{i}" for i in range(count, 0, -1)) + ")"


def _placeholder_check(entries: Sequence[ServerlessEntry], host: str, entry_id: str) -> str:
    branches = [
        f"WHEN {sql_literal(e.id)} THEN regexp_matches({host}, {sql_literal(e.regex)})"
        for e in entries
        if e.has_placeholder
    ]
    if not branches:
        return "TRUE"
    return f"CASE {entry_id} {' '.join(branches)} ELSE TRUE END"


def _tenant_expression(catalog: Catalog, host: str, n_labels: str, size: str) -> str:
    sizes = {e.tenant_label_count for e in catalog.entries if e.tenant_label_count is not None}
    sizes |= {r.public_suffix_labels + 1 for e in catalog.entries for r in e.psl_rules}
    if not sizes:  # every entry's tenant is the whole host, or none
        return "NULL"
    branches = " ".join(
        f"WHEN {k} THEN regexp_extract({host}, {sql_literal(_last_labels_regex(k))}, 0)"
        for k in sorted(sizes)
    )
    return (
        f"CASE WHEN {size} > {n_labels} THEN NULL WHEN {size} = {n_labels} THEN {host} "
        f"ELSE CASE {size} {branches} END END"
    )


def match_query(
    source_relation: str,
    host_column: str,
    catalog: Catalog | None = None,
    prefix: str = "serverless",
) -> str:
    """The SQL that returns every row of ``source_relation`` with the catalog match added.

    ``source_relation`` is SQL text: a table or view name, or a parenthesized subquery.
    Added columns (``<prefix>_``): ``normalized_host`` (the hostname compared, NULL if the
    value is not one), ``id``, ``platform``, ``provider``, ``kind``, ``weight``, ``pattern``,
    ``tenant`` and ``legacy`` (NULL where nothing matches; ``tenant`` is also NULL for a
    platform apex or a non-customer namespace). The catalog tables and the normalization
    function must be registered (:func:`register_catalog`, or :func:`match_sql` which does
    both)."""
    cat = _catalog(catalog)
    column = quote_identifier(host_column)
    tail_sizes = sorted({e.tail_labels for e in cat.entries})
    labels = ",\n           ".join(
        f"split_part(host, '.', -{i}) AS l{i}" for i in range(1, max(tail_sizes) + 1)
    )
    suffixes = "\n    UNION ALL\n".join(
        f"    SELECT raw_host, host, {k} AS k, {_suffix_concat(k)} AS suffix\n"
        f"    FROM relayhunt_labels WHERE l{k} <> ''"
        for k in tail_sizes
    )
    check = _placeholder_check(cat.entries, "s.host", "p.entry_id")
    tenant_size = "greatest(p.tenant_label_count, coalesce(h.psl_tenant_labels, 0))"
    tenant = _tenant_expression(cat, "t.host", "t.n_labels", tenant_size)
    out = {name: quote_identifier(f"{prefix}_{name}") for name in MATCH_COLUMNS}
    return f"""WITH relayhunt_raw AS (
    SELECT DISTINCT CAST({column} AS STRING) AS raw_host
    FROM {source_relation} AS relayhunt_input
    WHERE {column} IS NOT NULL
),
relayhunt_norm AS (
    SELECT raw_host, {normalize_host_sql("raw_host")} AS host
    FROM relayhunt_raw
),
relayhunt_labels AS (
    SELECT raw_host, host,
           {labels}
    FROM relayhunt_norm
    WHERE host IS NOT NULL
),
relayhunt_suffixes AS (
{suffixes}
),
relayhunt_candidates AS (
    SELECT s.raw_host, s.host, p.entry_id, p.priority
    FROM relayhunt_suffixes AS s
    JOIN {PATTERNS_TABLE} AS p ON p.tail = s.suffix AND p.tail_labels = s.k
    WHERE {check}
),
relayhunt_ranked AS (
    SELECT raw_host, host, entry_id,
           ROW_NUMBER() OVER (PARTITION BY raw_host ORDER BY priority) AS match_rank
    FROM relayhunt_candidates
),
relayhunt_best AS (
    SELECT raw_host, host, entry_id,
           length(host) - length(replace(host, '.', '')) + 1 AS n_labels
    FROM relayhunt_ranked
    WHERE match_rank = 1
),
relayhunt_psl_hits AS (
    SELECT b.raw_host, MAX(r.public_suffix_labels) + 1 AS psl_tenant_labels
    FROM relayhunt_best AS b
    JOIN {PSL_RULES_TABLE} AS r ON r.entry_id = b.entry_id
    WHERE right(concat('.', b.host), length(r.suffix) + 1) = concat('.', r.suffix)
    GROUP BY b.raw_host
),
relayhunt_matches AS (
    SELECT t.raw_host, p.entry_id, p.platform, p.provider, p.kind, p.weight, p.pattern,
           p.legacy,
           CASE p.tenant_mode
               WHEN 'none' THEN NULL
               WHEN 'host' THEN t.host
               ELSE {tenant}
           END AS tenant
    FROM relayhunt_best AS t
    JOIN {PATTERNS_TABLE} AS p ON p.entry_id = t.entry_id
    LEFT JOIN relayhunt_psl_hits AS h ON h.raw_host = t.raw_host
),
relayhunt_result AS (
    SELECT n.raw_host, n.host, m.entry_id, m.platform, m.provider, m.kind, m.weight,
           m.pattern, m.tenant, m.legacy
    FROM relayhunt_norm AS n
    LEFT JOIN relayhunt_matches AS m ON m.raw_host = n.raw_host
)
SELECT relayhunt_input.*,
       r.host AS {out["normalized_host"]},
       r.entry_id AS {out["id"]},
       r.platform AS {out["platform"]},
       r.provider AS {out["provider"]},
       r.kind AS {out["kind"]},
       r.weight AS {out["weight"]},
       r.pattern AS {out["pattern"]},
       r.tenant AS {out["tenant"]},
       r.legacy AS {out["legacy"]}
FROM {source_relation} AS relayhunt_input
LEFT JOIN relayhunt_result AS r ON r.raw_host = CAST(relayhunt_input.{column} AS STRING)"""


def match_sql(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    host_column: str,
    catalog: Catalog | None = None,
    prefix: str = "serverless",
) -> str:
    """Register the catalog on ``con`` and return :func:`match_query`'s SQL for it.

    Raises ValueError if ``host_column`` is missing or an added column already exists."""
    cat = register_catalog(con, catalog)
    _check_columns(con, source_relation, host_column, [f"{prefix}_{c}" for c in MATCH_COLUMNS])
    return match_query(source_relation, host_column, cat, prefix)


def match_hosts(hosts: Sequence[str | None], catalog: Catalog | None = None) -> pa.Table:
    """Match a list of hostnames (or URLs, ``host:port``) with the same SQL as
    :func:`match_sql`; one row per input, in input order, with column ``host`` (as given)
    followed by the ``serverless_*`` columns."""
    con = duckdb.connect(":memory:")
    try:
        table = pa.table(
            {
                "relayhunt_ordinal": pa.array(range(len(hosts)), pa.int64()),
                "host": pa.array(list(hosts), pa.string()),
            }
        )
        con.register("relayhunt_match_input", table)
        query = match_sql(con, "relayhunt_match_input", "host", catalog)
        columns = ", ".join(["host", *(quote_identifier(f"serverless_{c}") for c in MATCH_COLUMNS)])
        result = con.execute(
            f"SELECT {columns} FROM ({query}) AS relayhunt_matched ORDER BY relayhunt_ordinal"
        ).to_arrow_table()
        return result
    finally:
        con.close()


# ---------------------------------------------------------------------------- processes


def _unquoted_path_sql(path_expr: str) -> str:
    # Surrounding blanks and double quotes, as in a path copied from a command line.
    return f"regexp_replace(regexp_replace({path_expr}, '^[\" ]+', ''), '[\" ]+$', '')"


def process_basename_sql(path_expr: str) -> str:
    """SQL for the lowercase basename of a Windows or POSIX path (``\\`` and ``/`` both
    separate folders; surrounding quotes ignored; NULL when empty)."""
    slashed = f"replace({_unquoted_path_sql(path_expr)}, chr(92), '/')"
    return f"nullif(lower(regexp_extract({slashed}, '[^/]*$', 0)), '')"


def user_writable_dir_sql(path_expr: str, catalog: Catalog | None = None) -> str:
    """SQL for the label of the user-writable folder (temp, appdata, downloads ...) that
    ``path_expr`` lies in, from ``processes.yaml``; NULL when none."""
    cat = _catalog(catalog)
    folder = f"lower(replace({_unquoted_path_sql(path_expr)}, chr(92), '/'))"
    branches = " ".join(
        f"WHEN regexp_matches({folder}, {sql_literal(w.regex)}) THEN {sql_literal(w.label)}"
        for w in cat.writable_paths
    )
    return f"CASE {branches} END"


def classify_process_query(
    source_relation: str,
    path_column: str,
    catalog: Catalog | None = None,
    prefix: str = "process",
) -> str:
    """The SQL that returns every row of ``source_relation`` with the process class of
    ``path_column`` (an image path or a bare image name) added as ``<prefix>_basename``,
    ``<prefix>_category`` (browser | webview | lolbin | NULL), ``<prefix>_subcategory`` and
    ``<prefix>_user_writable_dir``. Needs the ``process_classes`` table
    (:func:`register_catalog`)."""
    cat = _catalog(catalog)
    column = quote_identifier(path_column)
    out = {name: quote_identifier(f"{prefix}_{name}") for name in PROCESS_COLUMNS}
    return f"""WITH relayhunt_paths AS (
    SELECT DISTINCT CAST({column} AS STRING) AS image_path
    FROM {source_relation} AS relayhunt_input
    WHERE {column} IS NOT NULL
),
relayhunt_images AS (
    SELECT image_path,
           {process_basename_sql("image_path")} AS basename,
           {user_writable_dir_sql("image_path", cat)} AS writable_dir
    FROM relayhunt_paths
),
relayhunt_image_classes AS (
    SELECT i.image_path, i.basename, c.category, c.subcategory, i.writable_dir
    FROM relayhunt_images AS i
    LEFT JOIN {PROCESS_CLASSES_TABLE} AS c ON c.name = i.basename
)
SELECT relayhunt_input.*,
       k.basename AS {out["basename"]},
       k.category AS {out["category"]},
       k.subcategory AS {out["subcategory"]},
       k.writable_dir AS {out["user_writable_dir"]}
FROM {source_relation} AS relayhunt_input
LEFT JOIN relayhunt_image_classes AS k
  ON k.image_path = CAST(relayhunt_input.{column} AS STRING)"""


def classify_process_sql(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    path_column: str,
    catalog: Catalog | None = None,
    prefix: str = "process",
) -> str:
    """Register the catalog on ``con`` and return :func:`classify_process_query`'s SQL.

    Raises ValueError if ``path_column`` is missing or an added column already exists."""
    cat = register_catalog(con, catalog)
    _check_columns(con, source_relation, path_column, [f"{prefix}_{c}" for c in PROCESS_COLUMNS])
    return classify_process_query(source_relation, path_column, cat, prefix)


def classify_processes(paths: Sequence[str | None], catalog: Catalog | None = None) -> pa.Table:
    """Classify a list of image paths with the same SQL as :func:`classify_process_sql`;
    one row per input, in order: ``path`` then the ``process_*`` columns."""
    con = duckdb.connect(":memory:")
    try:
        table = pa.table(
            {
                "relayhunt_ordinal": pa.array(range(len(paths)), pa.int64()),
                "path": pa.array(list(paths), pa.string()),
            }
        )
        con.register("relayhunt_process_input", table)
        query = classify_process_sql(con, "relayhunt_process_input", "path", catalog)
        columns = ", ".join(["path", *(quote_identifier(f"process_{c}") for c in PROCESS_COLUMNS)])
        return con.execute(
            f"SELECT {columns} FROM ({query}) AS relayhunt_classified ORDER BY relayhunt_ordinal"
        ).to_arrow_table()
    finally:
        con.close()
