"""Run the rules of a profile over the enriched store into the ``findings_all`` table."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from relayhunt import model
from relayhunt.detect.base import Rule, install_macros

PROFILES = ("default", "compat", "all")


def select_rules(
    rules: Sequence[Rule], profile: str, enabled: Mapping[str, bool] | None = None
) -> list[Rule]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    chosen = [r for r in rules if profile == "all" or r.profile == profile]
    return [r for r in chosen if (enabled or {}).get(r.id, True)]


def run_rules(
    con: duckdb.DuckDBPyConnection,
    rules: Sequence[Rule],
    *,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    severity: Mapping[str, str] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, int]:
    """Create ``findings_all`` (the findings schema) from ``rules``; returns the number
    of findings per rule. ``severity`` overrides a rule's computed severity; ``timings``,
    when given, receives each rule's wall-clock seconds (its preparation included)."""
    install_macros(con)
    cols = model.FINDINGS
    con.execute("DROP TABLE IF EXISTS findings_all")
    con.execute(model.ddl("findings_all", cols))
    names = [c.name for c in cols if c.name != "finding_id"]
    counts: dict[str, int] = {}
    for rule in rules:
        started = time.perf_counter()
        values = rule.values((thresholds or {}).get(rule.id))
        if rule.prepare is not None:
            rule.prepare(con, values)
        sql = rule.build(values)
        forced = (severity or {}).get(rule.id)
        sev_expr = f"'{forced}'" if forced else "severity"
        select = ", ".join(
            sev_expr
            if n == "severity"
            else f"rh_score({sev_expr}, confidence, score - rh_score(severity, confidence, 0))"
            if n == "score" and forced
            else n
            for n in names
        )
        con.execute(
            f"""INSERT INTO findings_all (finding_id, {", ".join(names)})
                SELECT {FINDING_ID}, {select}
                FROM ({sql})"""
        )
        row = con.execute(
            "SELECT count(*) FROM findings_all WHERE rule_id = ?", [rule.id]
        ).fetchone()
        counts[rule.id] = int(row[0]) if row else 0
        if timings is not None:
            timings[rule.id] = time.perf_counter() - started
    _unique_ids(con)
    return counts


# A finding's id: a hash of what names it (rule, host, process, destination, user), the
# same for the same finding from run to run and over more data. The values are hashed as
# a JSON list, so a NULL in one place cannot read as a value in another (concat_ws skips
# NULLs: host|a|b was the same text whether a was the domain or the tenant). The image and
# parent are part of it: a process id reused by another image (pid-based ids, synthetic
# data) gave two RH-SL-001 findings one id, and with it one incident link for both.
FINDING_ID = """substr(md5(to_json([rule_id, host_name,
                  coalesce(process_entity_id, process_executable, process_name),
                  process_executable,
                  coalesce(process_parent_executable, process_parent_name),
                  destination_domain, serverless_tenant, user_name])), 1, 16)"""


def _unique_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Findings whose names still coincide get ``-2``, ``-3``, ... in a fixed order (the
    incidents, the report and ``explain --id`` key on the id)."""
    dup = con.execute(
        "SELECT count(*) FROM (SELECT finding_id FROM findings_all GROUP BY 1 HAVING count(*) > 1)"
    ).fetchone()
    if not dup or not dup[0]:
        return
    con.execute(
        """
        UPDATE findings_all f SET finding_id = f.finding_id || '-' || d.n
        FROM (SELECT rowid AS r, row_number() OVER (
                       PARTITION BY finding_id
                       ORDER BY first_seen, last_seen, event_count, reason, stats,
                                to_json(evidence)) AS n
              FROM findings_all) d
        WHERE f.rowid = d.r AND d.n > 1
        """
    )
