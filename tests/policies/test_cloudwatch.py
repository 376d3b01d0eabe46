"""CloudWatch, SNS and EventBridge rules on one alarm, log group, topic and bus as Observability declares them."""

from __future__ import annotations

import pytest

from policies.rules import cloudwatch
from tests.policies.cases import DELETE, KEY_ARN, assert_fails, assert_passes, change, resource

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:prodline-prod-alerts"
BASE = {
    cloudwatch.ALARMS[0]: ("latency-alarm", {"name": "latency", "alarmActions": [TOPIC_ARN], "okActions": [TOPIC_ARN],
                                             "metricName": "ModelLatency", "namespace": "AWS/SageMaker"}),
    cloudwatch.LOG_GROUP: ("endpoint-logs", {"name": "/aws/sagemaker/Endpoints/x", "retentionInDays": 365,
                                             "kmsKeyId": KEY_ARN}),
    cloudwatch.TOPIC: ("alerts", {"name": "prodline-prod-alerts", "kmsMasterKeyId": KEY_ARN}),
    cloudwatch.EVENT_BUS: ("bus", {"name": "prodline-prod", "kmsKeyIdentifier": KEY_ARN}),
}


def observability(type_token=None, path=None, value=None):
    """One resource of each type; the one of ``type_token`` with a change."""
    regs = []
    for token, (name, inputs) in BASE.items():
        regs.append(resource(token, name, change(inputs, path, value) if token == type_token else inputs))
    return regs


@pytest.mark.parametrize("rule", cloudwatch.RULES, ids=lambda r: r.name)
def test_alarms_logs_topics_and_buses_as_declared_pass(rule):
    assert_passes(rule, observability())


@pytest.mark.parametrize(("path", "value", "words"), [
    ("alarmActions", DELETE, "no alarm actions"),
    ("alarmActions", [], "no alarm actions"),
    ("actionsEnabled", False, "actions disabled"),
])
def test_an_alarm_that_notifies_nobody_fails(path, value, words):
    assert_fails(cloudwatch.cloudwatch_alarm_has_actions, observability(cloudwatch.ALARMS[0], path, value),
                 "latency-alarm", words, "alarm_actions")


@pytest.mark.parametrize(("value", "words"), [(DELETE, "forever"), (0, "forever"), (10, "10 days")])
def test_a_log_group_without_accepted_retention_fails(value, words):
    assert_fails(cloudwatch.cloudwatch_log_group_retention,
                 observability(cloudwatch.LOG_GROUP, "retentionInDays", value), "endpoint-logs", words,
                 "prodline:logRetentionDays")


def test_an_unencrypted_log_group_fails():
    assert_fails(cloudwatch.cloudwatch_log_group_encrypted, observability(cloudwatch.LOG_GROUP, "kmsKeyId", DELETE),
                 "endpoint-logs", "kms_key_id")


@pytest.mark.parametrize(("value", "words"), [(DELETE, "is not encrypted"), ("alias/aws/sns", "AWS-managed key")])
def test_a_topic_without_a_usable_customer_key_fails(value, words):
    assert_fails(cloudwatch.sns_topic_encrypted, observability(cloudwatch.TOPIC, "kmsMasterKeyId", value), "alerts",
                 words)


def test_an_unencrypted_event_bus_fails():
    assert_fails(cloudwatch.eventbridge_bus_encrypted, observability(cloudwatch.EVENT_BUS, "kmsKeyIdentifier", DELETE),
                 "bus", "kms_key_identifier")
