"""Render attacker-controlled strings safely on a terminal."""

from __future__ import annotations

import re

from rich.markup import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(value: object, limit: int | None = 300) -> str:
    """Text with control characters (ESC, C1, bidi overrides) shown as ``\\xNN`` and rich
    markup escaped, cut to ``limit`` characters."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = text.replace("\n", "\\n").replace("\t", " ")
    return escape(text)
