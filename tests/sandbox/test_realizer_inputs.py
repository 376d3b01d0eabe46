"""The realizer carries every input it is given into the emulator, or fails naming the one it would drop.

In-process moto: each test realizes single registrations through the realizing mock, the same path
``prodline sandbox up`` takes, and reads the result back with the AWS API.
"""

from __future__ import annotations

import pytest

from prodline.sandbox.realizer import HANDLERS, Handler, UnaccountedInput
from tests.helpers import SKLEARN_IMAGE
from tests.sandbox.realizing import ACCOUNT, REGION, in_process_mocks, realize

MODEL = "aws:sagemaker/model:Model"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/serving"


@pytest.fixture
def mocks(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with in_process_mocks(tmp_path, "test") as realizing:
        yield realizing


def model_inputs(**container) -> dict:
    return {"executionRoleArn": ROLE_ARN, "tags": {"owner": "ml-platform"},
            "primaryContainer": {"image": SKLEARN_IMAGE, "modelDataUrl": "s3://artifacts/model.tar.gz", **container}}


def test_a_models_environment_reaches_the_emulator(mocks):
    environment = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    name, _ = realize(mocks, MODEL, "serving-model", model_inputs(environment=environment))
    container = mocks.ctx.clients("sagemaker").describe_model(ModelName=name)["PrimaryContainer"]
    assert container["Environment"] == environment, f"model {name} lost its environment: {container}"


def test_a_models_other_container_settings_reach_the_emulator(mocks):
    name, _ = realize(mocks, MODEL, "serving-model", model_inputs(
        containerHostname="primary", mode="SingleModel", imageConfig={"repositoryAccessMode": "Platform"}))
    container = mocks.ctx.clients("sagemaker").describe_model(ModelName=name)["PrimaryContainer"]
    assert (container["ContainerHostname"], container["Mode"], container["ImageConfig"]) == (
        "primary", "SingleModel", {"RepositoryAccessMode": "Platform"}), f"model {name}: {container}"
    assert container["Image"] == SKLEARN_IMAGE and container["ModelDataUrl"] == "s3://artifacts/model.tar.gz"


def test_an_unknown_top_level_field_fails_naming_type_and_field(mocks):
    with pytest.raises(UnaccountedInput) as err:
        realize(mocks, MODEL, "serving-model", {**model_inputs(), "startupTimeoutSeconds": 600})
    assert MODEL in str(err.value) and "startupTimeoutSeconds" in str(err.value)
    assert mocks.state.entries == [] and mocks.result.created == [], "nothing may be created before the check"
    assert mocks.ctx.clients("sagemaker").list_models()["Models"] == []


def test_an_unknown_nested_field_fails_naming_its_path(mocks):
    with pytest.raises(UnaccountedInput, match=r"aws:s3/bucketLifecycleConfiguration.*rules\.filter\.tag"):
        realize(mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-raw-lifecycle",
                {"bucket": "raw", "rules": [{"id": "expire", "status": "Enabled",
                                             "filter": {"prefix": "tmp/", "tag": {"key": "k", "value": "v"}}}]})


def test_a_recorded_field_is_noted_in_the_state_not_applied(mocks):
    realize(mocks, "aws:s3/bucket:Bucket", "lake-raw", {"bucket": "raw-bucket", "forceDestroy": True})
    entry = mocks.state.get("aws:s3/bucket:Bucket::lake-raw")
    assert entry is not None and "forceDestroy recorded, not applied" in entry.note


def test_object_tags_and_repository_encryption_reach_the_emulator(mocks):
    realize(mocks, "aws:s3/bucket:Bucket", "bucket", {"bucket": "code"})
    realize(mocks, "aws:s3/bucketObject:BucketObject", "script",
            {"bucket": "code", "key": "job.py", "content": "print(1)", "tags": {"owner": "ml-platform"}})
    tags = mocks.ctx.clients("s3").get_object_tagging(Bucket="code", Key="job.py")["TagSet"]
    assert tags == [{"Key": "owner", "Value": "ml-platform"}]
    key_id, _ = realize(mocks, "aws:kms/key:Key", "key", {"description": "images", "deletionWindowInDays": 7})
    realize(mocks, "aws:ecr/repository:Repository", "images", {
        "name": "images", "forceDelete": True,
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": key_id}]})
    repo = mocks.ctx.clients("ecr").describe_repositories(repositoryNames=["images"])["repositories"][0]
    assert repo["encryptionConfiguration"]["encryptionType"] == "KMS"


def test_a_catalog_databases_tags_reach_the_emulator(mocks):
    realize(mocks, "aws:glue/catalogDatabase:CatalogDatabase", "catalog",
            {"name": "prodline_test", "description": "lake", "tags": {"owner": "ml-platform"}})
    arn = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/prodline_test"
    assert mocks.ctx.clients("glue").get_tags(ResourceArn=arn)["Tags"] == {"owner": "ml-platform"}


HANDLER = Handler(lambda *_: ("id", {}), carries=("name", "tags", "rules.id", "rules.filter.prefix"),
                  recorded={"forceDestroy": "emptied anyway"})


@pytest.mark.parametrize(("inputs", "unaccounted"), [
    ({"name": "n", "tags": {"any.key": "v"}, "forceDestroy": False}, []),
    ({"rules": [{"id": "a", "filter": {}}, {"id": "b", "filter": {"prefix": "p/"}}]}, []),
    ({"rules": [{"id": "a", "status": "Enabled"}, {"id": "b", "status": "Enabled"}]}, ["rules.status"]),
    ({"rules": [{"id": "a", "filter": {"prefix": "p/", "tag": {"key": "k"}}}]}, ["rules.filter.tag"]),
    ({"name": "n", "description": "d", "region": "eu-west-1"}, ["description", "region"]),
], ids=["map-values-are-opaque", "nested-declared", "list-item-member", "nested-member", "top-level"])
def test_unaccounted_fields_are_dotted_paths(inputs, unaccounted):
    assert HANDLER.unaccounted(inputs) == unaccounted


def test_a_field_cannot_be_both_carried_and_recorded():
    with pytest.raises(ValueError, match="forceDestroy"):
        Handler(lambda *_: ("id", {}), carries=("forceDestroy",), recorded={"forceDestroy": "why"})


def test_the_model_handler_carries_every_container_member():
    carried = set(HANDLERS[MODEL].carries)
    for member in ("environment", "image", "modelDataUrl", "modelPackageName", "containerHostname", "mode",
                   "imageConfig.repositoryAccessMode", "multiModelConfig.modelCacheSetting"):
        assert f"primaryContainer.{member}" in carried and f"containers.{member}" in carried, member
