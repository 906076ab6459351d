"""The tuning file's allowlist, rendered into the exports as exclusions.

The engine suppresses a finding when an active allowlist entry matches it
(:func:`relayhunt.config.suppression_sql`): an entry is an AND of its fields, each field an
OR of its globs over one or more finding columns (``process``: the executable *or* its
basename; ``user``: the name without the domain; ``destination``: label-aware), the entries
are ORed and the whole is negated. An export can only mirror that on the fields the events
it queries carry. :func:`plan` maps each entry onto one event type's columns and says what
it could not do:

* a field the event lacks (no parent on a DNS event, no requested hostname on a process
  start) makes the entry **skipped** for that rule: dropping a field from an AND would
  exclude more than the entry says;
* a glob that cannot be expressed on the columns at hand (a full-path glob where only the
  file name is known) is dropped from its field's OR, which excludes less: safe;
* the globs become regular expressions (or the language's own wildcards where those are
  exactly the glob) anchored on the whole value, case-insensitive; punctuation is escaped
  with a backslash (``\\x60``/``\\x22``/``\\x27`` for the three quote characters), so a
  hostile value is a literal in RE2, PCRE, java.util.regex and Python ``re`` alike, and the
  result is then escaped once more as each language's string or regex literal.

Expired entries are not rendered; each file's header names them and the date used.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from relayhunt.config import AllowEntry, Config, _host_glob_regex, glob_regex, utc_today

Kind = Literal["full", "name", "basename", "user", "host"]
"""How a column is compared with a glob:

* ``full``: the glob matches the whole value (``*`` any run of characters, ``?`` one);
* ``name``: the column holds a file name only (Defender ``InitiatingProcessFileName``,
  Falcon ``ParentBaseFileName``): globs with a path separator cannot be tested there;
* ``basename``: the glob matches the file name of a path held in the column (after the last
  ``\\`` or ``/``), as the engine's ``process_name`` / ``process_parent_name``;
* ``user``: the glob matches the user of ``DOMAIN\\user`` (the part after the first
  backslash; the whole value without one), as the engine's ``user_name``;
* ``host``: the label-aware ``destination`` glob on a hostname (trailing dot ignored)."""

FIELDS: Final[tuple[str, ...]] = (
    "process",
    "parent",
    "command_line",
    "destination",
    "host",
    "user",
)
_QUOTES: Final = {"`": "\\x60", '"': "\\x22", "'": "\\x27"}


@dataclass(frozen=True, slots=True)
class Column:
    """One event field an allowlist field is compared with."""

    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class GlobTest:
    """One glob on one column."""

    column: Column
    glob: str

    def regex(self) -> str:
        """Anchored regex body (no flags: callers make it case-insensitive)."""
        return glob_to_regex(self.glob, self.column.kind)


@dataclass(frozen=True, slots=True)
class FieldTests:
    """An allowlist field on one event type: true when any test is true."""

    field: str
    tests: tuple[GlobTest, ...]

    def columns(self) -> tuple[Column, ...]:
        return tuple(dict.fromkeys(t.column for t in self.tests))


@dataclass(frozen=True, slots=True)
class Exclusion:
    """One entry on one event type: true when every field is true."""

    entry: AllowEntry
    fields: tuple[FieldTests, ...]

    @property
    def name(self) -> str:
        return f"allow_{self.entry.index}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The exclusions of one rule on one event type, and what could not be rendered."""

    exclusions: tuple[Exclusion, ...]
    notes: tuple[tuple[str, int], ...]
    """(what could not be rendered and why, entry index)."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    """The allowlist of a tuning file as of one date (``ExportSpec.allowlist``)."""

    source: str
    today: dt.date
    active: tuple[AllowEntry, ...]
    expired: tuple[AllowEntry, ...]

    @classmethod
    def from_config(cls, config: Config, today: dt.date | None = None) -> Allowlist:
        day = today or utc_today()
        name = config.source.name if config.source is not None else "tuning file"
        return cls(name, day, config.active_allowlist(day), config.expired_allowlist(day))

    def applies(self, entry: AllowEntry, rule_id: str) -> bool:
        """The entry's ``rules`` globs (none: every rule) match ``rule_id``."""
        if not entry.rules:
            return True
        return any(glob_regex(g, host=False).fullmatch(rule_id.lower()) for g in entry.rules)

    def plan(self, rule_id: str, columns: Mapping[str, Sequence[Column]], event: str) -> Plan:
        """The exclusions of ``rule_id`` on an event type whose fields are ``columns``
        (allowlist field -> columns; a field absent or empty: the event lacks it)."""
        out: list[Exclusion] = []
        notes: list[tuple[str, int]] = []
        for entry in self.active:
            if not self.applies(entry, rule_id):
                continue
            fields: list[FieldTests] = []
            missing: list[str] = []
            for name in FIELDS:
                globs = entry.globs(name)
                if not globs:
                    continue
                cols = tuple(columns.get(name, ()))
                tests: list[GlobTest] = []
                dropped: list[str] = []
                for glob in globs:
                    usable = [GlobTest(c, glob) for c in cols if expressible(glob, c.kind)]
                    if usable:
                        tests.extend(usable)
                    else:
                        dropped.append(glob)
                if not tests:
                    missing.append(name)
                    continue
                if dropped:
                    notes.append(
                        (
                            f"narrowed for {rule_id}: {name} glob(s) {', '.join(dropped)} "
                            f"cannot be tested on {event} ({', '.join(c.name for c in cols)}) "
                            "and are left out (excludes less)",
                            entry.index,
                        )
                    )
                fields.append(FieldTests(name, tuple(tests)))
            if missing:
                notes.append(
                    (
                        f"NOT rendered for {rule_id}: {event} has no {' / '.join(missing)} "
                        "(rendering the other fields alone would exclude more than the "
                        "entry says)",
                        entry.index,
                    )
                )
                continue
            out.append(Exclusion(entry, tuple(fields)))
        return Plan(tuple(out), tuple(notes))

    def skipped_all(self, rule_id: str, why: str) -> Plan:
        """A rule the allowlist cannot be rendered into at all: every applicable entry is
        named as skipped."""
        notes = tuple(
            (f"NOT rendered for {rule_id}: {why}", e.index)
            for e in self.active
            if self.applies(e, rule_id)
        )
        return Plan((), notes)

    def header(self, plans: Sequence[Plan]) -> list[str]:
        """Header lines: the file, the date, expired entries, what each plan left out."""
        lines = [
            f"Allowlist: {len(self.active)} active entries of {self.source} rendered as "
            f"exclusions where the events carry their fields (date used: "
            f"{self.today.isoformat()}); an entry is an AND of its fields, each an OR of its "
            "globs, case-insensitive, as in the engine."
        ]
        if self.expired:
            lines.append(
                "  - skipped as expired: "
                + "; ".join(
                    f"entry {e.index} ({e.reason}, expired {e.expires.isoformat()})"
                    for e in self.expired
                    if e.expires is not None
                )
            )
        rendered = sorted({x.entry.index for p in plans for x in p.exclusions})
        lines.append(
            "  - rendered (entry numbers count from 0 in the file's allowlist): "
            + (", ".join(map(str, rendered)) if rendered else "none")
        )
        grouped: dict[str, list[int]] = {}
        for p in plans:
            for note, index in p.notes:
                grouped.setdefault(note, [])
                if index not in grouped[note]:
                    grouped[note].append(index)
        for note, indices in grouped.items():
            which = "entry" if len(indices) == 1 else "entries"
            lines.append(f"  - {which} {', '.join(map(str, indices))}: {note}")
        return lines


