"""The front door on loopback: an API Gateway REST API served by the definition the emulator holds.

moto stores REST APIs, stages, usage plans and keys but serves nothing, so the gateway does what API Gateway does
for the front door, reading every definition back from the emulator (never from the program's objects):

  POST/GET /restapis/{api-id}/{stage}/_user_request_/{path}      (API Gateway's execute-api URL, LocalStack's form)

in API Gateway's order: the route (an unknown one is 403, as in AWS), the method's authorization (IAM: a SigV4
``Authorization`` header, Cognito: an unexpired JWT; neither signature is verified), the API key (``x-api-key``,
an enabled key of a usage plan on this stage), the stage's throttle (rate and burst of its ``*/*`` method
settings), the key's throttle (its usage plan's), its daily quota, the body limit (the stage variable
``maxRequestBytes``), the validator's required headers, then the integration: InvokeEndpoint on the endpoint the
AWS integration's URI names (in this process), the mock's declared template, or, for a VPC link, a 503 (no
cluster runs here). Refusals have the declared gateway responses' status and body; 429s say ``Retry-After``,
computed from the token bucket that refused them. Every request is logged in the stage's declared access-log
format to the log group its access-log settings name.
"""

from __future__ import annotations

import base64
import datetime as dt
import http
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prodline.sandbox.gateway.errors import GatewayError, ModelError

PREFIX = "/restapis/"
USER_REQUEST = "_user_request_"
INVOKE_URI = re.compile(r"arn:aws[a-z-]*:apigateway:[a-z0-9-]+:runtime\.sagemaker:path/endpoints/([^/]+)/invocations")
_VARIABLE = re.compile(r"\$context(?:\.[A-Za-z0-9_]+)+")
LOG_STREAM = "sandbox-front-door"
API_KEY_HEADER = "x-api-key"


class TokenBucket:
    """API Gateway's throttle: ``burst`` requests at once, refilled at ``rate`` a second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]):
        self.rate, self.capacity, self.clock = rate, float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self) -> float:
        """0 when a request may pass (a token is spent), else the seconds until the next token."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Route:
    authorization: str
    api_key_required: bool
    integration: Mapping[str, Any]
    required_headers: tuple[str, ...]
    responses: Mapping[str, Mapping[str, Any]]
    """Integration responses by status code (the mock's template)."""


@dataclass(frozen=True)
class Key:
    id: str
    name: str
    rate: float | None
    burst: int | None
    quota: int | None


@dataclass(frozen=True)
class StageSpec:
    api_id: str
    api_name: str
    stage: str
    rate: float | None
    burst: int | None
    log_group: str | None
    log_format: str | None
    max_bytes: int | None
    routes: Mapping[tuple[str, str], Route]
    keys: Mapping[str, Key]
    """By key value."""
    gateway_responses: Mapping[str, Mapping[str, Any]]


def read_stage(client, api_id: str, stage: str) -> StageSpec:
    """The stage, its routes, its usage plans' keys and the API's gateway responses, as the emulator holds them."""
    api = client.get_rest_api(restApiId=api_id)
    declared = client.get_stage(restApiId=api_id, stageName=stage)
    everything = declared.get("methodSettings", {}).get("*/*", {})
    access = declared.get("accessLogSettings") or {}
    destination = access.get("destinationArn")
    routes = {}
    for resource in client.get_resources(restApiId=api_id, limit=500)["items"]:
        for verb in resource.get("resourceMethods") or {}:
            method = client.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=verb)
            integration = method.get("methodIntegration") or {}
            required = tuple(name.removeprefix("method.request.header.").lower()
                             for name, needed in (method.get("requestParameters") or {}).items()
                             if needed and name.startswith("method.request.header."))
            routes[(verb, resource["path"])] = Route(
                method.get("authorizationType", "NONE"), bool(method.get("apiKeyRequired")), integration,
                required if method.get("requestValidatorId") else (), integration.get("integrationResponses") or {})
    keys = {}
    for plan in client.get_usage_plans(limit=500)["items"]:
        if not any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.get("apiStages", [])):
            continue
        throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
        for member in client.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]:
            key = client.get_api_key(apiKey=member["id"], includeValue=True)
            if key.get("enabled", True):
                keys[key["value"]] = Key(key["id"], key.get("name", ""), throttle.get("rateLimit"),
                                         throttle.get("burstLimit"), quota.get("limit"))
    responses = {r["responseType"]: r for r in client.get_gateway_responses(restApiId=api_id, limit=500)["items"]}
    max_bytes = (declared.get("variables") or {}).get("maxRequestBytes")
    return StageSpec(api_id, api["name"], stage, everything.get("throttlingRateLimit"),
                     everything.get("throttlingBurstLimit"),
                     destination.split(":log-group:", 1)[1].removesuffix(":*") if destination else None,
                     access.get("format"), int(max_bytes) if max_bytes else None, routes, keys, responses)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    error_type: str = "-"
    integration_status: str = "-"
    integration_ms: str = "-"


