"""The sandbox's front door, serving the FrontDoor component as the realizer put it in the emulator (in-process moto):
keys and tokens checked as declared (403/401 in the server's error shape), throttling at the declared rate and
burst (429 with Retry-After), the model's answer unchanged, and access-log lines in the declared JSON format in the
declared log group.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from components.front_door import FrontDoor
from components.front_door_settings import ACCESS_LOG_FIELDS, INFERENCE_ID_HEADER
from prodline.program import record
from prodline.sandbox.gateway.errors import ModelError
from prodline.sandbox.gateway.front_door import Call, TokenBucket, parse_path
from prodline.sandbox.gateway.front_door import FrontDoor as SandboxFrontDoor
from tests.sandbox.realizing import in_process_mocks

ENDPOINT = "prodline-dev-churn"
API = "prodline-dev-front-door"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def door_args(key_arn: str, **changes) -> dict:
    args = {"api_name": API, "stage_name": "dev", "region": "eu-west-1", "account_id": "123456789012",
            "backend": {"kind": "sagemaker", "endpoint_name": ENDPOINT}, "auth": "api-key", "clients": ["app", "batch"],
            "rate_limit": 100.0, "burst_limit": 100, "client_rate_limit": 0.5, "client_burst_limit": 3,
            "quota_per_day": 0, "log_retention_days": 14, "log_kms_key_arn": key_arn}
    args.update(changes)
    return args


@pytest.fixture
def realized(tmp_path, monkeypatch):
    """(clients, api id) of the FrontDoor realized in moto; ``build`` realizes it with argument changes."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with in_process_mocks(tmp_path, "dev") as mocks:
        key_arn = mocks.ctx.clients("kms").create_key()["KeyMetadata"]["Arn"]

        def build(**changes):
            record(lambda: FrontDoor("front-door", door_args(key_arn, **changes)), stack="dev", mocks=mocks)
            (api,) = [a for a in mocks.ctx.clients("apigateway").get_rest_apis()["items"] if a["name"] == API]
            return mocks.ctx.clients, api["id"]
        yield build


class Model:
    """InvokeEndpoint as the gateway answers it: what it was sent, and a fixed answer or a model error."""

    def __init__(self):
        self.calls = []
        self.error: ModelError | None = None

    def __call__(self, endpoint, body, headers):
        self.calls.append((endpoint, body, dict(headers)))
        if self.error:
            raise self.error
        return 200, b'{"predictions": [0.25]}', "application/json"


def serve(realized, **changes):
    clients, api_id = realized(**changes)
    clock, model = Clock(), Model()
    door = SandboxFrontDoor(clients("apigateway"), clients("logs"), model, clock=clock)
    return door, api_id, clock, model, clients


def keys(clients) -> dict[str, str]:
    return {k["name"]: k["value"] for k in clients("apigateway").get_api_keys(includeValues=True)["items"]}


def post(door, api_id, headers=None, *, body=b"1,2,3", path="/v1/predict", method="POST"):
    return door.handle(api_id, "dev", Call(method, path, {"content-type": "text/csv", **(headers or {})}, body,
                                           "127.0.0.1"))


def test_a_request_without_or_with_a_wrong_key_is_forbidden_in_the_servers_error_shape(realized):
    door, api_id, _, model, _ = serve(realized)
    for headers in ({}, {"x-api-key": "not-a-key-of-this-plan"}):
        answer = post(door, api_id, headers)
        assert answer.status == 403, answer.body
        body = json.loads(answer.body)
        assert body["error"] == "Forbidden" and "x-api-key" in body["message"], body
    assert model.calls == [], "a refused request never reaches the model"


def test_a_keyed_request_gets_the_models_answer_unchanged_with_the_inference_id(realized):
    door, api_id, _, model, clients = serve(realized)
    answer = post(door, api_id, {"x-api-key": keys(clients)[f"{API}-app"], INFERENCE_ID_HEADER.lower(): "req-7",
                                 "accept": "application/json"})
    assert (answer.status, answer.body, answer.content_type) == (200, b'{"predictions": [0.25]}', "application/json")
    (endpoint, body, headers), = model.calls
    assert endpoint == ENDPOINT and body == b"1,2,3"
    assert headers == {"Content-Type": "text/csv", "Accept": "application/json", INFERENCE_ID_HEADER: "req-7"}


def test_a_client_over_its_burst_is_throttled_with_retry_after_at_its_declared_rate(realized):
    door, api_id, clock, _, clients = serve(realized)
    app = {"x-api-key": keys(clients)[f"{API}-app"]}
    assert [post(door, api_id, app).status for _ in range(3)] == [200, 200, 200], "the declared burst is 3"
    throttled = post(door, api_id, app)
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "2", "one token every 2 s (rate 0.5)"
    assert json.loads(throttled.body) == {"error": "Too Many Requests", "message": "Too Many Requests"}
    other = post(door, api_id, {"x-api-key": keys(clients)[f"{API}-batch"]})
    assert other.status == 200, "throttling is per client: another key still passes"
    clock.now += 2.0
    assert post(door, api_id, app).status == 200, "after 1/rate seconds one more request passes"


