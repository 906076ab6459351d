"""``relayhunt catalog``: show the serverless catalog and test hostnames and process paths
against it. Everything printed that came from the command line (hostnames, paths) is
attacker-controllable, so it goes through :func:`relayhunt.textsafe.terminal_safe` (control
characters, ESC, C1 and bidi overrides made visible, rich markup escaped) or, with
``--json``, through ASCII-only JSON.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from relayhunt.catalog.loader import load_catalog
from relayhunt.catalog.match import classify_processes, match_hosts
from relayhunt.catalog.model import Catalog, CatalogError
from relayhunt.textsafe import terminal_safe

EXIT_USAGE = 2

app = typer.Typer(
    name="catalog",
    help="Show the serverless catalog and test hostnames and process paths against it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class KindChoice(StrEnum):
    serverless = "serverless"
    edge = "edge"
    paas = "paas"
    tunnel = "tunnel"


CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Use this serverless.yaml instead of the bundled one.",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _load(path: Path | None) -> Catalog:
    try:
        return load_catalog(path)
    except CatalogError as exc:
        err = Console(stderr=True, highlight=False)
        err.print(f"[red]error:[/red] {terminal_safe(exc.issues[0].file)} is not a valid catalog")
        for issue in exc.issues:
            err.print(f"  {terminal_safe(str(issue), None)}")
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        Console(stderr=True, highlight=False).print(
            f"[red]error:[/red] cannot read {terminal_safe(str(path))}: "
            f"{terminal_safe(exc.strerror or str(exc))}"
        )
        raise typer.Exit(EXIT_USAGE) from None


def _emit_json(value: object) -> None:
    # ensure_ascii: every control or non-ASCII character of the input becomes a \\u escape.
    typer.echo(json.dumps(value, ensure_ascii=True, indent=2))


@app.command("list")
def list_entries(
    kind: Annotated[
        KindChoice | None, typer.Option("--kind", help="Only entries of this kind.")
    ] = None,
    as_json: JsonOption = False,
    catalog_path: CatalogOption = None,
) -> None:
    """List the catalogued platforms: platform, provider, kind, hostname pattern, weight."""
    catalog = _load(catalog_path)
    entries = [e for e in catalog.entries if kind is None or e.kind == kind.value]
    if as_json:
        _emit_json(
            [
                {
                    "id": e.id,
                    "platform": e.platform,
                    "provider": e.provider,
                    "kind": e.kind,
                    "pattern": e.pattern,
                    "weight": e.weight,
                    "legacy": e.legacy,
                    "customer_namespace": e.customer_namespace,
                    "tenant_mode": e.tenant_mode,
                    "source": e.source,
                    "notes": e.notes,
                }
                for e in entries
            ]
        )
        return
    table = Table(
        title=f"serverless catalog {terminal_safe(catalog.catalog_version)}: "
        f"{len(entries)} of {len(catalog.entries)} entries",
        title_justify="left",
    )
    for column in ("platform", "provider", "kind", "pattern"):
        table.add_column(column, overflow="fold")
    table.add_column("weight", justify="right")
    for e in entries:
        flags = " (legacy)" if e.legacy else ""
        flags += " (not a customer namespace)" if not e.customer_namespace else ""
        table.add_row(
            terminal_safe(e.platform + flags),
            terminal_safe(e.provider),
            e.kind,
            terminal_safe(e.pattern),
            f"{e.weight:.2f}",
        )
    _console().print(table)


@app.command("match")
def match(
    hosts: Annotated[
        list[str],
        typer.Argument(help="Hostnames, host:port or URLs.", show_default=False),
    ],
    as_json: JsonOption = False,
    catalog_path: CatalogOption = None,
) -> None:
    """Show which catalogued platform each HOST belongs to, and its tenant."""
    catalog = _load(catalog_path)
    rows = match_hosts(hosts, catalog).to_pylist()
    if as_json:
        _emit_json(
            [
                {
                    "host": row["host"],
                    "normalized_host": row["serverless_normalized_host"],
                    "matched": row["serverless_id"] is not None,
                    "id": row["serverless_id"],
                    "platform": row["serverless_platform"],
                    "provider": row["serverless_provider"],
                    "kind": row["serverless_kind"],
                    "weight": row["serverless_weight"],
                    "pattern": row["serverless_pattern"],
                    "tenant": row["serverless_tenant"],
                    "legacy": row["serverless_legacy"],
                }
                for row in rows
            ]
        )
        return
    table = Table(title_justify="left")
    for column in ("host", "normalized", "platform", "provider", "kind", "tenant"):
        table.add_column(column, overflow="fold")
    for row in rows:
        normalized = row["serverless_normalized_host"]
        shown = terminal_safe(normalized) if normalized is not None else "[dim]not a hostname[/dim]"
        if row["serverless_id"] is None:
            table.add_row(terminal_safe(row["host"]), shown, "[dim]no match[/dim]", "", "", "")
            continue
        platform = terminal_safe(row["serverless_platform"])
        if row["serverless_legacy"]:
            platform += " [yellow](legacy)[/yellow]"
        tenant = row["serverless_tenant"]
        table.add_row(
            terminal_safe(row["host"]),
            shown,
            platform,
            terminal_safe(row["serverless_provider"]),
            terminal_safe(row["serverless_kind"]),
            terminal_safe(tenant) if tenant is not None else "[dim]-[/dim]",
        )
    _console().print(table)


@app.command("process")
def process(
    paths: Annotated[
        list[str],
        typer.Argument(help="Process image paths or names.", show_default=False),
    ],
    as_json: JsonOption = False,
) -> None:
    """Classify process images: browser, webview or LOLBin, and user-writable folder."""
    rows = classify_processes(paths, load_catalog()).to_pylist()
    if as_json:
        _emit_json(
            [
                {
                    "path": row["path"],
                    "basename": row["process_basename"],
                    "category": row["process_category"],
                    "subcategory": row["process_subcategory"],
                    "user_writable_dir": row["process_user_writable_dir"],
                }
                for row in rows
            ]
        )
        return
    table = Table(title_justify="left")
    for column in ("path", "basename", "category", "subcategory", "user-writable folder"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            terminal_safe(row["path"]),
            terminal_safe(row["process_basename"] or ""),
            terminal_safe(row["process_category"] or "-"),
            terminal_safe(row["process_subcategory"] or ""),
            terminal_safe(row["process_user_writable_dir"] or ""),
        )
    _console().print(table)
