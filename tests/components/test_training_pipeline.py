"""TrainingPipeline under mocks: a valid definition, a least-privilege role, and the triggers that start it."""

from __future__ import annotations

import json

import pytest

from components.code_bundle import bundle_hash, tar_gz, zip_bytes
from components.pipeline_definition import validate_definition
from components.training_pipeline import TrainingPipeline, training_settings
from tests.helpers import (
    SKLEARN_IMAGE,
    as_list,
    component_registrations,
    fake_lake_refs,
    named,
    of_type,
    statements,
    trust_condition,
    wildcard_actions,
)

IMAGE = SKLEARN_IMAGE
ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prodline-test-churn-drift"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:alerts"
CODE = {"train.py": b"print('train')\n", "inference.py": b"from x import model_fn\n"}


def args(**changes):
    base = {
        "pipeline_name": "prodline-test-churn-training",
        "lake": None,
        "account_id": "123456789012",
        "region": "eu-west-1",
        "image_uri": IMAGE,
        "code_files": CODE,
        "model_package_group": "prodline-test-churn",
        "model_package_group_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/prodline-test-churn",
        "training_instance_type": "ml.m5.large",
        "quality_threshold": 0.7,
        "approval_status": "Approved",
        "inference_instance_types": ["ml.m5.large"],
        "schedule": "rate(7 days)",
        "alert_topic_arn": TOPIC_ARN,
        "start_on_alarm_arns": [ALARM_ARN],
    }
    base.update(changes)
    return base


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: TrainingPipeline("training", {**args(), "lake": fake_lake_refs()}))


def definition(regs):
    return json.loads(named(regs, "training-pipeline").inputs["pipelineDefinition"])


def test_pipeline_definition_is_well_formed_and_uses_the_role(regs):
    pipeline = named(regs, "training-pipeline").inputs
    assert validate_definition(definition(regs)) == []
    role_arn = named(regs, "training-role").outputs["arn"]
    assert pipeline["roleArn"] == role_arn
    assert definition(regs)["Steps"][0]["Arguments"]["RoleArn"] == role_arn


