"""BatchScoring under mocks: what every stack declares for batch scoring, and the arguments it refuses."""

from __future__ import annotations

import json

import pytest

from components.batch_scoring import batch_settings
from components.pipeline_events import GLUE_JOB_STATE_CHANGE, execution_failed
from infra.config import ConfigError
from tests.helpers import STACKS, named, of_type, stack_registrations
from workloads.batch.records import PREDICTION_COLUMNS

RULE, TARGET, ROLE_POLICY = "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/eventTarget:EventTarget", \
    "aws:iam/rolePolicy:RolePolicy"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_declares_the_triggers_and_the_predictions_table(stack):
    regs = stack_registrations(stack)
    schedule, on_features = named(regs, "batch-schedule"), named(regs, "batch-on-new-features")
    assert schedule.inputs["scheduleExpression"].startswith(("cron(", "rate(")), f"{stack}: batch-schedule"
    pattern = json.loads(on_features.inputs["eventPattern"])
    assert pattern["detail-type"] == [GLUE_JOB_STATE_CHANGE] and pattern["detail"]["state"] == ["SUCCEEDED"]
    assert pattern["detail"]["jobName"] == [f"prodline-{stack}-features"], "scoring starts on the features job only"
    pipeline = named(regs, "batch-pipeline")
    for rule in ("batch-schedule", "batch-on-new-features"):
        target = named(regs, f"{rule}-target")
        assert target.inputs["arn"] == pipeline.inputs.get("arn", target.inputs["arn"])
        assert "sagemakerPipelineTarget" in target.inputs, f"{stack}: {rule} must start the pipeline"
    table = named(regs, "lake-table-predictions_churn")
    assert table.inputs["name"] == "predictions_churn" and table.inputs["databaseName"] == f"prodline_{stack}"
    assert [c["name"] for c in table.inputs["storageDescriptor"]["columns"]] == [c[0] for c in PREDICTION_COLUMNS]
    assert table.inputs["partitionKeys"] == [{"name": "dt", "type": "string"}]
    assert table.inputs["storageDescriptor"]["location"].endswith("/predictions/churn/")


def test_the_pipeline_scores_the_approved_package_with_the_declared_contract():
    regs = stack_registrations("prod")
    definition = json.loads(named(regs, "batch-pipeline").inputs["pipelineDefinition"])
    prepare, model, transform, publish = definition["Steps"]
    assert model["Arguments"]["PrimaryContainer"]["ModelPackageName"].endswith("model-package/prodline-prod-churn/1")
    args = transform["Arguments"]
    assert (args["MaxPayloadInMB"], args["MaxConcurrentTransforms"]) == (6, 2)
    assert args["TransformResources"] == {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                          "VolumeKmsKeyId": args["TransformOutput"]["KmsKeyId"]}
    assert args["TransformInput"]["ContentType"] == "text/csv" and args["TransformOutput"]["Accept"] == "text/csv"
    env = publish["Arguments"]["Environment"]
    assert env["PRODLINE_PREDICTIONS_TABLE"] == "predictions_churn"
    assert env["PRODLINE_SCORING_JOB_ID"] == {"Get": "Steps.Transform.TransformJobName"}
    assert prepare["Arguments"]["Environment"]["PRODLINE_BATCH_PARTITION"] == {"Get": "Parameters.Partition"}


def test_prod_alerts_the_topic_on_a_failed_run_and_dev_does_not():
    prod = stack_registrations("prod")
    failed = named(prod, "batch-failed")
    pattern = json.loads(failed.inputs["eventPattern"])
    assert pattern == execution_failed(pattern["detail"]["pipelineArn"][0])
    topic = named(prod, "observability-alerts").inputs["name"]
    target = named(prod, "batch-failed-notify").inputs["arn"]
    assert target.startswith("arn:aws:sns:") and target.replace("/", ":").rsplit(":", 1)[1] == topic, "alert topic"
    assert not [r for r in stack_registrations("dev") if r.name == "batch-failed"]


def test_the_roles_name_every_action_and_eventbridge_may_only_start_this_pipeline():
    regs = stack_registrations("dev")
    policy = json.loads(named(regs, "batch-role-policy").inputs["policy"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not [a for a in actions if a.endswith("*")]
    assert {"sagemaker:CreateTransformJob", "sagemaker:CreateModel", "s3:PutObject"} <= actions
    wildcard = [s["Sid"] for s in policy["Statement"] if "*" in s["Resource"]]
    assert wildcard == ["EcrLogin"], "only ecr:GetAuthorizationToken lacks resource-level permissions"
    events = json.loads(named(regs, "batch-events-role-policy").inputs["policy"])["Statement"]
    assert [s["Action"] for s in events] == [["sagemaker:StartPipelineExecution"]]


def test_no_approved_model_no_batch_scoring_but_the_table_stays():
    regs = stack_registrations("dev", "prodline:modelPackageArn=none")
    assert not [r for r in regs if r.name.startswith("batch-")]
    assert named(regs, "lake-table-predictions_churn")


def test_batch_scoring_can_be_turned_off():
    regs = stack_registrations("dev", "prodline:batchScoringEnabled=false")
    assert not of_type(regs, "prodline:batch:BatchScoring")


ARGS = {"max_payload_mb": 6, "max_concurrent_transforms": 2, "instance_count": 1, "schedule": "rate(1 day)",
        "code_files": {"workloads/batch/prepare_records.py": b"", "workloads/batch/publish_predictions.py": b""}}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("max_payload_mb", 0, "max_payload_mb must be from 1 to 100, got 0"),
    ("max_payload_mb", 101, "got 101"),
    ("max_concurrent_transforms", 0, "max_concurrent_transforms must be >= 1"),
    ("instance_count", 0, "instance_count must be >= 1"),
    ("schedule", "daily", "schedule must be a cron() or rate() expression"),
    ("code_files", {}, "code_files must contain workloads/batch/prepare_records.py"),
])
def test_bad_arguments_are_refused_naming_the_field(field, value, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        batch_settings({**ARGS, field: value})


def test_a_payload_bound_beyond_sagemakers_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match="prodline:batchMaxPayloadMb: '101' is not allowed"):
        stack_registrations("dev", "prodline:batchMaxPayloadMb=101")
