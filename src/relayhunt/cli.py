"""The ``relayhunt`` command line.

Exit codes (see docs/cli.md):
  0  success: every input was read (individual rejected records may exist; they are
     reported, and ``--strict`` turns them into exit 3);
  1  internal error (a bug: please report it); for ``validate``, a failed validation
     (a missed detection or a false positive);
  2  usage error (bad option, unknown command, unwritable output);
  3  some input unreadable: a missing path, an unknown format, a truncated or corrupt
     file; or, with ``--strict``, any rejected record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from relayhunt import __version__
from relayhunt.ingest import IngestResult, ingest
from relayhunt.sources import registry
from relayhunt.store import Store, sql_literal
from relayhunt.textsafe import terminal_safe

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_FAILED = 1
"""``validate``: a detection was missed or a benign scenario flagged."""
EXIT_USAGE = 2
EXIT_INPUT = 3

T = TypeVar("T")

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
    _check_memory_limit(memory_limit)
    with Store(db, memory_limit=memory_limit) as store:
        from relayhunt.progress import ingest_progress

        with ingest_progress(quiet, after="writing" if out else "summarising") as progress:
            result = ingest(
                _resolve(paths), store, max_record_bytes=max_record_bytes, progress=progress
            )
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


def _check_memory_limit(value: str) -> None:
    """A usage error (exit 2) for a size DuckDB does not take, not an internal error."""
    if value == "auto":
        return
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {sql_literal(value)}")
    except duckdb.Error as exc:
        _usage(f"--memory-limit: {value!r} is not a size DuckDB takes (e.g. 4GB, 512MB): {exc}")
    finally:
        con.close()


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


# Options `hunt` and `report` share.
HtmlOption = Annotated[Path | None, typer.Option("--html", help="Write the HTML report to FILE.")]
NavigatorOption = Annotated[
    Path | None,
    typer.Option(
        "--navigator", help="Write an ATT&CK Navigator layer (JSON) of the techniques hit."
    ),
]


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
    html_out: HtmlOption = None,
    incidents_out: Annotated[
        Path | None, typer.Option("--incidents", help="Write incidents as NDJSON to FILE.")
    ] = None,
    navigator: NavigatorOption = None,
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
    memory_limit: Annotated[
        str,
        typer.Option(
            help="DuckDB memory limit (e.g. 4GB); 'auto': half of this machine's memory. "
            "It spills to disk beyond it."
        ),
    ] = "auto",
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
    _check_memory_limit(memory_limit)
    if config is not None and not config.is_file():
        _usage(f"--config: no such file: {config}")
    from relayhunt.progress import ingest_progress

    try:
        with ingest_progress(quiet, after="analysing") as progress:
            result = run_hunt(
                _resolve(paths),
                config,
                profile=profile,
                min_severity=min_severity,
                store=Store(db, memory_limit=memory_limit),
                progress=progress,
            )
    except ConfigError as exc:
        err = _console(err=True)
        err.print(f"[red]config error[/red] in {terminal_safe(config)}:")
        for problem in exc.problems or (str(exc),):
            err.print(f"  {terminal_safe(problem, None)}")
        raise typer.Exit(EXIT_USAGE) from None
    with result:
        try:
            # the report's lineage plot (and `relayhunt report` later) wants grandparents
            reported = result.findings
            if json_out is not None or html_out is not None:
                from relayhunt.report.context import with_process_ancestors

                reported = with_process_ancestors(result.findings, result.store.con)
            if json_out is not None:
                rndjson.write_findings(reported, json_out)
            if incidents_out is not None:
                rndjson.write_incidents(result.incidents, incidents_out)
            if csv_out is not None:
                rcsv.write_findings(result.findings, csv_out)
            if html_out is not None:
                rhtml.write_report(
                    html_out,
                    findings=reported,
                    incidents=result.incidents,
                    summary=result.summary,
                )
            if navigator is not None:
                from relayhunt.report.navigator import write_layer

                write_layer(navigator, result.findings)
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
            for written in (json_out, incidents_out, csv_out, html_out, navigator):
                if written is not None:
                    out.print(f"wrote {terminal_safe(written)}")
        rejected = result.store.count("ingest_issues")
        code = exit_code(result.ingest, rejected, strict)
    raise typer.Exit(code)


@app.command()
def report(
    findings: Annotated[
        Path, typer.Argument(help="Findings NDJSON written by `hunt --json`.", show_default=False)
    ],
    incidents: Annotated[
        Path | None,
        typer.Option("--incidents", help="Incidents NDJSON written by `hunt --incidents`."),
    ] = None,
    html_out: HtmlOption = None,
    navigator: NavigatorOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console output.")] = False,
) -> None:
    """Re-render the HTML report (and/or a Navigator layer) from saved hunt output."""
    import datetime as dt

    from relayhunt.report import html as rhtml
    from relayhunt.report import ndjson as rndjson
    from relayhunt.report.navigator import write_layer

    if html_out is None and navigator is None:
        _usage("nothing to write: give --html FILE and/or --navigator FILE")
    for path in (findings, incidents):
        if path is not None and not path.is_file():
            _console(err=True).print(f"[red]error:[/red] no such file: {terminal_safe(path)}")
            raise typer.Exit(EXIT_INPUT)
    try:
        table = rndjson.read_findings(findings)
        inc = (
            rndjson.read_incidents(incidents)
            if incidents is not None
            else rndjson.empty_incidents()
        )
    except (ValueError, OSError) as exc:
        _console(err=True).print(f"[red]error:[/red] {terminal_safe(exc)}")
        raise typer.Exit(EXIT_INPUT) from None
    summary: dict[str, object] = {
        "inputs": [str(p) for p in (findings, incidents) if p is not None],
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "source": "re-rendered from saved findings (relayhunt report)",
    }
    if incidents is None:
        summary["incidents"] = "not given (pass --incidents FILE)"
    try:
        if html_out is not None:
            rhtml.write_report(html_out, findings=table, incidents=inc, summary=summary)
        if navigator is not None:
            write_layer(navigator, table)
    except OSError as exc:
        _usage(f"cannot write output: {exc}")
    if not quiet:
        out = _console()
        out.print(f"{table.num_rows} finding(s), {inc.num_rows} incident(s)")
        for written in (html_out, navigator):
            if written is not None:
                out.print(f"wrote {terminal_safe(written)}")
    raise typer.Exit(EXIT_OK)


def _pick(
    values: list[str] | None, known: dict[str, T], what: str, resolve: Callable[[str], T]
) -> list[T]:
    """``all`` or names (repeated or comma-separated) -> the chosen items, in order."""
    names = [n.strip() for v in values or ["all"] for n in v.split(",") if n.strip()]
    if not names or "all" in names:
        return list(known.values())
    chosen: list[T] = []
    for name in names:
        try:
            item = resolve(name)
        except KeyError:
            _usage(f"unknown {what} {name!r} (one of: all, {', '.join(known)})")
        if item not in chosen:
            chosen.append(item)
    return chosen


ScenarioOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scenario",
        "-s",
        help="Scenario name or 'all' (default); repeat or comma-separate. --list shows them.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        "-f",
        help="Format name or 'all' (default); repeat or comma-separate. --list shows them.",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed: the same seed writes the same bytes.")]
StartOpt = Annotated[
    str, typer.Option(help="When the emulated activity begins (ISO 8601; naive = UTC).")
]


@app.command()
def emulate(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to write (created).")
    ] = None,
    scenario: ScenarioOpt = None,
    fmt: FormatOpt = None,
    seed: SeedOpt = 1,
    start: StartOpt = "2026-11-03T09:00:00Z",
    dataset: Annotated[
        bool, typer.Option("--dataset", help="Write the large labelled fleet instead.")
    ] = False,
    hosts: Annotated[int, typer.Option(help="--dataset: number of hosts.")] = 200,
    days: Annotated[float, typer.Option(help="--dataset: days of activity.")] = 7.0,
    list_: Annotated[
        bool, typer.Option("--list", help="List the scenarios and formats, and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> None:
    """Write the telemetry of emulated adversary tests and benign look-alikes, with the
    ground truth (truth.json) and tuning (tuning.yaml), or a labelled fleet (--dataset)."""
    from relayhunt.emulate import emulate as em
    from relayhunt.emulate.scenarios import BY_NAME as SCENARIOS
    from relayhunt.emulate.writers import BY_NAME as FORMATS
    from relayhunt.emulate.writers import resolve

    console = _console()
    if list_:
        _print_catalogue(console)
        raise typer.Exit(EXIT_OK)
    if out is None:
        _usage("--out DIR is required")
    assert out is not None
    chosen_formats = _pick(fmt, FORMATS, "format", resolve)
    try:
        t0 = em.parse_start(start)
    except ValueError:
        _usage(f"--start: not an ISO 8601 time: {start!r}")
    if out.exists() and not out.is_dir():
        _usage(f"--out: not a folder: {out}")
    if dataset:
        from relayhunt.emulate.dataset import dataset as make_dataset

        if scenario:
            _usage("--scenario does not apply to --dataset")
        try:
            ds = make_dataset(out, chosen_formats, hosts=hosts, days=days, seed=seed, start=t0)
        except ValueError as exc:
            _usage(str(exc))
        except OSError as exc:
            _usage(f"cannot write {out}: {exc}")
        if not quiet:
            c2 = sum(1 for lab in ds.labels if lab.label == "c2")
            console.print(
                f"wrote {len(ds.telemetry.events):,} events of {hosts} host(s) over {days:g} "
                f"day(s) in {len(ds.files)} format(s) to {terminal_safe(out)}; "
                f"{len(ds.labels):,} labelled groups ({c2} c2) in labels.csv"
            )
        raise typer.Exit(EXIT_OK)
    chosen = _pick(scenario, SCENARIOS, "scenario", lambda n: SCENARIOS[n.strip().lower()])
    try:
        result = em.emulate(out, chosen, chosen_formats, seed=seed, start=t0)
    except OSError as exc:
        _usage(f"cannot write {out}: {exc}")
    if not quiet:
        events = sum(len(t.events) for t in result.telemetry.values())
        console.print(
            f"wrote {len(chosen)} scenario(s), {events:,} events, in "
            f"{len(result.files)} format(s) to {terminal_safe(out)}"
        )
        for name, paths in result.files.items():
            console.print(f"  {name}: {len(paths)} file(s)")
        console.print(f"ground truth: {terminal_safe(result.truth_path)}")
        console.print(
            f"hunt one format with: relayhunt hunt {terminal_safe(out)}/FORMAT "
            f"--config {terminal_safe(result.tuning_path)}"
        )
    raise typer.Exit(EXIT_OK)


def _print_catalogue(console: Console) -> None:
    from relayhunt.emulate.scenarios import SCENARIOS
    from relayhunt.emulate.writers import FORMATS, reader_registered

    table = Table(title="scenarios", title_justify="left")
    table.add_column("scenario")
    table.add_column("kind")
    table.add_column("source")
    table.add_column("what")
    for s in SCENARIOS:
        table.add_row(s.name, s.kind, s.source, s.title)
    console.print(table)
    table = Table(title="formats", title_justify="left")
    table.add_column("format")
    table.add_column("product")
    table.add_column("read by")
    for f in FORMATS:
        table.add_row(f.name, f.product, f.reader if reader_registered(f) else "(no reader yet)")
    console.print(table)


@app.command()
def validate(
    scenario: ScenarioOpt = None,
    fmt: FormatOpt = None,
    seed: SeedOpt = 1,
    start: StartOpt = "2026-11-03T09:00:00Z",
    keep: Annotated[
        Path | None,
        typer.Option(help="Keep the emulated telemetry and truth in this folder."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result as JSON to FILE.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list every other finding.")
    ] = False,
) -> None:
    """Emulate every scenario, hunt each format, and check the findings against the
    ground truth. Exit 1 on any miss or false positive, 3 if the emulated data could
    not be read."""
    from relayhunt.emulate import emulate as em
    from relayhunt.emulate.matrix import render
    from relayhunt.emulate.scenarios import BY_NAME as SCENARIOS
    from relayhunt.emulate.validate import validate as run_validate
    from relayhunt.emulate.writers import BY_NAME as FORMATS
    from relayhunt.emulate.writers import resolve

    chosen = _pick(scenario, SCENARIOS, "scenario", lambda n: SCENARIOS[n.strip().lower()])
    chosen_formats = _pick(fmt, FORMATS, "format", resolve)
    try:
        t0 = em.parse_start(start)
    except ValueError:
        _usage(f"--start: not an ISO 8601 time: {start!r}")
    if keep is not None and keep.exists() and not keep.is_dir():
        _usage(f"--keep: not a folder: {keep}")
    try:
        report = run_validate(chosen_formats, chosen, seed=seed, start=t0, workdir=keep)
    except OSError as exc:
        _usage(f"cannot write the emulated data: {exc}")
    detected = _console()
    # the matrix needs about 200 columns; a terminal keeps its own width (cells are cut)
    width = detected.width if detected.is_terminal else 200
    console = Console(highlight=False, soft_wrap=False, width=width)
    render(report, console, verbose=verbose)
    if json_out is not None:
        import json

        try:
            json_out.write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
        except OSError as exc:
            _usage(f"cannot write {json_out}: {exc}")
    if report.input_problems:
        raise typer.Exit(EXIT_INPUT)
    raise typer.Exit(EXIT_FAILED if report.failures else EXIT_OK)


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
    from relayhunt.export.cli import export_command

    app.command(
        "export",
        help="Export the detections to Sigma, EQL, KQL, LogScale, YARA-L, Sumo Logic and SPL.",
    )(export_command)
    from relayhunt.guides.cli import explain_command

    app.command("explain", help="Show a rule and its investigation guide.")(explain_command)


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
