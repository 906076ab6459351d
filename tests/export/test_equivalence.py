"""Behavioural equivalence: the exported Sigma rules, executed by pySigma's SQLite backend
(``sigma_exec.py``) over the emulated scenarios, fire where the ground truth says the
relayhunt rules fire and stay quiet on the benign scenarios; the relayhunt engine is run
over the same files so that the "engine vs Sigma" table in docs/exports.md is measured.

Endpoint scenarios: all 25 emulated together (one estate) as Sysmon via NXLog flattened
JSON, findings and alerts attributed to scenarios by host. Cloud scenarios: each emulated
alone as CloudTrail, Google Cloud audit and Azure Activity logs (the cloud scenarios share
accounts, so each gets its own files), every record of a folder belonging to it.

Both are run twice: untuned, and with the emulation's ``tuning.yaml`` (the engine hunting
with it, the Sigma rules exported with its allowlist rendered in, ``--config``).

Where Sigma cannot do what the engine does, the divergence is listed (``MISSES``,
``FALSE_POSITIVES``, ``EXTRA``, ``TUNED_EXCEPTIONS``) with its reason; a listed divergence
that stops happening fails the test (stale).
Print the table with ``pytest tests/export/test_equivalence.py -s``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from relayhunt.api import hunt
from relayhunt.config import load_config
from relayhunt.emulate.emulate import emulate
from relayhunt.emulate.scenarios import SCENARIOS
from relayhunt.emulate.writers import FORMATS
from relayhunt.export import build_spec, render
from relayhunt.export.allowlist import Allowlist

from . import sigma_exec as se

ENDPOINT_FORMAT = "sysmon-json"
CLOUD_FORMATS = {"aws": "cloudtrail", "gcp": "gcp-audit", "azure": "azure-activity"}
# hunted by the engine for the table; no Sigma logsource
ENGINE_ONLY_FORMATS = ("cloudflare-audit",)
LOADERS = {"aws": se.cloudtrail_rows, "gcp": se.gcp_rows, "azure": se.azure_rows}
SIGMA_EXPORTED = {
    "RH-SL-001",
    "RH-SL-002",
    "RH-SL-003",
    "RH-SL-005",
    *(f"RH-CP-00{i}" for i in range(1, 6)),
}

# Known divergences, each with its reason; a listed divergence that no longer happens
# fails the test (stale).
# (adversary scenario, rule the truth expects) -> why the Sigma export misses it.
MISSES: dict[tuple[str, str], str] = {
    ("t1584-beacon-httpbin", "RH-SL-005"): "the beacon goes to httpbin.org: the Sigma beacon "
    "rule counts lookups of catalogued serverless names, it has no timing test that could "
    "find a beacon to any other destination",
    ("c2-havoc", "RH-SL-005"): "the demon resolves the Cloud Run name only when the cached "
    "answer expires (a handful of lookups in 20 minutes), so a lookup count cannot reach "
    "12; the engine times the connections (EID 3 joined to the lookups by process)",
    ("c2-apps-script-slow", "RH-SL-005"): "one check-in every ~4 h for three days: never 12 "
    "lookups in a 24 h window; the engine's interval test needs no window",
    ("t1584-wrangler-deploy", "RH-CP-*"): "Cloudflare audit logs have no Sigma logsource "
    "(and no SigmaHQ field conventions): RH-CP is exported for AWS, Google Cloud, Azure",
}
# (benign scenario, rule) -> (why Sigma fires there, whether the untuned engine fires too).
FALSE_POSITIVES: dict[tuple[str, str], tuple[str, bool]] = {
    ("benign-monitoring-agent", "RH-SL-001"): (
        "an agent the estate allowlists (tuning.yaml); exported with --config the entry "
        "becomes a filter (test_tuned_sigma_quiet_where_tuned_engine_quiet)",
        True,
    ),
    ("benign-monitoring-agent", "RH-SL-005"): ("allowlisted agent (as above)", True),
    ("benign-cicd-agent", "RH-SL-001"): ("allowlisted agent (as above)", True),
    ("benign-backup-sync", "RH-SL-001"): ("allowlisted agent (as above)", True),
    ("benign-backup-sync", "RH-SL-005"): ("allowlisted agent (as above)", True),
    ("benign-developer-tools", "RH-SL-001"): ("allowlisted developer tools (as above)", True),
    ("benign-developer-tools", "RH-SL-002"): ("allowlisted developer tools (as above)", True),
    ("benign-developer-tools", "RH-SL-005"): (
        "allowlisted; and a count, not a timing test: wrangler dev and the test runs look "
        "the team's hosts up more than 12 times a day, irregularly, which the engine's "
        "interval tests reject",
        False,
    ),
    ("benign-gcp-ci-deploys", "RH-CP-001"): (
        "the engine learns that a principal deploying on 2+ days is established; a "
        "per-event rule has no history, so the daily CI deployer fires unless it is listed "
        "under deployers (test_deployer_list_silences_benign_deploys)",
        False,
    ),
    ("benign-azure-devops-deploys", "RH-CP-001"): (
        "as above, for the Azure DevOps service principal",
        False,
    ),
}
# With the emulation's tuning.yaml rendered in (``--config``): (benign scenario, rule) ->
# why the tuned Sigma rule still fires where the tuned engine is quiet. Each is something
# a per-event rule cannot do; a listed exception that stops happening fails the test.
TUNED_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("benign-cicd-agent", "RH-SL-001"): "the entry pins the parent (Runner.Worker.exe): a "
    "Sysmon DNS event (EID 22) has no ParentImage, and rendering the entry without it would "
    "exclude more than it says, so the entry is skipped for this rule (the engine joins the "
    "lookup to the process start for the parent)",
    ("benign-backup-sync", "RH-SL-001"): "as above: the Veeam entry pins the parent service",
    ("benign-backup-sync", "RH-SL-005"): "as above (the beacon base rule is a DNS event too)",
    ("benign-developer-tools", "RH-SL-002"): "the entry pins the destination; on a process "
    "start the engine's destination is the hostname taken from the command line, and a "
    "per-event rule cannot tell which of the names on it an exclusion is about",
}
TODAY = dt.date(2026, 6, 1)
"""The date the tuning file is judged on (its entries carry no expiry today; fixed so
that the test never depends on the clock)."""

# (adversary scenario, rule) -> why Sigma fires a rule the engine does not fire there.
EXTRA: dict[tuple[str, str], str] = {
    ("t1584-azure-function-anonymous", "RH-CP-001"): "the engine classifies the functions/"
    "write with an anonymous authLevel once, as public access (RH-CP-002); the request "
    "body is on the Start entry only, so the Success entry matches RH-CP-001's "
    "function-write operations too",
}


@dataclass
class Row:
    scenario: str
    kind: str
    expected: set[str] = field(default_factory=set)  # rule ids the truth expects (judged)
    engine: set[str] = field(default_factory=set)
    sigma: set[str] = field(default_factory=set)
    # with the emulation's tuning.yaml: the engine hunting with it, Sigma exported with it
    engine_tuned: set[str] = field(default_factory=set)
    sigma_tuned: set[str] = field(default_factory=set)
    # endpoint: (rule, host) pairs the truth expects and Sigma alerted on
    expected_hosts: set[tuple[str, str]] = field(default_factory=set)
    sigma_hosts: set[tuple[str, str]] = field(default_factory=set)


def _truth_rules(sc: dict[str, object], formats: set[str]) -> set[str]:
    out: set[str] = set()
    for e in sc["expect"]:  # type: ignore[attr-defined]
        if any(e["formats"].get(f) == "expected" for f in formats):
            out.add(e["rule"])
    return out


def _sigma_fires(
    text_by_path: dict[str, tuple[tuple[str, ...], str]], product: str, con: object
) -> dict[str, set[int]]:
    """relayhunt rule id -> rowids of the events of every alert of its Sigma rules."""
    out: dict[str, set[int]] = defaultdict(set)
    pipe = se.windows_pipeline()
    for rule_ids, text in text_by_path.values():
        for rule, query in se.convert_file(text, pipe):
            if se.logsource_product(rule) != product:
                continue
            # the weak network_connection variant of RH-SL-001 (reverse DNS) is run with
            # the rest; on the emulation it never matches (PTR names are CDN names)
            ids = se.run_query(con, rule, query)  # type: ignore[arg-type]
            for rid in rule_ids:
                out[rid].update(ids)
    return out


def _sigma_texts(
    deployers: tuple[str, ...] = (), allowlist: Allowlist | None = None
) -> dict[str, tuple[tuple[str, ...], str]]:
    rendered = render(["sigma"], build_spec(deployers=deployers, allowlist=allowlist))
    return {f.path: (f.rule_ids, f.text) for f in rendered.files}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Row]:
    root = tmp_path_factory.mktemp("equivalence")
    fmts = {f.name: f for f in FORMATS}
    rows: dict[str, Row] = {}
    # -- endpoint: one estate
    em = emulate(root / "estate", SCENARIOS, [fmts[ENDPOINT_FORMAT]])
    truth = em.truth["scenarios"]
    host_owner: dict[str, str] = {}
    host_name: dict[str, str] = {}
    for sc in truth:
        rows[sc["name"]] = Row(sc["name"], sc["kind"])
        rows[sc["name"]].expected |= _truth_rules(sc, {ENDPOINT_FORMAT})
        rows[sc["name"]].expected_hosts |= {
            (e["rule"], e["host"])
            for e in sc["expect"]
            if e["host"] and e["formats"].get(ENDPOINT_FORMAT) == "expected"
        }
        for h in sc["hosts"]:
            for key in (h["name"], h["fqdn"], *h["ids"]):
                host_owner[str(key).lower()] = sc["name"]
                host_name[str(key).lower()] = h["name"]
    folder = root / "estate" / ENDPOINT_FORMAT
    with hunt([folder], profile="default") as result:
        for f in result.findings.to_pylist():
            rows[host_owner[str(f["host_name"]).lower()]].engine.add(f["rule_id"])
    with hunt([folder], em.tuning_path, profile="default") as result:
        for f in result.findings.to_pylist():
            rows[host_owner[str(f["host_name"]).lower()]].engine_tuned.add(f["rule_id"])
    con = se.connect(se.sysmon_json_rows(next(folder.rglob("*.json"))))
    computer = dict(con.execute("SELECT rowid, Computer FROM logs").fetchall())
    for rid, ids in _sigma_fires(_sigma_texts(), "windows", con).items():
        for i in ids:
            key = str(computer[i]).lower()
            rows[host_owner[key]].sigma.add(rid)
            rows[host_owner[key]].sigma_hosts.add((rid, host_name[key]))
    tuned = Allowlist.from_config(load_config(em.tuning_path), today=TODAY)
    assert tuned.active, "the emulation's tuning.yaml has no allowlist"
    for rid, ids in _sigma_fires(_sigma_texts(allowlist=tuned), "windows", con).items():
        for i in ids:
            rows[host_owner[str(computer[i]).lower()]].sigma_tuned.add(rid)
    # -- cloud: each scenario alone
    tuning = load_config(em.tuning_path)
    assert tuning.deployers, "the emulation's tuning.yaml lists no deployers"
    tuned_cloud_texts = _sigma_texts(tuning.deployers)
    for sc in SCENARIOS:
        out = root / sc.name
        cloud_fmts = [*CLOUD_FORMATS.values(), *ENGINE_ONLY_FORMATS]
        em1 = emulate(out, [sc], [fmts[f] for f in cloud_fmts])
        (sc_truth,) = em1.truth["scenarios"]
        rows[sc.name].expected |= _truth_rules(sc_truth, set(cloud_fmts))
        for fmt in cloud_fmts:
            if fmt in em1.files:
                with hunt([out / fmt], profile="default") as result:
                    rows[sc.name].engine |= {f["rule_id"] for f in result.findings.to_pylist()}
                # tuned: the estate's tuning file (its deployers; the allowlist names
                # endpoints, and the exports give RH-CP no allowlist filter: docs/exports.md)
                with hunt([out / fmt], tuning, profile="default") as result:
                    rows[sc.name].engine_tuned |= {
                        f["rule_id"]
                        for f in result.findings.to_pylist()
                        if f["rule_id"].startswith("RH-CP")
                    }
        for product, fmt in CLOUD_FORMATS.items():
            if fmt not in em1.files:
                continue
            con = se.connect(LOADERS[product](out / fmt))
            for rid, ids in _sigma_fires(_sigma_texts(), product, con).items():
                if ids:
                    rows[sc.name].sigma.add(rid)
            for rid, ids in _sigma_fires(tuned_cloud_texts, product, con).items():
                if ids and rid.startswith("RH-CP"):
                    rows[sc.name].sigma_tuned.add(rid)
    return rows


def _covered(expected_rule: str, fired: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(r, expected_rule) for r in fired)


def test_sigma_fires_on_adversary_scenarios(table: dict[str, Row]) -> None:
    missed, stale = [], []
    for row in table.values():
        if row.kind != "adversary":
            continue
        for rule in sorted(row.expected):
            if not any(fnmatch.fnmatchcase(r, rule) for r in SIGMA_EXPORTED):
                continue  # RH-SL-004: not exported to Sigma (fleet rarity)
            hit = _covered(rule, row.sigma)
            key = (row.scenario, rule)
            if not hit and key not in MISSES:
                missed.append(key)
            if hit and key in MISSES:
                stale.append(key)
        for rule, host in sorted(row.expected_hosts):
            if (row.scenario, rule) in MISSES or rule not in SIGMA_EXPORTED:
                continue
            if (rule, host) not in row.sigma_hosts:
                missed.append((row.scenario, f"{rule} on {host}"))
    for key in MISSES:
        assert key[1] in table[key[0]].expected, f"{key}: no longer expected by the truth"
    assert not missed, f"Sigma misses: {missed}"
    assert not stale, f"listed as misses but Sigma fires now: {stale}"


def test_sigma_quiet_on_benign_scenarios(table: dict[str, Row]) -> None:
    fps, stale = [], []
    for row in table.values():
        if row.kind != "benign":
            continue
        for rule in sorted(row.sigma):
            if (row.scenario, rule) not in FALSE_POSITIVES:
                fps.append((row.scenario, rule))
    for (scenario, rule), (_why, engine_too) in FALSE_POSITIVES.items():
        if rule not in table[scenario].sigma:
            stale.append((scenario, rule))
        # the engine without the estate's tuning fires the same rule there, or does not
        assert (rule in table[scenario].engine) == engine_too, (scenario, rule)
    assert not fps, f"Sigma false positives: {fps}"
    assert not stale, f"listed false positives that no longer happen: {stale}"


def test_sigma_never_fires_where_engine_is_quiet_on_adversary_hosts(table: dict[str, Row]) -> None:
    """On adversary scenarios, every rule Sigma fires is one the engine fires too (Sigma
    adds no finding of its own kind there)."""
    extra = {
        (row.scenario, rule)
        for row in table.values()
        if row.kind == "adversary"
        for rule in row.sigma - row.engine
    }
    assert extra == set(EXTRA), extra


def test_deployer_list_silences_benign_deploys(tmp_path: Path) -> None:
    """With the estate's deployers rendered in, the daily CI deploys are quiet and the
    hijacks still fire."""
    deployers = ("gha-deployer@*.iam.gserviceaccount.com", "3f9a7c2e-1d4b-4e6f-8a0c-5b7d9e1f2a3c")
    fmts = {f.name: f for f in FORMATS}
    cases = {
        "benign-gcp-ci-deploys": ("gcp", False),
        "benign-azure-devops-deploys": ("azure", False),
        "t1584-gcp-function-hijack": ("gcp", True),
        "t1584-azure-function-zipdeploy": ("azure", True),
    }
    by_name = {sc.name: sc for sc in SCENARIOS}
    texts = _sigma_texts(deployers)
    for name, (product, should_fire) in cases.items():
        out = tmp_path / name
        emulate(out, [by_name[name]], [fmts[CLOUD_FORMATS[product]]])
        con = se.connect(LOADERS[product](out / CLOUD_FORMATS[product]))
        fired = {r for r, ids in _sigma_fires(texts, product, con).items() if ids}
        if should_fire:
            assert {"RH-CP-001", "RH-CP-002"} <= fired, (name, fired)
        else:
            assert not fired, (name, fired)


def test_tuned_sigma_quiet_where_tuned_engine_quiet(table: dict[str, Row]) -> None:
    """With the emulation's tuning.yaml exported into the rules, Sigma is quiet on the
    benign scenarios wherever the tuned engine is, except for TUNED_EXCEPTIONS."""
    extra, stale = [], []
    for row in table.values():
        if row.kind != "benign":
            continue
        for rule in sorted(row.sigma_tuned - row.engine_tuned):
            if (row.scenario, rule) not in TUNED_EXCEPTIONS:
                extra.append((row.scenario, rule))
    for (scenario, rule), _why in TUNED_EXCEPTIONS.items():
        row = table[scenario]
        if rule not in row.sigma_tuned or rule in row.engine_tuned:
            stale.append((scenario, rule))
    assert not extra, f"tuned Sigma fires where the tuned engine is quiet: {extra}"
    assert not stale, f"listed tuned exceptions that no longer happen: {stale}"


def test_tuning_silences_something_and_keeps_the_attacks(table: dict[str, Row]) -> None:
    """The rendered allowlist removes alerts on the benign scenarios, never one on an
    adversary scenario (the entries name the estate's own tools and endpoints)."""
    silenced = {(row.scenario, r) for row in table.values() for r in row.sigma - row.sigma_tuned}
    assert ("benign-monitoring-agent", "RH-SL-001") in silenced
    assert ("benign-developer-tools", "RH-SL-005") in silenced
    for row in table.values():
        if row.kind == "adversary":
            assert row.sigma_tuned == row.sigma, row.scenario
        assert row.sigma_tuned <= row.sigma, row.scenario


def test_print_table(table: dict[str, Row]) -> None:
    """The table of docs/exports.md (run with -s to see it)."""
    lines = [
        "| scenario | kind | truth | engine (untuned) | Sigma (untuned) | engine (tuned) "
        "| Sigma (tuned) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.values():

        def fmt(s: set[str]) -> str:
            return ", ".join(sorted(s)) or "–"

        lines.append(
            f"| `{row.scenario}` | {row.kind} | {fmt(row.expected)} | "
            f"{fmt(row.engine)} | {fmt(row.sigma)} | {fmt(row.engine_tuned)} | "
            f"{fmt(row.sigma_tuned)} |"
        )
    print("\n" + "\n".join(lines))
    assert len(lines) == len(table) + 2 == len(SCENARIOS) + 2
