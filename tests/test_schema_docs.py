from __future__ import annotations

from pathlib import Path

from relayhunt import model
from relayhunt.store import Store

DOC = Path(__file__).parent.parent / "docs" / "schema.md"


def test_schema_doc_is_current() -> None:
    assert model.schema_markdown() in DOC.read_text(), (
        "docs/schema.md is stale: regenerate with python -m relayhunt.model"
    )


def test_store_tables_match_model() -> None:
    with Store() as s:
        for name, cols in model.all_tables().items():
            got = s.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            assert got == [(c.name, c.sql_type) for c in cols], name


def test_every_event_table_has_provenance_and_time() -> None:
    for cols in model.TABLES.values():
        names = [c.name for c in cols]
        assert names[0] == "timestamp"
        assert names[-4:] == ["log_format", "log_file_path", "log_line", "log_record"]
