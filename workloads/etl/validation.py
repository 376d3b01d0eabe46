"""Row validation against the declared schema: every row ends up curated (typed) or quarantined (with why).

Pure functions over pandas DataFrames, so the Glue Python shell job calls them on a whole partition and
the Glue Spark job calls the very same functions on each Arrow batch through ``mapInPandas``. The work is
vectorised with Arrow compute kernels; reason texts are built only for the rows that fail.

A reason names the column, the value received and the rule, e.g.
``tenure_months: '-3' is below the minimum 0``; a row failing several rules lists them all, joined by "; ".

Columns are checked, filtered and explained on up to ``THREADS`` threads at once: Arrow's kernels release
the GIL but each runs on one core, so one column at a time left all but one core idle. Small batches (the
Spark job's ``mapInPandas`` batches, whose executors already run a task per core) stay on one thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workloads.etl.schema import RAW_COLUMNS, Column

REASON_COLUMN = "_reason"
MALFORMED_COLUMN = "_malformed"
REASON_SEPARATOR = "; "
INT_PATTERN = r"^[+-]?[0-9]{1,18}$"
FLOAT_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
ARROW_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}
THREADS = pa.cpu_count()
"""Arrow's CPU pool size: the machine's cores unless ``OMP_NUM_THREADS`` (or ``pyarrow.set_cpu_count``) says fewer."""
T = TypeVar("T")
PARALLEL_MIN_ROWS = 100_000
"""Below this many rows a batch is checked on one thread: starting threads would cost more than they save."""


@dataclass(frozen=True)
class Checked:
    """A batch split in two; ``len(curated) + len(quarantined)`` is always the rows received."""

    curated: pd.DataFrame
    """Valid rows: schema columns typed (Arrow-backed), then any extra input columns unchanged."""
    quarantined: pd.DataFrame
    """Invalid rows exactly as received (text), then extra columns, then ``_reason``."""


@dataclass(frozen=True)
class _ColumnCheck:
    typed: pa.Array
    missing: pa.Array
    malformed: pa.Array
    below: pa.Array | None
    above: pa.Array | None
    not_allowed: pa.Array | None

    def failed(self, column: Column) -> pa.Array:
        masks = [pc.and_not(self.malformed, self.missing)]
        if column.required:
            masks.append(self.missing)
        masks += [m for m in (self.below, self.above, self.not_allowed) if m is not None]
        out = masks[0]
        for mask in masks[1:]:
            out = pc.or_(out, mask)
        return pc.fill_null(out, False)


def validate_rows(raw: pd.DataFrame, columns: tuple[Column, ...] = RAW_COLUMNS) -> Checked:
    """Split ``raw`` (text columns named as in ``columns``, plus any extra columns) into curated and quarantined.

    Extra columns (the source batch, a partition date) are carried into both outputs unchanged. A column
    ``_malformed`` (set by the CSV reader for lines with the wrong field count) quarantines its rows too.
    """
    missing_columns = [c.name for c in columns if c.name not in raw.columns]
    if missing_columns:
        raise ValueError(f"input lacks schema columns {', '.join(missing_columns)}; "
                         f"expected {', '.join(c.name for c in columns)}")
    names = [c.name for c in columns]
    extras = [c for c in raw.columns if c not in names and c != MALFORMED_COLUMN]
    each = _per_column(columns, len(raw))
    received = {n: raw[n] for n in names}  # pandas' column cache is not thread-safe: columns taken here
    values = each(lambda c: _text(received[c.name]))
    checks = each(lambda c: _check(c, values[c.name]))

    failed = _all_false(len(raw))
    failures = [checks[c.name].failed(c) for c in columns]
    malformed_note = _text(raw[MALFORMED_COLUMN]) if MALFORMED_COLUMN in raw.columns else None
    if malformed_note is not None:
        failures.append(pc.fill_null(pc.not_equal(malformed_note, ""), False))
    for mask in failures:
        failed = pc.or_(failed, mask)
    ok = pc.invert(failed)

    curated = pd.DataFrame(each(lambda c: _series(pc.filter(checks[c.name].typed, ok))))
    good_index = pc.indices_nonzero(ok)
    for extra in extras:
        curated[extra] = _at(raw[extra], good_index)

    bad_index = pc.indices_nonzero(failed)
    quarantined = pd.DataFrame(each(lambda c: _series(pc.take(values[c.name], bad_index))))
    for extra in extras:
        quarantined[extra] = _at(raw[extra], bad_index)
    reasons = list(each(lambda c: _reasons(c, pc.take(values[c.name], bad_index), checks[c.name], bad_index)).values())
    if malformed_note is not None:
        note = pc.take(malformed_note, bad_index)
        reasons.insert(0, pc.if_else(pc.equal(note, ""), pa.scalar(None, pa.string()), note))
    quarantined[REASON_COLUMN] = _series(_join_reasons(reasons, len(bad_index)))
    return Checked(curated=curated, quarantined=quarantined)


def reason_counts(quarantined: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per failing column (a row failing two columns counts for both); malformed lines
    count under ``_malformed``."""
    counts: Counter[str] = Counter()
    if len(quarantined):
        reasons = pc.split_pattern(_text(quarantined[REASON_COLUMN]), REASON_SEPARATOR)
        heads = pc.utf8_slice_codeunits(pc.list_flatten(reasons), 0, 64)
        columns = pc.struct_field(pc.extract_regex(heads, r"^(?P<col>[^:]+):"), [0])
        for entry in pc.value_counts(columns).to_pylist():
            column, count = entry["values"], entry["counts"]
            if column is not None:
                counts[MALFORMED_COLUMN if column.startswith("malformed line") else column] += count
    return dict(sorted(counts.items()))


