"""The pivots parse in the languages we can check offline, with sample and with hostile
placeholder values, and a hostile value can never change a query's structure."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import eql
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relayhunt import model
from relayhunt.export.escape import UnsafeValue
from relayhunt.guides import PLACEHOLDERS, Pivot, all_guides, render_pivots
from relayhunt.guides.render import QUOTERS, render_query
from tests.export.test_eql import _parse as parse_eql
from tests.export.test_kql import CHECKER, MODULES, _check
from tests.guides.conftest import HOSTILE_VALUES, SAMPLE_VALUES

# Sentinel's cloud tables are not declared in tests/export/kusto_check.js (it knows the
# Defender tables only): for queries over them only "unknown table" diagnostics are allowed.
UNDECLARED_TABLES = ("AWSCloudTrail", "AzureActivity", "GCPAuditLogs")
_UNKNOWN_TABLE = re.compile(
    r"The name '(" + "|".join(UNDECLARED_TABLES) + r")' does not refer to any known table"
)

kusto = pytest.mark.skipif(
    not MODULES.is_dir() or shutil.which("node") is None or not CHECKER.is_file(),
    reason="Kusto language service not installed: npm install --prefix tests/export/kusto",
)


def _all(siem: str) -> list[tuple[str, Pivot]]:
    return [(rid, p) for rid, g in all_guides().items() for p in g.pivots.get(siem, [])]


def _rendered(siem: str, values: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for rid, g in all_guides().items():
        for p in render_pivots({siem: g.pivots.get(siem, [])}, values).get(siem, []):
            out.append((rid, p.query))
    return out


def _kql_errors(queries: list[tuple[str, str]], tmp_path: Path) -> list[object]:
    paths = []
    for i, (rid, query) in enumerate(queries):
        path = tmp_path / f"{rid}_{i}.kql"
        path.write_text(query, encoding="utf-8")
        paths.append(path)
    bad = []
    for result in _check(paths):
        diags = [
            d
            for d in result["diagnostics"]  # type: ignore[union-attr]
            if not _UNKNOWN_TABLE.search(str(d["message"]))  # type: ignore[index]
        ]
        if diags:
            bad.append((Path(str(result["file"])).name, diags))
    return bad


@kusto
def test_kql_pivots_type_check(tmp_path: Path) -> None:
    queries = _rendered("kql", SAMPLE_VALUES)
    assert len(queries) >= 30
    assert _kql_errors(queries, tmp_path) == []


@kusto
def test_kql_pivots_with_hostile_values_type_check(tmp_path: Path) -> None:
    queries = []
    for value in HOSTILE_VALUES:
        values = dict.fromkeys(PLACEHOLDERS, value)
        queries += _rendered("kql", values)
    assert _kql_errors(queries, tmp_path) == []


@kusto
def test_kql_checker_catches_a_broken_pivot(tmp_path: Path) -> None:
    # What an unescaped quote in a value would produce.
    broken = [("x", 'DeviceProcessEvents | where FileName =~ "a"b" | count')]
    assert _kql_errors(broken, tmp_path) != []


def test_eql_pivots_parse() -> None:
    queries = _rendered("eql", SAMPLE_VALUES)
    assert len(queries) >= 20
    for rid, query in queries:
        try:
            parse_eql(query)
        except eql.EqlError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"{rid}: {exc}\n{query}")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_eql_hostile_values_stay_literals(value: str) -> None:
    values = dict.fromkeys(PLACEHOLDERS, value)
    for rid, query in _rendered("eql", values):
        ast = parse_eql(query)
        literals = [n.value for n in ast if isinstance(n, eql.ast.String)]
        assert value in literals, rid


@given(st.text(min_size=1, max_size=40))
def test_eql_any_value_round_trips(value: str) -> None:
    template = "process where process.name in~ ({process})"
    try:
        query = render_query("eql", template, {"process": value})
    except UnsafeValue:  # a value EQL cannot carry: render_pivots leaves it unfilled
        rendered = render_pivots({"eql": [Pivot("t", template)]}, {"process": value})
        assert rendered["eql"][0].query == template
        return
    ast = parse_eql(query)
    assert [n.value for n in ast if isinstance(n, eql.ast.String)] == [value]


def _empty_store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in model.TABLES:
        con.execute(model.ddl(table, model.TABLES[table]))
    return con


def test_duckdb_pivots_run_on_the_store_schema() -> None:
    con = _empty_store()
    for values in [SAMPLE_VALUES, *(dict.fromkeys(PLACEHOLDERS, v) for v in HOSTILE_VALUES)]:
        for rid, query in _rendered("duckdb", values):
            assert con.execute(query).fetchall() == [], rid


# Languages without an offline parser: a hostile value must leave the query's structure
# outside string literals exactly as a plain value does, and decode back to itself.
_C_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _split(query: str) -> tuple[str, list[str]]:
    """The query with double-quoted literals replaced by ``"…"``, and the literals decoded
    (backslash escapes as the C-style string languages read them)."""
    outside: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch != '"':
            outside.append(ch)
            i += 1
            continue
        i += 1
        buf: list[str] = []
        while i < len(query) and query[i] != '"':
            if query[i] == "\\" and i + 1 < len(query):
                nxt = query[i + 1]
                buf.append(_C_ESCAPES.get(nxt, nxt))
                i += 2
            else:
                buf.append(query[i])
                i += 1
        assert i < len(query), f"unterminated literal in {query!r}"
        i += 1
        literals.append("".join(buf))
        outside.append('"…"')
    return "".join(outside), literals


@pytest.mark.parametrize("siem", ["spl", "logscale", "yaral", "sumo", "kql", "eql"])
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_cannot_change_structure(siem: str, value: str) -> None:
    for rid, guide in all_guides().items():
        for pivot in guide.pivots.get(siem, []):
            names = [n for n in PLACEHOLDERS if "{" + n + "}" in pivot.query]
            if not names:
                continue
            plain = render_query(siem, pivot.query, dict.fromkeys(names, "plain"))
            (hostile_pivot,) = render_pivots({siem: [pivot]}, dict.fromkeys(names, value))[siem]
            hostile = hostile_pivot.query
            try:
                QUOTERS[siem](value)
            except UnsafeValue:
                # Not representable (a control character): left unfilled, never raw.
                assert hostile == pivot.query, (rid, siem)
                continue
            plain_outside, _ = _split(plain)
            hostile_outside, literals = _split(hostile)
            assert hostile_outside == plain_outside, (rid, siem, pivot.title)
            assert value in literals, (rid, siem, pivot.title)


def test_unsafe_values_are_left_unfilled_not_inlined() -> None:
    guide = all_guides()["RH-SL-001"]
    rendered = guide.render_pivots({"host": "a\nb", "process": "p.exe"})
    for siem in ("spl", "sumo", "logscale", "yaral"):
        for p in rendered[siem]:
            assert "a\nb" not in p.query
    kql = "\n".join(p.query for p in rendered["kql"])
    assert '"a\\nb"' in kql


def test_render_is_single_pass() -> None:
    query = render_query("kql", "T | where A == {host} and B == {tenant}", {"host": "{tenant}"})
    assert query == 'T | where A == "{tenant}" and B == {tenant}'


def test_complete_only_drops_pivots_missing_values() -> None:
    guide = all_guides()["RH-SL-005"]
    values = {"host": "10.0.0.1", "domain": "a.workers.dev", "tenant": "a.workers.dev"}
    complete = guide.render_pivots(values, complete_only=True)
    for pivots in complete.values():
        for p in pivots:
            assert not any("{" + n + "}" in p.query for n in PLACEHOLDERS)
    assert complete["logscale"]  # the fleet pivot needs only the tenant
    full = guide.render_pivots(values)
    assert sum(map(len, full.values())) > sum(map(len, complete.values()))
