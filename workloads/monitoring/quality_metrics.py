"""Model quality from scores and true outcomes. Pure functions, numpy and pandas only (Glue's Python shell has both).

- accuracy: share of labelled rows where ``score >= 0.5`` equals the outcome;
- AUC: the Mann-Whitney rank statistic (ties count half); None when the labels hold one class only;
- calibration error (ECE): ``ECE_BINS`` equal-width bins of the score on [0, 1] (the last bin closed), the
  row-weighted mean of |mean score - share of positives| over non-empty bins;
- label coverage: labelled predictions / captured predictions (rows). A prediction whose label has not arrived
  lowers coverage only: accuracy, AUC and ECE are computed on labelled rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

THRESHOLD = 0.5
ECE_BINS = 10


def accuracy(scores: np.ndarray, outcomes: np.ndarray) -> float | None:
    if not len(scores):
        return None
    return float(np.mean((scores >= THRESHOLD).astype(int) == outcomes))


def auc(scores: np.ndarray, outcomes: np.ndarray) -> float | None:
    positives = int(outcomes.sum())
    negatives = len(outcomes) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[outcomes == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def calibration_error(scores: np.ndarray, outcomes: np.ndarray, bins: int = ECE_BINS) -> float | None:
    if not len(scores):
        return None
    index = np.minimum((np.clip(scores, 0.0, 1.0) * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            total += inside.sum() * abs(scores[inside].mean() - outcomes[inside].mean())
    return float(total / len(scores))


def quality(rows: Iterable[tuple[Sequence[float], Sequence[int] | None]]) -> dict:
    """Metrics of (scores, outcomes or None) per request, counted in rows."""
    captured, scores, outcomes = 0, [], []
    for row_scores, row_outcomes in rows:
        captured += len(row_scores)
        if row_outcomes is not None:
            scores += list(row_scores)
            outcomes += list(row_outcomes)
    s, o = np.asarray(scores, dtype=float), np.asarray(outcomes, dtype=int)
    return {"captured": captured, "labelled": len(s),
            "coverage": len(s) / captured if captured else 0.0,
            "accuracy": accuracy(s, o), "auc": auc(s, o), "calibration_error": calibration_error(s, o),
            "positives": int(o.sum())}
