"""Load and validate ``serverless.yaml`` and ``processes.yaml``.

Every problem is collected with its location (file, line, column, and the entry's index and
id) and reported together in one :class:`CatalogError`, so a catalog author fixes a file in
one pass. Nothing is fetched: the PSL is the copy bundled with ``publicsuffixlist``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final, cast

import yaml

from relayhunt.catalog import psl
from relayhunt.catalog.hostnames import normalize_host
from relayhunt.catalog.model import (
    KINDS,
    LOLBIN_SUBCATEGORIES,
    OPERATING_SYSTEMS,
    PROCESS_CATEGORIES,
    Catalog,
    CatalogError,
    CatalogIssue,
    HostExample,
    Kind,
    Placeholder,
    ProcessCategory,
    ProcessClass,
    ServerlessEntry,
    TenantMode,
    WritablePath,
)

SCHEMA_VERSION: Final = 1
SERVERLESS_FILE: Final = "serverless.yaml"
PROCESSES_FILE: Final = "processes.yaml"

_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]*")
_PLACEHOLDER_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]*")
_PLACEHOLDER_RE: Final = re.compile(r"\{([^{}]*)\}")
# _parse_pattern's answer when the pattern uses a placeholder whose definition is invalid.
_ALREADY_REPORTED: Final = "(reported at the placeholder)"
_PATTERN_LABEL_RE: Final = re.compile(r"(?:[a-z0-9-]|\{[a-z][a-z0-9_]*\})+")
_PATH_LABEL_RE: Final = re.compile(r"[a-z][a-z0-9_]*")
# Any host label to the left of a pattern; a pattern may also be the whole host.
_LEFT_LABELS: Final = "(?:[^.]+[.])*"
# The Windows drive forms a "C:\" pattern stands for, after "\" -> "/" and lowercasing:
# C:\, \\?\C:\, \??\C:\ and \Device\HarddiskVolumeN\.
_WINDOWS_DRIVE: Final = "(?:[a-z]:|//[?]/[a-z]:|/[?][?]/[a-z]:|/device/harddiskvolume[0-9]+)"

Path_ = tuple[str | int, ...]

_LOADER: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Source:
    """One YAML document: its parsed data and a way to find the line of any node."""

    label: str
    data: object
    root: yaml.Node | None
    issues: list[CatalogIssue] = field(default_factory=list)

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        node = self.root
        best: yaml.Node | None = node
        for step in path:
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                found = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                found = node.value[step] if 0 <= step < len(node.value) else None
            else:
                found = None
            if found is None:
                break
            node = best = found
        if best is None:
            return None, None
        return best.start_mark.line + 1, best.start_mark.column + 1

    def add(self, path: Path_, location: str, message: str) -> None:
        line, column = self.where(path)
        self.issues.append(CatalogIssue(self.label, location, message, line, column))


def _read(text: str, label: str) -> _Source:
    try:
        # One parse (libyaml when present): the node tree gives line numbers, then the
        # same tree is constructed into plain data with the safe constructors.
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.SafeLoader("").construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(
            [CatalogIssue(label, "(document)", f"not valid YAML: {problem}", line, column)]
        ) from None
    source = _Source(label, data, root)
    for node, path in _mappings(root, ()):
        seen: set[str] = set()
        for key, _ in node.value:
            name = getattr(key, "value", None)
            if isinstance(name, str) and name in seen:
                line, column = key.start_mark.line + 1, key.start_mark.column + 1
                source.issues.append(
                    CatalogIssue(
                        label,
                        _dotted(path) or "(document)",
                        f"duplicate key {name!r}",
                        line,
                        column,
                    )
                )
            if isinstance(name, str):
                seen.add(name)
    return source


def _mappings(node: yaml.Node | None, path: Path_) -> Iterator[tuple[yaml.MappingNode, Path_]]:
    if isinstance(node, yaml.MappingNode):
        yield node, path
        for key, value in node.value:
            yield from _mappings(value, (*path, str(getattr(key, "value", "?"))))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yield from _mappings(value, (*path, index))


def _dotted(path: Path_) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


class _Fields:
    """Typed access to one YAML mapping, recording a located issue for every bad field."""

    def __init__(self, source: _Source, path: Path_, location: str, value: object) -> None:
        self.source = source
        self.path = path
        self.location = location
        self.ok = isinstance(value, dict)
        self.data: Mapping[str, object] = cast(dict[str, object], value) if self.ok else {}
        if not self.ok:
            self.source.add(path, location, f"expected a mapping, got {_type_name(value)}")

    def issue(self, key: str | None, message: str) -> None:
        path = self.path if key is None else (*self.path, key)
        where = self.location if key is None else f"{self.location}.{key}"
        self.source.add(path, where, message)

    def unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.issue(str(key), f"unknown field; expected one of {', '.join(sorted(allowed))}")

    def text(self, key: str, *, required: bool = True) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required and self.ok:
                self.issue(None, f"missing required field {key!r}")
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.issue(key, f"expected text, got {_type_name(value)}")
            return None
        if not value.strip():
            self.issue(key, "must not be empty")
            return None
        return value.strip()

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.issue(key, f"expected true or false, got {_type_name(value)}")
            return default
        return value

    def oses(self, key: str = "os") -> tuple[str, ...]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            self.issue(
                key if key in self.data else None,
                f"{key!r}: expected a non-empty list of {', '.join(OPERATING_SYSTEMS)}",
            )
            return ()
        bad = [v for v in value if v not in OPERATING_SYSTEMS]
        if bad:
            self.issue(
                key, f"unknown operating system {bad[0]!r}; expected {', '.join(OPERATING_SYSTEMS)}"
            )
            return ()
        return tuple(cast(list[str], value))


def _type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


# ---------------------------------------------------------------------------- placeholders


def _class_problem(content: str) -> str | None:
    """Why a character class ``[content]`` may not appear in a placeholder, or None."""
    if content.startswith("^"):
        return "negated character classes could match a dot; list the allowed characters"
    if "[:" in content:
        return "POSIX classes like [:alpha:] are not supported by java.util.regex"
    position = 0
    while position < len(content):
        low = content[position]
        if position + 2 < len(content) and content[position + 1] == "-":
            high = content[position + 2]
            position += 3
        else:
            high = low
            position += 1
        if low <= "." <= high:
            return "a character class that contains '.' would let a placeholder span labels"
    return None


def _regex_problem(regex: str) -> str | None:
    """Why ``regex`` cannot be a placeholder (portable, one label at most), or None."""
    if "\\" in regex:
        return (
            "backslashes are not allowed (Spark unescapes them in SQL literals); "
            "write [0-9] and [.]"
        )
    index, previous = 0, ""
    while index < len(regex):
        char = regex[index]
        if char == "[":
            end = index + 1
            end += regex.startswith("^", end)
            end += regex.startswith("]", end)
            end = regex.find("]", end)
            if end < 0:
                return "unterminated character class"
            problem = _class_problem(regex[index + 1 : end])
            if problem is not None:
                return problem
            index, previous = end + 1, "]"
            continue
        if char in ".^$":
            return (
                f"{char!r} outside a character class: a placeholder matches inside one label "
                "and is anchored for you"
            )
        if (
            char == "("
            and regex.startswith("?", index + 1)
            and not regex.startswith("?:", index + 1)
        ):
            return "only non-capturing groups '(?:' are allowed (no lookaround, flags or names)"
        if char == "+" and previous in ("*", "+", "?", "}"):
            return "possessive quantifiers are not supported by RE2"
        index, previous = index + 1, char
    try:
        re.compile(regex)
    except re.error as exc:
        return f"does not compile: {exc}"
    return None


def _declared_placeholders(source: _Source) -> frozenset[str]:
    data = source.data if isinstance(source.data, dict) else {}
    raw = data.get("placeholders")
    return frozenset(str(k) for k in raw) if isinstance(raw, dict) else frozenset()


def _placeholders(source: _Source) -> dict[str, Placeholder]:
    data = source.data if isinstance(source.data, dict) else {}
    raw = data.get("placeholders", {})
    if not isinstance(raw, dict):
        source.add(
            ("placeholders",),
            "placeholders",
            f"expected a mapping of name -> definition, got {_type_name(raw)}",
        )
        return {}
    out: dict[str, Placeholder] = {}
    for name, value in raw.items():
        location = f"placeholders.{name}"
        fields = _Fields(source, ("placeholders", str(name)), location, value)
        if not isinstance(name, str) or not _PLACEHOLDER_NAME_RE.fullmatch(name):
            fields.issue(
                None,
                "placeholder names are lowercase letters, digits and '_', starting with a letter",
            )
            continue
        if not fields.ok:
            continue
        fields.unknown({"regex", "example", "description", "source"})
        regex = fields.text("regex")
        example = fields.text("example")
        description = fields.text("description")
        src = fields.text("source")
        if regex is not None:
            problem = _regex_problem(regex)
            if problem is not None:
                fields.issue("regex", problem)
                regex = None
        if (regex is not None and example is not None) and (
            "." in example or not re.fullmatch(regex, example)
        ):
            fields.issue("example", f"{example!r} is not one label matched by the regex")
            example = None
        if None in (regex, example, description, src):
            continue
        out[name] = Placeholder(
            name, cast(str, regex), cast(str, example), cast(str, description), cast(str, src)
        )
    return out


# ---------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class _ParsedPattern:
    tail: str
    regex: str
    labels: int
    fixed_chars: int
    instance: str


def _parse_pattern(
    pattern: str, placeholders: Mapping[str, Placeholder], declared: frozenset[str]
) -> _ParsedPattern | str:
    """The pattern's parts, or why it is invalid."""
    if pattern != pattern.lower() or pattern.strip() != pattern:
        return "must be lowercase, without spaces"
    labels = pattern.split(".")
    if len(labels) < 2:
        return "needs at least two labels (a bare TLD would match whole namespaces)"
    for label in labels:
        if not _PATTERN_LABEL_RE.fullmatch(label):
            return (
                f"bad label {label!r}: labels are [a-z0-9-] with {{placeholder}} parts, "
                "no empty labels"
            )
    for name in _PLACEHOLDER_RE.findall(pattern):
        if name in declared and name not in placeholders:
            return _ALREADY_REPORTED
        if name not in placeholders:
            known = ", ".join(sorted(declared)) or "none defined"
            return f"unknown placeholder {{{name}}}; known: {known}"
    last_variable = max((i for i, label in enumerate(labels) if "{" in label), default=-1)
    tail_labels = labels[last_variable + 1 :]
    if len(tail_labels) < 2:
        return "the labels right of the last placeholder (the fixed tail) must be at least two"

    def expand(label: str, replace: Callable[[Placeholder], str]) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: replace(placeholders[m.group(1)]), label)

    body = "[.]".join(expand(label, lambda p: f"(?:{p.regex})") for label in labels)
    instance = ".".join(expand(label, lambda p: p.example) for label in labels)
    return _ParsedPattern(
        tail=".".join(tail_labels),
        regex=f"(?i)^{_LEFT_LABELS}{body}$",
        labels=len(labels),
        fixed_chars=len(_PLACEHOLDER_RE.sub("", pattern)),
        instance=instance,
    )


