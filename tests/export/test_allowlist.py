"""The tuning file's allowlist rendered into every export (``relayhunt export --config``).

* the regexes and wildcards an entry becomes mean what the engine's suppression means
  (:meth:`AllowEntry.matches`), never more (property tests);
* Sigma: executed by pySigma's SQLite backend (``sigma_exec.py``): an allowlisted event is
  excluded, near misses (look-alike hostnames, another account, another image, the apex of
  a ``*.`` glob) still fire, and the verdict equals the engine's per row;
* EQL parses under the ``eql`` parser, KQL type-checks under the Kusto language service,
  SPL / LogScale / YARA-L / Sumo pass the structural checker; all seven are pinned as
  goldens (``allowlist/golden``; regenerate with ``RELAYHUNT_UPDATE_GOLDEN=1``);
* a hostile allowlist value cannot break any language's query.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt.config import AllowEntry, glob_regex, load_config, parse_config
from relayhunt.detect import rules as all_rules
from relayhunt.export import Rendered, build_spec, render
from relayhunt.export.allowlist import Allowlist, Column, GlobTest, lucene_regex

from . import sigma_exec as se
from . import structure
from .test_eql import _parse as eql_parse

HERE = Path(__file__).parent
CONFIG = HERE / "allowlist" / "tuning.yaml"
GOLDEN = HERE / "allowlist" / "golden"
TODAY = dt.date(2026, 6, 1)
REGISTRY = {r.id: dict(r.thresholds) for r in all_rules()}


def _allow(path: Path = CONFIG) -> Allowlist:
    return Allowlist.from_config(load_config(path, rules=REGISTRY), today=TODAY)


@pytest.fixture(scope="module")
def allow() -> Allowlist:
    return _allow()


@pytest.fixture(scope="module")
def tuned(allow: Allowlist) -> Rendered:
    return render(["all"], build_spec(allowlist=allow))


def _file(rendered: Rendered, path: str) -> str:
    (text,) = [f.text for f in rendered.files if f.path == path]
    return text


# -- goldens and headers --------------------------------------------------------------------


@pytest.mark.parametrize("target", ["sigma", "eql", "kql", "logscale", "yaral", "sumo", "spl"])
def test_golden_with_config(tuned: Rendered, target: str) -> None:
    files = [f for f in tuned.files if f.target == target]
    assert files
    update = os.environ.get("RELAYHUNT_UPDATE_GOLDEN") == "1"
    for f in files:
        path = GOLDEN / f.path
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text, encoding="utf-8", newline="\n")
        assert path.read_text(encoding="utf-8") == f.text, f"{f.path} differs from golden"
    assert {p.name for p in (GOLDEN / target).iterdir()} == {Path(f.path).name for f in files}


def test_every_header_names_the_date_and_the_expired_entry(tuned: Rendered) -> None:
    for f in tuned.files:
        flat = " ".join(f.text.split())
        assert "date used: 2026-06-01" in flat, f.path
        assert "entry 3 (retired agent, expired 2026-01-31)" in flat, f.path
        assert "old-agent" not in f.text.split("expired 2026-01-31")[-1], f.path


def test_header_says_what_was_not_rendered(tuned: Rendered) -> None:
    sigma1 = " ".join(_file(tuned, "sigma/rh_sl_001_serverless_egress.yml").split())
    # entry 1 pins the parent: Sysmon DNS events have none, so it is skipped, not widened
    assert "entry 1: NOT rendered for RH-SL-001: Sysmon EID 22 (dns_query) has no parent" in (
        sigma1
    )
    assert "filter_allow_0" in sigma1 and "filter_allow_1" not in sigma1
    # entry 2 is for RH-SL-002 only
    assert "filter_allow_2" not in sigma1
    sigma2 = _file(tuned, "sigma/rh_sl_002_cmdline_url.yml")
    assert "filter_allow_2" in sigma2 and "filter_allow_0" not in sigma2
    kql1 = " ".join(_file(tuned, "kql/RH-SL-001_serverless_egress.kql").split())
    # Defender has the parent's file name only: the full-path glob cannot be tested
    assert "entry 1: NOT rendered for RH-SL-001" in kql1
    for path in ("kql/RH-SL-003_script_chain.kql", "sigma/rh_cp_001_function_changed.yml"):
        assert "rendered (entry numbers count from 0 in the file's allowlist): none" in " ".join(
            _file(tuned, path).split()
        )


def test_no_config_no_allowlist_text(rendered: Rendered) -> None:
    for f in rendered.files:
        assert "Allowlist:" not in f.text and "filter_allow" not in f.text, f.path


# -- the regexes mean what the engine means ---------------------------------------------------


def _engine(kind: str, glob: str, value: str) -> bool:
    """The engine's test of one glob on the column a ``kind`` stands for."""
    rx = glob_regex(glob, host=kind == "host")
    if kind == "host":
        v = value.strip().lower().rstrip(".")
        return bool(v) and rx.fullmatch(v) is not None
    if kind in ("basename", "name"):
        v = re.split(r"[\\/]", value)[-1]
    elif kind == "user":
        v = value.split("\\")[1] if "\\" in value else value
    else:
        v = value
    return bool(v) and rx.fullmatch(v.lower()) is not None


