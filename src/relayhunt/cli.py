"""The ``relayhunt`` command line.

Exit codes (see docs/cli.md):
  0  success: every input was read (individual rejected records may exist; they are
     reported, and ``--strict`` turns them into exit 3);
  1  internal error (a bug: please report it);
  2  usage error (bad option, unknown command, unwritable output);
  3  some input unreadable: a missing path, an unknown format, a truncated or corrupt
     file; or, with ``--strict``, any rejected record.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from relayhunt import __version__
from relayhunt.ingest import IngestResult, ingest
from relayhunt.sources import registry
from relayhunt.store import Store
from relayhunt.textsafe import terminal_safe

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3

app = typer.Typer(
    name="relayhunt",
    help="Find C2 traffic hidden behind serverless and edge platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(err: bool = False) -> Console:
    return Console(stderr=err, highlight=False, soft_wrap=False)


def samples_dir() -> Path:
    """The bundled sample telemetry."""
    return Path(str(resources.files("relayhunt") / "samples"))


PathsArg = Annotated[
    list[str],
    typer.Argument(
        help="Files, directories (walked) or '-' for stdin; gzip is detected. "
        "Use 'samples' for the bundled sample telemetry.",
        show_default=False,
    ),
]


def _resolve(paths: list[str]) -> list[str]:
    return [str(samples_dir()) if p == "samples" and not Path(p).exists() else p for p in paths]


@app.command()
def normalize(
    paths: PathsArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write events to FILE: .parquet, .ndjson or .duckdb."),
    ] = None,
    issues: Annotated[
        Path | None,
        typer.Option(help="Write every rejected record to FILE (.csv or .ndjson)."),
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="Keep the store in this DuckDB file (default: memory).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 3 if any record was rejected.")] = False,
    max_record_bytes: Annotated[
        int, typer.Option(help="Longest record accepted (bytes); longer ones are reported.")
    ] = 16 * 1024 * 1024,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB memory limit; it spills to disk beyond it.")
    ] = "1GB",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> None:
    """Read telemetry into the normalized tables and print what was read and rejected."""
    if out is not None and out.suffix.lower() not in (
        ".parquet",
        ".ndjson",
        ".jsonl",
        ".json",
        ".duckdb",
    ):
        _usage(f"--out: unsupported extension {out.suffix!r} (.parquet, .ndjson, .duckdb)")
    if issues is not None and issues.suffix.lower() not in (".csv", ".ndjson", ".jsonl", ".json"):
        _usage(f"--issues: unsupported extension {issues.suffix!r} (.csv, .ndjson)")
    with Store(db, memory_limit=memory_limit) as store:
        result = ingest(_resolve(paths), store, max_record_bytes=max_record_bytes)
        if out is not None:
            try:
                store.export(out)
            except Exception as exc:
                _usage(f"cannot write {out}: {exc}")
        if issues is not None:
            try:
                store.export_issues(issues)
            except Exception as exc:
                _usage(f"cannot write {issues}: {exc}")
        if not quiet:
            print_summary(store, result, _console())
        rejected = store.count("ingest_issues")
    raise typer.Exit(exit_code(result, rejected, strict))


def exit_code(result: IngestResult, rejected: int, strict: bool) -> int:
    if result.unreadable:
        return EXIT_INPUT
    if strict and rejected:
        return EXIT_INPUT
    return EXIT_OK


def _usage(message: str) -> None:
    _console(err=True).print(f"[red]error:[/red] {terminal_safe(message)}")
    raise typer.Exit(EXIT_USAGE)


def print_summary(store: Store, result: IngestResult, console: Console) -> None:
    summary = store.summary()
    rate = result.records / result.seconds if result.seconds > 0 else 0.0
    console.print(
        f"read {summary['files']} file(s), {summary['bytes_read']:,} bytes, "
        f"{summary['records_seen']:,} records in {result.seconds:.2f} s "
        f"({rate:,.0f} records/s)"
    )
    events = Table(title="events stored", title_justify="left")
    events.add_column("format")
    events.add_column("table")
    events.add_column("events", justify="right")
    for row in summary["events"]:
        events.add_row(row["format"], row["table"], f"{row['count']:,}")
    if not summary["events"]:
        events.add_row("-", "-", "0")
    console.print(events)
    if summary["skipped"]:
        skipped = Table(title="event types not used (counted, not errors)", title_justify="left")
        skipped.add_column("format")
        skipped.add_column("event type")
        skipped.add_column("count", justify="right")
        for row in summary["skipped"][:20]:
            skipped.add_row(row["format"], terminal_safe(row["label"], 80), f"{row['count']:,}")
        if len(summary["skipped"]) > 20:
            skipped.add_row("…", f"{len(summary['skipped']) - 20} more types", "")
        console.print(skipped)
    if summary["issues"]:
        issues = Table(title="rejected or damaged records", title_justify="left")
        issues.add_column("severity")
        issues.add_column("reason")
        issues.add_column("count", justify="right")
        for row in summary["issues"]:
            issues.add_row(row["severity"], row["reason_code"], f"{row['count']:,}")
        console.print(issues)
        first = store.con.execute(
            "SELECT log_file_path, log_line, log_record, log_offset, reason FROM ingest_issues "
            "ORDER BY severity, log_file_path, log_line NULLS LAST, log_record LIMIT 10"
        ).fetchall()
        for path, line, record, offset, reason in first:
            where = (
                f":{line}"
                if line is not None
                else f" record {record}"
                if record is not None
                else f" @{offset}"
                if offset is not None
                else ""
            )
            console.print(f"  {terminal_safe(path, 120)}{where}: {terminal_safe(reason, 200)}")
        console.print("  (all of them: --issues FILE)")
    else:
        console.print("no records rejected")


SEVERITY_CHOICES = ("info", "low", "medium", "high", "critical")


@app.command()
def hunt(
    paths: PathsArg,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Tuning file (YAML).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write findings as NDJSON to FILE.")
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write findings as CSV to FILE.")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report to FILE.")
    ] = None,
    incidents_out: Annotated[
        Path | None, typer.Option("--incidents", help="Write incidents as NDJSON to FILE.")
    ] = None,
    min_severity: Annotated[
        str | None,
        typer.Option(help="Drop findings below this severity (info|low|medium|high|critical)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="default (relayhunt's rules) | compat (the vendors' rules reproduced) | all."
        ),
    ] = None,
    show_suppressed: Annotated[
        bool, typer.Option(help="Also list the findings the allowlist suppressed.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Rows in the console table.")] = 50,
    db: Annotated[
        Path | None, typer.Option(help="Keep the store in this DuckDB file (default: memory).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 3 if any record was rejected.")] = False,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit.")] = "4GB",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console output.")] = False,
) -> None:
    """Hunt for serverless C2 in telemetry: ranked findings, incidents, reports."""
    from relayhunt.api import hunt as run_hunt
    from relayhunt.config import ConfigError
    from relayhunt.report import console as rconsole
    from relayhunt.report import csv as rcsv
    from relayhunt.report import html as rhtml
    from relayhunt.report import ndjson as rndjson

    if min_severity is not None and min_severity not in SEVERITY_CHOICES:
        _usage(f"--min-severity must be one of {', '.join(SEVERITY_CHOICES)}")
    if profile is not None and profile not in ("default", "compat", "all"):
        _usage("--profile must be default, compat or all")
    if config is not None and not config.is_file():
        _usage(f"--config: no such file: {config}")
    try:
        result = run_hunt(
            _resolve(paths),
            config,
            profile=profile,
            min_severity=min_severity,
            store=Store(db, memory_limit=memory_limit),
        )
    except ConfigError as exc:
        err = _console(err=True)
        err.print(f"[red]config error[/red] in {terminal_safe(config)}:")
        for problem in exc.problems or (str(exc),):
            err.print(f"  {terminal_safe(problem, None)}")
        raise typer.Exit(EXIT_USAGE) from None
    with result:
        try:
            if json_out is not None:
                rndjson.write_findings(result.findings, json_out)
            if incidents_out is not None:
                rndjson.write_incidents(result.incidents, incidents_out)
            if csv_out is not None:
                rcsv.write_findings(result.findings, csv_out)
            if html_out is not None:
                rhtml.write_report(
                    html_out,
                    findings=result.findings,
                    incidents=result.incidents,
                    summary=result.summary,
                )
        except OSError as exc:
            _usage(f"cannot write output: {exc}")
        if not quiet:
            out = _console()
            for warning in result.summary.get("config_warnings", []):
                _console(err=True).print(f"[yellow]config:[/yellow] {terminal_safe(warning)}")
            rconsole.print_incidents(result.incidents, out, limit=limit)
            rconsole.print_findings(result.findings, out, limit=limit)
            if show_suppressed and result.suppressed.num_rows:
                out.print("suppressed by the allowlist:")
                rconsole.print_findings(result.suppressed, out, limit=limit)
            out.print(
                f"{result.findings.num_rows} finding(s) in {result.incidents.num_rows} "
                f"incident(s); {result.suppressed.num_rows} suppressed by the allowlist"
                + (
                    ""
                    if show_suppressed or not result.suppressed.num_rows
                    else " (list them with --show-suppressed)"
                )
                + f"; {result.below_min_severity} below --min-severity; "
                f"{result.ingest.records:,} records read"
            )
            rejected = result.store.count("ingest_issues")
            if rejected or result.ingest.unreadable:
                out.print(
                    f"{rejected} input record(s) rejected or damaged: run "
                    "`relayhunt normalize` on the same input for the details"
                )
            for written in (json_out, incidents_out, csv_out, html_out):
                if written is not None:
                    out.print(f"wrote {terminal_safe(written)}")
        rejected = result.store.count("ingest_issues")
        code = exit_code(result.ingest, rejected, strict)
    raise typer.Exit(code)


@app.command()
def formats() -> None:
    """List the telemetry formats relayhunt reads."""
    table = Table()
    table.add_column("format")
    table.add_column("what")
    for reader in registry():
        table.add_row(reader.name, reader.description)
    _console().print(table)


@app.command()
def version() -> None:
    """Print the version."""
    _console().print(f"relayhunt {__version__}")


def _mount_subapps() -> None:
    try:
        from relayhunt.catalog.cli import app as catalog_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - the catalog package is always shipped
        return
    app.add_typer(catalog_app, name="catalog", help="Show and test the serverless catalog.")


_mount_subapps()


def main() -> None:
    """Entry point: map unexpected failures to exit 1 with a short message."""
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - last resort
        _console(err=True).print(
            f"[red]internal error:[/red] {terminal_safe(type(exc).__name__)}: {terminal_safe(exc)}"
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
