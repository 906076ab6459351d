"""Findings and incidents as NDJSON: one ECS-style JSON object per line.

The flat columns of model.FINDINGS / model.INCIDENTS are nested by their ECS names
(``Column.ecs``: ``process_parent_name`` -> ``process.parent.name``; ECS names with an
underscore in the leaf, like ``process.command_line``, are spelled as ECS does), except for the keys
the project's output contract names at the top level (``severity``, ``confidence``,
``score``, ``reason``, ``evidence``), a few incident columns whose ECS name is only a
mechanical spelling of the column (see :data:`INCIDENT_KEYS`), and these derived keys:

* ``@timestamp``: ``first_seen``;
* ``event.kind``: ``"alert"``;
* ``event.risk_score``: the score again (ECS ``float``);
* ``event.severity``: the severity as the number Elastic detection rules use
  (low 21, medium 47, high 73, critical 99; info 0), because ECS types it as ``long``;
* ``relayhunt.stats``: the ``stats`` JSON text parsed into an object (text that is not a
  JSON object goes to ``relayhunt.stats_raw`` as it is, so nothing is lost and an ECS
  mapping of ``relayhunt.stats`` as an object still holds).

Times are RFC 3339 UTC with microseconds and ``Z``. Null values, NaN scores and empty lists
are left out. Output is ASCII (``ensure_ascii``): every non-ASCII character, including bidi
overrides and U+2028/U+2029 (which some line splitters treat as newlines), is a ``\\uXXXX``
escape, so one finding is always exactly one line. docs/outputs.md lists every key.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final

import pyarrow as pa

from relayhunt import model
from relayhunt.report._common import iter_rows, parse_stats, rfc3339

# Elastic detection-rule convention for event.severity (ECS long).
SEVERITY_NUMBERS: Final[dict[str, int]] = {
    "info": 0,
    "low": 21,
    "medium": 47,
    "high": 73,
    "critical": 99,
}

# Finding columns whose key differs from Column.ecs: the contract's top-level keys, and
# ECS fields whose leaf name has an underscore, which model.py's mechanical default
# (``_`` -> ``.``) spells wrong (``process.command.line``; ECS: ``process.command_line``).
FINDING_KEYS: Final[dict[str, str]] = {
    "process_entity_id": "process.entity_id",
    "process_command_line": "process.command_line",
    "process_parent_command_line": "process.parent.command_line",
    "severity": "severity",
    "confidence": "confidence",
    "score": "score",
    "reason": "reason",
    "evidence": "evidence",
    "stats": "relayhunt.stats",
}

# Incident columns: the same top-level keys as findings, ECS names where ECS has the field.
INCIDENT_KEYS: Final[dict[str, str]] = {
    "risk_score": "score",
    "severity": "severity",
    "first_seen": "relayhunt.first_seen",
    "last_seen": "relayhunt.last_seen",
    "finding_ids": "relayhunt.incident.finding_ids",
    "rule_ids": "rule.id",
    "destinations": "destination.domain",
    "summary": "message",
    "story": "relayhunt.incident.story",
}

_EVIDENCE_KEYS: Final[dict[str, str]] = {
    "timestamp": "@timestamp",
    "event_kind": "kind",
    "log_format": "log.format",
    "log_file_path": "log.file.path",
    "log_line": "log.file.line",
    "log_record": "log.file.record",
}

PathOrStream = str | os.PathLike[str] | IO[str]


def _key_map(columns: tuple[model.Column, ...], overrides: Mapping[str, str]) -> dict[str, str]:
    keys = {c.name: c.ecs for c in columns}
    keys.update(overrides)
    return keys


_FINDING_KEY_MAP: Final = _key_map(model.FINDINGS, FINDING_KEYS)
_INCIDENT_KEY_MAP: Final = _key_map(model.INCIDENTS, INCIDENT_KEYS)


def _clean(value: object) -> object:
    """JSON-ready value, or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        items = [c for c in (_clean(v) for v in value) if c is not None]
        return items or None
    if isinstance(value, Mapping):
        out = {str(k): c for k, v in value.items() if (c := _clean(v)) is not None}
        return out or None
    if isinstance(value, bytes):
        return value.hex()
    return value