_ENTRY_FIELDS: Final = {
    "id",
    "platform",
    "provider",
    "kind",
    "pattern",
    "weight",
    "source",
    "notes",
    "legacy",
    "customer_namespace",
    "tenant_labels",
    "tenant_note",
    "examples",
}


@dataclass
class _EntryDraft:
    index: int
    id: str
    platform: str
    provider: str
    kind: Kind
    pattern: str
    parsed: _ParsedPattern
    weight: float
    source: str
    notes: str | None
    legacy: bool
    customer_namespace: bool
    tenant_labels: int | str | None
    tenant_note: str | None
    examples: tuple[HostExample, ...]


def _examples(fields: _Fields, parsed: _ParsedPattern | None) -> tuple[HostExample, ...]:
    raw = fields.data.get("examples")
    if not isinstance(raw, list) or not raw:
        fields.issue(
            "examples" if "examples" in fields.data else None,
            "'examples': expected a non-empty list of {host, tenant}",
        )
        return ()
    out: list[HostExample] = []
    for position, item in enumerate(raw):
        where = f"{fields.location}.examples[{position}]"
        example = _Fields(fields.source, (*fields.path, "examples", position), where, item)
        if not example.ok:
            continue
        example.unknown({"host", "tenant"})
        host = example.text("host")
        if "tenant" not in example.data:
            example.issue(
                None, "missing required field 'tenant' (null when the entry has no tenant)"
            )
            continue
        tenant_value = example.data["tenant"]
        if tenant_value is not None and not isinstance(tenant_value, str):
            example.issue("tenant", f"expected a hostname or null, got {_type_name(tenant_value)}")
            continue
        if host is None:
            continue
        normalized = normalize_host(host)
        if normalized is None:
            example.issue("host", f"{host!r} is not a valid hostname")
            continue
        if parsed is not None and not re.fullmatch(parsed.regex, normalized):
            example.issue("host", f"{host!r} does not match the entry's pattern")
            continue
        if tenant_value is not None and not (
            normalized == tenant_value or normalized.endswith("." + tenant_value)
        ):
            example.issue("tenant", f"{tenant_value!r} is not a label suffix of {normalized!r}")
            continue
        out.append(HostExample(host, tenant_value))
    return tuple(out)


