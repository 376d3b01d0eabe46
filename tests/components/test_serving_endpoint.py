"""ServingEndpoint under mocks: capture, encryption, canary with rollback, autoscaling and its ordering."""

from __future__ import annotations

import pytest

from components.sagemaker_images import has_instance_storage
from components.serving_endpoint import ServingEndpoint, serving_settings
from tests.helpers import (
    LAKE_KEY_ARN,
    SKLEARN_IMAGE,
    component_registrations,
    fake_lake_refs,
    named,
    of_type,
    statements,
    trust_condition,
    wildcard_actions,
)

IMAGE = SKLEARN_IMAGE
PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-test-churn/3"


def args(**changes):
    base = {
        "endpoint_name": "prodline-test-churn",
        "lake": None,
        "account_id": "123456789012",
        "region": "eu-west-1",
        "image_uri": IMAGE,
        "model_artifact_prefixes": ["pipelines/p/", "code/training/"],
        "model_package_arn": PACKAGE,
        "instance_type": "ml.m5.large",
        "min_capacity": 2,
        "max_capacity": 5,
        "data_capture_percent": 25,
        "canary_percent": 10,
        "canary_bake_seconds": 600,
        "rollback_alarm_names": ["prodline-test-churn-primary-latency-p99", "prodline-test-churn-primary-5xx"],
        "target_invocations": 150,
        "scale_in_cooldown_seconds": 420,
    }
    base.update(changes)
    return base


def build(**changes):
    return component_registrations(lambda: ServingEndpoint("serving", {**args(**changes), "lake": fake_lake_refs()}))


@pytest.fixture(scope="module")
def regs():
    return build()


def test_model_serves_the_package(regs):
    model = named(regs, "serving-model").inputs
    assert model["primaryContainer"] == {"modelPackageName": PACKAGE}
    assert model["executionRoleArn"] == named(regs, "serving-role").outputs["arn"]


def test_data_capture_goes_encrypted_to_the_capture_prefix(regs):
    config = named(regs, "serving-config").inputs
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == 25
    assert capture["destinationS3Uri"] == "s3://bucket-raw/capture/"
    assert capture["kmsKeyId"] == LAKE_KEY_ARN
    assert {o["captureMode"] for o in capture["captureOptions"]} == {"Input", "Output"}
    assert config["kmsKeyArn"] == LAKE_KEY_ARN


def test_variant_starts_at_min_capacity(regs):
    (variant,) = named(regs, "serving-config").inputs["productionVariants"]
    assert (variant["variantName"], variant["instanceType"], variant["initialInstanceCount"]) == (
        "primary", "ml.m5.large", 2)


def test_endpoint_rolls_out_as_a_canary_and_rolls_back_on_the_alarms(regs):
    endpoint = named(regs, "serving-endpoint").inputs
    assert endpoint["name"] == "prodline-test-churn"
    policy = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY"
    assert routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}
    assert routing["waitIntervalInSeconds"] == 600
    assert policy["maximumExecutionTimeoutInSeconds"] > routing["waitIntervalInSeconds"]
    alarms = endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    assert [a["alarmName"] for a in alarms] == args()["rollback_alarm_names"]


def test_autoscaling_follows_args(regs):
    target = named(regs, "serving-scaling-target").inputs
    assert target["resourceId"] == "endpoint/prodline-test-churn/variant/primary"
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 5)
    policy = named(regs, "serving-scaling-policy").inputs
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["targetValue"] == 150
    assert tracking["scaleInCooldown"] == 420


def test_scaling_target_depends_on_endpoint_never_the_reverse(regs):
    endpoint, target = named(regs, "serving-endpoint"), named(regs, "serving-scaling-target")
    assert endpoint.urn in target.dependencies
    assert target.urn not in endpoint.dependencies


def test_endpoint_config_is_autonamed_so_updates_create_before_delete(regs):
    assert "name" not in named(regs, "serving-config").inputs


def test_sagemaker_assumes_the_role_only_for_this_accounts_resources(regs):
    assert trust_condition(named(regs, "serving-role")) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": ["arn:aws:sagemaker:eu-west-1:123456789012:*"]}}


def test_role_reads_its_model_and_writes_only_its_capture(regs):
    policy = named(regs, "serving-role-policy").inputs["policy"]
    assert wildcard_actions(policy) == []
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert by_sid["WriteCapture"]["Resource"] == ["arn:aws:s3:::bucket-raw/capture/prodline-test-churn/*"]
    assert by_sid["ReadModel"]["Resource"] == ["arn:aws:s3:::bucket-artifacts/pipelines/p/*",
                                               "arn:aws:s3:::bucket-artifacts/code/training/*"]


def test_serverless_endpoint_scales_itself_and_captures_nothing():
    regs = build(serverless=True, data_capture_percent=0, min_capacity=1)
    (variant,) = named(regs, "serving-config").inputs["productionVariants"]
    assert variant["serverlessConfig"]["maxConcurrency"] >= 1
    assert "instanceType" not in variant
    assert "dataCaptureConfig" not in named(regs, "serving-config").inputs
    assert not of_type(regs, "aws:appautoscaling/target:Target")


def test_instance_storage_types_get_no_volume_key():
    regs = build(instance_type="ml.g4dn.xlarge")
    assert "kmsKeyArn" not in named(regs, "serving-config").inputs
    assert named(regs, "serving-config").inputs["dataCaptureConfig"]["kmsKeyId"] == LAKE_KEY_ARN


@pytest.mark.parametrize(("instance_type", "expected"), [
    ("ml.m5.large", False), ("ml.m5d.large", True), ("ml.g4dn.xlarge", True), ("ml.c5.xlarge", False),
    ("ml.g5.xlarge", True), ("ml.t2.medium", False)])
def test_instance_storage_detection(instance_type, expected):
    assert has_instance_storage(instance_type) is expected


@pytest.mark.parametrize(("change", "message"), [
    ({"model_data_url": "s3://x/model.tar.gz"}, "exactly one of model_package_arn or model_data_url"),
    ({"min_capacity": 0}, "min_capacity must be >= 1"),
    ({"min_capacity": 6}, "min_capacity 6 must be <= max_capacity 5"),
    ({"canary_percent": 60}, "canary_percent must be from 1 to 50"),
    ({"data_capture_percent": 101}, "data_capture_percent must be from 0 to 100"),
    ({"serverless": True}, "data_capture_percent must be 0 for a serverless endpoint"),
    ({"rollback_alarm_names": []}, "rollback_alarm_names must name at least one alarm"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        serving_settings(args(**change))
