"""The tuning file: allowlists, per-rule overrides and thresholds, profile, severity floor.

A YAML file (schema in docs/tuning.md) is read into frozen dataclasses by
:func:`load_config`. Every problem in the file is collected, each with ``file:line:column``,
the key path (``allowlist[2].destination[0]``) and what is wrong, and raised together as one
:class:`ConfigError`; unknown keys get a "did you mean" suggestion. Line numbers come from
the YAML node tree (``yaml.compose``), so they point at the offending key or value.

Allowlist entries become one vectorised SQL boolean (:func:`suppression_sql`) over the
``findings`` columns, never a Python call per row:

* ``destination`` globs are *label-aware*: a leading ``*.`` stands for one or more whole
  labels, any other ``*`` or ``?`` stays inside one label. ``*.workers.dev`` matches
  ``a.b.workers.dev`` but neither ``workers.dev.attacker.example`` nor ``evilworkers.dev``,
  and ``acme-*.workers.dev`` does not match ``acme-x.attacker.workers.dev``. They become
  anchored regular expressions built only from ``[a-z0-9_-]``, ``[.]`` and ``[^.]``, so no
  pattern character reaches the regex engine unescaped.
* every other field (process, parent, host, user, rules) is an ordinary glob (``*`` also
  crosses ``\\`` and ``/``) compiled to ``LIKE ... ESCAPE '!'`` on lowercased values.

Values are embedded as SQL string literals with quotes doubled and backslashes spelled
``chr(92)``, so a hostile pattern cannot leave its literal and the text means the same in
DuckDB and Spark SQL (Spark unescapes backslashes in literals, DuckDB does not).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar, cast, get_args

import yaml

Severity = Literal["info", "low", "medium", "high", "critical"]
Profile = Literal["default", "compat", "all"]
ThresholdValue = int | float | str | bool | tuple[int | float | str | bool, ...]

SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
PROFILES: Final[tuple[Profile, ...]] = get_args(Profile)
CONFIG_VERSION: Final = 1
MAX_CONFIG_BYTES: Final = 4 * 1024 * 1024

DEFAULT_PROFILE: Final[Profile] = "default"
DEFAULT_MIN_SEVERITY: Final[Severity] = "low"

# Allowlist fields: which findings columns each one is matched against (any of them).
MATCH_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "process": ("process_executable", "process_name"),
    "parent": ("process_parent_executable", "process_parent_name"),
    "command_line": ("process_command_line",),
    "destination": ("destination_domain", "serverless_tenant"),
    "host": ("host_name",),
    "user": ("user_name",),
    "rules": ("rule_id",),
}
SUPPRESSION_COLUMNS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(c for cols in MATCH_FIELDS.values() for c in cols)
)
_ENTRY_KEYS: Final[tuple[str, ...]] = ("reason", *MATCH_FIELDS, "expires")
_TOP_KEYS: Final[tuple[str, ...]] = (
    "version",
    "profile",
    "min_severity",
    "allowlist",
    "deployers",
    "rules",
)
DEPLOYERS_THRESHOLD: Final = "deployers"
"""The threshold of the cloud control-plane rules that the top-level ``deployers`` list
feeds (every rule that declares it)."""
_RULE_KEYS: Final[tuple[str, ...]] = ("enabled", "severity", "thresholds")

_LIKE_ESCAPE: Final = "!"
_HOST_PATTERN: Final = re.compile(r"[a-z0-9_.*?-]+")
_BARE_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_T = TypeVar("_T")


# ------------------------------------------------------------------------------ errors


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(ValueError):
    """A config file could not be used; ``problems`` lists everything found wrong."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in tuning config"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


