"""Detections. The registry is explicit; each rule is one module with its metadata."""

from __future__ import annotations

from relayhunt.detect import (
    beacon,
    cloud,
    cmdline_url,
    compat,
    rarity,
    script_chain,
    serverless_egress,
)
from relayhunt.detect.base import Rule


def rules() -> list[Rule]:
    """Every rule, relayhunt's own first, then the vendor reproductions (compat)."""
    return [
        serverless_egress.RULE,
        cmdline_url.RULE,
        script_chain.RULE,
        rarity.RULE,
        beacon.RULE,
        *cloud.RULES,
        compat.RULE_000,
        compat.RULE_001,
    ]


def rule_by_id(rule_id: str) -> Rule:
    for rule in rules():
        if rule.id == rule_id:
            return rule
    raise KeyError(rule_id)


__all__ = ["Rule", "rule_by_id", "rules"]
