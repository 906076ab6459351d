"""The validation matrix on the console: scenario x format, expected rules against the
rules that fired, then the failures, known gaps, pending rules and n/a reasons."""

from __future__ import annotations

import re
from collections import defaultdict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relayhunt.emulate.validate import Cell, Report
from relayhunt.textsafe import terminal_safe

SHORT = {
    "ecs": "ecs",
    "sysmon-evtx": "evtx",
    "sysmon-xml": "xml",
    "sysmon-winlogbeat": "wlbeat",
    "sysmon-json": "nxlog",
    "falcon": "falcon",
    "defender-json": "def-json",
    "defender-csv": "def-csv",
    "udm": "udm",
    "zeek-tsv": "zeek-tsv",
    "zeek-json": "zeek-json",
    "cloudtrail": "ctrail",
    "cloudflare-audit": "cf-audit",
    "gcp-audit": "gcp",
    "azure-activity": "az-act",
}
MARK = {
    "ok": ("✓", "green"),
    "miss": ("✗", "bold red"),
    "stale": ("!", "bold red"),
    "gap": ("~", "yellow"),
    "pending": ("…", "dim"),
    "n/a": ("-", "dim"),
}
_WORST = ("miss", "stale", "gap", "ok", "pending", "n/a")
LEGEND = (
    "Each cell has one mark per rule in 'expects' (N = RH-SL-00N, C = a cloud control-plane "
    "rule RH-CP-*), in that order: ✓ fired as expected, ✗ missed, ~ known gap, … rule not "
    "registered yet (pending), - cannot fire in this format (n/a), ! a listed known gap no "
    "longer happens. After the marks: +N another relayhunt rule also fired (allowed), FP N a "
    "rule fired where the truth forbids it, N~ a known false positive, a:NM.. rules whose "
    "findings tuning.yaml suppressed. A benign scenario with no finding shows ✓; n/a: the scenario "
    "has no data in this format. Details per host, process and destination: --json, "
    "truth.json."
)


def short_rule(rule: str) -> str:
    if rule.upper().startswith("RH-CP"):
        return "C"
    m = re.fullmatch(r"RH-SL-0*(\d+)", rule.upper())
    return m.group(1) if m else rule


def expected_rules(expect_rules: list[str]) -> list[str]:
    return list(dict.fromkeys(expect_rules))


def cell_text(cell: Cell, rules: list[str], judged: set[str]) -> Text:
    if not cell.present:
        return Text("n/a", style="dim")
    t = Text()
    for rule in rules:
        states = [i.status for i in cell.items if i.kind == "expect" and i.rule == rule]
        worst = min(states, key=_WORST.index) if states else "n/a"
        mark, style = MARK[worst]
        t.append(mark, style=style)

    def tokens(kind: str, status: str) -> list[str]:
        found = {i.rule for i in cell.items if i.kind == kind and i.status == status}
        return sorted(short_rule(r) for r in found if r in judged or kind == "forbid")

    tail = Text()
    for r in tokens("forbid", "fp"):
        tail.append(f" FP{r}", style="bold red")
    for r in tokens("forbid", "gap"):
        tail.append(f" {r}~", style="yellow")
    for r in tokens("forbid", "stale"):
        tail.append(f" {r}!", style="bold red")
    extra = tokens("extra", "extra")
    if extra:
        tail.append(" +" + "+".join(extra), style="dim")
    allowed = tokens("allowlisted", "allowlisted")
    if allowed:
        tail.append(" a:" + "".join(allowed), style="dim")
    if not rules and not any(i.status in ("fp", "gap", "stale") for i in cell.items):
        t.append("✓", style="green")
    t.append_text(tail)
    if t.plain.startswith(" "):
        t = t[1:]
    return t