def _entry(
    source: _Source, index: int, value: object, placeholders: Mapping[str, Placeholder]
) -> _EntryDraft | None:
    entry_id = value.get("id") if isinstance(value, dict) else None
    location = f"entries[{index}]" + (f" ({entry_id})" if isinstance(entry_id, str) else "")
    fields = _Fields(source, ("entries", index), location, value)
    if not fields.ok:
        return None
    fields.unknown(_ENTRY_FIELDS)
    ident = fields.text("id")
    if ident is not None and not _ID_RE.fullmatch(ident):
        fields.issue("id", "ids are lowercase letters, digits and '-'")
        ident = None
    platform = fields.text("platform")
    provider = fields.text("provider")
    src = fields.text("source")
    notes = fields.text("notes", required=False)
    tenant_note = fields.text("tenant_note", required=False)
    kind = fields.text("kind")
    if kind is not None and kind not in KINDS:
        fields.issue("kind", f"unknown kind {kind!r}; expected {', '.join(KINDS)}")
        kind = None
    weight = fields.data.get("weight")
    if "weight" not in fields.data:
        fields.issue(None, "missing required field 'weight'")
        weight = None
    elif isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        fields.issue("weight", f"expected a number from 0 to 1, got {weight!r}")
        weight = None
    pattern = fields.text("pattern")
    parsed: _ParsedPattern | None = None
    if pattern is not None:
        result = _parse_pattern(pattern, placeholders, _declared_placeholders(source))
        if result == _ALREADY_REPORTED:
            pass  # the placeholder's own definition carries the error
        elif isinstance(result, str):
            fields.issue("pattern", result)
        else:
            parsed = result
    legacy = fields.flag("legacy", False)
    customer_namespace = fields.flag("customer_namespace", True)
    tenant_labels = fields.data.get("tenant_labels")
    if (
        tenant_labels is not None
        and tenant_labels != "host"
        and (
            isinstance(tenant_labels, bool)
            or not isinstance(tenant_labels, int)
            or tenant_labels < 0
        )
    ):
        fields.issue(
            "tenant_labels", f"expected a whole number >= 0 or 'host', got {tenant_labels!r}"
        )
        tenant_labels = None
    if tenant_labels is not None and not customer_namespace:
        fields.issue("tenant_labels", "an entry that is not a customer namespace has no tenant")
    examples = _examples(fields, parsed)
    if None in (ident, platform, provider, src, kind, weight, parsed) or not examples:
        return None
    return _EntryDraft(
        index=index,
        id=cast(str, ident),
        platform=cast(str, platform),
        provider=cast(str, provider),
        kind=cast(Kind, kind),
        pattern=cast(str, pattern),
        parsed=cast(_ParsedPattern, parsed),
        weight=float(cast(float, weight)),
        source=cast(str, src),
        notes=notes,
        legacy=legacy,
        customer_namespace=customer_namespace,
        tenant_labels=tenant_labels,
        tenant_note=tenant_note,
        examples=examples,
    )


