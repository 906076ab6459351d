from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from relayhunt.ingest import ingest
from relayhunt.store import Store

FIXTURES = Path(__file__).parent / "fixtures"

# CI and the README's test command run the property tests with a fixed derivation of their
# examples, so a run is repeatable and main stays green on a fresh clone; set
# HYPOTHESIS_PROFILE=explore to search new examples on every run while developing.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def store() -> Iterator[Store]:
    with Store() as s:
        yield s


def load(*paths: Path | str, **kwargs: Any) -> Store:
    """Ingest into a fresh in-memory store (caller closes it)."""
    s = Store()
    ingest([str(p) for p in paths], s, **kwargs)
    s.flush_issues()
    return s


def rows(store: Store, sql: str, *params: Any) -> list[dict[str, Any]]:
    cur = store.con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def event_counts(store: Store) -> dict[str, int]:
    """Rows per event table."""
    return dict(
        store.con.execute(
            "SELECT 'process', count(*) FROM process UNION ALL SELECT 'dns', count(*) FROM dns "
            "UNION ALL SELECT 'connection', count(*) FROM connection "
            "UNION ALL SELECT 'file', count(*) FROM file"
        ).fetchall()
    )


def skipped_counts(store: Store) -> dict[str, int]:
    """Skipped event types and how many of each."""
    return dict(store.con.execute("SELECT label, count FROM ingest_skipped").fetchall())
