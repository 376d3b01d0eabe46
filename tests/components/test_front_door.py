"""FrontDoor under mocks, and in every shipped stack: a REST API with authenticated routes, a throttled and logged
stage, per-client keys, a least-privilege integration role (SageMaker) or a VPC link (Kubernetes), and errors in
the inference server's shape."""

from __future__ import annotations

import json

import pytest

from components.front_door import FrontDoor
from components.front_door_settings import (
    ACCESS_LOG_FIELDS,
    GATEWAY_RESPONSES,
    INFERENCE_ID_HEADER,
    access_log_format,
    front_door_settings,
)
from tests.helpers import (
    ON_KUBERNETES,
    STACKS,
    component_registrations,
    named,
    of_type,
    stack_registrations,
    statements,
)

ACCOUNT = "123456789012"
LOG_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/lake"
ENDPOINT = "prodline-test-churn"


def door_args(**changes) -> dict:
    args = {"api_name": "prodline-test-front-door", "stage_name": "test", "region": "eu-west-1",
            "account_id": ACCOUNT, "backend": {"kind": "sagemaker", "endpoint_name": ENDPOINT},
            "auth": "api-key", "clients": ["app", "batch"], "rate_limit": 50.0, "burst_limit": 100,
            "client_rate_limit": 10.0, "client_burst_limit": 20, "quota_per_day": 1000, "log_retention_days": 14,
            "log_kms_key_arn": LOG_KEY}
    args.update(changes)
    return args


def build(**changes):
    return component_registrations(lambda: FrontDoor("front-door", door_args(**changes)))


@pytest.mark.parametrize(("changes", "field"), [
    ({"auth": "none"}, "auth"),
    ({"auth": "cognito"}, "cognito_user_pool_arn"),
    ({"clients": []}, "clients"),
    ({"clients": ["app", "app"]}, "clients"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"client_rate_limit": 60.0}, "client_rate_limit"),
    ({"client_burst_limit": 200}, "client_burst_limit"),
    ({"quota_per_day": -1}, "quota_per_day"),
    ({"max_request_mb": 7}, "max_request_mb"),
    ({"backend": {"kind": "kubernetes", "load_balancer_arn": "arn", "host": "h"}, "max_request_mb": 11},
     "max_request_mb"),
    ({"domain": {"name": "churn.example.com", "certificate_arn": ""}}, "domain"),
])
def test_bad_arguments_are_refused_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        front_door_settings(door_args(**changes))


def test_the_body_limit_defaults_to_the_backends():
    assert front_door_settings(door_args())["max_request_mb"] == 6, "InvokeEndpoint takes at most 6 MB"
    k8s = {"kind": "kubernetes", "load_balancer_arn": "arn", "host": "h"}
    assert front_door_settings(door_args(backend=k8s))["max_request_mb"] == 10, "API Gateway takes at most 10 MB"


def test_every_route_needs_a_key_and_the_declared_auth():
    for auth, authorization in (("api-key", "NONE"), ("iam", "AWS_IAM")):
        methods = of_type(build(auth=auth), "aws:apigateway/method:Method")
        assert {(m.inputs["httpMethod"], m.inputs["authorization"], m.inputs["apiKeyRequired"]) for m in methods} \
            == {("POST", authorization, True), ("GET", authorization, True)}
    pool = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_AbC"
    regs = build(auth="cognito", cognito_user_pool_arn=pool)
    (authorizer,) = of_type(regs, "aws:apigateway/authorizer:Authorizer")
    assert authorizer.inputs["providerArns"] == [pool] and authorizer.inputs["type"] == "COGNITO_USER_POOLS"
    assert all(m.inputs["authorizerId"] for m in of_type(regs, "aws:apigateway/method:Method"))