def _finish(draft: _EntryDraft, priority: int) -> ServerlessEntry:
    parsed = draft.parsed
    tenancy = psl.pattern_tenancy(parsed.instance)
    mode: TenantMode
    count: int | None = None
    if not draft.customer_namespace:
        mode = "none"
    elif draft.tenant_labels == "host":
        mode = "host"
    elif isinstance(draft.tenant_labels, int):
        mode, count = "labels", parsed.labels + draft.tenant_labels
    elif tenancy.covered:
        mode, count = "psl", tenancy.tenant_labels_total
    else:
        mode = "host"
    rules = psl.rules_below(parsed.tail, parsed.regex, parsed.labels) if count is not None else ()
    return ServerlessEntry(
        index=draft.index,
        id=draft.id,
        platform=draft.platform,
        provider=draft.provider,
        kind=draft.kind,
        pattern=draft.pattern,
        weight=draft.weight,
        source=draft.source,
        notes=draft.notes,
        legacy=draft.legacy,
        customer_namespace=draft.customer_namespace,
        tenant_note=draft.tenant_note,
        examples=draft.examples,
        tail=parsed.tail,
        regex=parsed.regex,
        pattern_labels=parsed.labels,
        fixed_chars=parsed.fixed_chars,
        tenant_mode=mode,
        tenant_label_count=count,
        psl_covered=tenancy.covered,
        psl_rules=rules,
        priority=priority,
    )


