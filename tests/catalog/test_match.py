"""Matching a relation against the catalog: label boundaries, specificity, tenants, SQL."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayhunt.catalog import (
    MATCH_COLUMNS,
    Catalog,
    ServerlessEntry,
    load_catalog,
    match_hosts,
    match_query,
    match_sql,
)
from relayhunt.catalog.reference import match_host

CATALOG = load_catalog()
Matcher = Callable[[list[str | None]], list[dict[str, Any]]]
MatchOne = Callable[[str | None], dict[str, Any]]

PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def instance(entry: ServerlessEntry) -> str:
    """The entry's pattern with each placeholder replaced by its example."""
    text = entry.pattern
    for name, placeholder in CATALOG.placeholders.items():
        text = text.replace("{" + name + "}", placeholder.example)
    return text


# A DNS label: letters, digits, '-', '_'; any case (matching is case-insensitive).
LABEL = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=24)
ENTRY = st.sampled_from(CATALOG.entries)
# Last labels of catalog tails: a host ending in anything else cannot match.
CATALOG_TLDS = frozenset(e.tail.rsplit(".", 1)[-1] for e in CATALOG.entries)


# ---------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("host", "entry_id"),
    [
        ("workers.dev", "cloudflare-workers"),
        ("x.workers.dev", "cloudflare-workers"),
        ("a.b.c.workers.dev", "cloudflare-workers"),
        ("notworkers.dev", None),
        ("workers.dev.attacker.example", None),
        ("workers.devx", None),
        ("x.workers.dev-evil.com", None),
        ("xworkers.dev", None),
        ("workers-dev.com", None),
        ("script.google.com", "gcp-apps-script"),
        ("notscript.google.com", None),
        ("script.google.com.evil.example", None),
        ("a.script.google.com", "gcp-apps-script"),
        ("google.com", None),
        ("lambda-url.us-east-1.on.aws", "aws-lambda-url"),
        ("x.lambda-url.us-east-1.on.aws", "aws-lambda-url"),
        ("x.notlambda-url.us-east-1.on.aws", None),
        ("x.lambda-url.us-east-1x.on.aws", None),
        ("x.lambda-url.us-east-1.on.aws.evil.example", None),
        ("x.lambda-url.on.aws", None),
        ("on.aws", None),
        ("x.s3.us-east-1.amazonaws.com", None),
        ("amazonaws.com", None),
    ],
)
def test_label_boundaries(match_one: MatchOne, host: str, entry_id: str | None) -> None:
    assert match_one(host)["serverless_id"] == entry_id


@PROPERTY
@given(label=LABEL, entry=ENTRY)
def test_label_dot_suffix_matches_the_suffix_entry_or_a_more_specific_one(
    match_one: MatchOne, label: str, entry: ServerlessEntry
) -> None:
    host = f"{label}.{instance(entry)}"
    row = match_one(host)
    assert row["serverless_id"] is not None
    matched = CATALOG.entry(row["serverless_id"])
    # Either the suffix's own entry, or one that is more specific and matches too
    # (label "westus-01" + "azurewebsites.net" is a regional App Service host).
    assert matched.id == entry.id or (
        matched.priority < entry.priority and match_host(CATALOG, host) is not None
    )


@PROPERTY
@given(label=LABEL.filter(lambda s: s.lower() not in CATALOG_TLDS), entry=ENTRY)
def test_suffix_dot_label_never_matches(
    match_one: MatchOne, label: str, entry: ServerlessEntry
) -> None:
    assert match_one(f"{instance(entry)}.{label}")["serverless_id"] is None


@PROPERTY
@given(label=LABEL, entry=ENTRY)
def test_suffix_dot_label_never_matches_the_suffix_entry(
    match_one: MatchOne, label: str, entry: ServerlessEntry
) -> None:
    assert match_one(f"{instance(entry)}.{label}")["serverless_id"] != entry.id