def expressible(glob: str, kind: Kind) -> bool:
    """Whether ``glob`` can be tested on a column of ``kind`` without matching more than
    the engine: an all-``*`` glob stands for "any non-empty value" in the engine (which
    also maps placeholders such as ``-`` to NULL), so it is left out; a separator in a
    basename or user glob can never match there."""
    if kind == "host":
        return True
    if not glob.strip("*"):
        return False
    if kind in ("basename", "name"):
        return "\\" not in glob and "/" not in glob
    if kind == "user":
        return "\\" not in glob
    return True


def _literal(ch: str) -> str:
    if ch in _QUOTES:
        return _QUOTES[ch]
    if ch.isascii() and not ch.isalnum() and ch != "_" and ch in string.printable:
        return "\\" + ch
    return ch


def _glob_body(glob: str, star: str, one: str) -> str:
    return "".join(star if c == "*" else one if c == "?" else _literal(c) for c in glob)


def glob_to_regex(glob: str, kind: Kind) -> str:
    """Anchored regex body for one (lowercased, validated) glob on a column of ``kind``;
    RE2, PCRE, java.util.regex and Python ``re`` read it alike. Case-insensitivity is the
    caller's (``(?i)``, ``/.../i``, ``nocase``)."""
    if kind == "host":
        return _host_glob_regex(glob).removesuffix("$") + "[.]?$"
    if kind in ("full", "name"):
        return "^" + _glob_body(glob, ".*", ".") + "$"
    if kind == "basename":
        return "(?:^|[\\\\/])" + _glob_body(glob, "[^\\\\/]*", "[^\\\\/]") + "$"
    body = _glob_body(glob, "[^\\\\]*", "[^\\\\]")
    return "^(?:[^\\\\]*\\\\" + body + "(?:\\\\.*)?|" + body + ")$"


def _lucene_literal(ch: str) -> str:
    return "\\" + ch if ch.isascii() and not ch.isalnum() else ch


def _lucene_body(glob: str, star: str, one: str) -> str:
    return "".join(star if c == "*" else one if c == "?" else _lucene_literal(c) for c in glob)


def lucene_regex(test: GlobTest) -> str:
    """One test as a Lucene regex (EQL ``regex~``: implicitly anchored on the whole value,
    case-insensitive); every character but letters and digits is escaped with ``\\``."""
    kind, glob = test.column.kind, test.glob
    if kind == "host":
        return host_glob_lucene(glob)
    if kind in ("full", "name"):
        return _lucene_body(glob, ".*", ".")
    if kind == "basename":
        return "(.*[\\\\/])?" + _lucene_body(glob, "[^\\\\/]*", "[^\\\\/]")
    body = _lucene_body(glob, "[^\\\\]*", "[^\\\\]")
    return "([^\\\\]*\\\\" + body + "(\\\\.*)?|" + body + ")"


