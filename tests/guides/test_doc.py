"""docs/guides.md is generated from the guide files and must match them."""

from __future__ import annotations

from pathlib import Path

from relayhunt.detect import rules
from relayhunt.guides.doc import render_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "guides.md"


def test_committed_doc_is_generated() -> None:
    assert DOC.read_text(encoding="utf-8") == render_doc(), (
        "docs/guides.md is stale: run `python -m relayhunt.guides.doc docs/guides.md`"
    )


def test_doc_has_every_rule() -> None:
    text = render_doc()
    for rule in rules():
        assert f"\n## {rule.id}: " in text


def test_cli_doc_documents_explain() -> None:
    cli = (DOC.parent / "cli.md").read_text(encoding="utf-8")
    assert "## `explain`" in cli
    assert "relayhunt explain RULE_ID" in cli
