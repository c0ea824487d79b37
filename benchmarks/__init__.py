"""Benchmarks: one folder each, holding its script and its committed results."""
