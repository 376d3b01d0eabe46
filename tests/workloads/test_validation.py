import hashlib
import threading

import pandas as pd
import pyarrow as pa
import pytest

from workloads.etl import validation
from workloads.etl.raw_batches import SCHEMA_VERSION, BatchError, RawBatch, parse_csv, read_batch
from workloads.etl.schema import CURATED_COLUMNS, RAW_COLUMNS
from workloads.etl.validation import REASON_COLUMN, reason_counts, validate_rows
from workloads.ingest.generator import INVALID_VALUES, generate_raw, to_csv

GOOD = {"customer_id": "C1", "tenure_months": "12", "monthly_charges": "70.5", "total_charges": "846",
        "contract": "one-year", "payment_method": "card", "internet_service": "dsl", "support_calls": "1",
        "num_products": "2", "age": "40", "churned": "0"}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **row} for row in rows], dtype=object)


def test_valid_rows_are_curated_with_the_schema_types():
    checked = validate_rows(frame({}, {"total_charges": "", "age": ""}))
    assert len(checked.quarantined) == 0
    assert list(checked.curated.columns) == [c.name for c in CURATED_COLUMNS]
    assert checked.curated["tenure_months"].tolist() == [12, 12]
    assert checked.curated["monthly_charges"].tolist() == [70.5, 70.5]
    assert checked.curated["age"].isna().tolist() == [False, True]


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("tenure_months", "-3", "tenure_months: '-3' is below the minimum 0"),
    ("tenure_months", "twelve", "tenure_months: 'twelve' is not an integer"),
    ("tenure_months", "1.5", "tenure_months: '1.5' is not an integer"),
    ("monthly_charges", "n/a", "monthly_charges: 'n/a' is not a finite number"),
    ("monthly_charges", "1e999", "monthly_charges: '1e999' is not a finite number"),
    ("monthly_charges", "nan", "monthly_charges: 'nan' is not a finite number"),
    ("monthly_charges", "999.5", "monthly_charges: '999.5' is above the maximum 500"),
    ("contract", "weekly", "contract: 'weekly' is not one of month-to-month, one-year, two-year"),
    ("customer_id", "", "customer_id: required value is missing"),
    ("age", "150", "age: '150' is above the maximum 110"),
    ("num_products", "0", "num_products: '0' is below the minimum 1"),
    ("churned", "2", "churned: '2' is above the maximum 1"),
])
def test_bad_rows_are_quarantined_with_the_reason(column, value, reason):
    checked = validate_rows(frame({}, {column: value}))
    assert len(checked.curated) == 1
    assert checked.quarantined[REASON_COLUMN].tolist() == [reason]
    assert checked.quarantined[column].tolist() == [value], "the value is kept exactly as received"


def test_a_row_with_several_defects_lists_every_reason():
    checked = validate_rows(frame({"tenure_months": "x", "contract": "weekly"}))
    assert checked.quarantined[REASON_COLUMN][0] == (
        "tenure_months: 'x' is not an integer; contract: 'weekly' is not one of month-to-month, one-year, two-year")
    assert reason_counts(checked.quarantined) == {"contract": 1, "tenure_months": 1}


def test_curated_and_quarantined_rows_add_up_to_the_rows_read():
    raw = parse_csv(to_csv(generate_raw(5000, 3, invalid_fraction=0.1)))
    checked = validate_rows(raw)
    assert len(checked.curated) + len(checked.quarantined) == 5000
    assert len(checked.quarantined) > 300
    assert set(reason_counts(checked.quarantined)) == {column for column, _ in INVALID_VALUES}


def test_extra_columns_pass_through_to_both_outputs():
    checked = validate_rows(frame({}, {"age": "999"}).assign(_source="batch-1"))
    assert checked.curated["_source"].tolist() == ["batch-1"]
    assert checked.quarantined["_source"].tolist() == ["batch-1"]


