"""Emulate scenarios into files: every scenario in every requested format, the ground truth
(``truth.json``) and the estate's tuning file (``tuning.yaml``) beside them.

Layout of the output folder::

    truth.json           what must fire, what must not, per scenario and format
    tuning.yaml          the allowlist of the benign scenarios (docs/tuning.md)
    <format>/...         the telemetry of every selected scenario, as the product writes it

All scenarios of one run share each format's files, as one estate's sensors would write
them (every scenario has its own hosts; ``truth.json`` says which); the files are few
because readers pay a fixed cost per file. Hunt one format folder at a time
(``relayhunt hunt OUT/ecs --config OUT/tuning.yaml``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from relayhunt import __version__
from relayhunt.emulate import truth
from relayhunt.emulate.model import Builder, Connection, DnsLookup, Host, Telemetry, merge
from relayhunt.emulate.scenarios import FLEET_FORBIDS, SCENARIOS, Scenario, m365_background
from relayhunt.emulate.truth import Forbid, gap_for, not_applicable, rule_matches
from relayhunt.emulate.writers import FORMATS, Format

DEFAULT_START = "2026-11-03T09:00:00Z"
DEFAULT_SEED = 1
TRUTH_VERSION = 1


def parse_start(text: str) -> float:
    """ISO 8601 time (``Z`` or an offset; naive = UTC) -> POSIX seconds."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _stable(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def build(scenario: Scenario, *, seed: int = DEFAULT_SEED, start: float | None = None) -> Telemetry:
    """The telemetry of one scenario. Each scenario draws from its own stream of the
    seed, so adding a scenario never changes the others."""
    rng = np.random.default_rng([seed, _stable(scenario.name)])
    b = Builder(parse_start(DEFAULT_START) if start is None else start, rng)
    scenario.build(b)
    if scenario.background:
        last: dict[str, float] = {}
        for ev in b.events:
            name = ev.proc.host.name
            last[name] = max(last.get(name, ev.t), ev.t)
        for h in list(b.hosts):
            if h.workstation:
                m365_background(b, h, last.get(h.name, b.start))
    return b.build()


def appears_in(scenario: Scenario, fmt: Format) -> str | None:
    """Why ``scenario`` has nothing to write in ``fmt`` (None: it does)."""
    if fmt.family == "cloud" and fmt.name not in scenario.clouds:
        return "no cloud control-plane activity in this scenario"
    if fmt.family != "cloud" and scenario.off_estate:
        return scenario.off_estate
    return None


def registered_rules() -> list[str]:
    from relayhunt.detect import rules

    return [r.id for r in rules()]


def destinations(tel: Telemetry) -> dict[str, list[str]]:
    """Every hostname the telemetry resolves or connects to, with its addresses."""
    out: dict[str, list[str]] = {}
    for ev in tel.events:
        if isinstance(ev, DnsLookup | Connection):
            out.setdefault(ev.dest.domain, list(ev.dest.ips))
    return out


@dataclass
class Emulation:
    """What :func:`emulate` wrote."""

    out: Path
    scenarios: list[Scenario]
    formats: list[Format]
    telemetry: dict[str, Telemetry]
    files: dict[str, list[Path]] = field(default_factory=dict)
    """Files written per format."""
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def truth_path(self) -> Path:
        return self.out / "truth.json"

    @property
    def tuning_path(self) -> Path:
        return self.out / "tuning.yaml"


def emulate(
    out: Path,
    scenarios: Sequence[Scenario] = SCENARIOS,
    formats: Sequence[Format] = FORMATS,
    *,
    seed: int = DEFAULT_SEED,
    start: float | None = None,
) -> Emulation:
    """Write ``scenarios`` in ``formats`` under ``out``, with ``truth.json`` and
    ``tuning.yaml``."""
    t0 = parse_start(DEFAULT_START) if start is None else start
    out.mkdir(parents=True, exist_ok=True)
    em = Emulation(out, list(scenarios), list(formats), {})
    seen: dict[str, str] = {}
    for sc in scenarios:
        tel = build(sc, seed=seed, start=t0)
        for h in tel.hosts:
            for key in (h.name, h.ip):
                if key in seen:
                    raise ValueError(f"{sc.name} and {seen[key]} both use {key}")
                seen[key] = sc.name
        em.telemetry[sc.name] = tel
    for fmt in formats:
        chosen = [em.telemetry[sc.name] for sc in scenarios if appears_in(sc, fmt) is None]
        if chosen:
            em.files[fmt.name] = fmt.write(merge(chosen), out / fmt.name)
    em.truth = truth_document(em, seed=seed, start=t0)
    em.truth_path.write_text(json.dumps(em.truth, indent=2, ensure_ascii=False) + "\n", "utf-8")
    em.tuning_path.write_text(tuning_yaml(em), "utf-8")
    return em


