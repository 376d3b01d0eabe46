"""Glue entry script (placeholder until the workloads issue lands)."""
