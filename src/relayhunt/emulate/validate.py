"""Validation: emulate every scenario, hunt each format, compare with the ground truth.

For each format the emulated folder is hunted once, with profile ``all`` and the
emulation's ``tuning.yaml``. Findings are attributed to scenarios by host (every scenario
has its own hosts; a finding's ``host_name`` is whatever the format calls the host: name,
FQDN, Falcon aid, Defender DeviceId, or the address for Zeek). Then, per scenario and
format:

* each :class:`Expect` is ``ok`` when a finding of its rule matches host, process image
  and destination (hostname, or one of its addresses); ``miss`` otherwise; ``n/a`` where
  the format cannot show it; ``pending`` while its rule is not registered; ``gap`` when
  listed in :data:`~relayhunt.emulate.truth.KNOWN_GAPS`;
* every finding of a judged rule (profile ``default``) that a :class:`Forbid` covers is a
  false positive (``fp``), unless listed as a known gap;
* other findings of judged rules are ``extra`` (allowed, shown); findings of the compat
  profile are ``info``; findings the allowlist suppressed are ``allowlisted``.

Failures: a miss, a false positive, a known gap that no longer happens (``stale``: the
list must be kept true), a finding on a host no scenario owns, and emulated data that
its reader could not read (a writer or reader bug; reported separately).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relayhunt.emulate import truth
from relayhunt.emulate.emulate import (
    DEFAULT_SEED,
    Emulation,
    appears_in,
    destinations,
    emulate,
    expectation_status,
    forbids,
)
from relayhunt.emulate.model import basename
from relayhunt.emulate.scenarios import SCENARIOS, Scenario
from relayhunt.emulate.truth import Expect, Forbid, KnownGap, rule_matches
from relayhunt.emulate.writers import FORMATS, Format, reader_registered

FAILING = ("miss", "fp", "stale")


@dataclass(frozen=True)
class Item:
    """One judgement in a cell."""

    kind: str
    """``expect``, ``forbid``, ``extra``, ``info`` or ``allowlisted``."""
    rule: str
    status: str
    """``ok``, ``miss``, ``fp``, ``gap``, ``stale``, ``pending``, ``n/a``, ``extra``,
    ``info``, ``allowlisted``."""
    detail: str = ""


@dataclass
class Cell:
    scenario: str
    format: str
    present: bool
    reason: str = ""
    items: list[Item] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(i.status in FAILING for i in self.items)

    @property
    def status(self) -> str:
        if not self.present:
            return "n/a"
        if self.failed:
            return "fail"
        judged = [i for i in self.items if i.kind in ("expect", "forbid")]
        if judged and all(i.status == "n/a" for i in judged):
            return "n/a"
        if any(i.status == "gap" for i in judged):
            return "gap"
        if judged and all(i.status in ("pending", "n/a") for i in judged):
            return "pending"
        return "ok"


@dataclass
class FormatRun:
    format: str
    hunted: bool
    seconds: float = 0.0
    findings: int = 0
    records: int = 0
    input_problems: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Report:
    scenarios: list[Scenario]
    formats: list[Format]
    cells: dict[tuple[str, str], Cell]
    runs: dict[str, FormatRun]
    unattributed: list[str]
    registry: list[str]
    judged: list[str]
    """Rules whose findings are judged (every profile but ``compat``)."""
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        out = []
        for (sc, fmt), cell in self.cells.items():
            for i in cell.items:
                if i.status in FAILING:
                    out.append(f"{sc} / {fmt}: {i.status} {i.rule} {i.detail}".rstrip())
        out += [f"unattributed finding: {u}" for u in self.unattributed]
        return out

    @property
    def input_problems(self) -> list[str]:
        return [f"{r.format}: {p}" for r in self.runs.values() for p in r.input_problems]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.input_problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "registered_rules": self.registry,
            "failures": self.failures,
            "input_problems": self.input_problems,
            "formats": {
                r.format: {
                    "hunted": r.hunted,
                    "seconds": round(r.seconds, 2),
                    "records": r.records,
                    "findings": r.findings,
                    "note": r.note or None,
                }
                for r in self.runs.values()
            },
            "cells": [
                {
                    "scenario": c.scenario,
                    "format": c.format,
                    "status": c.status,
                    "reason": c.reason or None,
                    "items": [
                        {"kind": i.kind, "rule": i.rule, "status": i.status, "detail": i.detail}
                        for i in c.items
                    ],
                }
                for c in self.cells.values()
            ],
        }


# -- matching ------------------------------------------------------------------------------


def _lower(v: Any) -> str:
    return str(v).lower() if v is not None else ""


def _image(f: dict[str, Any]) -> str:
    name = f.get("process_name") or (
        basename(f["process_executable"]) if f.get("process_executable") else ""
    )
    return _lower(name)


def _dest_match(f: dict[str, Any], domain: str | None, ips: Iterable[str]) -> bool:
    if not domain:
        return True
    d = domain.lower()
    return (
        _lower(f.get("destination_domain")) == d
        or _lower(f.get("serverless_tenant")) == d
        or (f.get("destination_ip") is not None and f["destination_ip"] in set(ips))
    )


def matches_expect(
    f: dict[str, Any], e: Expect, family: str, host_ids: set[str], ips: Iterable[str]
) -> bool:
    if not rule_matches(e.rule, str(f["rule_id"])):
        return False
    if e.host and _lower(f.get("host_name")) not in host_ids:
        return False
    if e.process and family != "network" and _image(f) != e.process.lower():
        return False
    if family == "cloud":
        # a control-plane finding names the function or script wherever its rule puts it
        return not e.destination or e.destination.lower() in _text(f)
    return _dest_match(f, e.destination, ips)


def _text(f: dict[str, Any]) -> str:
    return " ".join(str(v) for v in f.values() if v is not None).lower()


def _cloud_keys(em: Emulation, name: str) -> set[str]:
    """What identifies a scenario in a cloud audit log: its resources and actors."""
    keys: set[str] = set()
    for c in em.telemetry[name].cloud:
        keys.update(v.lower() for v in (c.resource, c.actor, c.actor_id) if v)
        if c.resource and ":function:" in c.resource:
            keys.add(c.resource.rsplit(":", 1)[-1].lower())
    return keys


def matches_forbid(
    f: dict[str, Any], fb: Forbid, judged: set[str], hosts: dict[str, set[str]]
) -> bool:
    rule = str(f["rule_id"])
    if fb.rule == "*":
        if rule not in judged:
            return False
    elif not rule_matches(fb.rule, rule):
        return False
    if fb.process and _image(f) != fb.process.lower():
        return False
    if fb.host and _lower(f.get("host_name")) not in hosts.get(fb.host, set()):
        return False
    return not fb.destination or _lower(f.get("destination_domain")) == fb.destination.lower()


def fp_gap(scenario: str, rule: str, fmt: Format) -> KnownGap | None:
    for g in truth.KNOWN_GAPS:
        if (
            g.kind == "false_positive"
            and g.scenario == scenario
            and rule_matches(g.rule, rule)
            and g.formats in ("*", fmt.name, fmt.family)
        ):
            return g
    return None


def _describe(f: dict[str, Any]) -> str:
    proc = f.get("process_name") or "-"
    return f"{proc} -> {f.get('destination_domain') or f.get('destination_ip') or '-'}"


# -- the run -------------------------------------------------------------------------------


def _judged_rules() -> tuple[list[str], set[str]]:
    from relayhunt.detect import rules

    all_rules = rules()
    return [r.id for r in all_rules], {r.id for r in all_rules if r.profile != "compat"}


def _hunt(
    fmt: Format, em: Emulation
) -> tuple[FormatRun, list[dict[str, Any]], list[dict[str, Any]]]:
    from relayhunt.api import hunt

    run = FormatRun(fmt.name, hunted=True)
    t0 = time.perf_counter()
    with hunt([em.out / fmt.name], em.tuning_path, profile="all", min_severity="low") as r:
        findings = r.findings.to_pylist()
        suppressed = r.suppressed.to_pylist()
        con = r.store.con
        run.records = r.ingest.records
        for path, fmt_read in con.execute(
            "SELECT log_file_path, log_format FROM ingest_files ORDER BY 1"
        ).fetchall():
            if fmt_read != fmt.reader:
                run.input_problems.append(
                    f"{path} was read as {fmt_read or 'an unknown format'}, not {fmt.reader}"
                )
        for path, code, reason, n in con.execute(
            "SELECT log_file_path, reason_code, min(reason), count(*) FROM ingest_issues "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            run.input_problems.append(f"{path}: {n} x {code} ({reason})")
    run.seconds = time.perf_counter() - t0
    run.findings = len(findings)
    return run, findings, suppressed


def judge(
    em: Emulation,
    fmt: Format,
    findings: list[dict[str, Any]],
    suppressed: list[dict[str, Any]],
    registry: Sequence[str],
    judged: set[str],
) -> tuple[dict[tuple[str, str], Cell], list[str]]:
    """The cells of one format, and the findings no scenario owns."""
    owner: dict[str, str] = {}
    host_ids: dict[str, dict[str, set[str]]] = {}
    for sc in em.scenarios:
        ids_by_host = {h.name: set(h.ids()) for h in em.telemetry[sc.name].hosts}
        host_ids[sc.name] = ids_by_host
        for ids in ids_by_host.values():
            for host_id in ids:
                owner[host_id] = sc.name
    present = [sc.name for sc in em.scenarios if appears_in(sc, fmt) is None]
    cloud_keys = {n: _cloud_keys(em, n) for n in present} if fmt.family == "cloud" else {}

    def owner_of(f: dict[str, Any]) -> str | None:
        name = owner.get(_lower(f.get("host_name")))
        if name is None and cloud_keys:
            text = _text(f)
            hits = [n for n, keys in cloud_keys.items() if any(k in text for k in keys)]
            name = hits[0] if len(hits) == 1 else (present[0] if len(present) == 1 else None)
        return name

    by_sc: dict[str, list[dict[str, Any]]] = {}
    unattributed = []
    for f in findings:
        sc_name = owner_of(f)
        if sc_name is None:
            if f["rule_id"] in judged:
                unattributed.append(
                    f"{fmt.name}: {f['rule_id']} on {f.get('host_name')}: {_describe(f)}"
                )
            continue
        by_sc.setdefault(sc_name, []).append(f)
    sup_by_sc: dict[str, list[dict[str, Any]]] = {}
    for f in suppressed:
        sc_name = owner_of(f)
        if sc_name is not None:
            sup_by_sc.setdefault(sc_name, []).append(f)

    cells: dict[tuple[str, str], Cell] = {}
    for sc in em.scenarios:
        absent = appears_in(sc, fmt)
        cell = Cell(sc.name, fmt.name, absent is None, absent or "")
        cells[(sc.name, fmt.name)] = cell
        if absent is not None:
            continue
        mine = by_sc.get(sc.name, [])
        dests = destinations(em.telemetry[sc.name])
        used: set[int] = set()
        for e in sc.expect:
            status = expectation_status(sc, fmt, e.rule, e.formats, registry)
            ids = host_ids[sc.name].get(e.host, set()) if e.host else set()
            detail = f"{e.host or '*'} {e.process or '*'} -> {e.destination or '*'}"
            hits = [
                i
                for i, f in enumerate(mine)
                if matches_expect(f, e, fmt.family, ids, dests.get(e.destination or "", []))
            ]
            used.update(hits)
            if status.startswith(("n/a", "pending")):
                state, why = status.split(":", 1)
                cell.items.append(Item("expect", e.rule, state, f"{detail}:{why}"))
            elif status.startswith("gap"):
                cell.items.append(
                    Item(
                        "expect",
                        e.rule,
                        "stale" if hits else "gap",
                        f"{detail}: known gap "
                        + (
                            "no longer happens: remove it from KNOWN_GAPS"
                            if hits
                            else status[4:].strip()
                        ),
                    )
                )
            elif hits:
                cell.items.append(Item("expect", e.rule, "ok", detail))
            else:
                sup = [
                    f
                    for f in sup_by_sc.get(sc.name, [])
                    if matches_expect(f, e, fmt.family, ids, dests.get(e.destination or "", []))
                ]
                why = (
                    f" (suppressed by the allowlist: {sup[0].get('suppressed_by')})" if sup else ""
                )
                cell.items.append(Item("expect", e.rule, "miss", detail + why))
        fp_gaps_seen: set[KnownGap] = set()
        for i, f in enumerate(mine):
            if i in used:
                continue
            rule = str(f["rule_id"])
            if any(matches_forbid(f, fb, judged, host_ids[sc.name]) for fb in forbids(sc)):
                gap = fp_gap(sc.name, rule, fmt)
                if gap is not None:
                    fp_gaps_seen.add(gap)
                    cell.items.append(
                        Item("forbid", rule, "gap", f"{_describe(f)}: known gap: {gap.reason}")
                    )
                else:
                    cell.items.append(Item("forbid", rule, "fp", _describe(f)))
            elif rule in judged:
                cell.items.append(Item("extra", rule, "extra", _describe(f)))
            else:
                cell.items.append(Item("info", rule, "info", _describe(f)))
        for g in truth.KNOWN_GAPS:
            if (
                g.kind == "false_positive"
                and g.scenario == sc.name
                and g.formats in ("*", fmt.name, fmt.family)
                and g not in fp_gaps_seen
                and any(rule_matches(g.rule, r) for r in registry)
            ):
                cell.items.append(
                    Item(
                        "forbid",
                        g.rule,
                        "stale",
                        "known false positive no longer happens: remove it from KNOWN_GAPS",
                    )
                )
        for f in sup_by_sc.get(sc.name, []):
            cell.items.append(Item("allowlisted", str(f["rule_id"]), "allowlisted", _describe(f)))
    return cells, unattributed


def validate(
    formats: Sequence[Format] = FORMATS,
    scenarios: Sequence[Scenario] = SCENARIOS,
    *,
    seed: int = DEFAULT_SEED,
    start: float | None = None,
    workdir: Path | None = None,
) -> Report:
    """Emulate ``scenarios`` in ``formats`` (into ``workdir``, else a temporary folder),
    hunt each format and judge the findings against the truth."""
    t0 = time.perf_counter()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="relayhunt-validate-") as tmp:
            report = _validate(Path(tmp), formats, scenarios, seed, start)
    else:
        report = _validate(workdir, formats, scenarios, seed, start)
    report.seconds = time.perf_counter() - t0
    return report


def _validate(
    out: Path,
    formats: Sequence[Format],
    scenarios: Sequence[Scenario],
    seed: int,
    start: float | None,
) -> Report:
    em = emulate(out, scenarios, formats, seed=seed, start=start)
    registry, judged = _judged_rules()
    cells: dict[tuple[str, str], Cell] = {}
    runs: dict[str, FormatRun] = {}
    unattributed: list[str] = []
    for fmt in formats:
        if fmt.name not in em.files:
            runs[fmt.name] = FormatRun(fmt.name, False, note="no scenario has data in this format")
            findings: list[dict[str, Any]] = []
            suppressed: list[dict[str, Any]] = []
        elif not reader_registered(fmt):
            runs[fmt.name] = FormatRun(
                fmt.name, False, note=f"no {fmt.reader} reader yet: written, not hunted"
            )
            findings, suppressed = [], []
        else:
            run, findings, suppressed = _hunt(fmt, em)
            runs[fmt.name] = run
        fmt_cells, lost = judge(em, fmt, findings, suppressed, registry, judged)
        cells.update(fmt_cells)
        unattributed += lost
    return Report(
        list(scenarios), list(formats), cells, runs, unattributed, registry, sorted(judged)
    )


__all__ = [
    "Cell",
    "FormatRun",
    "Item",
    "Report",
    "judge",
    "matches_expect",
    "matches_forbid",
    "validate",
]
