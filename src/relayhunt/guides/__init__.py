"""Investigation guides and response playbooks, one per detection rule.

The guides are package data (``data/*.yaml``, one file per rule), loaded with
``yaml.safe_load`` and validated on first use; a malformed guide raises
:class:`GuideError` naming the file and the field.

Pivot queries carry placeholders such as ``{host}`` or ``{domain}`` (the set is
:data:`PLACEHOLDERS`). :meth:`Guide.render_pivots` fills them with values taken from a
finding (:func:`values_from_finding`), each written as a complete, escaped string literal
of the pivot's language (the escaping functions of :mod:`relayhunt.export.escape`), so a
hostile value cannot change a query's logic.
"""

from __future__ import annotations

from relayhunt.guides.loader import load_all, values_from_finding
from relayhunt.guides.model import (
    REQUIRED_SIEMS,
    SIEM_NAMES,
    SIEMS,
    Guide,
    GuideError,
    Pivot,
)
from relayhunt.guides.render import PLACEHOLDERS, render_pivots


def all_guides() -> dict[str, Guide]:
    """Every guide, by rule id (validated; parsed once, then cached)."""
    return dict(load_all())


def get_guide(rule_id: str) -> Guide | None:
    """The guide of ``rule_id``, or None when there is none."""
    return load_all().get(rule_id)


__all__ = [
    "PLACEHOLDERS",
    "REQUIRED_SIEMS",
    "SIEMS",
    "SIEM_NAMES",
    "Guide",
    "GuideError",
    "Pivot",
    "all_guides",
    "get_guide",
    "render_pivots",
    "values_from_finding",
]
