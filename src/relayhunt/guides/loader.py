"""Reading and validating the guide files (``data/<RULE_ID>.yaml``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from importlib.abc import Traversable
from typing import Any

import yaml

from relayhunt.guides.model import SIEMS, Guide, GuideError, Pivot
from relayhunt.guides.render import PLACEHOLDERS, placeholders_in

_REQUIRED = ("rule_id", "title", "summary", "look_first", "pivots", "confirm", "dismiss", "contain")
_OPTIONAL = ("references", "superseded_by")
_PIVOT_KEYS = ("title", "query")


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GuideError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _texts(where: str, value: object, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise GuideError(f"{where}: expected a non-empty list of strings, got {value!r}")
    return [_text(f"{where}[{i}]", item) for i, item in enumerate(value)]


def _pivots(where: str, value: object) -> dict[str, list[Pivot]]:
    if not isinstance(value, dict) or not value:
        raise GuideError(f"{where}: expected a mapping of SIEM name to a list of pivots")
    out: dict[str, list[Pivot]] = {}
    for siem in value:
        if siem not in SIEMS:
            raise GuideError(f"{where}: unknown SIEM {siem!r} (known: {', '.join(SIEMS)})")
    for siem in SIEMS:  # display order, whatever the file's order
        if siem not in value:
            continue
        items = value[siem]
        if not isinstance(items, list) or not items:
            raise GuideError(f"{where}.{siem}: expected a non-empty list of pivots")
        pivots = []
        for i, item in enumerate(items):
            at = f"{where}.{siem}[{i}]"
            if not isinstance(item, dict):
                raise GuideError(f"{at}: expected a mapping with title and query")
            extra = sorted(set(item) - set(_PIVOT_KEYS))
            if extra:
                raise GuideError(f"{at}: unknown key(s) {', '.join(map(str, extra))}")
            title = _text(f"{at}.title", item.get("title"))
            query = _text(f"{at}.query", item.get("query"))
            for name in placeholders_in(query):
                if name not in PLACEHOLDERS:
                    raise GuideError(
                        f"{at}.query: unknown placeholder {{{name}}} "
                        f"(known: {', '.join(sorted(PLACEHOLDERS))})"
                    )
            pivots.append(Pivot(title=title, query=query))
        out[siem] = pivots
    return out


def parse_guide(source: str, data: object) -> Guide:
    """A :class:`Guide` from one file's parsed YAML; ``source`` names it in errors."""
    if not isinstance(data, dict):
        raise GuideError(f"{source}: expected a mapping at the top level")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise GuideError(f"{source}: missing key(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if extra:
        raise GuideError(f"{source}: unknown key(s) {', '.join(extra)}")
    superseded = data.get("superseded_by")
    return Guide(
        rule_id=_text(f"{source}: rule_id", data["rule_id"]),
        title=_text(f"{source}: title", data["title"]),
        summary=" ".join(_text(f"{source}: summary", data["summary"]).split()),
        look_first=_texts(f"{source}: look_first", data["look_first"]),
        pivots=_pivots(f"{source}: pivots", data["pivots"]),
        confirm=_texts(f"{source}: confirm", data["confirm"]),
        dismiss=_texts(f"{source}: dismiss", data["dismiss"]),
        contain=_texts(f"{source}: contain", data["contain"]),
        references=_texts(f"{source}: references", data.get("references", []), allow_empty=True),
        superseded_by=None if superseded is None else _text(f"{source}: superseded_by", superseded),
    )


def load_dir(folder: Traversable) -> dict[str, Guide]:
    """Every ``*.yaml`` guide in ``folder``, by rule id; the file stem must be the id."""
    guides: dict[str, Guide] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"guides/{entry.name}"
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise GuideError(f"{source}: not valid YAML: {exc}") from exc
        guide = parse_guide(source, data)
        if guide.rule_id != entry.name.removesuffix(".yaml"):
            raise GuideError(f"{source}: rule_id {guide.rule_id!r} does not match the file name")
        guides[guide.rule_id] = guide
    return guides


@functools.cache
def load_all() -> Mapping[str, Guide]:
    """The bundled guides, parsed and validated once."""
    return load_dir(resources.files("relayhunt.guides") / "data")


def values_from_finding(finding: Mapping[str, Any]) -> dict[str, str]:
    """Placeholder values from a finding row (a findings NDJSON record): only the
    placeholders the finding has a non-empty value for."""
    stats: Any = finding.get("stats")
    if isinstance(stats, str):
        try:
            stats = json.loads(stats)
        except ValueError:
            stats = None
    if not isinstance(stats, dict):
        stats = {}
    cloud = str(finding.get("rule_id") or "").startswith("RH-CP-") or "provider" in stats
    source_ips = stats.get("source_ips")
    raw: dict[str, Any] = {
        "host": None if cloud else finding.get("host_name"),
        "user": None if cloud else finding.get("user_name"),
        "process": finding.get("process_name"),
        "process_path": finding.get("process_executable"),
        "parent": finding.get("process_parent_name"),
        "parent_path": finding.get("process_parent_executable"),
        "domain": finding.get("destination_domain"),
        "tenant": finding.get("serverless_tenant"),
        "ip": finding.get("destination_ip"),
        "account": stats.get("account") or (finding.get("host_name") if cloud else None),
        "actor": finding.get("user_name") if cloud else None,
        "function": stats.get("target") or stats.get("target_id"),
        "source_ip": source_ips[0] if isinstance(source_ips, list) and source_ips else None,
    }
    # Image and host names compare case-insensitively everywhere; lowercase them so the
    # languages whose comparisons are case-sensitive (LogScale test(), Sumo) still match.
    for key in ("process", "parent", "domain", "tenant"):
        if isinstance(raw[key], str):
            raw[key] = raw[key].lower()
    return {k: str(v) for k, v in raw.items() if v is not None and str(v) != ""}
