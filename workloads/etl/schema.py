"""The churn dataset's declared schema: the one place that says what a valid row is.

The ETL validates every raw row against it, and the Pulumi program derives the Glue catalog tables'
columns from it, so the catalog and the data cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

DATASET = "churn"
SCHEMA_VERSION = 1
PARTITION_COLUMN = "dt"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # string | int | float
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""

    @property
    def glue_type(self) -> str:
        return {"string": "string", "int": "bigint", "float": "double"}[self.dtype]


RAW_COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "string", description="Stable customer identifier."),
    Column("tenure_months", "int", minimum=0, maximum=120, description="Months as a customer."),
    Column("monthly_charges", "float", minimum=0, maximum=500, description="Current monthly bill."),
    Column("total_charges", "float", required=False, minimum=0, maximum=100_000, description="Lifetime billed."),
    Column("contract", "string", allowed=("month-to-month", "one-year", "two-year")),
    Column("payment_method", "string", allowed=("card", "bank-transfer", "electronic-check", "mailed-check")),
    Column("internet_service", "string", allowed=("dsl", "fiber", "none")),
    Column("support_calls", "int", minimum=0, maximum=50, description="Support calls in the last 90 days."),
    Column("num_products", "int", minimum=1, maximum=10),
    Column("age", "int", required=False, minimum=18, maximum=110),
    Column("churned", "int", minimum=0, maximum=1, description="Label: left within 30 days."),
)

# Columns the feature job adds to the curated ones (numeric, derived row by row).
FEATURE_COLUMNS: tuple[Column, ...] = (
    Column("charges_per_tenure", "float", minimum=0, description="total_charges / max(tenure_months, 1)."),
    Column("is_long_contract", "int", minimum=0, maximum=1, description="1 for one- or two-year contracts."),
    Column("calls_per_product", "float", minimum=0, description="support_calls / num_products."),
)

CURATED_COLUMNS = RAW_COLUMNS
FEATURES_COLUMNS = RAW_COLUMNS + FEATURE_COLUMNS

# What a caller of the model sends: every raw column but the identifier and the label. The model's
# pipeline derives FEATURE_COLUMNS from these itself, so training and serving cannot compute them apart.
ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"
MODEL_INPUT_COLUMNS: tuple[Column, ...] = tuple(c for c in RAW_COLUMNS if c.name not in (ID_COLUMN, LABEL_COLUMN))
NUMERIC_INPUTS: tuple[str, ...] = tuple(c.name for c in MODEL_INPUT_COLUMNS if c.dtype != "string")
CATEGORICAL_INPUTS: tuple[str, ...] = tuple(c.name for c in MODEL_INPUT_COLUMNS if c.dtype == "string")


def column_names(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns]
