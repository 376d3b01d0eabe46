"""The data manifest a training run records: exact files, versions, rows, a content hash, the ETL run behind each
partition; and the MLflow run training and evaluation log when (and only when) a tracking URI is set."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from workloads.etl.commit import POINTER_NAME
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.training import data_manifest, tracking
from workloads.training.data import committed_files

FEATURES = "features"
ROOT = Path(__file__).resolve().parents[2]


def parquet_bytes(rows: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    add_features(generate_typed(rows, seed)).to_parquet(buffer)
    return buffer.getvalue()


def commit(s3, dt: str, commit_id: str, body: bytes, *, run_manifest: bool = True) -> str:
    """A partition as the features job commits it: the file under its commit directory, the pointer, the manifest."""
    key = f"churn/dt={dt}/{commit_id}/part-00000.parquet"
    s3.put_object(Bucket=FEATURES, Key=key, Body=body)
    s3.put_object(Bucket=FEATURES, Key=f"churn/dt={dt}/{POINTER_NAME}",
                  Body=json.dumps({"files": [f"{commit_id}/part-00000.parquet"]}).encode())
    if run_manifest:
        manifest = {"job": "features", "job_name": "prodline-dev-features", "dt": dt, "run_id": f"{dt}-abc",
                    "commit_id": commit_id, "committed_at": "2026-01-02T00:00:00+00:00", "rows": {"features": 1},
                    "outputs": {"features": [{"url": f"s3://{FEATURES}/{key}", "rows": 1}]}}
        s3.put_object(Bucket=FEATURES, Key=f"_runs/churn/dt={dt}/manifest.json", Body=json.dumps(manifest).encode())
    return key


def download(s3, channel: Path) -> None:
    """What SageMaker does with the channel's S3 prefix."""
    for obj in s3.list_objects_v2(Bucket=FEATURES, Prefix="churn/")["Contents"]:
        path = channel / obj["Key"][len("churn/"):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=FEATURES, Key=obj["Key"])["Body"].read())


@pytest.fixture
def lake(aws, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=FEATURES, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=FEATURES, VersioningConfiguration={"Status": "Enabled"})
    return s3


def manifest_of(s3, channel: Path) -> dict:
    download(s3, channel)
    return data_manifest.build_manifest(committed_files(channel), channel, data_url=f"s3://{FEATURES}/churn/",
                                        etl_manifests=f"s3://{FEATURES}/_runs/churn/", head=data_manifest.s3_head)


def test_the_manifest_names_each_file_version_and_the_etl_run_that_wrote_it(lake, tmp_path):
    key = commit(lake, "2026-01-01", "c1", parquet_bytes(120, 1))
    commit(lake, "2026-01-02", "c2", parquet_bytes(80, 2), run_manifest=False)
    manifest = manifest_of(lake, tmp_path / "train")
    first, second = manifest["partitions"]
    assert (first["partition"], first["rows"], second["rows"], manifest["rows"]) == ("dt=2026-01-01", 120, 80, 200)
    assert first["etl_run"]["run_id"] == "2026-01-01-abc" and first["etl_run"]["files_match"] is True
    assert first["etl_run"]["manifest"] == f"s3://{FEATURES}/_runs/churn/dt=2026-01-01/manifest.json"
    assert second["etl_run"] is None, "a partition no ETL run manifest names says so"
    [entry] = [f for f in manifest["files"] if f["s3_uri"].endswith(key)]
    head = lake.head_object(Bucket=FEATURES, Key=key)
    assert entry["version_id"] == head["VersionId"] and entry["etag"] == head["ETag"].strip('"')
    # The recorded version can be read again after the partition is replaced.
    lake.put_object(Bucket=FEATURES, Key=key, Body=parquet_bytes(5, 9))
    again = lake.get_object(Bucket=FEATURES, Key=key, VersionId=entry["version_id"])["Body"].read()
    assert data_manifest.hashlib.sha256(again).hexdigest() == entry["sha256"]


def test_the_content_hash_changes_with_the_data_and_only_with_it(lake, tmp_path):
    commit(lake, "2026-01-01", "c1", parquet_bytes(50, 1))
    one, two = manifest_of(lake, tmp_path / "a"), manifest_of(lake, tmp_path / "b")
    assert one["sha256"] == two["sha256"]
    commit(lake, "2026-01-01", "c1", parquet_bytes(50, 2))
    assert manifest_of(lake, tmp_path / "c")["sha256"] != one["sha256"]