def render(report: Report, console: Console, *, verbose: bool = False) -> None:
    table = Table(
        title="relayhunt validate: expected rules vs what fired, per scenario and format",
        title_justify="left",
        padding=(0, 1),
        show_lines=False,
    )
    width = max(len(sc.name) for sc in report.scenarios)
    table.add_column("scenario", no_wrap=True, min_width=width)
    table.add_column("expects", no_wrap=True, min_width=7)
    for f in report.formats:
        table.add_column(SHORT.get(f.name, f.name), no_wrap=True)
    judged = set(report.judged)
    for sc in report.scenarios:
        rules = expected_rules([e.rule for e in sc.expect])
        expected = " ".join(short_rule(r) for r in rules) or "none"
        style = "" if sc.kind == "adversary" else "cyan"
        row = [Text(sc.name, style=style), Text(expected)]
        row += [cell_text(report.cells[(sc.name, f.name)], rules, judged) for f in report.formats]
        table.add_row(*row)
    console.print(table)
    console.print(Text(LEGEND, style="dim"))
    console.print()

    runs = Table(title="hunts", title_justify="left", padding=(0, 1))
    for col in ("format", "reader", "records", "findings", "seconds", "note"):
        runs.add_column(
            col, justify="right" if col in ("records", "findings", "seconds") else "left"
        )
    for f in report.formats:
        r = report.runs[f.name]
        runs.add_row(
            f.name,
            f.reader,
            f"{r.records:,}" if r.hunted else "-",
            str(r.findings) if r.hunted else "-",
            f"{r.seconds:.1f}" if r.hunted else "-",
            r.note,
        )
    console.print(runs)

    problems = report.input_problems
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s) reading the emulated data:[/bold red]")
        for p in problems[:40]:
            console.print(f"  {terminal_safe(p, 300)}")
    failures = report.failures
    if failures:
        console.print(f"[bold red]{len(failures)} failure(s):[/bold red]")
        for msg in failures:
            console.print(f"  {terminal_safe(msg, 300)}")

    gaps: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    pending: dict[tuple[str, str], list[str]] = defaultdict(list)
    not_app: dict[tuple[str, str], set[str]] = defaultdict(set)
    extras: list[str] = []
    for (sc_name, fmt_name), cell in report.cells.items():
        for i in cell.items:
            reason = i.detail.split(":", 1)[1].strip() if ":" in i.detail else i.detail
            if i.status == "gap":
                gaps[(sc_name, i.rule, reason.removeprefix("known gap: "))].append(fmt_name)
            elif i.status == "pending":
                pending[(i.rule, reason)].append(f"{sc_name}/{fmt_name}")
            elif i.status == "n/a":
                not_app[(i.rule, reason)].add(fmt_name)
            elif verbose and i.status in ("extra", "info", "allowlisted"):
                extras.append(f"{sc_name} / {fmt_name}: {i.status} {i.rule} {i.detail}")
    if gaps:
        console.print(f"[yellow]{len(gaps)} known gap(s) (truth.py KNOWN_GAPS):[/yellow]")
        for (sc_name, rule, reason), where in sorted(gaps.items()):
            console.print(
                f"  {sc_name} {rule} in {', '.join(sorted(set(where)))}: "
                f"{terminal_safe(reason, 400)}"
            )
    if pending:
        console.print("[dim]pending (not counted until the rule is registered):[/dim]")
        for (rule, reason), where in sorted(pending.items()):
            scs = sorted({w.split("/")[0] for w in where})
            console.print(
                f"  {rule}: {reason} ({len(where)} cell(s): {', '.join(scs)})", style="dim"
            )
    if not_app:
        console.print("[dim]n/a (cannot be judged in these formats):[/dim]")
        for (rule, reason), in_fmts in sorted(not_app.items()):
            console.print(f"  {rule} in {', '.join(sorted(in_fmts))}: {reason}", style="dim")
    if extras:
        console.print("[dim]other findings:[/dim]")
        for line in extras:
            console.print(f"  {terminal_safe(line, 300)}", style="dim")
    verdict = "[bold green]PASS[/bold green]" if report.ok else "[bold red]FAIL[/bold red]"
    n_cells = sum(1 for c in report.cells.values() if c.present)
    console.print(
        f"{verdict}: {len(report.scenarios)} scenario(s) x {len(report.formats)} format(s), "
        f"{n_cells} emulated cell(s), {len(failures)} failure(s), {len(gaps)} known gap(s), "
        f"{report.seconds:.1f} s"
    )


__all__ = ["LEGEND", "cell_text", "expected_rules", "render", "short_rule"]
