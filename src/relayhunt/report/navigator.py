"""The ATT&CK techniques the findings hit, as an ATT&CK Navigator layer (format 4.5).

Open the file in the Navigator (https://mitre-attack.github.io/attack-navigator/, "Open
Existing Layer" -> "Upload from local"); nothing here reaches the network. Each technique
the findings name (``threat_technique_id``) gets one entry:

* ``score``: the number of findings (``score="count"``, the default) or the highest finding
  score, 0-100 (``score="max"``);
* ``comment``: the rules that hit it, with their finding counts (``RH-SL-005 (3), ...``);
* ``metadata``: findings, hosts, highest severity and score;

and the layer's gradient runs from 0 to the highest score. Sub-techniques are shown
expanded where annotated (``layout.expandedSubtechniques = "annotated"``), so
T1583.007 (Serverless) is visible without clicking.

:func:`validate_layer` checks a layer against the 4.5 format's required fields and types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import pyarrow as pa

from relayhunt.config import SEVERITIES
from relayhunt.report._common import iter_rows

LAYER_VERSION: Final = "4.5"
NAVIGATOR_VERSION: Final = "5.1.0"
"""The Navigator release the layer is written for (4.5 layers need at least 4.9.0)."""
ATTACK_VERSION: Final = "16"
DOMAIN: Final = "enterprise-attack"
DOMAINS: Final = frozenset({"enterprise-attack", "mobile-attack", "ics-attack"})
TECHNIQUE_ID: Final = re.compile(r"^T\d{4}(\.\d{3})?$")
GRADIENT: Final = ("#ffe766", "#ff6666")

ScoreBy = Literal["count", "max"]


def layer(
    findings: pa.Table,
    *,
    name: str = "relayhunt findings",
    description: str | None = None,
    score: ScoreBy = "count",
) -> dict[str, Any]:
    """The layer (a JSON-ready dict) of the techniques in ``findings``."""
    if score not in ("count", "max"):
        raise ValueError(f"score must be 'count' or 'max', not {score!r}")
    per: dict[str, dict[str, Any]] = {}
    cols = [
        c
        for c in ("threat_technique_id", "rule_id", "host_name", "score", "severity")
        if c in findings.column_names
    ]
    for row in iter_rows(findings.select(cols)):
        techniques = row.get("threat_technique_id") or []
        for tid in dict.fromkeys(str(t).strip() for t in techniques if t):
            if not TECHNIQUE_ID.match(tid):
                continue  # not an ATT&CK id: the Navigator would reject the layer
            agg = per.setdefault(
                tid, {"count": 0, "rules": {}, "hosts": set(), "max": None, "sev": -1}
            )
            agg["count"] += 1
            rule = str(row.get("rule_id") or "?")
            agg["rules"][rule] = agg["rules"].get(rule, 0) + 1
            if row.get("host_name"):
                agg["hosts"].add(str(row["host_name"]))
            value = row.get("score")
            if isinstance(value, int | float) and value == value:
                agg["max"] = value if agg["max"] is None else max(agg["max"], value)
            sev = row.get("severity")
            if sev in SEVERITIES:
                agg["sev"] = max(agg["sev"], SEVERITIES.index(sev))
    techniques_out: list[dict[str, Any]] = []
    for tid in sorted(per):
        agg = per[tid]
        value = agg["count"] if score == "count" else round(float(agg["max"] or 0.0), 1)
        rules = ", ".join(f"{r} ({n})" for r, n in sorted(agg["rules"].items()))
        meta = [
            {"name": "findings", "value": str(agg["count"])},
            {"name": "hosts", "value": str(len(agg["hosts"]))},
            {"name": "rules", "value": ", ".join(sorted(agg["rules"]))},
        ]
        if agg["sev"] >= 0:
            meta.append({"name": "highest severity", "value": SEVERITIES[agg["sev"]]})
        if agg["max"] is not None:
            meta.append({"name": "highest score", "value": f"{float(agg['max']):.1f}"})
        techniques_out.append(
            {
                "techniqueID": tid,
                "score": value,
                "comment": f"relayhunt rules: {rules}",
                "enabled": True,
                "metadata": meta,
                "showSubtechniques": True,
            }
        )
    top = max((float(t["score"]) for t in techniques_out), default=0.0)
    what = "number of findings" if score == "count" else "highest finding score (0-100)"
    return {
        "name": name,
        "versions": {
            "attack": ATTACK_VERSION,
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": DOMAIN,
        "description": description
        or f"Techniques hit by {findings.num_rows} relayhunt finding(s); score = {what}.",
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "aggregateFunction": "max",
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": techniques_out,
        "gradient": {
            "colors": list(GRADIENT),
            "minValue": 0,
            "maxValue": max(top, 1.0) if score == "count" else 100,
        },
        "legendItems": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": [
            {"name": "generated by", "value": "relayhunt"},
            {"name": "score", "value": what},
        ],
    }


def write_layer(
    path: str | Path, findings: pa.Table, *, score: ScoreBy = "count", name: str | None = None
) -> None:
    """Write :func:`layer` as pretty JSON (UTF-8) to ``path``."""
    doc = layer(findings, score=score, name=name or "relayhunt findings")
    problems = validate_layer(doc)
    if problems:  # a bug here, not bad input: never write a layer the Navigator refuses
        raise ValueError("invalid Navigator layer: " + "; ".join(problems))
    Path(path).write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n"
    )


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def validate_layer(doc: object) -> list[str]:
    """Problems with ``doc`` as a layer of format 4.5 (empty: valid): the required fields
    and the types of the fields relayhunt writes."""
    if not isinstance(doc, Mapping):
        return ["a layer is a JSON object"]
    problems: list[str] = []
    if not isinstance(doc.get("name"), str) or not doc.get("name"):
        problems.append("name: required string")
    if doc.get("domain") not in DOMAINS:
        problems.append(f"domain: one of {sorted(DOMAINS)}")
    versions = doc.get("versions")
    if versions is not None:
        if not isinstance(versions, Mapping):
            problems.append("versions: object")
        else:
            if versions.get("layer") != LAYER_VERSION:
                problems.append('versions.layer: must be "4.5"')
            nav = versions.get("navigator")
            if not isinstance(nav, str) or _version_tuple(nav) < (4, 9, 0):
                problems.append('versions.navigator: required, at least "4.9.0"')
    techniques = doc.get("techniques", [])
    if not isinstance(techniques, list):
        problems.append("techniques: array")
        techniques = []
    for i, t in enumerate(techniques):
        where = f"techniques[{i}]"
        if not isinstance(t, Mapping):
            problems.append(f"{where}: object")
            continue
        tid = t.get("techniqueID")
        if not isinstance(tid, str) or not TECHNIQUE_ID.match(tid):
            problems.append(f"{where}.techniqueID: required, T#### or T####.###")
        if "score" in t and not _is_number(t["score"]):
            problems.append(f"{where}.score: number")
        for key, kind in (("comment", str), ("enabled", bool), ("showSubtechniques", bool)):
            if key in t and not isinstance(t[key], kind):
                problems.append(f"{where}.{key}: {kind.__name__}")
        for j, m in enumerate(t.get("metadata", []) or []):
            if not isinstance(m, Mapping) or not (
                m.get("divider") is True
                or (isinstance(m.get("name"), str) and isinstance(m.get("value"), str))
            ):
                problems.append(f"{where}.metadata[{j}]: name and value strings")
    gradient = doc.get("gradient")
    if gradient is not None:
        if not isinstance(gradient, Mapping):
            problems.append("gradient: object")
        else:
            colors = gradient.get("colors")
            if not isinstance(colors, list) or len(colors) < 2:
                problems.append("gradient.colors: at least two colors")
            lo, hi = gradient.get("minValue"), gradient.get("maxValue")
            if not _is_number(lo) or not _is_number(hi) or not hi > lo:  # type: ignore[operator]
                problems.append("gradient: minValue and maxValue numbers, maxValue > minValue")
    for j, m in enumerate(doc.get("metadata", []) or []):
        if not isinstance(m, Mapping) or not (
            m.get("divider") is True
            or (isinstance(m.get("name"), str) and isinstance(m.get("value"), str))
        ):
            problems.append(f"metadata[{j}]: name and value strings")
    if "sorting" in doc and doc["sorting"] not in (0, 1, 2, 3):
        problems.append("sorting: 0, 1, 2 or 3")
    return problems
