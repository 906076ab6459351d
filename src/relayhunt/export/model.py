"""One description of each exportable rule, built from the catalog and the rule metadata.

Every renderer (``sigma.py``, ``kql.py`` ...) reads only an :class:`ExportSpec`: the host
patterns come from the one catalog (``src/relayhunt/catalog/serverless.yaml``), the process
classes from ``processes.yaml``, and the titles, ATT&CK ids, severities, tuning notes and
thresholds from the rules' own :class:`relayhunt.detect.base.Rule` metadata. Nothing is
copied by hand.

Safety: a hostname pattern's fixed part must be made of ``[a-z0-9_-]`` labels and a
placeholder regex of a small regex alphabet (no quotes, slashes, backslashes, ``$`` ...).
A catalog that breaks this is refused with :class:`ExportError` instead of being rendered;
every value is then also escaped for the target language's literal syntax (``escape.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from relayhunt.catalog import Catalog, load_catalog
from relayhunt.detect import (
    beacon,
    cloud,
    cmdline_url,
    rarity,
    script_chain,
    serverless_egress,
)
from relayhunt.detect.base import Rule
from relayhunt.export.allowlist import Allowlist

EULER_GAMMA: Final = 0.5772156649015329
PI2_6_MINUS_1: Final = 0.6449340668482264  # pi^2 / 6 - 1
LABEL_RE: Final = re.compile(r"[a-z0-9_-]+")
PLACEHOLDER_RE: Final = re.compile(r"\{([a-z0-9_]+)\}")
# Characters a placeholder regex may use: enough for the catalog's region shapes, none that
# can end a string or regex literal in any target language.
REGEX_ALPHABET: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789[]{}()|?*+^.,-")
# Characters that end a hostname on a command line (left and right label boundary).
HOST_CHARS: Final = "a-z0-9_.-"


class ExportError(ValueError):
    """The catalog or rule metadata cannot be exported safely."""


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One catalog entry as the exports need it."""

    entry_id: str
    platform: str
    provider: str
    kind: str
    weight: float
    pattern: str  # as in the catalog, with {placeholders}
    suffix: str | None  # the whole pattern when it has no placeholder (plain suffix match)
    core_regex: str  # unanchored, no flags, matches exactly the pattern's labels

    @property
    def is_plain(self) -> bool:
        return self.suffix is not None


@dataclass(frozen=True, slots=True)
class ExportRule:
    """The metadata of one rule as every export states it."""

    id: str
    title: str
    description: str
    techniques: tuple[str, ...]
    severity: str
    confidence: str
    false_positives: tuple[str, ...]
    thresholds: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attack_tags(self) -> tuple[str, ...]:
        """Sigma-style ``attack.t1583.007`` tags."""
        return tuple(f"attack.{t.lower()}" for t in self.techniques)