# ------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class AllowEntry:
    """One allowlist entry: suppresses findings that match every field it gives.

    Each field holds globs; a field matches when any of its globs matches any of the
    columns in :data:`MATCH_FIELDS`. Globs are stored lowercased (matching is
    case-insensitive)."""

    reason: str
    process: tuple[str, ...] = ()
    parent: tuple[str, ...] = ()
    command_line: tuple[str, ...] = ()
    destination: tuple[str, ...] = ()
    host: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    expires: dt.date | None = None
    """Last day (UTC, inclusive) on which the entry applies."""
    index: int = 0
    """Position in the file's ``allowlist`` (0-based)."""
    location: str = ""
    """``file:line`` of the entry, for messages."""

    def globs(self, name: str) -> tuple[str, ...]:
        """The globs of one match field (a key of :data:`MATCH_FIELDS`)."""
        if name not in MATCH_FIELDS:
            raise KeyError(name)
        return cast(tuple[str, ...], getattr(self, name))

    def is_expired(self, today: dt.date | None = None) -> bool:
        return self.expires is not None and self.expires < (today or utc_today())

    def matches(self, row: Mapping[str, object], today: dt.date | None = None) -> bool:
        """Python twin of :func:`suppression_sql` for one row (tests, explanations)."""
        if self.is_expired(today):
            return False
        for name, columns in MATCH_FIELDS.items():
            globs = self.globs(name)
            if not globs:
                continue
            compiled = [glob_regex(g, host=name == "destination") for g in globs]
            values = [row.get(c) for c in columns]
            if not any(
                isinstance(v, str) and rx.fullmatch(v.lower()) for rx in compiled for v in values
            ):
                return False
        return True


@dataclass(frozen=True)
class RuleOverride:
    """Per-rule settings from the ``rules`` section; unset fields are None / empty."""

    rule_id: str
    enabled: bool | None = None
    severity: Severity | None = None
    thresholds: Mapping[str, ThresholdValue] = field(default_factory=dict)

    def threshold(self, name: str, default: _T) -> _T:
        """The override for ``name`` if set, else ``default`` (ints widen to float when the
        default is a float)."""
        if name not in self.thresholds:
            return default
        value = self.thresholds[name]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            return cast(_T, float(value))
        return cast(_T, value)


@dataclass(frozen=True)
class Config:
    """A validated tuning config. ``Config()`` is the built-in default."""

    version: int = CONFIG_VERSION
    profile: Profile = DEFAULT_PROFILE
    min_severity: Severity = DEFAULT_MIN_SEVERITY
    allowlist: tuple[AllowEntry, ...] = ()
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)
    source: Path | None = None
    deployers: tuple[str, ...] = ()
    """Globs of the principals expected to deploy and change cloud functions (CI roles,
    IaC service accounts), lowercased; matched by the cloud rules against the actor's
    principal and logged identity (see docs/tuning.md)."""
    deployer_rules: frozenset[str] | None = None
    """Rules that declare a ``deployers`` threshold (from the registry the config was
    checked against); None: look them up in the detection registry."""

    def rule_override(self, rule_id: str) -> RuleOverride:
        return self.rules.get(rule_id) or RuleOverride(rule_id)

    def rule_enabled(self, rule_id: str) -> bool:
        """False only when the config disables the rule (profiles select rules separately)."""
        return self.rule_override(rule_id).enabled is not False

    def rule_severity(self, rule_id: str) -> Severity | None:
        return self.rule_override(rule_id).severity

    def rule_thresholds(self, rule_id: str) -> dict[str, ThresholdValue]:
        """Threshold overrides for one rule (only those the config sets). For the rules
        that take a ``deployers`` list, the top-level ``deployers`` are added to the
        rule's own."""
        values = dict(self.rule_override(rule_id).thresholds)
        if self.deployers and rule_id in self._deployer_rules():
            own = values.get(DEPLOYERS_THRESHOLD, ())
            own_list = own if isinstance(own, tuple) else (own,)
            values[DEPLOYERS_THRESHOLD] = tuple(dict.fromkeys((*self.deployers, *own_list)))
        return values

    def _deployer_rules(self) -> frozenset[str]:
        if self.deployer_rules is not None:
            return self.deployer_rules
        from relayhunt.detect import rules as registered  # a cycle at module level

        return frozenset(r.id for r in registered() if DEPLOYERS_THRESHOLD in r.thresholds)

    def active_allowlist(self, today: dt.date | None = None) -> tuple[AllowEntry, ...]:
        return tuple(e for e in self.allowlist if not e.is_expired(today))

    def expired_allowlist(self, today: dt.date | None = None) -> tuple[AllowEntry, ...]:
        return tuple(e for e in self.allowlist if e.is_expired(today))

    def warnings(self, today: dt.date | None = None) -> list[str]:
        """Things to tell the user that do not stop a hunt (expired entries)."""
        return [
            f"{e.location}: allowlist entry {e.index} ({e.reason!r}) expired on "
            f"{e.expires.isoformat()} and no longer suppresses anything"
            for e in self.expired_allowlist(today)
            if e.expires is not None
        ]


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def rule_overrides(config: Config, rule_id: str) -> RuleOverride:
    """The overrides the config sets for ``rule_id`` (empty when none)."""
    return config.rule_override(rule_id)