def test_definition_reads_features_and_writes_artifacts_with_the_lake_key(regs):
    train = definition(regs)["Steps"][0]["Arguments"]
    assert train["OutputDataConfig"]["S3OutputPath"] == "s3://bucket-artifacts/pipelines/prodline-test-churn-training/models/"
    data_url = next(p for p in definition(regs)["Parameters"] if p["Name"] == "TrainDataUrl")
    assert data_url["DefaultValue"] == "s3://bucket-features/churn/"
    assert train["OutputDataConfig"]["KmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/lake"


def test_role_has_no_wildcard_actions_and_no_managed_policies(regs):
    assert wildcard_actions(named(regs, "training-role-policy").inputs["policy"]) == []
    assert "managedPolicyArns" not in named(regs, "training-role").inputs
    assert not of_type(regs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_role_may_pass_only_itself_and_only_to_sagemaker(regs):
    by_sid = {s["Sid"]: s for s in statements(named(regs, "training-role-policy").inputs["policy"])}
    passing = by_sid["PassOwnRoleToJobs"]
    assert passing["Resource"] == [named(regs, "training-role").outputs["arn"]]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert by_sid["PullFrameworkImage"]["Resource"] == [
        "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn"]
    assert all(r.endswith("/*") or "pipelines-*" in r or r.startswith("arn:aws:sagemaker")
               for r in by_sid["RegisterModels"]["Resource"] + by_sid["RunPipelineJobs"]["Resource"])


def test_schedule_and_drift_alarm_start_the_pipeline(regs):
    pipeline_arn = named(regs, "training-pipeline").outputs["arn"]
    events_role = named(regs, "training-events-role").outputs["arn"]
    schedule = named(regs, "training-schedule").inputs
    assert schedule["scheduleExpression"] == "rate(7 days)"
    drift = json.loads(named(regs, "training-retrain-on-drift").inputs["eventPattern"])
    assert drift["resources"] == [ALARM_ARN]
    assert drift["detail"] == {"state": {"value": ["ALARM"]}}
    for target_name in ("training-schedule-target", "training-retrain-on-drift-target"):
        target = named(regs, target_name).inputs
        assert target["arn"] == pipeline_arn
        assert target["roleArn"] == events_role
        assert "sagemakerPipelineTarget" in target


def test_sagemaker_and_eventbridge_assume_the_roles_only_for_this_accounts_own_resources(regs):
    assert trust_condition(named(regs, "training-role")) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": ["arn:aws:sagemaker:eu-west-1:123456789012:*"]}}
    starters = [named(regs, rule).outputs["arn"] for rule in ("training-schedule", "training-retrain-on-drift")]
    assert trust_condition(named(regs, "training-events-role")) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"}, "ArnLike": {"aws:SourceArn": starters}}


def test_events_role_may_start_only_this_pipeline(regs):
    (statement,) = statements(named(regs, "training-events-role-policy").inputs["policy"])
    assert statement["Action"] == ["sagemaker:StartPipelineExecution"]
    assert statement["Resource"] == [named(regs, "training-pipeline").outputs["arn"]]


def test_failed_executions_notify_the_alert_topic(regs):
    pattern = json.loads(named(regs, "training-failed").inputs["eventPattern"])
    assert pattern["detail"]["currentPipelineExecutionStatus"] == ["Failed"]
    assert named(regs, "training-failed-notify").inputs["arn"] == TOPIC_ARN


def test_no_drift_rule_without_alarms():
    regs = component_registrations(lambda: TrainingPipeline(
        "training", {**args(start_on_alarm_arns=[]), "lake": fake_lake_refs()}))
    assert not [r for r in regs if r.name.startswith("training-retrain-on-drift")]


def test_code_bundle_is_content_addressed_and_reproducible(regs):
    source = named(regs, "training-sourcedir").inputs
    assert source["key"] == f"code/training/{bundle_hash(CODE)}/sourcedir.tar.gz"
    assert source["serverSideEncryption"] == "aws:kms"
    assert tar_gz(CODE) == tar_gz(dict(reversed(list(CODE.items())))), "bundle bytes depend on order"
    assert bundle_hash(CODE) != bundle_hash({**CODE, "train.py": b"print('v2')\n"})
    pipeline = named(regs, "training-pipeline")
    assert named(regs, "training-sourcedir").urn in pipeline.dependencies


def test_evaluation_code_is_the_same_files_as_a_zip_python_imports_from(regs, tmp_path):
    import subprocess
    import sys

    source = named(regs, "training-sourcedir-zip").inputs
    assert source["key"] == f"code/training/{bundle_hash(CODE)}/sourcedir.zip"
    assert source["serverSideEncryption"] == "aws:kms"
    assert named(regs, "training-sourcedir-zip").urn in named(regs, "training-pipeline").dependencies
    assert zip_bytes(CODE) == zip_bytes(dict(reversed(list(CODE.items())))), "zip bytes depend on order"
    archive = tmp_path / "sourcedir.zip"
    archive.write_bytes(zip_bytes({"pkg/__init__.py": b"", "pkg/__main__.py": b"print('ran from the zip')\n"}))
    ran = subprocess.run([sys.executable, "-m", "pkg"], env={"PYTHONPATH": str(archive)}, capture_output=True,
                         text=True, check=False)
    assert ran.stdout == "ran from the zip\n", ran.stderr


@pytest.mark.parametrize(("change", "message"), [
    ({"approval_status": "Rejected"}, "approval_status must be one of PendingManualApproval, Approved"),
    ({"quality_threshold": 0}, "quality_threshold must be > 0 and <= 1"),
    ({"code_files": {"train.py": b""}}, "code_files must contain inference.py"),
    ({"inference_instance_types": []}, "inference_instance_types must name at least one"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        training_settings(args(**change))


def test_resources_in_statements_are_scoped(regs):
    for statement in statements(named(regs, "training-role-policy").inputs["policy"]):
        resources = as_list(statement["Resource"])
        if resources == ["*"]:
            assert statement["Action"] == ["ecr:GetAuthorizationToken"], statement["Sid"]