def test_a_partition_replaced_while_training_read_it_is_flagged(lake, tmp_path):
    commit(lake, "2026-01-01", "c1", parquet_bytes(50, 1))
    download(lake, tmp_path / "train")
    commit(lake, "2026-01-01", "c9", parquet_bytes(50, 1))  # the ETL commits a new generation meanwhile
    channel = tmp_path / "train"
    manifest = data_manifest.build_manifest(committed_files(channel), channel, data_url=f"s3://{FEATURES}/churn/",
                                            etl_manifests=f"s3://{FEATURES}/_runs/churn/")
    assert manifest["partitions"][0]["etl_run"]["files_match"] is False


def test_training_without_a_tracking_uri_never_imports_mlflow(tmp_path):
    channel = tmp_path / "train" / "dt=2026-01-01"
    channel.mkdir(parents=True)
    (channel / "part-00000.parquet").write_bytes(parquet_bytes(400, 1))
    code = ("import sys; from workloads.training import train; "
            f"train.main(['--max-iter', '5'], {{'SM_MODEL_DIR': {str(tmp_path / 'model')!r}, "
            f"'SM_CHANNEL_TRAIN': {str(tmp_path / 'train')!r}, 'SM_OUTPUT_DATA_DIR': {str(tmp_path / 'out')!r}}}); "
            "print('mlflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != tracking.TRACKING_URI_ENV}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_a_tracked_run_has_params_metrics_manifest_model_report_and_package(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow is the `tracking` extra (make test installs it)")
    env = {tracking.TRACKING_URI_ENV: f"sqlite:///{tmp_path / 'mlflow.db'}", tracking.EXPERIMENT_ENV: "churn"}
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"model")
    manifest = {"sha256": "ab" * 32, "rows": 10, "partitions": [{"partition": "dt=2026-01-01"}]}
    run_id = tracking.start_training_run(env, run_name="job-1", params={"max_iter": 40},
                                         metrics={"auc": 0.8}, manifest=manifest, manifest_uri="s3://a/m.json")
    assert tracking.log_model(env, run_id, model_dir)
    assert tracking.log_evaluation(env, run_id, {"metrics": {"auc": {"value": 0.81}}})
    assert tracking.tag_package(env, run_id, "arn:aws:sagemaker:eu-west-1:1:model-package/churn/1")
    run = tracking.client(env[tracking.TRACKING_URI_ENV]).get_run(run_id)
    assert run.data.params == {"max_iter": "40"}
    assert run.data.metrics == {"validation_auc": 0.8, "test_auc": 0.81}
    assert run.data.tags[tracking.PACKAGE_TAG].endswith("model-package/churn/1")
    assert run.data.tags[tracking.DATA_HASH_TAG] == "ab" * 32 and run.info.status == "FINISHED"
    artifacts = {a.path for a in tracking.client(env[tracking.TRACKING_URI_ENV]).list_artifacts(run_id)}
    assert {"data_manifest.json", "evaluation.json", "model"} <= artifacts


def test_without_a_run_nothing_is_logged():
    assert not tracking.log_evaluation({tracking.TRACKING_URI_ENV: "http://127.0.0.1:1"}, tracking.NO_RUN, {})
    assert not tracking.tag_package({}, "abc", "arn")
    assert tracking.start_training_run({}, run_name="x", params={}, metrics={}, manifest={}, manifest_uri="") == "none"


def test_a_local_tracking_uri_silences_only_the_sagemaker_plugins_arn_warnings():
    pytest.importorskip("mlflow", reason="mlflow is the `tracking` extra (make test installs it)")
    import logging

    registry = logging.getLogger("mlflow.tracking.request_header.registry")
    registry.setLevel(logging.NOTSET)
    tracking.client("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/prodline-dev-tracking")
    assert registry.level == logging.NOTSET, "an ARN is what the plugin is for: its warnings stay"
    tracking.client("http://127.0.0.1:9")
    assert registry.level == logging.ERROR