@dataclass(frozen=True)
class Call:
    """One request to the front door, as the HTTP front parsed it."""

    method: str
    path: str
    """After the stage, with its leading slash: ``/v1/predict``."""
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes
    source_ip: str


class Refused(Exception):
    """A gateway response: its type names the declared status and template."""

    def __init__(self, response_type: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.response_type, self.message, self.retry_after = response_type, message, retry_after


Invoke = Callable[[str, bytes, Mapping[str, str]], tuple[int, bytes, str]]
"""(endpoint, body, headers) -> (status, body, content type); raises GatewayError as InvokeEndpoint would."""


class FrontDoor:
    """Every front door of the emulator's REST APIs, each stage read once (``reload`` forgets them)."""

    def __init__(self, apigateway, logs, invoke: Invoke, clock: Callable[[], float] = time.monotonic):
        self.apigateway, self.logs, self.invoke, self.clock = apigateway, logs, invoke, clock
        self._stages: dict[tuple[str, str], StageSpec] = {}
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._lines: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def reload(self) -> None:
        with self._lock:
            self._stages.clear()

    def spec(self, api_id: str, stage: str) -> StageSpec:
        with self._lock:
            known = self._stages.get((api_id, stage))
        if known is None:
            known = read_stage(self.apigateway, api_id, stage)
            with self._lock:
                self._stages[(api_id, stage)] = known
        return known

    # requests

    def handle(self, api_id: str, stage: str, call: Call) -> Answer:
        started, request_id = time.perf_counter(), str(uuid.uuid4())
        try:
            spec = self.spec(api_id, stage)
        except ClientError as error:
            message = f"no REST API {api_id} with a stage {stage} in the emulator: {error}"
            return Answer(404, json.dumps({"error": "Not Found", "message": message}).encode(), error_type="-")
        key: Key | None = None
        try:
            route = spec.routes.get((call.method, call.path))
            if route is None:
                raise Refused("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
            self._authorize(route, call)
            key = self._api_key(spec, route, call)
            self._throttle(spec, key)
            if spec.max_bytes is not None and len(call.body) > spec.max_bytes:
                raise Refused("REQUEST_TOO_LARGE", f"Request Too Long: {len(call.body)} bytes, the limit is "
                                                   f"{spec.max_bytes}")
            absent = [h for h in route.required_headers if not call.headers.get(h)]
            if absent:
                raise Refused("BAD_REQUEST_PARAMETERS", f"Missing required request parameters: [{', '.join(absent)}]")
            answer = self._integrate(spec, route, call)
        except Refused as refusal:
            answer = self._gateway_response(spec, refusal)
        answer.headers["x-amzn-RequestId"] = request_id
        self._log(spec, call, answer, key, request_id=request_id, latency_ms=(time.perf_counter() - started) * 1000)
        return answer

    def _authorize(self, route: Route, call: Call) -> None:
        given = call.headers.get("authorization", "")
        if route.authorization == "AWS_IAM":
            if not (given.startswith("AWS4-HMAC-SHA256 ") and "Credential=" in given and "Signature=" in given):
                raise Refused("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        elif route.authorization == "COGNITO_USER_POOLS" and not _unexpired_jwt(given.removeprefix("Bearer ").strip()):
            raise Refused("UNAUTHORIZED", "Unauthorized")

    def _api_key(self, spec: StageSpec, route: Route, call: Call) -> Key | None:
        given = call.headers.get(API_KEY_HEADER)
        key = spec.keys.get(given) if given else None
        if route.api_key_required and key is None:
            raise Refused("INVALID_API_KEY", "no valid API key: send a key of this stage's usage plan in x-api-key")
        return key

    def _throttle(self, spec: StageSpec, key: Key | None) -> None:
        checks = []
        if spec.rate and spec.burst:
            checks.append(((spec.api_id, spec.stage), spec.rate, spec.burst))
        if key is not None and key.rate and key.burst:
            checks.append(((spec.api_id, spec.stage, key.id), key.rate, key.burst))
        with self._lock:
            for ident, rate, burst in checks:
                bucket = self._buckets.get(ident)
                if bucket is None or (bucket.rate, bucket.capacity) != (rate, float(burst)):
                    bucket = self._buckets[ident] = TokenBucket(rate, int(burst), self.clock)
                wait = bucket.take()
                if wait:
                    raise Refused("THROTTLED", "Too Many Requests", wait)
            if key is not None and key.quota:
                day = (key.id, dt.datetime.now(dt.UTC).date().isoformat())
                if self._used.get(day, 0) >= key.quota:
                    tomorrow = dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1),
                                                   dt.time(), dt.UTC)
                    raise Refused("QUOTA_EXCEEDED", "Limit Exceeded",
                                  (tomorrow - dt.datetime.now(dt.UTC)).total_seconds())
                self._used[day] = self._used.get(day, 0) + 1

    def _integrate(self, spec: StageSpec, route: Route, call: Call) -> Answer:
        integration = route.integration
        kind = integration.get("type")
        if kind == "MOCK":
            ok = route.responses.get("200") or {}
            template = (ok.get("responseTemplates") or {}).get("application/json", "")
            return Answer(200, _render(template, {"$context.stage": spec.stage, "$context.apiId": spec.api_id}
                                       ).encode(), integration_status="200")
        found = INVOKE_URI.fullmatch(integration.get("uri", ""))
        if kind == "AWS" and found:
            headers = {name: call.headers[name.lower()] for name in ("Content-Type", "Accept",
                                                                     "X-Amzn-SageMaker-Inference-Id")
                       if call.headers.get(name.lower())}
            before = time.perf_counter()
            try:
                status, body, content_type = self.invoke(found.group(1), call.body, headers)
            except ModelError as error:  # the declared 424 mapping: the container's own status and body
                return Answer(error.original_status, error.original_message.encode(), integration_status="424",
                              integration_ms=_ms(before))
            except GatewayError as error:
                return Answer(error.status, _error_body(error.status, error.message),
                              integration_status=str(error.status), integration_ms=_ms(before))
            return Answer(status, body, content_type=content_type, integration_status=str(status),
                          integration_ms=_ms(before))
        message = (f"the sandbox runs no Kubernetes cluster, so the VPC link to {integration.get('uri')} reaches "
                   "nothing; serve on SageMaker in the sandbox" if integration.get("connectionType") == "VPC_LINK"
                   else f"the sandbox cannot run a {kind} integration to {integration.get('uri')}")
        return Answer(503, _error_body(503, message), integration_status="-")

    def _gateway_response(self, spec: StageSpec, refusal: Refused) -> Answer:
        declared = spec.gateway_responses.get(refusal.response_type) or {}
        status = int(declared.get("statusCode") or _DEFAULT_STATUS.get(refusal.response_type, 400))
        template = (declared.get("responseTemplates") or {}).get("application/json")
        body = _render(template, {"$context.error.messageString": json.dumps(refusal.message)}).encode() \
            if template else _error_body(status, refusal.message)
        headers = {name.removeprefix("gatewayresponse.header."): value.strip("'")
                   for name, value in (declared.get("responseParameters") or {}).items()
                   if name.startswith("gatewayresponse.header.") and value.startswith("'")}
        headers.pop("Content-Type", None)
        if refusal.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
        return Answer(status, body, headers, error_type=refusal.response_type)

    # access logs

    def _log(self, spec: StageSpec, call: Call, answer: Answer, key: Key | None, *, request_id: str,
             latency_ms: float) -> None:
        if not (spec.log_group and spec.log_format):
            return
        now = dt.datetime.now(dt.UTC)
        values = {
            "$context.requestId": request_id, "$context.requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "$context.identity.sourceIp": call.source_ip, "$context.httpMethod": call.method,
            "$context.resourcePath": call.path, "$context.status": str(answer.status),
            "$context.protocol": "HTTP/1.1", "$context.responseLength": str(len(answer.body)),
            "$context.responseLatency": str(round(latency_ms)), "$context.integrationLatency": answer.integration_ms,
            "$context.integrationStatus": answer.integration_status,
            "$context.identity.apiKeyId": key.id if key else "-", "$context.identity.caller": "-",
            "$context.error.responseType": answer.error_type, "$context.stage": spec.stage,
            "$context.apiId": spec.api_id,
        }
        line = _VARIABLE.sub(lambda m: values.get(m.group(0), "-"), spec.log_format)
        with self._lock:
            self._lines.setdefault(spec.log_group, []).append(
                {"timestamp": int(now.timestamp() * 1000), "message": line})

    def flush(self) -> int:
        """Write buffered access-log lines to their log groups; the number written."""
        with self._flush_lock:
            with self._lock:
                pending, self._lines = self._lines, {}
            written = 0
            for group, events in pending.items():
                try:
                    self._ensure_stream(group)
                    self.logs.put_log_events(logGroupName=group, logStreamName=LOG_STREAM, logEvents=events)
                    written += len(events)
                except (ClientError, BotoCoreError):
                    continue  # the stage's group is gone (stack down): nothing to write to
            return written

    def _ensure_stream(self, group: str) -> None:
        try:
            self.logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise


_DEFAULT_STATUS = {"MISSING_AUTHENTICATION_TOKEN": 403, "INVALID_API_KEY": 403, "UNAUTHORIZED": 401,
                   "THROTTLED": 429, "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413}


def _render(template: str, values: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(0), m.group(0)), template)


def _error_body(status: int, message: str) -> bytes:
    """The inference server's error shape (``workloads/serving/errors.py``)."""
    return json.dumps({"error": http.HTTPStatus(status).phrase, "message": message}).encode()


def _ms(before: float) -> str:
    return str(round((time.perf_counter() - before) * 1000))


def _unexpired_jwt(token: str) -> bool:
    """Three base64url parts whose payload has an ``exp`` in the future (the signature is not checked)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    return isinstance(claims, dict) and isinstance(claims.get("exp"), int | float) and claims["exp"] > time.time()


def parse_path(path: str) -> tuple[str, str, str] | None:
    """(api id, stage, resource path) of ``/restapis/{id}/{stage}/_user_request_/{path}``, or None."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX):].split("/", 3)
    if len(parts) < 3 or parts[2] != USER_REQUEST:
        return None
    return parts[0], parts[1], "/" + (parts[3] if len(parts) > 3 else "")


def invoke_url(gateway_url: str, api_id: str, stage: str) -> str:
    """The sandbox's execute-api URL of a stage."""
    return f"{gateway_url.rstrip('/')}{PREFIX}{api_id}/{stage}/{USER_REQUEST}"
