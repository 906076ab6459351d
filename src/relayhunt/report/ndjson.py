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
    # not a model.FINDINGS column: added by the hunt for the report (report/context.py)
    "process_ancestors": "relayhunt.process.ancestors",
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


# ------------------------------------------------------------------------------ reading
# The inverse of the writer, so `relayhunt report` can re-render saved output: every key
# the writer produces for a column is read back into that column; the derived keys
# (``@timestamp``, ``event.*``) are recomputed, not read.


class NdjsonError(ValueError):
    """A line of a findings or incidents file that cannot be read (``path:line: why``)."""


def _get(doc: Mapping[str, Any], dotted: str) -> object:
    node: object = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _evidence_back(items: object) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ref = {name: _get(item, key) for name, key in _EVIDENCE_KEYS.items()}
        ref["timestamp"] = _parse_time(ref["timestamp"])
        out.append(ref)
    return out


def _read(
    path: str | os.PathLike[str],
    table: str,
    keys: Mapping[str, str],
    extra: Mapping[str, pa.DataType],
) -> pa.Table:
    schema = model.arrow_schema(table)
    for name, type_ in extra.items():
        schema = schema.append(pa.field(name, type_))
    columns: dict[str, list[object]] = {f.name: [] for f in schema}
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as exc:
                raise NdjsonError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(doc, dict):
                raise NdjsonError(f"{path}:{number}: not a JSON object")
            for field in schema:
                raw = _get(doc, keys.get(field.name, f"relayhunt.{field.name}"))
                value: object = raw
                if field.name == "evidence":
                    value = _evidence_back(raw)
                elif field.name == "stats":
                    if raw is None:
                        raw_text = _get(doc, "relayhunt.stats_raw")
                        value = raw_text if isinstance(raw_text, str) else None
                    else:
                        value = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
                elif pa.types.is_timestamp(field.type):
                    try:
                        value = _parse_time(raw)
                    except ValueError:
                        raise NdjsonError(
                            f"{path}:{number}: {field.name}: not an RFC 3339 time: {raw!r}"
                        ) from None
                columns[field.name].append(value)
    try:
        return pa.table(
            {f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise NdjsonError(f"{path}: a value has the wrong type: {exc}") from None


def read_findings(path: str | os.PathLike[str]) -> pa.Table:
    """Findings written by :func:`write_findings` back as a table (model.FINDINGS plus
    ``process_ancestors``). Raises :class:`NdjsonError` naming the line on bad input."""
    from relayhunt.report.context import ANCESTOR_TYPE

    return _read(path, "findings", _FINDING_KEY_MAP, {"process_ancestors": ANCESTOR_TYPE})


def read_incidents(path: str | os.PathLike[str]) -> pa.Table:
    """Incidents written by :func:`write_incidents` back as a table (model.INCIDENTS)."""
    return _read(path, "incidents", _INCIDENT_KEY_MAP, {})


def empty_incidents() -> pa.Table:
    """An incidents table with no rows (model.INCIDENTS)."""
    return model.arrow_schema("incidents").empty_table()
