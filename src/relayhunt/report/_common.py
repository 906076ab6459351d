"""Helpers shared by the renderers: ranking, time and evidence formatting, stats parsing."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from relayhunt.config import SEVERITIES

# Severity rank: unknown values sort below info.
SEVERITY_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}

# What the HTML report shows as escapes instead of passing through: C0/C1 controls (except
# none: newlines in one-line fields are shown as \n too), bidi embeddings/overrides/isolates,
# zero-width characters, line/paragraph separators and the BOM.
_INVISIBLE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def visible(text: str) -> str:
    """``text`` with control and invisible formatting characters written as ``\\xNN`` /
    ``\\uNNNN``, so what an analyst reads is what the bytes say (no bidi reordering)."""

    def _sub(m: re.Match[str]) -> str:
        code = ord(m.group())
        if m.group() == "\n":
            return "\\n"
        if m.group() == "\t":
            return "\\t"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _INVISIBLE.sub(_sub, text)


def rfc3339(value: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``; naive values are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def short_time(value: dt.datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` UTC for tables (no zone suffix; headers say UTC)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def finite(value: float | None) -> float | None:
    """``None`` for NaN and infinities (they are not JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def format_score(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = finite(float(value))
        return "" if number is None else f"{number:.1f}"
    return ""


def evidence_ref(item: Mapping[str, Any]) -> str:
    """``path:LINE`` for line-oriented inputs, ``path#RECORD`` for record formats."""
    path = str(item.get("log_file_path") or "?")
    line = item.get("log_line")
    record = item.get("log_record")
    if line is not None:
        return f"{path}:{line}"
    if record is not None:
        return f"{path}#{record}"
    return path


def parse_stats(raw: object) -> tuple[object, bool]:
    """``(value, ok)``: the parsed JSON of a ``stats`` cell, or the raw text and False when
    it is not valid JSON (a detection bug; the text is kept so nothing is lost)."""
    if raw is None:
        return None, True
    if not isinstance(raw, str):
        return raw, True
    try:
        return json.loads(raw), True
    except ValueError:
        return raw, False


def ranked(
    table: pa.Table,
    *,
    score: str,
    limit: int | None = None,
    tiebreak: Sequence[str] = (),
) -> pa.Table:
    """``table`` sorted by ``score`` descending (missing last), then severity (highest
    first), then the ``tiebreak`` columns ascending; cut to ``limit`` rows."""
    if table.num_rows == 0:
        return table
    keys: list[tuple[str, str]] = []
    work = table
    if score in table.column_names:
        work = work.append_column("__score", pc.fill_null(work[score].cast(pa.float64()), -1.0))
        keys.append(("__score", "descending"))
    if "severity" in table.column_names:
        rank = pc.fill_null(
            pc.index_in(work["severity"], value_set=pa.array(SEVERITIES, pa.string())), -1
        )
        work = work.append_column("__rank", rank)
        keys.append(("__rank", "descending"))
    keys.extend((c, "ascending") for c in tiebreak if c in table.column_names)
    if keys:
        order = pc.sort_indices(work, sort_keys=keys)
        if limit is not None:
            order = order[:limit]
        return table.take(order)
    return table.slice(0, limit) if limit is not None else table


def iter_rows(table: pa.Table, batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
    """Rows as dicts, a batch at a time (bounded memory on large tables)."""
    for batch in table.to_batches(max_chunksize=batch_rows):
        yield from batch.to_pylist()


def value_counts(table: pa.Table, column: str) -> list[tuple[str, int]]:
    """Counts of each non-null value of ``column``, largest first, ties by value."""
    if column not in table.column_names or table.num_rows == 0:
        return []
    counts = pc.value_counts(table[column].drop_null())
    pairs = [(str(v["values"]), int(v["counts"])) for v in counts.to_pylist()]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))
