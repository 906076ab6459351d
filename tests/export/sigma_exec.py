"""Execute exported Sigma rules with a real engine: pySigma's SQLite backend
(``pysigma-backend-sqlite``, the converter behind Zircolite) over emulated events loaded
as rows with Sigma field names into an in-memory SQLite table ``logs``.

Why SQLite and not our own DuckDB conversion: the backend is maintained by the Sigma
project's ecosystem, implements Sigma's modifiers (``endswith``, ``re``, ``contains``,
``null``) and Sigma v2 correlations (``event_count``, ``temporal_ordered``) itself, so a
wrong rule cannot be hidden by a converter we wrote to agree with it.

Field names:
- Sysmon: NXLog ``im_msvistalog`` flattened JSON already uses the EventData names
  (``Image``, ``QueryName``, ``CommandLine`` ...); the System ``Computer`` is NXLog's
  ``Hostname`` and is copied to ``Computer``. The Windows logsource categories become
  ``EventID`` conditions (as the Sysmon pipeline of pySigma does): process_creation 1,
  network_connection 3, file_event 11, dns_query 22.
- CloudTrail: the record flattened with dots (``userIdentity.arn``,
  ``requestParameters.authType``); lists kept as JSON text.
- Google Cloud audit: ``protoPayload`` keys in snake case under ``gcp.audit.``
  (``gcp.audit.method_name``, ``gcp.audit.authentication_info.principal_email``), as the
  Elastic GCP integration and SigmaHQ's gcp rules name them.
- Azure Activity Log: flattened; ``Caller`` is the UPN claim or else the ``appid`` claim
  (what the Activity Log API and Sentinel's ``AzureActivity.Caller`` hold).
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation
from sigma.rule import SigmaRule

SYSMON_EVENT_IDS = {
    "process_creation": 1,
    "network_connection": 3,
    "file_event": 11,
    "dns_query": 22,
}
NXLOG_HEADER = ("ProcessID", "ThreadID")
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


def windows_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="relayhunt test: Sysmon categories to EventID",
        priority=10,
        items=[
            ProcessingItem(
                identifier=f"sysmon_{category}",
                transformation=AddConditionTransformation({"EventID": eid}),
                rule_conditions=[LogsourceCondition(category=category, product="windows")],
            )
            for category, eid in SYSMON_EVENT_IDS.items()
        ],
    )


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: object) -> int:
    if value is None:
        return 0
    return int(_compiled(pattern).search(str(value)) is not None)


def _flatten(obj: Any, prefix: str, out: dict[str, Any], *, snake: bool = False) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = _snake(k) if snake else k
            _flatten(v, f"{prefix}.{key}" if prefix else key, out, snake=snake)
    elif isinstance(obj, list):
        out[prefix] = json.dumps(obj, sort_keys=True)
    else:
        out[prefix] = obj


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().lstrip("@")


def connect(rows: Iterable[dict[str, Any]]) -> sqlite3.Connection:
    """An in-memory SQLite database with the rows as table ``logs`` (every value text or
    number; a missing field is NULL) and a ``REGEXP`` function (Python ``re``)."""
    con = sqlite3.connect(":memory:")
    con.create_function("REGEXP", 2, _regexp, deterministic=True)
    data = list(rows)
    columns = sorted({k for r in data for k in r} | {"timestamp"})
    quoted = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"CREATE TABLE logs ({quoted})")
    marks = ", ".join("?" for _ in columns)
    con.executemany(
        f"INSERT INTO logs ({quoted}) VALUES ({marks})",
        ([r.get(c) for c in columns] for r in data),
    )
    return con


def sysmon_json_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            # NXLog's own header fields; ProcessID (the Sysmon service's pid) would clash
            # with EventData ProcessId in SQLite's case-insensitive column names.
            for key in NXLOG_HEADER:
                rec.pop(key, None)
            rec["Computer"] = rec.get("Hostname")
            rec["timestamp"] = rec.get("UtcTime") or rec.get("EventTime")
            yield {k: v for k, v in rec.items() if not isinstance(v, (dict, list))}


def cloudtrail_rows(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.rglob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for rec in json.load(fh)["Records"]:
                row: dict[str, Any] = {}
                _flatten(rec, "", row)
                row["timestamp"] = rec["eventTime"].replace("T", " ").rstrip("Z")
                yield row


def gcp_rows(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.rglob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            row: dict[str, Any] = {}
            _flatten(rec.get("protoPayload", {}), "gcp.audit", row, snake=True)
            row["timestamp"] = rec["timestamp"].replace("T", " ").rstrip("Z")
            yield row


def azure_rows(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.rglob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            for rec in json.loads(line)["records"]:
                claims = rec.get("identity", {}).get("claims", {})
                row: dict[str, Any] = {}
                _flatten({k: v for k, v in rec.items() if k != "identity"}, "", row)
                row["Caller"] = claims.get(UPN) or claims.get("appid")
                row["timestamp"] = rec["time"].replace("T", " ").rstrip("Z")[:23]
                yield row


@dataclass(frozen=True)
class SigmaHit:
    rule_name: str  # the Sigma rule's name (correlations: the correlation's id)
    relayhunt_rule: str
    rowids: tuple[int, ...]  # the matching events (for correlations: their evidence)


def convert_file(
    text: str, pipeline: ProcessingPipeline
) -> list[tuple[SigmaRule | SigmaCorrelationRule, str]]:
    """Every alert-producing rule of a Sigma file (correlations, and the rules no
    correlation references) with its SQLite query. The whole file is converted at once, as
    the backend needs a correlation's base rules converted with it."""
    collection = SigmaCollection.from_yaml(text)
    collection.resolve_rule_references()
    producing = [
        r for r in collection.rules if isinstance(r, SigmaCorrelationRule) or not r._backreferences
    ]
    queries = [q for q in sqliteBackend(processing_pipeline=pipeline).convert(collection)]
    assert len(queries) == len(producing), (len(queries), len(producing))
    assert all(isinstance(q, str) for q in queries)
    return [(rule, str(q)) for rule, q in zip(producing, queries, strict=True)]


def logsource_product(rule: SigmaRule | SigmaCorrelationRule) -> str | None:
    if isinstance(rule, SigmaCorrelationRule):
        first = rule.rules[0].rule
        assert isinstance(first, SigmaRule)
        return first.logsource.product
    return rule.logsource.product


def run_query(
    con: sqlite3.Connection, rule: SigmaRule | SigmaCorrelationRule, query: str
) -> tuple[int, ...]:
    """Run one converted rule; the rowids of the matching events (for a correlation, the
    evidence events of every alert)."""
    _ensure_columns(con, query)
    if isinstance(rule, SigmaCorrelationRule):
        ids: list[int] = []
        for (evidence,) in con.execute(f"SELECT event_ids FROM ({query})"):
            ids.extend(int(e.split(":", 1)[1]) for e in json.loads(evidence))
        return tuple(sorted(set(ids)))
    head = "SELECT * FROM logs WHERE "
    assert query.startswith(head), query[:80]
    return tuple(r[0] for r in con.execute("SELECT rowid FROM logs WHERE " + query[len(head) :]))


def _ensure_columns(con: sqlite3.Connection, query: str) -> None:
    """A field the rule names but no event has is a NULL column (as a SIEM's missing
    field), not an SQL error: add it."""
    while True:
        try:
            con.execute(f"EXPLAIN {query}")
            return
        except sqlite3.OperationalError as exc:
            m = re.match(r"no such column: (.+)", str(exc))
            if not m:
                raise
            con.execute(f'ALTER TABLE logs ADD COLUMN "{m.group(1).strip("`")}"')