def forbids(sc: Scenario) -> tuple[Forbid, ...]:
    """What must not fire in ``sc``: its own forbids and the fleet-wide ones."""
    return (*sc.forbid, *FLEET_FORBIDS)


def _host_doc(h: Host) -> dict[str, Any]:
    return {
        "name": h.name,
        "fqdn": h.fqdn,
        "ip": h.ip,
        "user": h.user,
        "workstation": h.workstation,
        "falcon_aid": h.aid,
        "defender_device_id": h.device_id,
        "elastic_agent_id": h.agent_id,
        "ids": list(h.ids()),
    }


def expectation_status(
    scenario: Scenario, fmt: Format, rule: str, expect_formats: str, registry: Sequence[str]
) -> str:
    """``expected``, or why not: ``n/a: ...``, ``pending: ...``, ``gap: ...``."""
    absent = appears_in(scenario, fmt)
    if absent is not None:
        return f"n/a: {absent}"
    na = not_applicable(rule, fmt.family, fmt.name, expect_formats)
    if na is not None:
        return f"n/a: {na}"
    if not any(rule_matches(rule, r) for r in registry):
        if rule_matches("RH-CP-*", rule):
            return "pending: the control-plane rules are not registered yet (issue 6)"
        return f"pending: {rule} is not in the rule registry yet"
    gap = gap_for(scenario.name, rule, fmt.name, fmt.family)
    if gap is not None:
        return f"gap: {gap.reason}"
    return "expected"


def truth_document(em: Emulation, *, seed: int, start: float) -> dict[str, Any]:
    registry = registered_rules()
    scenarios = []
    for sc in em.scenarios:
        tel = em.telemetry[sc.name]
        dests = destinations(tel)
        scenarios.append(
            {
                "name": sc.name,
                "title": sc.title,
                "kind": sc.kind,
                "source": sc.source,
                "summary": sc.summary,
                "hosts": [_host_doc(h) for h in tel.hosts],
                "formats": {
                    f.name: (
                        "emulated" if appears_in(sc, f) is None else f"n/a: {appears_in(sc, f)}"
                    )
                    for f in em.formats
                },
                "expect": [
                    {
                        "rule": e.rule,
                        "host": e.host or None,
                        "process": e.process,
                        "destination": e.destination,
                        "destination_ips": dests.get(e.destination or "", []),
                        "why": e.why or None,
                        "formats": {
                            f.name: expectation_status(sc, f, e.rule, e.formats, registry)
                            for f in em.formats
                        },
                    }
                    for e in sc.expect
                ],
                "must_not_fire": [
                    {
                        "rule": f.rule,
                        "process": f.process,
                        "destination": f.destination,
                        "host": f.host,
                        "why": f.why or None,
                    }
                    for f in forbids(sc)
                ],
                "allowlist": [
                    entry for a in sc.allow for entry in a.entries({h.name: h for h in tel.hosts})
                ],
                "events": len(tel.events),
                "cloud_records": len(tel.cloud),
            }
        )
    return {
        "version": TRUTH_VERSION,
        "generator": f"relayhunt {__version__} emulate",
        "seed": seed,
        "start": datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z"),
        "judged": {
            "profile": "default",
            "note": "Rules of the default profile are judged; '*' in must_not_fire means any "
            "of them. The compat profile (the vendors' rules reproduced) is reported for "
            "information only. Hunts use tuning.yaml.",
        },
        "registered_rules": registry,
        "formats": {
            f.name: {"product": f.product, "family": f.family, "reader": f.reader}
            for f in em.formats
        },
        "scenarios": scenarios,
        "known_gaps": [
            {
                "scenario": g.scenario,
                "rule": g.rule,
                "formats": g.formats,
                "kind": g.kind,
                "reason": g.reason,
            }
            for g in truth.KNOWN_GAPS
        ],
    }


def tuning_yaml(em: Emulation) -> str:
    entries: list[dict[str, Any]] = []
    for sc in em.scenarios:
        hosts = {h.name: h for h in em.telemetry[sc.name].hosts}
        for a in sc.allow:
            entries.extend(a.entries(hosts))
    deployers = list(dict.fromkeys(d for sc in em.scenarios for d in sc.deployers))
    doc: dict[str, Any] = {"version": 1}
    if deployers:
        doc["deployers"] = deployers
    if entries:
        doc["allowlist"] = entries
    header = (
        "# The allowlist and deployers an estate would keep for the benign emulated scenarios\n"
        "# (relayhunt emulate; see docs/emulation.md and docs/tuning.md).\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_START",
    "Emulation",
    "appears_in",
    "build",
    "destinations",
    "emulate",
    "expectation_status",
    "forbids",
    "parse_start",
    "registered_rules",
    "truth_document",
    "tuning_yaml",
]
