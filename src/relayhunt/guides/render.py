"""Filling a guide's placeholders with values from a finding, safely.

A placeholder (``{domain}``) stands for a whole string literal of the pivot's language,
quotes included: the guide writes ``RemoteUrl has {domain}``, never ``"{domain}"``. Each
value is written with the escaping function of :mod:`relayhunt.export.escape` for that
language, so quotes, backslashes, pipes or comment markers in a value stay inside the
literal. A value the language cannot carry (a control character where it has no escape)
raises :class:`~relayhunt.export.escape.UnsafeValue`; :func:`render_pivots` then leaves
that placeholder unfilled rather than failing the whole guide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from relayhunt.export.escape import (
    UnsafeValue,
    eql_string,
    kql_string,
    logscale_string,
    spl_string,
    sql_string,
    sumo_string,
    yaral_string,
)
from relayhunt.guides.model import Pivot

PLACEHOLDER_RE: Final = re.compile(r"\{([a-z][a-z0-9_]*)\}")
"""``{name}``: a placeholder. LogScale's ``case { ... }`` and ``{#event...}`` subqueries
do not match (space or ``#`` after the brace)."""

PLACEHOLDERS: Final[dict[str, str]] = {
    "host": "host (device) name: the finding's host_name",
    "user": "acting user name: user_name",
    "process": "acting process image name, e.g. powershell.exe: process_name",
    "process_path": "acting process image path: process_executable",
    "parent": "parent process image name: process_parent_name",
    "parent_path": "parent process image path: process_parent_executable",
    "domain": "the exact hostname contacted or named: destination_domain",
    "tenant": "the tenant hostname an attacker controls, e.g. evil.acct.workers.dev: "
    "serverless_tenant",
    "ip": "a destination address contacted: destination_ip",
    "account": "cloud account, project or subscription id (cloud rules: host_name)",
    "actor": "cloud principal (ARN, e-mail, UPN) that acted (cloud rules: user_name)",
    "function": "function, API or Worker name (cloud rules: stats.target)",
    "source_ip": "address the cloud API calls came from (cloud rules: stats.source_ips[0])",
}
"""Every placeholder a pivot may use, and which finding field fills it."""

QUOTERS: Final[dict[str, Callable[[str], str]]] = {
    "kql": kql_string,
    "spl": spl_string,
    "eql": eql_string,
    "logscale": logscale_string,
    "yaral": yaral_string,
    "sumo": sumo_string,
    "duckdb": sql_string,
}
"""The string-literal writer of each pivot language."""


def placeholders_in(query: str) -> list[str]:
    """The placeholder names a query uses, in order of first use."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER_RE.finditer(query):
        seen.setdefault(match.group(1), None)
    return list(seen)


def render_query(siem: str, query: str, values: Mapping[str, str]) -> str:
    """``query`` with each placeholder that has a value replaced by that value as a string
    literal of ``siem``; others are left as written. Raises ``UnsafeValue`` for a value the
    language cannot carry and ``KeyError`` for an unknown ``siem``."""
    quote = QUOTERS[siem]

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None or name not in PLACEHOLDERS:
            return match.group(0)
        return quote(str(value))

    # One pass: a value containing "{host}" is not substituted again.
    return PLACEHOLDER_RE.sub(sub, query)


def render_pivots(
    pivots: Mapping[str, list[Pivot]],
    values: Mapping[str, str],
    *,
    complete_only: bool = False,
) -> dict[str, list[Pivot]]:
    """Every pivot rendered with :func:`render_query`. A value that a language cannot
    carry leaves that placeholder unfilled in that language only. With
    ``complete_only``, pivots that still hold a placeholder are left out (a language
    whose pivots all need a missing value is then absent)."""
    out: dict[str, list[Pivot]] = {}
    for siem, items in pivots.items():
        rendered: list[Pivot] = []
        for pivot in items:
            safe = {}
            for name, value in values.items():
                try:
                    QUOTERS[siem](str(value))
                except UnsafeValue:
                    continue
                safe[name] = value
            query = render_query(siem, pivot.query, safe)
            if complete_only and any(n in PLACEHOLDERS for n in placeholders_in(query)):
                continue
            rendered.append(Pivot(pivot.title, query))
        if rendered:
            out[siem] = rendered
    return out
