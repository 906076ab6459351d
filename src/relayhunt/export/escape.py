"""String, regex and wildcard literals for each target language.

Each function returns a complete literal (quotes included) whose value, as the target
language reads it, is exactly the input. Characters a language cannot carry safely in a
literal (control characters other than tab/newline where the language has no escape for
them) raise :class:`UnsafeValue` rather than being passed through: a hostile catalog or
configuration value can make an export fail, never change its logic. The tests parse the
literals back (with the ``eql`` parser, pySigma and reference decoders) under hypothesis.
"""

from __future__ import annotations

from typing import Final


class UnsafeValue(ValueError):
    """A value that cannot be written as a literal of the target language."""


_C_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _check(value: str, lang: str, allowed: str = "") -> None:
    for ch in value:
        code = ord(ch)
        if ch in allowed:
            continue
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or ch in "\u2028\u2029":
            raise UnsafeValue(f"{lang}: control character U+{code:04X} in {value!r}")


def _c_string(value: str, lang: str) -> str:
    _check(value, lang, allowed="\n\r\t")
    return '"' + "".join(_C_ESCAPES.get(ch, ch) for ch in value) + '"'


def kql_string(value: str) -> str:
    """KQL double-quoted string (``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``)."""
    return _c_string(value, "kql")


def eql_string(value: str) -> str:
    """EQL double-quoted string (same escapes as KQL)."""
    return _c_string(value, "eql")


def spl_string(value: str) -> str:
    """SPL double-quoted string: only ``\\\\`` and ``\\"`` are escapes; no control
    characters at all (SPL has no escape for them)."""
    _check(value, "spl")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sumo_string(value: str) -> str:
    """Sumo Logic double-quoted string (``\\\\`` and ``\\"``); no control characters."""
    _check(value, "sumo")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logscale_string(value: str) -> str:
    """LogScale double-quoted string (``\\\\`` and ``\\"``); no control characters."""
    _check(value, "logscale")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaral_string(value: str) -> str:
    """YARA-L double-quoted string (``\\\\`` and ``\\"``); no control characters."""
    _check(value, "yaral")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def slash_regex(value: str, lang: str) -> str:
    """A ``/regex/`` literal (LogScale, YARA-L, Sumo): a ``/`` inside becomes ``\\/``.

    A backslash that precedes a ``/`` in the input is already an escape; the regex is kept
    as is otherwise (its content is the regex, not a string)."""
    _check(value, lang)
    out: list[str] = []
    escaped = False
    for ch in value:
        if ch == "/" and not escaped:
            out.append("\\/")
        else:
            out.append(ch)
        escaped = ch == "\\" and not escaped
    if escaped:
        raise UnsafeValue(f"{lang}: regex ends in a lone backslash: {value!r}")
    return "/" + "".join(out) + "/"


def yaral_backtick_regex(value: str) -> str:
    """YARA-L raw string for ``re.regex()``: backticks cannot be escaped inside it."""
    _check(value, "yaral")
    if "`" in value:
        raise UnsafeValue(f"yaral: backtick in raw regex {value!r}")
    return "`" + value + "`"


def sigma_value(value: str) -> str:
    """A Sigma plain string value: ``*``, ``?`` and ``\\`` escaped with ``\\`` so they are
    literal characters, not wildcards (the YAML quoting is left to the YAML dumper)."""
    _check(value, "sigma")
    return "".join("\\" + ch if ch in "*?\\" else ch for ch in value)


def eql_wildcard(value: str, *, any_prefix: bool = False) -> str:
    """An EQL ``:`` wildcard pattern matching ``value`` literally (after any prefix when
    ``any_prefix``). Elastic EQL has no escape for ``*`` and ``?`` in wildcard patterns, so
    values holding them are refused."""
    if "*" in value or "?" in value:
        raise UnsafeValue(f"eql: wildcard character in {value!r}")
    return eql_string(("*" if any_prefix else "") + value)


def sql_string(value: str) -> str:
    """Standard SQL string (DuckDB) with doubled single quotes."""
    _check(value, "sql", allowed="\n\r\t")
    return "'" + value.replace("'", "''") + "'"
