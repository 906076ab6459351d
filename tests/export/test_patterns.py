"""Every exported hostname test, read back from the generated text and evaluated in Python,
matches on label boundaries only and case-insensitively."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

import pytest
import yaml

from relayhunt.catalog import load_catalog
from relayhunt.export import Rendered
from relayhunt.export.model import ExportSpec

NEGATIVE = [
    "workers.dev.attacker.example",
    "notworkers.dev",
    "x.notworkers.dev",
    "workers.devx",
    "x.run.app.evil.example",
    "evil-workers.dev",
    "lambda-url.us-east-1.on.aws.attacker.example",
    "example.com",
]
FIXED_POSITIVE = ["x.workers.dev", "workers.dev", "A.B.WORKERS.DEV", "my-site.pages.dev"]


def positives(spec: ExportSpec) -> list[str]:
    """A host under every exported pattern (placeholders replaced by their examples), the
    catalog's own examples for those entries, and a few spelled out."""
    cat = load_catalog()
    exported = {h.entry_id for h in spec.hosts}
    hosts = list(FIXED_POSITIVE)
    for h in spec.hosts:
        name = h.pattern
        for key, ph in cat.placeholders.items():
            name = name.replace("{" + key + "}", ph.example)
        hosts.append("tenant-1." + name)
    for entry in cat.entries:
        if entry.id in exported:
            hosts.extend(e.host.rstrip(".") for e in entry.examples)
    return hosts


def _file(rendered: Rendered, path: str) -> str:
    (text,) = [f.text for f in rendered.files if f.path == path]
    return text


def _c_unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


def _slash_unescape(body: str) -> str:
    return body.replace("\\/", "/")


def _kql(rendered: Rendered) -> Callable[[str], bool]:
    text = _file(rendered, "kql/RH-SL-001_serverless_egress.kql")
    m = re.search(r'^let ServerlessHostRegex = "((?:[^"\\]|\\.)*)";$', text, re.M)
    assert m
    rx = re.compile(_c_unescape(m[1]))
    return lambda h: rx.search(h) is not None


def _spl(rendered: Rendered) -> Callable[[str], bool]:
    text = _file(rendered, "spl/RH-SL-001_serverless_egress.spl")
    m = re.search(r'where match\(query, "((?:[^"\\]|\\.)*)"\)', text)
    assert m
    rx = re.compile(_c_unescape(m[1]))
    return lambda h: rx.search(h) is not None


def _slash(path: str, prefix: str, suffix: str) -> Callable[[Rendered], Callable[[str], bool]]:
    def make(rendered: Rendered) -> Callable[[str], bool]:
        text = _file(rendered, path)
        m = re.search(re.escape(prefix) + r"/((?:[^/\\]|\\.)*)/" + re.escape(suffix), text)
        assert m, path
        rx = re.compile(_slash_unescape(m[1]), re.IGNORECASE)
        return lambda h: rx.search(h) is not None

    return make


def _eql(rendered: Rendered) -> Callable[[str], bool]:
    text = _file(rendered, "eql/RH-SL-001_serverless_lookup.eql")
    m = re.search(r"dns\.question\.name : \(([^)]*)\)", text)
    assert m
    wildcards = [_c_unescape(w) for w in re.findall(r'"((?:[^"\\]|\\.)*)"', m[1])]
    r = re.search(r'dns\.question\.name regex~ "((?:[^"\\]|\\.)*)"', text)
    assert r
    lucene = re.compile(_c_unescape(r[1]), re.IGNORECASE)

    def match(h: str) -> bool:
        low = h.lower()
        # ':' is a case-insensitive wildcard match; regex~ a case-insensitive full match
        return any(fnmatch.fnmatchcase(low, w.lower()) for w in wildcards) or (
            lucene.fullmatch(h) is not None
        )

    return match


def _sigma(rendered: Rendered) -> Callable[[str], bool]:
    text = _file(rendered, "sigma/rh_sl_001_serverless_egress.yml")
    dns = next(iter(yaml.safe_load_all(text)))
    det = dns["detection"]
    suffixes = det["selection_host_suffix"]["QueryName|endswith"]
    apexes = det["selection_host_apex"]["QueryName"]
    regexes = [re.compile(r, re.IGNORECASE) for r in det["selection_host_regex"]["QueryName|re|i"]]

    def match(h: str) -> bool:
        low = h.lower()  # Sigma string matching is case-insensitive
        return (
            any(low.endswith(s.lower()) for s in suffixes)
            or low in [a.lower() for a in apexes]
            or any(r.search(h) for r in regexes)
        )

    return match