def predicate(
    plan: Plan | None,
    test: Callable[[GlobTest], str],
    *,
    and_: str = " and ",
    or_: str = " or ",
    indent: str = "\n    ",
) -> str | None:
    """The plan as one boolean (entries ORed, one per line; fields ANDed; each field's
    tests ORed), each test printed by ``test``; None when nothing is excluded. Callers
    negate it in their language."""
    if plan is None or not plan.exclusions:
        return None
    entries = []
    for ex in plan.exclusions:
        fields = []
        for f in ex.fields:
            tests = list(dict.fromkeys(test(t) for t in f.tests))
            fields.append(tests[0] if len(tests) == 1 else "(" + or_.join(tests) + ")")
        entries.append("(" + and_.join(fields) + ")")
    return "(" + (or_.strip() and f"{indent}{or_.strip()} ").join(entries) + ")"


def host_glob_lucene(glob: str) -> str:
    """The label-aware destination glob as a Lucene regex (EQL ``regex~``: implicitly
    anchored, case-insensitive): ``[a-z0-9_-]``, ``[.]``, ``[^.]`` and groups only."""
    rx = _host_glob_regex(glob).removeprefix("^").removesuffix("$")
    return rx.replace("(?:", "(") + "[.]?"


def sigma_glob(glob: str) -> str:
    """A glob as a Sigma plain value: Sigma's ``*`` and ``?`` are the glob's own
    wildcards (case-insensitive, ``*`` crossing separators), so only ``\\`` is escaped."""
    return glob.replace("\\", "\\\\")


def combined_regex(field: FieldTests, column: Column | None = None) -> list[str]:
    """The field's tests on one column (all columns when None) as regex bodies, one per
    glob; tests of several kinds on one column name are joined with ``|``."""
    by_glob: dict[str, list[str]] = {}
    for t in field.tests:
        if column is not None and t.column.name != column.name:
            continue
        by_glob.setdefault(t.glob, []).append(t.regex())
    return ["|".join(dict.fromkeys(parts)) for parts in by_glob.values()]


CLOUD_WHY: Final = (
    "the engine's RH-CP findings aggregate the records of one account and target (the "
    "user is the first actor; no process, parent or destination hostname per record), "
    "which a per-record query cannot reproduce; list CI principals under deployers instead"
)
CHAIN_WHY: Final = (
    "the chain joins several events (write, run, lookup) into one finding; an exclusion "
    "on one of the joined events would not be the engine's test on the finding"
)

RARITY_WHY: Final = (
    "the finding is a tenant's fleet-wide rarity; excluding events before counting would "
    "change the counts the rarity is judged on, which is not the engine's test on the finding"
)


@dataclass(frozen=True)
class EventColumns:
    """Where one language's per-event rules find the allowlist's fields: on the lookup
    (or connection) event, and on the process start (RH-SL-002)."""

    dns: Mapping[str, Sequence[Column]]
    dns_event: str
    proc: Mapping[str, Sequence[Column]]
    proc_event: str

    def plan(self, allow: Allowlist | None, rule_id: str, proc: bool = False) -> Plan | None:
        """The rule's exclusions on the process-start event (``proc``) or the lookup;
        None without an allowlist."""
        if allow is None:
            return None
        if proc:
            return allow.plan(rule_id, self.proc, self.proc_event)
        return allow.plan(rule_id, self.dns, self.dns_event)


def header_for_plans(allow: Allowlist | None, plans: Sequence[Plan | None]) -> list[str]:
    """:func:`header_for` over the plans that exist."""
    return header_for(allow, [p for p in plans if p is not None])


def header_for(allow: Allowlist | None, plans: Sequence[Plan]) -> list[str]:
    """``allow.header(plans)``, or nothing without an allowlist (no ``--config``)."""
    return allow.header(plans) if allow is not None else []


def skipped_header(allow: Allowlist | None, rule_id: str, why: str) -> list[str]:
    """Header lines for a rule the allowlist is not rendered into."""
    return allow.header([allow.skipped_all(rule_id, why)]) if allow is not None else []


# Event types as the renderers describe them -------------------------------------------

PATH_AND_NAME: Final = ("full", "basename")


def path_columns(name: str) -> tuple[Column, ...]:
    """A full-path image field: tested on the whole path and on its file name."""
    return (Column(name, "full"), Column(name, "basename"))


__all__ = [
    "CHAIN_WHY",
    "CLOUD_WHY",
    "FIELDS",
    "RARITY_WHY",
    "Allowlist",
    "Column",
    "EventColumns",
    "Exclusion",
    "FieldTests",
    "GlobTest",
    "Kind",
    "Plan",
    "combined_regex",
    "expressible",
    "glob_to_regex",
    "header_for",
    "header_for_plans",
    "host_glob_lucene",
    "lucene_regex",
    "path_columns",
    "predicate",
    "sigma_glob",
    "skipped_header",
]
