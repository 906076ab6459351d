"""What the Public Suffix List says about each catalog pattern, computed once at load.

Tenants are extracted in SQL by counting labels, so the PSL is consulted here, per catalog
entry, never per row:

* the entry's own tenant size: the PSL's answer for a synthetic host under the pattern (with
  each placeholder replaced by its example), and at least one label more than the pattern,
  which the catalog treats as a public suffix even for regions the PSL has not listed yet;
* the PSL rules strictly below the pattern (``us.ngrok.io``, ``*.r.appspot.com``), which make
  some hosts' tenants longer; the SQL applies them with a suffix join.

Only the list bundled with the ``publicsuffixlist`` package is read (offline; never fetched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from publicsuffixlist import PSLFILE, PublicSuffixList

from relayhunt.catalog.model import PslRule

_PROBE = "rhprobe3.rhprobe2.rhprobe1."


@dataclass(frozen=True, slots=True)
class PatternTenancy:
    """The PSL's view of one pattern instance."""

    covered: bool  # the PSL's public suffix for hosts under it is at least the pattern
    tenant_labels_total: int | None  # labels in the tenant when covered


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=1)
def psl_rule_names() -> tuple[str, ...]:
    """Every ASCII rule of the bundled PSL with its ``*.`` or ``!`` prefix removed."""
    names: set[str] = set()
    for line in Path(PSLFILE).read_text(encoding="utf-8").splitlines():
        token = line.strip().split(" ")[0].lower()
        if not token or token.startswith("//") or not token.isascii():
            continue
        names.add(token.removeprefix("!").removeprefix("*."))
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _rules_by_last_two_labels() -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for name in psl_rule_names():
        grouped.setdefault(".".join(name.split(".")[-2:]), []).append(name)
    return {key: tuple(names) for key, names in grouped.items()}


def _labels(name: str) -> int:
    return name.count(".") + 1


def pattern_tenancy(instance: str) -> PatternTenancy:
    """Tenant size for hosts under ``instance`` (a pattern with placeholders filled in)."""
    public_suffix = _psl().publicsuffix(_PROBE + instance)
    if public_suffix is None:  # pragma: no cover - only for malformed probes
        return PatternTenancy(covered=False, tenant_labels_total=None)
    size = _labels(public_suffix)
    if size < _labels(instance):
        return PatternTenancy(covered=False, tenant_labels_total=None)
    return PatternTenancy(covered=True, tenant_labels_total=size + 1)


def rules_below(tail: str, pattern_regex: str, pattern_labels: int) -> tuple[PslRule, ...]:
    """PSL rules whose name lies strictly below a host matching ``pattern_regex``.

    ``tail`` (the pattern's fixed tail) is a cheap pre-filter before the regex."""
    compiled = re.compile(pattern_regex)
    dotted_tail = "." + tail
    found: list[PslRule] = []
    candidates = _rules_by_last_two_labels().get(".".join(tail.split(".")[-2:]), ())
    for name in candidates:
        if not name.endswith(dotted_tail) or _labels(name) <= pattern_labels:
            continue
        if not compiled.fullmatch(name):
            continue
        public_suffix = _psl().publicsuffix("rhprobe2.rhprobe1." + name)
        if public_suffix is None:  # pragma: no cover - only for malformed rules
            continue
        found.append(PslRule(suffix=name, public_suffix_labels=_labels(public_suffix)))
    return tuple(found)