@dataclass(frozen=True, slots=True)
class BeaconSpec:
    """What the SIEM beacon rules can express of RH-SL-005 (counts and interval spread)."""

    min_checkins: int = 12  # sources 000/001 use 12; the engine's own minimum is 8
    window_h: int = 24
    min_hours: int = 3  # distinct hour buckets (source 001)
    max_interval_cv: float = 0.35  # stdev / mean of the gaps; jittered beacons stay below
    max_avg_sent: int = 4096
    max_avg_received: int = 16384
    merge_s: float = 1.0
    moran_z: float = 2.0  # the engine's candidate_z: Moran's s this many sd below Poisson

    def moran_z_expr(self, s: str, m: str, ln: str = "log") -> str:
        """An expression for the z-score of Moran's statistic ``s = ln(mean gap) - mean(ln
        gap)`` over ``m`` gaps against its mean and standard deviation under Poisson timing
        (the series the engine's candidate cut uses, beacon/engine.py); a beacon's regular
        gaps give a large negative z. Only ``+ - * /``, ``sqrt`` and parentheses."""
        mean = f"({EULER_GAMMA!r} - 1 / (2.0 * {m}) - 1 / (12.0 * {m} * {m}))"
        var = f"({PI2_6_MINUS_1!r} / {m} - 1 / (2.0 * {m} * {m}) - 1 / (6.0 * {m} * {m} * {m}))"
        return f"(({s}) - {mean}) / sqrt({var})"


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """Everything a renderer needs; built by :func:`build_spec`."""

    catalog_version: str
    processes_version: str
    hosts: tuple[HostPattern, ...]
    browsers: tuple[str, ...]
    lolbins: Mapping[str, tuple[str, ...]]  # subcategory -> names
    script_hosts: tuple[str, ...]
    script_extensions: tuple[str, ...]
    rules: Mapping[str, ExportRule]
    beacon: BeaconSpec
    deployers: tuple[str, ...] = ()
    """Principal globs (``*``, ``?``) expected to change functions: the tuning file's
    top-level ``deployers``, rendered into the RH-CP exports as exclusions."""
    allowlist: Allowlist | None = None
    """The tuning file's allowlist (active and expired entries, the date used), rendered
    as exclusions (``allowlist.py``); None without ``--config``."""

    @property
    def plain_suffixes(self) -> tuple[str, ...]:
        return tuple(h.suffix for h in self.hosts if h.suffix is not None)

    @property
    def placeholder_hosts(self) -> tuple[HostPattern, ...]:
        return tuple(h for h in self.hosts if h.suffix is None)

    @property
    def all_lolbins(self) -> tuple[str, ...]:
        return tuple(sorted({n for names in self.lolbins.values() for n in names}))

    def host_alternation(self) -> str:
        """``(?:a|b|...)``: every pattern's core regex, most specific first."""
        return "(?:" + "|".join(h.core_regex for h in self.hosts) + ")"

    def host_regex(self) -> str:
        """A whole hostname value matches a catalog pattern on a label boundary.

        RE2, PCRE and java.util.regex alike; case-insensitive; ``(^|[.])`` on the left and
        ``$`` on the right, so ``notworkers.dev`` and ``workers.dev.attacker.example`` fail."""
        return "(?i)(?:^|[.])" + self.host_alternation() + "$"

    def host_regex_lucene(self) -> str:
        """The same for Lucene regexes (Elasticsearch ``regex~``): implicitly anchored at both
        ends, no ``^``/``$``, no ``(?:``, no inline flags (``regex~`` is case-insensitive)."""
        alternation = "|".join(h.core_regex.replace("(?:", "(") for h in self.hosts)
        return "(.*[.])?(" + alternation + ")"

    def tenant_regex(self) -> str:
        """Group 1: the tenant of a lower-cased catalogued hostname, approximated as the
        one label left of the catalog pattern (the PSL's answer for most platforms; the
        engine derives it per entry, with ``tenant_labels`` overrides). A bare platform
        apex has no such label: callers fall back to the whole hostname."""
        return "([a-z0-9_-]+[.]" + self.host_alternation() + ")$"

    def script_in_temp_regex(self) -> str:
        """A script (catalog script extensions) in a temporary or public Windows folder,
        anywhere in a command line or path; case-insensitive; RE2 and PCRE alike."""
        ext = "|".join(self.script_extensions)
        return (
            r"(?i)\\(?:appdata\\local\\temp|windows\\temp|users\\public|programdata)\\"
            r'[^\\"]+[.](?:' + ext + r")\b"
        )

    def cmdline_regex(self) -> str:
        """A catalog hostname anywhere in a command line, bounded by non-hostname characters
        (``https://x.workers.dev/a`` matches, ``notworkers.dev`` and
        ``workers.dev.attacker.example`` do not)."""
        return (
            f"(?i)(?:^|[^{HOST_CHARS}])(?:[a-z0-9_-]+[.])*"
            + self.host_alternation()
            + f"(?:$|[^{HOST_CHARS}])"
        )

    def cmdline_regex_lucene(self) -> str:
        alternation = "|".join(h.core_regex.replace("(?:", "(") for h in self.hosts)
        return f"(.*[^{HOST_CHARS}])?([a-z0-9_-]+[.])*({alternation})([^{HOST_CHARS}].*)?"


def _core_regex(pattern: str, catalog: Catalog, where: str) -> tuple[str, str | None]:
    parts: list[str] = []
    pos = 0
    has_placeholder = False
    for m in PLACEHOLDER_RE.finditer(pattern):
        parts.append(_fixed(pattern[pos : m.start()], where))
        name = m.group(1)
        if name not in catalog.placeholders:
            raise ExportError(f"{where}: unknown placeholder {{{name}}}")
        regex = catalog.placeholders[name].regex
        bad = sorted(set(regex) - REGEX_ALPHABET)
        if bad:
            raise ExportError(f"{where}: placeholder {name!r} regex uses unsafe characters {bad}")
        parts.append("(?:" + regex + ")")
        has_placeholder = True
        pos = m.end()
    parts.append(_fixed(pattern[pos:], where))
    core = "".join(parts)
    return core, None if has_placeholder else pattern