def test_predict_calls_invoke_endpoint_directly_with_a_role_that_may_invoke_only_this_endpoint():
    regs = build()
    integration = named(regs, "front-door-predict-integration").inputs
    assert integration["type"] == "AWS" and integration["integrationHttpMethod"] == "POST"
    assert integration["uri"] == f"arn:aws:apigateway:eu-west-1:runtime.sagemaker:path/endpoints/{ENDPOINT}/invocations"
    assert integration["requestParameters"][f"integration.request.header.{INFERENCE_ID_HEADER}"] == \
        f"method.request.header.{INFERENCE_ID_HEADER}", "the inference id reaches SageMaker (ground-truth labels)"
    (statement,) = statements(named(regs, "front-door-invoke-policy").inputs["policy"])
    assert statement["Action"] == ["sagemaker:InvokeEndpoint"]
    assert statement["Resource"] == [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/{ENDPOINT}"]
    trust = json.loads(named(regs, "front-door-invoke-role").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"]["Service"] == ["apigateway.amazonaws.com"]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_a_model_error_is_unwrapped_to_the_containers_status_and_body():
    responses = of_type(build(), "aws:apigateway/integrationResponse:IntegrationResponse")
    (model_error,) = [r for r in responses if r.inputs.get("selectionPattern") == "424"]
    template = model_error.inputs["responseTemplates"]["application/json"]
    assert "responseOverride.status = $answer.OriginalStatusCode" in template and "$answer.OriginalMessage" in template
    (ok,) = [r for r in responses if r.inputs["statusCode"] == "200" and "predict" in r.name]
    assert "responseTemplates" not in ok.inputs, "no template on success: the model's body passes unchanged"


def test_gateway_errors_have_the_servers_shape_and_429s_say_retry_after():
    responses = {r.inputs["responseType"]: r.inputs for r in of_type(build(), "aws:apigateway/response:Response")}
    assert set(responses) == set(GATEWAY_RESPONSES)
    for kind, (status, reason) in GATEWAY_RESPONSES.items():
        template = responses[kind]["responseTemplates"]["application/json"]
        rendered = json.loads(template.replace("$context.error.messageString", '"some message"'))
        assert rendered == {"error": reason, "message": "some message"} and responses[kind]["statusCode"] == str(status)
    assert responses["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_the_stage_is_throttled_logged_in_json_to_an_encrypted_group_and_each_client_has_a_key():
    regs = build()
    stage = named(regs, "front-door-stage").inputs
    logs = named(regs, "front-door-access-logs").inputs
    assert stage["accessLogSettings"]["format"] == access_log_format()
    assert set(json.loads(access_log_format())) == set(ACCESS_LOG_FIELDS)
    assert logs["kmsKeyId"] == LOG_KEY and logs["retentionInDays"] == 14
    assert stage["variables"]["maxRequestBytes"] == str(6 * 1024 * 1024)
    settings = named(regs, "front-door-throttling").inputs
    assert settings["methodPath"] == "*/*" and settings["settings"]["throttlingRateLimit"] == 50
    assert settings["settings"]["throttlingBurstLimit"] == 100
    plan = named(regs, "front-door-usage-plan").inputs
    assert plan["throttleSettings"] == {"rateLimit": 10, "burstLimit": 20}
    assert plan["quotaSettings"] == {"limit": 1000, "period": "DAY"}
    assert sorted(k.inputs["name"] for k in of_type(regs, "aws:apigateway/apiKey:ApiKey")) == [
        "prodline-test-front-door-app", "prodline-test-front-door-batch"]
    assert len(of_type(regs, "aws:apigateway/usagePlanKey:UsagePlanKey")) == 2
    assert "quotaSettings" not in named(build(quota_per_day=0), "front-door-usage-plan").inputs


def test_kubernetes_is_reached_by_a_proxy_through_a_vpc_link_to_the_ingress():
    nlb = f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:loadbalancer/net/ingress/abc"
    regs = build(backend={"kind": "kubernetes", "load_balancer_arn": nlb, "host": "churn.internal"})
    assert named(regs, "front-door-vpc-link").inputs["targetArn"] == nlb
    integration = named(regs, "front-door-predict-integration").inputs
    assert (integration["type"], integration["connectionType"], integration["uri"]) == (
        "HTTP_PROXY", "VPC_LINK", "http://churn.internal/invocations")
    assert not of_type(regs, "aws:iam/role:Role"), "no role: nothing calls AWS on the Kubernetes path"


def test_a_custom_domain_serves_tls_1_2_only_and_turns_the_default_url_off():
    cert = f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
    regs = build(domain={"name": "churn.example.com", "certificate_arn": cert})
    domain = named(regs, "front-door-domain").inputs
    assert domain["securityPolicy"] == "TLS_1_2" and domain["regionalCertificateArn"] == cert
    assert named(regs, "front-door-api").inputs["disableExecuteApiEndpoint"] is True
    assert named(regs, "front-door-domain-mapping").inputs["domainName"] == "churn.example.com"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("platform", [(), (ON_KUBERNETES,)], ids=["sagemaker", "kubernetes"])
def test_every_stack_declares_the_front_door_with_its_alarms(stack, platform):
    regs = stack_registrations(stack, *platform)
    api = named(regs, "front-door-api").inputs
    assert api["name"] == f"prodline-{stack}-front-door" and api["tags"]["environment"] == stack
    stage = named(regs, "front-door-stage").inputs
    assert stage["stageName"] == stack and stage["accessLogSettings"]["destinationArn"]
    alarms = {(a.inputs["metricName"], a.inputs["dimensions"]["Stage"]) for a in
              of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs.get("namespace") == "AWS/ApiGateway"}
    assert alarms == {("4XXError", stack), ("5XXError", stack), ("Latency", stack)}
    (dashboard,) = of_type(regs, "aws:cloudwatch/dashboard:Dashboard")
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    assert any(["AWS/ApiGateway", "5XXError", "ApiName", api["name"], "Stage", stack] in w["properties"]["metrics"]
               for w in widgets), "the front door is on the stack's dashboard"


def test_kubernetes_serving_gets_an_ingress_host_for_the_front_door():
    regs = stack_registrations("dev", ON_KUBERNETES)
    (ingress,) = of_type(regs, "kubernetes:networking.k8s.io/v1:Ingress")
    host = ingress.inputs["spec"]["rules"][0]["host"]
    assert named(regs, "front-door-predict-integration").inputs["uri"] == f"http://{host}/invocations"


def test_a_stack_without_the_front_door_declares_no_api_and_no_api_alarms():
    regs = stack_registrations("dev", "prodline:frontDoorEnabled=false")
    assert not [r for r in regs if r.type.startswith("aws:apigateway/")]
    assert not [a for a in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm")
                if a.inputs.get("namespace") == "AWS/ApiGateway"]
