"""Committed samples in the canonical format, the synthetic shop generator and dataset adapters."""