def severity_rank(severity: str) -> int:
    """0 (info) .. 4 (critical); raises ValueError for anything else."""
    return SEVERITIES.index(cast(Severity, severity))


# ------------------------------------------------------------------------------ loading


def load_config(
    path: Path | str | None,
    *,
    rules: Mapping[str, Mapping[str, object]] | None = None,
) -> Config:
    """Read and validate a tuning file; ``None`` gives the defaults.

    ``rules`` is the detection registry as ``{rule_id: {threshold_name: default}}``
    (``{r.id: r.thresholds for r in detect.rules()}``). With it, rule ids and threshold
    names are checked (with suggestions) and threshold values must have their default's
    type; without it only the shapes and types of values are checked.
    """
    if path is None:
        return Config()
    name = str(path)
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, None, "", f"cannot read: {exc}")]) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            [ConfigProblem(name, None, None, "", f"larger than {MAX_CONFIG_BYTES} bytes")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, None, "", f"not UTF-8 (byte {exc.start})")]
        ) from exc
    return parse_config(text, source=name, rules=rules, path=Path(path))


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    rules: Mapping[str, Mapping[str, object]] | None = None,
    path: Path | None = None,
) -> Config:
    """Validate config text (see :func:`load_config`); ``source`` names it in messages."""
    loader = yaml.SafeLoader(text)
    try:
        root = _compose(loader, text, source)
        checker = _Checker(source, loader, rules)
        config = checker.config(root, path)
    finally:
        loader.dispose()
    if checker.problems:
        raise ConfigError(
            sorted(checker.problems, key=lambda p: (p.line or 0, p.column or 0, p.path))
        )
    assert config is not None
    return config


