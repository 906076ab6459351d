"""relayhunt: find C2 traffic hidden behind serverless and edge platforms."""

from __future__ import annotations

__version__ = "0.1.0"
