"""The matching rules in plain Python, one value at a time.

This is the readable statement of what the SQL in ``match.py`` computes, used as the oracle
the SQL is tested against and handy for a single value in a notebook. Bulk work goes
through :func:`relayhunt.catalog.match_sql` (no Python per row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from relayhunt.catalog.hostnames import normalize_host
from relayhunt.catalog.model import Catalog, ProcessClass, ServerlessEntry


@dataclass(frozen=True, slots=True)
class HostMatch:
    """The catalog entry a hostname belongs to."""

    host: str  # normalized
    entry: ServerlessEntry
    tenant: str | None


@lru_cache(maxsize=512)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def tenant_of(entry: ServerlessEntry, host: str) -> str | None:
    """The tenant part of ``host`` (normalized, matched by ``entry``), or None."""
    if entry.tenant_mode == "none":
        return None
    if entry.tenant_mode == "host":
        return host
    size = entry.tenant_label_count or 0
    for rule in entry.psl_rules:
        if host == rule.suffix or host.endswith("." + rule.suffix):
            size = max(size, rule.public_suffix_labels + 1)
    labels = host.split(".")
    if size > len(labels):
        return None
    return ".".join(labels[-size:])


def match_host(catalog: Catalog, raw: str | None) -> HostMatch | None:
    """The most specific entry whose pattern ``raw`` matches on label boundaries."""
    host = normalize_host(raw)
    if host is None:
        return None
    for entry in catalog.by_priority():
        if _compiled(entry.regex).fullmatch(host):
            return HostMatch(host, entry, tenant_of(entry, host))
    return None


_SEPARATORS = re.compile(r"[\\/]")


def process_basename(path: str | None) -> str | None:
    """Lowercase basename of a Windows or POSIX path (quotes and blanks around it ignored)."""
    if path is None:
        return None
    name = _SEPARATORS.split(path.strip(' "'))[-1].lower()
    return name or None


def classify_process(catalog: Catalog, path: str | None) -> ProcessClass | None:
    """The process class of an image path or bare image name, or None."""
    name = process_basename(path)
    if name is None:
        return None
    return next((p for p in catalog.processes if p.name == name), None)


def user_writable_dir(catalog: Catalog, path: str | None) -> str | None:
    """The label of the most specific user-writable folder ``path`` lies in, or None."""
    if path is None:
        return None
    folder = path.strip(' "').replace("\\", "/").lower()
    for writable in catalog.writable_paths:  # sorted most specific first
        if _compiled(writable.regex).match(folder):
            return writable.label
    return None
