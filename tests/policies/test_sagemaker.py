"""SageMaker rules: resource rules on the shipped prod endpoint configuration and pipeline, stack rules on the
whole mocked prod stack, each failing case one change away from what ships."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.sagemaker_images import has_instance_storage as component_has_instance_storage
from policies.rules import sagemaker
from standards import environments as envs
from tests.helpers import named, stack_registrations
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, changed_stack, judge, without

CONFIG, ENDPOINT, TARGET, PIPELINE = "serving-config", "serving-endpoint", "serving-scaling-target", "training-pipeline"
LATENCY_ALARM, ERROR_ALARM = "prodline-prod-churn-primary-latency-p99", "prodline-prod-churn-primary-5xx"
TRAIN = "Steps.0.Arguments"
EVALUATE = "Steps.1.Arguments"
REGISTER = "Steps.2.Arguments.IfSteps.0.Arguments"


@pytest.fixture(scope="module")
def prod():
    return stack_registrations("prod")


def config(prod, *changes):
    """The shipped prod endpoint configuration, with (path, value) changes."""
    inputs = named(prod, CONFIG).inputs
    for path, value in changes:
        inputs = change(inputs, path, value)
    return [dataclasses.replace(named(prod, CONFIG), inputs=inputs)]


def pipeline(prod, *changes):
    """The shipped prod pipeline, with (path, value) changes to its definition."""
    registration = named(prod, PIPELINE)
    definition = json.loads(registration.inputs["pipelineDefinition"])
    for path, value in changes:
        definition = change(definition, path, value)
    return [dataclasses.replace(registration, inputs={**registration.inputs,
                                                       "pipelineDefinition": json.dumps(definition)})]


@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.m5d.xlarge", "ml.g5.2xlarge", "ml.g4dn.xlarge",
                                           "ml.c6gd.large", "ml.p5.48xlarge", "ml.t2.medium", "ml.inf2.xlarge"])
def test_instance_storage_test_matches_the_component(instance_type):
    assert sagemaker.has_instance_storage(instance_type) == component_has_instance_storage(instance_type)


@pytest.mark.parametrize("rule", sagemaker.RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_pass(rule, stack):
    assert_passes(rule, stack_registrations(stack), environment=stack)


# --- endpoint configuration -------------------------------------------------------------------------

ENCRYPTED = sagemaker.sagemaker_endpoint_config_encrypted


def test_a_configuration_without_a_volume_key_fails(prod):
    assert_fails(ENCRYPTED, config(prod, ("kmsKeyArn", DELETE)), CONFIG, "ml.m5.xlarge", "kms_key_arn")


def test_an_instance_type_with_local_nvme_storage_needs_no_volume_key(prod):
    regs = config(prod, ("kmsKeyArn", DELETE), ("productionVariants.0.instanceType", "ml.g5.xlarge"))
    assert_passes(ENCRYPTED, regs)


def test_one_variant_with_local_storage_exempts_the_configuration(prod):
    shadow = {"variantName": "shadow", "modelName": "m", "instanceType": "ml.m5d.large", "initialInstanceCount": 1}
    assert_passes(ENCRYPTED, config(prod, ("kmsKeyArn", DELETE), ("shadowProductionVariants", [shadow])))


def test_a_serverless_configuration_needs_no_volume_key(prod):
    variant = {"variantName": "primary", "modelName": "m", "serverlessConfig": {"maxConcurrency": 5,
                                                                               "memorySizeInMb": 2048}}
    assert_passes(ENCRYPTED, config(prod, ("kmsKeyArn", DELETE), ("dataCaptureConfig", DELETE),
                                    ("productionVariants", [variant])))


def test_capture_without_a_key_fails(prod):
    assert_fails(ENCRYPTED, config(prod, ("dataCaptureConfig.kmsKeyId", DELETE)), CONFIG, "captures",
                 "data_capture_config.kms_key_id")


def test_async_results_without_a_key_fail(prod):
    regs = config(prod, ("asyncInferenceConfig", {"outputConfig": {"s3OutputPath": "s3://bucket-raw/async/"}}))
    assert_fails(ENCRYPTED, regs, CONFIG, "asynchronous")


CAPTURE = sagemaker.sagemaker_data_capture_enabled


@pytest.mark.parametrize(("path", "value", "words"), [
    ("dataCaptureConfig", DELETE, "has no data capture"),
    ("dataCaptureConfig.enableCapture", False, "turns data capture off"),
    ("dataCaptureConfig.initialSamplingPercentage", 0, "captures 0%"),
    ("dataCaptureConfig.captureOptions", [{"captureMode": "Output"}], "does not capture request inputs"),
])
def test_prod_without_input_capture_fails(prod, path, value, words):
    assert_fails(CAPTURE, config(prod, (path, value)), CONFIG, words, "prodline:dataCapturePercent")


def test_capture_is_not_required_in_dev(prod):
    assert judge(CAPTURE, config(prod, ("dataCaptureConfig", DELETE)), environment="dev") == []
    assert_fails(CAPTURE, config(prod, ("dataCaptureConfig", DELETE)), CONFIG, environment="staging")


SERVING_TYPES = sagemaker.sagemaker_endpoint_instance_type_allowed


def test_an_instance_type_outside_the_allowlist_fails(prod):
    violation = assert_fails(SERVING_TYPES, config(prod, ("productionVariants.0.instanceType", "ml.p4d.24xlarge")),
                             CONFIG, "ml.p4d.24xlarge", "prodline:servingInstanceType")
    assert all(t in violation.message for t in envs.SERVING_INSTANCE_TYPES["prod"])


def test_the_allowlist_is_the_environments(prod):
    assert_passes(SERVING_TYPES, config(prod))  # ml.m5.xlarge: prod and staging allow it, dev does not
    assert_fails(SERVING_TYPES, config(prod), CONFIG, "dev does not allow", environment="dev")


# --- pipeline definition ----------------------------------------------------------------------------

TRAINING_TYPES = sagemaker.sagemaker_training_instance_type_allowed


def test_training_outside_the_allowlist_fails(prod):
    regs = pipeline(prod, (f"{TRAIN}.ResourceConfig.InstanceType", "ml.p3.16xlarge"))
    assert_fails(TRAINING_TYPES, regs, PIPELINE, "step Train", "ml.p3.16xlarge", "prodline:trainingInstanceType")


def test_a_training_type_given_by_a_parameter_is_resolved(prod):
    regs = pipeline(prod, (f"{TRAIN}.ResourceConfig.InstanceType", {"Get": "Parameters.TrainType"}),
                    ("Parameters.3", {"Name": "TrainType", "Type": "String", "DefaultValue": "ml.p3.2xlarge"}))
    assert_fails(TRAINING_TYPES, regs, PIPELINE, "ml.p3.2xlarge")


def test_the_shipped_prod_training_type_is_too_big_for_dev(prod):
    assert_fails(TRAINING_TYPES, pipeline(prod), PIPELINE, "ml.m5.2xlarge", environment="dev")


JOBS = sagemaker.sagemaker_pipeline_jobs_encrypted


@pytest.mark.parametrize(("path", "words"), [
    (f"{TRAIN}.OutputDataConfig.KmsKeyId", "step Train does not encrypt its output"),
    (f"{TRAIN}.ResourceConfig.VolumeKmsKeyId", "step Train does not encrypt its storage volume"),
    (f"{EVALUATE}.ProcessingOutputConfig.KmsKeyId", "step Evaluate does not encrypt its output"),
    (f"{EVALUATE}.ProcessingResources.ClusterConfig.VolumeKmsKeyId", "step Evaluate does not encrypt its storage"),
])
def test_a_job_without_a_customer_key_fails(prod, path, words):
    assert_fails(JOBS, pipeline(prod, (path, DELETE)), PIPELINE, words)


def test_a_training_type_with_local_storage_needs_no_volume_key(prod):
    regs = pipeline(prod, (f"{TRAIN}.ResourceConfig.VolumeKmsKeyId", DELETE),
                    (f"{TRAIN}.ResourceConfig.InstanceType", "ml.g4dn.xlarge"))
    assert_passes(JOBS, regs)


APPROVAL = sagemaker.sagemaker_model_approval_manual


def test_prod_registering_models_as_approved_fails(prod):
    regs = pipeline(prod, ("Parameters.2.DefaultValue", "Approved"))
    assert_fails(APPROVAL, regs, PIPELINE, "registers models as 'Approved'", "prodline:modelApprovalStatus")


def test_a_literal_approved_status_fails(prod):
    assert_fails(APPROVAL, pipeline(prod, (f"{REGISTER}.ModelApprovalStatus", "Approved")), PIPELINE, "'Approved'")


def test_a_status_parameter_without_default_fails(prod):
    assert_fails(APPROVAL, pipeline(prod, ("Parameters.2.DefaultValue", DELETE)), PIPELINE, "no default")


def test_dev_may_auto_approve(prod):
    assert judge(APPROVAL, pipeline(prod, ("Parameters.2.DefaultValue", "Approved")), environment="dev") == []


# --- endpoints across the stack (whole mocked stacks) -----------------------------------------------

SCALING = sagemaker.sagemaker_endpoint_autoscaling


def test_an_endpoint_without_autoscaling_fails(prod):
    assert_fails(SCALING, without(prod, TARGET, "serving-scaling-policy"), ENDPOINT, "no autoscaling target")


def test_prod_scaling_in_to_one_instance_fails(prod):
    assert_fails(SCALING, changed_stack(prod, TARGET, "minCapacity", 1), ENDPOINT, "scale in to 1",
                 "prodline:servingMinCapacity")


def test_prod_starting_with_one_instance_fails(prod):
    regs = changed_stack(prod, CONFIG, "productionVariants.0.initialInstanceCount", 1)
    assert_fails(SCALING, regs, ENDPOINT, "starts with 1 instance")


def test_a_target_for_another_variant_does_not_count(prod):
    regs = changed_stack(prod, TARGET, "resourceId", "endpoint/prodline-prod-churn/variant/shadow")
    assert_fails(SCALING, regs, ENDPOINT, "variant primary has no autoscaling target")


def test_a_serverless_prod_endpoint_fails(prod):
    variant = {"variantName": "primary", "modelName": "m", "serverlessConfig": {"maxConcurrency": 5,
                                                                               "memorySizeInMb": 2048}}
    assert_fails(SCALING, changed_stack(prod, CONFIG, "productionVariants", [variant]), ENDPOINT, "serverless",
                 "prodline:servingServerless=false")


def test_dev_serverless_endpoints_need_no_target():
    regs = stack_registrations("dev", "prodline:servingServerless=true", "prodline:dataCapturePercent=0")
    assert not [r for r in regs if r.type == sagemaker.SCALING_TARGET]
    assert_passes(SCALING, regs, environment="dev")


ALARMS = sagemaker.sagemaker_endpoint_alarms


def test_an_endpoint_without_a_latency_alarm_fails(prod):
    assert_fails(ALARMS, without(prod, LATENCY_ALARM), ENDPOINT, "no latency alarm", "prodline:alarmLatencyP99Ms")


def test_an_endpoint_without_a_5xx_alarm_fails(prod):
    assert_fails(ALARMS, without(prod, ERROR_ALARM), ENDPOINT, "no 5xx error alarm", "prodline:alarm5xxThreshold")


def test_an_alarm_without_actions_does_not_count(prod):
    assert_fails(ALARMS, changed_stack(prod, ERROR_ALARM, "alarmActions", []), ENDPOINT, ERROR_ALARM,
                 "no alarm actions")


def test_an_alarm_on_another_endpoint_does_not_count(prod):
    regs = changed_stack(prod, LATENCY_ALARM, "dimensions.EndpointName", "someone-elses-endpoint")
    assert_fails(ALARMS, regs, ENDPOINT, "no latency alarm")


def test_a_metric_math_alarm_counts(prod):
    math = [{"id": "latency", "returnData": True, "metric": {
        "namespace": "AWS/SageMaker", "metricName": "ModelLatency", "stat": "p99", "period": 60,
        "dimensions": {"EndpointName": "prodline-prod-churn", "VariantName": "primary"}}}]
    regs = changed_stack(prod, LATENCY_ALARM, "metricName", DELETE)
    regs = changed_stack(regs, LATENCY_ALARM, "metricQueries", math)
    assert_passes(ALARMS, regs)


BLUE_GREEN = sagemaker.sagemaker_endpoint_blue_green_rollback


def test_an_endpoint_without_blue_green_fails(prod):
    regs = changed_stack(prod, ENDPOINT, "deploymentConfig.blueGreenUpdatePolicy", DELETE)
    assert_fails(BLUE_GREEN, regs, ENDPOINT, "no blue/green", "prodline:canaryPercent")


def test_an_endpoint_without_rollback_alarms_fails(prod):
    regs = changed_stack(prod, ENDPOINT, "deploymentConfig.autoRollbackConfiguration", DELETE)
    assert_fails(BLUE_GREEN, regs, ENDPOINT, "no auto-rollback alarms")


def test_rolling_back_on_an_alarm_that_does_not_exist_fails(prod):
    regs = changed_stack(prod, ENDPOINT, "deploymentConfig.autoRollbackConfiguration.alarms.1.alarmName", "typo-5xx")
    assert_fails(BLUE_GREEN, regs, ENDPOINT, "'typo-5xx', which is not in the stack")


def test_blue_green_is_advisory_in_dev():
    regs = changed_stack(stack_registrations("dev"), ENDPOINT, "deploymentConfig", DELETE)
    found = judge(BLUE_GREEN, regs, environment="dev")
    assert {v.enforcement for v in found} == {"advisory"} and len(found) == 2