def _compose(loader: yaml.SafeLoader, text: str, source: str) -> yaml.Node | None:
    """The document's node tree; anchors and aliases are refused (they would let a small
    file describe an exponentially large one, and merge keys hide where a value is from)."""
    try:
        # Check events first: aliases are resolved away by the composer.
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
        problems = [
            ConfigProblem(
                source,
                ev.start_mark.line + 1 if ev.start_mark else None,
                ev.start_mark.column + 1 if ev.start_mark else None,
                "",
                "YAML anchors and aliases (&name, *name, <<:) are not supported; repeat the values",
            )
            for ev in events
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None)
        ]
        if problems:
            raise ConfigError(problems)
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        context = exc.context_mark
        if context is not None and mark is not None and context.line != mark.line:
            what += f" (the construct began on line {context.line + 1})"
        raise ConfigError([ConfigProblem(source, line, col, "", f"invalid YAML: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, None, None, "", f"invalid YAML: {exc}")]) from exc


def _suggest(word: str, choices: Iterable[str]) -> str:
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "null"
    short = node.tag.rsplit(":", 1)[-1]
    return {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}.get(
        short, f"a {short}"
    )


class _Checker:
    """Walks the node tree, building the config and collecting problems."""

    def __init__(
        self,
        source: str,
        loader: yaml.SafeLoader,
        registry: Mapping[str, Mapping[str, object]] | None,
    ) -> None:
        self.source = source
        self.loader = loader
        self.registry = registry
        self.problems: list[ConfigProblem] = []

    # -- primitives ---------------------------------------------------------------------
    def problem(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        col = node.start_mark.column + 1 if node is not None else None
        self.problems.append(ConfigProblem(self.source, line, col, path, message))

    def where(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def scalar(self, node: yaml.Node) -> object:
        return self.loader.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, path: str, allowed: Sequence[str] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Keys (strings) to (key node, value node); problems for duplicates, non-string
        keys and, when ``allowed`` is given, unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(key_node, path, f"keys must be strings, got {_kind(key_node)}")
                continue
            sub = _join(path, key)
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.problem(key_node, sub, f"duplicate key (first given on line {first})")
                continue
            if allowed is not None and key not in allowed:
                self.problem(
                    key_node,
                    sub,
                    f"unknown key {key!r}{_suggest(key, allowed)} (allowed: {', '.join(allowed)})",
                )
                continue
            out[key] = (key_node, value_node)
        return out

    def string(self, node: yaml.Node, path: str, *, what: str = "a string") -> str | None:
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str):
            hint = ""
            if isinstance(node, yaml.ScalarNode) and node.style is None and value is not None:
                hint = f" (YAML reads {node.value!r} as that; quote it to mean text)"
            self.problem(node, path, f"expected {what}, got {_kind(node)}{hint}")
            return None
        return value

    def choice(self, node: yaml.Node, path: str, choices: Sequence[str]) -> str | None:
        value = self.string(node, path, what=f"one of {', '.join(choices)}")
        if value is None:
            return None
        if value not in choices:
            self.problem(
                node,
                path,
                f"{value!r} is not one of {', '.join(choices)}{_suggest(value, choices)}",
            )
            return None
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, bool):
            self.problem(node, path, f"expected true or false, got {_kind(node)}")
            return None
        return value

    def date(self, node: yaml.Node, path: str) -> dt.date | None:
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                value = None
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            self.problem(node, path, "expected a date as YYYY-MM-DD")
            return None
        return value

    def string_list(self, node: yaml.Node, path: str) -> list[tuple[yaml.Node, str]] | None:
        """A list of strings; a single string is taken as a list of one."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
            value = self.string(node, path)
            return [(node, value)] if value is not None else None
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, f"expected a list of strings, got {_kind(node)}")
            return None
        if not node.value:
            self.problem(node, path, "empty list: give at least one pattern or leave the key out")
            return None
        out: list[tuple[yaml.Node, str]] = []
        for i, item in enumerate(node.value):
            value = self.string(item, f"{path}[{i}]")
            if value is not None:
                out.append((item, value))
        return out

    # -- document -----------------------------------------------------------------------
    def config(self, root: yaml.Node | None, path: Path | None) -> Config | None:
        if root is None:
            self.problems.append(
                ConfigProblem(
                    self.source, None, None, "", "empty file: expected at least 'version: 1'"
                )
            )
            return None
        top = self.mapping(root, "", _TOP_KEYS)
        if top is None:
            return None
        version = CONFIG_VERSION
        if "version" not in top:
            self.problem(root, "version", "missing: every config starts with 'version: 1'")
        else:
            node = top["version"][1]
            value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
            if value != CONFIG_VERSION or isinstance(value, bool):
                self.problem(
                    node,
                    "version",
                    f"unsupported version {value!r}; this relayhunt reads version {CONFIG_VERSION}",
                )
        profile: Profile = DEFAULT_PROFILE
        if "profile" in top:
            chosen = self.choice(top["profile"][1], "profile", PROFILES)
            profile = cast(Profile, chosen) if chosen else profile
        min_severity: Severity = DEFAULT_MIN_SEVERITY
        if "min_severity" in top:
            chosen = self.choice(top["min_severity"][1], "min_severity", SEVERITIES)
            min_severity = cast(Severity, chosen) if chosen else min_severity
        allowlist: list[AllowEntry] = []
        if "allowlist" in top:
            allowlist = self.allowlist(top["allowlist"][1])
        deployers: list[str] = []
        if "deployers" in top:
            deployers = self.deployers(top["deployers"][1])
        rules: dict[str, RuleOverride] = {}
        if "rules" in top:
            rules = self.rules(top["rules"][1])
        deployer_rules = (
            frozenset(r for r, t in self.registry.items() if DEPLOYERS_THRESHOLD in t)
            if self.registry is not None
            else None
        )
        return Config(
            version=version,
            profile=profile,
            min_severity=min_severity,
            allowlist=tuple(allowlist),
            rules=rules,
            source=path,
            deployers=tuple(dict.fromkeys(deployers)),
            deployer_rules=deployer_rules,
        )

    # -- deployers ----------------------------------------------------------------------
    def deployers(self, node: yaml.Node) -> list[str]:
        """Globs of expected cloud deployers (role ARNs, service accounts, e-mails)."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        items = self.string_list(node, "deployers")
        out: list[str] = []
        for i, (item_node, raw) in enumerate(items or []):
            pattern = self.pattern(item_node, f"deployers[{i}]", "deployers", raw)
            if pattern is not None:
                if pattern.strip("*?") == "":
                    self.problem(item_node, f"deployers[{i}]", "matches every principal")
                    continue
                out.append(pattern)
        return out

    # -- allowlist ----------------------------------------------------------------------
    def allowlist(self, node: yaml.Node) -> list[AllowEntry]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []  # "allowlist:" with everything below commented out
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "allowlist", f"expected a list of entries, got {_kind(node)}")
            return []
        entries = []
        for i, item in enumerate(node.value):
            entry = self.entry(item, f"allowlist[{i}]", i)
            if entry is not None:
                entries.append(entry)
        return entries

    def entry(self, node: yaml.Node, path: str, index: int) -> AllowEntry | None:
        fields = self.mapping(node, path, _ENTRY_KEYS)
        if fields is None:
            return None
        ok = True
        reason: str | None = None
        if "reason" not in fields:
            self.problem(node, f"{path}.reason", "missing: say why this is allowed")
            ok = False
        else:
            reason = self.string(fields["reason"][1], f"{path}.reason")
            if reason is not None:
                reason = " ".join(reason.split())
                if not reason:
                    self.problem(fields["reason"][1], f"{path}.reason", "must not be empty")
                elif any(unicodedata.category(c) in ("Cc", "Cf") for c in reason):
                    self.problem(
                        fields["reason"][1],
                        f"{path}.reason",
                        "control or invisible formatting characters are not allowed",
                    )
                    reason = None
            ok = ok and bool(reason)
        globs: dict[str, tuple[str, ...]] = {}
        for name in MATCH_FIELDS:
            if name not in fields:
                continue
            sub = f"{path}.{name}"
            items = self.string_list(fields[name][1], sub)
            if items is None:
                ok = False
                continue
            cleaned: list[str] = []
            for j, (item_node, pattern) in enumerate(items):
                checked = self.pattern(item_node, f"{sub}[{j}]", name, pattern)
                if checked is None:
                    ok = False
                else:
                    cleaned.append(checked)
            globs[name] = tuple(dict.fromkeys(cleaned))
        expires = None
        if "expires" in fields:
            expires = self.date(fields["expires"][1], f"{path}.expires")
            ok = ok and expires is not None
        given = [n for n in MATCH_FIELDS if n in fields]
        if not given:
            self.problem(
                node,
                path,
                "matches every finding: give at least one of "
                + ", ".join(n for n in MATCH_FIELDS if n != "rules"),
            )
            ok = False
        elif given == ["rules"]:
            self.problem(
                node,
                path,
                "an entry with only 'rules' suppresses whole rules; set "
                "'rules: {<id>: {enabled: false}}' instead, or add another field "
                "(process, destination, host ...) to narrow it",
            )
            ok = False
        if not ok or reason is None:
            return None
        return AllowEntry(
            reason=reason,
            process=globs.get("process", ()),
            parent=globs.get("parent", ()),
            command_line=globs.get("command_line", ()),
            destination=globs.get("destination", ()),
            host=globs.get("host", ()),
            user=globs.get("user", ()),
            rules=globs.get("rules", ()),
            expires=expires,
            index=index,
            location=self.where(node),
        )

    def pattern(self, node: yaml.Node, path: str, field_name: str, raw: str) -> str | None:
        pattern = raw.strip().lower()
        if not pattern:
            self.problem(node, path, "empty pattern")
            return None
        bad = next(
            (c for c in pattern if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None
        )
        if bad is not None:
            self.problem(node, path, f"control or invisible character U+{ord(bad):04X}")
            return None
        if field_name == "destination":
            pattern = pattern.removesuffix(".")
            if not pattern.isascii():
                self.problem(
                    node,
                    path,
                    "write internationalised names in their A-label (xn--) form",
                )
                return None
            if not _HOST_PATTERN.fullmatch(pattern):
                bad_chars = sorted({c for c in pattern if not _HOST_PATTERN.fullmatch(c)})
                self.problem(
                    node,
                    path,
                    f"not a hostname glob: {''.join(bad_chars)!r} not allowed "
                    "(letters, digits, '-', '_', '.', '*', '?'; no scheme, port or path)",
                )
                return None
            if ".." in pattern or pattern.startswith("."):
                self.problem(node, path, "empty label (a leading dot or '..')")
                return None
        if field_name == "rules" and self.registry is not None and not _has_wildcard(pattern):
            known = {r.lower(): r for r in self.registry}
            if pattern not in known:
                self.problem(
                    node,
                    path,
                    f"unknown rule {raw.strip()!r}{_suggest(raw.strip(), list(self.registry))}",
                )
                return None
        return pattern

    # -- rules --------------------------------------------------------------------------
    def rules(self, node: yaml.Node) -> dict[str, RuleOverride]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return {}
        items = self.mapping(node, "rules", None)
        if items is None:
            return {}
        out: dict[str, RuleOverride] = {}
        for rule_id, (key_node, value_node) in items.items():
            path = f"rules.{rule_id}"
            if self.registry is not None and rule_id not in self.registry:
                self.problem(
                    key_node, path, f"unknown rule {rule_id!r}{_suggest(rule_id, self.registry)}"
                )
                continue
            override = self.rule(rule_id, value_node, path)
            if override is not None:
                out[rule_id] = override
        return out

    def rule(self, rule_id: str, node: yaml.Node, path: str) -> RuleOverride | None:
        items = self.mapping(node, path, None)
        if items is None:
            return None
        declared = self.registry.get(rule_id) if self.registry is not None else None
        enabled: bool | None = None
        severity: Severity | None = None
        thresholds: dict[str, ThresholdValue] = {}
        threshold_nodes: list[tuple[str, yaml.Node, yaml.Node, str]] = []
        for key, (key_node, value_node) in items.items():
            sub = f"{path}.{key}"
            if key == "enabled":
                enabled = self.boolean(value_node, sub)
            elif key == "severity":
                chosen = self.choice(value_node, sub, SEVERITIES)
                severity = cast(Severity, chosen) if chosen else None
            elif key == "thresholds":
                inner = self.mapping(value_node, sub, None)
                for name, (name_node, v_node) in (inner or {}).items():
                    threshold_nodes.append((name, name_node, v_node, f"{sub}.{name}"))
            else:  # shorthand: a threshold given directly under the rule
                threshold_nodes.append((key, key_node, value_node, sub))
        for name, name_node, value_node, sub in threshold_nodes:
            if name in thresholds:
                self.problem(name_node, sub, "threshold given twice (directly and in thresholds)")
                continue
            if declared is not None and name not in declared:
                names = [*_RULE_KEYS, *declared]
                self.problem(
                    name_node,
                    sub,
                    f"unknown setting {name!r} for {rule_id}{_suggest(name, names)} "
                    f"(thresholds: {', '.join(declared) or 'none'}; also "
                    f"{', '.join(_RULE_KEYS)})",
                )
                continue
            value = self.threshold(
                value_node, sub, declared.get(name) if declared is not None else None
            )
            if value is not None:
                thresholds[name] = value
        return RuleOverride(rule_id, enabled=enabled, severity=severity, thresholds=thresholds)

    def threshold(self, node: yaml.Node, path: str, default: object) -> ThresholdValue | None:
        if isinstance(node, yaml.SequenceNode):
            if default is not None and not isinstance(default, list | tuple):
                self.problem(node, path, f"expected {_describe(default)}, got a list")
                return None
            item_default = next(iter(default), None) if isinstance(default, list | tuple) else None
            items = []
            for i, item in enumerate(node.value):
                if not isinstance(item, yaml.ScalarNode):
                    self.problem(item, f"{path}[{i}]", f"expected a value, got {_kind(item)}")
                    return None
                element = self.threshold(item, f"{path}[{i}]", item_default)
                if element is None:
                    return None
                items.append(cast(int | float | str | bool, element))
            return tuple(items)
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.problem(node, path, f"expected a number, string or boolean, got {_kind(node)}")
            return None
        value: object = self.scalar(node)
        if isinstance(value, dt.date):  # an unquoted date; thresholds are never dates
            value = node.value
        if isinstance(default, list | tuple):
            self.problem(node, path, f"expected {_describe(default)}, got {_kind(node)}")
            return None
        if not isinstance(value, int | float | str | bool):
            self.problem(node, path, f"expected a number, string or boolean, got {_kind(node)}")
            return None
        if default is not None and not _same_kind(value, default):
            self.problem(node, path, f"expected {_describe(default)}, got {_kind(node)}")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or value < 0:
                self.problem(node, path, f"must be a finite number >= 0, got {value!r}")
                return None
            if isinstance(default, float) and not isinstance(value, float):
                return float(value)
        return value


def _same_kind(value: object, default: object) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def _describe(default: object) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return f"an integer (default {default})"
    if isinstance(default, float):
        return f"a number (default {default})"
    if isinstance(default, str):
        return f"a string (default {default!r})"
    if isinstance(default, list | tuple):
        return "a list"
    return "a value"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


# ------------------------------------------------------------------------------ globs


def glob_regex(pattern: str, *, host: bool) -> re.Pattern[str]:
    """Python regex equivalent of one (lowercased) glob, for :meth:`AllowEntry.matches`."""
    if host:
        return re.compile(_host_glob_regex(pattern))
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def _host_glob_regex(pattern: str) -> str:
    """Anchored, label-aware regex for a validated hostname glob, using only characters
    that need no escaping in RE2, java.util.regex, Python ``re`` or a SQL literal."""
    if pattern == "*":
        return "^.+$"
    out = ["^"]
    rest = pattern
    if rest.startswith("*."):
        out.append("(?:[^.]+[.])+")  # one or more whole labels
        rest = rest[2:]
    for c in rest:
        if c == "*":
            out.append("[^.]*")
        elif c == "?":
            out.append("[^.]")
        elif c == ".":
            out.append("[.]")
        else:  # [a-z0-9_-] only (validated): literal in any regex dialect
            out.append(c)
    out.append("$")
    return "".join(out)


def _like_pattern(pattern: str) -> str:
    out = []
    for c in pattern:
        if c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        elif c in ("%", "_", _LIKE_ESCAPE):
            out.append(_LIKE_ESCAPE + c)
        else:
            out.append(c)
    return "".join(out)


def sql_string(value: str) -> str:
    """A SQL string literal that means the same in DuckDB and Spark SQL: quotes doubled,
    backslashes spelled ``chr(92)``; control characters are refused."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"control character in SQL literal: {value!r}")
    parts = ["'" + p.replace("'", "''") + "'" for p in value.split("\\")]
    return "(" + " || chr(92) || ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _identifier(name: str, qualifier: str | None) -> str:
    quoted = name if _BARE_IDENTIFIER.fullmatch(name) else '"' + name.replace('"', '""') + '"'
    if qualifier:
        q = (
            qualifier
            if _BARE_IDENTIFIER.fullmatch(qualifier)
            else ('"' + qualifier.replace('"', '""') + '"')
        )
        return f"{q}.{quoted}"
    return quoted


def _field_sql(name: str, globs: tuple[str, ...], available: set[str], qual: str | None) -> str:
    columns = [c for c in MATCH_FIELDS[name] if c in available]
    if not columns:
        return "FALSE"
    tests: list[str] = []
    for column in columns:
        col = f"lower({_identifier(column, qual)})"
        for glob in globs:
            if name == "destination":
                tests.append(f"regexp_matches({col}, {sql_string(_host_glob_regex(glob))})")
            elif glob == "*":
                tests.append(f"{col} IS NOT NULL")
            else:
                tests.append(f"{col} LIKE {sql_string(_like_pattern(glob))} ESCAPE '!'")
    return "(" + " OR ".join(f"coalesce({t}, FALSE)" for t in tests) + ")"


def _entry_sql(entry: AllowEntry, available: set[str], qual: str | None) -> str:
    parts = [
        _field_sql(name, entry.globs(name), available, qual)
        for name in MATCH_FIELDS
        if entry.globs(name)
    ]
    return "(" + " AND ".join(parts) + ")"


def suppression_sql(
    config: Config,
    relation_columns: Iterable[str] | None = None,
    *,
    today: dt.date | None = None,
    qualifier: str | None = None,
) -> str:
    """SQL boolean, never NULL, that is TRUE when an active allowlist entry matches a row.

    ``relation_columns`` names the columns the relation has (default: all of
    :data:`SUPPRESSION_COLUMNS`); a missing column never matches. ``qualifier`` prefixes
    column references (a table alias). Expired entries (see ``today``, default the UTC
    date) are left out: :meth:`Config.warnings` reports them."""
    available = set(SUPPRESSION_COLUMNS if relation_columns is None else relation_columns)
    entries = config.active_allowlist(today)
    if not entries:
        return "FALSE"
    return "(" + " OR ".join(_entry_sql(e, available, qualifier) for e in entries) + ")"


def suppression_reason_sql(
    config: Config,
    relation_columns: Iterable[str] | None = None,
    *,
    today: dt.date | None = None,
    qualifier: str | None = None,
) -> str:
    """SQL ``VARCHAR`` expression: the ``reason`` of the first active entry that matches,
    in file order, else NULL. Same arguments as :func:`suppression_sql`."""
    available = set(SUPPRESSION_COLUMNS if relation_columns is None else relation_columns)
    entries = config.active_allowlist(today)
    if not entries:
        return "CAST(NULL AS VARCHAR)"
    whens = " ".join(
        f"WHEN {_entry_sql(e, available, qualifier)} THEN {sql_string(e.reason)}" for e in entries
    )
    return f"(CASE {whens} ELSE CAST(NULL AS VARCHAR) END)"


def min_severity_sql(config: Config, column: str = "severity") -> str:
    """SQL boolean: the row's severity is at least ``config.min_severity``."""
    keep = SEVERITIES[severity_rank(config.min_severity) :]
    return f"({_identifier(column, None)} IN ({', '.join(sql_string(s) for s in keep)}))"


__all__ = [
    "MATCH_FIELDS",
    "PROFILES",
    "SEVERITIES",
    "SUPPRESSION_COLUMNS",
    "AllowEntry",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "RuleOverride",
    "glob_regex",
    "load_config",
    "min_severity_sql",
    "parse_config",
    "rule_overrides",
    "severity_rank",
    "sql_string",
    "suppression_reason_sql",
    "suppression_sql",
]
