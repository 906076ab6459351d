"""``relayhunt export``: write the rules for Sigma and the SIEM query languages.

Register in ``relayhunt/cli.py`` with ``app.command("export")(export_command)``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from relayhunt.catalog.loader import load_catalog
from relayhunt.catalog.model import CatalogError
from relayhunt.config import ConfigError, load_config
from relayhunt.detect import rules as all_rules
from relayhunt.export import render, write
from relayhunt.export.allowlist import Allowlist
from relayhunt.export.escape import UnsafeValue
from relayhunt.export.model import ExportError, build_spec
from relayhunt.textsafe import terminal_safe

EXIT_OK = 0
EXIT_USAGE = 2


class Target(StrEnum):
    sigma = "sigma"
    eql = "eql"
    logscale = "logscale"
    kql = "kql"
    yaral = "yaral"
    sumo = "sumo"
    spl = "spl"
    all = "all"


def export_command(
    target: Annotated[
        list[Target],
        typer.Option(
            "--target", "-t", help="Language to export (repeatable); 'all' for every one."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder to write into (created).", file_okay=False),
    ] = Path("relayhunt-export"),
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog", help="Use this serverless.yaml instead of the bundled one.", dir_okay=False
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Tuning file: its active allowlist entries become exclusions in every "
            "language (where the events carry the entries' fields) and its top-level "
            "'deployers' exclusions in the RH-CP exports.",
            dir_okay=False,
        ),
    ] = None,
    min_weight: Annotated[
        float,
        typer.Option(
            "--min-weight",
            help="Leave out catalog platforms weighted below this (0-1).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
) -> None:
    """Export the detections to Sigma, EQL, KQL, LogScale, YARA-L, Sumo Logic and SPL."""
    console = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False)
    try:
        cat = load_catalog(catalog) if catalog is not None else None
        deployers: tuple[str, ...] = ()
        allowlist: Allowlist | None = None
        if config is not None:
            registry = {r.id: dict(r.thresholds) for r in all_rules()}
            tuning = load_config(config, rules=registry)
            deployers = tuning.deployers
            if tuning.allowlist:  # no allowlist: the exports stay as without one
                allowlist = Allowlist.from_config(tuning)
                for warning in tuning.warnings(allowlist.today):
                    err.print(f"warning: {terminal_safe(warning)} (not exported)")
        spec = build_spec(cat, min_weight=min_weight, deployers=deployers, allowlist=allowlist)
        rendered = render([t.value for t in target], spec)
        written = write(rendered, out)
    except (CatalogError, ConfigError, ExportError, UnsafeValue) as exc:
        err.print(f"error: {terminal_safe(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except OSError as exc:
        err.print(f"error: cannot write {terminal_safe(str(out))}: {terminal_safe(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    table = Table(title=f"relayhunt export ({len(written)} files in {terminal_safe(str(out))})")
    table.add_column("target")
    table.add_column("file")
    table.add_column("rules")
    for f in rendered.files:
        table.add_row(f.target, terminal_safe(f.path), ", ".join(f.rule_ids))
    console.print(table)
    if rendered.omitted:
        skipped = Table(title="not exported")
        skipped.add_column("target")
        skipped.add_column("rule")
        skipped.add_column("why")
        for o in rendered.omitted:
            skipped.add_row(o.target, o.rule_id, o.reason)
        console.print(skipped)
    raise typer.Exit(EXIT_OK)
