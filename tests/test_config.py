"""Tuning config: loading, error locations, and the allowlist's SQL semantics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayhunt import model
from relayhunt.config import (
    MATCH_FIELDS,
    AllowEntry,
    Config,
    ConfigError,
    RuleOverride,
    glob_regex,
    load_config,
    min_severity_sql,
    parse_config,
    rule_overrides,
    sql_string,
    suppression_reason_sql,
    suppression_sql,
)

FIXTURES = Path(__file__).parent / "fixtures" / "config"
TODAY = dt.date(2026, 6, 1)

REGISTRY: dict[str, dict[str, object]] = {
    "RH-SL-001": {"min_events": 1},
    "RH-SL-002": {},
    "RH-SL-003": {"script_hosts": ["wscript.exe"], "write_to_run_s": 3600},
    "RH-SL-004": {"min_fleet": 5, "max_hosts": 2, "max_fleet_fraction": 0.05},
}


def example_path() -> Path:
    return Path(str(resources.files("relayhunt") / "data" / "example-config.yaml"))


# ----------------------------------------------------------------------------- loading


def test_no_path_gives_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.profile == "default"
    assert config.min_severity == "low"
    assert config.allowlist == ()
    assert suppression_sql(config) == "FALSE"


def test_valid_fixture_reads_every_key() -> None:
    config = load_config(FIXTURES / "valid.yaml", rules=REGISTRY)
    assert config.profile == "all"
    assert config.min_severity == "medium"
    assert config.source == FIXTURES / "valid.yaml"
    first, second = config.allowlist
    assert first.reason == "Backup agent polls its Lambda API"
    assert first.process == ("*\\veeam\\*\\veeamagent.exe",)  # lowercased, backslashes kept
    assert first.destination == ("*.execute-api.eu-west-1.amazonaws.com",)
    assert first.host == ("build-*",)
    assert first.command_line == ("*--job*",)
    assert first.rules == ("rh-sl-001",)
    assert first.expires == dt.date(2099, 1, 31)
    assert first.location == f"{FIXTURES / 'valid.yaml'}:6"
    assert second.host == ("build-01",)  # a single string is a list of one
    assert config.rules["RH-SL-001"] == RuleOverride(
        "RH-SL-001", enabled=True, severity="high", thresholds={"min_events": 2}
    )
    sl4 = config.rules["RH-SL-004"].thresholds
    assert sl4 == {"max_hosts": 3, "max_fleet_fraction": 1.0}
    assert isinstance(sl4["max_fleet_fraction"], float)  # int widened to the default's type
    assert config.rules["RH-SL-003"].thresholds["script_hosts"] == ("wscript.exe", "cscript.exe")
    assert config.rule_enabled("RH-SL-003") is False
    assert config.rule_enabled("RH-SL-002") is True
    assert config.rule_severity("RH-SL-001") == "high"
    assert config.rule_thresholds("RH-SL-004") == {"max_hosts": 3, "max_fleet_fraction": 1.0}
    assert rule_overrides(config, "RH-SL-002") == RuleOverride("RH-SL-002")


def test_without_registry_thresholds_are_only_type_checked() -> None:
    config = parse_config("version: 1\nrules:\n  RH-NEW-9: {anything: 3, flag: true}\n")
    assert config.rules["RH-NEW-9"].thresholds == {"anything": 3, "flag": True}


def test_threshold_accessor_widens_ints_for_float_defaults() -> None:
    override = RuleOverride("R", thresholds={"ratio": 1, "count": 4})
    assert override.threshold("ratio", 0.5) == 1.0
    assert isinstance(override.threshold("ratio", 0.5), float)
    assert override.threshold("count", 1) == 4
    assert override.threshold("missing", 7) == 7


# (fixture, [(line, key path, fragment of the message)]) - every problem, with its line.
ERROR_CASES: list[tuple[str, list[tuple[int | None, str, str]]]] = [
    (
        "unknown_key.yaml",
        [
            (4, "allowlist[0].proces", "did you mean 'process'?"),
            (6, "min_severty", "did you mean 'min_severity'?"),
        ],
    ),
    (
        "bad_values.yaml",
        [
            (2, "profile", "did you mean 'compat'?"),
            (3, "min_severity", "did you mean 'high'?"),
            (6, "allowlist[0].host", "expected a list of strings, got an integer"),
            (7, "allowlist[0].user", "empty list"),
            (8, "allowlist[0].expires", "expected a date as YYYY-MM-DD"),
            (9, "allowlist[1].reason", "must not be empty"),
            (10, "allowlist[1].destination[0]", "not a hostname glob"),
            (11, "allowlist[2].reason", "missing"),
        ],
    ),
    (
        "too_broad.yaml",
        [
            (3, "allowlist[0]", "matches every finding"),
            (4, "allowlist[1]", "enabled: false"),
        ],
    ),
    ("invalid_yaml.yaml", [(5, "", "began on line 3")]),
    (
        "anchors.yaml",
        [(3, "", "anchors and aliases"), (6, "", "anchors and aliases")],
    ),
    (
        "unknown_rule.yaml",
        [
            (5, "allowlist[0].rules[0]", "did you mean 'RH-SL-001'?"),
            (7, "rules.RH-SL-0001", "did you mean 'RH-SL-001'?"),
            (9, "rules.RH-SL-001.min_event", "did you mean 'min_events'?"),
            (10, "rules.RH-SL-001.severity", "did you mean 'high'?"),
            (12, "rules.RH-SL-004.max_hosts", "expected an integer (default 2), got a string"),
            (13, "rules.RH-SL-004.min_fleet", "must be a finite number >= 0"),
            (14, "rules.RH-SL-004.max_fleet_fraction", "got a list"),
            (16, "rules.RH-SL-003.script_hosts", "expected a list"),
        ],
    ),
    ("missing_version.yaml", [(1, "version", "missing")]),
    ("wrong_version.yaml", [(1, "version", "unsupported version 2")]),
    ("duplicate_key.yaml", [(3, "profile", "duplicate key (first given on line 2)")]),
    ("empty.yaml", [(None, "", "empty file")]),
    ("not_a_mapping.yaml", [(1, "", "expected a mapping, got a list")]),
    (
        "control_chars.yaml",
        [
            (4, "allowlist[0].process[0]", "U+202E"),
            (5, "allowlist[1].reason", "control or invisible"),
            (8, "allowlist[2].host[0]", "U+0009"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("fixture", "expected"), ERROR_CASES, ids=[c[0].removesuffix(".yaml") for c in ERROR_CASES]
)
def test_errors_name_file_line_and_key(
    fixture: str, expected: list[tuple[int | None, str, str]]
) -> None:
    path = FIXTURES / fixture
    with pytest.raises(ConfigError) as caught:
        load_config(path, rules=REGISTRY)
    problems = caught.value.problems
    got = [(p.line, p.path) for p in problems]
    assert got == [(line, key) for line, key, _ in expected]
    for problem, (_, _, fragment) in zip(problems, expected, strict=True):
        assert fragment in problem.message
        assert problem.file == str(path)
    message = str(caught.value)
    first_line = expected[0][0]
    assert (f"{path}:{first_line}:" if first_line else str(path)) in message


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nprofile: d\xe9faut\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_unquoted_yaml_boolean_where_text_is_expected_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="quote it") as caught:
        parse_config("version: 1\nallowlist:\n  - reason: x\n    host: [no]\n")
    assert caught.value.problems[0].line == 4


# ----------------------------------------------------------------------- the example


def test_example_config_loads_against_the_real_rule_registry() -> None:
    from relayhunt.detect import rules

    registry = {r.id: dict(r.thresholds) for r in rules()}
    config = load_config(example_path(), rules=registry)
    assert len(config.allowlist) >= 12
    assert all(e.reason for e in config.allowlist)


def test_example_entries_are_safe_to_enable_unedited() -> None:
    """Every shipped entry pins a destination, and every destination holds a placeholder
    label with '_', which no public hostname on these platforms can contain."""
    config = load_config(example_path())
    for entry in config.allowlist:
        assert entry.destination, entry.reason
        for glob in entry.destination:
            assert "_" in glob, (entry.reason, glob)
        assert any(entry.globs(f) for f in ("process", "parent", "host", "user")), entry.reason


@pytest.mark.parametrize(
    "finding",
    [
        {"process_name": "Runner.Worker.exe", "destination_domain": "c2.attacker.workers.dev"},
        {"process_name": "node.exe", "destination_domain": "x.attacker.workers.dev"},
        {"process_name": "VeeamAgent.exe", "destination_domain": "abc.lambda-url.eu-west-1.on.aws"},
    ],
    ids=["runner-name-to-foreign-worker", "node-to-foreign-worker", "backup-name-to-lambda"],
)
def test_example_does_not_suppress_lookalike_attacks(finding: dict[str, Any]) -> None:
    config = load_config(example_path())
    row = {"host_name": "dev-01", "user_name": "svc_jenkins", **finding}
    assert not any(e.matches(row, TODAY) for e in config.allowlist)


# --------------------------------------------------------------- suppression in DuckDB


def _findings(rows: list[dict[str, Any]]) -> pa.Table:
    full = [{"finding_id": str(i), **r} for i, r in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=model.arrow_schema("findings"))


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _matched(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rows: list[dict[str, Any]],
    today: dt.date = TODAY,
) -> list[int]:
    table = _findings(rows)
    con.register("f", table)
    sql = suppression_sql(config, table.column_names, today=today)
    null_rows = con.execute(f"SELECT count(*) FROM f WHERE ({sql}) IS NULL").fetchone()
    assert null_rows == (0,), "suppression_sql must never be NULL"
    got = con.execute(f"SELECT finding_id FROM f WHERE {sql} ORDER BY 1").fetchall()
    con.unregister("f")
    return sorted(int(r[0]) for r in got)


def _entry_config(**fields: Any) -> Config:
    def quoted(text: str) -> str:  # YAML single-quoted: only ' needs doubling
        return "'" + text.replace("'", "''") + "'"

    lines = ["version: 1", "allowlist:", f"  - reason: {quoted(fields.pop('reason', 'test'))}"]
    for key, value in fields.items():
        if isinstance(value, list):
            items = ", ".join(quoted(v) for v in value)
            lines.append(f"    {key}: [{items}]")
        else:
            lines.append(f"    {key}: {value}")
    return parse_config("\n".join(lines) + "\n")


DESTINATION_CASES: list[tuple[str, str, bool]] = [
    ("*.workers.dev", "a.workers.dev", True),
    ("*.workers.dev", "a.b.workers.dev", True),
    ("*.workers.dev", "workers.dev.attacker.example", False),
    ("*.workers.dev", "evilworkers.dev", False),
    ("*.workers.dev", "workers.dev", False),
    ("*.workers.dev", "a.workers.devx", False),
    ("acme-*.workers.dev", "acme-x.workers.dev", True),
    ("acme-*.workers.dev", "acme-x.attacker.workers.dev", False),
    ("*.acme.workers.dev", "job.acme.workers.dev", True),
    ("*.acme.workers.dev", "job.acme.workers.dev.evil.example", False),
    ("*.acme.workers.dev", "job.evilacme.workers.dev", False),
    ("api?.example.com", "api1.example.com", True),
    ("api?.example.com", "api.x.example.com", False),
    ("A.Example.COM", "a.example.com", True),
    ("a.example.com.", "a.example.com", True),
    ("*", "anything.example", True),
]


@pytest.mark.parametrize(
    ("glob", "domain", "expected"),
    DESTINATION_CASES,
    ids=[f"{g}~{d}" for g, d, _ in DESTINATION_CASES],
)
def test_destination_globs_are_label_aware(
    con: duckdb.DuckDBPyConnection, glob: str, domain: str, expected: bool
) -> None:
    config = _entry_config(destination=[glob])
    assert _matched(con, config, [{"destination_domain": domain}]) == ([0] if expected else [])
    assert config.allowlist[0].matches({"destination_domain": domain}, TODAY) is expected


def test_destination_also_matches_the_tenant(con: duckdb.DuckDBPyConnection) -> None:
    config = _entry_config(destination=["*.acme.workers.dev"])
    rows = [
        {"destination_domain": None, "serverless_tenant": "x.acme.workers.dev"},
        {"destination_domain": "1.2.3.4", "serverless_tenant": None},
    ]
    assert _matched(con, config, rows) == [0]


PROCESS_CASES: list[tuple[str, dict[str, str], bool]] = [
    (
        "*\\Veeam\\*\\VeeamAgent.exe",
        {"process_executable": "C:\\Program Files\\Veeam\\Backup\\x64\\VeeamAgent.exe"},
        True,
    ),
    (
        "*\\Veeam\\*\\VeeamAgent.exe",
        {"process_executable": "C:\\Users\\bob\\AppData\\VeeamAgent.exe"},
        False,
    ),
    ("Runner.Worker.exe", {"process_name": "RUNNER.WORKER.EXE"}, True),
    ("Runner.Worker.exe", {"process_name": "Runner.Worker.exe.evil"}, False),
    ("node?.exe", {"process_name": "node2.exe"}, True),
    ("50%_off.exe", {"process_name": "50%_off.exe"}, True),
    ("50%_off.exe", {"process_name": "50xxoff.exe"}, False),
    ("a!b.exe", {"process_name": "a!b.exe"}, True),
    ("a!b.exe", {"process_name": "ab.exe"}, False),
]


@pytest.mark.parametrize(
    ("glob", "row", "expected"),
    PROCESS_CASES,
    ids=[f"{g}~{next(iter(r.values()))}" for g, r, _ in PROCESS_CASES],
)
def test_process_globs(
    con: duckdb.DuckDBPyConnection, glob: str, row: dict[str, str], expected: bool
) -> None:
    config = _entry_config(process=[glob])
    assert _matched(con, config, [row]) == ([0] if expected else [])
    assert config.allowlist[0].matches(row, TODAY) is expected


def test_fields_are_anded_and_patterns_ored(con: duckdb.DuckDBPyConnection) -> None:
    config = _entry_config(
        host=["build-*", "ci-*"], destination=["*.acme.workers.dev"], rules=["RH-SL-00?"]
    )
    base = {"destination_domain": "x.acme.workers.dev", "rule_id": "RH-SL-001"}
    rows = [
        {**base, "host_name": "BUILD-7"},  # 0: all fields match
        {**base, "host_name": "ci-2"},  # 1: second host glob
        {**base, "host_name": "ws-1"},  # 2: host does not match
        {**base, "host_name": "build-1", "destination_domain": "x.evil.workers.dev"},  # 3
        {**base, "host_name": "build-1", "rule_id": "RH-COMPAT-000"},  # 4: rule not listed
        {"host_name": "build-1", "rule_id": "RH-SL-001"},  # 5: destination NULL
    ]
    assert _matched(con, config, rows) == [0, 1]


def test_expired_entry_does_not_suppress(con: duckdb.DuckDBPyConnection) -> None:
    config = _entry_config(host=["ws-1"], expires="2026-05-31")
    rows = [{"host_name": "ws-1"}]
    assert _matched(con, config, rows, today=dt.date(2026, 5, 31)) == [0]  # last valid day
    assert _matched(con, config, rows, today=dt.date(2026, 6, 1)) == []
    assert suppression_sql(config, today=dt.date(2026, 6, 1)) == "FALSE"
    warnings = config.warnings(dt.date(2026, 6, 1))
    assert len(warnings) == 1
    assert "expired on 2026-05-31" in warnings[0]
    assert config.warnings(dt.date(2026, 5, 1)) == []


@pytest.mark.parametrize(
    "pattern",
    [
        "x' OR 1=1 --",
        "'; DROP TABLE f; --",
        "a''b",
        "trailing\\",
        "\\'",
        "x') OR TRUE OR ('",
    ],
    ids=["or-true", "drop-table", "doubled-quote", "trailing-backslash", "escaped-quote", "paren"],
)
def test_hostile_patterns_cannot_break_the_sql(
    con: duckdb.DuckDBPyConnection, pattern: str
) -> None:
    config = _entry_config(user=[pattern], reason=f"reason with {pattern}")
    rows = [{"user_name": pattern}, {"user_name": "alice"}, {"user_name": None}]
    assert _matched(con, config, rows) == [0]
    table = _findings(rows)
    con.register("f", table)
    reasons = con.execute(
        f"SELECT {suppression_reason_sql(config, today=TODAY)} FROM f ORDER BY finding_id"
    ).fetchall()
    assert reasons == [(f"reason with {pattern}",), (None,), (None,)]
    assert con.execute("SELECT count(*) FROM f").fetchone() == (3,)  # table still there


def test_reason_sql_names_the_first_matching_entry(con: duckdb.DuckDBPyConnection) -> None:
    config = parse_config(
        "version: 1\nallowlist:\n"
        "  - {reason: \"CI's runner\", host: ['ci-*']}\n"
        "  - {reason: 'any ws', host: ['*']}\n"
    )
    con.register("f", _findings([{"host_name": "ci-1"}, {"host_name": "ws-9"}, {}]))
    got = con.execute(
        f"SELECT {suppression_reason_sql(config)} FROM f ORDER BY finding_id"
    ).fetchall()
    assert got == [("CI's runner",), ("any ws",), (None,)]


def test_missing_relation_columns_never_match(con: duckdb.DuckDBPyConnection) -> None:
    config = _entry_config(host=["*"], destination=["*.workers.dev"])
    con.execute("CREATE TABLE narrow AS SELECT 'h' AS host_name, 'x.workers.dev' AS rule_id")
    sql = suppression_sql(config, ["host_name", "rule_id"])
    assert con.execute(f"SELECT {sql} FROM narrow").fetchall() == [(False,)]


def test_qualifier_prefixes_columns(con: duckdb.DuckDBPyConnection) -> None:
    config = _entry_config(host=["ws-*"])
    con.register("f", _findings([{"host_name": "WS-1"}]))
    sql = suppression_sql(config, qualifier="t")
    assert "t.host_name" in sql
    assert con.execute(f"SELECT {sql} FROM f AS t").fetchall() == [(True,)]


def test_sql_string_spells_backslashes_portably() -> None:
    assert sql_string("a\\b'c") == "('a' || chr(92) || 'b''c')"
    assert "\\" not in sql_string("\\\\x\\")
    with pytest.raises(ValueError, match="control character"):
        sql_string("a\nb")


@pytest.mark.parametrize(
    ("floor", "kept"),
    [("info", 5), ("low", 4), ("medium", 3), ("high", 2), ("critical", 1)],
    ids=["info", "low", "medium", "high", "critical"],
)
def test_min_severity_sql(con: duckdb.DuckDBPyConnection, floor: str, kept: int) -> None:
    config = parse_config(f"version: 1\nmin_severity: {floor}\n")
    sevs = ["info", "low", "medium", "high", "critical", None]
    con.register("f", _findings([{"severity": s} for s in sevs]))
    assert con.execute(f"SELECT count(*) FROM f WHERE {min_severity_sql(config)}").fetchone() == (
        kept,
    )


# ------------------------------------------------ SQL and Python agree (property tests)

_GLOB_ALPHABET = st.sampled_from(list("ab.\\/%_!'*?-xé *"))
_VALUE_ALPHABET = st.sampled_from(list("ab.\\/%_!'-xé AB"))
_HOST_GLOB = st.text(st.sampled_from(list("ab.-*?")), min_size=1, max_size=8).filter(
    lambda g: not g.startswith(".") and ".." not in g and g.strip(".")
)
_HOST_VALUE = st.text(st.sampled_from(list("ab.-")), min_size=1, max_size=10)


@pytest.fixture(scope="module")
def shared_con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _sql_agrees(
    con: duckdb.DuckDBPyConnection, entry: AllowEntry, row: Mapping[str, Any]
) -> tuple[bool, bool]:
    config = Config(allowlist=(entry,))
    con.register("one", _findings([dict(row)]))
    (sql_result,) = con.execute(f"SELECT {suppression_sql(config)} FROM one").fetchone() or (None,)
    con.unregister("one")
    return bool(sql_result), entry.matches(row, TODAY)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    glob=st.text(_GLOB_ALPHABET, min_size=1, max_size=8),
    value=st.text(_VALUE_ALPHABET, max_size=10),
)
def test_like_globs_match_like_python(
    shared_con: duckdb.DuckDBPyConnection, glob: str, value: str
) -> None:
    glob = glob.strip().lower()
    if not glob:
        return
    entry = AllowEntry(reason="p", user=(glob,))
    sql_result, py_result = _sql_agrees(shared_con, entry, {"user_name": value})
    assert sql_result == py_result
    assert py_result == bool(glob_regex(glob, host=False).fullmatch(value.lower()))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(glob=_HOST_GLOB, value=_HOST_VALUE)
def test_host_globs_match_like_python(
    shared_con: duckdb.DuckDBPyConnection, glob: str, value: str
) -> None:
    entry = AllowEntry(reason="p", destination=(glob,))
    sql_result, py_result = _sql_agrees(shared_con, entry, {"destination_domain": value})
    assert sql_result == py_result
    if py_result and glob.startswith("*."):
        # a leading "*." never matches the bare suffix or a name that merely ends like it
        suffix = glob[2:]
        assert value != suffix


def test_match_fields_cover_the_documented_columns() -> None:
    columns = {c for cols in MATCH_FIELDS.values() for c in cols}
    assert columns <= {c.name for c in model.FINDINGS}
    assert {
        "host_name",
        "user_name",
        "process_executable",
        "process_name",
        "process_parent_executable",
        "process_parent_name",
        "destination_domain",
        "serverless_tenant",
        "rule_id",
    } <= columns
