"""Plots for the HTML report, as small figure descriptions and inline SVG.

A *figure* is plain JSON data: ``{"w": width, "h": height, "label": text, "items": [...]}``
where each item is one SVG primitive:

* ``["p", d, cls]`` a path (``d`` is built here from numbers only);
* ``["r", x, y, w, h, cls, title]`` a rectangle, ``title`` its tooltip or ``None``;
* ``["l", x1, y1, x2, y2, cls]`` a line;
* ``["t", x, y, text, cls, anchor, title]`` text (``anchor``: ``start`` | ``middle`` |
  ``end``), ``title`` its tooltip or ``None``.

The geometry is computed once, here, in Python. :func:`svg` writes a figure as markup for
the first page of the report (every text and title HTML-escaped, after :func:`visible`);
the page's script draws the same figures for the other pages with ``createElementNS``,
``setAttribute`` on a fixed list of attribute names, and ``textContent`` — never markup —
so an attacker-controlled process name in a lineage box is text in both.

Figures:

* :func:`timeline` — every check-in (a dot) at its time, at the height of the silence
  before it; the period as a dashed line;
* :func:`interval_histogram` — the histogram of all intervals, the estimated period and
  the jitter band ``[S (1 - J), S]``;
* :func:`payload_sizes` — bytes sent and received per check-in over time;
* :func:`lineage` — grandparent -> parent -> process -> destination boxes.

Long series are drawn from at most :data:`MAX_POINTS` points (an even sample by index)
and the figure's caption says so, as it does when the finding's own series was sampled.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from relayhunt.report._common import visible

MAX_POINTS: Final = 200
"""Most points drawn per series (the finding may carry up to 500)."""

W: Final = 520
H: Final = 170
_L, _R, _T, _B = 52, 12, 24, 34  # plot margins: left, right, top, bottom

F64 = npt.NDArray[np.float64]
Figure = dict[str, Any]
Item = list[Any]

# The only attributes the page script sets, per primitive; svg() writes the same.
PRIMITIVES: Final[dict[str, tuple[str, ...]]] = {
    "p": ("d", "class"),
    "r": ("x", "y", "width", "height", "class"),
    "l": ("x1", "y1", "x2", "y2", "class"),
    "t": ("x", "y", "class", "text-anchor"),
}


# ------------------------------------------------------------------------------ helpers


def duration(seconds: float) -> str:
    """``45 s``, ``2.5 min``, ``1.2 h``, ``3 d`` (the rules' rh_duration)."""
    s = float(seconds)
    if not math.isfinite(s):
        return "?"
    if abs(s) < 120:
        return f"{s:.3g} s" if abs(s) < 10 else f"{s:.0f} s"
    if abs(s) < 7200:
        return f"{s / 60:.3g} min"
    if abs(s) < 172800:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} d"


def _bytes(n: float) -> str:
    if n < 10_000:
        return f"{n:.0f} B"
    if n < 10_000_000:
        return f"{n / 1000:.0f} kB"
    return f"{n / 1e6:.0f} MB"


def _r(x: float) -> float | int:
    """A coordinate, to 0.1 (integers stay integers: shorter JSON)."""
    v = round(x, 1)
    return int(v) if v == int(v) else v


