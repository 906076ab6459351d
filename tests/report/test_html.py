"""HTML report: self-contained, well-formed, escaped, fast on thousands of findings."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import lxml.html
import pyarrow as pa
import pytest

from relayhunt.report import html as report_html
from relayhunt.report import write_findings_file
from relayhunt.report._common import visible
from tests.report.factories import (
    HOSTILE,
    beacon_row,
    beacon_stats,
    finding_row,
    findings_table,
    incident_row,
    incidents_table,
)

SUMMARY: dict[str, Any] = {
    "inputs": ["logs/", "evidence/Sysmon.evtx"],
    "ingest": {
        "events": [{"table": "connection", "format": "sysmon.evtx", "count": 1200}],
        "issues": [{"severity": "error", "reason_code": "invalid_json", "count": 3}],
        "skipped": [{"format": "sysmon.evtx", "label": "sysmon:5", "count": 10}],
        "files": 4,
        "files_recognised": 3,
        "bytes_read": 123456,
        "records_seen": 1500,
    },
    "generated_at": "2026-03-02T10:00:00+00:00",
    "version": "0.1.0",
    "suppressed": 7,
    "profile": "default",
    "min_severity": "low",
    "below_min_severity": 2,
    "rules": {"RH-SL-001": 40},
}


def _render(
    findings: pa.Table | None = None,
    incidents: pa.Table | None = None,
    summary: dict[str, Any] | None = None,
    page_size: int = report_html.PAGE_SIZE,
    guides: dict[str, Any] | None = None,
) -> str:
    """The report; no investigation guides unless given (``None``: the bundled ones)."""
    return report_html.render_report(
        findings=findings if findings is not None else findings_table([finding_row(0)]),
        incidents=incidents if incidents is not None else incidents_table([incident_row(0)]),
        summary=SUMMARY if summary is None else summary,
        page_size=page_size,
        guides={} if guides is None else guides,
    )


def _doc(text: str) -> Any:
    # huge_tree: the data element of a 5,000-finding report is above libxml2's 10 MB limit
    return lxml.html.document_fromstring(text, parser=lxml.html.HTMLParser(huge_tree=True))


def _data(doc: Any) -> dict[str, Any]:
    (node,) = doc.xpath('//script[@id="rh-data"]')
    assert node.get("type") == "application/json"
    parsed: dict[str, Any] = json.loads(node.text)
    return parsed


def _rows(doc: Any) -> list[dict[str, Any]]:
    data = _data(doc)
    return [dict(zip(data["keys"], r, strict=True)) for r in data["rows"]]


# ------------------------------------------------------------------ self-contained


def test_no_external_resources() -> None:
    text = _render()
    lowered = text.lower()
    assert "<script src" not in lowered
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?https?:", lowered)
    assert "@import" not in lowered
    assert "url(http" not in lowered
    assert "url(//" not in lowered
    doc = _doc(text)
    for element in doc.iter():
        for attr in ("src", "href", "action", "data", "poster"):
            value = element.get(attr)
            if value is not None:
                assert value.startswith("#"), (element.tag, attr, value)
    assert doc.xpath("//link") == []
    assert doc.xpath("//iframe|//object|//embed|//img") == []


def test_csp_allows_exactly_the_inline_style_and_script() -> None:
    doc = _doc(_render())
    (meta,) = doc.xpath('//meta[@http-equiv="Content-Security-Policy"]')
    policy = meta.get("content")
    (style,) = doc.xpath("//style")
    scripts = [s for s in doc.xpath("//script") if s.get("type") != "application/json"]
    assert len(scripts) == 1

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"script-src {sha(scripts[0].text)}" in policy
    assert f"style-src {sha(style.text)}" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy


def test_well_formed_and_sections_present() -> None:
    text = _render()
    assert text.startswith("<!DOCTYPE html>")
    doc = _doc(text)
    assert doc.xpath("//section/@id") == ["summary", "incidents", "findings"]
    assert len(doc.xpath('//article[@class="finding"]')) == 1
    assert len(doc.xpath('//article[@class="incident"]')) == 1
    # every element we open is closed: a strict XML parse of the body succeeds after
    # turning the HTML5 void elements into XML ones.
    body = text[text.index("<body>") : text.index("</body>") + 7]
    body = re.sub(r"<script[^>]*>.*?</script>", "", body, flags=re.DOTALL)
    body = re.sub(r"<(input|meta|br)([^>]*)>", r"<\1\2/>", body)
    body = re.sub(r" (open|hidden)(?=[ >])", r' \1=""', body)
    body = body.replace("&larr;", "&#8592;").replace("&rarr;", "&#8594;")
    from lxml import etree

    etree.fromstring(body.encode())


# ------------------------------------------------------------------------ escaping

HOSTILE_FIELDS = (
    "process_command_line",
    "process_parent_command_line",
    "host_name",
    "reason",
    "destination_domain",
    "rule_name",
    "serverless_platform",
    "finding_id",
)


@pytest.mark.parametrize("field", HOSTILE_FIELDS)
@pytest.mark.parametrize("payload", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_strings_are_text(field: str, payload: str) -> None:
    value = HOSTILE[payload]
    findings = findings_table([finding_row(0, **{field: value})])
    incidents = incidents_table(
        [incident_row(0, summary=value, story=[value], process_lineage=[value])]
    )
    summary = {**SUMMARY, "inputs": [value], "profile": value}
    text = _render(findings, incidents, summary)
    doc = _doc(text)
    # Only our two script elements, no handlers, no injected elements.
    assert len(doc.xpath("//script")) == 2
    assert text.count("</script>") == 2
    assert doc.xpath("//img") == []
    for element in doc.iter():
        for name in element.attrib:
            assert not name.lower().startswith("on"), (element.tag, name)
    # Raw dangerous characters never reach the page.
    for raw in ("\u202e", "\x1b", "\u2028", "\r"):
        assert raw not in text
    # The value is shown as text (made visible), in the page and in the JSON data.
    assert visible(value) in doc.text_content()
    row = _rows(doc)[0]
    key = {
        "process_command_line": "cmd",
        "process_parent_command_line": "pcmd",
        "host_name": "host",
        "reason": "reason",
        "destination_domain": "dom",
        "rule_name": "title",
        "serverless_platform": "plat",
        "finding_id": "id",
    }[field]
    assert row[key] == visible(value)


def test_json_data_escapes_markup_characters() -> None:
    value = "</script><!--<script>&amp;"
    text = _render(findings_table([finding_row(0, process_command_line=value)]))
    start = text.index('<script type="application/json" id="rh-data">')
    end = text.index("</script>", start)
    block = text[start:end]
    assert "<" not in block[len('<script type="application/json" id="rh-data">') :]
    assert ">" not in block[len('<script type="application/json" id="rh-data">') :]
    assert "&" not in block
    assert "\\u003c/script\\u003e" in block
    assert _rows(_doc(text))[0]["cmd"] == value


def test_bidi_and_controls_are_visible_escapes() -> None:
    text = _render(findings_table([finding_row(0, process_command_line="a\u202eb\x00c\nd")]))
    assert "a\\u202eb\\x00c\\nd" in _doc(text).text_content()


def test_stats_render_as_key_value_table() -> None:
    stats = json.dumps(
        {"interval_median_s": 30.25, "nested": {"a": [1, 2]}, "<k>": "<v>", "skip": None}
    )
    doc = _doc(_render(findings_table([finding_row(0, stats=stats)])))
    (table,) = doc.xpath('//table[@class="kv stats"]')
    pairs = [(tr[0].text_content(), tr[1].text_content()) for tr in table.xpath(".//tr")]
    assert pairs == [
        ("interval_median_s", "30.25"),
        ("nested", '{"a": [1, 2]}'),
        ("<k>", "<v>"),
    ]


def test_unparseable_stats_are_shown_not_dropped() -> None:
    doc = _doc(_render(findings_table([finding_row(0, stats="{oops")])))
    (table,) = doc.xpath('//table[@class="kv stats"]')
    assert "{oops" in table.text_content()


def test_evidence_references() -> None:
    doc = _doc(_render())
    refs = [c.text_content() for c in doc.xpath('//ol[@class="evidence"]/li/code')]
    assert refs == [
        "logs/host1/Sysmon.evtx#100",
        "logs/host1/Sysmon.evtx#101",
        "logs/host1/Sysmon.evtx#102",
        "logs/ecs.ndjson:7",
    ]


# ------------------------------------------------------------------------- content


def test_summary_counts_and_ingest() -> None:
    rows = [finding_row(i) for i in range(10)]
    doc = _doc(_render(findings_table(rows)))
    summary = doc.xpath('//section[@id="summary"]')[0].text_content()
    for text in ("By platform", "Cloudflare Workers", "By host", "WS-000", "logs/", "invalid_json"):
        assert text in summary
    cards: dict[str, str] = {}
    for card in doc.xpath('//div[@class="card"]'):
        value = card.xpath("./b")[0].text
        cards[card.text_content()[: -len(value)].strip()] = value
    assert cards["critical"] == "2"
    assert cards["findings"] == "10"
    assert cards["suppressed"] == "7"
    assert cards["below low"] == "2"


@pytest.mark.parametrize(
    "summary",
    [{}, {"ingest": "not a dict", "inputs": "x"}, {"unexpected": {"deep": [1, {"x": "<b>"}]}}],
    ids=["empty", "wrong-types", "unknown-key"],
)
def test_any_summary_shape_renders(summary: dict[str, Any]) -> None:
    doc = _doc(_render(summary=summary))
    assert doc.xpath("//section[@id='summary']")
    # the "<b>" inside the data stays text: every <b> element is one of our count cards
    assert all(b.getparent().get("class") == "card" for b in doc.xpath("//b"))


def test_empty_tables() -> None:
    doc = _doc(_render(findings_table([]), incidents_table([])))
    assert "No findings." in doc.text_content()
    assert "No incidents." in doc.text_content()
    assert _data(doc)["rows"] == []


def test_incidents_ranked_with_story_and_finding_links() -> None:
    incidents = incidents_table(
        [
            incident_row(0, risk_score=20.0, host_name="LOW"),
            incident_row(
                1, risk_score=95.0, host_name="TOP", finding_ids=["0000000000000000", "zz"]
            ),
        ]
    )
    doc = _doc(_render(incidents=incidents))
    articles = doc.xpath('//article[@class="incident"]')
    assert [a.get("id") for a in articles] == ["i-inc-0001", "i-inc-0000"]
    story = [li.text_content() for li in articles[0].xpath('.//ol[@class="story"]/li')]
    assert story == incident_row()["story"]
    links = articles[0].xpath(".//a[@data-finding]")
    assert [a.get("href") for a in links] == ["#f-0000000000000000"]  # "zz" is not a finding


def test_first_page_is_server_rendered_and_ranked() -> None:
    rows = [finding_row(i, score=float(i)) for i in range(30)]
    doc = _doc(_render(findings_table(rows), page_size=10))
    articles = doc.xpath('//div[@id="rh-findings"]/article')
    assert len(articles) == 10
    assert articles[0].get("id") == f"f-{29:016x}"
    assert doc.xpath('//div[@id="rh-controls"]')[0].get("hidden") is not None
    assert "1\u201310 of 30" in doc.xpath('//p[@id="rh-status"]')[0].text_content()
    assert doc.xpath("//noscript")
    assert len(_data(doc)["rows"]) == 30


def test_five_thousand_findings_stay_compact(tmp_path: Path) -> None:
    # render time is measured by bench/report.py (docs/performance.md), not asserted here
    rows = [beacon_row(i) if i % 5 == 0 else finding_row(i) for i in range(5000)]
    findings = findings_table(rows)
    incidents = incidents_table([incident_row(i) for i in range(200)])
    path = tmp_path / "report.html"
    report_html.write_report(path, findings=findings, incidents=incidents, summary=SUMMARY)
    size = path.stat().st_size
    assert size < 40 * 1024 * 1024, size
    doc = _doc(path.read_text(encoding="utf-8"))
    assert len(doc.xpath('//div[@id="rh-findings"]/article')) == report_html.PAGE_SIZE
    assert len(_data(doc)["rows"]) == 5000


def test_write_findings_file_dispatches_on_suffix(tmp_path: Path) -> None:
    findings = findings_table([finding_row(0)])
    incidents = incidents_table([])
    for suffix in (".html", ".ndjson", ".csv"):
        path = tmp_path / f"out{suffix}"
        write_findings_file(path, findings=findings, incidents=incidents, summary=SUMMARY)
        assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="unknown output format"):
        write_findings_file(tmp_path / "out.xlsx", findings=findings, incidents=incidents)


# --------------------------------------------------------------- the page's script

NODE = shutil.which("node")


def _run_script(
    tmp_path: Path, text: str, steps: list[dict[str, Any]], hash_: str = ""
) -> dict[str, Any]:
    assert NODE is not None
    doc = _doc(text)
    (script,) = [s for s in doc.xpath("//script") if s.get("type") != "application/json"]
    (data,) = doc.xpath('//script[@id="rh-data"]')
    (tmp_path / "page.js").write_text(script.text, encoding="utf-8")
    (tmp_path / "data.json").write_text(data.text, encoding="utf-8")
    (tmp_path / "controls.json").write_text(json.dumps({"steps": steps, "hash": hash_}))
    shim = Path(__file__).with_name("dom_shim.js")
    done = subprocess.run(
        [
            NODE,
            str(shim),
            str(tmp_path / "page.js"),
            str(tmp_path / "data.json"),
            str(tmp_path / "controls.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_script_pages_and_filters(tmp_path: Path) -> None:
    rows = [finding_row(i, score=float(1000 - i)) for i in range(250)]
    text = _render(findings_table(rows), page_size=100)
    out = _run_script(
        tmp_path,
        text,
        [
            {"click": "rh-next"},
            {"click": "rh-next"},
            {"set": "rh-f-sev", "value": "critical"},
            {"set": "rh-f-host", "value": "WS-004"},
            {"set": "rh-f-host", "value": ""},
            {"set": "rh-f-sev", "value": ""},
            {"set": "rh-f-text", "value": "A24.ACME"},
            {"set": "rh-f-plat", "value": "AWS Lambda function URL"},
            {"set": "rh-f-text", "value": ""},
            {"link": f"{240:016x}"},
        ],
    )
    initial = out["initial"]
    assert initial["controls_hidden"] is False
    assert len(initial["ids"]) == 100
    assert initial["ids"][0] == f"f-{0:016x}"
    assert initial["status"] == "Showing 1\u2013100 of 250 findings"
    assert initial["prev_disabled"] is True

    page2, page3, crit, crit_host, _, cleared, text_hit, plat, _, linked = out["steps"]
    assert page2["page"] == "page 2 of 3" and page2["ids"][0] == f"f-{100:016x}"
    assert page3["next_disabled"] is True and len(page3["ids"]) == 50
    assert set(crit["severities"]) == {"critical"} and len(crit["ids"]) == 50
    assert crit["page"] == "page 1 of 1"
    assert all(h.startswith("WS-004") for h in crit_host["hosts"])
    assert len(crit_host["ids"]) == 7  # i % 40 == 4 (and so i % 5 == 4): 4, 44, ... 244
    assert cleared["status"] == "Showing 1\u2013100 of 250 findings"
    assert text_hit["ids"] == [f"f-{24:016x}"]  # a24.acme, not a240.acme ... a249.acme
    assert plat["ids"] == []  # finding 24 is on Workers (even i), not on Lambda
    assert plat["status"] == "No finding matches the filters."
    # a link to a finding hidden by the filters clears them and opens its page
    assert linked["page"] == "page 3 of 3"
    assert linked["open"] == [f"f-{240:016x}"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("payload", ["script_close", "attr_break", "bidi_override"])
def test_script_renders_hostile_values_as_text(tmp_path: Path, payload: str) -> None:
    value = HOSTILE[payload]
    text = _render(findings_table([finding_row(0, process_command_line=value, reason=value)]))
    out = _run_script(tmp_path, text, [])
    assert visible(value) in out["initial"]["first_text"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_script_opens_the_finding_named_in_the_url(tmp_path: Path) -> None:
    rows = [finding_row(i, score=float(1000 - i)) for i in range(30)]
    text = _render(findings_table(rows), page_size=10)
    out = _run_script(tmp_path, text, [], hash_=f"#f-{25:016x}")
    assert out["initial"]["page"] == "page 3 of 3"
    assert out["initial"]["open"] == [f"f-{25:016x}"]


# --------------------------------------------------------------- plots and guides

SVG = "{http://www.w3.org/2000/svg}"
BEACON_LABELS = ["process lineage", "check-in timeline", "interval histogram", "payload sizes"]


def _svg_labels(node: Any) -> list[str]:
    return [str(s.get("aria-label")) for s in node.iter("svg", f"{SVG}svg")]


def test_beacon_finding_has_its_plots_on_the_first_page() -> None:
    text = _render(findings_table([beacon_row(0), finding_row(1)]))
    doc = _doc(text)
    beacon, other = doc.xpath('//div[@id="rh-findings"]/article')
    labels = _svg_labels(beacon)
    assert len(labels) == 4
    assert [lab.split(":")[0] for lab in labels] == BEACON_LABELS
    assert _svg_labels(other) == ["process lineage"]  # a process, no series
    # the series is plotted, not dumped into the statistics table
    stats = beacon.xpath('.//table[contains(@class, "stats")]')[0].text_content()
    assert "series" in stats and "plotted above" in stats
    assert "interval_histogram" not in stats and "1800" not in stats
    # and the data rows carry the same figures for the script
    rows = _data(doc)["rows"]
    figs = rows[0][report_html.VIEW_KEYS.index("figs")]
    assert [f["label"].split(":")[0] for f in figs] == BEACON_LABELS


def test_plots_are_in_the_csp_and_need_nothing_external() -> None:
    text = _render(findings_table([beacon_row(0)]))
    assert "<svg" in text
    assert not re.search(r"<(img|object|embed|iframe|use|image|foreignObject)\b", text)
    assert " style=" not in text  # inline style attributes would need 'unsafe-inline'


def test_hostile_lineage_is_text_in_svg() -> None:
    value = HOSTILE["script_close"]
    row = beacon_row(0, process_name=value, process_parent_name=HOSTILE["attr_break"])
    text = _render(findings_table([row]))
    doc = _doc(text)
    assert len(doc.xpath("//script")) == 2
    assert not doc.xpath("//img")
    (svg,) = [s for s in doc.iter("svg") if s.get("aria-label") == "process lineage"]
    shown = svg.text_content()
    assert visible(value)[:20] in shown  # clipped in the box, as text
    assert visible(HOSTILE["attr_break"])[:20] in shown


def test_sampled_series_is_declared() -> None:
    row = beacon_row(0, stats=beacon_stats(n=9000, shown=500))
    doc = _doc(_render(findings_table([row])))
    text = doc.xpath('//div[@id="rh-findings"]/article')[0].text_content()
    assert "200 of 9,000 check-ins drawn" in text
    assert "500 kept in the finding, an even sample by index" in text


class _Pivot:
    def __init__(self, title: str, query: str) -> None:
        self.title, self.query = title, query


class _Guide:
    def __init__(self, rule_id: str, text: str) -> None:
        self.rule_id = rule_id
        self.title = f"Guide {text}"
        self.summary = text
        self.look_first = [text, "the parent process"]
        self.pivots = {
            "kql": [_Pivot(text, 'DeviceNetworkEvents\n| where RemoteUrl == "{domain}"')]
        }
        self.confirm = [text]
        self.dismiss = ["a known CI agent"]
        self.contain = ["block the tenant hostname, not the platform"]


def test_guides_once_per_rule_linked_from_findings() -> None:
    value = HOSTILE["script_close"]
    guides = {"RH-SL-005": _Guide("RH-SL-005", value), "RH-SL-999": _Guide("RH-SL-999", "x")}
    rows = [beacon_row(0), beacon_row(1), finding_row(2)]
    text = report_html.render_report(
        findings=findings_table(rows), incidents=incidents_table([]), summary={}, guides=guides
    )
    doc = _doc(text)
    sections = doc.xpath('//section[@id="guides"]/details')
    assert [s.get("id") for s in sections] == ["g-RH-SL-005"]  # only rules that fired
    guide = sections[0]
    assert visible(value) in guide.text_content()
    assert len(doc.xpath("//script")) == 2
    (pre,) = guide.xpath(".//pre")
    assert pre.text_content() == 'DeviceNetworkEvents\n| where RemoteUrl == "{domain}"'
    links = doc.xpath('//div[@id="rh-findings"]//a[@data-guide]')
    assert [a.get("href") for a in links] == ["#g-RH-SL-005", "#g-RH-SL-005"]
    assert _data(doc)["guides"] == ["RH-SL-005"]


def test_no_guides_no_section() -> None:
    text = report_html.render_report(
        findings=findings_table([finding_row(0)]),
        incidents=incidents_table([]),
        summary={},
        guides={},
    )
    assert 'id="guides"' not in text


def test_bundled_guides_are_used_when_installed() -> None:
    pytest.importorskip("relayhunt.guides")
    guides = report_html.load_guides(["RH-SL-005", "RH-NOPE-000"])
    assert list(guides) == ["RH-SL-005"]
    text = report_html.render_report(
        findings=findings_table([beacon_row(0)]), incidents=incidents_table([]), summary={}
    )
    assert _doc(text).xpath('//details[@id="g-RH-SL-005"]')


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_script_draws_the_same_figures_as_svg(tmp_path: Path) -> None:
    value = HOSTILE["script_tag"]
    rows = [beacon_row(0, process_name=value), finding_row(1)]
    text = report_html.render_report(
        findings=findings_table(rows),
        incidents=incidents_table([]),
        summary={},
        guides={"RH-SL-005": _Guide("RH-SL-005", "x")},
    )
    out = _run_script(tmp_path, text, [])
    figs = out["initial"]["figures"]
    server = [_svg_labels(a) for a in _doc(text).xpath('//div[@id="rh-findings"]/article')]
    assert [[f["label"] for f in fs] for fs in figs] == server
    for fig in figs[0]:
        assert fig["ns"] == "http://www.w3.org/2000/svg"
        assert set(fig["tags"]) <= {"svg", "path", "rect", "line", "text", "title", "#text"}
        assert set(fig["attrs"]) == {"class", "role", "viewBox", "width", "height", "aria-label"}
    lineage = figs[0][0]
    assert visible(value)[:20] in lineage["text"]  # clipped in its box, as text
    # the same text as the server-rendered SVG (titles included)
    first = _doc(text).xpath('//div[@id="rh-findings"]/article')[0]
    svg = next(s for s in first.iter("svg") if s.get("aria-label") == "process lineage")
    assert lineage["text"] == svg.text_content()
    assert out["initial"]["guide_links"] == ["#g-RH-SL-005", None]