def _put(doc: dict[str, Any], dotted: str, value: object) -> None:
    """Set ``doc[a][b][c] = value`` for ``dotted`` ``a.b.c``."""
    *parents, leaf = dotted.split(".")
    node = doc
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"key {dotted!r} conflicts with the value at {part!r}")
        node = child
    if isinstance(node.get(leaf), dict):
        raise ValueError(f"key {dotted!r} conflicts with the object already there")
    node[leaf] = value


def _evidence(items: object) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ref: dict[str, Any] = {}
        for name, value in item.items():
            cleaned = _clean(value)
            if cleaned is not None:
                _put(ref, _EVIDENCE_KEYS.get(str(name)) or str(name), cleaned)
        if ref:
            out.append(ref)
    return out or None


def _document(row: Mapping[str, Any], keys: Mapping[str, str], score_column: str) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    first_seen = row.get("first_seen")
    if isinstance(first_seen, dt.datetime):
        doc["@timestamp"] = rfc3339(first_seen)
    for name, raw in row.items():
        key = keys.get(name, f"relayhunt.{name}")
        if name == "evidence":
            value: object = _evidence(raw)
        elif name == "stats":
            parsed, ok = parse_stats(raw)
            if ok and isinstance(parsed, Mapping):
                value = _clean(parsed)
            else:  # not a JSON object: keep the text where an object is not expected
                value = None
                if raw is not None:
                    _put(doc, "relayhunt.stats_raw", str(raw))
        else:
            value = _clean(raw)
        if value is not None:
            _put(doc, key, value)
    severity = row.get("severity")
    event: dict[str, Any] = {"kind": "alert"}
    if isinstance(severity, str) and severity in SEVERITY_NUMBERS:
        event["severity"] = SEVERITY_NUMBERS[severity]
    score = _clean(row.get(score_column))
    if score is not None:
        event["risk_score"] = score
    for key, value in event.items():
        _put(doc, f"event.{key}", value)
    return doc


def finding_documents(findings: pa.Table) -> Iterator[dict[str, Any]]:
    """One nested JSON-ready dict per finding, in table order."""
    for row in iter_rows(findings):
        yield _document(row, _FINDING_KEY_MAP, "score")


def incident_documents(incidents: pa.Table) -> Iterator[dict[str, Any]]:
    """One nested JSON-ready dict per incident, in table order."""
    for row in iter_rows(incidents):
        yield _document(row, _INCIDENT_KEY_MAP, "risk_score")


def dumps(document: Mapping[str, Any]) -> str:
    """One document as a single line of ASCII JSON (no trailing newline)."""
    return json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _write(
    documents: Callable[[pa.Table], Iterator[dict[str, Any]]],
    table: pa.Table,
    path_or_stream: PathOrStream,
) -> int:
    if isinstance(path_or_stream, str | os.PathLike):
        with Path(path_or_stream).open("w", encoding="utf-8", newline="\n") as fh:
            return _write_lines(documents(table), fh)
    return _write_lines(documents(table), path_or_stream)


def _write_lines(documents: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for doc in documents:
        out.write(dumps(doc))
        out.write("\n")
        count += 1
    return count


def write_findings(findings: pa.Table, path_or_stream: PathOrStream) -> int:
    """Write one line per finding to a path or an open text stream; returns the count."""
    return _write(finding_documents, findings, path_or_stream)


def write_incidents(incidents: pa.Table, path_or_stream: PathOrStream) -> int:
    """Write one line per incident to a path or an open text stream; returns the count."""
    return _write(incident_documents, incidents, path_or_stream)
