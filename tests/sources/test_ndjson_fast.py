"""The NDJSON fast path gives exactly what the line path gives, chunk by chunk.

Every fixture is read twice, once with the fast path allowed for any size (and cut into
small chunks) and once with it off, and the stored rows, issues (with their line and
offset) and skipped counts must be equal. The fast path must really have been taken for
the clean NDJSON fixtures, or the comparison would prove nothing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import relayhunt.sources.ndjson_file as fast
from relayhunt.ingest import ingest
from relayhunt.store import Store

FIXTURES = Path(__file__).parent.parent / "fixtures"
TABLES = ("process", "dns", "connection", "file", "ingest_issues", "ingest_skipped")

# Fixture files that are clean NDJSON of a format with a JSON mapping: the fast path must
# be used for each (records with wrong types or no time are per-row issues, not errors).
MUST_USE = [
    "ecs/defend_windows/events.ndjson",
    "ecs/missing_timestamp/events.ndjson",
    "ecs/wrong_types/events.ndjson",
    "falcon/mixed_events",
    "udm/ndjson_snake_case",
    "zeek/json_default_no_path/current.log",
    "zeek/json_underscore_fields",
]


def _snapshot(
    paths: list[Path],
    *,
    fast_on: bool,
    monkeypatch: pytest.MonkeyPatch,
    chunk_bytes: int = 2048,
    max_record_bytes: int = 16 * 1024 * 1024,
) -> Any:
    monkeypatch.setattr(fast, "FAST_MIN_BYTES", 0 if fast_on else 1 << 62)
    monkeypatch.setattr(fast, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(fast, "DEAL_BYTES", chunk_bytes)
    with Store(threads=2) as store:
        ingest([str(p) for p in paths], store, max_record_bytes=max_record_bytes)
        store.flush()
        return {
            t: store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES
        } | {
            "files": store.con.execute(
                "SELECT * EXCLUDE (seconds) FROM ingest_files ORDER BY ALL"
            ).fetchall()
        }


def _fixture_files() -> Iterator[Path]:
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.suffix not in (".md", ".py", ".yaml", ".evtx"):
            yield path


@pytest.mark.parametrize("path", list(_fixture_files()), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_same_result_as_the_line_path(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = _snapshot([path], fast_on=False, monkeypatch=monkeypatch)
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)
    assert got == line


@pytest.mark.parametrize("rel", MUST_USE)
def test_fast_path_is_taken_for_clean_ndjson(rel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast.OUTCOMES.clear()
    _snapshot([FIXTURES / rel], fast_on=True, monkeypatch=monkeypatch)
    assert fast.OUTCOMES["used"] >= 1, dict(fast.OUTCOMES)
    assert sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"], dict(fast.OUTCOMES)


def _conn(i: int) -> dict[str, Any]:
    return {
        "ts": 1_730_419_200 + i / 1000,
        "uid": f"C{i}",
        "id.orig_h": "10.0.0.5",
        "id.orig_p": 50_000 + i % 10_000,
        "id.resp_h": "203.0.113.7",
        "id.resp_p": 443,
        "proto": "tcp",
        "orig_bytes": 100 + i % 7,
    }


def _write_conn(path: Path, n: int, *, extra: dict[int, str] | None = None) -> None:
    lines = [json.dumps(_conn(i)) for i in range(1, n + 1)]
    for at, text in sorted((extra or {}).items(), reverse=True):
        lines.insert(at - 1, text)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=1)
    path.write_bytes(data)


def test_rows_keep_their_line_numbers_across_chunks_and_duckdb_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ~36 MB in 8 MiB chunks parsed by two workers at once, each chunk larger than
    # DuckDB's read buffer: a row's line number must still be its line.
    path = tmp_path / "conn.log"
    _write_conn(path, 200_000)
    monkeypatch.setattr(fast, "FAST_MIN_BYTES", 0)
    monkeypatch.setattr(fast, "CHUNK_BYTES", 8 * 1024 * 1024)
    fast.OUTCOMES.clear()
    with Store(threads=2) as store:
        ingest([str(path)], store)
        store.flush()
        assert fast.OUTCOMES["used"] >= 4
        assert sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"], dict(fast.OUTCOMES)
        bad = store.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE 'C' || log_line <> event_id "
            "OR log_line IS NULL) FROM connection"
        ).fetchone()
        seen = store.con.execute("SELECT records_seen, bytes_read FROM ingest_files").fetchall()
    assert bad == (200_000, 0)
    assert seen == [(200_000, path.stat().st_size)]


_DAMAGE = [
    ("", "fallback: blank lines", 200, None),
    ("   ", "fallback: blank lines", 200, "invalid_json"),
    ("null", "fallback: records with no known field", 200, "invalid_json"),
    ('{"ts": 1730419200, "uid": ', "fallback: DuckDB could not read the file", 200, "invalid_json"),
    ("[1, 2]", "fallback: DuckDB could not read the file", 200, "invalid_json"),
    # replaced with U+FFFD and kept, with a warning
    (
        '{"ts": 1730419200, "uid": "\udcff", "id.orig_h": "10.0.0.5", "id.orig_p": 5, '
        '"id.resp_h": "203.0.113.7", "id.resp_p": 443, "proto": "tcp"}',
        "fallback: DuckDB could not read the file",
        201,
        "invalid_utf8",
    ),
]


@pytest.mark.parametrize(
    ("at", "text", "reason", "stored", "issue"),
    [
        (at, *case)
        for at in (1, 50, 199)
        for case in _DAMAGE
        if not (at == 1 and case[0].startswith("["))  # that file is a JSON array document
    ],
)
def test_a_damaged_chunk_falls_back_and_is_located(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    at: int,
    text: str,
    reason: str,
    stored: int,
    issue: str | None,
) -> None:
    path = tmp_path / "conn.log"
    _write_conn(path, 200, extra={at: text})
    fast.OUTCOMES.clear()
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)
    # ~30 KB in 2 KiB chunks: only the damaged chunk is read by the line path
    assert fast.OUTCOMES[reason] == 1, dict(fast.OUTCOMES)
    assert fast.OUTCOMES["used"] >= 10, dict(fast.OUTCOMES)
    assert sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"] + 1
    assert got == _snapshot([path], fast_on=False, monkeypatch=monkeypatch)
    assert len(got["connection"]) == stored  # every good record, also after the damage
    assert [(r[2], r[6]) for r in got["ingest_issues"]] == ([(at, issue)] if issue else [])


def test_trailing_whitespace_lines_are_records_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blank lines at the end carry nothing, a line of spaces is a bad record (line path).
    path = tmp_path / "conn.log"
    _write_conn(path, 100)
    path.write_bytes(path.read_bytes() + b"\n\r\n   \n\n")
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)
    assert got == _snapshot([path], fast_on=False, monkeypatch=monkeypatch)
    assert [(r[2], r[6]) for r in got["ingest_issues"]] == [(103, "invalid_json")]
    path.write_bytes(path.read_bytes().replace(b"   \n", b""))
    fast.OUTCOMES.clear()
    assert _snapshot([path], fast_on=True, monkeypatch=monkeypatch)["ingest_issues"] == []
    assert sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"]


def test_a_record_over_the_size_limit_costs_only_its_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 20 KB record, longer than a chunk and than the record limit.
    path = tmp_path / "conn.log"
    big = json.dumps(_conn(0) | {"history": "D" * 20_000})
    _write_conn(path, 300, extra={120: big})
    fast.OUTCOMES.clear()
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch, max_record_bytes=8192)
    assert fast.OUTCOMES["used"] >= 10, dict(fast.OUTCOMES)
    assert got == _snapshot([path], fast_on=False, monkeypatch=monkeypatch, max_record_bytes=8192)
    assert [(r[2], r[6]) for r in got["ingest_issues"]] == [(120, "oversize_record")]
    assert len(got["connection"]) == 300


def test_gzip_is_dealt_to_the_workers_and_a_truncated_gzip_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conn.log.gz"
    _write_conn(path, 3_000)
    fast.OUTCOMES.clear()
    whole = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)  # many small rounds
    assert fast.OUTCOMES["used"] >= 10 and set(fast.OUTCOMES) == {"used"}
    assert len(whole["connection"]) == 3_000
    assert whole == _snapshot([path], fast_on=False, monkeypatch=monkeypatch)

    big = tmp_path / "big" / "conn.log.gz"
    big.parent.mkdir()
    _write_conn(big, 30_000)
    cut = tmp_path / "cut" / "conn.log.gz"
    cut.parent.mkdir()
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    fast.OUTCOMES.clear()
    got = _snapshot([cut], fast_on=True, monkeypatch=monkeypatch, chunk_bytes=128 * 1024)
    # the rounds before the damage are kept; from the damaged one on, the line path
    assert fast.OUTCOMES["used"] >= 3, dict(fast.OUTCOMES)
    assert sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"] + 1
    assert got == _snapshot([cut], fast_on=False, monkeypatch=monkeypatch)
    assert 0 < len(got["connection"]) < 30_000
    assert "truncated_gzip" in {r[6] for r in got["ingest_issues"]}


@pytest.mark.parametrize("at", [1, 1_500, 3_000])
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "fallback: blank lines"),
        ("null", "fallback: records with no known field"),
        ('{"ts": 1730419200, "uid": ', "fallback: DuckDB could not read the file"),
    ],
)
def test_damage_in_a_dealt_gzip_falls_back_from_its_round_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int, text: str, reason: str
) -> None:
    path = tmp_path / "conn.log.gz"
    _write_conn(path, 3_000, extra={at: text})
    fast.OUTCOMES.clear()
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)
    assert fast.OUTCOMES[reason] == 1, dict(fast.OUTCOMES)
    assert set(fast.OUTCOMES) == {reason} | ({"used"} if at > 1 else set())
    assert got == _snapshot([path], fast_on=False, monkeypatch=monkeypatch)
    assert len(got["connection"]) == 3_000


def test_dealt_rows_keep_their_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200,000 records (36 MB) in 256 KiB blocks dealt to two workers in turn, in rounds,
    # with warnings spread over the file: every row and issue must carry its own line.
    path = tmp_path / "conn.log.gz"
    rows = [_conn(i) for i in range(1, 200_001)]
    bad = (7, 100_000, 199_000)
    for n in bad:
        rows[n - 1]["id.resp_p"] = "https"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), 1))
    monkeypatch.setattr(fast, "FAST_MIN_BYTES", 0)
    monkeypatch.setattr(fast, "DEAL_BYTES", 256 * 1024)
    monkeypatch.setattr(fast, "CHUNK_BYTES", 4 * 1024 * 1024)  # rounds of 8 MiB
    fast.OUTCOMES.clear()
    with Store(threads=2) as store:
        ingest([str(path)], store)
        store.flush()
        assert fast.OUTCOMES["used"] >= 4 and set(fast.OUTCOMES) == {"used"}
        misnumbered = store.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE 'C' || log_line <> event_id) FROM connection"
        ).fetchone()
        issues = store.con.execute(
            "SELECT log_line, reason_code FROM ingest_issues ORDER BY 1"
        ).fetchall()
    assert misnumbered == (200_000, 0)
    assert issues == [(n, "bad_field_type") for n in bad]


def test_warnings_carry_line_and_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conn.log"
    rows = [_conn(i) for i in range(1, 101)]
    rows[9]["id.resp_p"] = "https"  # line 10: not a port number
    rows[69]["ts"] = "yesterday"  # line 70: no readable time
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text)
    fast.OUTCOMES.clear()
    got = _snapshot([path], fast_on=True, monkeypatch=monkeypatch)  # 2 KiB chunks
    assert fast.OUTCOMES["used"] >= 6 and sum(fast.OUTCOMES.values()) == fast.OUTCOMES["used"]
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line.encode()))
    issues = {(r[2], r[4], r[6]) for r in got["ingest_issues"]}
    assert issues == {(10, starts[9], "bad_field_type"), (70, starts[69], "missing_timestamp")}
    assert len(got["connection"]) == 99
