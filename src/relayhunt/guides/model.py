"""The guide data model (kept apart from the package's ``__init__`` so the loader and the
renderer can import it without a cycle)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SIEMS: tuple[str, ...] = ("kql", "spl", "eql", "logscale", "yaral", "sumo", "duckdb")
"""Pivot languages, in display order. ``duckdb`` is relayhunt's own store."""

REQUIRED_SIEMS: tuple[str, ...] = ("kql", "spl", "eql", "logscale", "yaral", "sumo")
"""The languages every guide of a relayhunt (non-compat) rule has pivots for."""

SIEM_NAMES: dict[str, str] = {
    "kql": "Microsoft Defender XDR / Sentinel (KQL)",
    "spl": "Splunk (SPL)",
    "eql": "Elastic (EQL)",
    "logscale": "CrowdStrike Falcon LogScale",
    "yaral": "Google SecOps (UDM search / YARA-L)",
    "sumo": "Sumo Logic",
    "duckdb": "relayhunt store (DuckDB SQL)",
}


class GuideError(ValueError):
    """A guide file is malformed (the message names the file and the field)."""


@dataclass(frozen=True)
class Pivot:
    """One query to run in one SIEM."""

    title: str
    query: str


@dataclass(frozen=True)
class Guide:
    """The investigation guide and response playbook of one rule."""

    rule_id: str
    title: str
    summary: str
    look_first: list[str]
    pivots: dict[str, list[Pivot]]
    confirm: list[str]
    dismiss: list[str]
    contain: list[str]
    references: list[str] = field(default_factory=list)
    superseded_by: str | None = None
    """For a compat rule: the relayhunt rule that supersedes it."""

    def render_pivots(
        self, values: Mapping[str, str], *, complete_only: bool = False
    ) -> dict[str, list[Pivot]]:
        """The pivots with placeholders replaced by escaped literals of ``values``
        (placeholders without a usable value are left as written; with ``complete_only``
        such pivots are left out)."""
        from relayhunt.guides.render import render_pivots

        return render_pivots(self.pivots, values, complete_only=complete_only)