GLOB_CHARS = st.text(alphabet="aB\\/*?.-x ", min_size=1, max_size=6)
VALUES = st.text(alphabet="abAB\\/.-x ", max_size=8)
HOST_GLOBS = st.from_regex(r"(\*\.)?([ab*?-]{1,3}\.){0,2}[ab-]{1,3}", fullmatch=True)
HOST_VALUES = st.from_regex(r"([abAB-]{1,3}\.){0,3}[ab]{1,2}\.?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(glob=GLOB_CHARS, value=VALUES, kind=st.sampled_from(["full", "basename", "user"]))
def test_glob_regex_never_wider_than_the_engine(glob: str, value: str, kind: str) -> None:
    from relayhunt.export.allowlist import expressible

    glob = glob.lower()
    if not expressible(glob, kind):  # type: ignore[arg-type]
        return
    t = GlobTest(Column("X", kind), glob)  # type: ignore[arg-type]
    std = re.search("(?i)" + t.regex(), value) is not None
    lucene = re.fullmatch(lucene_regex(t), value, re.IGNORECASE | re.DOTALL) is not None
    engine = _engine(kind, glob, value)
    assert std == engine, (glob, value, t.regex())
    # Lucene `.` also matches a newline; there are none in these values
    assert lucene == engine, (glob, value, lucene_regex(t))


@settings(max_examples=300, deadline=None)
@given(glob=HOST_GLOBS, value=HOST_VALUES)
def test_destination_regex_is_the_engines_label_aware_glob(glob: str, value: str) -> None:
    t = GlobTest(Column("X", "host"), glob)
    std = re.search("(?i)" + t.regex(), value) is not None
    lucene = re.fullmatch(lucene_regex(t), value, re.IGNORECASE) is not None
    assert std == lucene == _engine("host", glob, value), (glob, value)


@pytest.mark.parametrize(
    ("value", "excluded"),
    [
        ("x.acct.workers.dev", True),
        ("a.b.acct.workers.dev", True),
        ("X.ACCT.WORKERS.DEV.", True),
        ("acct.workers.dev", False),  # "*." needs at least one label
        ("x.acct.workers.dev.attacker.example", False),
        ("x.evilacct.workers.dev", False),
        ("acct.workers.dev.x.acct-x.workers.dev", False),
    ],
)
def test_label_aware_destination(value: str, excluded: bool) -> None:
    t = GlobTest(Column("QueryName", "host"), "*.acct.workers.dev")
    assert (re.search("(?i)" + t.regex(), value) is not None) == excluded
    assert (re.fullmatch(lucene_regex(t), value, re.IGNORECASE) is not None) == excluded


# -- Sigma, executed -----------------------------------------------------------------------------

DNS_ROWS: list[tuple[str, str, str, str, bool]] = [
    # Image, Computer, User, QueryName, excluded by the allowlist
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "mon-01",
        r"NT AUTHORITY\SYSTEM",
        "x.acct.workers.dev",
        True,
    ),
    (
        r"C:\PROGRAM FILES\DATADOG\DATADOG AGENT\BIN\AGENT.EXE",
        "MON-07.corp.example",
        r"NT AUTHORITY\SYSTEM",
        "abc123.lambda-url.eu-west-1.on.aws",
        True,
    ),
    (r"D:\tools\agent.exe", "mon-02", "", "y.acct.workers.dev", True),  # basename glob
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "mon-01",
        "",
        "acct.workers.dev",
        False,
    ),  # apex: "*." needs a label
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "mon-01",
        "",
        "x.acct.workers.dev.attacker.example.workers.dev",
        False,
    ),
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "mon-01",
        "",
        "x.evilacct.workers.dev",
        False,
    ),
    (r"C:\Users\bob\AppData\Local\Temp\agent.exe.exe", "mon-01", "", "x.acct.workers.dev", False),
    (r"C:\Users\bob\notagent.exe", "mon-01", "", "x.acct.workers.dev", False),
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "ws-01",
        "",
        "x.acct.workers.dev",
        False,
    ),  # another host
    (
        r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe",
        "xmon-01",
        "",
        "x.acct.workers.dev",
        False,
    ),
    # entry 1 pins the parent: not rendered for DNS events, so the runner still fires
    (r"C:\actions-runner\_work\pwsh.exe", "gha-runner-01", "", "deploy.acct.workers.dev", False),
]
PROC_ROWS: list[tuple[str, str, str, str, bool]] = [
    # Image, User, CommandLine, ParentImage, excluded
    (
        r"C:\Java\bin\java.exe",
        r"CORP\svc_jenkins",
        "java -jar deploy-to-lambda.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        True,
    ),
    (
        r"C:\Java\bin\JAVA.EXE",
        "svc_jenkins",
        "java -jar DEPLOY-TO-LAMBDA.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        True,
    ),
    (
        r"C:\Java\bin\java.exe",
        r"CORP\svc_jenkins2",
        "java -jar deploy-to-lambda.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        False,
    ),
    (
        r"C:\Java\bin\java.exe",
        r"svc_jenkins\CORP",
        "java -jar deploy-to-lambda.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        False,
    ),
    (
        r"C:\Java\bin\javaw.exe",
        r"CORP\svc_jenkins",
        "javaw -jar deploy-to-lambda.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        False,
    ),
    (
        r"C:\Java\bin\java.exe",
        r"CORP\svc_jenkins",
        "java -jar other.jar https://abc.lambda-url.eu-west-1.on.aws/",
        "",
        False,
    ),
]


