"""Drift statistics: live inputs against the training baseline. Pure functions, no I/O.

PSI (population stability index) for every feature: categories as they are (plus an "unseen" bucket for
categories the model never saw), numbers in the baseline's decile bins; missing values are a bucket of
their own in both, so "more nulls" is drift too. KS (two-sample, against the baseline's sample) for numeric
features, reported beside PSI. The drift score is the largest PSI: the usual reading is < 0.1 stable,
0.1-0.2 moderate shift, >= 0.2 significant; a feature is reported as drifted at PSI >= 0.2. KS answers a
different question (could the samples share one distribution?) and with thousands of rows flags shifts
too small to matter, so it is reported (``ks_differs``) but does not decide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from workloads.training.baseline import bin_shares

PSI_FLOOR = 1e-4
"""Shares below this are raised to it, so an empty bucket does not make PSI infinite."""
PSI_DRIFT = 0.2
KS_PVALUE = 0.01
UNSEEN = "__unseen__"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, dtype=float), PSI_FLOOR, None)
    actual = np.clip(np.asarray(actual, dtype=float), PSI_FLOOR, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numeric_drift(spec: dict, values: pd.Series) -> dict:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = numbers[~np.isnan(numbers)]
    missing = 1 - len(present) / len(numbers) if len(numbers) else 0.0
    edges = np.asarray(spec["edges"], dtype=float)
    expected = np.append(np.asarray(spec["expected"]) * (1 - spec["missing"]), spec["missing"])
    actual = np.append(bin_shares(present, edges) * (1 - missing), missing)
    result = {"type": "numeric", "psi": psi(expected, actual), "missing": missing,
              "baseline_missing": spec["missing"], "mean": float(present.mean()) if len(present) else None,
              "baseline_mean": spec["mean"]}
    if len(present) >= 2 and len(spec.get("sample", [])) >= 2:
        ks = stats.ks_2samp(np.asarray(spec["sample"]), present)
        result.update(ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue))
    return result


def categorical_drift(spec: dict, values: pd.Series) -> dict:
    text = values.astype("object")
    is_missing = text.isna() | (text == "")
    present = text[~is_missing]
    missing = float(is_missing.mean()) if len(text) else 0.0
    known = list(spec["frequencies"])
    counts = present.value_counts()
    unseen = counts[[name not in spec["frequencies"] for name in counts.index]]
    shares = [counts.get(name, 0) / max(len(present), 1) for name in known] + [unseen.sum() / max(len(present), 1)]
    expected = [spec["frequencies"][name] * (1 - spec["missing"]) for name in known] + [0.0, spec["missing"]]
    actual = [share * (1 - missing) for share in shares] + [missing]
    return {"type": "categorical", "psi": psi(np.array(expected), np.array(actual)), "missing": missing,
            "baseline_missing": spec["missing"], "unseen_share": float(unseen.sum() / max(len(present), 1)),
            "unseen_top": {str(k): int(v) for k, v in unseen.head(5).items()}}


def drift_report(baseline: dict, frame: pd.DataFrame) -> dict:
    """Per-feature statistics, the drift score (max PSI) and the features over the thresholds."""
    features = {}
    for name, spec in baseline["features"].items():
        if name not in frame.columns:
            continue
        measure = numeric_drift if spec["type"] == "numeric" else categorical_drift
        features[name] = measure(spec, frame[name])
    drifted = sorted(name for name, f in features.items() if f["psi"] >= PSI_DRIFT)
    for f in features.values():
        if "ks_pvalue" in f:
            f["ks_differs"] = f["ks_pvalue"] < KS_PVALUE
    score = max((f["psi"] for f in features.values()), default=0.0)
    return {"rows": len(frame), "drift_score": score, "drifted_features": drifted, "features": features,
            "thresholds": {"psi": PSI_DRIFT, "ks_pvalue": KS_PVALUE}}
