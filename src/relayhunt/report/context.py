"""Context the report draws that a finding row does not hold: its process's ancestors.

A finding names its process and the parent; the lineage plot also wants the grandparent
(and one more, where known). :func:`with_process_ancestors` looks them up in the store's
``proc_info`` table (one row per process entity, built by :mod:`relayhunt.enrich.pipeline`)
in one recursive query over all findings, and appends them as a ``process_ancestors``
column (eldest first; ``name``, ``executable``, ``command_line``, ``pid``), which the NDJSON
output writes as ``relayhunt.process.ancestors`` so a report re-rendered from saved
findings draws the same lineage.
"""

from __future__ import annotations

from typing import Final

import duckdb
import pyarrow as pa

MAX_ANCESTORS: Final = 2
"""Ancestors above the parent looked up: the grandparent and its parent."""

ANCESTOR_TYPE: Final = pa.list_(
    pa.struct(
        [
            pa.field("name", pa.string()),
            pa.field("executable", pa.string()),
            pa.field("command_line", pa.string()),
            pa.field("pid", pa.int64()),
        ]
    )
)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def with_process_ancestors(
    findings: pa.Table, con: duckdb.DuckDBPyConnection, *, depth: int = MAX_ANCESTORS
) -> pa.Table:
    """``findings`` with a ``process_ancestors`` column (null where unknown). Without a
    ``proc_info`` table, or findings without ``process_entity_id``, the column is all
    null; the input table is not changed."""
    if "process_ancestors" in findings.column_names:
        return findings
    empty = pa.nulls(findings.num_rows, type=ANCESTOR_TYPE)
    needed = {"finding_id", "host_name", "process_entity_id"}
    if (
        findings.num_rows == 0
        or not needed <= set(findings.column_names)
        or not _has_table(con, "proc_info")
    ):
        return findings.append_column("process_ancestors", empty)
    keys = findings.select(["finding_id", "host_name", "process_entity_id"])
    con.register("_rh_rep_keys", keys)
    try:
        found = con.execute(
            f"""
            WITH RECURSIVE up(finding_id, host_key, entity, level) AS (
              -- level 1: the parent's entity id, from the process's start event
              SELECT k.finding_id, p.host_key, p.process_parent_entity_id, 1
              FROM _rh_rep_keys k
              JOIN proc_info p ON p.host_key = k.host_name
                              AND p.process_entity_id = k.process_entity_id
              WHERE p.process_parent_entity_id IS NOT NULL
              UNION ALL
              SELECT u.finding_id, u.host_key, p.process_parent_entity_id, u.level + 1
              FROM up u
              JOIN proc_info p ON p.host_key = u.host_key AND p.process_entity_id = u.entity
              WHERE u.level < {int(depth)} AND p.process_parent_entity_id IS NOT NULL
            )
            -- ancestor level + 1 is described by the start event of ancestor level (its
            -- parent_* fields) and, where it exists, by its own start event
            SELECT u.finding_id,
                   list(struct_pack(
                          name := coalesce(a.process_name, c.process_parent_name),
                          executable := coalesce(a.process_executable,
                                                 c.process_parent_executable),
                          command_line := coalesce(a.process_command_line,
                                                   c.process_parent_command_line),
                          pid := a.process_pid::BIGINT)
                        ORDER BY u.level DESC) AS process_ancestors
            FROM up u
            JOIN proc_info c ON c.host_key = u.host_key AND c.process_entity_id = u.entity
            LEFT JOIN proc_info a ON a.host_key = c.host_key
                                 AND a.process_entity_id = c.process_parent_entity_id
            WHERE coalesce(a.process_name, c.process_parent_name, a.process_executable,
                           c.process_parent_executable) IS NOT NULL
            GROUP BY u.finding_id
            """
        ).to_arrow_table()
    finally:
        con.unregister("_rh_rep_keys")
    by_id = dict(
        zip(
            found.column("finding_id").to_pylist(),
            found.column("process_ancestors").to_pylist(),
            strict=True,
        )
    )
    if not by_id:
        return findings.append_column("process_ancestors", empty)
    column = pa.array(
        [by_id.get(f) for f in findings.column("finding_id").to_pylist()], type=ANCESTOR_TYPE
    )
    return findings.append_column("process_ancestors", column)
