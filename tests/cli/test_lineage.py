"""`prodline lineage`: the chain from an endpoint to the data, read back through boto3 (moto here) and a run
reader; every link that cannot be followed says why instead of failing."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from prodline import lineage
from standards.delivery import approval_parameter

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1"
MANIFEST_URI = "s3://artifacts/pipelines/p/data-manifests/job-1.json"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        sm = boto3.client("sagemaker")
        sm.create_model_package_group(ModelPackageGroupName="churn")
        yield lambda service: boto3.client(service, region_name=REGION)


def package(clients, metadata=None) -> str:
    request = {"ModelPackageGroupName": "churn", "ModelApprovalStatus": "Approved",
               "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://a/model.tar.gz"}],
                                          "SupportedContentTypes": ["text/csv"],
                                          "SupportedResponseMIMETypes": ["application/json"]}}
    if metadata:
        request["CustomerMetadataProperties"] = metadata
    return clients("sagemaker").create_model_package(**request)["ModelPackageArn"]


def lake(clients) -> None:
    s3 = clients("s3")
    for bucket in ("artifacts", "features", "curated"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    curated_file = "s3://curated/churn/dt=2026-01-15/c0/part-00000.parquet"
    s3.put_object(Bucket="curated", Key="_runs/churn/dt=2026-01-15/manifest.json", Body=json.dumps(
        {"job": "validate", "job_name": "prodline-dev-validate", "run_id": "2026-01-15-v1",
         "committed_at": "2026-01-15T02:00:00+00:00"}).encode())
    features_run = "s3://features/_runs/churn/dt=2026-01-15/manifest.json"
    s3.put_object(Bucket="features", Key="_runs/churn/dt=2026-01-15/manifest.json", Body=json.dumps(
        {"job": "features", "inputs": [{"url": curated_file, "rows": 3797}]}).encode())
    manifest = {"rows": 3797, "sha256": "ab" * 32, "files": [{"path": "dt=2026-01-15/c1/part-00000.parquet"}],
                "partitions": [{"partition": "dt=2026-01-15", "rows": 3797, "files": 1, "etl_run": {
                    "manifest": features_run, "job": "features", "job_name": "prodline-dev-features",
                    "run_id": "2026-01-15-f1", "commit_id": "c1", "committed_at": "2026-01-15T02:05:00+00:00",
                    "files_match": True}}]}
    s3.put_object(Bucket="artifacts", Key="pipelines/p/data-manifests/job-1.json", Body=json.dumps(manifest).encode())


class Runs:
    """What the tracking server answers: one run, tagged with the package it became."""

    def __init__(self, package_arn: str | None = None, readable: bool = True):
        self.package_arn, self.readable = package_arn, readable

    def read(self, run_id: str) -> dict:
        if not self.readable:
            raise RuntimeError(f"RESOURCE_DOES_NOT_EXIST: run {run_id}")
        return {"run_id": run_id, "experiment": "prodline-dev-churn-training", "status": "FINISHED",
                "params": {"max_iter": "200"}, "metrics": {"test_auc": 0.86, "validation_auc": 0.85},
                "tags": {"prodline.data_manifest": MANIFEST_URI}}

    def find(self, package_arn: str) -> str | None:
        return "r9" if package_arn == self.package_arn else None


run_reader = Runs()


def test_a_package_with_no_run_says_so_instead_of_failing(aws):
    arn = package(aws)
    chain = lineage.assemble(aws, "dev", model_version=arn, runs=run_reader)
    [variant] = chain["variants"]
    assert variant["model_package"]["arn"] == arn and variant["model_package"]["approval"]["status"] == "Approved"
    assert variant["run"]["run_id"] is None and "no MLflow run id" in variant["run"]["missing"]
    assert "names no data manifest" in variant["data_manifest"]["missing"]
    text = lineage.render(chain)
    assert "MLflow run: none: the model package carries no MLflow run id" in text
    assert "data manifest: none" in text


def test_a_package_trained_without_tracking_says_none_too(aws):
    arn = package(aws, {"mlflow_run_id": "none", "data_manifest": MANIFEST_URI, "data_sha256": "ab" * 32})
    lake(aws)
    chain = lineage.assemble(aws, "dev", model_version=arn, runs=run_reader)
    [variant] = chain["variants"]
    assert "no MLflow run id" in variant["run"]["missing"]
    assert variant["data_manifest"]["rows"] == 3797, "the manifest is still followed without a run"


def test_the_chain_reaches_the_etl_runs_through_run_and_manifest(aws):
    arn = package(aws, {"mlflow_run_id": "r1", "data_manifest": MANIFEST_URI, "data_sha256": "ab" * 32})
    lake(aws)
    aws("ssm").put_parameter(Name=approval_parameter("dev"), Type="String", Value=json.dumps(
        {"modelPackageArn": arn, "approvedBy": "demo-reviewer", "approvedAt": "2026-01-16T10:00:00Z"}))
    chain = lineage.assemble(aws, "dev", model_version=arn, runs=run_reader)
    [variant] = chain["variants"]
    assert variant["model_package"]["approval"]["by"] == "demo-reviewer"
    assert variant["run"]["metrics"]["test_auc"] == 0.86
    [part] = variant["data_manifest"]["partitions"]
    assert part["etl_run"]["run_id"] == "2026-01-15-f1"
    assert part["upstream_run"]["run_id"] == "2026-01-15-v1", "the validate run behind the features partition"
    text = lineage.render(chain)
    for expected in ("Approved by demo-reviewer", "MLflow run r1", "test_auc=0.86",
                     "dt=2026-01-15: 3,797 rows, written by prodline-dev-features run 2026-01-15-f1",
                     "from prodline-dev-validate run 2026-01-15-v1"):
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_a_run_that_cannot_be_read_and_a_deleted_manifest_are_said(aws):
    arn = package(aws, {"mlflow_run_id": "gone", "data_manifest": "s3://artifacts/nowhere.json"})
    aws("s3").create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})

    [variant] = lineage.assemble(aws, "dev", model_version=arn, runs=Runs(readable=False))["variants"]
    assert "could not be read: RESOURCE_DOES_NOT_EXIST" in variant["run"]["missing"]
    assert "no object at that URL" in variant["data_manifest"]["missing"]


def test_a_package_whose_metadata_was_dropped_is_found_by_the_run_tagged_with_it(aws):
    """moto drops a package's customer metadata when its approval changes; the LinkRun tag still leads back."""
    arn = package(aws)
    lake(aws)
    [variant] = lineage.assemble(aws, "dev", model_version=arn, runs=Runs(package_arn=arn))["variants"]
    assert variant["run"]["run_id"] == "r9"
    assert variant["data_manifest"]["uri"] == MANIFEST_URI, "the run's manifest tag when the package names none"


def test_an_endpoint_is_followed_through_each_variant_to_its_package(aws):
    arn = package(aws)
    sm = aws("sagemaker")
    sm.create_model(ModelName="m1", PrimaryContainer={"ModelPackageName": arn},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/r")
    sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName="prodline-dev-churn", EndpointConfigName="c1")
    chain = lineage.assemble(aws, "dev", endpoint="prodline-dev-churn", runs=None)
    [variant] = chain["variants"]
    assert variant["variant"] == "AllTraffic" and variant["model_package"]["arn"] == arn
    assert lineage.render(chain).startswith("endpoint prodline-dev-churn")
