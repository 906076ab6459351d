"""Beacon analytics: timing and payload statistics per (host, process, destination)."""
