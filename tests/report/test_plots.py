"""Plots: the geometry of each figure, honest sampling, and escaped SVG text."""

from __future__ import annotations

import json
import re
from typing import Any

import lxml.etree
import pytest

from relayhunt.report import plots
from relayhunt.report._common import visible
from tests.report.factories import HOSTILE, beacon_row, beacon_stats, finding_row

SVG_NS = "{http://www.w3.org/2000/svg}"


def _items(fig: dict[str, Any], kind: str, cls: str | None = None) -> list[list[Any]]:
    out = []
    for it in fig["items"]:
        if it[0] != kind:
            continue
        item_cls = it[2] if kind == "p" else it[5] if kind in ("l", "r") else it[4]
        if cls is None or item_cls == cls:
            out.append(it)
    return out


def _texts(fig: dict[str, Any]) -> list[str]:
    return [str(it[3]) for it in fig["items"] if it[0] == "t"]


def _points(path_d: str) -> list[tuple[int, int]]:
    """Absolute points of a scatter path (``M x y h0`` then relative ``m dx dy h0``)."""
    out: list[tuple[int, int]] = []
    for cmd, x, y in re.findall(r"([Mm])(-?\d+) (-?\d+)h0", path_d):
        if cmd == "M" or not out:
            out.append((int(x), int(y)))
        else:
            out.append((out[-1][0] + int(x), out[-1][1] + int(y)))
    return out


def _bars(path_d: str) -> list[tuple[float, float]]:
    """(x, height) of each bar of a histogram path."""
    return [
        (float(x), -float(h))
        for x, h in re.findall(r"M(-?[\d.]+) [\d.]+v(-?[\d.]+)h[\d.]+v[\d.]+z", path_d)
    ]


def _parse(markup: str) -> Any:
    return lxml.etree.fromstring(markup.encode("utf-8"))


def test_timeline_draws_every_checkin_at_its_interval() -> None:
    stats = json.loads(beacon_stats(n=40, period=60.0))
    fig = plots.timeline(stats["series"], 60.0)
    assert fig is not None
    (dots,) = _items(fig, "p", "dot")
    pts = _points(dots[1])
    assert len(pts) == 39  # the first check-in has no interval: a tick, not a dot
    xs = [x for x, _ in pts]
    assert xs == sorted(xs)
    # the period line is where a dot of exactly 60 s would be
    (per,) = _items(fig, "l", "per")
    sixty = [y for (x, y), iv in zip(pts, stats["series"]["iv"][1:], strict=True) if iv == 60.0]
    assert sixty and all(abs(y - per[2]) <= 1 for y in sixty)
    assert any("period 60 s" in t for t in _texts(fig))


def test_timeline_of_a_sampled_series_says_how_much_is_drawn() -> None:
    stats = json.loads(beacon_stats(n=5000, shown=500))
    fig = plots.timeline(stats["series"], 60.0)
    assert fig is not None
    (dots,) = _items(fig, "p", "dot")
    assert len(_points(dots[1])) <= plots.MAX_POINTS
    assert any(f"{plots.MAX_POINTS} of 5,000 check-ins drawn" in t for t in _texts(fig))
    assert "5,000 check-ins" in _texts(fig)[0]


def test_histogram_bars_period_and_jitter_band() -> None:
    stats = json.loads(beacon_stats(period=60.0, above=3))
    hist = stats["interval_histogram"]
    fig = plots.interval_histogram(hist, 60.0, sleep_s=63.0, jitter_pct=10.0)
    assert fig is not None
    (path,) = _items(fig, "p", "bar")
    bars = _bars(path[1])
    assert len(bars) == sum(1 for c in hist["counts"] if c > 0)
    heights = [h for _, h in bars]
    assert max(heights) == heights[[c for c in hist["counts"] if c > 0].index(12)]
    # bar heights are proportional to the counts
    nonzero = [c for c in hist["counts"] if c > 0]
    assert [round(h / max(heights) * 12, 1) for h in heights] == pytest.approx(nonzero, abs=0.1)
    (band,) = _items(fig, "r", "band")
    (per,) = _items(fig, "l", "per")
    # the band spans [S (1 - J), S] = [56.7, 63] s on a 55-65 s axis
    x0, x1 = 52, plots.W - 12
    scale = (x1 - x0) / 10.0
    assert band[1] == pytest.approx(x0 + 1.7 * scale, abs=0.2)
    assert band[1] + band[3] == pytest.approx(x0 + 8.0 * scale, abs=0.2)
    assert per[1] == pytest.approx(x0 + 5.0 * scale, abs=0.1)
    assert any("3 longer" in t for t in _texts(fig))


