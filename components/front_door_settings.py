"""The front door's typed arguments, their validation, and the pure pieces of its declaration.

Kept apart from ``front_door.py`` so tests (and the sandbox's description of what it emulates) can use the
validation, the access-log format and the error shapes without Pulumi. Everything a client sees from the
front door is decided here: the routes, the access-log line, and the JSON of every error the gateway itself
answers, which has the inference server's shape (``{"error": <reason>, "message": <text>}``,
``workloads/serving/errors.py``) so a client handles one error format whichever layer refused it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

import pulumi

PREDICT_PATH = "/v1/predict"
HEALTH_PATH = "/v1/health"
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
AUTH_CHOICES = ("api-key", "iam", "cognito")
AUTHORIZATION = {"api-key": "NONE", "iam": "AWS_IAM", "cognito": "COGNITO_USER_POOLS"}
"""``authorization`` of every method per auth choice; every choice also sets ``apiKeyRequired``."""
API_GATEWAY_PAYLOAD_MB = 10
"""API Gateway's own limit on a REST API request body (a quota that cannot be raised)."""
INVOKE_ENDPOINT_PAYLOAD_MB = 6
"""SageMaker Runtime InvokeEndpoint's limit on a request body: the tighter bound on the SageMaker path."""
INTEGRATION_TIMEOUT_MS = 29000
"""REST API's default integration timeout; SageMaker's own is 60 s, so a slow model is cut here first."""
HEALTH_BODY = '{"status": "ok", "stage": "$context.stage"}'

# The access log line: one JSON object per request, the variables API Gateway substitutes ($context...). The
# sandbox's front door writes the same keys, substituting what it knows, so a log query works on both.
ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "apiKeyId": "$context.identity.apiKeyId",
    "caller": "$context.identity.caller",
    "errorType": "$context.error.responseType",
}


def access_log_format() -> str:
    return json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))


# Gateway responses (what API Gateway answers before or instead of the integration): response type ->
# (status, reason phrase). The body is always the server's error shape.
GATEWAY_RESPONSES: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Forbidden"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "ACCESS_DENIED": (403, "Forbidden"),
    "INVALID_SIGNATURE": (403, "Forbidden"),
    "EXPIRED_TOKEN": (403, "Forbidden"),
    "THROTTLED": (429, "Too Many Requests"),
    "QUOTA_EXCEEDED": (429, "Too Many Requests"),
    "REQUEST_TOO_LARGE": (413, "Payload Too Large"),
    "BAD_REQUEST_PARAMETERS": (400, "Bad Request"),
    "DEFAULT_4XX": (400, "Bad Request"),
    "DEFAULT_5XX": (500, "Internal Server Error"),
}
MESSAGE = "$context.error.messageString"
RETRY_AFTER_SECONDS = 1
"""What a throttled client is told to wait in AWS (a static header there; the sandbox computes it)."""


def gateway_response_template(reason: str) -> str:
    """The server's error JSON; ``$context.error.messageString`` is already a quoted JSON string."""
    return json.dumps({"error": reason, "message": MESSAGE}).replace(json.dumps(MESSAGE), MESSAGE)


# SageMaker Runtime's answers mapped back to the server's: a container's 4xx/5xx reaches the caller as
# InvokeEndpoint's 424 ModelError wrapping the container's status and body, which the front door unwraps, so
# the caller gets what the server said. Other InvokeEndpoint errors get the server's shape.
@dataclass(frozen=True)
class ErrorMapping:
    status_code: str
    """The method response the integration response selects (an override may change the status)."""
    selection_pattern: str
    template: str
    label: str
    """Names the integration response (``<name>-predict-map-<label>``)."""


ERROR_MAPPINGS: tuple[ErrorMapping, ...] = (
    ErrorMapping("400", "424", "#set($answer = $input.path('$'))\n"
                               "#set($context.responseOverride.status = $answer.OriginalStatusCode)\n"
                               "$answer.OriginalMessage", "model-error"),
    ErrorMapping("400", "400", '{"error": "Bad Request", "message": $input.json(\'$.message\')}', "400"),
    ErrorMapping("429", "429", '{"error": "Too Many Requests", "message": $input.json(\'$.message\')}', "429"),
    ErrorMapping("500", "5\\d{2}", '{"error": "Internal Server Error", "message": $input.json(\'$.message\')}', "5xx"),
)
METHOD_STATUSES = ("200", "400", "429", "500")


class SageMakerBackend(TypedDict):
    kind: Literal["sagemaker"]
    endpoint_name: str


class KubernetesBackend(TypedDict):
    kind: Literal["kubernetes"]
    load_balancer_arn: pulumi.Input[str]
    """The ingress controller's Network Load Balancer: the VPC link's target."""
    host: str
    """Host header the ingress routes on (the Ingress rule's host)."""


