"""Bad input never crashes a run and never silently loses data."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from relayhunt.ingest import ingest
from relayhunt.store import Store
from tests.conftest import FIXTURES, load, rows

GOOD = FIXTURES / "ecs" / "defend_windows" / "events.ndjson"


def _issues(s: Store) -> list[dict[str, object]]:
    return rows(
        s,
        "SELECT reason_code, log_file_path, log_line, log_offset, severity "
        "FROM ingest_issues ORDER BY log_file_path, log_line",
    )


def test_unknown_text_format(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("just some notes\nnothing to see\n")
    s = load(p)
    assert _issues(s) == [
        {
            "reason_code": "unknown_format",
            "log_file_path": str(p),
            "log_line": None,
            "log_offset": 0,
            "severity": "error",
        }
    ]


def test_binary_junk(tmp_path: Path) -> None:
    p = tmp_path / "junk.bin"
    p.write_bytes(os.urandom(70_000).replace(b"\x1f\x8b", b"\x00\x00"))
    s = load(p)
    (issue,) = _issues(s)
    assert issue["reason_code"] == "unknown_format"
    excerpt = s.con.execute("SELECT excerpt FROM ingest_issues").fetchone()[0]
    assert excerpt.isprintable()


def test_empty_file_is_not_an_error(tmp_path: Path) -> None:
    p = tmp_path / "empty.ndjson"
    p.write_bytes(b"")
    s = load(p)
    assert _issues(s) == []
    assert s.count("ingest_files") == 1


def test_missing_path_is_reported(tmp_path: Path) -> None:
    s = load(tmp_path / "nope.ndjson")
    assert [i["reason_code"] for i in _issues(s)] == ["unreadable_file"]


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95], ids=["cut30", "cut60", "cut95"])
def test_truncated_gzip_keeps_what_was_read(tmp_path: Path, keep: float) -> None:
    body = GOOD.read_bytes() * 200
    full = gzip.compress(body)
    p = tmp_path / "cut.ndjson.gz"
    p.write_bytes(full[: int(len(full) * keep)])
    s = load(p)
    stored = sum(s.count(t) for t in ("process", "dns", "connection", "file"))
    codes = [i["reason_code"] for i in _issues(s)]
    assert "truncated_gzip" in codes
    # every complete line before the cut is read; at most the last partial one is rejected
    assert stored > 0
    assert set(codes) <= {"truncated_gzip", "invalid_json"}
    assert codes.count("invalid_json") <= 1


def test_corrupt_gzip_body(tmp_path: Path) -> None:
    full = bytearray(gzip.compress(GOOD.read_bytes() * 50))
    for i in range(200, 260):
        full[i] ^= 0xFF
    p = tmp_path / "bad.ndjson.gz"
    p.write_bytes(bytes(full))
    s = load(p)
    assert "truncated_gzip" in [i["reason_code"] for i in _issues(s)]


def test_directory_walk_skips_dotfiles_and_reports_unknown(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "events.ndjson").write_bytes(GOOD.read_bytes())
    (tmp_path / ".hidden").write_text("ignored")
    (tmp_path / "readme.txt").write_text("hello")
    s = load(tmp_path)
    assert s.count("connection") == 2
    assert [(i["reason_code"], Path(str(i["log_file_path"])).name) for i in _issues(s)] == [
        ("unknown_format", "readme.txt")
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    class _Stdin:
        buffer = io.BytesIO(GOOD.read_bytes())

    monkeypatch.setattr(sys, "stdin", _Stdin())
    with Store() as s:
        ingest(["-"], s)
        assert s.count("connection") == 2
        assert rows(s, "SELECT DISTINCT log_file_path FROM connection") == [{"log_file_path": "-"}]


def test_single_huge_line_is_bounded(tmp_path: Path) -> None:
    p = tmp_path / "huge.ndjson"
    with p.open("wb") as f:
        f.write(GOOD.read_bytes())
        f.write(b'{"@timestamp":"2026-11-03T09:14:03Z","pad":"' + b"A" * (3 << 20) + b'"}\n')
        f.write(GOOD.read_bytes())
    s = load(p, max_record_bytes=1 << 20)
    assert s.count("connection") == 4
    assert [(i["reason_code"], i["log_line"]) for i in _issues(s)] == [("oversize_record", 7)]


def test_hunt_over_records_dated_before_1970(tmp_path: Path) -> None:
    """A record's order key shifted its epoch microseconds left, which DuckDB refuses for
    a negative number: one record dated before 1970 stopped the hunt with an internal
    error. The same events 57 years earlier give the same findings."""
    from relayhunt.api import hunt
    from relayhunt.cli import samples_dir

    sample = samples_dir() / "ecs" / "ws-eng-12.endpoint-events.ndjson"
    old = tmp_path / "old.ndjson"
    old.write_text(sample.read_text().replace('"@timestamp": "2026-', '"@timestamp": "1969-'))

    def keys(path: Path) -> list[tuple[str, str]]:
        t = hunt([path]).findings.select(["rule_id", "destination_domain"]).to_pylist()
        return sorted((r["rule_id"], r["destination_domain"]) for r in t)

    want = keys(sample)
    assert want and keys(old) == want
