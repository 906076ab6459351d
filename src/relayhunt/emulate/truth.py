"""Ground truth: which findings each emulated scenario must raise, which it must not, in
which formats that can be judged at all, and the known detection gaps.

* :class:`Expect`: a rule that must fire, on a host, for a process image and a
  destination. A rule id may be a glob (``RH-CP-*``: any cloud control-plane rule).
* :class:`Forbid`: findings that must not appear. Benign scenarios forbid ``*``: any
  rule relayhunt judges (the ``default`` profile; the vendors' ``compat`` reproductions
  are reported for information only).
* :class:`Allow`: the tuning an estate writes for its own known-good software (the
  allowlist of ``docs/tuning.md``). Validation hunts with these entries, as a deployment
  would; what they suppress is shown, never hidden.
* :data:`KNOWN_GAPS`: expectations the current rules or readers cannot meet in some
  format, each with the reason. A listed gap shows as ``gap`` and does not fail
  validation; an unlisted miss does, and so does a listed gap that no longer happens.

Whether an expectation applies to a format at all is decided by :func:`not_applicable`:
a network sensor has no process, so command-line and script-chain rules cannot fire on
Zeek; endpoint rules never read cloud audit logs and control-plane rules read nothing
else.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from relayhunt.emulate.model import Host


@dataclass(frozen=True)
class Expect:
    """A finding that must appear: ``rule`` on ``host`` for the image ``process`` (its
    file name) and ``destination`` (a hostname). ``formats`` limits it to a family
    (``endpoint``, ``network``), a cloud format name, or ``all``."""

    rule: str
    host: str
    process: str | None = None
    destination: str | None = None
    formats: str = "all"
    why: str = ""


@dataclass(frozen=True)
class Forbid:
    """Findings that must not appear: ``rule`` (a glob; ``*`` = any judged rule),
    optionally only for a process image, destination or host."""

    rule: str = "*"
    process: str | None = None
    destination: str | None = None
    host: str | None = None
    why: str = ""


@dataclass(frozen=True)
class Allow:
    """An allowlist entry an estate would write for a known-good scenario. ``hosts`` are
    scenario host names; they are written out with every identifier a finding can
    carry for them (name, FQDN, Falcon aid, Defender DeviceId), and a second entry pins
    the hosts' addresses and destinations for network-sensor findings, which have no
    process to match."""

    reason: str
    destination: tuple[str, ...]
    hosts: tuple[str, ...]
    process: tuple[str, ...] = ()
    parent: tuple[str, ...] = ()

    def entries(self, hosts: dict[str, Host]) -> list[dict[str, Any]]:
        known = [hosts[h] for h in self.hosts]
        names: list[str] = []
        for h in known:
            names += [h.name, h.fqdn, h.aid, h.device_id]
        entry: dict[str, Any] = {"reason": self.reason}
        if self.process:
            entry["process"] = list(self.process)
        if self.parent:
            entry["parent"] = list(self.parent)
        entry["host"] = names
        entry["destination"] = list(self.destination)
        sensor = {
            "reason": f"{self.reason} (network sensor view: no process)",
            "host": [h.ip for h in known],
            "destination": list(self.destination),
        }
        return [entry, sensor]


@dataclass(frozen=True)
class KnownGap:
    """A result the current rules or readers get wrong, and why: an expectation they
    miss (``kind`` ``miss``) or a finding on a benign scenario (``false_positive``).
    ``formats`` is a format name, a family (``endpoint``, ``network``) or ``*``."""

    scenario: str
    rule: str
    formats: str
    reason: str
    kind: str = "miss"


KNOWN_GAPS: tuple[KnownGap, ...] = (
    KnownGap(
        "benign-browsers",
        "RH-SL-005",
        "network",
        "an Edge tab whose page polls its Supabase backend every 30 s is, on the wire, a "
        "beacon: a network sensor sees neither the process (a browser) nor, over TLS, a "
        "user agent, so RH-SL-005 cannot discount it as it does on endpoint data",
        kind="false_positive",
    ),
)
"""Genuine detection gaps found by validation, each with its reason."""


ENDPOINT_ONLY_RULES = {
    "RH-SL-001": "a network sensor sees no process, and over TLS no user agent either, so "
    "RH-SL-001 cannot tell an implant from a browser",
    "RH-SL-002": "a network sensor records no command lines",
    "RH-SL-003": "a network sensor records no processes or file writes",
}


def rule_matches(pattern: str, rule_id: str) -> bool:
    return fnmatch.fnmatchcase(rule_id.upper(), pattern.upper())


def not_applicable(rule: str, family: str, fmt: str, expect_formats: str = "all") -> str | None:
    """Why ``rule`` cannot be judged in format ``fmt`` (of ``family``), or None."""
    if expect_formats not in ("all", family, fmt):
        return f"this expectation is for {expect_formats} data"
    control_plane = rule_matches("RH-CP-*", rule)
    if family == "cloud" and not control_plane:
        return "a cloud audit log records the control plane only"
    if family != "cloud" and control_plane:
        return "control-plane rules read cloud audit logs"
    if family == "network" and rule in ENDPOINT_ONLY_RULES:
        return ENDPOINT_ONLY_RULES[rule]
    return None


def gap_for(scenario: str, rule: str, fmt: str, family: str) -> KnownGap | None:
    for g in KNOWN_GAPS:
        if (
            g.scenario == scenario
            and rule_matches(g.rule, rule)
            and g.formats in ("*", fmt, family)
        ):
            return g
    return None


__all__ = [
    "ENDPOINT_ONLY_RULES",
    "KNOWN_GAPS",
    "Allow",
    "Expect",
    "Forbid",
    "KnownGap",
    "gap_for",
    "not_applicable",
    "rule_matches",
]