class CustomDomain(TypedDict):
    name: str
    certificate_arn: str


class FrontDoorArgs(TypedDict):
    api_name: str
    stage_name: str
    region: str
    account_id: pulumi.Input[str]
    backend: SageMakerBackend | KubernetesBackend
    auth: str
    """api-key, iam or cognito (``AUTH_CHOICES``); every route also requires a usage-plan API key."""
    clients: Sequence[str]
    """One API key each in the usage plan."""
    rate_limit: float
    burst_limit: int
    client_rate_limit: float
    client_burst_limit: int
    quota_per_day: int
    """0: no quota."""
    log_retention_days: int
    log_kms_key_arn: pulumi.Input[str]
    cognito_user_pool_arn: NotRequired[str]
    max_request_mb: NotRequired[int]
    """Largest request body; defaults to the backend's limit (6 MB for InvokeEndpoint, 10 MB otherwise)."""
    domain: NotRequired[CustomDomain]


_CLIENT = re.compile(r"[a-z0-9][-a-z0-9]{0,62}")


def backend_limit_mb(backend: Mapping[str, object]) -> int:
    return INVOKE_ENDPOINT_PAYLOAD_MB if backend["kind"] == "sagemaker" else API_GATEWAY_PAYLOAD_MB


def front_door_settings(args: FrontDoorArgs) -> FrontDoorArgs:
    """Defaults filled, or a ValueError naming the field."""
    if args["auth"] not in AUTH_CHOICES:
        raise ValueError(f"auth must be one of {', '.join(AUTH_CHOICES)}, got {args['auth']!r}")
    if args["auth"] == "cognito" and not args.get("cognito_user_pool_arn"):
        raise ValueError("cognito_user_pool_arn is required when auth is cognito")
    clients = list(args["clients"])
    if not clients:
        raise ValueError("clients must name at least one client (each gets an API key)")
    bad = [c for c in clients if not _CLIENT.fullmatch(c)]
    if bad or len(set(clients)) != len(clients):
        raise ValueError(f"clients must be distinct lowercase names of letters, digits and -, got {clients}")
    for field in ("rate_limit", "burst_limit", "client_rate_limit", "client_burst_limit"):
        if args[field] <= 0:
            raise ValueError(f"{field} must be > 0, got {args[field]}")
    if args["client_rate_limit"] > args["rate_limit"]:
        raise ValueError(f"client_rate_limit {args['client_rate_limit']} must not exceed rate_limit "
                         f"{args['rate_limit']}")
    if args["client_burst_limit"] > args["burst_limit"]:
        raise ValueError(f"client_burst_limit {args['client_burst_limit']} must not exceed burst_limit "
                         f"{args['burst_limit']}")
    if args["quota_per_day"] < 0:
        raise ValueError(f"quota_per_day must be >= 0, got {args['quota_per_day']}")
    if args["backend"]["kind"] not in ("sagemaker", "kubernetes"):
        raise ValueError(f"backend.kind must be sagemaker or kubernetes, got {args['backend']['kind']!r}")
    limit = backend_limit_mb(args["backend"])
    size = args.get("max_request_mb", limit)
    if not 1 <= size <= limit:
        raise ValueError(f"max_request_mb must be from 1 to {limit} on the {args['backend']['kind']} backend "
                         f"(API Gateway takes at most {API_GATEWAY_PAYLOAD_MB} MB, InvokeEndpoint "
                         f"{INVOKE_ENDPOINT_PAYLOAD_MB} MB), got {size}")
    domain = args.get("domain")
    if domain is not None and not (domain.get("name") and domain.get("certificate_arn")):
        raise ValueError("domain needs both name and certificate_arn")
    return {**args, "clients": clients, "max_request_mb": size}


def sagemaker_invoke_uri(region: str, endpoint_name: str) -> str:
    """The AWS service integration's URI: InvokeEndpoint's REST path on SageMaker Runtime."""
    return f"arn:aws:apigateway:{region}:runtime.sagemaker:path/endpoints/{endpoint_name}/invocations"


def endpoint_arn(region: str, account_id: pulumi.Input[str], endpoint_name: str) -> pulumi.Output[str]:
    # SageMaker lowercases endpoint names in ARNs.
    return pulumi.Output.concat("arn:aws:sagemaker:", region, ":", account_id, ":endpoint/", endpoint_name.lower())


def ingress_front_door_host(api_name: str) -> str:
    """Host the ingress routes front-door requests on when the stack names none: only the VPC link sends it, so it
    needs no DNS record (a private integration's URI sets the Host header; it is not used to route)."""
    return f"{api_name}.front-door.internal"