def _top_level(
    source: _Source, allowed: set[str], version_key: str
) -> tuple[dict[str, object], str | None] | None:
    """The document's top-level mapping and version, or None (reported) if it is not one."""
    if not isinstance(source.data, dict):
        source.add(
            (), "(document)", f"expected a mapping at the top level, got {_type_name(source.data)}"
        )
        return None
    data = cast(dict[str, object], source.data)
    for key in data:
        if key not in allowed:
            source.add(
                (str(key),),
                str(key),
                f"unknown top-level field; expected one of {', '.join(sorted(allowed))}",
            )
    if data.get("schema_version") != SCHEMA_VERSION:
        source.add(
            ("schema_version",),
            "schema_version",
            f"expected {SCHEMA_VERSION}, got {data.get('schema_version')!r}",
        )
    version = data.get(version_key)
    if not isinstance(version, str) or not version.strip():
        source.add((version_key,), version_key, "expected a non-empty version string")
        version = None
    return data, version


def _serverless(
    source: _Source,
) -> tuple[str, str, dict[str, Placeholder], tuple[ServerlessEntry, ...]]:
    top = _top_level(
        source,
        {"schema_version", "catalog_version", "psl_snapshot", "placeholders", "entries"},
        "catalog_version",
    )
    if top is None:
        return "", "", {}, ()
    data, version = top
    snapshot = data.get("psl_snapshot")
    if not isinstance(snapshot, str) or not snapshot.strip():
        source.add(
            ("psl_snapshot",),
            "psl_snapshot",
            "expected text naming the PSL snapshot the catalog was checked against",
        )
        snapshot = ""
    placeholders = _placeholders(source)
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        source.add(("entries",), "entries", "expected a non-empty list of entries")
        raw_entries = []
    drafts = [
        d
        for i, v in enumerate(raw_entries)
        if (d := _entry(source, i, v, placeholders)) is not None
    ]
    for attribute in ("id", "pattern"):
        first: dict[str, int] = {}
        for draft in drafts:
            value = cast(str, getattr(draft, attribute))
            if value in first:
                source.add(
                    ("entries", draft.index, attribute),
                    f"entries[{draft.index}] ({draft.id}).{attribute}",
                    f"duplicate {attribute} {value!r}, first used by entries[{first[value]}]",
                )
            else:
                first[value] = draft.index
    ranked = sorted(drafts, key=lambda d: (-d.parsed.labels, -d.parsed.fixed_chars, d.index))
    priorities = {d.index: rank for rank, d in enumerate(ranked, start=1)}
    entries = tuple(_finish(d, priorities[d.index]) for d in drafts)
    return version or "", snapshot, placeholders, entries


