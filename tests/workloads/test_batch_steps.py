"""Batch scoring's processing steps: records for the transform, and predictions that account for every record."""

from __future__ import annotations

import io
import json

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from workloads.batch import prepare_records, publish_predictions
from workloads.batch.records import INPUTS_DIR, KEYS_DIR, MANIFEST, PREDICTION_COLUMNS
from workloads.etl import lake
from workloads.etl.schema import ID_COLUMN, MODEL_INPUT_COLUMNS
from workloads.ingest.generator import generate_typed

INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/3"


@pytest.fixture
def features(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        lake.reset_clients()
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="features", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for dt, rows in (("2026-01-01", 30), ("2026-01-02", 50)):
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(generate_typed(rows, 1), preserve_index=False), buffer)
            s3.put_object(Bucket="features", Key=f"churn/dt={dt}/part-0.parquet", Body=buffer.getvalue())
        yield "s3://features/churn/"
        lake.reset_clients()


def test_latest_is_the_newest_partition_and_a_missing_one_is_named(features):
    assert prepare_records.choose(features, "latest") == "2026-01-02"
    assert prepare_records.choose(features, "dt=2026-01-01") == "2026-01-01"
    with pytest.raises(SystemExit, match="partition dt=2025-12-31 is not under"):
        prepare_records.choose(features, "2025-12-31")


def test_records_are_headerless_model_inputs_with_keys_beside_them(features, tmp_path):
    env = {"PRODLINE_BATCH_FEATURES": features, "PRODLINE_BATCH_PARTITION": "latest",
           "PRODLINE_BATCH_OUTPUT": str(tmp_path)}
    assert prepare_records.main(env) == 0
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["dt"] == "2026-01-02" and manifest["rows"] == 50
    lines = (tmp_path / INPUTS_DIR / "part-00000.csv").read_text().splitlines()
    keys = (tmp_path / KEYS_DIR / "part-00000.csv.keys").read_text().splitlines()
    assert len(lines) == len(keys) == 50
    assert all(line.count(",") == len(INPUTS) - 1 for line in lines), "nine fields, no key, no header"
    assert keys == generate_typed(50, 1)[ID_COLUMN].astype(str).tolist()


def write_job(tmp_path, scores: list[str], rows: int = 3):
    records, transformed = tmp_path / "records", tmp_path / "transformed"
    (records / KEYS_DIR).mkdir(parents=True)
    (records / KEYS_DIR / "part-00000.csv.keys").write_text("".join(f"c{i}\n" for i in range(rows)))
    (records / MANIFEST).write_text(json.dumps({"dt": "2026-01-02", "rows": rows,
                                                "parts": [{"name": "part-00000.csv", "rows": rows}]}))
    (transformed / INPUTS_DIR).mkdir(parents=True)
    (transformed / INPUTS_DIR / "part-00000.csv.out").write_text("\n".join(scores) + "\n")
    return {"PRODLINE_BATCH_RECORDS": str(records), "PRODLINE_BATCH_TRANSFORMED": str(transformed),
            "PRODLINE_BATCH_OUTPUT": str(tmp_path / "out"), "PRODLINE_BATCH_REPORT": str(tmp_path / "report"),
            "PRODLINE_MODEL_PACKAGE_ARN": ARN, "PRODLINE_SCORING_JOB_ID": "job-1"}


def test_predictions_carry_key_score_model_version_and_job(tmp_path):
    env = write_job(tmp_path, ["0.1", "0.5", "0.9"])
    assert publish_predictions.main(env) == 0
    table = pq.read_table(tmp_path / "out" / "dt=2026-01-02" / "part-job-1.parquet").to_pandas()
    assert list(table.columns) == [c[0] for c in PREDICTION_COLUMNS]
    assert table.to_dict("records")[1] == {"customer_id": "c1", "score": 0.5, "model_package_arn": ARN,
                                           "model_version": 3, "scoring_job_id": "job-1"}
    assert json.loads((tmp_path / "report" / "report.json").read_text())["rows"] == 3


@pytest.mark.parametrize(("scores", "words"), [
    (["0.1", "0.5"], "3 records, 3 keys, 2 scores"),
    (["0.1", "0.5", "1.5"], "scores outside [0, 1]"),
    (["0.1", "x", "0.2"], "not a number"),
])
def test_an_answer_that_cannot_be_traced_writes_nothing(tmp_path, scores, words):
    env = write_job(tmp_path, scores)
    with pytest.raises(SystemExit, match=words.replace("[", r"\[").replace("]", r"\]")):
        publish_predictions.main(env)
    assert not (tmp_path / "out").exists()
