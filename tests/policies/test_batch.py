"""Batch scoring rules on the mocked stacks: each failing case one change away from what ships."""

from __future__ import annotations

import dataclasses
import json

import pytest

from policies.rules import batch
from tests.helpers import named, stack_registrations
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, changed_stack, judge, without

PIPELINE, TABLE, FAILED_RULE, FAILED_TARGET = "batch-pipeline", "lake-table-predictions_churn", "batch-failed", \
    "batch-failed-notify"
TRANSFORM = "Steps.2.Arguments"
PUBLISH_ENV = "Steps.3.Arguments.Environment"


@pytest.fixture(scope="module")
def prod():
    return stack_registrations("prod")


def with_definition(registrations, *changes):
    """The stack with the batch pipeline's definition changed at (path, value)."""
    registration = named(registrations, PIPELINE)
    definition = json.loads(registration.inputs["pipelineDefinition"])
    for path, value in changes:
        definition = change(definition, path, value)
    changed = dataclasses.replace(registration, inputs={**registration.inputs,
                                                         "pipelineDefinition": json.dumps(definition)})
    return [changed if r.name == PIPELINE else r for r in registrations]


@pytest.mark.parametrize("rule", batch.RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_pass(rule, stack):
    assert_passes(rule, stack_registrations(stack), environment=stack)


# --- output encrypted -------------------------------------------------------------------------------------

ENCRYPTED = batch.batch_transform_output_encrypted


def test_a_transform_without_an_output_key_fails(prod):
    assert_fails(ENCRYPTED, with_definition(prod, (f"{TRANSFORM}.TransformOutput.KmsKeyId", DELETE)), PIPELINE,
                 "TransformOutput.KmsKeyId")


def test_a_transform_without_a_volume_key_fails(prod):
    assert_fails(ENCRYPTED, with_definition(prod, (f"{TRANSFORM}.TransformResources.VolumeKmsKeyId", DELETE)),
                 PIPELINE, "VolumeKmsKeyId")


def test_a_transform_on_local_nvme_storage_needs_no_volume_key(prod):
    regs = with_definition(prod, (f"{TRANSFORM}.TransformResources.VolumeKmsKeyId", DELETE),
                           (f"{TRANSFORM}.TransformResources.InstanceType", "ml.m5d.xlarge"))
    assert_passes(ENCRYPTED, regs)


# --- predictions table ------------------------------------------------------------------------------------

CATALOGED = batch.batch_predictions_table_cataloged


def test_predictions_to_a_table_the_catalog_lacks_fail(prod):
    assert_fails(CATALOGED, without(prod, TABLE), PIPELINE, "prodline_prod.predictions_churn", "Glue catalog")


def test_a_pipeline_that_names_no_predictions_table_fails(prod):
    assert_fails(CATALOGED, with_definition(prod, (f"{PUBLISH_ENV}.{batch.TABLE_VARIABLE}", DELETE)), PIPELINE,
                 batch.TABLE_VARIABLE)


def test_a_table_in_another_database_does_not_count(prod):
    assert_fails(CATALOGED, changed_stack(prod, TABLE, "databaseName", "prodline_dev"), PIPELINE, "not declare")


def test_a_predictions_table_without_the_model_version_fails(prod):
    columns = named(prod, TABLE).inputs["storageDescriptor"]["columns"]
    kept = [c for c in columns if c["name"] != "model_version"]
    assert_fails(CATALOGED, changed_stack(prod, TABLE, "storageDescriptor.columns", kept), TABLE, "model_version")


# --- failure alerts ---------------------------------------------------------------------------------------

ALERTS = batch.batch_scoring_failure_alerts


def test_prod_scoring_without_a_failure_alert_fails(prod):
    assert_fails(ALERTS, without(prod, FAILED_RULE, FAILED_TARGET), PIPELINE, "batchAlertOnFailure",
                 environment="prod")


def test_a_failure_rule_that_targets_no_topic_fails(prod):
    regs = changed_stack(prod, FAILED_TARGET, "arn", "arn:aws:sqs:eu-west-1:123456789012:elsewhere")
    assert_fails(ALERTS, regs, PIPELINE, "SNS topic", environment="prod")


def test_a_failure_rule_for_another_pipeline_does_not_count(prod):
    rule = named(prod, FAILED_RULE)
    pattern = json.loads(rule.inputs["eventPattern"])
    pattern["detail"]["pipelineArn"] = ["arn:aws:sagemaker:eu-west-1:123456789012:pipeline/other"]
    assert_fails(ALERTS, changed_stack(prod, FAILED_RULE, "eventPattern", json.dumps(pattern)), PIPELINE,
                 "failed executions", environment="prod")


def test_dev_scoring_may_run_without_alerts():
    dev = stack_registrations("dev")
    assert not [r for r in dev if r.name == FAILED_RULE], "dev declares no failure alert (batchAlertOnFailure)"
    assert judge(ALERTS, dev, "dev") == []
