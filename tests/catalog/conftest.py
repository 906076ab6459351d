from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from relayhunt.catalog import Catalog, load_catalog, match_sql, register_catalog

FIXTURES = Path(__file__).parent / "fixtures"

# One input table, re-registered per call, and one query built once per session: running
# the real match SQL per hypothesis example costs a few milliseconds.
_INPUT = "catalog_test_hosts"

Matcher = Callable[[Sequence[str | None]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def con(catalog: Catalog) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    register_catalog(connection, catalog)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def match_many(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> Matcher:
    """Run the production match SQL over a list of raw host values; rows in input order."""
    con.register(_INPUT, pa.table({"i": pa.array([], pa.int64()), "h": pa.array([], pa.string())}))
    query = match_sql(con, _INPUT, "h", catalog)

    def run(hosts: Sequence[str | None]) -> list[dict[str, Any]]:
        table = pa.table(
            {"i": pa.array(range(len(hosts)), pa.int64()), "h": pa.array(list(hosts), pa.string())}
        )
        con.register(_INPUT, table)
        return con.execute(f"SELECT * FROM ({query}) AS q ORDER BY i").to_arrow_table().to_pylist()

    return run


@pytest.fixture(scope="session")
def match_one(match_many: Matcher) -> Callable[[str | None], dict[str, Any]]:
    def run(host: str | None) -> dict[str, Any]:
        (row,) = match_many([host])
        return row

    return run
