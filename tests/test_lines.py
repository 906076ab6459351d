"""The line splitter: exact line numbers and offsets, bounded records, UTF-8 repair."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt.sources.base import IngestContext, InputFile
from relayhunt.sources.lines import iter_line_tables
from relayhunt.store import Store


def _split(
    data: bytes, tmp: Path, *, block: int, limit: int = 1 << 20
) -> tuple[pa.Table, Store, IngestContext]:
    p = tmp / "in.txt"
    p.write_bytes(data)
    store = Store()
    ctx = IngestContext(
        store=store, file=InputFile.from_path(p), fmt="test", max_record_bytes=limit
    )
    tables = list(iter_line_tables(io.BytesIO(data), ctx, block_bytes=block))
    store.flush_issues()
    empty = pa.table(
        {
            "idx": pa.array([], pa.int64()),
            "line_no": pa.array([], pa.int64()),
            "off": pa.array([], pa.int64()),
            "j": pa.array([], pa.large_string()),
        }
    )
    return (pa.concat_tables(tables) if tables else empty), store, ctx


line_text = st.text(
    alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(line_text, max_size=30),
    block=st.integers(1, 64),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_every_nonblank_line_with_its_number_and_offset(
    tmp_path_factory: object, lines: list[str], block: int, crlf: bool, final_newline: bool
) -> None:
    tmp = tmp_path_factory.mktemp("split")  # type: ignore[attr-defined]
    sep = "\r\n" if crlf else "\n"
    text = sep.join(lines) + (sep if final_newline and lines else "")
    data = text.encode()
    table, store, _ = _split(data, tmp, block=block)
    expected = []
    off = 0
    for i, line in enumerate(lines, start=1):
        if line:
            expected.append((i, off, line))
        off += len(line.encode()) + len(sep)
    got = [(r["line_no"], r["off"], r["j"].rstrip("\r\n")) for r in table.to_pylist()]
    assert got == expected
    assert store.count("ingest_issues") == 0


def test_oversize_line_is_reported_and_skipped_without_buffering(tmp_path: Path) -> None:
    data = b'{"a":1}\n' + b"x" * 5000 + b'\n{"b":2}\n'
    table, store, ctx = _split(data, tmp_path, block=64, limit=1000)
    assert [r["line_no"] for r in table.to_pylist()] == [1, 3]
    (issue,) = store.con.execute(
        "SELECT reason_code, log_line, log_offset FROM ingest_issues"
    ).fetchall()
    assert issue == ("oversize_record", 2, 8)
    assert ctx.records_seen == 3


def test_oversize_line_inside_a_block(tmp_path: Path) -> None:
    data = b'{"a":1}\n' + b"y" * 3000 + b'\n{"b":2}\n'
    table, store, _ = _split(data, tmp_path, block=1 << 20, limit=1000)
    assert [r["line_no"] for r in table.to_pylist()] == [1, 3]
    assert store.con.execute("SELECT reason_code, log_line FROM ingest_issues").fetchall() == [
        ("oversize_record", 2)
    ]


def test_oversize_last_line_without_newline(tmp_path: Path) -> None:
    data = b'{"a":1}\n' + b"z" * 3000
    table, store, _ = _split(data, tmp_path, block=100, limit=1000)
    assert [r["line_no"] for r in table.to_pylist()] == [1]
    assert store.con.execute("SELECT reason_code, log_line FROM ingest_issues").fetchall() == [
        ("oversize_record", 2)
    ]


def test_invalid_utf8_is_replaced_and_warned(tmp_path: Path) -> None:
    data = b'{"a":"ok"}\n{"a":"caf\xe9"}\n{"a":"ok2"}\n'
    table, store, _ = _split(data, tmp_path, block=1 << 20)
    assert [r["j"].rstrip() for r in table.to_pylist()] == [
        '{"a":"ok"}',
        '{"a":"caf\ufffd"}',
        '{"a":"ok2"}',
    ]
    assert store.con.execute(
        "SELECT severity, reason_code, log_line, log_offset FROM ingest_issues"
    ).fetchall() == [("warning", "invalid_utf8", 2, 11 + 9)]
