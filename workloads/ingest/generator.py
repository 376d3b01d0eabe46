"""A seeded generator of realistic churn batches, so the project ships its own data and downloads none.

The label follows a known logistic model of the inputs (short month-to-month contracts, many support
calls, fibre and electronic cheques churn more), so a trained model has a signal to find and tests can
assert on it. Batches carry what real feeds carry: missing optional values, extreme but valid outliers,
and, on request, invalid rows of every kind the schema rejects, or drift (shifted means, a category
never seen in training, more nulls) for the monitor to detect.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from workloads.etl.schema import RAW_COLUMNS

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("card", "bank-transfer", "electronic-check", "mailed-check")
INTERNET = ("dsl", "fiber", "none")
NEW_PAYMENT_METHOD = "crypto-wallet"
"""The category drifted batches introduce: valid to a caller, unknown to the model's baseline."""

# (column, raw value) pairs the schema rejects, one per kind of defect the validator must name.
INVALID_VALUES: tuple[tuple[str, str], ...] = (
    ("tenure_months", "-3"),
    ("tenure_months", "twelve"),
    ("monthly_charges", "n/a"),
    ("monthly_charges", "999.5"),
    ("contract", "weekly"),
    ("customer_id", ""),
    ("age", "150"),
    ("num_products", "0"),
    ("churned", "2"),
    ("internet_service", ""),
)


@dataclass(frozen=True)
class Drift:
    """How far a batch departs from the training distribution; Drift() means none."""

    tenure_shift: float = 0.0
    """Months added to every tenure (negative: newer customers)."""
    charges_shift: float = 0.0
    """Added to every monthly charge."""
    new_category_fraction: float = 0.0
    """Share of rows paying with a method the model never saw."""
    extra_null_fraction: float = 0.0
    """Extra share of rows with optional values missing."""


STRONG_DRIFT = Drift(tenure_shift=-18, charges_shift=30, new_category_fraction=0.15, extra_null_fraction=0.25)


def generate_typed(rows: int, seed: int, drift: Drift | None = None) -> pd.DataFrame:
    """Valid rows with typed columns (NaN for missing optional values), the label drawn from the known model."""
    return generate_table(rows, seed, drift).to_pandas()


def generate_table(rows: int, seed: int, drift: Drift | None = None) -> pa.Table:
    drift = drift or Drift()
    rng = np.random.default_rng(seed)
    contract = rng.choice(len(CONTRACTS), rows, p=[0.55, 0.25, 0.20])
    internet = rng.choice(len(INTERNET), rows, p=[0.35, 0.45, 0.20])
    payment = rng.choice(len(PAYMENTS), rows, p=[0.3, 0.25, 0.3, 0.15])
    tenure = np.clip(rng.gamma(1.6, 18.0, rows) + drift.tenure_shift, 0, 72).round().astype(np.int64)
    tenure[contract == 2] = np.minimum(tenure[contract == 2] + 12, 72)
    base_charge = np.array([55.0, 85.0, 25.0])[internet]
    monthly = np.clip(base_charge + rng.normal(0, 12, rows) + drift.charges_shift, 5, 200)
    support_calls = rng.poisson(1.2 + 1.0 * (internet == 1), rows)
    num_products = np.clip(rng.poisson(1.5, rows) + 1, 1, 8)
    age = np.clip(rng.normal(45, 15, rows), 18, 95).round().astype(np.int64)

    # Outliers: rare, extreme, still inside the schema's ranges.
    outlier = rng.random(rows) < 0.01
    monthly[outlier] = rng.uniform(300, 499, int(outlier.sum()))
    support_calls[rng.random(rows) < 0.005] = rng.integers(20, 50)
    monthly = monthly.round(2)
    total = (tenure * monthly * rng.uniform(0.9, 1.05, rows)).round(2)

    logit = (-1.2 + 1.5 * (contract == 0) - 0.8 * (contract == 2) - 0.04 * tenure + 0.35 * support_calls
             + 0.7 * (internet == 1) + 0.6 * (payment == 2) + 0.012 * (monthly - 60) - 0.2 * (num_products - 1))
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    payment_names = np.array((*PAYMENTS, NEW_PAYMENT_METHOD), dtype=object)
    payment[rng.random(rows) < drift.new_category_fraction] = len(PAYMENTS)
    null_rate = 0.02 + drift.extra_null_fraction
    ids = pc.utf8_lpad(pc.cast(pa.array(np.arange(rows)), pa.string()), 9, "0")
    columns = {
        "customer_id": pc.binary_join_element_wise(f"C{seed:05d}-", ids, ""),
        "tenure_months": pa.array(tenure),
        "monthly_charges": pa.array(monthly),
        "total_charges": pa.array(total, mask=(rng.random(rows) < null_rate) | (tenure == 0)),
        "contract": pa.array(np.array(CONTRACTS, dtype=object)[contract], pa.string()),
        "payment_method": pa.array(payment_names[payment], pa.string()),
        "internet_service": pa.array(np.array(INTERNET, dtype=object)[internet], pa.string()),
        "support_calls": pa.array(support_calls.astype(np.int64)),
        "num_products": pa.array(num_products.astype(np.int64)),
        "age": pa.array(age, mask=rng.random(rows) < null_rate + 0.03),
        "churned": pa.array(churned),
    }
    return pa.table(columns)


def generate_raw(rows: int, seed: int, invalid_fraction: float = 0.0, drift: Drift | None = None) -> pa.Table:
    """Rows as the feed sends them (every value text, '' for missing), with a share made invalid.

    Invalid rows take the defects of INVALID_VALUES in turn, so every kind appears in a large enough batch.
    """
    table = generate_table(rows, seed, drift)
    raw = {c.name: pc.fill_null(pc.cast(table[c.name], pa.string()), "") for c in RAW_COLUMNS}
    if invalid_fraction > 0:
        rng = np.random.default_rng(seed + 1_000_003)
        bad_rows = np.flatnonzero(rng.random(rows) < invalid_fraction)
        kinds = np.arange(len(bad_rows)) % len(INVALID_VALUES)
        for kind, (column, value) in enumerate(INVALID_VALUES):
            mask = np.zeros(rows, dtype=bool)
            mask[bad_rows[kinds == kind]] = True
            if mask.any():
                raw[column] = pc.replace_with_mask(raw[column], pa.array(mask), pa.array([value] * int(mask.sum())))
    return pa.table(raw)


def to_csv(table: pa.Table) -> bytes:
    """CSV with a header, values unquoted unless they need it: the format the raw zone stores."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue()
