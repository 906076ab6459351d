"""Typed, validated form of the catalog files (``serverless.yaml``, ``processes.yaml``).

Everything here is immutable and built once by :func:`relayhunt.catalog.loader.load_catalog`;
matching code (``match.py``) turns it into DuckDB tables and SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["serverless", "edge", "paas", "tunnel"]
KINDS: Final[tuple[Kind, ...]] = ("serverless", "edge", "paas", "tunnel")

ProcessCategory = Literal["browser", "webview", "lolbin"]
PROCESS_CATEGORIES: Final[tuple[ProcessCategory, ...]] = ("browser", "webview", "lolbin")

LOLBIN_SUBCATEGORIES: Final[tuple[str, ...]] = (
    "script_host",
    "shell",
    "downloader",
    "interpreter",
    "proxy_exec",
    "network_tool",
)

OPERATING_SYSTEMS: Final[tuple[str, ...]] = ("windows", "macos", "linux")

# How an entry's tenant is derived (see serverless.yaml header and docs/catalog.md):
#   psl     registrable domain per the bundled PSL, the pattern acting as a public suffix;
#   labels  a fixed number of labels left of the pattern (``tenant_labels: N``);
#   host    the whole normalized hostname;
#   none    no tenant (``customer_namespace: false``).
TenantMode = Literal["psl", "labels", "host", "none"]


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem found while loading a catalog file, with where it is."""

    file: str
    location: str  # e.g. "entries[3] (aws-lambda-url).pattern"
    message: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.location}: {self.message}"


class CatalogError(ValueError):
    """A catalog file is invalid. ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[CatalogIssue]) -> None:
        self.issues: tuple[CatalogIssue, ...] = tuple(issues)
        count = len(self.issues)
        head = f"invalid catalog: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A named part of a pattern that stands for a family of labels (a region, a zone)."""

    name: str
    regex: str  # RE2 / java.util.regex common subset, no backslashes, matches inside one label
    example: str
    description: str
    source: str


@dataclass(frozen=True, slots=True)
class HostExample:
    """A documented hostname of an entry and the tenant it must yield (None: no tenant)."""

    host: str
    tenant: str | None


@dataclass(frozen=True, slots=True)
class PslRule:
    """A PSL rule strictly below an entry's pattern (``us.ngrok.io``, ``*.r.appspot.com``).

    A host equal to or below ``suffix`` has a public suffix of ``public_suffix_labels`` labels,
    so its tenant has one label more, if that is longer than the entry's own tenant."""

    suffix: str
    public_suffix_labels: int


@dataclass(frozen=True, slots=True)
class ServerlessEntry:
    """One catalogued platform hostname pattern and everything derived from it at load."""

    index: int  # position in the YAML ``entries`` list
    id: str
    platform: str
    provider: str
    kind: Kind
    pattern: str
    weight: float
    source: str
    notes: str | None
    legacy: bool
    customer_namespace: bool
    tenant_note: str | None
    examples: tuple[HostExample, ...]
    # derived
    tail: str  # labels right of the last placeholder (the whole pattern if none)
    regex: str  # anchored, case-insensitive; full-hostname match on label boundaries
    pattern_labels: int
    fixed_chars: int  # characters of the pattern outside placeholders
    tenant_mode: TenantMode
    tenant_label_count: int | None  # labels of the tenant (psl and labels modes)
    psl_covered: bool  # the PSL makes the pattern (or something under it) a public suffix
    psl_rules: tuple[PslRule, ...]
    priority: int  # 1 = most specific; ties between matching entries go to the lower value

    @property
    def has_placeholder(self) -> bool:
        return "{" in self.pattern

    @property
    def tail_labels(self) -> int:
        return self.tail.count(".") + 1


@dataclass(frozen=True, slots=True)
class ProcessClass:
    """How a process image basename is classified (browser, webview or lolbin)."""

    name: str  # lowercase basename
    category: ProcessCategory
    subcategory: str | None  # lolbin only
    product: str
    os: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class WritablePath:
    """A folder prefix writable by unprivileged users, as authored and as a regex."""

    pattern: str  # as written in processes.yaml
    label: str
    os: tuple[str, ...]
    source: str
    regex: str  # anchored prefix regex over lower(replace(path, '\\', '/'))
    specificity: int  # length of the normalized pattern; longer wins


@dataclass(frozen=True, slots=True)
class Catalog:
    """The serverless catalog plus the process classes, validated."""

    catalog_version: str
    psl_snapshot: str
    placeholders: Mapping[str, Placeholder]
    entries: tuple[ServerlessEntry, ...]
    processes_version: str
    processes: tuple[ProcessClass, ...]
    writable_paths: tuple[WritablePath, ...]

    def entry(self, entry_id: str) -> ServerlessEntry:
        """The entry with this id (KeyError if there is none)."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def by_priority(self) -> tuple[ServerlessEntry, ...]:
        """Entries from the most to the least specific."""
        return tuple(sorted(self.entries, key=lambda e: e.priority))