# ---------------------------------------------------------------------------- processes


def _path_regex(pattern: str) -> str:
    """Anchored prefix regex for a writable-folder pattern (see processes.yaml)."""
    text = pattern.lower().replace("\\", "/")
    out = "^"
    if re.match(r"[a-z]:/", text):
        out += _WINDOWS_DRIVE
        text = text[2:]
    for char in text:
        if char == "*":
            out += "[^/]+"
        elif char.isalnum() or char in "/-_ %:":
            out += char
        else:
            out += f"[{char}]"
    return out


def _writable_paths(source: _Source, raw: object) -> tuple[WritablePath, ...]:
    if not isinstance(raw, list) or not raw:
        source.add(("user_writable_paths",), "user_writable_paths", "expected a non-empty list")
        return ()
    out: list[WritablePath] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        location = f"user_writable_paths[{index}]"
        fields = _Fields(source, ("user_writable_paths", index), location, item)
        if not fields.ok:
            continue
        fields.unknown({"pattern", "label", "os", "source"})
        pattern = fields.text("pattern")
        label = fields.text("label")
        src = fields.text("source")
        oses = fields.oses()
        if label is not None and not _PATH_LABEL_RE.fullmatch(label):
            fields.issue("label", "labels are lowercase letters, digits and '_'")
            label = None
        if pattern is not None:
            normalized = pattern.lower().replace("\\", "/")
            problem = None
            if not normalized.endswith("/"):
                problem = (
                    "must end with a path separator, so that a folder never matches a longer name"
                )
            elif not re.match(r"(?:[a-z]:/|/|%[a-z_]+%/)", normalized):
                problem = "must start with a drive (C:\\), '/' or an %ENVIRONMENT_VARIABLE%"
            elif any(c in normalized for c in "[]^"):
                problem = "'[', ']' and '^' are not supported in folder patterns"
            elif normalized in seen:
                problem = f"duplicate of user_writable_paths[{seen[normalized]}]"
            if problem is not None:
                fields.issue("pattern", problem)
                pattern = None
            else:
                seen[normalized] = index
        if pattern is None or label is None or src is None or not oses:
            continue
        specificity = len(pattern.replace("*", ""))
        out.append(WritablePath(pattern, label, oses, src, _path_regex(pattern), specificity))
    return tuple(sorted(out, key=lambda w: -w.specificity))


