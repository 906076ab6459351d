"""``relayhunt explain RULE_ID``: a rule and its investigation guide, optionally filled in
from one finding of a findings NDJSON file (``hunt --json``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from relayhunt.detect import rules
from relayhunt.detect.base import Rule
from relayhunt.guides import get_guide
from relayhunt.guides.format import guide_markdown, print_guide
from relayhunt.guides.loader import values_from_finding
from relayhunt.guides.model import SIEMS, Guide, Pivot
from relayhunt.guides.render import placeholders_in
from relayhunt.textsafe import terminal_safe

EXIT_USAGE = 2
EXIT_INPUT = 3
FORMATS = ("text", "markdown")


def _fail(code: int, message: str) -> None:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _rule(rule_id: str) -> tuple[Rule, Guide]:
    known = {r.id: r for r in rules()}
    rule = known.get(rule_id.strip().upper())
    guide = get_guide(rule.id) if rule is not None else None
    if rule is None or guide is None:
        _fail(
            EXIT_USAGE,
            f"unknown rule id {terminal_safe(rule_id, 80)}; known: {', '.join(known)}",
        )
        raise AssertionError  # pragma: no cover - _fail raises
    return rule, guide


def _finding(path: Path, finding_id: str | None, rule_id: str) -> dict[str, Any]:
    from relayhunt.report.ndjson import NdjsonError, read_findings

    try:
        rows: list[dict[str, Any]] = read_findings(path).to_pylist()
    except (OSError, NdjsonError, UnicodeDecodeError) as exc:
        _fail(EXIT_INPUT, f"cannot read findings {terminal_safe(path, 200)}: {terminal_safe(exc)}")
        raise AssertionError from exc  # pragma: no cover
    if finding_id is None:
        of_rule = [r for r in rows if r.get("rule_id") == rule_id]
        if len(of_rule) == 1:
            return of_rule[0]
        ids = ", ".join(terminal_safe(r.get("finding_id"), 40) for r in of_rule[:20]) or "none"
        _fail(EXIT_USAGE, f"--id is required: {len(of_rule)} finding(s) of {rule_id} ({ids})")
    match = [r for r in rows if r.get("finding_id") == finding_id]
    if not match:
        where = terminal_safe(path, 200)
        _fail(EXIT_USAGE, f"no finding {terminal_safe(finding_id, 80)} in {where}")
    found = match[0]
    if found.get("rule_id") != rule_id:
        _fail(
            EXIT_USAGE,
            f"finding {terminal_safe(finding_id, 80)} is from "
            f"{terminal_safe(found.get('rule_id'), 40)}, not {rule_id}",
        )
    return found


def explain_command(
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. RH-SL-001.", show_default=False)],
    finding: Annotated[
        Path | None,
        typer.Option("--finding", help="Findings NDJSON (hunt --json) to fill the pivots from."),
    ] = None,
    finding_id: Annotated[
        str | None,
        typer.Option("--id", help="The finding's id (needed when the file has several)."),
    ] = None,
    siem: Annotated[
        str | None,
        typer.Option("--siem", help=f"Show the pivots of one language: {', '.join(SIEMS)}."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text (terminal) or markdown.")] = "text",
) -> None:
    """Show a rule and its investigation guide: what to look at first, pivots per SIEM,
    how to confirm, dismiss and contain."""
    if fmt not in FORMATS:
        _fail(EXIT_USAGE, f"--format must be one of {', '.join(FORMATS)}")
    if siem is not None and siem not in SIEMS:
        _fail(EXIT_USAGE, f"--siem must be one of {', '.join(SIEMS)}")
    if finding_id is not None and finding is None:
        _fail(EXIT_USAGE, "--id needs --finding FILE")
    rule, guide = _rule(rule_id)
    row = _finding(finding, finding_id, rule.id) if finding is not None else None
    pivots: dict[str, list[Pivot]] | None = None
    notes: list[str] = []
    if row is not None:
        values = values_from_finding(row)
        pivots = guide.render_pivots(values, complete_only=True)
        left_out = [
            (s, p)
            for s, items in guide.render_pivots(values).items()
            for p in items
            if p not in pivots.get(s, []) and (siem is None or s == siem)
        ]
        if left_out:
            missing = sorted({n for _, p in left_out for n in placeholders_in(p.query)})
            notes.append(
                f"{len(left_out)} pivot(s) left out: the finding has no usable value for "
                + ", ".join("{" + n + "}" for n in missing)
            )
    if siem is not None and siem not in (pivots if pivots is not None else guide.pivots):
        _fail(
            EXIT_USAGE,
            f"{rule.id}: no {siem} pivot"
            + (" can be filled from this finding" if row is not None else ""),
        )
    if fmt == "markdown":
        sys.stdout.write(
            guide_markdown(rule, guide, pivots=pivots, siem=siem, finding=row, notes=notes)
        )
        return
    print_guide(
        Console(highlight=False, soft_wrap=False),
        rule,
        guide,
        pivots=pivots,
        siem=siem,
        finding=row,
        notes=notes,
    )
