"""The model's input encoder: a DataFrame of raw inputs -> the float matrix the trees read.

Numeric inputs pass through, the derived features are computed by ``etl.features.derive``, categories
become their index in the schema's allowed values (unknown or missing -> NaN, which the trees route as
missing). Written as one small transformer instead of a ColumnTransformer + OneHotEncoder because it runs
on every request: for a single row it costs tens of microseconds where those cost milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from workloads.etl.features import derive
from workloads.etl.schema import CATEGORICAL_INPUTS, FEATURE_COLUMNS, MODEL_INPUT_COLUMNS, NUMERIC_INPUTS

CATEGORIES: dict[str, tuple[str, ...]] = {c.name: tuple(c.allowed or ()) for c in MODEL_INPUT_COLUMNS
                                          if c.name in CATEGORICAL_INPUTS}
_LOOKUPS = {values: {name: float(i) for i, name in enumerate(values)} for values in CATEGORIES.values()}
OUTPUT_COLUMNS: tuple[str, ...] = (*NUMERIC_INPUTS, *(c.name for c in FEATURE_COLUMNS), *CATEGORICAL_INPUTS)


class FrameEncoder(TransformerMixin, BaseEstimator):
    """Stateless: everything it needs is declared in the schema, so ``fit`` only records the output names."""

    def fit(self, frame: pd.DataFrame, y=None):
        self.feature_names_out_ = np.array(OUTPUT_COLUMNS, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        columns = {name: frame[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in NUMERIC_INPUTS}
        columns.update((name, frame[name].to_numpy(dtype=object)) for name in CATEGORICAL_INPUTS)
        return encode(columns)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(OUTPUT_COLUMNS, dtype=object)


def encode(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The float matrix from the raw inputs as arrays (numbers float64 with NaN for missing, categories object
    with None): ``transform`` without a DataFrame, which the server skips for small batches (building one costs
    more than encoding its rows)."""
    numeric = [columns[name] for name in NUMERIC_INPUTS]
    derived = derive(columns["tenure_months"], columns["total_charges"], columns["support_calls"],
                     columns["num_products"], columns["contract"])
    codes = [_codes(columns[name], CATEGORIES[name]) for name in CATEGORICAL_INPUTS]
    return np.column_stack([*numeric, *(v.astype(np.float64) for v in derived.values()), *codes])


def _codes(values: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    lookup = _LOOKUPS[categories]
    return np.fromiter((lookup.get(v, np.nan) for v in values), dtype=np.float64, count=len(values))
