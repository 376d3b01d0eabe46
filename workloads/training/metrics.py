"""Binary classification metrics in one shape for training's metadata and the evaluation report."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

THRESHOLD = 0.5


def classification_metrics(labels, probabilities) -> dict[str, float]:
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities >= THRESHOLD).astype(int)
    return {
        "auc": float(skm.roc_auc_score(labels, probabilities)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, probabilities, labels=[0, 1])),
        "positive_rate": float(labels.mean()),
        "rows": len(labels),
    }