@pytest.mark.parametrize("rows", [6, validation.PARALLEL_MIN_ROWS])  # one thread, and the threaded path
def test_extra_columns_follow_their_rows_in_their_own_dtype(rows):
    raw = frame(*({"age": "999"} if n % 3 == 1 else {} for n in range(rows)))
    raw["_source"] = pd.Series([f"b{n}" for n in range(rows)], dtype=pd.ArrowDtype(pa.string()))
    raw["note"] = [f"n{n}" for n in range(rows)]  # Python strings (object dtype)
    raw.index = raw.index + 7  # positions, not labels, say which rows go where
    checked = validate_rows(raw)
    bad = [n for n in range(rows) if n % 3 == 1]
    good = [n for n in range(rows) if n % 3 != 1]
    assert checked.quarantined["_source"].tolist() == [f"b{n}" for n in bad]
    assert checked.quarantined["note"].tolist() == [f"n{n}" for n in bad]
    assert checked.curated["_source"].tolist() == [f"b{n}" for n in good]
    assert checked.curated["note"].tolist() == [f"n{n}" for n in good]
    for output in (checked.curated, checked.quarantined):
        assert output["_source"].dtype == pd.ArrowDtype(pa.string())
        assert output["note"].dtype == object
        assert list(output.index) == list(range(len(output)))


def test_a_batch_read_names_its_source_on_every_row_as_arrow_text(tmp_path):
    data = to_csv(generate_raw(4, 2))
    path = tmp_path / "batch-7.csv"
    path.write_bytes(data)
    frame = read_batch(RawBatch(dt="2026-01-01", batch_id="batch-7", data_url=str(path), rows=4,
                                sha256=hashlib.sha256(data).hexdigest(), schema_version=SCHEMA_VERSION))
    assert frame["_source"].tolist() == ["batch-7"] * 4
    assert frame["_source"].dtype == frame["customer_id"].dtype == pd.ArrowDtype(pa.string())


def test_a_malformed_csv_line_is_quarantined_not_dropped():
    data = to_csv(generate_raw(3, 1)) + b"C9,1,2\n"
    checked = validate_rows(parse_csv(data))
    assert len(checked.curated) == 3
    assert checked.quarantined[REASON_COLUMN][0].startswith("malformed line")
    assert "expected 11 fields, got 3" in checked.quarantined[REASON_COLUMN][0]
    assert checked.quarantined["customer_id"][0] == "C9"


def test_a_header_that_does_not_match_the_schema_fails_naming_the_columns():
    with pytest.raises(BatchError, match=r"missing \['age'\], unknown \['years'\]"):
        parse_csv(to_csv(generate_raw(2, 1)).replace(b'"age"', b'"years"', 1))


def test_arrow_backed_and_object_frames_validate_alike():
    raw = parse_csv(to_csv(generate_raw(500, 5, invalid_fraction=0.2)))
    as_objects = raw.astype(object)
    arrow, objects = validate_rows(raw), validate_rows(as_objects)
    pd.testing.assert_frame_equal(arrow.quarantined, objects.quarantined)
    pd.testing.assert_frame_equal(arrow.curated, objects.curated)


def test_missing_schema_column_is_an_error():
    with pytest.raises(ValueError, match="lacks schema columns age"):
        validate_rows(frame({}).drop(columns=["age"]))


def test_empty_input_gives_empty_outputs():
    empty = pd.DataFrame({c.name: pd.Series([], dtype=pd.ArrowDtype(pa.string())) for c in RAW_COLUMNS})
    checked = validate_rows(empty)
    assert len(checked.curated) == 0 and len(checked.quarantined) == 0


def test_threaded_and_one_thread_validation_give_the_same_outputs(monkeypatch):
    raw = parse_csv(to_csv(generate_raw(3000, 7, invalid_fraction=0.2)) + b"C9,1,2\n")
    one_thread = validate_rows(raw)
    threads = set()
    real_check = validation._check

    def check(column, text):
        threads.add(threading.get_ident())
        return real_check(column, text)

    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(validation, "THREADS", 2)
    monkeypatch.setattr(validation, "_check", check)
    threaded = validate_rows(raw)
    assert threads - {threading.get_ident()}, "the columns were checked on worker threads"
    pd.testing.assert_frame_equal(threaded.curated, one_thread.curated)
    pd.testing.assert_frame_equal(threaded.quarantined, one_thread.quarantined)