def test_the_stage_throttles_every_client_together(realized):
    door, api_id, _, _, clients = serve(realized, rate_limit=1.0, burst_limit=3)
    app, batch = ({"x-api-key": keys(clients)[f"{API}-{c}"]} for c in ("app", "batch"))
    statuses = [post(door, api_id, who).status for who in (app, batch, app, batch)]
    assert statuses == [200, 200, 200, 429]
    assert post(door, api_id, batch).headers["Retry-After"] == "1"


def test_a_model_error_reaches_the_caller_as_the_servers_own_answer(realized):
    door, api_id, _, model, clients = serve(realized)
    server_body = json.dumps({"error": "Bad Request", "message": "row 1: age is not a number"})
    model.error = ModelError("Received client error (400) from primary", 400, server_body)
    answer = post(door, api_id, {"x-api-key": keys(clients)[f"{API}-app"]})
    assert (answer.status, answer.body.decode()) == (400, server_body)


def test_health_answers_from_the_gateway_and_unknown_routes_are_forbidden(realized):
    door, api_id, _, model, clients = serve(realized)
    app = {"x-api-key": keys(clients)[f"{API}-app"]}
    health = post(door, api_id, app, body=b"", path="/v1/health", method="GET")
    assert (health.status, json.loads(health.body)) == (200, {"status": "ok", "stage": "dev"})
    assert post(door, api_id, app, path="/v1/other").status == 403
    assert model.calls == []


def test_iam_auth_needs_a_signed_request_and_a_key(realized):
    door, api_id, _, _, clients = serve(realized, auth="iam")
    app = {"x-api-key": keys(clients)[f"{API}-app"]}
    assert post(door, api_id, app).status == 403
    signed = {**app, "authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261201/eu-west-1/execute-api/aws4_request, "
                                      "SignedHeaders=host, Signature=abc"}
    assert post(door, api_id, signed).status == 200


def test_cognito_auth_answers_401_without_an_unexpired_token(realized):
    pool = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"
    door, api_id, _, _, clients = serve(realized, auth="cognito", cognito_user_pool_arn=pool)
    app = {"x-api-key": keys(clients)[f"{API}-app"]}

    def token(exp: float) -> str:
        claims = base64.urlsafe_b64encode(json.dumps({"sub": "u", "exp": exp}).encode()).decode().rstrip("=")
        return f"Bearer e30.{claims}.c2ln"

    assert post(door, api_id, app).status == 401
    assert post(door, api_id, {**app, "authorization": token(time.time() - 60)}).status == 401
    assert post(door, api_id, {**app, "authorization": token(time.time() + 600)}).status == 200


def test_every_request_is_logged_in_the_declared_json_format_to_the_declared_group(realized):
    door, api_id, _, _, clients = serve(realized)
    post(door, api_id, {"x-api-key": keys(clients)[f"{API}-app"]})
    post(door, api_id)
    assert door.flush() == 2
    stage = clients("apigateway").get_stage(restApiId=api_id, stageName="dev")
    group = stage["accessLogSettings"]["destinationArn"].split(":log-group:")[1]
    assert group == f"/aws/apigateway/{API}/dev"
    lines = [json.loads(e["message"]) for e in clients("logs").filter_log_events(logGroupName=group)["events"]]
    assert [set(line) for line in lines] == [set(ACCESS_LOG_FIELDS)] * 2
    assert [(line["status"], line["resourcePath"], line["httpMethod"]) for line in lines] == [
        ("200", "/v1/predict", "POST"), ("403", "/v1/predict", "POST")]
    assert lines[0]["apiKeyId"] != "-" and lines[1]["errorType"] == "INVALID_API_KEY"


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst():
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=2, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.25]
    clock.now += 10
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.25], "refilled only up to the burst"


def test_the_front_door_path_is_api_gateways_execute_api_form():
    assert parse_path("/restapis/abc123/dev/_user_request_/v1/predict") == ("abc123", "dev", "/v1/predict")
    assert parse_path("/endpoints/x/invocations") is None


def test_the_kubernetes_front_door_with_a_custom_domain_is_realized_and_answers_503_in_the_sandbox(realized):
    nlb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/ingress/abc"
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    door, api_id, _, model, clients = serve(
        realized, backend={"kind": "kubernetes", "load_balancer_arn": nlb, "host": "churn.internal"},
        domain={"name": "churn.example.com", "certificate_arn": cert})
    apigateway = clients("apigateway")
    (link,) = apigateway.get_vpc_links()["items"]
    assert link["targetArns"] == [nlb]
    domain = apigateway.get_domain_name(domainName="churn.example.com")
    assert domain["securityPolicy"] == "TLS_1_2"
    (mapping,) = apigateway.get_base_path_mappings(domainName="churn.example.com")["items"]
    assert mapping["restApiId"] == api_id and mapping["stage"] == "dev"
    answer = post(door, api_id, {"x-api-key": keys(clients)[f"{API}-app"]})
    assert answer.status == 503 and "no Kubernetes cluster" in json.loads(answer.body)["message"]
    assert model.calls == []
