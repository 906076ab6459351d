"""Hostname normalization, once in Python and once as SQL, with the same rules.

A raw value (a DNS query name, a TLS SNI, an HTTP Host header, a URL, ``host:port``) becomes
the hostname that is compared with the catalog:

1. surrounding whitespace removed; any other whitespace or control character -> no host;
2. lowercase;
3. a URL scheme (``https://``), then everything from the first ``/``, ``?`` or ``#``, then
   user info (``user@``), then a ``:port`` are removed;
4. non-ASCII names are converted to IDNA A-labels (``bücher`` -> ``xn--bcher-kva``); a name
   the IDNA codec rejects -> no host;
5. one trailing dot (the DNS root) is removed;
6. what is left must be labels of ``[a-z0-9_-]`` separated by single dots, else no host.

"No host" is ``None`` in Python and ``NULL`` in SQL: it never matches and never raises.

The SQL form handles values made only of printable ASCII without spaces (``[!-~]``), which
is nearly all telemetry, with regular expressions (no per-row Python). Anything else goes to
the ``relayhunt_normalize_host`` function (this module's :func:`normalize_host`), which
DuckDB calls in vectors of distinct values only.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# HOST_RE does steps 2-6 for ASCII text in one regular expression: optional scheme,
# optional user info, the host (group 1, already in its valid form), one optional trailing
# dot, optional port, optional path/query/fragment. If the value holds no valid host the
# expression does not match at all. It uses only syntax shared by Python ``re``, RE2 (DuckDB)
# and java.util.regex (Spark), and no backslashes, so the same text is embedded in SQL string
# literals of both engines.
CLEAN_ASCII_RE: Final = "^[!-~]+$"
VALID_HOST_RE: Final = "^[a-z0-9_-]+(?:[.][a-z0-9_-]+)*$"
HOST_RE: Final = (
    "^(?:[a-z][a-z0-9+.-]*://)?(?:[^/?#]*@)?"
    "([a-z0-9_-]+(?:[.][a-z0-9_-]+)*)"
    "[.]?(?::[0-9]*)?(?:[/?#].*)?$"
)
# Python-only first pass for non-ASCII text: the same parts, with any host characters, so
# that the host can be given to the IDNA codec before it is validated.
_UNICODE_HOST_RE: Final = (
    "^(?:[a-z][a-z0-9+.-]*://)?(?:[^/?#]*@)?([^/?#:@]+?)[.]?(?::[0-9]*)?(?:[/?#].*)?$"
)

UDF_NAME: Final = "relayhunt_normalize_host"

_HOST = re.compile(HOST_RE, re.DOTALL)
_UNICODE_HOST = re.compile(_UNICODE_HOST_RE, re.DOTALL)
_VALID_HOST = re.compile(VALID_HOST_RE)


def _is_forbidden(char: str) -> bool:
    # Inner whitespace, control and format characters (incl. bidi overrides, zero-width
    # joiners): a hostname never contains them, and they are how look-alikes are built.
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn")


def normalize_host(raw: str | None) -> str | None:
    """The hostname to compare with the catalog, or None if ``raw`` holds no valid one.

    >>> normalize_host(" HTTPS://App.Account.Workers.DEV.:443/path ")
    'app.account.workers.dev'
    >>> normalize_host("bücher.workers.dev")
    'xn--bcher-kva.workers.dev'
    >>> normalize_host("notahost..workers.dev") is None
    True
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or any(_is_forbidden(c) for c in text):
        return None
    text = text.lower()
    if text.isascii():
        match = _HOST.match(text)
        return match.group(1) if match else None
    loose = _UNICODE_HOST.match(text)
    if loose is None:
        return None
    try:
        # Python's IDNA codec (IDNA 2003 / nameprep): maps case and compatibility forms,
        # treats the ideographic and fullwidth full stops as dots, and rejects what cannot
        # be a label. See docs/catalog.md for the IDNA 2008 differences.
        host = loose.group(1).encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    host = host.removesuffix(".")  # a trailing full stop other than "." survives until here
    return host if _VALID_HOST.match(host) else None


def sql_literal(value: str) -> str:
    """A SQL string literal (standard quoting, valid in DuckDB and Spark for our strings)."""
    if "\\" in value:
        # Spark unescapes backslashes in literals and DuckDB does not; we never need one.
        raise ValueError(f"backslash in SQL literal: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def normalize_host_sql(expr: str) -> str:
    """SQL expression (DuckDB; Spark after the documented renames) normalizing ``expr``.

    Printable-ASCII values are normalized by one regular expression; the rest by the
    ``relayhunt_normalize_host`` scalar function, which must be registered on the connection
    (``match.register_catalog`` does it)."""
    # The first branch is a fast path for the common case, a value that already is a
    # hostname (apart from case); HOST_RE's capture group is several times slower.
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN regexp_matches(lower({expr}), {sql_literal(VALID_HOST_RE)}) THEN lower({expr}) "
        f"WHEN regexp_matches({expr}, {sql_literal(CLEAN_ASCII_RE)}) "
        f"THEN nullif(regexp_extract(lower({expr}), {sql_literal(HOST_RE)}, 1), '') "
        f"ELSE {UDF_NAME}({expr}) END"
    )