def _run(text: str, rows: list[dict[str, Any]], name: str) -> set[int]:
    con = se.connect(rows)
    pipe = se.windows_pipeline()
    for rule, query in se.convert_file(text, pipe):
        if getattr(rule, "name", None) == name:
            return set(se.run_query(con, rule, query))
    raise AssertionError(f"no rule {name}")


def _user_name(user: str) -> str | None:
    u = user.split("\\")[1] if "\\" in user else user
    return u or None


def test_sigma_dns_exclusions_executed(tuned: Rendered, allow: Allowlist) -> None:
    text = _file(tuned, "sigma/rh_sl_001_serverless_egress.yml")
    rows = [
        {
            "EventID": 22,
            "Image": img,
            "Computer": host,
            "User": user or None,
            "QueryName": q,
            "timestamp": f"2026-06-01 10:00:{i:02d}",
        }
        for i, (img, host, user, q, _) in enumerate(DNS_ROWS)
    ]
    fired = _run(text, rows, "relayhunt_rh_sl_001_dns_query")
    for i, (img, host, user, q, excluded) in enumerate(DNS_ROWS, start=1):
        assert (i not in fired) == excluded, DNS_ROWS[i - 1]
        finding = {
            "process_executable": img,
            "process_name": re.split(r"[\\/]", img)[-1],
            "host_name": host,
            "user_name": _user_name(user),
            "destination_domain": q.lower().rstrip("."),
            "rule_id": "RH-SL-001",
        }
        engine = any(e.matches(finding, TODAY) for e in allow.active)
        if i == len(DNS_ROWS):  # the parent entry: the engine knows the parent, Sigma not
            finding["process_parent_executable"] = r"C:\actions-runner\bin\Runner.Worker.exe"
            assert any(e.matches(finding, TODAY) for e in allow.active)
            continue
        assert engine == excluded, DNS_ROWS[i - 1]


def test_sigma_process_exclusions_executed(tuned: Rendered, allow: Allowlist) -> None:
    text = _file(tuned, "sigma/rh_sl_002_cmdline_url.yml")
    rows = [
        {
            "EventID": 1,
            "Image": img,
            "User": user,
            "CommandLine": cmd,
            "ParentImage": parent or None,
            "Computer": "build-01",
            "timestamp": f"2026-06-01 10:00:{i:02d}",
        }
        for i, (img, user, cmd, parent, _) in enumerate(PROC_ROWS)
    ]
    fired = _run(text, rows, "relayhunt_rh_sl_002_cmdline")
    for i, (img, user, cmd, _parent, excluded) in enumerate(PROC_ROWS, start=1):
        assert (i not in fired) == excluded, PROC_ROWS[i - 1]
        finding = {
            "process_executable": img,
            "process_name": re.split(r"[\\/]", img)[-1],
            "process_command_line": cmd,
            "user_name": _user_name(user),
            "host_name": "build-01",
            "rule_id": "RH-SL-002",
        }
        assert any(e.matches(finding, TODAY) for e in allow.active) == excluded


