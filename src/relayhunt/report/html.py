"""One self-contained HTML report: summary, incidents, findings.

The file has no external references at all (no scripts, fonts, images or style sheets from
anywhere), so it works offline and can be mailed or attached to a ticket. A
Content-Security-Policy in the page allows only its own inline style and script, by hash:
even if an attacker-controlled string escaped its escaping, a browser would not run it.

Escaping, in depth:

* every value from telemetry is first made *visible* (control characters, bidi overrides and
  zero-width characters written as ``\\xNN``/``\\uNNNN``, so a command line cannot be
  visually reordered) and then HTML-escaped with ``html.escape(..., quote=True)``, in text
  and in attributes alike;
* the findings are also embedded as JSON in ``<script type="application/json">`` for
  filtering and paging; ``<``, ``>`` and ``&`` in that JSON are written as ``\\u003c``,
  ``\\u003e`` and ``\\u0026``, so ``</script>`` or ``<!--`` in the data cannot end the element;
* the page's script builds elements with ``createElement`` and ``textContent`` only (never
  ``innerHTML``), so the data it renders is text by construction.

Readable without JavaScript: the summary, every incident (up to :data:`MAX_INCIDENTS`),
the investigation guides and the first page of findings are rendered in the HTML itself,
and details open with the native ``<details>`` element. The script adds filters (severity,
host, platform, text), paging through all findings, and links from incidents to findings
on other pages.

Plots (:mod:`relayhunt.report.plots`): the process lineage of every finding with a
process, and for beacon findings the check-in timeline, the interval histogram (period
and jitter band marked) and the payload sizes. Their geometry is computed in Python into
small JSON figures; the first page carries them as inline SVG markup (escaped), the other
pages' figures travel in the JSON data and the script draws them with
``createElementNS``/``setAttribute``/``textContent`` when it renders a page.

Investigation guides (:mod:`relayhunt.guides`, when installed): one collapsible section per
rule that fired, linked from each of its findings; plain text, escaped like the rest.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from relayhunt.config import SEVERITIES
from relayhunt.report import plots
from relayhunt.report._common import (
    evidence_ref,
    format_score,
    iter_rows,
    parse_stats,
    ranked,
    short_time,
    value_counts,
    visible,
)

PAGE_SIZE: Final = 100
MAX_INCIDENTS: Final = 1000
TOP_COUNTS: Final = 25

# Order of the fields of one finding "view" (the JSON rows and the renderers share it).
VIEW_KEYS: Final[tuple[str, ...]] = (
    "id",  # finding id
    "sev",  # severity
    "score",  # score, formatted
    "rule",  # rule id
    "title",  # rule name
    "conf",  # confidence
    "tech",  # ATT&CK technique ids, joined
    "host",
    "user",
    "proc",  # process name
    "pid",
    "exe",  # process executable
    "cmd",  # command line
    "ent",  # process entity id
    "cat",  # process category
    "pexe",  # parent executable
    "pname",  # parent name
    "pcmd",  # parent command line
    "dom",  # destination domain
    "orig",  # how the domain is known
    "ip",
    "port",
    "plat",  # serverless platform
    "prov",  # provider
    "skind",  # serverless kind
    "tenant",
    "first",
    "last",
    "count",
    "reason",
    "ev",  # evidence: [[ref, time, kind, format], ...]
    "st",  # stats: [[key, value text], ...]
    "figs",  # plots: [figure, ...] (plots.py)
)

# Stats keys drawn as plots rather than listed in the statistics table.
PLOTTED_STATS: Final = frozenset({"series", "interval_histogram"})

_CSS: Final = """
:root{--fg:#1d2430;--muted:#5b6575;--bg:#fff;--line:#d8dde6;--panel:#f5f7fa;
--crit:#8b0000;--high:#c62828;--med:#b26a00;--low:#1565c0;--info:#607080}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0}
header.top{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--panel)}
header.top h1{margin:0 0 4px;font-size:20px}
nav.toc a{margin-right:16px}
main{padding:8px 24px 48px;max-width:1400px}
h2{margin:28px 0 10px;font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{margin:18px 0 6px;font-size:15px}
h4{margin:12px 0 4px;font-size:13px;color:var(--muted)}
.meta,.muted{color:var(--muted)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Consolas,"Liberation Mono",monospace;
font-size:12.5px;overflow-wrap:anywhere;word-break:break-all}
table{border-collapse:collapse;margin:4px 0}
th,td{text-align:left;vertical-align:top;padding:3px 10px 3px 0;border-bottom:1px solid
var(--line)}
td.num,th.num{text-align:right}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:110px;
background:var(--panel)}
.card b{display:block;font-size:20px}
.grid{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.sev{display:inline-block;min-width:62px;text-align:center;border-radius:4px;
padding:0 6px;color:#fff;font-weight:600;font-size:12px;background:var(--info)}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}
.sev-medium{background:var(--med)}.sev-low{background:var(--low)}.sev-info{background:var(--info)}
article{border:1px solid var(--line);border-radius:6px;margin:8px 0;background:var(--bg)}
article>details>summary{cursor:pointer;padding:8px 10px;list-style-position:outside}
article>details[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
.body{padding:8px 12px}
.line1,.reason{display:block}
.line1>span{margin-right:10px}
.score{font-weight:600}
.rule{font-family:ui-monospace,Consolas,monospace}
.reason{margin:4px 0 0;color:var(--fg)}
.cols{display:flex;flex-wrap:wrap;gap:24px}
.cols table{max-width:640px}
table.kv th{color:var(--muted);font-weight:500;white-space:nowrap}
ol.story li,ol.evidence li{margin:2px 0}
#rh-controls{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:8px 0;
padding:8px;border:1px solid var(--line);border-radius:6px;background:var(--panel)}
#rh-controls label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
#rh-pager{display:flex;gap:10px;align-items:center;margin:10px 0}
[hidden]{display:none!important}
.note{border-left:3px solid var(--med);padding:4px 10px;background:#fff8e6}
.plots{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0;align-items:flex-start}
svg.plot{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;
background:#fff}
svg.plot .ax{stroke:#8a94a6;stroke-width:1}
svg.plot line.per{stroke:#c62828;stroke-width:1.2;stroke-dasharray:4 3}
svg.plot .band{fill:#ffe0b2;opacity:.7}
svg.plot .bar{fill:#5c7cba}
svg.plot .tick{stroke:#5b6575;stroke-width:1}
svg.plot path.dot,svg.plot path.snt,svg.plot path.rcv{fill:none;stroke-width:4;
stroke-linecap:round}
svg.plot path.dot{stroke:#1565c0}svg.plot path.snt{stroke:#c62828}
svg.plot path.rcv{stroke:#2e7d32}
svg.plot text{font:11px system-ui,sans-serif;fill:#1d2430;stroke:none}
svg.plot text.ttl{font-weight:600;font-size:12px}
svg.plot text.lbl{fill:#5b6575}
svg.plot text.snt{fill:#c62828}svg.plot text.rcv{fill:#2e7d32}
svg.plot text.per{fill:#c62828;stroke:none}
svg.plot text.nm{font:12px ui-monospace,Consolas,monospace;fill:#1d2430}
svg.plot .node{fill:#f5f7fa;stroke:#8a94a6}svg.plot .node.dst{fill:#fff3e0;stroke:#b26a00}
svg.plot .arw{fill:none;stroke:#5b6575;stroke-width:1.5}
.guide pre{background:var(--panel);padding:6px 8px;border-radius:4px;white-space:pre-wrap;
overflow-wrap:anywhere}
.guide>summary{cursor:pointer;padding:6px 0}
a.guide-link{font-size:12.5px}
@media print{#rh-controls,#rh-pager,nav.toc{display:none!important}}
"""

_JS: Final = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("rh-data").textContent);
  var K = data.keys, rows = data.rows, pageSize = data.pageSize, SEV = data.severities;
  var GUIDES = data.guides || [];
  var idx = {};
  K.forEach(function (k, i) { idx[k] = i; });
  function g(r, k) { return r[idx[k]]; }
  var byId = {};
  rows.forEach(function (r, i) { byId[g(r, "id")] = i; });
  var list = document.getElementById("rh-findings");
  var status = document.getElementById("rh-status");
  var fSev = document.getElementById("rh-f-sev"), fHost = document.getElementById("rh-f-host");
  var fPlat = document.getElementById("rh-f-plat"), fText = document.getElementById("rh-f-text");
  var prev = document.getElementById("rh-prev"), next = document.getElementById("rh-next");
  var pageInfo = document.getElementById("rh-page");
  var state = { page: 0, matches: rows.map(function (_, i) { return i; }) };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function kv(caption, pairs) {
    var t = el("table", "kv"), any = false;
    t.appendChild(el("caption", null, caption));
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") { return; }
      var tr = el("tr");
      tr.appendChild(el("th", null, p[0]));
      var td = el("td", p[2] ? "mono" : null, p[1]);
      tr.appendChild(td);
      t.appendChild(tr);
      any = true;
    });
    return any ? t : null;
  }
  // Figures (plots.py): fixed primitives, attributes from a fixed list, text as text.
  var NS = "http://www.w3.org/2000/svg";
  var TAGS = { p: "path", r: "rect", l: "line", t: "text" };
  var ATTRS = { p: ["d", "class"], r: ["x", "y", "width", "height", "class"],
    l: ["x1", "y1", "x2", "y2", "class"], t: ["x", "y", "class", "text-anchor"] };
  function svgEl(tag) { return document.createElementNS(NS, tag); }
  function figure(f) {
    var s = svgEl("svg"), w = Number(f.w), h = Number(f.h);
    s.setAttribute("class", "plot");
    s.setAttribute("role", "img");
    s.setAttribute("viewBox", "0 0 " + w + " " + h);
    s.setAttribute("width", String(w));
    s.setAttribute("height", String(h));
    s.setAttribute("aria-label", String(f.label || ""));
    (f.items || []).forEach(function (it) {
      var kind = it[0], names = ATTRS[kind], vals, tip = null, text = null;
      if (!names) { return; }
      if (kind === "p") { vals = [it[1], it[2]]; }
      else if (kind === "t") { vals = [it[1], it[2], it[4], it[5]]; text = it[3]; tip = it[6]; }
      else { vals = it.slice(1, 6); tip = kind === "r" ? it[6] : null; }
      var e = svgEl(TAGS[kind]);
      names.forEach(function (n, i) { e.setAttribute(n, String(vals[i])); });
      if (tip) { var t = svgEl("title"); t.textContent = String(tip); e.appendChild(t); }
      if (text !== null && text !== undefined) {
        e.appendChild(document.createTextNode(String(text)));
      }
      s.appendChild(e);
    });
    return s;
  }
  function render(r) {
    var a = el("article", "finding");
    a.id = "f-" + g(r, "id");
    var d = el("details"), s = el("summary"), line = el("span", "line1");
    var sev = g(r, "sev") || "";
    line.appendChild(el("span", "sev sev-" + (SEV.indexOf(sev) >= 0 ? sev : "unknown"), sev));
    line.appendChild(el("span", "score", g(r, "score")));
    line.appendChild(el("span", "rule", g(r, "rule")));
    line.appendChild(el("span", "title", g(r, "title")));
    var proc = g(r, "proc") ? g(r, "proc") + (g(r, "pid") ? " (" + g(r, "pid") + ")" : "") : null;
    var who = [g(r, "host"), proc].filter(Boolean).join(" \u00b7 ");
    line.appendChild(el("span", "who", who));
    var dst = [g(r, "dom") || g(r, "ip"), g(r, "plat")].filter(Boolean).join(" \u00b7 ");
    line.appendChild(el("span", "dst", dst));
    s.appendChild(line);
    s.appendChild(el("span", "reason", g(r, "reason")));
    d.appendChild(s);
    var body = el("div", "body"), cols = el("div", "cols");
    [kv("Process", [["host", g(r, "host")], ["user", g(r, "user")], ["image", g(r, "exe"), 1],
        ["name", g(r, "proc")], ["pid", g(r, "pid")], ["command line", g(r, "cmd"), 1],
        ["entity id", g(r, "ent"), 1], ["category", g(r, "cat")]]),
     kv("Parent", [["image", g(r, "pexe"), 1], ["name", g(r, "pname")],
        ["command line", g(r, "pcmd"), 1]]),
     kv("Destination", [["domain", g(r, "dom"), 1], ["known from", g(r, "orig")],
        ["ip", g(r, "ip"), 1], ["port", g(r, "port")], ["platform", g(r, "plat")],
        ["provider", g(r, "prov")], ["kind", g(r, "skind")], ["tenant", g(r, "tenant"), 1]]),
     kv("Finding", [["rule", g(r, "rule")], ["techniques", g(r, "tech")],
        ["confidence", g(r, "conf")], ["first seen (UTC)", g(r, "first")],
        ["last seen (UTC)", g(r, "last")], ["events", g(r, "count")], ["id", g(r, "id"), 1]])
    ].forEach(function (t) { if (t) { cols.appendChild(t); } });
    var rule = g(r, "rule");
    if (rule && GUIDES.indexOf(rule) >= 0) {
      var gp = el("p"), ga = el("a", "guide-link",
        "Investigation guide and response playbook for " + rule);
      ga.setAttribute("href", "#g-" + rule);
      ga.setAttribute("data-guide", rule);
      gp.appendChild(ga);
      body.appendChild(gp);
    }
    body.appendChild(cols);
    var figs = g(r, "figs") || [];
    if (figs.length) {
      var pl = el("div", "plots");
      figs.forEach(function (f) { pl.appendChild(figure(f)); });
      body.appendChild(pl);
    }
    var ev = g(r, "ev") || [];
    if (ev.length) {
      body.appendChild(el("h4", null, "Evidence"));
      var ol = el("ol", "evidence");
      ev.forEach(function (e) {
        var li = el("li");
        li.appendChild(el("code", null, e[0]));
        var rest = [e[1], e[2], e[3]].filter(Boolean).join(" \u00b7 ");
        if (rest) { li.appendChild(el("span", "muted", " " + rest)); }
        ol.appendChild(li);
      });
      body.appendChild(ol);
    }
    var st = g(r, "st") || [];
    if (st.length) {
      body.appendChild(el("h4", null, "Statistics"));
      var t = kv("", st.map(function (p) { return [p[0], p[1], 1]; }));
      if (t) { t.className = "kv stats"; body.appendChild(t); }
    }
    d.appendChild(body);
    a.appendChild(d);
    return a;
  }
  function matches(r) {
    var sev = fSev.value, host = fHost.value, plat = fPlat.value;
    var text = fText.value.trim().toLowerCase();
    if (sev && SEV.indexOf(g(r, "sev")) < SEV.indexOf(sev)) { return false; }
    if (host && g(r, "host") !== host) { return false; }
    if (plat && g(r, "plat") !== plat) { return false; }
    if (text) {
      var hay = ["rule", "title", "host", "user", "proc", "exe", "cmd", "pcmd", "pexe", "dom",
        "ip", "plat", "tenant", "reason", "id"].map(function (k) { return g(r, k) || ""; })
        .join("\n").toLowerCase();
      if (hay.indexOf(text) < 0) { return false; }
    }
    return true;
  }
  function show() {
    var n = state.matches.length, pages = Math.max(1, Math.ceil(n / pageSize));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    var start = state.page * pageSize, end = Math.min(n, start + pageSize);
    while (list.firstChild) { list.removeChild(list.firstChild); }
    for (var i = start; i < end; i++) { list.appendChild(render(rows[state.matches[i]])); }
    status.textContent = n ? ("Showing " + (start + 1) + "\u2013" + end + " of " + n +
      (n !== rows.length ? " matching findings (" + rows.length + " in all)" : " findings"))
      : "No finding matches the filters.";
    pageInfo.textContent = "page " + (state.page + 1) + " of " + pages;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }
  function apply() {
    state.matches = [];
    for (var i = 0; i < rows.length; i++) { if (matches(rows[i])) { state.matches.push(i); } }
    state.page = 0;
    show();
  }
  function reveal(id) {
    var i = byId[id];
    if (i === undefined) { return; }
    var at = state.matches.indexOf(i);
    if (at < 0) {
      fSev.value = ""; fHost.value = ""; fPlat.value = ""; fText.value = "";
      state.matches = rows.map(function (_, j) { return j; });
      at = i;
    }
    state.page = Math.floor(at / pageSize);
    show();
    var node = document.getElementById("f-" + id);
    if (node) {
      node.querySelector("details").open = true;
      node.scrollIntoView();
    }
  }
  [fSev, fHost, fPlat].forEach(function (s) { s.addEventListener("change", apply); });
  var timer = null;
  fText.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(apply, 200);
  });
  prev.addEventListener("click", function () { state.page -= 1; show(); });
  next.addEventListener("click", function () { state.page += 1; show(); });
  document.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a[data-finding]") : null;
    if (a) { e.preventDefault(); reveal(a.getAttribute("data-finding")); return; }
    var gl = e.target && e.target.closest ? e.target.closest("a[data-guide]") : null;
    var gn = gl ? document.getElementById("g-" + gl.getAttribute("data-guide")) : null;
    if (gn) { e.preventDefault(); gn.open = true; gn.scrollIntoView(); }
  });
  document.getElementById("rh-controls").hidden = false;
  document.getElementById("rh-pager").hidden = false;
  var hash = "";
  try { hash = decodeURIComponent(window.location.hash || ""); } catch (err) { hash = ""; }
  if (hash.indexOf("#f-") === 0) { reveal(hash.slice(3)); } else { show(); }
})();
"""


# ------------------------------------------------------------------------------ escaping


def esc(value: object) -> str:
    """Attacker-controlled value -> safe HTML text or attribute value."""
    if value is None:
        return ""
    return html.escape(visible(str(value)), quote=True)


def script_json(value: object) -> str:
    """JSON for a ``<script type="application/json">`` element: ``<``, ``>``, ``&`` (and,
    through ``ensure_ascii``, U+2028/U+2029) escaped so the data cannot end the element."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# ------------------------------------------------------------------------------ views


def _text(value: object) -> str | None:
    """Display text of a cell (visible controls), or None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return short_time(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else f"{value:g}"
    if isinstance(value, list | tuple):
        joined = ", ".join(t for v in value if (t := _text(v)) is not None)
        return joined or None
    text = visible(str(value))
    return text if text != "" else None


def _stat_text(value: object) -> str:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    if isinstance(value, list) and all(
        isinstance(v, str | int | float | bool) or v is None for v in value
    ):
        return ", ".join("null" if v is None else _stat_text(v) for v in value)
    return visible(json.dumps(value, ensure_ascii=False, allow_nan=True, sort_keys=True))


def _stats_pairs(parsed: object, ok: bool) -> list[list[str]]:
    """The stats table rows of a parsed ``stats`` cell (:func:`parse_stats`)."""
    if parsed is None:
        return []
    if ok and isinstance(parsed, Mapping):
        pairs = [
            [visible(str(k)), _stat_text(v)]
            for k, v in parsed.items()
            if v is not None and k not in PLOTTED_STATS
        ]
        series = parsed.get("series")
        if isinstance(series, Mapping):
            n, shown = series.get("n"), series.get("shown")
            note = f"{n} check-ins" if n is not None else "check-ins"
            if series.get("sampled"):
                note += f" ({shown} kept in the finding, an even sample by index)"
            pairs.append(["series", f"{note}: plotted above"])
        return pairs
    return [["(unparsed)", visible(str(parsed))]]


def _evidence_rows(items: object) -> list[list[str]]:
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ts = item.get("timestamp")
        out.append(
            [
                visible(evidence_ref(item)),
                short_time(ts) if isinstance(ts, dt.datetime) else "",
                visible(str(item.get("event_kind") or "")),
                visible(str(item.get("log_format") or "")),
            ]
        )
    return out


def finding_view(row: Mapping[str, Any]) -> list[object]:
    """One finding as the display values in :data:`VIEW_KEYS` order (already made
    visible, not yet HTML-escaped)."""
    pid = row.get("process_pid")
    port = row.get("destination_port")
    stats, stats_ok = parse_stats(row.get("stats"))
    count = row.get("event_count")
    values: dict[str, object] = {
        "id": _text(row.get("finding_id")),
        "sev": _text(row.get("severity")),
        "score": format_score(row.get("score")),
        "rule": _text(row.get("rule_id")),
        "title": _text(row.get("rule_name")),
        "conf": _text(row.get("confidence")),
        "tech": _text(row.get("threat_technique_id")),
        "host": _text(row.get("host_name")),
        "user": _text(row.get("user_name")),
        "proc": _text(row.get("process_name")),
        "pid": str(pid) if pid is not None else None,
        "exe": _text(row.get("process_executable")),
        "cmd": _text(row.get("process_command_line")),
        "ent": _text(row.get("process_entity_id")),
        "cat": _text(row.get("process_category")),
        "pexe": _text(row.get("process_parent_executable")),
        "pname": _text(row.get("process_parent_name")),
        "pcmd": _text(row.get("process_parent_command_line")),
        "dom": _text(row.get("destination_domain")),
        "orig": _text(row.get("destination_domain_origin")),
        "ip": _text(row.get("destination_ip")),
        "port": str(port) if port is not None else None,
        "plat": _text(row.get("serverless_platform")),
        "prov": _text(row.get("serverless_provider")),
        "skind": _text(row.get("serverless_kind")),
        "tenant": _text(row.get("serverless_tenant")),
        "first": _text(row.get("first_seen")),
        "last": _text(row.get("last_seen")),
        "count": str(count) if count is not None else None,
        "reason": _text(row.get("reason")),
        "ev": _evidence_rows(row.get("evidence")),
        "st": _stats_pairs(stats, stats_ok),
        "figs": plots.finding_figures(row, stats),
    }
    return [values[k] for k in VIEW_KEYS]


# ------------------------------------------------------------------------------ renderers

_I: Final = {k: i for i, k in enumerate(VIEW_KEYS)}


def _kv_table(caption: str, pairs: Sequence[tuple[str, object, bool]], cls: str = "kv") -> str:
    mono_cls = ' class="mono"'
    rows = [
        f"<tr><th>{esc(k)}</th><td{mono_cls if mono else ''}>{esc(v)}</td></tr>"
        for k, v, mono in pairs
        if v is not None and v != ""
    ]
    if not rows:
        return ""
    return f'<table class="{cls}"><caption>{esc(caption)}</caption>{"".join(rows)}</table>'


def _sev_badge(sev: object) -> str:
    name = str(sev) if sev else ""
    cls = name if name in SEVERITIES else "unknown"
    return f'<span class="sev sev-{cls}">{esc(name)}</span>'


def finding_html(view: Sequence[object], guides: Collection[str] = ()) -> str:
    """The markup the page's script also builds (keep the two in step); ``guides``: the
    rule ids that have an investigation guide in the page."""

    def v(key: str) -> Any:
        return view[_I[key]]

    who_parts = [v("host")]
    if v("proc"):
        who_parts.append(v("proc") + (f" ({v('pid')})" if v("pid") else ""))
    who = " · ".join(p for p in who_parts if p)
    dst = " · ".join(p for p in (v("dom") or v("ip"), v("plat")) if p)
    cols = "".join(
        (
            _kv_table(
                "Process",
                [
                    ("host", v("host"), False),
                    ("user", v("user"), False),
                    ("image", v("exe"), True),
                    ("name", v("proc"), False),
                    ("pid", v("pid"), False),
                    ("command line", v("cmd"), True),
                    ("entity id", v("ent"), True),
                    ("category", v("cat"), False),
                ],
            ),
            _kv_table(
                "Parent",
                [
                    ("image", v("pexe"), True),
                    ("name", v("pname"), False),
                    ("command line", v("pcmd"), True),
                ],
            ),
            _kv_table(
                "Destination",
                [
                    ("domain", v("dom"), True),
                    ("known from", v("orig"), False),
                    ("ip", v("ip"), True),
                    ("port", v("port"), False),
                    ("platform", v("plat"), False),
                    ("provider", v("prov"), False),
                    ("kind", v("skind"), False),
                    ("tenant", v("tenant"), True),
                ],
            ),
            _kv_table(
                "Finding",
                [
                    ("rule", v("rule"), False),
                    ("techniques", v("tech"), False),
                    ("confidence", v("conf"), False),
                    ("first seen (UTC)", v("first"), False),
                    ("last seen (UTC)", v("last"), False),
                    ("events", v("count"), False),
                    ("id", v("id"), True),
                ],
            ),
        )
    )
    body = []
    if v("rule") in guides:
        rule = esc(v("rule"))
        body.append(
            f'<p><a class="guide-link" href="#g-{rule}" data-guide="{rule}">Investigation guide '
            f"and response playbook for {rule}</a></p>"
        )
    body.append(f'<div class="cols">{cols}</div>')
    figs = v("figs") or []
    if figs:
        body.append(f'<div class="plots">{"".join(plots.svg(f) for f in figs)}</div>')
    evidence = v("ev") or []
    if evidence:
        items = []
        for ref, when, kind, fmt in evidence:
            rest = " · ".join(p for p in (when, kind, fmt) if p)
            extra = f'<span class="muted"> {esc(rest)}</span>' if rest else ""
            items.append(f"<li><code>{esc(ref)}</code>{extra}</li>")
        body.append(f'<h4>Evidence</h4><ol class="evidence">{"".join(items)}</ol>')
    stats = v("st") or []
    if stats:
        table = _kv_table("", [(k, val, True) for k, val in stats], cls="kv stats")
        body.append(f"<h4>Statistics</h4>{table}")
    return (
        f'<article class="finding" id="f-{esc(v("id"))}"><details><summary>'
        f'<span class="line1">{_sev_badge(v("sev"))}'
        f'<span class="score">{esc(v("score"))}</span>'
        f'<span class="rule">{esc(v("rule"))}</span>'
        f'<span class="title">{esc(v("title"))}</span>'
        f'<span class="who">{esc(who)}</span>'
        f'<span class="dst">{esc(dst)}</span></span>'
        f'<span class="reason">{esc(v("reason"))}</span>'
        f'</summary><div class="body">{"".join(body)}</div></details></article>'
    )


def _incident_html(row: Mapping[str, Any], known_findings: set[str]) -> str:
    lineage = row.get("process_lineage") or []
    story = row.get("story") or []
    finding_ids = [str(f) for f in (row.get("finding_ids") or []) if f is not None]
    links = ", ".join(
        f'<a href="#f-{esc(f)}" data-finding="{esc(f)}"><code>{esc(f)}</code></a>'
        if visible(f) in known_findings
        else f"<code>{esc(f)}</code>"
        for f in finding_ids
    )
    story_html = "".join(f"<li>{esc(line)}</li>" for line in story if line is not None)
    details = _kv_table(
        "Incident",
        [
            ("host", _text(row.get("host_name")), False),
            ("process chain", " > ".join(visible(str(p)) for p in lineage if p) or None, True),
            ("rules", _text(row.get("rule_ids")), False),
            ("techniques", _text(row.get("threat_technique_id")), False),
            ("destinations", _text(row.get("destinations")), True),
            ("first seen (UTC)", _text(row.get("first_seen")), False),
            ("last seen (UTC)", _text(row.get("last_seen")), False),
            ("id", _text(row.get("incident_id")), True),
        ],
    )
    findings_html = f"<h4>Findings</h4><p>{links}</p>" if links else ""
    story_block = f'<h4>Story</h4><ol class="story">{story_html}</ol>' if story_html else ""
    return (
        f'<article class="incident" id="i-{esc(row.get("incident_id"))}"><details open>'
        f'<summary><span class="line1">{_sev_badge(row.get("severity"))}'
        f'<span class="score">{esc(format_score(row.get("risk_score")))}</span>'
        f'<span class="who">{esc(row.get("host_name"))}</span>'
        f'<span class="mono">{esc(" > ".join(str(p) for p in lineage if p))}</span></span>'
        f'<span class="reason">{esc(row.get("summary"))}</span></summary>'
        f'<div class="body">{story_block}<div class="cols">{details}</div>{findings_html}'
        f"</div></details></article>"
    )


def load_guides(rule_ids: Iterable[str]) -> dict[str, Any]:
    """The investigation guides (:mod:`relayhunt.guides`) of ``rule_ids`` that exist, by
    rule id; empty when the guides package is not installed."""
    try:
        from relayhunt.guides import get_guide
    except ImportError:
        return {}
    out: dict[str, Any] = {}
    for rule in rule_ids:
        guide = get_guide(rule)
        if guide is not None:
            out[rule] = guide
    return out


def _multiline(text: object) -> str:
    """Escaped text whose line breaks survive (for ``<pre>``): each line made visible."""
    return "\n".join(esc(line) for line in str(text).splitlines())


def _guide_list(title: str, items: object, ordered: bool = False) -> str:
    if not isinstance(items, list | tuple) or not items:
        return ""
    tag = "ol" if ordered else "ul"
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f"<h4>{esc(title)}</h4><{tag}>{lis}</{tag}>"


def _guide_html(rule: str, guide: Any) -> str:
    """One rule's guide as a collapsible section; every field is plain text, escaped."""
    try:
        from relayhunt.guides import SIEM_NAMES
    except ImportError:  # pragma: no cover - only with the guides package absent
        SIEM_NAMES = {}
    parts = [
        f'<details class="guide" id="g-{esc(rule)}"><summary><code>{esc(rule)}</code> '
        f'{esc(getattr(guide, "title", ""))}</summary><div class="body">',
        f"<p>{esc(getattr(guide, 'summary', ''))}</p>",
        _guide_list("Look at first", getattr(guide, "look_first", None), ordered=True),
    ]
    pivots = getattr(guide, "pivots", None)
    if isinstance(pivots, Mapping) and pivots:
        blocks = []
        for siem, items in pivots.items():
            entries = "".join(
                f"<p>{esc(getattr(pv, 'title', ''))}</p>"
                f"<pre><code>{_multiline(getattr(pv, 'query', ''))}</code></pre>"
                for pv in items or ()
            )
            blocks.append(
                f"<details><summary>{esc(SIEM_NAMES.get(siem, siem))}</summary>{entries}</details>"
            )
        parts.append(
            '<h4>Pivots</h4><p class="muted">Placeholders in braces (<code>{host}</code>, '
            "<code>{domain}</code> ...) take the finding's values.</p>" + "".join(blocks)
        )
    parts.append(_guide_list("Confirm", getattr(guide, "confirm", None)))
    parts.append(_guide_list("Dismiss", getattr(guide, "dismiss", None)))
    parts.append(_guide_list("Contain", getattr(guide, "contain", None)))
    parts.append("</div></details>")
    return "".join(parts)


def _count_table(title: str, pairs: Iterable[tuple[str, int]], limit: int = TOP_COUNTS) -> str:
    items = list(pairs)
    rows = "".join(f'<tr><td>{esc(k)}</td><td class="num">{n}</td></tr>' for k, n in items[:limit])
    more = (
        f'<tr><td class="muted">{len(items) - limit} more</td><td></td></tr>'
        if len(items) > limit
        else ""
    )
    if not rows:
        rows = '<tr><td class="muted">none</td><td></td></tr>'
    return (
        f'<table><caption>{esc(title)}</caption><tr><th>value</th><th class="num">findings'
        f"</th></tr>{rows}{more}</table>"
    )


def _generic_value(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return esc(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return esc(", ".join(str(v) for v in value))
    return f"<code>{esc(json.dumps(value, default=str, ensure_ascii=False))}</code>"


def _records_table(title: str, records: object, columns: Sequence[str]) -> str:
    if not isinstance(records, list) or not records:
        return ""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for rec in records:
        if not isinstance(rec, Mapping):
            continue
        cells = "".join(
            f'<td class="num">{esc(rec.get(c))}</td>'
            if isinstance(rec.get(c), int | float)
            else f"<td>{esc(rec.get(c))}</td>"
            for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><caption>{esc(title)}</caption><tr>{head}</tr>{''.join(body)}</table>"


def _ingest_html(ingest: object) -> str:
    if not isinstance(ingest, Mapping):
        return ""
    facts = [
        ("files", ingest.get("files")),
        ("files recognised", ingest.get("files_recognised")),
        ("records seen", ingest.get("records_seen")),
        ("bytes read", ingest.get("bytes_read")),
    ]
    rows = "".join(
        f'<tr><th>{esc(k)}</th><td class="num">{esc(v)}</td></tr>'
        for k, v in facts
        if v is not None
    )
    parts = [f'<table class="kv"><caption>Input</caption>{rows}</table>' if rows else ""]
    parts.append(
        _records_table("Events stored", ingest.get("events"), ("table", "format", "count"))
    )
    issues = ingest.get("issues")
    parts.append(
        _records_table("Rejected or damaged records", issues, ("severity", "reason_code", "count"))
        if issues
        else '<p class="muted">No rejected records.</p>'
    )
    parts.append(
        _records_table(
            "Event types read but not used", ingest.get("skipped"), ("format", "label", "count")
        )
    )
    known = {
        "files",
        "files_recognised",
        "records_seen",
        "bytes_read",
        "events",
        "issues",
        "skipped",
    }
    extra = [
        f"<tr><th>{esc(k)}</th><td>{_generic_value(v)}</td></tr>"
        for k, v in ingest.items()
        if k not in known
    ]
    if extra:
        parts.append(f'<table class="kv"><caption>Other</caption>{"".join(extra)}</table>')
    return f'<div class="grid">{"".join(parts)}</div>'


_SUMMARY_KNOWN: Final = frozenset(
    {
        "inputs",
        "ingest",
        "generated_at",
        "version",
        "suppressed",
        "profile",
        "min_severity",
        "below_min_severity",
        "rules",
        "config_warnings",
    }
)


def _summary_html(findings: pa.Table, incidents: pa.Table, summary: Mapping[str, Any]) -> str:
    by_sev = dict(value_counts(findings, "severity"))
    cards = [
        f'<div class="card"><span class="sev sev-{s}">{s}</span><b>{by_sev.get(s, 0)}</b></div>'
        for s in reversed(SEVERITIES)
    ]
    cards.append(f'<div class="card">findings<b>{findings.num_rows}</b></div>')
    cards.append(f'<div class="card">incidents<b>{incidents.num_rows}</b></div>')
    suppressed = summary.get("suppressed")
    if suppressed is not None:
        cards.append(f'<div class="card">suppressed<b>{esc(suppressed)}</b></div>')
    below = summary.get("below_min_severity")
    if below is not None:
        floor = summary.get("min_severity")
        label = f"below {esc(floor)}" if floor else "below min severity"
        cards.append(f'<div class="card">{label}<b>{esc(below)}</b></div>')
    tables = [
        _count_table("By platform", value_counts(findings, "serverless_platform")),
        _count_table("By host", value_counts(findings, "host_name")),
        _count_table("By rule", value_counts(findings, "rule_id")),
    ]
    rules = summary.get("rules")
    if isinstance(rules, Mapping) and rules:
        rule_rows = "".join(
            f'<tr><td>{esc(k)}</td><td class="num">{esc(v)}</td></tr>' for k, v in rules.items()
        )
        tables.append(
            f'<table><caption>Rules run</caption><tr><th>rule</th><th class="num">'
            f"before tuning</th></tr>{rule_rows}</table>"
        )
    parts = [
        '<section id="summary"><h2>Summary</h2>',
        f'<div class="cards">{"".join(cards)}</div>',
        f'<div class="grid">{"".join(tables)}</div>',
    ]
    inputs = summary.get("inputs")
    if isinstance(inputs, list | tuple) and inputs:
        items = "".join(f"<li><code>{esc(p)}</code></li>" for p in inputs)
        parts.append(f"<h3>Inputs</h3><ul>{items}</ul>")
    ingest = _ingest_html(summary.get("ingest"))
    if ingest:
        parts.append(f"<h3>Ingest</h3>{ingest}")
    warnings = summary.get("config_warnings")
    if isinstance(warnings, list | tuple) and warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        parts.append(f"<h3>Tuning file warnings</h3><ul>{items}</ul>")
    extra = [
        f"<tr><th>{esc(k)}</th><td>{_generic_value(v)}</td></tr>"
        for k, v in summary.items()
        if k not in _SUMMARY_KNOWN and v not in (None, "", [], {})
    ]
    if extra:
        parts.append(f'<h3>Other</h3><table class="kv">{"".join(extra)}</table>')
    parts.append("</section>")
    return "".join(parts)


def render_report(
    *,
    findings: pa.Table,
    incidents: pa.Table,
    summary: Mapping[str, Any],
    page_size: int = PAGE_SIZE,
    guides: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML document (see :func:`write_report`). ``guides``: rule id ->
    investigation guide; by default those of :mod:`relayhunt.guides` for the rules that
    fired."""
    page_size = max(1, page_size)
    ordered = ranked(findings, score="score", tiebreak=("first_seen", "finding_id"))
    views = [finding_view(r) for r in iter_rows(ordered)]
    rule_ids = sorted({str(v[_I["rule"]]) for v in views if v[_I["rule"]] is not None})
    if guides is None:
        guides = load_guides(rule_ids)
    guide_ids = [r for r in rule_ids if r in guides]
    known_ids = {str(v[_I["id"]]) for v in views if v[_I["id"]] is not None}

    top_incidents = ranked(
        incidents, score="risk_score", limit=MAX_INCIDENTS, tiebreak=("first_seen",)
    )
    incident_parts = [_incident_html(r, known_ids) for r in iter_rows(top_incidents)]
    if incidents.num_rows > MAX_INCIDENTS:
        incident_parts.append(
            f'<p class="note">{incidents.num_rows - MAX_INCIDENTS} lower-risk incidents are '
            "not shown here; the NDJSON and CSV outputs hold them all.</p>"
        )
    if not incident_parts:
        incident_parts.append('<p class="muted">No incidents.</p>')

    first_page = "".join(finding_html(v, guide_ids) for v in views[:page_size])
    if not views:
        first_page = '<p class="muted">No findings.</p>'
    shown = min(page_size, len(views))
    status = f"Showing 1\u2013{shown} of {len(views)} findings" if views else "No findings."

    hosts = [h for h, _ in value_counts(findings, "host_name")]
    platforms = [p for p, _ in value_counts(findings, "serverless_platform")]
    sev_options = "".join(
        f'<option value="{s}">{s}{"" if s == "critical" else " and above"}</option>'
        for s in reversed(SEVERITIES)
    )
    host_options = "".join(f'<option value="{esc(h)}">{esc(h)}</option>' for h in hosts)
    plat_options = "".join(f'<option value="{esc(p)}">{esc(p)}</option>' for p in platforms)
    controls = (
        '<div id="rh-controls" hidden>'
        f'<label>severity<select id="rh-f-sev"><option value="">all</option>{sev_options}'
        "</select></label>"
        f'<label>host<select id="rh-f-host"><option value="">all</option>{host_options}'
        "</select></label>"
        f'<label>platform<select id="rh-f-plat"><option value="">all</option>{plat_options}'
        "</select></label>"
        '<label>text<input id="rh-f-text" type="search" placeholder="process, domain, '
        'command line ..."></label></div>'
    )
    noscript = ""
    if len(views) > page_size:
        noscript = (
            f'<noscript><p class="note">The {page_size} highest-scoring of {len(views)} '
            "findings are shown. Filtering and paging through the rest need JavaScript; the "
            "NDJSON and CSV outputs hold them all.</p></noscript>"
        )
    pager = (
        '<div id="rh-pager" hidden><button id="rh-prev" type="button">&larr; previous'
        '</button><span id="rh-page"></span><button id="rh-next" type="button">next '
        "&rarr;</button></div>"
    )
    data = {
        "keys": list(VIEW_KEYS),
        "rows": views,
        "pageSize": page_size,
        "severities": list(SEVERITIES),
        "guides": guide_ids,
    }
    guide_section = ""
    if guide_ids:
        guide_section = (
            f'<section id="guides"><h2>Investigation guides ({len(guide_ids)})</h2>'
            + "".join(_guide_html(r, guides[r]) for r in guide_ids)
            + "</section>"
        )

    version = summary.get("version")
    generated = summary.get("generated_at")
    profile = summary.get("profile")
    meta_bits = [
        f"generated {esc(generated)}" if generated else "",
        f"relayhunt {esc(version)}" if version else "relayhunt",
        f"profile {esc(profile)}" if profile else "",
    ]
    meta = " · ".join(b for b in meta_bits if b)
    style = _CSS
    script = _JS
    csp = (
        "default-src 'none'; "
        f"style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = f"relayhunt report: {findings.num_rows} findings, {incidents.num_rows} incidents"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{esc(title)}</title><style>{style}</style></head><body>",
            f'<header class="top"><h1>relayhunt report</h1><p class="meta">{meta}</p>',
            '<nav class="toc"><a href="#summary">Summary</a><a href="#incidents">Incidents'
            f' ({incidents.num_rows})</a><a href="#findings">Findings ({findings.num_rows})'
            "</a>"
            + ('<a href="#guides">Guides</a>' if guide_ids else "")
            + "</nav></header><main>",
            _summary_html(findings, incidents, summary),
            f'<section id="incidents"><h2>Incidents ({incidents.num_rows})</h2>',
            "".join(incident_parts),
            "</section>",
            f'<section id="findings"><h2>Findings ({findings.num_rows})</h2>',
            controls,
            f'<p id="rh-status">{status}</p>',
            noscript,
            f'<div id="rh-findings">{first_page}</div>',
            pager,
            "</section>",
            guide_section,
            "</main>\n",
            f'<script type="application/json" id="rh-data">{script_json(data)}</script>\n',
            f"<script>{script}</script>\n</body></html>\n",
        ]
    )


def write_report(
    path: str | Path,
    *,
    findings: pa.Table,
    incidents: pa.Table,
    summary: Mapping[str, Any],
    page_size: int = PAGE_SIZE,
    guides: Mapping[str, Any] | None = None,
) -> None:
    """Write the self-contained HTML report to ``path`` (UTF-8)."""
    text = render_report(
        findings=findings,
        incidents=incidents,
        summary=summary,
        page_size=page_size,
        guides=guides,
    )
    Path(path).write_text(text, encoding="utf-8", newline="\n")