@PROPERTY
@given(prefix=LABEL, entry=ENTRY.filter(lambda e: "{" not in e.pattern))
def test_glued_prefix_never_matches_the_suffix_entry(
    match_one: MatchOne, prefix: str, entry: ServerlessEntry
) -> None:
    host = prefix + instance(entry)  # no dot: "not" + "workers.dev"
    row = match_one(host)
    assert row["serverless_id"] != entry.id
    if row["serverless_id"] is not None:
        # Only when the glued name ends with another catalog suffix on a label boundary.
        other = CATALOG.entry(row["serverless_id"])
        assert host.lower().endswith("." + other.tail)
        assert re.fullmatch(other.regex, host)


# ---------------------------------------------------------------------------- the oracle

FRAGMENTS = sorted(
    {label for e in CATALOG.entries for label in instance(e).split(".")}
    | {"us-east-1", "eu-west-9", "westus-01", "z01", "r", "uc", "eu", "a", "www", "com", "evil"}
)
HOSTISH = st.lists(st.one_of(st.sampled_from(FRAGMENTS), LABEL), min_size=1, max_size=7).map(
    ".".join
)


@settings(max_examples=200, deadline=None)
@given(hosts=st.lists(HOSTISH, min_size=1, max_size=25))
def test_sql_agrees_with_the_python_reference(match_many: Matcher, hosts: list[str]) -> None:
    rows = match_many(list(hosts))
    expected = [match_host(CATALOG, h) for h in hosts]
    got = [(r["serverless_id"], r["serverless_tenant"]) for r in rows]
    want = [(m.entry.id, m.tenant) if m else (None, None) for m in expected]
    assert got == want


# ---------------------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("raw", "normalized", "entry_id"),
    [
        ("X.Workers.DEV", "x.workers.dev", "cloudflare-workers"),
        ("x.workers.dev.", "x.workers.dev", "cloudflare-workers"),
        ("x.workers.dev..", None, None),
        ("  x.workers.dev\t", "x.workers.dev", "cloudflare-workers"),
        ("x.workers.dev:443", "x.workers.dev", "cloudflare-workers"),
        ("https://user@x.workers.dev:8443/path?q=1#f", "x.workers.dev", "cloudflare-workers"),
        ("bücher.workers.dev", "xn--bcher-kva.workers.dev", "cloudflare-workers"),
        ("BÜCHER.workers.dev.", "xn--bcher-kva.workers.dev", "cloudflare-workers"),
        ("x\u3002workers\u3002dev", "x.workers.dev", "cloudflare-workers"),
        ("xn--bcher-kva.workers.dev", "xn--bcher-kva.workers.dev", "cloudflare-workers"),
        ("workers.dev\u202e", None, None),
        ("\x1b[31mx.workers.dev", None, None),
        ("x workers.dev", None, None),
        ("a..workers.dev", None, None),
        ("x" * 64 + "ü.workers.dev", None, None),
        ("", None, None),
        ("[::1]:443", None, None),
    ],
    ids=repr,
)
def test_normalization_in_sql(
    match_one: MatchOne, raw: str, normalized: str | None, entry_id: str | None
) -> None:
    row = match_one(raw)
    assert row["serverless_normalized_host"] == normalized
    assert row["serverless_id"] == entry_id


# ---------------------------------------------------------------------------- specificity


@pytest.mark.parametrize(
    ("host", "entry_id"),
    [
        ("myapp-abc.westus-01.azurewebsites.net", "azure-app-service-regional"),
        ("myapp.azurewebsites.net", "azure-app-service"),
        ("myapp.scm.azurewebsites.net", "azure-app-service-scm"),
        ("myapp-abc.scm.westus-01.azurewebsites.net", "azure-app-service-scm-regional"),
        ("ref.functions.supabase.co", "supabase-functions"),
        ("ref.supabase.co", "supabase"),
        ("contoso-abc.z01.azurefd.net", "azure-front-door-standard"),
        ("contoso.azurefd.net", "azure-front-door"),
        ("env.us-east-1.elasticbeanstalk.com", "aws-elastic-beanstalk-regional"),
        ("env.elasticbeanstalk.com", "aws-elastic-beanstalk"),
    ],
)
def test_most_specific_entry_wins(match_one: MatchOne, host: str, entry_id: str) -> None:
    assert match_one(host)["serverless_id"] == entry_id


