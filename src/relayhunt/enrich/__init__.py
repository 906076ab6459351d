"""Enrichment over the normalized store: attribution, catalog match, process classes."""
