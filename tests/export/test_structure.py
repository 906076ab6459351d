"""Structural checks of the SPL, LogScale, YARA-L and Sumo exports (``structure.py``: not
the vendors' parsers, none is available offline), and the look-alike test over every
filter regex and wildcard of every export in every language."""

from __future__ import annotations

import fnmatch
import re

import pytest
import yaml

from relayhunt.export import Rendered, build_spec, render

from .structure import StructureError, check, filter_regexes, python_regex

STRUCTURAL = ("spl", "logscale", "yaral", "sumo")
LOOKALIKES = (
    "workers.dev.attacker.example",
    "notworkers.dev",
    "https://workers.dev.attacker.example/x",
    "curl https://notworkers.dev/x",
)
POSITIVE = ("x.workers.dev", "abc.lambda-url.us-east-1.on.aws")
DEPLOYERS = ("gha-deployer@*.iam.gserviceaccount.com", "arn:aws:iam::*:role/ci-*")


@pytest.fixture(scope="module")
def with_deployers() -> Rendered:
    return render(["all"], build_spec(deployers=DEPLOYERS))


@pytest.mark.parametrize("target", STRUCTURAL)
def test_structure(rendered: Rendered, with_deployers: Rendered, target: str) -> None:
    files = [f for r in (rendered, with_deployers) for f in r.files if f.target == target]
    assert files
    for f in files:
        try:
            check(f.text, target)
        except StructureError as exc:
            raise AssertionError(f"{f.path}: {exc}") from exc


@pytest.mark.parametrize(
    ("language", "text", "message"),
    [
        ("spl", "index=x\n| stats count by host\n| frobnicate x\n", "unknown SPL command"),
        ("spl", "index=x\n| eval a=nosuchfn(b)\n", "unknown SPL function"),
        ("spl", 'index=x\n| where match(a, "(unclosed")\n', "does not compile"),
        ("spl", "index=x\n| where (a=1\n", "unclosed"),
        ("spl", 'index=x\n| where a="x\n', "string literal runs past"),
        ("sumo", '_sourceCategory=x\n| parse "a*" as b\n| frob b\n', "unknown Sumo operator"),
        ("sumo", "_sourceCategory=x\n| where a matches /(?P<x/\n", "does not compile"),
        ("logscale", "#event_simpleName=X\n| groupBy([a], function=[nope()])\n", "unknown"),
        ("logscale", "#event_simpleName=X\n| a = /[a-z/i\n", "does not compile"),
        ("yaral", "rule r {\n  eventz:\n    $e.x = 1\n  condition:\n    $e\n}\n", "section"),
        ("yaral", "rule r {\n  events:\n    $e.x = /a\n}\n", "regex literal runs past"),
        ("yaral", "rule r {\n  outcome:\n    $a = countt($e.x)\n}\n", "unknown YARA-L"),
    ],
)
def test_checker_rejects(language: str, text: str, message: str) -> None:
    with pytest.raises(StructureError, match=message):
        check(text, language)


def _c_unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


def _kql_filters(text: str) -> list[re.Pattern[str]]:
    lets = {
        m[1]: _c_unescape(m[2])
        for m in re.finditer(r'^let (\w+) = "((?:[^"\\]|\\.)*)";', text, re.M)
    }
    out = []
    for m in re.finditer(r'matches regex (?:(\w+)|"((?:[^"\\]|\\.)*)"|@"([^"]*)")', text):
        value = lets.get(m[1], "") if m[1] else _c_unescape(m[2]) if m[2] is not None else m[3]
        if value:  # an empty DeployerRegex is guarded by isempty()
            out.append(python_regex(value))
    return out


def _eql_filters(text: str) -> tuple[list[re.Pattern[str]], list[str]]:
    body = "\n".join(x for x in text.splitlines() if not x.startswith("//"))
    regexes = [
        re.compile(_c_unescape(m[2]), re.IGNORECASE if m[1] else 0)
        for m in re.finditer(r'regex(~?) "((?:[^"\\]|\\.)*)"', body)
    ]
    wildcards = [
        _c_unescape(w).lower()
        for m in re.finditer(r" : \(([^)]*)\)", body)
        for w in re.findall(r'"((?:[^"\\]|\\.)*)"', m[1])
    ]
    return regexes, wildcards


def _sigma_matchers(text: str) -> list[object]:
    """(kind, value) pairs of every detection value of every rule, Sigma semantics."""
    out: list[object] = []
    for doc in yaml.safe_load_all(text):
        for name, sel in (doc.get("detection") or {}).items():
            if name == "condition":
                continue
            for item in sel if isinstance(sel, list) else [sel]:
                for key, values in item.items():
                    mods = key.split("|")[1:]
                    for v in values if isinstance(values, list) else [values]:
                        if v is None:
                            continue
                        out.append((tuple(mods), str(v)))
    return out


def _sigma_hits(mods: tuple[str, ...], value: str, s: str) -> bool:
    low = s.lower()
    if "re" in mods:
        return re.search(value, s, re.IGNORECASE if "i" in mods else 0) is not None
    v = value.replace("\\\\", "\\").lower()
    if "endswith" in mods:
        return low.endswith(v)
    if "startswith" in mods:
        return low.startswith(v)
    if "contains" in mods:
        return v in low
    return fnmatch.fnmatchcase(low, v) if "*" in v else low == v


def _hits(target: str, text: str, s: str) -> bool:
    if target == "kql":
        return any(r.search(s) for r in _kql_filters(text))
    if target == "eql":
        regexes, wildcards = _eql_filters(text)
        return any(r.fullmatch(s) for r in regexes) or any(
            fnmatch.fnmatchcase(s.lower(), w) for w in wildcards
        )
    if target == "sigma":
        return any(_sigma_hits(m, v, s) for m, v in _sigma_matchers(text))  # type: ignore[misc]
    flags = 0 if target == "spl" else re.IGNORECASE  # SPL regexes carry (?i) themselves
    return any(python_regex(r).search(s) for r in _flags(filter_regexes(text, target), flags))


def _flags(regexes: list[str], flags: int) -> list[str]:
    return [("(?i)" if flags and not r.startswith("(?i)") else "") + r for r in regexes]


def test_no_export_matches_lookalikes(rendered: Rendered, with_deployers: Rendered) -> None:
    """No filter of any export, in any language, matches the look-alike names; and every
    file that tests hostnames matches a real one (so the extraction above is not empty)."""
    checked = 0
    for f in (*rendered.files, *with_deployers.files):
        wrong = [s for s in LOOKALIKES if _hits(f.target, f.text, s)]
        assert not wrong, f"{f.path} matches {wrong}"
        # part 1 of the EQL chain (file write -> script host) has no hostname test
        host_rule = any(r.startswith("RH-SL") for r in f.rule_ids) and not f.path.endswith(
            "RH-SL-003_script_chain.eql"
        )
        if host_rule and f.target != "sigma":
            assert any(_hits(f.target, f.text, p) for p in POSITIVE), f.path
        checked += 1
    assert checked == 2 * len(rendered.files)
