"""Row-wise derived features: one definition shared by the features job, training and serving.

``derive`` works on plain arrays, so the model's encoder (which runs on every prediction and must be
cheap for a single row) and ``add_features`` (the features job, on whole partitions) compute the very same
values. Missing inputs give missing features (NaN), never an error: the model treats them as missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LONG_CONTRACTS = ("one-year", "two-year")


def derive(tenure_months, total_charges, support_calls, num_products, contract) -> dict[str, np.ndarray]:
    """``charges_per_tenure``, ``is_long_contract`` and ``calls_per_product`` from the raw inputs."""
    tenure = np.asarray(tenure_months, dtype=np.float64)
    products = np.asarray(num_products, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        charges_per_tenure = np.asarray(total_charges, dtype=np.float64) / np.maximum(tenure, 1.0)
        calls_per_product = np.asarray(support_calls, dtype=np.float64) / np.where(products > 0, products, np.nan)
    is_long = np.fromiter((value in LONG_CONTRACTS for value in contract), dtype=np.int64, count=len(tenure))
    return {"charges_per_tenure": charges_per_tenure, "is_long_contract": is_long,
            "calls_per_product": calls_per_product}


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the derived feature columns (schema.FEATURE_COLUMNS)."""
    derived = derive(*(_floats(frame[name]) for name in ("tenure_months", "total_charges", "support_calls",
                                                         "num_products")),
                     frame["contract"].to_numpy(dtype=object, na_value=None))
    out = frame.copy(deep=False)
    for name, values in derived.items():
        out[name] = values
    return out


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)
