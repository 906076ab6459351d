"""Hostname normalization: the Python function and the SQL expression agree."""

from __future__ import annotations

import string

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt.catalog import normalize_host, normalize_host_sql, register_catalog
from relayhunt.catalog.hostnames import sql_literal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x.workers.dev", "x.workers.dev"),
        ("X.WORKERS.DEV", "x.workers.dev"),
        ("x.workers.dev.", "x.workers.dev"),
        ("x.workers.dev..", None),
        (".x.workers.dev", None),
        (" \tx.workers.dev\n", "x.workers.dev"),
        ("x.workers.dev:443", "x.workers.dev"),
        ("x.workers.dev:", "x.workers.dev"),
        ("x.workers.dev:https", None),
        ("x.workers.dev.:443", "x.workers.dev"),
        ("HTTPS://X.workers.dev/a/b?c#d", "x.workers.dev"),
        ("wss://user:pw@x.workers.dev:8443/socket", "x.workers.dev"),
        ("http://a@b@x.workers.dev/", "x.workers.dev"),
        ("x.workers.dev/path@evil.example", "x.workers.dev"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("1.2.3.4", "1.2.3.4"),
        ("[2001:db8::1]:443", None),
        ("bücher.workers.dev", "xn--bcher-kva.workers.dev"),
        ("BÜCHER.WORKERS.DEV.", "xn--bcher-kva.workers.dev"),
        ("https://bücher.workers.dev:443/x", "xn--bcher-kva.workers.dev"),
        ("x\u3002workers\uff0edev\u3002", "x.workers.dev"),
        ("\uff58.workers.dev", "x.workers.dev"),  # fullwidth x, NFKC-mapped by nameprep
        ("x" * 64 + "ü.workers.dev", None),  # label longer than 63 octets
        ("a\u200b.workers.dev", None),  # zero-width space
        ("a\u202e.workers.dev", None),  # right-to-left override
        ("x\x1b[0m.workers.dev", None),
        ("x workers.dev", None),
        ("\udcff.workers.dev", None),  # lone surrogate from a bad decode
        ("", None),
        ("   ", None),
        ("*.workers.dev", None),
        ("x%2eworkers.dev", None),
    ],
    ids=repr,
)
def test_normalize_host(raw: str, expected: str | None) -> None:
    assert normalize_host(raw) == expected


def test_normalize_none() -> None:
    assert normalize_host(None) is None


def test_sql_literal_escapes_quotes_and_refuses_backslashes() -> None:
    assert sql_literal("it's") == "'it''s'"
    with pytest.raises(ValueError, match="backslash"):
        sql_literal("\\d")


@pytest.fixture(scope="module")
def norm_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    register_catalog(con)  # registers relayhunt_normalize_host
    return con


def _sql_normalize(con: duckdb.DuckDBPyConnection, values: list[str]) -> list[str | None]:
    con.register("norm_input", pa.table({"i": list(range(len(values))), "v": values}))
    rows = con.execute(f"SELECT {normalize_host_sql('v')} FROM norm_input ORDER BY i").fetchall()
    return [r[0] for r in rows]


HOST_CHARS = string.ascii_letters + string.digits + ".-_:/@?#%[] "
URLISH = st.text(HOST_CHARS, max_size=40) | st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["", "http://", "HTTPS://", "user@", "a:b@"]),
    st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=30),
    st.sampled_from(["", ".", ":443", ":", ".:80", "/x", "?q", "#f", ".."]),
    st.sampled_from(["", "/p/a/t/h", "?x=@y"]),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(URLISH | st.text(st.characters(codec="utf-8"), max_size=20), max_size=30))
def test_sql_and_python_normalization_agree(
    norm_con: duckdb.DuckDBPyConnection, values: list[str]
) -> None:
    assert _sql_normalize(norm_con, values) == [normalize_host(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=50))
def test_normalize_never_raises(value: str) -> None:
    result = normalize_host(value)
    assert result is None or (result == result.lower() and result.isascii())
