"""The bundled catalog data: every entry is well formed, sourced, and behaves as documented."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest

from relayhunt.catalog import Catalog, ServerlessEntry, load_catalog
from relayhunt.catalog.model import KINDS, LOLBIN_SUBCATEGORIES

CATALOG = load_catalog()
ENTRIES = CATALOG.entries
EXAMPLES = [(e, x.host, x.tenant) for e in ENTRIES for x in e.examples]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_has_source_and_valid_fields(entry: ServerlessEntry) -> None:
    assert entry.source.strip()
    assert entry.platform.strip() and entry.provider.strip()
    assert entry.kind in KINDS
    assert 0.0 <= entry.weight <= 1.0
    assert entry.examples


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_pattern_is_lowercase_labels_with_known_placeholders(entry: ServerlessEntry) -> None:
    labels = entry.pattern.split(".")
    assert len(labels) >= 2
    assert all(re.fullmatch(r"(?:[a-z0-9-]|\{[a-z][a-z0-9_]*\})+", label) for label in labels)
    assert set(re.findall(r"\{(\w+)\}", entry.pattern)) <= set(CATALOG.placeholders)
    assert entry.tail_labels >= 2
    assert "{" not in entry.tail


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_regex_is_portable(entry: ServerlessEntry) -> None:
    # Embedded in DuckDB and Spark SQL literals: no backslash, anchored, case-insensitive.
    assert "\\" not in entry.regex
    assert entry.regex.startswith("(?i)^") and entry.regex.endswith("$")


@pytest.mark.parametrize(
    ("entry", "host", "tenant"), EXAMPLES, ids=[f"{e.id}:{h}" for e, h, _ in EXAMPLES]
)
def test_documented_example_matches_its_entry_with_its_tenant(
    match_one: Callable[[str], dict[str, Any]],
    entry: ServerlessEntry,
    host: str,
    tenant: str | None,
) -> None:
    row = match_one(host)
    assert row["serverless_id"] == entry.id
    assert row["serverless_tenant"] == tenant
    assert row["serverless_platform"] == entry.platform
    assert row["serverless_weight"] == entry.weight
    assert row["serverless_legacy"] is entry.legacy


@pytest.mark.parametrize("placeholder", CATALOG.placeholders.values(), ids=lambda p: p.name)
def test_placeholder_example_is_one_label_of_its_regex(placeholder: Any) -> None:
    assert "." not in placeholder.example
    assert re.fullmatch(placeholder.regex, placeholder.example)
    assert "\\" not in placeholder.regex
    assert placeholder.source.strip()


@pytest.mark.parametrize(
    ("region", "matches"),
    [
        ("us-east-1", True),
        ("us-gov-west-1", True),
        ("us-isob-east-1", True),
        ("ap-southeast-7", True),
        ("cn-north-1", True),
        ("useast1", False),
        ("us-east", False),
        ("us-east-1a", False),
        ("US_EAST_1", False),
    ],
)
def test_aws_region_vocabulary(region: str, matches: bool) -> None:
    assert bool(re.fullmatch(CATALOG.placeholders["aws_region"].regex, region)) is matches


def test_entry_ids_and_patterns_are_unique() -> None:
    assert len({e.id for e in ENTRIES}) == len(ENTRIES)
    assert len({e.pattern for e in ENTRIES}) == len(ENTRIES)


def test_priorities_order_more_labels_first() -> None:
    ranked = CATALOG.by_priority()
    assert [e.priority for e in ranked] == list(range(1, len(ranked) + 1))
    assert all(a.pattern_labels >= b.pattern_labels for a, b in pairwise(ranked))


# The seed documents' platform lists, and the catalog entry each one must land in.
SEED_HOSTS = [
    ("x.workers.dev", "cloudflare-workers"),
    ("x.pages.dev", "cloudflare-pages"),
    ("x.cloudflareworkers.com", "cloudflare-workers-preview-service"),
    ("a1.execute-api.us-east-1.amazonaws.com", "aws-api-gateway"),
    ("a1.lambda-url.us-east-1.amazonaws.com", "aws-lambda-url-legacy-amazonaws"),
    ("script.google.com", "gcp-apps-script"),
    ("us-central1-p.cloudfunctions.net", "gcp-cloud-functions"),
    ("svc-abc-uc.a.run.app", "gcp-cloud-run"),
    ("x.azurewebsites.net", "azure-app-service"),
    ("a.b.westeurope.azurecontainerapps.io", "azure-container-apps"),
    ("x.netlify.app", "netlify"),
    ("x.vercel.app", "vercel"),
    ("x.supabase.co", "supabase"),
    ("x.deno.dev", "deno-deploy"),
]


@pytest.mark.parametrize(("host", "entry_id"), SEED_HOSTS, ids=[h for h, _ in SEED_HOSTS])
def test_every_seed_platform_is_catalogued(
    match_one: Callable[[str], dict[str, Any]], host: str, entry_id: str
) -> None:
    assert match_one(host)["serverless_id"] == entry_id


def test_lambda_amazonaws_alias_is_legacy_and_explained() -> None:
    entry = CATALOG.entry("aws-lambda-url-legacy-amazonaws")
    assert entry.legacy
    assert entry.notes is not None and "never" in entry.notes.lower()
    assert CATALOG.entry("aws-lambda-url").pattern == "lambda-url.{aws_region}.on.aws"


def test_cloudflareworkers_is_flagged_not_a_customer_namespace() -> None:
    entry = CATALOG.entry("cloudflare-workers-preview-service")
    assert entry.customer_namespace is False
    assert entry.tenant_mode == "none"
    assert entry.weight <= 0.25


def test_weights_rank_function_endpoints_above_cdns() -> None:
    weight = {e.id: e.weight for e in ENTRIES}
    high = ("cloudflare-workers", "aws-lambda-url", "gcp-apps-script")
    low = ("aws-cloudfront", "azure-cdn", "akamai-edgekey")
    assert min(weight[i] for i in high) > max(weight[i] for i in low)


# ---------------------------------------------------------------------------- processes

PROCESSES = CATALOG.processes

# Seed 002's lists, seeds 003/004's browser regex and seed 004's is_suspicious regex.
SEED_BROWSERS = ["chrome.exe", "firefox.exe", "msedge.exe", "iexplore.exe", "opera.exe",
                 "brave.exe", "vivaldi.exe"]  # fmt: skip
SEED_LOLBINS = ["powershell.exe", "pwsh.exe", "cmd.exe", "wscript.exe", "cscript.exe",
                "mshta.exe", "rundll32.exe", "regsvr32.exe", "msbuild.exe", "python.exe",
                "python3.exe", "node.exe", "curl.exe", "wget.exe", "wmic.exe",
                "bitsadmin.exe"]  # fmt: skip


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_process_entry_is_sourced_lowercase_basename(process: Any) -> None:
    assert process.source.strip()
    assert process.name == process.name.lower()
    assert "/" not in process.name and "\\" not in process.name
    assert (process.subcategory in LOLBIN_SUBCATEGORIES) is (process.category == "lolbin")


@pytest.mark.parametrize("name", SEED_BROWSERS)
def test_seed_browsers_are_browsers(catalog: Catalog, name: str) -> None:
    assert next(p for p in catalog.processes if p.name == name).category == "browser"


@pytest.mark.parametrize("name", SEED_LOLBINS)
def test_seed_suspicious_processes_are_lolbins(catalog: Catalog, name: str) -> None:
    assert next(p for p in catalog.processes if p.name == name).category == "lolbin"


def test_webview2_is_its_own_category_not_a_browser(catalog: Catalog) -> None:
    webview = next(p for p in catalog.processes if p.name == "msedgewebview2.exe")
    assert webview.category == "webview"


@pytest.mark.parametrize("path", CATALOG.writable_paths, ids=lambda w: w.pattern)
def test_writable_path_pattern_is_a_folder_with_source(path: Any) -> None:
    assert path.pattern.endswith(("\\", "/"))
    assert path.source.strip()
    assert path.regex.startswith("^")
    assert "\\" not in path.regex