def test_payload_sizes_plot_both_directions_or_none() -> None:
    stats = json.loads(beacon_stats(n=30))
    fig = plots.payload_sizes(stats["series"])
    assert fig is not None
    assert len(_points(_items(fig, "p", "snt")[0][1])) == 30
    assert len(_points(_items(fig, "p", "rcv")[0][1])) == 30
    # received (about 1800 B) plots above sent (about 400 B)
    sent_y = _points(_items(fig, "p", "snt")[0][1])[0][1]
    recv_y = _points(_items(fig, "p", "rcv")[0][1])[0][1]
    assert recv_y < sent_y
    no_bytes = json.loads(beacon_stats(with_bytes=False))
    assert plots.payload_sizes(no_bytes["series"]) is None


def test_lineage_runs_ancestor_to_destination() -> None:
    row = finding_row(
        3,
        process_ancestors=[
            {"name": "winword.exe", "executable": None, "command_line": None, "pid": 10},
            {"name": "explorer.exe", "executable": None, "command_line": None, "pid": 11},
        ],
    )
    nodes = plots.lineage_nodes(row)
    assert [n[0] for n in nodes] == [
        "great-grandparent",
        "grandparent",
        "parent",
        "process",
        "destination",
    ]
    assert [n[1] for n in nodes] == [
        "winword.exe",
        "explorer.exe",
        "explorer.exe",
        "powershell.exe (1003)",
        "a3.acme.workers.dev:443",
    ]
    fig = plots.lineage(nodes)
    assert fig is not None
    assert len(_items(fig, "r")) == 5 and len(_items(fig, "p", "arw")) == 4
    # only the ancestors (named nowhere else) carry a tooltip
    tips = [it[6] for it in _items(fig, "t") if it[6]]
    assert tips == ["pid 10", "pid 11"]


@pytest.mark.parametrize("payload", sorted(HOSTILE), ids=sorted(HOSTILE))
def test_svg_text_is_escaped(payload: str) -> None:
    value = HOSTILE[payload]
    ancestor = {"name": value, "executable": None, "command_line": value, "pid": None}
    row = finding_row(
        0,
        process_name=value,
        process_command_line=value,
        destination_domain=value,
        process_ancestors=[ancestor],
    )
    (fig,) = plots.finding_figures(row, None)
    markup = plots.svg(fig)
    root = _parse(markup)  # well-formed XML: nothing broke out of a text node
    assert root.tag == f"{SVG_NS}svg"
    tags = {el.tag for el in root.iter()}
    assert tags <= {f"{SVG_NS}{t}" for t in ("svg", "rect", "text", "title", "path", "line")}
    assert not [a for el in root.iter() for a in el.attrib if a.startswith("on")]
    # a text's own characters (its <title> tooltip is a child element)
    texts = [
        (el.text or "") + "".join(c.tail or "" for c in el) for el in root.iter(f"{SVG_NS}text")
    ]
    titles = [el.text or "" for el in root.iter(f"{SVG_NS}title")]
    # the process box names the process: made visible, clipped, and text
    clipped = visible(f"{value} (1000)")
    clipped = clipped if len(clipped) <= 21 else clipped[:20] + "\u2026"
    assert clipped in texts
    # the ancestor's command line is its tooltip (the process's is in the finding's tables)
    assert titles == [visible(value)]


def test_every_figure_is_well_formed_svg() -> None:
    row = beacon_row(0)
    figs = plots.finding_figures(row, json.loads(row["stats"]))
    labels = [f["label"] for f in figs]
    assert labels[0] == "process lineage"
    assert [lab.split(" ")[0] for lab in labels[1:]] == ["check-in", "interval", "payload"]
    for fig in figs:
        root = _parse(plots.svg(fig))
        assert root.get("viewBox") == f"0 0 {fig['w']} {fig['h']}"


def test_no_process_no_lineage_and_no_series_no_beacon_plots() -> None:
    row = finding_row(0, process_name=None, process_executable=None)
    assert plots.finding_figures(row, {"connections": 3}) == []
    assert plots.beacon_figures({"series": {"t": "not a list"}}) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "0.5 s"),
        (45, "45 s"),
        (150, "2.5 min"),
        (5400, "90 min"),
        (9000, "2.5 h"),
        (3 * 86400, "3 d"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert plots.duration(seconds) == text