def _fixed(text: str, where: str) -> str:
    if not text:
        return ""
    out: list[str] = []
    for i, chunk in enumerate(text.split(".")):
        if i:
            out.append("[.]")
        if chunk and not LABEL_RE.fullmatch(chunk):
            raise ExportError(f"{where}: pattern part {chunk!r} is not a hostname label")
        out.append(chunk)
    return "".join(out)


def _rule(rule: Rule, title: str | None = None) -> ExportRule:
    summary = " ".join((rule.description or rule.name).split("\n\n")[0].split())
    return ExportRule(
        id=rule.id,
        title=title or rule.name,
        description=summary,
        techniques=tuple(rule.techniques),
        severity=rule.severity,
        confidence=rule.confidence,
        false_positives=tuple(rule.false_positives),
        thresholds=dict(rule.thresholds),
    )


EXPORTED_RULES: Final[tuple[Rule, ...]] = (
    serverless_egress.RULE,
    cmdline_url.RULE,
    script_chain.RULE,
    rarity.RULE,
    beacon.RULE,
    *cloud.RULES,
)

DEPLOYER_RE: Final = re.compile(r"[A-Za-z0-9@._:/*?+=,-]+")
"""What a deployer glob may hold: principal ARNs, e-mails, application ids, ``*``/``?``."""


def build_spec(
    catalog: Catalog | None = None,
    *,
    min_weight: float = 0.0,
    include_legacy: bool = False,
    beacon_spec: BeaconSpec | None = None,
    deployers: Sequence[str] = (),
    allowlist: Allowlist | None = None,
) -> ExportSpec:
    """The export description from a catalog (the bundled one by default).

    Like the engine's RH-SL rules, legacy aliases (``lambda-url.*.amazonaws.com``) are left
    out unless ``include_legacy``; ``min_weight`` drops low-weight platforms (CDN front
    doors) for SIEMs where every match costs an alert. ``deployers`` (principal globs, the
    tuning file's top-level ``deployers``) become exclusions in the RH-CP exports; a glob
    outside :data:`DEPLOYER_RE`'s alphabet is refused."""
    for glob in deployers:
        if not DEPLOYER_RE.fullmatch(glob):
            raise ExportError(f"deployer {glob!r} is not a principal glob")
    cat = catalog or load_catalog()
    hosts: list[HostPattern] = []
    for entry in cat.by_priority():
        if entry.legacy and not include_legacy:
            continue
        if entry.weight < min_weight:
            continue
        where = f"catalog entry {entry.id!r}"
        pattern = entry.pattern.lower()
        core, suffix = _core_regex(pattern, cat, where)
        hosts.append(
            HostPattern(
                entry_id=entry.id,
                platform=entry.platform,
                provider=entry.provider,
                kind=entry.kind,
                weight=entry.weight,
                pattern=pattern,
                suffix=suffix,
                core_regex=core,
            )
        )
    if not hosts:
        raise ExportError("no catalog entry left to export")
    browsers = tuple(sorted({p.name for p in cat.processes if p.category == "browser"}))
    lolbins: dict[str, set[str]] = {}
    for p in cat.processes:
        if p.category == "lolbin":
            lolbins.setdefault(p.subcategory or "other", set()).add(p.name)
    chain = script_chain.RULE.thresholds
    rules = {r.id: _rule(r) for r in EXPORTED_RULES}
    return ExportSpec(
        catalog_version=cat.catalog_version,
        processes_version=cat.processes_version,
        hosts=tuple(hosts),
        browsers=browsers,
        lolbins={k: tuple(sorted(v)) for k, v in sorted(lolbins.items())},
        script_hosts=tuple(str(x).lower() for x in chain["script_hosts"]),
        script_extensions=tuple(str(x).lower() for x in chain["script_extensions"]),
        rules=rules,
        beacon=beacon_spec or BeaconSpec(),
        deployers=tuple(dict.fromkeys(deployers)),
        allowlist=allowlist,
    )
