"""Aggregation, tables and figures from the per-run metric files."""