# -- the other languages' own checkers ---------------------------------------------------------


def test_tuned_eql_parses(tuned: Rendered) -> None:
    files = [f for f in tuned.files if f.target == "eql"]
    for f in files:
        eql_parse(f.text)
    lookup = _file(tuned, "eql/RH-SL-001_serverless_lookup.eql")
    assert 'dns.question.name regex~ "([^.]+[.])+acct[.]workers[.]dev[.]?"' in lookup


@pytest.mark.parametrize("target", ["spl", "logscale", "yaral", "sumo"])
def test_tuned_structure(tuned: Rendered, target: str) -> None:
    for f in tuned.files:
        if f.target == target:
            structure.check(f.text, target)


def test_tuned_kql_type_checks(tuned: Rendered, tmp_path: Path) -> None:
    from .test_kql import MODULES, _check

    if not MODULES.is_dir():
        pytest.skip("Kusto language service not installed")
    paths = []
    for f in tuned.files:
        if f.target == "kql":
            p = tmp_path / Path(f.path).name
            p.write_text(f.text, encoding="utf-8")
            paths.append(p)
    for result in _check(paths):
        assert result["diagnostics"] == [], result


HOSTILE = r"""
version: 1
allowlist:
  - reason: "hostile \" ' ` */ values"
    process: ['*\evil"; drop table x; --\a.exe', "a'b`c*/\\d|e)f]g$h{i}.exe", 'x" | where 1==1 //']
    user: ['u"); //']
    host: ["h`o's\"t"]
    destination: ["*.hostile.workers.dev"]
  - reason: "hostile command line"
    command_line: ['*"); } not ( /x/ `*']
    process: ["p.exe"]
    rules: ["RH-SL-002"]
"""


def test_hostile_allowlist_value_cannot_break_a_query(tmp_path: Path) -> None:
    config = parse_config(HOSTILE, rules=REGISTRY)
    allow = Allowlist.from_config(config, today=TODAY)
    out = render(["all"], build_spec(allowlist=allow))
    for f in out.files:
        if f.target == "eql":
            eql_parse(f.text)
        elif f.target in ("spl", "logscale", "yaral", "sumo"):
            structure.check(f.text, f.target)
        elif f.target == "sigma":
            docs = list(yaml.safe_load_all(f.text))
            assert docs
    # Sigma: the hostile image is excluded literally, and only it
    text = _file(out, "sigma/rh_sl_001_serverless_egress.yml")
    evil = r'C:\x\evil"; drop table x; --\a.exe'
    rows = [
        {
            "EventID": 22,
            "Image": img,
            "Computer": "h`o's\"t",
            "User": r'D\u"); //',
            "QueryName": "a.hostile.workers.dev",
            "timestamp": "2026-06-01 10:00:00",
        }
        for img in (evil, r"C:\x\evil.exe", "a'b`c*/\\d|e)f]g$h{i}.exe", r"C:\a'bXc.exe")
    ]
    fired = _run(text, rows, "relayhunt_rh_sl_001_dns_query")
    assert fired == {2, 4}, fired
    # KQL, when the language service is there
    from .test_kql import MODULES, _check

    if MODULES.is_dir():
        paths = []
        for f in out.files:
            if f.target == "kql":
                p = tmp_path / Path(f.path).name
                p.write_text(f.text, encoding="utf-8")
                paths.append(p)
        for result in _check(paths):
            assert result["diagnostics"] == [], result


def test_expired_entry_not_rendered_and_rules_scoped() -> None:
    text = """
version: 1
allowlist:
  - reason: expired
    process: ["a.exe"]
    destination: ["x.workers.dev"]
    expires: 2026-05-31
  - reason: live until today
    process: ["b.exe"]
    destination: ["x.workers.dev"]
    expires: 2026-06-01
"""
    allow = Allowlist.from_config(parse_config(text, rules=REGISTRY), today=TODAY)
    assert [e.reason for e in allow.active] == ["live until today"]
    out = render(["sigma"], build_spec(allowlist=allow))
    sigma1 = _file(out, "sigma/rh_sl_001_serverless_egress.yml")
    assert "filter_allow_1" in sigma1 and "filter_allow_0" not in sigma1
    assert "entry 0 (expired, expired 2026-05-31)" in " ".join(sigma1.split())


def test_entry_matches_is_the_reference(allow: Allowlist) -> None:
    """The rows above are judged by the engine's own Python twin of its SQL."""
    assert isinstance(allow.active[0], AllowEntry)
    assert len(allow.active) == 3 and len(allow.expired) == 1
