"""The Python API: hunt over telemetry and get Arrow tables back.

    >>> from relayhunt.api import hunt
    >>> result = hunt(["logs/"])                      # doctest: +SKIP
    >>> result.findings.to_pandas().head()            # doctest: +SKIP

Every table follows model.py (``FINDINGS``, ``INCIDENTS``); the store stays open on the
result for further SQL (``result.store.con``) until ``result.close()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from relayhunt import __version__, model
from relayhunt.config import Config, load_config, suppression_reason_sql, suppression_sql
from relayhunt.correlate import correlate
from relayhunt.detect import rules as all_rules
from relayhunt.detect.base import SEVERITIES
from relayhunt.detect.run import run_rules, select_rules
from relayhunt.enrich.pipeline import prepare
from relayhunt.ingest import IngestResult, ProgressFn, ingest
from relayhunt.store import Store


@dataclass
class HuntResult:
    """What a hunt found. Tables are Arrow; ``store`` keeps every intermediate table."""

    findings: pa.Table
    incidents: pa.Table
    suppressed: pa.Table
    """Findings an allowlist entry matched, with ``suppressed_by`` (the entry's reason)."""
    below_min_severity: int
    rule_counts: dict[str, int]
    ingest: IngestResult
    summary: dict[str, Any]
    store: Store
    config: Config
    inputs: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> HuntResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hunt(
    paths: Sequence[str | Path],
    config: Config | str | Path | None = None,
    *,
    profile: str | None = None,
    min_severity: str | None = None,
    store: Store | None = None,
    progress: ProgressFn | None = None,
    max_record_bytes: int | None = None,
) -> HuntResult:
    """Read ``paths``, run the detections of the profile, correlate, and return tables.

    ``config`` is a :class:`Config` or a path to a tuning YAML file; ``profile`` and
    ``min_severity`` override the config's.
    """
    registry = {r.id: dict(r.thresholds) for r in all_rules()}
    cfg = (
        config
        if isinstance(config, Config)
        else load_config(Path(config) if config is not None else None, rules=registry)
    )
    chosen_profile = profile or cfg.profile
    floor = min_severity or cfg.min_severity
    if floor not in SEVERITIES:
        raise ValueError(f"unknown severity {floor!r} (one of {', '.join(SEVERITIES)})")
    st = store or Store(memory_limit="auto")
    inputs = [str(p) for p in paths]
    kwargs: dict[str, Any] = {"progress": progress}
    if max_record_bytes is not None:
        kwargs["max_record_bytes"] = max_record_bytes
    ingested = ingest(inputs, st, **kwargs)
    con = st.con
    prepare(con)
    enabled = {r.id: cfg.rule_enabled(r.id) for r in all_rules()}
    chosen = select_rules(all_rules(), chosen_profile, enabled)
    counts = run_rules(
        con,
        chosen,
        thresholds={r.id: cfg.rule_thresholds(r.id) for r in chosen},
        severity={r.id: s for r in chosen if (s := cfg.rule_severity(r.id))},
    )
    match = suppression_sql(cfg)
    reason = suppression_reason_sql(cfg)
    con.execute(
        f"""CREATE OR REPLACE TABLE findings_marked AS
            SELECT *, ({match}) AS _suppressed, ({reason}) AS suppressed_by
            FROM findings_all"""
    )
    floor_rank = SEVERITIES.index(floor)
    con.execute("DROP TABLE IF EXISTS findings")
    con.execute(model.ddl("findings", model.FINDINGS))
    names = ", ".join(c.name for c in model.FINDINGS)
    con.execute(
        f"""INSERT INTO findings SELECT {names} FROM findings_marked
            WHERE NOT coalesce(_suppressed, false) AND rh_sev_rank(severity) >= {floor_rank}"""
    )
    below = con.execute(
        f"SELECT count(*) FROM findings_marked WHERE NOT coalesce(_suppressed, false) "
        f"AND rh_sev_rank(severity) < {floor_rank}"
    ).fetchone()
    correlate(con, "findings")
    findings = con.execute(
        f"SELECT {names} FROM findings ORDER BY score DESC, first_seen, finding_id"
    ).to_arrow_table()
    incidents = con.execute(
        "SELECT * FROM incidents ORDER BY risk_score DESC, first_seen, incident_id"
    ).to_arrow_table()
    suppressed = con.execute(
        f"SELECT {names}, suppressed_by FROM findings_marked "
        "WHERE coalesce(_suppressed, false) ORDER BY score DESC, finding_id"
    ).to_arrow_table()
    summary = {
        "version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "profile": chosen_profile,
        "min_severity": floor,
        "rules": counts,
        "suppressed": suppressed.num_rows,
        "below_min_severity": int(below[0]) if below else 0,
        "ingest": st.summary(),
        "config_warnings": cfg.warnings(),
    }
    return HuntResult(
        findings=findings,
        incidents=incidents,
        suppressed=suppressed,
        below_min_severity=summary["below_min_severity"],
        rule_counts=counts,
        ingest=ingested,
        summary=summary,
        store=st,
        config=cfg,
        inputs=inputs,
    )
