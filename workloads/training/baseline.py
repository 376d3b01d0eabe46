"""The training baseline: per-feature distributions the drift monitor compares live traffic against.

Written by training into the model directory as ``baseline.json`` and read by the drift monitor, so the
format lives here, with the functions that bin values the same way on both sides. It sits with training
because it ships in the training bundle (the monitor runs with the whole package). Numeric features keep decile
bin edges with the share of rows in each bin (for PSI) and 101 quantiles (for KS); categorical features
keep each category's share. Both keep their share of missing values, and numeric features a seeded
sample of up to 1,000 values, for a two-sample KS test that handles integer-valued features correctly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

BASELINE_FORMAT = 1
NUMERIC_BINS = 10
QUANTILES = 101
SAMPLE_SIZE = 1000


def build_baseline(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    """Distributions of the given columns of ``frame`` (the model's inputs, as callers send them)."""
    features = {}
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1])) if len(present) else []
        features[name] = {
            "type": "numeric",
            "count": len(values),
            "missing": _share(len(values) - len(present), len(values)),
            "edges": [float(e) for e in edges],
            "expected": [float(s) for s in bin_shares(present, np.asarray(edges))],
            "quantiles": [float(q) for q in np.quantile(present, np.linspace(0, 1, QUANTILES))] if len(present) else [],
            "mean": float(present.mean()) if len(present) else None,
            "std": float(present.std()) if len(present) else None,
            "sample": [float(v) for v in _sample(present)],
        }
    for name in categorical:
        values = frame[name].astype("object")
        missing = values.isna() | (values == "")
        counts = values[~missing].value_counts()
        features[name] = {
            "type": "categorical",
            "count": len(values),
            "missing": _share(int(missing.sum()), len(values)),
            "frequencies": {str(k): _share(int(v), int((~missing).sum())) for k, v in sorted(counts.items())},
        }
    return {"format": BASELINE_FORMAT, "rows": len(frame), "features": features}


def bin_shares(present: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values in each of ``len(edges) + 1`` bins: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return counts / max(len(present), 1)


def write_baseline(path: Path, baseline: dict) -> None:
    path.write_text(json.dumps(baseline, indent=2, sort_keys=True))


def read_baseline(text: str | bytes) -> dict:
    baseline = json.loads(text)
    if baseline.get("format") != BASELINE_FORMAT:
        raise ValueError(f"baseline format must be {BASELINE_FORMAT}, got {baseline.get('format')!r}")
    return baseline


def _sample(values: np.ndarray) -> np.ndarray:
    if len(values) <= SAMPLE_SIZE:
        return values
    return np.random.default_rng(0).choice(values, SAMPLE_SIZE, replace=False)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
