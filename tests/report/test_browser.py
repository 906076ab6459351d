"""The report in a real browser: headless Chromium over the DevTools protocol.

A hunt over emulated adversary and benign telemetry (``relayhunt.emulate``) with a hostile
command line planted in it; the report is opened from a ``file://`` URL, and the test
asserts: no console error, exception or CSP violation; the incidents and the SVG plots are
in the rendered DOM (and have a size: they are drawn); the ``<script>`` command line is
text (no element created, no dialog); an incident's finding link opens that finding.

Chromium is Debian's ``chromium`` package (``$RELAYHUNT_CHROMIUM`` overrides the path).
Without it the tests skip, unless ``RELAYHUNT_REQUIRE_BROWSER=1`` (CI), where they fail.
``RELAYHUNT_UPDATE_SCREENSHOT=1`` also writes docs/report-screenshot.png.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relayhunt.api import hunt
from relayhunt.emulate.emulate import emulate
from relayhunt.emulate.scenarios import BY_NAME as SCENARIOS
from relayhunt.emulate.writers import BY_NAME as FORMATS
from relayhunt.report import html as report_html
from relayhunt.report.context import with_process_ancestors
from tests.report.chromium import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "report-screenshot.png"
HOSTILE_CMD = '<script>alert("rh-xss")</script><img src=x onerror=alert("rh-img")>'
SCENARIO_NAMES = (
    "t1583-powershell-workers",
    "t1583-python-lambda",
    "t1583-wscript-apps-script",
    "c2-sliver",
    "c2-cobalt-strike",
    "benign-browsers",
    "benign-cicd-agent",
    "benign-m365-heartbeats",
)
# Record dialogs instead of showing them; runs before any page script (and is not subject
# to the page's CSP, so it works even though the page allows no other script).
TRAP = """
window.__rhDialogs = [];
for (const k of ["alert", "confirm", "prompt"]) {
  window[k] = function (m) { window.__rhDialogs.push(k + ":" + String(m)); };
}
"""


def _chromium() -> str:
    exe = find_chromium()
    if exe is None:
        reason = (
            "chromium is not installed (Debian: apt-get install chromium; or set "
            "RELAYHUNT_CHROMIUM)"
        )
        if os.environ.get("RELAYHUNT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"RELAYHUNT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return exe


def _plant_hostile_command_line(ecs_file: Path) -> int:
    """Append HOSTILE_CMD to the command line of every PowerShell process event."""
    lines = ecs_file.read_text(encoding="utf-8").splitlines()
    planted = 0
    out = []
    for line in lines:
        doc = json.loads(line)
        proc = doc.get("process") or {}
        if str(proc.get("name", "")).lower() == "powershell.exe" and proc.get("command_line"):
            proc["command_line"] += " " + HOSTILE_CMD
            planted += 1
        out.append(json.dumps(doc))
    ecs_file.write_text("\n".join(out) + "\n", encoding="utf-8")
    return planted


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("browser")
    em = emulate(
        work / "telemetry", [SCENARIOS[n] for n in SCENARIO_NAMES], [FORMATS["ecs"]], seed=3
    )
    (ecs,) = em.files["ecs"]
    assert _plant_hostile_command_line(Path(ecs)) > 0
    with hunt([str(Path(ecs).parent)], em.tuning_path) as result:
        findings = with_process_ancestors(result.findings, result.store.con)
        assert findings.num_rows and result.incidents.num_rows
        assert "RH-SL-005" in findings.column("rule_id").to_pylist()
        assert any(HOSTILE_CMD in (c or "") for c in findings["process_command_line"].to_pylist())
        path = work / "report.html"
        report_html.write_report(
            path, findings=findings, incidents=result.incidents, summary=result.summary
        )
    return path


@pytest.fixture(scope="module")
def page(report_file: Path) -> Iterator[tuple[Browser, str]]:
    with Browser(_chromium()) as browser:
        session = browser.open_page()
        browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": TRAP}, session=session)
        browser.call("Page.navigate", {"url": report_file.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", lambda e: e.get("sessionId") == session)
        yield browser, session


def _problems(browser: Browser) -> list[str]:
    out = []
    for e in browser.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(f"console.{params['type']}: {json.dumps(params.get('args'))[:300]}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"log ({entry.get('source')}): {entry.get('text')}")
        elif method == "Page.javascriptDialogOpening":
            out.append(f"dialog: {params.get('message')}")
    return out


DOM_FACTS = """
(() => {
  const all = (root, sel) => Array.from(root.querySelectorAll(sel));
  const list = document.getElementById("rh-findings");
  return {
    scripts: all(document, "script").length,
    imgs: all(document, "img").length,
    dialogs: window.__rhDialogs,
    incidents: all(document, "#incidents article.incident").length,
    findings: all(list, "article.finding").length,
    controlsShown: !document.getElementById("rh-controls").hidden,
    svgs: all(list, "svg").map((s) => [s.namespaceURI, s.getAttribute("aria-label")]),
    listText: list.textContent,
  };
})()
"""


def test_loads_without_console_errors(page: tuple[Browser, str]) -> None:
    browser, session = page
    facts = browser.evaluate(session, DOM_FACTS)
    assert facts["findings"] > 0
    assert _problems(browser) == []


def test_incidents_and_plots_are_rendered(page: tuple[Browser, str]) -> None:
    browser, session = page
    facts = browser.evaluate(session, DOM_FACTS)
    assert facts["incidents"] > 0
    assert facts["controlsShown"] is True  # the page script ran
    kinds = {label.split(":")[0] for ns, label in facts["svgs"]}
    assert {"process lineage", "check-in timeline", "interval histogram"} <= kinds
    assert {ns for ns, _ in facts["svgs"]} == {"http://www.w3.org/2000/svg"}
    # open the first beacon finding: its plots take up space and the dots are drawn
    size = browser.evaluate(
        session,
        """(() => {
          const svg = document.querySelector('#rh-findings svg[aria-label^="check-in"]');
          svg.closest("details").open = true;
          const box = svg.getBoundingClientRect();
          const dots = svg.querySelector("path.dot").getBBox();
          return [box.width, box.height, dots.width, dots.height];
        })()""",
    )
    assert size[0] > 200 and size[1] > 50 and size[2] > 50 and size[3] > 0


def test_script_command_line_is_text(page: tuple[Browser, str]) -> None:
    browser, session = page
    facts = browser.evaluate(session, DOM_FACTS)
    assert HOSTILE_CMD in facts["listText"]
    assert facts["scripts"] == 2  # the page's data and script, nothing planted
    assert facts["imgs"] == 0
    assert facts["dialogs"] == []
    assert not [e for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]


def test_incident_link_opens_its_finding(page: tuple[Browser, str]) -> None:
    browser, session = page
    opened = browser.evaluate(
        session,
        """(() => {
          const a = document.querySelector('#incidents a[data-finding]');
          a.click();
          const f = document.getElementById("f-" + a.getAttribute("data-finding"));
          return f !== null && f.querySelector("details").open;
        })()""",
    )
    assert opened is True
    assert _problems(browser) == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_screenshot(page: tuple[Browser, str], tmp_path: Path) -> None:
    browser, session = page
    browser.evaluate(
        session,
        """(() => {
          // the finding with the most plots (a beacon with byte counts, where there is one)
          const svg = document.querySelector('#rh-findings svg[aria-label^="payload"]')
            || document.querySelector('#rh-findings svg[aria-label^="check-in"]');
          const art = svg.closest("article");
          art.querySelector("details").open = true;
          svg.closest(".plots").scrollIntoView();
          window.scrollBy(0, -260);  // the finding's process and destination tables too
          return true;
        })()""",
    )
    shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
    data = base64.b64decode(shot["data"])
    width, height = _png_size(data)
    assert width >= 800 and height >= 600
    out: Any = tmp_path / "report.png"
    out.write_bytes(data)
    if os.environ.get("RELAYHUNT_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(out, SCREENSHOT)


def test_missing_browser_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYHUNT_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("RELAYHUNT_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="RELAYHUNT_REQUIRE_BROWSER=1"):
        _chromium()
    monkeypatch.delenv("RELAYHUNT_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        _chromium()
