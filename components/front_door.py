"""The front door: one API Gateway REST API that product teams call instead of SageMaker Runtime.

A REST API (not an HTTP API) because it is the only API type that can (1) call SageMaker Runtime's
InvokeEndpoint directly as an AWS service integration (HTTP APIs' service integrations are EventBridge, SQS,
AppConfig, Kinesis and Step Functions only, so they would need a Lambda hop: more latency, more code to run),
and (2) give machine clients their own API keys with per-client throttling and quotas (usage plans: HTTP APIs
have none). The price is $3.50 instead of $1.00 per million requests; README "Front door" has the figures.

  POST /v1/predict   SageMaker: AWS integration -> InvokeEndpoint on this stack's endpoint (its role may invoke
                     that endpoint only); Kubernetes: HTTP proxy through a VPC link to the ingress's NLB
  GET  /v1/health    a mock integration: the front door itself answers (auth, throttling and routing are up);
                     the model's health is the endpoint's alarms'

Every method requires a usage-plan API key and, per ``auth``, SigV4 (IAM) or a Cognito JWT. The stage throttles
all callers together and the usage plan each key; access logs are JSON lines in a KMS-encrypted log group.
Errors, whether the gateway or the model refused the request, have the inference server's JSON shape.
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.front_door_settings import (
    AUTHORIZATION,
    ERROR_MAPPINGS,
    GATEWAY_RESPONSES,
    HEALTH_BODY,
    INFERENCE_ID_HEADER,
    INTEGRATION_TIMEOUT_MS,
    METHOD_STATUSES,
    RETRY_AFTER_SECONDS,
    FrontDoorArgs,
    access_log_format,
    endpoint_arn,
    front_door_settings,
    gateway_response_template,
    sagemaker_invoke_uri,
)

BINARY_MEDIA_TYPES = ["application/x-npy"]
"""Bodies API Gateway passes as bytes (the server reads NumPy arrays); CSV and JSON pass as text."""


class FrontDoor(pulumi.ComponentResource):
    """REST API, stage with throttling and access logs, usage plan with a key per client, optional custom domain."""

    api_id: pulumi.Output[str]
    stage_name: pulumi.Output[str]
    invoke_url: pulumi.Output[str]

    def __init__(self, name: str, args: FrontDoorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:serving:FrontDoor", name, None, opts)
        args = front_door_settings(args)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)

        api = aws.apigateway.RestApi(
            f"{name}-api", name=args["api_name"], description="prodline front door: POST /v1/predict, GET /v1/health",
            endpoint_configuration={"types": "REGIONAL"}, api_key_source="HEADER",
            binary_media_types=BINARY_MEDIA_TYPES,
            # With a custom domain, only the domain (and its TLS policy) serves the API.
            disable_execute_api_endpoint="domain" in args, opts=child)
        self.api = api
        version = aws.apigateway.Resource(f"{name}-v1", rest_api=api.id, parent_id=api.root_resource_id,
                                          path_part="v1", opts=child)
        predict = aws.apigateway.Resource(f"{name}-predict", rest_api=api.id, parent_id=version.id,
                                          path_part="predict", opts=child)
        health = aws.apigateway.Resource(f"{name}-health", rest_api=api.id, parent_id=version.id,
                                         path_part="health", opts=child)
        validator = aws.apigateway.RequestValidator(
            f"{name}-validator", rest_api=api.id, name=f"{args['api_name']}-parameters",
            validate_request_parameters=True, validate_request_body=False, opts=child)
        auth = self._authorization(api)

        predict_method = aws.apigateway.Method(
            f"{name}-predict-post", rest_api=api.id, resource_id=predict.id, http_method="POST",
            api_key_required=True, request_validator_id=validator.id,
            request_parameters={"method.request.header.Content-Type": True,
                                "method.request.header.Accept": False,
                                f"method.request.header.{INFERENCE_ID_HEADER}": False},
            **auth, opts=child)
        health_method = aws.apigateway.Method(
            f"{name}-health-get", rest_api=api.id, resource_id=health.id, http_method="GET",
            api_key_required=True, **auth, opts=child)
        wiring = [predict_method, health_method, *self._predict_integration(api, predict, predict_method),
                  *self._health_integration(api, health, health_method), *self._gateway_responses(api)]

        logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", name=f"/aws/apigateway/{args['api_name']}/{args['stage_name']}",
            retention_in_days=args["log_retention_days"], kms_key_id=args["log_kms_key_arn"], opts=child)
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment", rest_api=api.id, description=f"{args['api_name']} routes",
            # A new deployment whenever what the routes do changes; a stage serves a deployment's snapshot.
            triggers={"routes": _fingerprint(args)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=wiring))
        stage = aws.apigateway.Stage(
            f"{name}-stage", rest_api=api.id, deployment=deployment.id, stage_name=args["stage_name"],
            xray_tracing_enabled=True,
            access_log_settings={"destination_arn": logs.arn, "format": access_log_format()},
            variables={"maxRequestBytes": str(args["max_request_mb"] * 1024 * 1024)}, opts=child)
        aws.apigateway.MethodSettings(
            f"{name}-throttling", rest_api=api.id, stage_name=stage.stage_name, method_path="*/*",
            settings={"throttling_rate_limit": args["rate_limit"], "throttling_burst_limit": args["burst_limit"],
                      "metrics_enabled": True, "data_trace_enabled": False}, opts=child)
        self._usage_plan(api, stage)
        if "domain" in args:
            self._custom_domain(api, stage)

        self.api_id = api.id
        self.stage_name = stage.stage_name
        self.invoke_url = stage.invoke_url
        self.register_outputs({"api_id": self.api_id, "stage_name": self.stage_name, "invoke_url": self.invoke_url})

    def _authorization(self, api: aws.apigateway.RestApi) -> dict:
        args = self._args
        auth: dict = {"authorization": AUTHORIZATION[args["auth"]]}
        if args["auth"] == "cognito":
            authorizer = aws.apigateway.Authorizer(
                f"{self._name}-cognito", rest_api=api.id, name=f"{args['api_name']}-cognito",
                type="COGNITO_USER_POOLS", provider_arns=[args["cognito_user_pool_arn"]],
                identity_source="method.request.header.Authorization", opts=pulumi.ResourceOptions(parent=self))
            auth["authorizer_id"] = authorizer.id
        return auth

    def _predict_integration(self, api, resource, method) -> list[pulumi.Resource]:
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        backend = args["backend"]
        passed = {f"integration.request.header.{h}": f"method.request.header.{h}"
                  for h in ("Content-Type", "Accept", INFERENCE_ID_HEADER)}
        if backend["kind"] == "kubernetes":
            link = aws.apigateway.VpcLink(f"{name}-vpc-link", name=f"{args['api_name']}-ingress",
                                          target_arn=backend["load_balancer_arn"],
                                          description="the ingress controller's NLB", opts=child)
            # A proxy: the server's answer, status, headers and body, reaches the caller unchanged.
            integration = aws.apigateway.Integration(
                f"{name}-predict-integration", rest_api=api.id, resource_id=resource.id,
                http_method=method.http_method, type="HTTP_PROXY", integration_http_method="POST",
                connection_type="VPC_LINK", connection_id=link.id,
                uri=f"http://{backend['host']}/invocations", request_parameters=passed,
                timeout_milliseconds=INTEGRATION_TIMEOUT_MS, opts=child)
            return [integration]

        role = aws.iam.Role(
            f"{name}-invoke-role", description=f"{args['api_name']}: invokes {backend['endpoint_name']} only",
            assume_role_policy=docs.service_trust("apigateway.amazonaws.com", args["account_id"]), opts=child)
        aws.iam.RolePolicy(f"{name}-invoke-policy", role=role.id, policy=docs.document([docs.allow(
            "InvokeThisEndpoint", ["sagemaker:InvokeEndpoint"],
            [endpoint_arn(args["region"], args["account_id"], backend["endpoint_name"])])]), opts=child)
        integration = aws.apigateway.Integration(
            f"{name}-predict-integration", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
            type="AWS", integration_http_method="POST", credentials=role.arn,
            uri=sagemaker_invoke_uri(args["region"], backend["endpoint_name"]),
            request_parameters=passed, passthrough_behavior="WHEN_NO_TEMPLATES",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS, opts=child)
        responses: list[pulumi.Resource] = [integration]
        for status in METHOD_STATUSES:
            responses.append(aws.apigateway.MethodResponse(
                f"{name}-predict-{status}", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
                status_code=status, response_parameters={"method.response.header.Content-Type": True},
                opts=child))
        # No template on success: the model's body, and its content type, reach the caller unchanged.
        responses.append(aws.apigateway.IntegrationResponse(
            f"{name}-predict-ok", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
            status_code="200", response_parameters={
                "method.response.header.Content-Type": "integration.response.header.Content-Type"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[integration, *responses[1:]])))
        for mapping in ERROR_MAPPINGS:
            responses.append(aws.apigateway.IntegrationResponse(
                f"{name}-predict-map-{mapping.label}", rest_api=api.id,
                resource_id=resource.id, http_method=method.http_method, status_code=mapping.status_code,
                selection_pattern=mapping.selection_pattern,
                response_templates={"application/json": mapping.template},
                response_parameters={"method.response.header.Content-Type": "'application/json'"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[integration, *responses[1:]])))
        return responses

    def _health_integration(self, api, resource, method) -> list[pulumi.Resource]:
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigateway.Integration(
            f"{name}-health-integration", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
            type="MOCK", request_templates={"application/json": '{"statusCode": 200}'}, opts=child)
        answer = aws.apigateway.MethodResponse(
            f"{name}-health-200", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
            status_code="200", opts=child)
        reply = aws.apigateway.IntegrationResponse(
            f"{name}-health-ok", rest_api=api.id, resource_id=resource.id, http_method=method.http_method,
            status_code="200", response_templates={"application/json": HEALTH_BODY},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[integration, answer]))
        return [integration, answer, reply]

    def _gateway_responses(self, api) -> list[pulumi.Resource]:
        responses = []
        for response_type, (status, reason) in GATEWAY_RESPONSES.items():
            headers = {"gatewayresponse.header.Content-Type": "'application/json'"}
            if status == 429:
                headers["gatewayresponse.header.Retry-After"] = f"'{RETRY_AFTER_SECONDS}'"
            responses.append(aws.apigateway.Response(
                f"{self._name}-{response_type.lower().replace('_', '-')}", rest_api_id=api.id,
                response_type=response_type, status_code=str(status),
                response_templates={"application/json": gateway_response_template(reason)},
                response_parameters=headers, opts=pulumi.ResourceOptions(parent=self)))
        return responses

    def _usage_plan(self, api, stage) -> None:
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        quota = {"quota_settings": {"limit": args["quota_per_day"], "period": "DAY"}} if args["quota_per_day"] else {}
        plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan", name=f"{args['api_name']}-clients",
            description="per-client throttling and quota of the front door's machine clients",
            api_stages=[{"api_id": api.id, "stage": stage.stage_name}],
            throttle_settings={"rate_limit": args["client_rate_limit"], "burst_limit": args["client_burst_limit"]},
            **quota, opts=child)
        for client in args["clients"]:
            key = aws.apigateway.ApiKey(f"{name}-key-{client}", name=f"{args['api_name']}-{client}",
                                        description=f"machine client {client}", enabled=True, opts=child)
            aws.apigateway.UsagePlanKey(f"{name}-key-{client}-plan", key_id=key.id, key_type="API_KEY",
                                        usage_plan_id=plan.id, opts=child)

    def _custom_domain(self, api, stage) -> None:
        args, name = self._args, self._name
        domain = args["domain"]
        child = pulumi.ResourceOptions(parent=self)
        declared = aws.apigateway.DomainName(
            f"{name}-domain", domain_name=domain["name"], regional_certificate_arn=domain["certificate_arn"],
            endpoint_configuration={"types": "REGIONAL"}, security_policy="TLS_1_2", opts=child)
        aws.apigateway.BasePathMapping(f"{name}-domain-mapping", rest_api=api.id, stage_name=stage.stage_name,
                                       domain_name=declared.domain_name, opts=child)


def _fingerprint(args: FrontDoorArgs) -> str:
    """A hash of what the deployed routes do (auth, backend, error mappings), so a change redeploys the stage."""
    backend = {k: v for k, v in args["backend"].items() if isinstance(v, str)}
    described = {"auth": args["auth"], "backend": backend, "errors": [m.template for m in ERROR_MAPPINGS],
                 "responses": GATEWAY_RESPONSES, "health": HEALTH_BODY}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