def _clip(text: str, limit: int) -> str:
    text = visible(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _even_sample(n: int, limit: int) -> npt.NDArray[np.int64]:
    """Indices of an even sample by index (first and last kept)."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.rint(np.linspace(0, n - 1, limit)).astype(np.int64))


def _numbers(values: object) -> F64 | None:
    """A non-empty list of finite numbers as an array, else None."""
    if not isinstance(values, list) or not values:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1 or not bool(np.isfinite(arr).all()):
        return None
    return arr


def _frame(label: str, title: str) -> tuple[Figure, list[Item]]:
    items: list[Item] = [["t", 4, 14, title, "ttl", "start", None]]
    return {"w": W, "h": H, "label": label, "items": items}, items


def _axes(items: list[Item]) -> None:
    x0, y0, x1 = _L, H - _B, W - _R
    items.append(["l", x0, _T, x0, y0, "ax"])
    items.append(["l", x0, y0, x1, y0, "ax"])


def _utc(posix: float) -> str:
    return dt.datetime.fromtimestamp(posix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _scatter_path(xs: F64, ys: F64) -> str:
    """Zero-length segments drawn with round caps: one path for a whole series, each point
    a relative move from the last (short numbers: a compact page)."""
    if xs.size == 0:
        return ""
    ix = np.rint(xs).astype(np.int64)
    iy = np.rint(ys).astype(np.int64)
    steps = zip(np.diff(ix).tolist(), np.diff(iy).tolist(), strict=True)
    return f"M{ix[0]} {iy[0]}h0" + "".join(f"m{dx} {dy}h0" for dx, dy in steps)


def _series_note(series: Mapping[str, Any], drawn: int) -> str:
    n = series.get("n")
    total = int(n) if isinstance(n, int | float) and not isinstance(n, bool) else drawn
    return f"{drawn} of {total:,} check-ins drawn (even sample)" if drawn < total else ""


# ------------------------------------------------------------------------------ figures


def timeline(series: Mapping[str, Any], period_s: float | None = None) -> Figure | None:
    """Check-ins over time; y = the silence before each (s); the period dashed."""
    ts = _numbers(series.get("t"))
    ivs = _numbers(series.get("iv"))
    if ts is None or ivs is None or ts.size != ivs.size:
        return None
    keep = _even_sample(ts.size, MAX_POINTS)
    ts, ivs = ts[keep], ivs[keep]
    span = max(float(ts[-1]), 1e-9)
    known = ivs >= 0  # -1: the first check-in, with no interval before it
    top = max(float(ivs.max()), float(period_s or 0.0), 1e-9) * 1.1
    x0, y0, x1 = _L, H - _B, W - _R

    def py(v: float) -> float:
        return y0 - (y0 - _T) * v / top

    n = series.get("n")
    count = int(n) if isinstance(n, int | float) and not isinstance(n, bool) else len(ts)
    fig, items = _frame(
        f"check-in timeline: {count} check-ins", f"Check-in timeline ({count:,} check-ins)"
    )
    _axes(items)
    if period_s and period_s > 0:
        yp = _r(py(period_s))
        items.append(["l", x0, yp, x1, yp, "per"])
        items.append(["t", x1, 14, f"- - period {duration(period_s)}", "lbl per", "end", None])
    if known.any():
        xs = x0 + (x1 - x0) * ts[known] / span
        ys = y0 - (y0 - _T) * ivs[known] / top
        items.append(["p", _scatter_path(xs, ys), "dot"])
    items.append(["t", x0 - 4, _T + 4, duration(top / 1.1), "lbl", "end", None])
    items.append(["t", x0 - 4, y0, "0", "lbl", "end", None])
    start = series.get("start")
    if isinstance(start, int | float) and not isinstance(start, bool) and math.isfinite(start):
        items.append(["t", x0, y0 + 16, _utc(float(start)), "lbl", "start", None])
        items.append(["t", x1, y0 + 16, "+" + duration(span), "lbl", "end", None])
    note = _series_note(series, int(ts.size)) if ts.size < count else ""
    foot = "y: silence before the check-in" + (f"; {note}" if note else "")
    items.append(["t", 4, y0 + 30, foot, "lbl", "start", None])
    return fig


def interval_histogram(
    hist: Mapping[str, Any],
    period_s: float | None = None,
    sleep_s: float | None = None,
    jitter_pct: float | None = None,
) -> Figure | None:
    """Bars of every interval's count; the period (line) and jitter band (shaded)."""
    counts = _numbers(hist.get("counts"))
    lo = hist.get("lo")
    width = hist.get("width")
    if counts is None or not isinstance(lo, int | float) or not isinstance(width, int | float):
        return None
    if width <= 0 or not math.isfinite(lo) or not math.isfinite(width):
        return None
    lo, width = float(lo), float(width)
    hi = lo + width * len(counts)
    x0, y0, x1 = _L, H - _B, W - _R
    top = max(float(counts.max()), 1.0)

    def px(v: float) -> float:
        return x0 + (x1 - x0) * (min(max(v, lo), hi) - lo) / (hi - lo)

    total = int(counts.sum())
    above = hist.get("above")
    fig, items = _frame(f"interval histogram: {total} intervals", f"Intervals ({total:,})")
    if sleep_s and jitter_pct is not None and sleep_s > 0:
        band_lo = sleep_s * (1 - float(jitter_pct) / 100)
        if band_lo < hi and sleep_s > lo:
            a, b = px(band_lo), px(sleep_s)
            items.append(
                [
                    "r",
                    _r(a),
                    _T,
                    _r(max(b - a, 1)),
                    y0 - _T,
                    "band",
                    f"jitter band: sleep {duration(sleep_s)}, jitter {jitter_pct:.0f} %",
                ]
            )
    bw = (x1 - x0) / len(counts)
    bars = []
    for i, c in enumerate(counts.tolist()):
        if c <= 0:
            continue
        h = (y0 - _T) * c / top
        bars.append(f"M{_r(x0 + i * bw + 0.5)} {y0}v{_r(-h)}h{_r(max(bw - 1, 0.5))}v{_r(h)}z")
    if bars:
        items.append(["p", "".join(bars), "bar"])
    _axes(items)
    if period_s and lo <= period_s <= hi:
        xp = _r(px(period_s))
        items.append(["l", xp, _T, xp, y0, "per"])
        anchor = "end" if xp > x1 - 45 else "start" if xp < x0 + 45 else "middle"
        items.append(["t", xp, _T - 2, f"period {duration(period_s)}", "lbl per", anchor, None])
    items.append(["t", x0, y0 + 14, duration(lo), "lbl", "start", None])
    items.append(["t", x1, y0 + 14, duration(hi), "lbl", "end", None])
    items.append(["t", x0 - 4, _T + 4, f"{top:.0f}", "lbl", "end", None])
    items.append(["t", x0 - 4, y0, "0", "lbl", "end", None])
    foot = "x: seconds between check-ins"
    if sleep_s and jitter_pct is not None:
        foot += f"; shaded: sleep {duration(sleep_s)} with {jitter_pct:.0f} % jitter"
    items.append(["t", 4, y0 + 30, foot, "lbl", "start", None])
    if isinstance(above, int | float) and not isinstance(above, bool) and above > 0:
        items.append(
            [
                "t",
                x1,
                14,
                f"{above:.0f} longer (pauses, missed beats) not shown",
                "lbl",
                "end",
                None,
            ]
        )
    return fig


def payload_sizes(series: Mapping[str, Any]) -> Figure | None:
    """Bytes sent and received per check-in over time."""
    ts = _numbers(series.get("t"))
    sent = _numbers(series.get("sent"))
    recv = _numbers(series.get("recv"))
    if ts is None or (sent is None and recv is None):
        return None
    lines = [
        (name, vals, cls)
        for name, vals, cls in (("sent", sent, "snt"), ("received", recv, "rcv"))
        if vals is not None and vals.size == ts.size
    ]
    if not lines:
        return None
    keep = _even_sample(ts.size, MAX_POINTS)
    span = max(float(ts[keep[-1]]), 1e-9)
    top = max([float(vals.max()) for _, vals, _ in lines] + [1.0]) * 1.1
    x0, y0, x1 = _L, H - _B, W - _R
    fig, items = _frame(
        "payload sizes: bytes sent and received per check-in", "Payload sizes per check-in"
    )
    _axes(items)
    for k, (name, vals, cls) in enumerate(lines):
        k_ts, k_vals = ts[keep], vals[keep]
        has = k_vals >= 0  # -1: the event carried no byte count
        if has.any():
            xs = x0 + (x1 - x0) * k_ts[has] / span
            ys = y0 - (y0 - _T) * k_vals[has] / top
            items.append(["p", _scatter_path(xs, ys), cls])
        items.append(["t", x1 - 110 + 60 * k, 14, f"\u25cf {name}", "lbl " + cls, "start", None])
    items.append(["t", x0 - 4, _T + 4, _bytes(top / 1.1), "lbl", "end", None])
    items.append(["t", x0 - 4, y0, "0", "lbl", "end", None])
    items.append(["t", x1, y0 + 16, "+" + duration(span), "lbl", "end", None])
    items.append(["t", x0, y0 + 16, "first check-in", "lbl", "start", None])
    note = _series_note(series, int(keep.size))
    items.append(
        [
            "t",
            4,
            y0 + 30,
            "y: bytes of the check-in's first connection" + (f"; {note}" if note else ""),
            "lbl",
            "start",
            None,
        ]
    )
    return fig


NAMED_IN_TABLES: Final = frozenset({"parent", "process", "destination"})

LineageNode = tuple[str, str | None, str | None]
"""(role, name shown, full detail for the tooltip)."""


def lineage(nodes: Sequence[LineageNode]) -> Figure | None:
    """Boxes left to right, ancestor first, the destination last, joined by arrows; each
    name's tooltip holds the full image path and command line."""
    shown = [(role, name, detail) for role, name, detail in nodes if name]
    if len(shown) < 2:
        return None
    box_w, gap, box_h = 170, 26, 44
    width = len(shown) * box_w + (len(shown) - 1) * gap + 8
    fig: Figure = {"w": width, "h": 70, "label": "process lineage", "items": []}
    items: list[Item] = fig["items"]
    for i, (role, name, detail) in enumerate(shown):
        x = 4 + i * (box_w + gap)
        cls = "node dst" if role == "destination" else "node"
        # the process, parent and destination are in the finding's tables; an ancestor
        # is only here, so its box carries the full path and command line
        tip = visible(detail) if detail and role not in NAMED_IN_TABLES else None
        items.append(["r", x, 14, box_w, box_h, cls, None])
        items.append(["t", x + 6, 30, role, "lbl", "start", None])
        items.append(["t", x + 6, 48, _clip(name or "", 21), "nm", "start", tip])
        if i:
            ax = x - gap
            items.append(["p", f"M{ax + 2} 36h{gap - 6}m-5 -4l5 4l-5 4", "arw"])
    return fig


# ------------------------------------------------------------------------------ markup


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def _text(value: object) -> str:
    return html.escape(visible(str(value)), quote=True)


def svg(fig: Figure) -> str:
    """A figure as inline SVG markup; every text and tooltip escaped."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" '
        f'viewBox="0 0 {_attr(fig["w"])} {_attr(fig["h"])}" '
        f'width="{_attr(fig["w"])}" height="{_attr(fig["h"])}" '
        f'aria-label="{_text(fig.get("label", ""))}">'
    ]
    for item in fig["items"]:
        kind = item[0]
        if kind == "p":
            parts.append(f'<path d="{_attr(item[1])}" class="{_attr(item[2])}"/>')
        elif kind == "l":
            x1, y1, x2, y2, cls = item[1:6]
            parts.append(
                f'<line x1="{_attr(x1)}" y1="{_attr(y1)}" x2="{_attr(x2)}" y2="{_attr(y2)}" '
                f'class="{_attr(cls)}"/>'
            )
        elif kind == "r":
            x, y, w, h, cls, tip = item[1:7]
            title = f"<title>{_text(tip)}</title>" if tip else ""
            parts.append(
                f'<rect x="{_attr(x)}" y="{_attr(y)}" width="{_attr(w)}" height="{_attr(h)}" '
                f'class="{_attr(cls)}">{title}</rect>'
            )
        elif kind == "t":
            x, y, text, cls, anchor, tip = item[1:7]
            title = f"<title>{_text(tip)}</title>" if tip else ""
            parts.append(
                f'<text x="{_attr(x)}" y="{_attr(y)}" class="{_attr(cls)}" '
                f'text-anchor="{_attr(anchor)}">{title}{_text(text)}</text>'
            )
        else:  # pragma: no cover - figures are built above
            raise ValueError(f"unknown figure item {kind!r}")
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------ per finding


def _num(stats: Mapping[str, Any], key: str) -> float | None:
    v = stats.get(key)
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def beacon_figures(stats: Mapping[str, Any]) -> list[Figure]:
    """The timeline, histogram and payload figures of a beacon finding's stats (those
    its stats allow)."""
    figs: list[Figure | None] = []
    series = stats.get("series")
    hist = stats.get("interval_histogram")
    period = _num(stats, "period_s")
    if isinstance(series, Mapping):
        figs.append(timeline(series, period))
    if isinstance(hist, Mapping):
        figs.append(
            interval_histogram(hist, period, _num(stats, "sleep_s"), _num(stats, "jitter_pct"))
        )
    if isinstance(series, Mapping):
        figs.append(payload_sizes(series))
    return [f for f in figs if f is not None]


def lineage_nodes(row: Mapping[str, Any]) -> list[LineageNode]:
    """grandparent(s) -> parent -> process -> destination of a finding row (model.FINDINGS
    plus the optional ``process_ancestors`` list, eldest first)."""

    def name_of(name: object, exe: object) -> str | None:
        if name:
            return str(name)
        if exe:
            return str(exe).replace("\\", "/").rsplit("/", 1)[-1]
        return None

    def detail(*parts: object) -> str | None:
        text = " | ".join(str(p) for p in parts if p not in (None, ""))
        return text or None

    nodes: list[LineageNode] = []
    ancestors = row.get("process_ancestors") or []
    depth = len(ancestors) + 1
    for a in ancestors if isinstance(ancestors, list) else []:
        if not isinstance(a, Mapping):
            continue
        role = {2: "grandparent", 3: "great-grandparent"}.get(depth, "ancestor")
        nodes.append(
            (
                role,
                name_of(a.get("name"), a.get("executable")),
                detail(
                    a.get("executable"),
                    a.get("command_line"),
                    f"pid {a['pid']}" if a.get("pid") is not None else None,
                ),
            )
        )
        depth -= 1
    nodes.append(
        (
            "parent",
            name_of(row.get("process_parent_name"), row.get("process_parent_executable")),
            detail(row.get("process_parent_executable"), row.get("process_parent_command_line")),
        )
    )
    proc = name_of(row.get("process_name"), row.get("process_executable"))
    pid = row.get("process_pid")
    nodes.append(
        (
            "process",
            f"{proc} ({pid})" if proc and pid is not None else proc,
            detail(
                row.get("process_executable"),
                row.get("process_command_line"),
                f"pid {pid}" if pid is not None else None,
            ),
        )
    )
    dest = row.get("destination_domain") or row.get("destination_ip")
    port = row.get("destination_port")
    nodes.append(
        (
            "destination",
            f"{dest}:{port}" if dest and port is not None else (str(dest) if dest else None),
            detail(
                row.get("destination_domain"),
                row.get("destination_ip"),
                row.get("serverless_platform"),
            ),
        )
    )
    return nodes


def finding_figures(row: Mapping[str, Any], stats: object) -> list[Figure]:
    """Every figure of one finding: the process lineage (when it has a process) and, for
    a finding whose stats carry a series, the beacon plots."""
    figs: list[Figure] = []
    if row.get("process_name") or row.get("process_executable"):
        fig = lineage(lineage_nodes(row))
        if fig is not None:
            figs.append(fig)
    if isinstance(stats, Mapping):
        figs.extend(beacon_figures(stats))
    return figs
