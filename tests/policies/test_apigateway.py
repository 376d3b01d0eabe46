"""API Gateway rules on the front door as the prod stack declares it, and on one change at a time."""

from __future__ import annotations

import pytest

from policies.rules import apigateway
from prodline.program import run_program
from tests.policies.cases import DELETE, assert_fails, assert_passes, changed_stack, resource, without

STAGE = "front-door-stage"


@pytest.fixture(scope="module")
def stack():
    return run_program("prod")


@pytest.fixture(scope="module")
def cognito_stack():
    return run_program("prod", ["prodline:frontDoorAuth=cognito",
                                "prodline:frontDoorCognitoUserPoolArn=arn:aws:cognito-idp:eu-west-1:123456789012:"
                                "userpool/eu-west-1_AbCdEf",
                                "prodline:frontDoorDomain=churn.example.com",
                                "prodline:frontDoorCertificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/"
                                "12345678-1234-1234-1234-123456789012"])


@pytest.mark.parametrize("rule", apigateway.RULES, ids=lambda r: r.name)
def test_the_declared_front_door_passes(rule, stack, cognito_stack):
    assert any(r.type == apigateway.STAGE for r in stack), "the prod stack declares the front door's stage"
    assert_passes(rule, stack)
    assert_passes(rule, cognito_stack)


@pytest.mark.parametrize("method", ["front-door-predict-post", "front-door-health-get"])
def test_a_method_open_to_anyone_fails(stack, method):
    opened = changed_stack(stack, method, "apiKeyRequired", False)
    assert_fails(apigateway.apigateway_method_authenticated, opened, method, "authorization NONE")


def test_a_method_with_iam_and_no_key_passes(stack):
    iam_only = changed_stack(changed_stack(stack, "front-door-predict-post", "apiKeyRequired", False),
                             "front-door-predict-post", "authorization", "AWS_IAM")
    assert_passes(apigateway.apigateway_method_authenticated, iam_only)


def test_a_stage_without_throttling_fails(stack):
    unthrottled = without(stack, "front-door-throttling", "front-door-usage-plan")
    assert_fails(apigateway.apigateway_stage_throttled, unthrottled, STAGE, "not throttled")


def test_either_the_stage_settings_or_the_usage_plan_throttle(stack):
    assert_passes(apigateway.apigateway_stage_throttled, without(stack, "front-door-throttling"))
    assert_passes(apigateway.apigateway_stage_throttled, without(stack, "front-door-usage-plan"))
    no_rate = changed_stack(without(stack, "front-door-usage-plan"), "front-door-throttling",
                            "settings.throttlingRateLimit", 0)
    assert_fails(apigateway.apigateway_stage_throttled, no_rate, STAGE, "not throttled")


@pytest.mark.parametrize(("path", "value", "words"), [
    ("accessLogSettings", DELETE, "writes no access log"),
    ("accessLogSettings.format", "$context.requestId $context.status", "not JSON"),
    ("accessLogSettings.destinationArn", "arn:aws:logs:eu-west-1:123456789012:log-group:elsewhere",
     "does not declare"),
])
def test_a_stage_without_json_access_logs_fails(stack, path, value, words):
    assert_fails(apigateway.apigateway_stage_access_logs, changed_stack(stack, STAGE, path, value), STAGE, words)


def test_access_logs_to_an_unencrypted_group_fail(stack):
    plain = changed_stack(stack, "front-door-access-logs", "kmsKeyId", DELETE)
    assert_fails(apigateway.apigateway_stage_access_logs, plain, STAGE, "without a KMS key")


def test_json_formats_with_unquoted_variables_count_as_json():
    assert apigateway.is_json_format('{"status": $context.status, "id": "$context.requestId"}')
    assert not apigateway.is_json_format("$context.requestId")


@pytest.mark.parametrize("policy", [None, "TLS_1_0"])
def test_a_custom_domain_below_tls_1_2_fails(policy):
    inputs = {"domainName": "churn.example.com", "regionalCertificateArn": "arn:aws:acm:eu-west-1:1:certificate/x"}
    if policy:
        inputs["securityPolicy"] = policy
    domain = [resource(apigateway.DOMAIN_NAME, "front-door-domain", inputs)]
    assert_fails(apigateway.apigateway_domain_tls12, domain, "front-door-domain", "below 1.2")
    tls12 = [resource(apigateway.DOMAIN_NAME, "front-door-domain", {**inputs, "securityPolicy": "TLS_1_2"})]
    assert_passes(apigateway.apigateway_domain_tls12, tls12)


@pytest.mark.parametrize(("alarm", "metric"), [
    ("prodline-prod-front-door-prod-5xx", "5XXError"),
    ("prodline-prod-front-door-prod-4xx-rate", "4XXError"),
    ("prodline-prod-front-door-prod-latency-p99", "Latency"),
])
def test_a_stage_missing_an_alarm_fails(stack, alarm, metric):
    assert_fails(apigateway.apigateway_stage_alarms, without(stack, alarm), STAGE, metric, "ApiName=")


def test_an_alarm_on_another_stage_does_not_count(stack):
    elsewhere = changed_stack(stack, "prodline-prod-front-door-prod-5xx", "dimensions.Stage", "dev")
    assert_fails(apigateway.apigateway_stage_alarms, elsewhere, STAGE, "5XXError")
