"""Loading and validating catalog files: every defect is reported with where it is.

Fixtures: ``fixtures/minimal_*.yaml`` are valid; each file in ``fixtures/*_invalid/`` is the
minimal file with one defect, named after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relayhunt.catalog import CatalogError, CatalogIssue, load_catalog

FIXTURES = Path(__file__).parent / "fixtures"
MINIMAL_SERVERLESS = FIXTURES / "minimal_serverless.yaml"
MINIMAL_PROCESSES = FIXTURES / "minimal_processes.yaml"
MINIMAL = MINIMAL_SERVERLESS.read_text(encoding="utf-8")


def test_bundled_catalog_loads_and_is_cached() -> None:
    assert load_catalog() is load_catalog()
    assert len(load_catalog().entries) > 50


def test_minimal_files_load() -> None:
    catalog = load_catalog(MINIMAL_SERVERLESS, MINIMAL_PROCESSES)
    assert [e.id for e in catalog.entries] == ["example-functions", "example-zoned"]
    assert [p.name for p in catalog.processes] == ["chrome.exe", "msedgewebview2.exe", "curl.exe"]
    assert catalog.entry("example-zoned").regex == (
        "(?i)^(?:[^.]+[.])*(?:z[0-9]{2})[.]example-edge[.]test$"
    )
    assert catalog.entry("example-zoned").tail == "example-edge.test"
    # Not in the PSL: the plain entry's tenant is the whole host, the zoned one has 1 label.
    assert catalog.entry("example-functions").tenant_mode == "host"
    assert catalog.entry("example-zoned").tenant_mode == "labels"
    assert catalog.entry("example-zoned").priority == 1


E0 = "entries[0] (example-functions)"
E1 = "entries[1] (example-zoned)"
E1_DUP = "entries[1] (example-functions)"  # the duplicated id names the entry

# (fixture, location, message fragment, line)
SERVERLESS_DEFECTS = [
    ("not_yaml", "(document)", "not valid YAML", 12),
    ("unknown_placeholder", f"{E1}.pattern", "unknown placeholder {zoen}; known: zone", 25),
    ("short_fixed_tail", f"{E1}.pattern", "fixed tail", 25),
    ("weight_out_of_range", f"{E0}.weight", "from 0 to 1, got 1.5", 17),
    ("weight_is_text", f"{E0}.weight", "from 0 to 1", 17),
    ("missing_source", f"{E0}", "missing required field 'source'", 12),
    ("empty_source", f"{E0}.source", "must not be empty", 18),
    ("duplicate_id", f"{E1_DUP}.id", "duplicate id", 21),
    ("duplicate_key", "entries[1]", "duplicate key 'weight'", 27),
    ("unknown_field", f"{E1}.weigth", "unknown field", 26),
    ("unknown_kind", f"{E1}.kind", "unknown kind 'cdn'", 24),
    ("uppercase_pattern", f"{E0}.pattern", "lowercase", 16),
    ("single_label_pattern", f"{E0}.pattern", "at least two labels", 16),
    ("empty_label_pattern", f"{E0}.pattern", "no empty labels", 16),
    ("example_does_not_match", f"{E0}.examples[0].host", "does not match", 20),
    ("example_tenant_not_a_suffix", f"{E0}.examples[0].tenant", "not a label suffix", 20),
    ("example_missing_tenant", f"{E0}.examples[0]", "'tenant'", 20),
    ("no_examples", f"{E0}", "'examples'", 12),
    ("placeholder_backslash", "placeholders.zone.regex", "backslashes", 7),
    ("placeholder_dot", "placeholders.zone.regex", "'.' outside a character class", 7),
    ("placeholder_dot_in_class", "placeholders.zone.regex", "contains '.'", 7),
    ("placeholder_negated_class", "placeholders.zone.regex", "negated", 7),
    ("placeholder_lookahead", "placeholders.zone.regex", "non-capturing", 7),
    ("placeholder_example_mismatch", "placeholders.zone.example", "not one label matched", 8),
    ("tenant_labels_negative", f"{E1}.tenant_labels", ">= 0 or 'host'", 27),
    ("tenant_labels_without_namespace", f"{E1}.tenant_labels", "no tenant", 27),
    ("legacy_not_bool", f"{E1}.legacy", "true or false", 27),
    ("wrong_schema_version", "schema_version", "expected 1, got 2", 2),
    ("entries_not_a_list", "entries", "non-empty list", 11),
]  # fmt: skip

PROCESS_DEFECTS = [
    ("uppercase_name", "processes[0] (Chrome.exe).name", "lowercase", 5),
    ("name_with_folder", "processes[0] (bin\\chrome.exe).name", "without any folder", 5),
    ("duplicate_name", "processes[1] (chrome.exe).name", "duplicate of processes[0]", 6),
    ("unknown_category", "processes[1] (msedgewebview2.exe).category", "unknown category", 6),
    ("lolbin_without_subcategory", "processes[2] (curl.exe)", "'subcategory'", 7),
    ("browser_with_subcategory", "processes[0] (chrome.exe).subcategory", "only lolbin", 5),
    ("unknown_subcategory", "processes[2] (curl.exe).subcategory", "unknown subcategory", 7),
    ("unknown_os", "user_writable_paths[1].os", "unknown operating system 'bsd'", 10),
    ("missing_process_source", "processes[0] (chrome.exe)", "'source'", 5),
    ("path_without_separator", "user_writable_paths[1].pattern", "path separator", 10),
    ("relative_path", "user_writable_paths[1].pattern", "must start with", 10),
    ("duplicate_path", "user_writable_paths[1].pattern", "duplicate of user_writable_paths[0]", 10),
    ("bad_path_label", "user_writable_paths[1].label", "lowercase letters", 10),
]  # fmt: skip


def _only_issue(serverless: Path, processes: Path) -> CatalogIssue:
    with pytest.raises(CatalogError) as caught:
        load_catalog(serverless, processes)
    assert len(caught.value.issues) == 1, caught.value.issues
    return caught.value.issues[0]


@pytest.mark.parametrize(
    ("fixture", "location", "message", "line"),
    SERVERLESS_DEFECTS,
    ids=[d[0] for d in SERVERLESS_DEFECTS],
)
def test_serverless_defect_is_located(fixture: str, location: str, message: str, line: int) -> None:
    path = FIXTURES / "serverless_invalid" / f"{fixture}.yaml"
    issue = _only_issue(path, MINIMAL_PROCESSES)
    assert issue.location == location
    assert message in issue.message
    assert issue.line == line
    assert issue.file == str(path)
    assert str(issue).startswith(f"{path}:{line}:")


@pytest.mark.parametrize(
    ("fixture", "location", "message", "line"),
    PROCESS_DEFECTS,
    ids=[d[0] for d in PROCESS_DEFECTS],
)
def test_process_defect_is_located(fixture: str, location: str, message: str, line: int) -> None:
    path = FIXTURES / "processes_invalid" / f"{fixture}.yaml"
    issue = _only_issue(MINIMAL_SERVERLESS, path)
    assert issue.location == location
    assert message in issue.message
    assert issue.line == line


def test_all_defects_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL.replace("weight: 0.9", "weight: 2").replace("kind: edge", "kind: cdn")
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, MINIMAL_PROCESSES)
    locations = [i.location for i in caught.value.issues]
    assert locations == [f"{E0}.weight", f"{E1}.kind"]
    assert "2 problems" in str(caught.value)


def test_invalid_placeholder_is_blamed_once_not_in_every_pattern() -> None:
    issue = _only_issue(FIXTURES / "serverless_invalid" / "placeholder_dot.yaml", MINIMAL_PROCESSES)
    assert issue.location == "placeholders.zone.regex"


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_catalog(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping at the top level, got nothing"),
        ("- just\n- a list\n", "expected a mapping at the top level, got list"),
    ],
    ids=["empty_file", "top_level_list"],
)
def test_document_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "serverless.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, MINIMAL_PROCESSES)
    assert [i.message for i in caught.value.issues] == [message]
