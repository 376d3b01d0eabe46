"""The layout PrepareRecords writes and PublishPredictions reads, in one place.

``inputs/part-NNNNN.csv`` holds headerless CSV records of the model's inputs in schema order (what the
transform job sends, split by line); ``keys/part-NNNNN.keys`` holds each record's input key, one per line,
in the same order; ``manifest.json`` names the partition, the parts and their row counts. Batch Transform
writes ``<part>.csv.out`` for each input part, one score per line.
"""

from __future__ import annotations

INPUTS_DIR, KEYS_DIR, MANIFEST = "inputs", "keys", "manifest.json"
OUTPUT_SUFFIX = ".out"
KEYS_SUFFIX = ".keys"
ROWS_PER_PART = 200_000


def part_name(index: int) -> str:
    return f"part-{index:05d}.csv"

PREDICTION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("customer_id", "string", "The input key: the features row this prediction scores."),
    ("score", "double", "Churn probability the model gave the row."),
    ("model_package_arn", "string", "Model package (registry version) that scored the row."),
    ("model_version", "int", "Version number of that model package in its group."),
    ("scoring_job_id", "string", "The Batch Transform job that scored the row."),
)
"""The predictions table's columns (name, Glue type, description), partitioned by dt: catalog and writer agree."""
