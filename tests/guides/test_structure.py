"""The SPL, LogScale, UDM search and Sumo pivots pass the structural checker of the
exports (tests/export/structure.py: literals close, brackets balance, every command and
function is a documented one), with sample and with hostile placeholder values."""

from __future__ import annotations

import pytest

from relayhunt.guides import PLACEHOLDERS, all_guides, render_pivots
from tests.guides.conftest import HOSTILE_VALUES, SAMPLE_VALUES

structure = pytest.importorskip("tests.export.structure")

# Documented names the export checker's lists do not carry (the exports do not use them).
EXTRA = {
    # text:contains() / text:endsWith() (the lexer sees the part after the colon):
    # https://library.humio.com/data-analysis/functions-text-contains.html
    # https://library.humio.com/data-analysis/functions-text-endswith.html
    "LOGSCALE_FUNCTIONS": {"contains", "endsWith"},
    # https://www.sumologic.com/help/docs/search/search-query-language/search-operators/contains
    # https://www.sumologic.com/help/docs/search/search-query-language/parse-operators/parse-json
    "SUMO_OPERATORS": {"contains", "json"},
}


@pytest.fixture(autouse=True)
def _extra_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, extra in EXTRA.items():
        monkeypatch.setattr(structure, name, getattr(structure, name) | frozenset(extra))


@pytest.mark.parametrize("siem", ["spl", "logscale", "yaral", "sumo"])
def test_pivots_pass_the_structural_checker(siem: str) -> None:
    checked = 0
    for values in [SAMPLE_VALUES, *(dict.fromkeys(PLACEHOLDERS, v) for v in HOSTILE_VALUES)]:
        for rid, guide in all_guides().items():
            for pivot in render_pivots({siem: guide.pivots.get(siem, [])}, values).get(siem, []):
                if any("{" + n + "}" in pivot.query for n in PLACEHOLDERS):
                    continue  # a value this language cannot carry was left unfilled
                try:
                    structure.check(pivot.query, siem)
                except structure.StructureError as exc:  # pragma: no cover - the message
                    pytest.fail(f"{rid} {siem} {pivot.title!r}: {exc}\n{pivot.query}")
                checked += 1
    assert checked >= 20