MATCHERS: dict[str, Callable[[Rendered], Callable[[str], bool]]] = {
    "kql": _kql,
    "spl": _spl,
    "eql": _eql,
    "sigma": _sigma,
    "logscale": _slash("logscale/RH-SL-001_serverless_egress.logscale", "DomainName = ", "i"),
    "yaral": _slash("yaral/RH-SL-001_serverless_egress.yaral", "questions.name = ", " nocase"),
    "sumo": _slash("sumo/RH-SL-001_serverless_egress.sumo", "query matches ", "\n"),
}


@pytest.mark.parametrize("language", sorted(MATCHERS))
def test_host_patterns(rendered: Rendered, spec: ExportSpec, language: str) -> None:
    match = MATCHERS[language](rendered)
    missed = [h for h in positives(spec) if not match(h)]
    assert not missed, f"{language} misses {missed[:5]}"
    wrong = [h for h in NEGATIVE if match(h)]
    assert not wrong, f"{language} matches {wrong}"


CMD_POSITIVE = [
    "powershell -c iwr https://x.acct.workers.dev/beat",
    'curl.exe "https://us-central1-p.cloudfunctions.net/f?a=1"',
    "python poll.py abcdefghij.lambda-url.us-east-1.on.aws",
    "wscript //e:jscript https://SCRIPT.GOOGLE.COM/macros/s/x/exec",
]
CMD_NEGATIVE = [
    "curl https://workers.dev.attacker.example/x",
    "curl https://notworkers.dev/x",
    "curl https://x.run.app.evil.example/",
    "notepad.exe C:\\notes\\workers.devx.txt",
]


def _cmd_matchers(rendered: Rendered) -> dict[str, Callable[[str], bool]]:
    out: dict[str, Callable[[str], bool]] = {}
    kql = _file(rendered, "kql/RH-SL-002_cmdline_url.kql")
    m = re.search(r'^let CmdlineHostRegex = "((?:[^"\\]|\\.)*)";$', kql, re.M)
    assert m
    rx_kql = re.compile(_c_unescape(m[1]))
    out["kql"] = lambda c: rx_kql.search(c) is not None
    spl = _file(rendered, "spl/RH-SL-002_cmdline_url.spl")
    m = re.search(r'where match\(CommandLine, "((?:[^"\\]|\\.)*)"\)', spl)
    assert m
    rx_spl = re.compile(_c_unescape(m[1]))
    out["spl"] = lambda c: rx_spl.search(c) is not None
    eql_text = _file(rendered, "eql/RH-SL-002_cmdline_url.eql")
    m = re.search(r'process\.command_line regex~ "((?:[^"\\]|\\.)*)"', eql_text)
    assert m
    rx_eql = re.compile(_c_unescape(m[1]), re.IGNORECASE | re.DOTALL)
    out["eql"] = lambda c: rx_eql.fullmatch(c) is not None
    sig = yaml.safe_load(_file(rendered, "sigma/rh_sl_002_cmdline_url.yml"))
    rx_sig = re.compile(sig["detection"]["selection"]["CommandLine|re|i"], re.IGNORECASE)
    out["sigma"] = lambda c: rx_sig.search(c) is not None
    for lang, path, prefix, suffix in (
        ("logscale", "logscale/RH-SL-002_cmdline_url.logscale", "CommandLine = ", "i"),
        ("yaral", "yaral/RH-SL-002_cmdline_url.yaral", "command_line = ", " nocase"),
        ("sumo", "sumo/RH-SL-002_cmdline_url.sumo", "command_line matches ", "\n"),
    ):
        out[lang] = _slash(path, prefix, suffix)(rendered)
    return out


def test_cmdline_patterns(rendered: Rendered) -> None:
    for language, match in _cmd_matchers(rendered).items():
        assert all(match(c) for c in CMD_POSITIVE), language
        assert not any(match(c) for c in CMD_NEGATIVE), language


def test_no_legacy_lambda_domain(spec: ExportSpec, rendered: Rendered) -> None:
    """Like the engine, exports leave out the lambda-url.*.amazonaws.com alias (never real)."""
    assert "aws-lambda-url-legacy-amazonaws" not in {h.entry_id for h in spec.hosts}
    legacy = "abcde12345fghij.lambda-url.us-east-1.amazonaws.com"
    for language, make in MATCHERS.items():
        assert not make(rendered)(legacy), language