def _processes(source: _Source) -> tuple[str, tuple[ProcessClass, ...], tuple[WritablePath, ...]]:
    top = _top_level(
        source,
        {"schema_version", "processes_version", "processes", "user_writable_paths"},
        "processes_version",
    )
    if top is None:
        return "", (), ()
    data, version = top
    raw = data.get("processes")
    if not isinstance(raw, list) or not raw:
        source.add(("processes",), "processes", "expected a non-empty list")
        raw = []
    out: list[ProcessClass] = []
    first: dict[str, int] = {}
    for index, item in enumerate(raw):
        name_value = item.get("name") if isinstance(item, dict) else None
        location = f"processes[{index}]" + (
            f" ({name_value})" if isinstance(name_value, str) else ""
        )
        fields = _Fields(source, ("processes", index), location, item)
        if not fields.ok:
            continue
        fields.unknown({"name", "category", "subcategory", "product", "os", "source"})
        name = fields.text("name")
        if name is not None:
            if name != name.lower() or "/" in name or "\\" in name:
                fields.issue("name", "names are lowercase image basenames, without any folder")
                name = None
            elif name in first:
                fields.issue("name", f"duplicate of processes[{first[name]}]")
                name = None
            else:
                first[name] = index
        category = fields.text("category")
        if category is not None and category not in PROCESS_CATEGORIES:
            fields.issue(
                "category",
                f"unknown category {category!r}; expected {', '.join(PROCESS_CATEGORIES)}",
            )
            category = None
        subcategory = fields.text("subcategory", required=category == "lolbin")
        if subcategory is not None and category != "lolbin":
            fields.issue("subcategory", "only lolbin entries have a subcategory")
            subcategory = None
        elif subcategory is not None and subcategory not in LOLBIN_SUBCATEGORIES:
            fields.issue(
                "subcategory",
                f"unknown subcategory {subcategory!r}; expected {', '.join(LOLBIN_SUBCATEGORIES)}",
            )
            subcategory = None
        product = fields.text("product")
        src = fields.text("source")
        oses = fields.oses()
        if (
            None in (name, category, product, src)
            or not oses
            or (category == "lolbin" and subcategory is None)
        ):
            continue
        out.append(
            ProcessClass(
                cast(str, name),
                cast(ProcessCategory, category),
                subcategory,
                cast(str, product),
                oses,
                cast(str, src),
            )
        )
    paths = _writable_paths(source, data.get("user_writable_paths"))
    return version or "", tuple(out), paths


# ---------------------------------------------------------------------------- public API


def _bundled_text(name: str) -> str:
    return resources.files("relayhunt.catalog").joinpath(name).read_text(encoding="utf-8")


def _load(
    serverless_text: str, serverless_label: str, processes_text: str, processes_label: str
) -> Catalog:
    serverless_source = _read(serverless_text, serverless_label)
    processes_source = _read(processes_text, processes_label)
    version, snapshot, placeholders, entries = _serverless(serverless_source)
    processes_version, processes, paths = _processes(processes_source)
    issues = serverless_source.issues + processes_source.issues
    if issues:
        raise CatalogError(issues)
    return Catalog(
        catalog_version=version,
        psl_snapshot=snapshot,
        placeholders=placeholders,
        entries=entries,
        processes_version=processes_version,
        processes=processes,
        writable_paths=paths,
    )


@lru_cache(maxsize=1)
def _bundled_catalog() -> Catalog:
    return _load(
        _bundled_text(SERVERLESS_FILE),
        f"{SERVERLESS_FILE} (bundled)",
        _bundled_text(PROCESSES_FILE),
        f"{PROCESSES_FILE} (bundled)",
    )


def load_catalog(path: Path | None = None, processes_path: Path | None = None) -> Catalog:
    """Load and validate the serverless catalog and the process classes.

    ``path`` replaces the bundled ``serverless.yaml``, ``processes_path`` the bundled
    ``processes.yaml``; with neither, the bundled catalog is loaded once and cached.
    Raises :class:`CatalogError` listing every problem with its file, line and entry.
    """
    if path is None and processes_path is None:
        return _bundled_catalog()
    serverless_text = (
        path.read_text(encoding="utf-8") if path is not None else _bundled_text(SERVERLESS_FILE)
    )
    processes_text = (
        processes_path.read_text(encoding="utf-8")
        if processes_path is not None
        else _bundled_text(PROCESSES_FILE)
    )
    return _load(
        serverless_text,
        str(path) if path is not None else f"{SERVERLESS_FILE} (bundled)",
        processes_text,
        str(processes_path) if processes_path is not None else f"{PROCESSES_FILE} (bundled)",
    )
