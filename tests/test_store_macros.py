"""The SQL helpers every reader's mapping is built from, against Python references."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt.store import Store, parse_size

# What DuckDB's trim() removes: the Unicode space separators.
_ZS = "".join(chr(c) for c in range(0x3001) if unicodedata.category(chr(c)) == "Zs")
_PLACEHOLDERS = ("", "-", "(empty)", "null", "NULL")


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = Store()
    yield s
    s.close()


def _nz_reference(value: str | None) -> str | None:
    if value is None or value.strip(_ZS) in _PLACEHOLDERS:
        return None
    return value


_padding = st.text(alphabet=" \t\n\u00a0\u2003\u3000", max_size=3)
_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.builds(
        lambda a, p, b: a + p + b,
        _padding,
        st.sampled_from([*_PLACEHOLDERS, "Null", "--", "x"]),
        _padding,
    ),
)


@settings(max_examples=300, deadline=None)
@given(value=_values)
def test_rh_nz_nulls_exactly_the_placeholders(store: Store, value: str | None) -> None:
    row = store.con.execute("SELECT rh_nz(?)", [value]).fetchone()
    assert row is not None
    assert row[0] == _nz_reference(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02 00:00:00.123", dt.datetime(2026, 11, 2, 0, 0, 0, 123000)),
        ("2026-11-02T00:00:00.123456Z", dt.datetime(2026, 11, 2, 0, 0, 0, 123456)),
        ("2026-11-02T00:00:00+02:00", dt.datetime(2026, 11, 1, 22, 0)),
        ("2026-11-02T00:00:00-0530", dt.datetime(2026, 11, 2, 5, 30)),
        ("  2026-11-02 01:02:03  ", dt.datetime(2026, 11, 2, 1, 2, 3)),
        ("\u00a02026-11-02 01:02:03\u3000", dt.datetime(2026, 11, 2, 1, 2, 3)),
        ("2026-11-02 01:02:03 Europe/Paris", dt.datetime(2026, 11, 2, 0, 2, 3)),
        ("", None),
        ("-", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_rh_ts_reads_to_utc(store: Store, text: str | None, expected: dt.datetime | None) -> None:
    row = store.con.execute("SELECT rh_ts(?)", [text]).fetchone()
    assert row is not None
    assert row[0] == expected


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    offset_min=st.integers(min_value=-14 * 60, max_value=14 * 60),
    sep=st.sampled_from(["T", " "]),
)
def test_rh_ts_matches_python_for_any_offset(
    store: Store, when: dt.datetime, offset_min: int, sep: str
) -> None:
    tz = dt.timezone(dt.timedelta(minutes=offset_min))
    text = when.replace(tzinfo=tz).isoformat(sep=sep)
    row = store.con.execute("SELECT rh_ts(?)", [text]).fetchone()
    assert row is not None
    assert row[0] == when - dt.timedelta(minutes=offset_min)


def test_auto_memory_limit_is_half_of_what_duckdb_finds() -> None:
    """``--memory-limit auto`` (the hunt's default): half the memory DuckDB detects (its
    own default is 80 % of it), so a 10M-event store is not spilled to disk on a machine
    with room for it."""
    import duckdb

    from relayhunt.store import auto_memory_limit

    con = duckdb.connect()
    duckdb_default = parse_size(
        str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    )  # type: ignore[index]
    auto = parse_size(auto_memory_limit())
    want = max(1_000_000_000, duckdb_default * 10 // 16)
    assert abs(auto - want) <= duckdb_default // 100 + 1_000_000
    with Store(memory_limit="auto") as s:
        got = parse_size(str(s.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]))  # type: ignore[index]
    assert abs(got - auto) <= auto // 100


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("4GB", 4_000_000_000),
        ("18.3 GiB", int(18.3 * 2**30)),
        ("512MB", 512_000_000),
        ("1000 KiB", 1_024_000),
    ],
)
def test_parse_size(text: str, want: int) -> None:
    assert parse_size(text) == want


@pytest.mark.parametrize("text", ["lots", "", "4 parsecs", "-1GB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)
