"""A guide as Markdown (``explain --format markdown`` and docs/guides.md) or as rich text
for a terminal (``explain``). Attacker-controlled values (a finding's fields) reach the
output only escaped: as literals inside the rendered queries, through
:func:`relayhunt.textsafe.terminal_safe` on a terminal, and inside code spans / fences
long enough to hold them in Markdown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule as RichRule
from rich.text import Text

from relayhunt.detect.base import Rule
from relayhunt.guides.model import SIEM_NAMES, SIEMS, Guide, Pivot
from relayhunt.guides.render import PLACEHOLDER_RE, PLACEHOLDERS
from relayhunt.textsafe import terminal_safe

_FENCE_LANG = {
    "kql": "kusto",
    "spl": "spl",
    "eql": "eql",
    "logscale": "logscale",
    "yaral": "yaral",
    "sumo": "sumo",
    "duckdb": "sql",
}

FINDING_FIELDS: tuple[tuple[str, str], ...] = (
    ("finding_id", "finding"),
    ("severity", "severity"),
    ("confidence", "confidence"),
    ("score", "score"),
    ("host_name", "host / account"),
    ("user_name", "user / principal"),
    ("process_name", "process"),
    ("process_command_line", "command line"),
    ("process_parent_name", "parent"),
    ("destination_domain", "destination"),
    ("destination_domain_origin", "known from"),
    ("serverless_platform", "platform"),
    ("serverless_tenant", "tenant"),
    ("first_seen", "first seen"),
    ("last_seen", "last seen"),
    ("event_count", "events"),
    ("reason", "reason"),
    ("stats", "stats"),
)


def first_paragraph(text: str) -> str:
    """The first paragraph of a docstring, on one line."""
    para = text.strip().split("\n\n", 1)[0]
    return " ".join(para.split())


def _fence(text: str, lang: str = "") -> str:
    """A fenced code block that ``text`` cannot close (CommonMark: a longer fence)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _code_span(text: str) -> str:
    """An inline code span holding ``text`` literally (on one line)."""
    text = " ".join(text.split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def unfilled(pivots: Mapping[str, list[Pivot]]) -> list[str]:
    """Placeholders still present in rendered pivots, sorted."""
    names = {
        m.group(1)
        for items in pivots.values()
        for p in items
        for m in PLACEHOLDER_RE.finditer(p.query)
        if m.group(1) in PLACEHOLDERS
    }
    return sorted(names)


def _select(pivots: Mapping[str, list[Pivot]], siem: str | None) -> list[tuple[str, list[Pivot]]]:
    return [(s, list(pivots[s])) for s in SIEMS if s in pivots and (siem is None or s == siem)]


def guide_markdown(
    rule: Rule,
    guide: Guide,
    *,
    pivots: Mapping[str, list[Pivot]] | None = None,
    siem: str | None = None,
    level: int = 1,
    finding: Mapping[str, Any] | None = None,
    notes: Iterable[str] = (),
) -> str:
    """The rule and its guide as Markdown; ``pivots`` (rendered ones) replace the guide's
    templates, ``siem`` keeps one language only, ``level`` is the top heading level."""
    h = "#" * level
    hh = "#" * (level + 1)
    hhh = "#" * (level + 2)
    out: list[str] = [f"{h} {rule.id}: {guide.title}", ""]
    out += [
        f"- **ATT&CK:** {', '.join(rule.techniques)}",
        f"- **Severity:** {rule.severity} (base) · **Confidence:** {rule.confidence} (base)",
        f"- **Profile:** {rule.profile}",
    ]
    if guide.superseded_by:
        out.append(f"- **Superseded by:** {guide.superseded_by}")
    out += ["", f"**What it detects.** {first_paragraph(rule.description)}", "", guide.summary, ""]
    if finding is not None:
        out += [f"{hh} The finding", ""]
        for key, label in FINDING_FIELDS:
            value = finding.get(key)
            if value is None or value == "":
                continue
            out.append(f"- **{label}:** {_code_span(str(value)[:500])}")
        out.append("")
    out += [f"{hh} What to look at first", ""] + [f"- {x}" for x in guide.look_first] + [""]
    shown = pivots if pivots is not None else guide.pivots
    out += [f"{hh} Pivots", ""]
    out += [f"*{note}*\n" for note in notes]
    missing = unfilled(shown)
    if missing:
        out += [
            "Placeholders stand for whole quoted values: "
            + ", ".join(f"`{{{n}}}`" for n in missing)
            + " (see docs/guides.md).",
            "",
        ]
    for s, items in _select(shown, siem):
        out += [f"{hhh} {SIEM_NAMES[s]}", ""]
        for p in items:
            out += [f"*{p.title}*", "", _fence(p.query, _FENCE_LANG[s]), ""]
    for title, entries in (
        ("How to confirm", guide.confirm),
        ("How to dismiss (benign look-alikes)", guide.dismiss),
        ("How to contain", guide.contain),
    ):
        out += [f"{hh} {title}", ""] + [f"- {x}" for x in entries] + [""]
    if guide.references:
        out += [f"{hh} References", ""] + [f"- {x}" for x in guide.references] + [""]
    return "\n".join(out).rstrip() + "\n"


def _bullets(items: Iterable[str]) -> Padding:
    return Padding(Markdown("\n".join(f"- {x}" for x in items)), (0, 0, 0, 2))


def print_guide(
    console: Console,
    rule: Rule,
    guide: Guide,
    *,
    pivots: Mapping[str, list[Pivot]] | None = None,
    siem: str | None = None,
    finding: Mapping[str, Any] | None = None,
    notes: Iterable[str] = (),
) -> None:
    """The rule and its guide on a terminal. Guide text is ours (rendered as Markdown);
    finding values and rendered queries are printed as plain, terminal-safe text."""
    console.print(RichRule(Text(f"{rule.id}  {guide.title}", style="bold")))
    meta = Text()
    meta.append("ATT&CK ", style="dim")
    meta.append(", ".join(rule.techniques))
    meta.append("   severity ", style="dim")
    meta.append(rule.severity)
    meta.append("   confidence ", style="dim")
    meta.append(rule.confidence)
    meta.append("   profile ", style="dim")
    meta.append(rule.profile)
    if guide.superseded_by:
        meta.append("   superseded by ", style="dim")
        meta.append(guide.superseded_by, style="bold")
    console.print(meta)
    console.print()
    console.print(Text("What it detects", style="bold cyan"))
    console.print(Padding(Text(first_paragraph(rule.description)), (0, 0, 0, 2)))
    console.print(Padding(Text(guide.summary), (0, 0, 0, 2)))
    if finding is not None:
        console.print()
        console.print(Text("The finding", style="bold cyan"))
        for key, label in FINDING_FIELDS:
            value = finding.get(key)
            if value is None or value == "":
                continue
            row = Text("  ")
            row.append(f"{label}: ", style="dim")
            row.append(Text.from_markup(terminal_safe(value, 500)))
            console.print(row)
    console.print()
    console.print(Text("What to look at first", style="bold cyan"))
    console.print(_bullets(guide.look_first))
    shown = pivots if pivots is not None else guide.pivots
    console.print()
    console.print(Text("Pivots", style="bold cyan"))
    for note in notes:
        console.print(Text(f"  {note}", style="yellow"))
    missing = unfilled(shown)
    if missing:
        console.print(
            Text(
                "  placeholders not filled: " + ", ".join("{" + n + "}" for n in missing),
                style="yellow",
            )
        )
    for s, items in _select(shown, siem):
        console.print(Text(f"  {SIEM_NAMES[s]}", style="bold"))
        for p in items:
            console.print(Text(f"    {p.title}", style="italic"))
            for line in p.query.rstrip().splitlines():
                text = Text.from_markup("      " + terminal_safe(line, None))
                console.print(text, soft_wrap=True)
            console.print()
    for title, entries in (
        ("How to confirm", guide.confirm),
        ("How to dismiss (benign look-alikes)", guide.dismiss),
        ("How to contain", guide.contain),
    ):
        console.print(Text(title, style="bold cyan"))
        console.print(_bullets(entries))
        console.print()
    if guide.references:
        console.print(Text("References", style="bold cyan"))
        for ref in guide.references:
            console.print(Text(f"  - {ref}"))
