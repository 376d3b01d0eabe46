"""TrackingServer under mocks: every stack's MLflow tracking server, its scoped role, the training pipeline that
logs to it, and the arguments it refuses."""

from __future__ import annotations

import json

import pytest

from components.pipeline_definition import LINK_RUN, REGISTER, TRACKING_URI_ENV, iter_steps
from components.tracking_server import tracking_settings
from tests.helpers import STACKS, named, stack_registrations

SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_declares_a_tracking_server_with_its_store_in_the_lake(stack):
    regs = stack_registrations(stack)
    server = named(regs, "tracking-server")
    assert server.inputs["trackingServerName"] == f"prodline-{stack}-tracking"
    assert server.inputs["trackingServerSize"] in ("Small", "Medium", "Large")
    assert server.inputs["artifactStoreUri"] == (f"s3://prodline-{stack}-lake-artifacts-123456789012/mlflow/"
                                                 f"prodline-{stack}-tracking/")
    assert server.inputs["automaticModelRegistration"] is False
    assert server.inputs["tags"]["environment"] == stack, f"{stack}: the server carries the ownership tags"


def test_the_server_role_reaches_its_prefix_and_the_lake_key_only():
    policy = json.loads(named(stack_registrations("dev"), "tracking-role-policy").inputs["policy"])
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::prodline-dev-lake-artifacts-123456789012/mlflow/prodline-dev-tracking/*",
                         "arn:aws:s3:::prodline-dev-lake-artifacts-123456789012",
                         next(r for r in resources if ":kms:" in r)}
    listing = next(s for s in policy["Statement"] if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["mlflow/prodline-dev-tracking/*"]}}


def test_the_pipeline_logs_to_the_server_and_registers_the_run_id():
    regs = stack_registrations("dev")
    definition = json.loads(named(regs, "training-pipeline").inputs["pipelineDefinition"])
    steps = {s["Name"]: s for s in iter_steps(definition["Steps"])}
    arn = steps["Train"]["Arguments"]["Environment"][TRACKING_URI_ENV]
    assert arn == named(regs, "tracking-server").outputs["arn"], "the tracking URI is the server's ARN"
    assert steps["Evaluate"]["Arguments"]["Environment"][TRACKING_URI_ENV] == arn
    metadata = steps[REGISTER]["Arguments"]["CustomerMetadataProperties"]
    assert set(metadata) == {"mlflow_run_id", "data_manifest", "data_sha256"}
    link = steps[LINK_RUN]["Arguments"]["Environment"]
    assert link["PRODLINE_MODEL_PACKAGE_ARN"] == {"Get": f"Steps.{REGISTER}.ModelPackageArn"}
    role = json.loads(named(regs, "training-role-policy").inputs["policy"])
    logging = next(s for s in role["Statement"] if s["Sid"] == "LogRuns")
    assert logging["Resource"] == [arn] and all(a.startswith("sagemaker-mlflow:") for a in logging["Action"])


def test_without_tracking_there_is_no_server_no_link_step_and_no_run_id():
    regs = stack_registrations("dev", "prodline:trackingEnabled=false")
    assert not [r for r in regs if r.type == SERVER]
    definition = json.loads(named(regs, "training-pipeline").inputs["pipelineDefinition"])
    steps = {s["Name"]: s for s in iter_steps(definition["Steps"])}
    assert LINK_RUN not in steps and TRACKING_URI_ENV not in steps["Train"]["Arguments"]["Environment"]
    assert set(steps[REGISTER]["Arguments"]["CustomerMetadataProperties"]) == {"data_manifest", "data_sha256"}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("size", "Huge", "size must be one of Small, Medium, Large"),
    ("server_name", "-bad", "server_name must be"),
    ("server_name", "has space", "server_name must be"),
    ("maintenance_window", "Sunday 3am", "maintenance_window must be DDD:HH:MM"),
    ("maintenance_window", "SUN:25:00", "maintenance_window must be DDD:HH:MM"),
])
def test_bad_arguments_are_refused_naming_the_field(field, value, words):
    args = {"server_name": "prodline-dev-tracking", "size": "Small", "maintenance_window": "SUN:03:00",
            "lake": None, "account_id": "1", "region": "eu-west-1", field: value}
    with pytest.raises(ValueError, match=words):
        tracking_settings(args)
