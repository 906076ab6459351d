"""Hostile values cannot break out of a literal: each escaping function, decoded the way its
language reads it, gives back exactly the input, or refuses the value."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import eql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from relayhunt.catalog import load_catalog
from relayhunt.export import build_spec, render
from relayhunt.export.escape import (
    UnsafeValue,
    eql_string,
    kql_string,
    logscale_string,
    sigma_value,
    slash_regex,
    spl_string,
    sql_string,
    sumo_string,
    yaral_backtick_regex,
    yaral_string,
)
from relayhunt.export.model import ExportError

HOSTILE = st.text(
    alphabet=st.sampled_from([*list("\"\\/'`*?$|()[]{}\n\r\t\x00\x1b\u202e a.Z0"), "\u2028"]),
    max_size=30,
) | st.text(max_size=30)


def _c_decode(lit: str, *, c_escapes: bool) -> str:
    """Reference decoder for a double-quoted literal; fails on any unescaped quote."""
    assert lit[0] == '"' and lit[-1] == '"'
    body = lit[1:-1]
    out: list[str] = []
    i = 0
    table = {"n": "\n", "r": "\r", "t": "\t"} if c_escapes else {}
    while i < len(body):
        ch = body[i]
        assert ch != '"', "unescaped quote inside literal"
        if ch == "\\":
            nxt = body[i + 1]
            out.append(table.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


CASES: list[tuple[Callable[[str], str], bool]] = [
    (kql_string, True),
    (eql_string, True),
    (spl_string, False),
    (sumo_string, False),
    (logscale_string, False),
    (yaral_string, False),
]


@pytest.mark.parametrize(("escape", "c_escapes"), CASES, ids=lambda x: getattr(x, "__name__", ""))
@given(value=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_string_literals_round_trip(
    escape: Callable[[str], str], c_escapes: bool, value: str
) -> None:
    try:
        lit = escape(value)
    except UnsafeValue:
        assert any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in value)
        return
    assert "\n" not in lit and "\r" not in lit
    assert _c_decode(lit, c_escapes=c_escapes) == value


@given(value=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_eql_string_parsed_by_eql(value: str) -> None:
    try:
        lit = eql_string(value)
    except UnsafeValue:
        return
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        query = eql.parse_query(f"process where process.name == {lit}")
    comparison = query.first.query
    assert isinstance(comparison.right, eql.ast.String)
    assert comparison.right.value == value


@given(value=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_sigma_value_is_literal_for_pysigma(value: str) -> None:
    try:
        escaped = sigma_value(value)
    except UnsafeValue:
        return
    parsed = SigmaString(escaped)
    assert not parsed.contains_special()
    assert "".join(p for p in parsed.s if isinstance(p, str)) == value


@given(value=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_slash_regex_never_ends_early(value: str) -> None:
    try:
        lit = slash_regex(value, "test")
    except UnsafeValue:
        return
    body = lit[1:-1]
    assert re.fullmatch(r"(?:[^/\\]|\\.)*", body, re.S), lit
    # the regex the engine reads: "\/" is a slash, any other escape pair is kept as is
    assert _read_slash_regex(body) == _read_slash_regex(value)


def _read_slash_regex(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append("/" if text[i + 1] == "/" else text[i : i + 2])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@given(value=HOSTILE)
def test_backtick_regex(value: str) -> None:
    try:
        lit = yaral_backtick_regex(value)
    except UnsafeValue:
        return
    assert lit.count("`") == 2


@given(value=HOSTILE)
def test_sql_string(value: str) -> None:
    try:
        lit = sql_string(value)
    except UnsafeValue:
        return
    assert lit[1:-1].replace("''", "").count("'") == 0
    assert lit[1:-1].replace("''", "'") == value


HOSTILE_PATTERNS = [
    'workers.dev") or true or ("',
    "workers.dev/ or 1=1 /",
    "work`ers.dev",
    "workers.dev$|.*",
    "x\nworkers.dev",
]


@pytest.mark.parametrize("pattern", HOSTILE_PATTERNS)
def test_hostile_catalog_pattern_refused(pattern: str) -> None:
    cat = load_catalog()
    bad = dataclasses.replace(cat.entries[0], pattern=pattern, legacy=False)
    hostile = dataclasses.replace(cat, entries=(bad, *cat.entries[1:]))
    with pytest.raises(ExportError):
        build_spec(hostile)


def test_hostile_placeholder_regex_refused() -> None:
    cat = load_catalog()
    name = next(iter(cat.placeholders))
    ph = dataclasses.replace(cat.placeholders[name], regex='[a-z]+"); drop')
    hostile = dataclasses.replace(cat, placeholders={**cat.placeholders, name: ph})
    with pytest.raises(ExportError):
        build_spec(hostile)


def test_hostile_process_name_is_escaped_everywhere() -> None:
    cat = load_catalog()
    i = next(i for i, p in enumerate(cat.processes) if p.category == "browser")
    evil = dataclasses.replace(cat.processes[i], name='evil".exe\\')
    hostile = dataclasses.replace(
        cat, processes=(*cat.processes[:i], evil, *cat.processes[i + 1 :])
    )
    out = render(["all"], build_spec(hostile))
    checked = 0
    for f in out.files:
        if f.target in ("kql", "eql", "spl", "sumo", "logscale") and "RH-SL-001" in f.path:
            assert 'evil\\".exe\\\\"' in f.text, f.path
            checked += 1
    assert checked == 6


def test_hostile_allowlist_value_is_escaped_everywhere() -> None:
    """An allowlist glob with a quote, a backslash at the end, a backtick and comment
    characters stays inside its literal in every language (see also test_allowlist.py,
    which parses, type-checks and executes the result)."""
    from relayhunt.config import parse_config
    from relayhunt.export.allowlist import Allowlist

    from . import structure
    from .test_eql import _parse

    text = (
        "version: 1\nallowlist:\n  - reason: x\n"
        '    process: [\'*\\evil".exe`*/ //\\\']\n    destination: ["x.workers.dev"]\n'
    )
    allow = Allowlist.from_config(parse_config(text))
    out = render(["all"], build_spec(allowlist=allow))
    checked = 0
    for f in out.files:
        if "RH-SL-001" not in f.path and "rh_sl_001" not in f.path:
            continue
        body = f.text.split("Allowlist:", 1)[1]
        assert "evil" in body, f.path
        if f.target == "eql":
            _parse(f.text)
        elif f.target in ("spl", "logscale", "yaral", "sumo"):
            structure.check(f.text, f.target)
        if f.target != "sigma":
            # the quote never reaches the query unescaped
            assert 'evil".exe' not in body, f.path
        checked += 1
    assert checked == 8  # Sigma, EQL (2), KQL, LogScale, YARA-L, Sumo, SPL
