"""ECS network events (Elastic Defend's shape) for the rule tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iso(at: datetime) -> str:
    """``@timestamp`` as Elastic writes it: UTC, milliseconds, ``Z``."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connection(
    at: datetime,
    *,
    host: dict[str, Any],
    user: dict[str, Any],
    process: dict[str, Any],
    source: dict[str, Any],
    destination: dict[str, Any],
) -> dict[str, Any]:
    """An outbound TCP ``connection_attempted`` event."""
    return {
        "@timestamp": iso(at),
        "event": {
            "category": ["network"],
            "type": ["start", "connection"],
            "action": "connection_attempted",
            "kind": "event",
        },
        "host": host,
        "user": user,
        "process": process,
        "source": source,
        "destination": destination,
        "network": {"transport": "tcp", "direction": "egress"},
    }