def _per_column(columns: tuple[Column, ...], rows: int) -> Callable[[Callable[[Column], T]], dict[str, T]]:
    """``each(fn)``: ``{column name: fn(column)}``, on ``THREADS`` threads for a batch large enough to gain."""
    if rows < PARALLEL_MIN_ROWS or THREADS < 2:
        return lambda fn: {c.name: fn(c) for c in columns}

    def each(fn: Callable[[Column], T]) -> dict[str, T]:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return dict(zip([c.name for c in columns], pool.map(fn, columns)))  # noqa: B905 - Glue Python shell is 3.9

    return each


def _all_false(rows: int) -> pa.Array:
    """Built by Arrow, not from a Python list of ``rows`` items, which holds the GIL all along."""
    return pc.fill_null(pa.nulls(rows, pa.bool_()), False)


def _check(column: Column, text: pa.Array) -> _ColumnCheck:
    missing = pc.fill_null(pc.equal(text, ""), True)
    below = above = not_allowed = None
    if column.dtype == "string":
        typed = pc.if_else(missing, pa.scalar(None, pa.string()), text)
        malformed = _all_false(len(text))
        if column.allowed is not None:
            not_allowed = pc.and_not(pc.invert(pc.is_in(text, pa.array(column.allowed))), missing)
    else:
        pattern = INT_PATTERN if column.dtype == "int" else FLOAT_PATTERN
        well_formed = pc.fill_null(pc.match_substring_regex(text, pattern), False)
        typed = pc.cast(pc.if_else(well_formed, text, pa.scalar(None, pa.string())), ARROW_TYPES[column.dtype])
        if column.dtype == "float":  # '1e999' is well formed and infinite: not a usable value
            well_formed = pc.and_(well_formed, pc.fill_null(pc.is_finite(typed), False))
            typed = pc.if_else(well_formed, typed, pa.scalar(None, pa.float64()))
        malformed = pc.invert(well_formed)
        if column.minimum is not None:
            below = pc.fill_null(pc.less(typed, column.minimum), False)
        if column.maximum is not None:
            above = pc.fill_null(pc.greater(typed, column.maximum), False)
    return _ColumnCheck(typed=typed, missing=missing, malformed=malformed, below=below, above=above,
                        not_allowed=not_allowed)


def _reasons(column: Column, text: pa.Array, check: _ColumnCheck, rows: pa.Array) -> pa.Array:
    """One reason (or null) per failed row, for this column; built only over the failed rows."""
    null = pa.scalar(None, pa.string())
    take = lambda mask: pc.take(mask, rows) if mask is not None else None  # noqa: E731
    missing, malformed = take(check.missing), take(check.malformed)
    below, above, not_allowed = take(check.below), take(check.above), take(check.not_allowed)
    quoted = pc.binary_join_element_wise(f"{column.name}: '", text, "'", "")
    reason = pc.if_else(pc.and_not(malformed, missing),
                        pc.binary_join_element_wise(quoted, " is not " + _kind(column), ""), null)
    if column.required:
        reason = pc.if_else(missing, pa.scalar(f"{column.name}: required value is missing"), reason)
    for mask, rule in ((below, f"is below the minimum {column.minimum:g}" if below is not None else ""),
                       (above, f"is above the maximum {column.maximum:g}" if above is not None else ""),
                       (not_allowed, "is not one of " + ", ".join(column.allowed or ()))):
        if mask is not None:
            reason = pc.if_else(mask, pc.binary_join_element_wise(quoted, " " + rule, ""), reason)
    return reason


def _kind(column: Column) -> str:
    return {"int": "an integer", "float": "a finite number"}.get(column.dtype, "text")


def _join_reasons(reasons: list[pa.Array], rows: int) -> pa.Array:
    if not rows:
        return pa.array([], pa.string())
    return pc.binary_join_element_wise(*reasons, REASON_SEPARATOR, null_handling="skip")


def _text(series: pd.Series) -> pa.Array:
    """A column as an Arrow string array: zero-copy for Arrow-backed frames, converted otherwise."""
    array = pa.array(series, from_pandas=True) if not isinstance(series.dtype, pd.ArrowDtype) else (
        series.array.__arrow_array__())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return array


def _series(array: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(array))


def _at(series: pd.Series, positions: pa.Array) -> pd.Series:
    """The series' values at ``positions``, in its own dtype, indexed from 0. Taken from its array: pandas'
    indexing would first build an index of every row kept (a million entries a partition), then drop it."""
    return pd.Series(series.array.take(positions.to_numpy().astype("int64")))
