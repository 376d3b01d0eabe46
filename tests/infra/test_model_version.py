"""Which model version the stack serves: explicit, none, offline stand-in, or the newest approved in the registry."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from infra import model_version

GROUP = "prodline-dev-churn"


def test_explicit_and_none_are_taken_as_given(monkeypatch):
    monkeypatch.delenv(model_version.OFFLINE_ENV, raising=False)
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/4"
    assert model_version.resolve_model_package(arn, GROUP, "eu-west-1") == arn
    assert model_version.resolve_model_package("none", GROUP, "eu-west-1") is None


def test_offline_runs_get_a_stand_in(monkeypatch):
    monkeypatch.setenv(model_version.OFFLINE_ENV, "1")
    assert model_version.resolve_model_package("latest", GROUP, "eu-west-1").endswith(f"model-package/{GROUP}/1")


def register(client, status):
    return client.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.delenv(model_version.OFFLINE_ENV, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("sagemaker", region_name="eu-west-1")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def test_latest_resolves_the_newest_approved_package(registry):
    first = register(registry, "Approved")
    newest = register(registry, "Approved")
    register(registry, "PendingManualApproval")
    assert newest != first
    assert model_version.resolve_model_package("latest", GROUP, "eu-west-1") == newest


def test_latest_is_none_when_nothing_is_approved(registry):
    register(registry, "PendingManualApproval")
    assert model_version.resolve_model_package("latest", GROUP, "eu-west-1") is None


# --- recorded: the deploy path's version record --------------------------------------------------

RECORD = "/prodline/staging/model-version"
ARN = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/3"


def test_offline_recorded_gets_the_stand_in(monkeypatch):
    monkeypatch.setenv(model_version.OFFLINE_ENV, "1")
    assert model_version.resolve_model_package("recorded", GROUP, "eu-west-1", "staging").endswith(f"{GROUP}/1")


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.delenv(model_version.OFFLINE_ENV, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def test_recorded_reads_the_version_record(ssm):
    ssm.put_parameter(Name=RECORD, Type="String", Value=json.dumps({
        "stack": "staging", "modelPackageArn": ARN, "version": 3, "promotedBy": "approval",
        "promotedAt": "2026-12-01T10:00:00Z", "previousArn": None, "source": "approval"}))
    assert model_version.resolve_model_package("recorded", GROUP, "eu-west-1", "staging") == ARN


def test_recorded_serves_nothing_before_the_first_deploy(ssm):
    assert model_version.resolve_model_package("recorded", GROUP, "eu-west-1", "staging") is None


@pytest.mark.parametrize("value", ["not json", json.dumps({"stack": "staging"}), json.dumps({"modelPackageArn": 3})])
def test_a_broken_record_fails_loudly(ssm, value):
    ssm.put_parameter(Name=RECORD, Type="String", Value=value)
    with pytest.raises(ValueError, match=RECORD):
        model_version.resolve_model_package("recorded", GROUP, "eu-west-1", "staging")


def test_recorded_needs_the_stack(ssm):
    with pytest.raises(ValueError, match="stack"):
        model_version.resolve_model_package("recorded", GROUP, "eu-west-1")


def test_the_program_serves_the_recorded_version_offline():
    from tests.helpers import of_type, stack_registrations

    regs = stack_registrations("staging", "prodline:modelPackageArn=recorded")
    (model,) = of_type(regs, "aws:sagemaker/model:Model")
    assert model.inputs["primaryContainer"]["modelPackageName"].endswith("prodline-staging-churn/1")
