"""``relayhunt catalog``: list, match and process, as tables and JSON, safe on a terminal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relayhunt.catalog.cli import EXIT_USAGE, app

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def test_list_shows_platforms_with_weights() -> None:
    res = runner.invoke(app, ["list"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "Cloudflare Workers" in res.output
    assert "lambda-url.{aws_region}.on.aws" in res.output
    assert "0.90" in res.output


def test_list_kind_filter_as_json() -> None:
    res = runner.invoke(app, ["list", "--kind", "tunnel", "--json"])
    assert res.exit_code == 0, res.output
    entries = json.loads(res.output)
    assert entries and {e["kind"] for e in entries} == {"tunnel"}
    assert "trycloudflare.com" in {e["pattern"] for e in entries}


def test_list_rejects_unknown_kind() -> None:
    res = runner.invoke(app, ["list", "--kind", "cdn"])
    assert res.exit_code == 2


def test_match_table_names_platform_and_tenant() -> None:
    res = runner.invoke(app, ["match", "App.Account.Workers.dev.", "example.com"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "app.account.workers.dev" in res.output
    assert "account.workers.dev" in res.output
    assert "Cloudflare Workers" in res.output
    assert "no match" in res.output


def test_match_json_reports_legacy_lambda_alias() -> None:
    res = runner.invoke(
        app,
        [
            "match",
            "--json",
            "abc.lambda-url.us-east-1.amazonaws.com",
            "https://abc.lambda-url.us-east-1.on.aws/",
        ],
    )
    assert res.exit_code == 0, res.output
    legacy, current = json.loads(res.output)
    assert (legacy["id"], legacy["legacy"]) == ("aws-lambda-url-legacy-amazonaws", True)
    assert (current["id"], current["legacy"], current["tenant"]) == (
        "aws-lambda-url",
        False,
        "abc.lambda-url.us-east-1.on.aws",
    )


def test_match_escapes_terminal_control_characters() -> None:
    hostile = "\x1b]8;;http://evil\x07x\x1b[2J.workers.dev\x9b31m"
    res = runner.invoke(app, ["match", hostile], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output and "\x9b" not in res.output
    assert "\\x1b" in res.output
    assert "not a hostname" in res.output


def test_match_does_not_interpret_rich_markup_from_input() -> None:
    res = runner.invoke(app, ["match", "[bold red]x[/bold red].example"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "[bold red]x[/bold red].example" in res.output


def test_match_json_is_ascii_only() -> None:
    res = runner.invoke(app, ["match", "--json", "bücher.workers.dev", "\x1b[31m"])
    assert res.exit_code == 0, res.output
    assert res.output.isascii() and "\x1b" not in res.output
    first, second = json.loads(res.output)
    assert first["normalized_host"] == "xn--bcher-kva.workers.dev"
    assert second["matched"] is False and second["host"] == "\x1b[31m"


def test_match_with_custom_catalog() -> None:
    res = runner.invoke(
        app,
        [
            "match",
            "--json",
            "--catalog",
            str(FIXTURES / "minimal_serverless.yaml"),
            "a.example-functions.test",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["id"] == "example-functions"


def test_invalid_catalog_is_a_usage_error_with_location() -> None:
    bad = FIXTURES / "serverless_invalid" / "weight_out_of_range.yaml"
    res = runner.invoke(app, ["list", "--catalog", str(bad)], env=WIDE)
    assert res.exit_code == EXIT_USAGE
    assert "weight_out_of_range.yaml:17" in res.output
    assert "from 0 to 1" in res.output


def test_missing_catalog_file_is_a_usage_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["list", "--catalog", str(tmp_path / "nope.yaml")], env=WIDE)
    assert res.exit_code == EXIT_USAGE
    assert "cannot read" in res.output


def test_process_command_classifies_paths() -> None:
    res = runner.invoke(
        app,
        [
            "process",
            "--json",
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            "/tmp/x/curl",
        ],
    )
    assert res.exit_code == 0, res.output
    chrome, curl = json.loads(res.output)
    assert (chrome["basename"], chrome["category"]) == ("chrome.exe", "browser")
    assert (curl["category"], curl["subcategory"], curl["user_writable_dir"]) == (
        "lolbin",
        "downloader",
        "temp",
    )


def test_process_table() -> None:
    res = runner.invoke(app, ["process", "msedgewebview2.exe"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "webview" in res.output


def test_mounted_under_the_main_cli() -> None:
    from relayhunt.cli import app as main_app

    res = runner.invoke(main_app, ["catalog", "match", "--json", "x.pages.dev"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["id"] == "cloudflare-pages"