def test_lambda_url_on_aws_is_current_and_amazonaws_form_is_the_legacy_alias(
    match_one: MatchOne,
) -> None:
    current = match_one("abc123.lambda-url.us-east-1.on.aws")
    legacy = match_one("abc123.lambda-url.us-east-1.amazonaws.com")
    assert (current["serverless_id"], current["serverless_legacy"]) == ("aws-lambda-url", False)
    assert (legacy["serverless_id"], legacy["serverless_legacy"]) == (
        "aws-lambda-url-legacy-amazonaws",
        True,
    )
    assert current["serverless_platform"] != legacy["serverless_platform"]


# ---------------------------------------------------------------------------- tenants


@pytest.mark.parametrize(
    ("host", "tenant"),
    [
        ("app.account.workers.dev", "account.workers.dev"),
        ("a.b.app.account.workers.dev", "account.workers.dev"),
        ("account.workers.dev", "account.workers.dev"),
        ("workers.dev", None),
        ("abc123.lambda-url.us-east-1.on.aws", "abc123.lambda-url.us-east-1.on.aws"),
        # A region the bundled PSL does not list yet: the pattern still bounds the tenant.
        ("abc123.lambda-url.ap-southeast-7.on.aws", "abc123.lambda-url.ap-southeast-7.on.aws"),
        ("x.abc123.lambda-url.eu-west-1.on.aws", "abc123.lambda-url.eu-west-1.on.aws"),
        ("lambda-url.us-east-1.on.aws", None),
        ("x-y-uc.a.run.app", "x-y-uc.a.run.app"),
        ("tag---x-y-uc.a.run.app", "tag---x-y-uc.a.run.app"),
        ("a.run.app", None),
        ("svc.mtls.run.app", None),
        ("x.svc.mtls.run.app", "x.svc.mtls.run.app"),
        ("p.uc.r.appspot.com", "p.uc.r.appspot.com"),
        ("v2-dot-p.appspot.com", "v2-dot-p.appspot.com"),
        ("t.eu.ngrok.io", "t.eu.ngrok.io"),
        ("t.ngrok.io", "t.ngrok.io"),
        ("script.google.com", "script.google.com"),
        ("cloudflareworkers.com", None),
        (
            "m.happyhill-1.westeurope.azurecontainerapps.io",
            "happyhill-1.westeurope.azurecontainerapps.io",
        ),
        ("preview.my-site.pages.dev", "my-site.pages.dev"),
    ],
)
def test_tenant(match_one: MatchOne, host: str, tenant: str | None) -> None:
    assert match_one(host)["serverless_tenant"] == tenant


# ---------------------------------------------------------------------------- the relation


def test_every_row_is_kept_with_nulls_and_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    con.register(
        "t_rows",
        pa.table(
            {
                "n": [1, 2, 3, 4, 5],
                "dns.question.name": ["x.workers.dev", None, "x.workers.dev", "example.com", "ü"],
            }
        ),
    )
    sql = match_sql(con, "t_rows", "dns.question.name", CATALOG)
    rows = con.execute(f"SELECT n, serverless_id FROM ({sql}) ORDER BY n").fetchall()
    assert rows == [
        (1, "cloudflare-workers"),
        (2, None),
        (3, "cloudflare-workers"),
        (4, None),
        (5, None),
    ]


def test_output_columns_follow_the_input_columns(con: duckdb.DuckDBPyConnection) -> None:
    con.register("t_cols", pa.table({"a": [1], "h": ["x.vercel.app"]}))
    names = [d[0] for d in con.execute(match_sql(con, "t_cols", "h", CATALOG)).description]
    assert names == ["a", "h", *(f"serverless_{c}" for c in MATCH_COLUMNS)]


