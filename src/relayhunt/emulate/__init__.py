"""Writers that produce the telemetry of emulated adversary tests in supported formats."""

from __future__ import annotations
