import json

import numpy as np
import pytest

from workloads.etl import lake
from workloads.ingest import __main__ as ingest_cli
from workloads.ingest.generator import NEW_PAYMENT_METHOD, STRONG_DRIFT, generate_raw, generate_typed, to_csv
from workloads.ingest.uploader import BatchConflict, upload_batch


def test_the_generator_is_seeded():
    assert to_csv(generate_raw(300, 4, 0.1)) == to_csv(generate_raw(300, 4, 0.1))
    assert to_csv(generate_raw(300, 4)) != to_csv(generate_raw(300, 5))


def test_the_label_follows_the_known_signal():
    frame = generate_typed(20000, 1)
    by_contract = frame.groupby("contract")["churned"].mean()
    assert by_contract["month-to-month"] > by_contract["one-year"] > by_contract["two-year"]
    assert frame.loc[frame.support_calls >= 4, "churned"].mean() > frame.loc[frame.support_calls <= 1, "churned"].mean()
    assert 0.15 < frame["churned"].mean() < 0.5


def test_batches_have_missing_values_and_outliers_inside_the_schema():
    frame = generate_typed(20000, 2)
    assert 0.01 < frame["total_charges"].isna().mean() < 0.1
    assert frame["monthly_charges"].max() > 300 >= frame["monthly_charges"].quantile(0.98)
    assert frame["monthly_charges"].between(0, 500).all() and frame["tenure_months"].between(0, 120).all()


def test_drift_shifts_means_adds_a_category_and_nulls():
    fresh, drifted = generate_typed(20000, 3), generate_typed(20000, 3, STRONG_DRIFT)
    assert drifted["tenure_months"].mean() < fresh["tenure_months"].mean() - 5
    assert drifted["monthly_charges"].mean() > fresh["monthly_charges"].mean() + 10
    assert (drifted["payment_method"] == NEW_PAYMENT_METHOD).mean() > 0.1
    assert NEW_PAYMENT_METHOD not in set(fresh["payment_method"])
    assert drifted["age"].isna().mean() > fresh["age"].isna().mean() + 0.1


def test_reuploading_the_same_batch_is_a_no_op(lake_buckets):
    source = f"s3://{lake_buckets['raw']}/churn/"
    data = to_csv(generate_raw(100, 1))
    first = upload_batch(source, "2026-01-01", "b1", data, 100)
    second = upload_batch(source, "2026-01-01", "b1", data, 100)
    assert first.uploaded and not second.uploaded
    assert lake.list_urls(source) == [first.data_url, first.manifest_url]
    manifest = json.loads(lake.read_bytes(first.manifest_url))
    assert manifest["rows"] == 100 and manifest["schema_version"] == 1 and len(manifest["sha256"]) == 64


def test_the_same_batch_id_with_other_content_is_refused(lake_buckets):
    source = f"s3://{lake_buckets['raw']}/churn/"
    upload_batch(source, "2026-01-01", "b1", to_csv(generate_raw(10, 1)), 10)
    with pytest.raises(BatchConflict, match="new batch id"):
        upload_batch(source, "2026-01-01", "b1", to_csv(generate_raw(10, 2)), 10)


@pytest.mark.parametrize(("dt", "batch_id", "message"), [
    ("2026-13-01", "b1", "month must be in 1..12"),
    ("20260101", "b1", "YYYY-MM-DD"),
    ("2026-01-01", "../x", "batch id"),
])
def test_bad_dates_and_batch_ids_are_refused(tmp_path, dt, batch_id, message):
    with pytest.raises(ValueError, match=message):
        upload_batch(str(tmp_path) + "/", dt, batch_id, b"x\n", 0)


def test_the_command_line_lands_a_batch(tmp_path, capsys):
    assert ingest_cli.main(["--source", f"{tmp_path}/raw/churn/", "--dt", "2026-02-01", "--rows", "50",
                            "--seed", "9", "--invalid-fraction", "0.1"]) == 0
    assert json.loads(capsys.readouterr().out)["uploaded"] is True
    assert len(lake.list_urls(f"{tmp_path}/raw/churn/dt=2026-02-01/")) == 2
    assert np.isclose(len(lake.read_bytes(f"{tmp_path}/raw/churn/dt=2026-02-01/synthetic-9.csv").splitlines()), 51)