def test_prefix_allows_matching_two_columns(con: duckdb.DuckDBPyConnection) -> None:
    con.register("t_two", pa.table({"sni": ["a.workers.dev"], "host": ["b.vercel.app"]}))
    first = match_sql(con, "t_two", "sni", CATALOG, prefix="sni")
    con.execute(f"CREATE OR REPLACE TEMP TABLE t_two_sni AS {first}")
    second = match_sql(con, "t_two_sni", "host", CATALOG, prefix="host")
    row = con.execute(f"SELECT sni_id, host_id FROM ({second})").fetchone()
    assert row == ("cloudflare-workers", "vercel")


def test_existing_output_column_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    con.register("t_clash", pa.table({"h": ["x"], "serverless_platform": ["y"]}))
    with pytest.raises(ValueError, match="serverless_platform"):
        match_sql(con, "t_clash", "h", CATALOG)


def test_missing_host_column_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    con.register("t_missing", pa.table({"h": ["x"]}))
    with pytest.raises(ValueError, match="no column 'host'"):
        match_sql(con, "t_missing", "host", CATALOG)


def test_subquery_as_source_relation(con: duckdb.DuckDBPyConnection) -> None:
    sql = match_sql(con, "(SELECT 'x.deno.dev' AS h)", "h", CATALOG)
    assert con.execute(f"SELECT serverless_id FROM ({sql})").fetchone() == ("deno-deploy",)


def test_match_hosts_keeps_input_order_and_length() -> None:
    hosts = ["b.vercel.app", None, "example.org", "a.workers.dev", "b.vercel.app"]
    table = match_hosts(hosts)
    assert table.column("host").to_pylist() == hosts
    assert table.column("serverless_id").to_pylist() == [
        "vercel",
        None,
        None,
        "cloudflare-workers",
        "vercel",
    ]


def test_a_custom_catalog_changes_the_match(tmp_path: Any, catalog: Catalog) -> None:
    from tests.catalog.test_loader import MINIMAL

    path = tmp_path / "serverless.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    custom = load_catalog(path)
    table = match_hosts(["x.workers.dev", "x.example-functions.test"], custom)
    assert table.column("serverless_id").to_pylist() == [None, "example-functions"]


# ---------------------------------------------------------------------------- portability

# Functions the generated SQL may call. All exist in DuckDB and Spark SQL with the same
# meaning except regexp_matches (Spark: rlike / regexp_like) and the registered
# normalization function; docs/catalog.md lists both.
PORTABLE_FUNCTIONS = {
    "cast", "chr", "coalesce", "concat", "greatest", "length", "lower", "max", "nullif",
    "regexp_extract", "regexp_matches", "regexp_replace", "relayhunt_normalize_host",
    "replace", "right", "row_number", "split_part",
}  # fmt: skip


def _called_functions(sql: str) -> set[str]:
    stripped = re.sub(r"'(?:[^']|'')*'", "''", sql)  # drop literals
    called = {m.lower() for m in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", stripped)}
    return called - {"as", "in", "on", "and", "or", "over", "select", "exists", "then", "when"}


def test_generated_match_sql_uses_only_portable_functions() -> None:
    sql = match_query("dns", "dns_question_name", CATALOG)
    assert _called_functions(sql) <= PORTABLE_FUNCTIONS
    assert "\\" not in sql


def test_generated_process_sql_uses_only_portable_functions() -> None:
    from relayhunt.catalog import classify_process_query

    sql = classify_process_query("process", "process_executable", CATALOG)
    assert _called_functions(sql) <= PORTABLE_FUNCTIONS
    assert "\\" not in sql


def test_empty_input_gives_an_empty_table() -> None:
    table = match_hosts([])
    assert table.num_rows == 0
    assert table.column_names == ["host", *(f"serverless_{c}" for c in MATCH_COLUMNS)]


def test_catalog_whose_tenants_are_all_whole_hosts(tmp_path: Any) -> None:
    from tests.catalog.test_loader import MINIMAL

    text = MINIMAL.replace("    tenant_labels: 1\n", "    tenant_labels: host\n")
    path = tmp_path / "serverless.yaml"
    path.write_text(text, encoding="utf-8")
    table = match_hosts(["a.b.z09.example-edge.test"], load_catalog(path))
    assert table.column("serverless_tenant").to_pylist() == ["a.b.z09.example-edge.test"]
