"""The SageMaker hosting gateway: InvokeEndpoint as boto3 sees it, data capture, metrics, canary deploys.

The end-to-end tests run one moto server (on a free port) and one gateway for the module: a real model is
trained, uploaded and registered in the emulator, and every assertion goes through boto3 or the gateway's
control API, as the sandbox's runtimes use them. The pure helpers (routing, sampling, capture format) are
tested without an emulator.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config

from prodline.net import free_port
from prodline.sandbox import hosting
from prodline.sandbox.emulator import Emulator
from prodline.sandbox.gateway.api import FLEET_HEADER, GatewayServer
from prodline.sandbox.gateway.declared import CaptureSpec
from prodline.sandbox.gateway.errors import FleetStartError, ModelError
from prodline.sandbox.gateway.fleet import WeightedRotation
from prodline.sandbox.gateway.servers import ContainerAnswer, Invocation, Sampler, call_container, fetch_model
from prodline.sandbox.gateway.telemetry import MetricsBuffer, capture_channel, capture_key, capture_record
from tests.helpers import moto_server, reaped, serving_in_thread
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.monitoring import capture
from workloads.training.artifacts import pack_model, save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

REGION = "eu-west-1"
STACK = "gateway-test"
ENDPOINT = "churn-endpoint"
VARIANT = "AllTraffic"
BLUE_CONFIG, GREEN_CONFIG, BROKEN_CONFIG = "churn-config-v1", "churn-config-v2", "churn-config-broken"
BUCKET = "prodline-gateway-test"
CAPTURE_PREFIX = f"s3://{BUCKET}/capture"
ROW = "12,70.5,800.0,one-year,card,dsl,1,2,40"
RECORD = {"tenure_months": 30, "monthly_charges": 55.0, "total_charges": 1650.0, "contract": "two-year",
          "payment_method": "bank", "internet_service": "fiber", "support_calls": 0, "num_products": 3, "age": 52}
CAPTURE_KEY = re.compile(rf"^capture/{ENDPOINT}/{VARIANT}/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/\d{{2}}-\d{{2}}-\d{{3}}-"
                         r"[0-9a-f-]{36}\.jsonl$")


# --- pure helpers -----------------------------------------------------------------------------------------------

def test_weighted_rotation_gives_exact_interleaved_shares():
    rotation = WeightedRotation({"blue": 75, "green": 25})
    picks = [rotation.next() for _ in range(40)]
    assert Counter(picks) == {"blue": 30, "green": 10}
    assert all("green" in picks[i:i + 4] for i in range(0, 40, 4)), "the canary share must be spread evenly"


def test_weighted_rotation_skips_zero_weights():
    rotation = WeightedRotation({"blue": 100, "green": 0})
    assert {rotation.next() for _ in range(10)} == {"blue"}


def test_sampler_captures_exactly_the_configured_share():
    sampler = Sampler(20)
    assert sum(sampler.take() for _ in range(100)) == 20
    assert not any(Sampler(0).take() for _ in range(50))


def test_latency_datums_are_the_windows_nearest_rank_p99():
    sent: list[dict] = []
    buffer = MetricsBuffer(SimpleNamespace(put_metric_data=lambda **call: sent.extend(call["MetricData"])))
    for latency in range(1, 101):
        buffer.record(ENDPOINT, VARIANT, 200, float(latency), 5.0)
    assert buffer.flush() == len(sent)
    values = {datum["MetricName"]: datum["Value"] for datum in sent}
    assert values["ModelLatency"] == 99.0 and values["OverheadLatency"] == 5.0 and values["Invocations"] == 100


def _spec(**overrides) -> CaptureSpec:
    fields = {"destination": CAPTURE_PREFIX, "percent": 100, "kms_key_id": None, "capture_input": True,
              "capture_output": True, "csv_types": frozenset({"text/csv"}),
              "json_types": frozenset({"application/json"})}
    return CaptureSpec(**{**fields, **overrides})


def test_capture_record_is_the_format_the_drift_monitor_reads():
    when = dt.datetime(2026, 11, 25, 13, 4, 5, 678000, tzinfo=dt.UTC)
    for body, kind in ((ROW.encode(), "text/csv"), (json.dumps([RECORD]).encode(), "application/json")):
        request = Invocation(ENDPOINT, body, kind, "application/json")
        answer = ContainerAnswer(200, b'{"predictions": [0.25]}', "application/json")
        ours = capture_record(_spec(), request, answer, "event-1", when)
        theirs = capture.capture_record(body, kind, output=answer.body, output_type=answer.content_type,
                                        event_id="event-1", when=when)
        assert ours == theirs, f"capture record for {kind} differs from workloads.monitoring.capture's"
        assert capture.read_inputs([json.dumps(ours).encode()]).unreadable == 0


def test_unlisted_content_types_and_binary_bodies_are_captured_as_base64():
    spec = _spec(csv_types=frozenset(), capture_output=False)
    request = Invocation(ENDPOINT, ROW.encode(), "text/csv", "")
    record = capture_record(spec, request, ContainerAnswer(200, b"0.5", "text/csv"), "e", dt.datetime.now(dt.UTC))
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert "endpointOutput" not in record["captureData"], "CaptureOptions without Output must not capture outputs"
    assert capture.read_inputs([json.dumps(record).encode()]).frame.shape == (1, 9)
    binary = capture_channel(b"\xff\xfe", "application/json", "INPUT", _spec())
    assert binary["encoding"] == "BASE64"


def test_capture_key_follows_sagemaker_layout():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    bucket, key = capture_key(_spec(), ENDPOINT, VARIANT, when)
    assert bucket == BUCKET and CAPTURE_KEY.match(key), key
    assert key.startswith(f"capture/{ENDPOINT}/{VARIANT}/2026/01/02/03/04-05-006-")


def test_a_container_answering_garbage_is_a_model_error_not_a_crash():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def answer_garbage() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HELLO\r\n\r\n")

        thread = threading.Thread(target=answer_garbage)
        thread.start()
        with pytest.raises(ModelError) as raised:
            call_container(listener.getsockname()[1], Invocation(ENDPOINT, b"1", "text/csv", ""), timeout=5)
        thread.join(timeout=5)
    assert raised.value.original_status == 0


@pytest.mark.parametrize("url", ["https://bucket/model.tar.gz", "s3://bucket", "s3://bucket/models/", "s3:///m.tgz"])
def test_a_model_data_url_that_names_no_object_is_a_fleet_start_error(url, tmp_path):
    with pytest.raises(FleetStartError, match="is not an s3://bucket/key URL"):
        fetch_model(None, url, tmp_path)


# --- the control API's door: the sandbox's token, a Content-Length that can be trusted ------------------------------

TOKEN = "the-sandboxs-token"


@pytest.fixture
def front():
    """The HTTP front in this process, before a stand-in gateway that records every call that reaches it."""
    calls: list[tuple[str, str]] = []
    stand_in = SimpleNamespace(
        account="123456789012", status=lambda: {"ready": True},
        rollback=lambda endpoint: calls.append(("rollback", endpoint)) or {"rolled_back": False},
        invoke=lambda request: calls.append(("invoke", request.endpoint)))
    with serving_in_thread(GatewayServer(("127.0.0.1", 0), stand_in, TOKEN)) as server:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", port=server.server_address[1],
                              calls=calls)


def _raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """What the server sends back for the bytes of a request, up to its closing the connection (a hang fails)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_the_control_api_answers_only_with_the_sandboxs_token(front):
    for token in ("", "wrong", f"{TOKEN}x", TOKEN[:-1]):
        with pytest.raises(hosting.GatewayControlError) as refused:
            hosting.rollback(front.url, ENDPOINT, token=token or " ")
        assert refused.value.status == 401 and "token" in refused.value.message
    for header in (b"", f"Authorization: Basic {TOKEN}\r\n".encode(), f"Authorization: {TOKEN}\r\n".encode()):
        answer = _raw(front.port, b"POST /_prodline/rollback HTTP/1.1\r\nHost: x\r\n" + header +
                      b'Content-Length: 16\r\n\r\n{"endpoint": "e"}')
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]
    assert front.calls == [], "no control action may run without the token"
    assert hosting.rollback(front.url, ENDPOINT, token=TOKEN) == {"rolled_back": False}
    assert front.calls == [("rollback", ENDPOINT)]


@pytest.mark.parametrize("length", ["-5", "abc", "\u00b2", "1e3", "0x10", "9" * 5000, "", "5, 5", "+5"])
@pytest.mark.parametrize("path", ["/_prodline/rollback", f"/endpoints/{ENDPOINT}/invocations"])
def test_a_malformed_content_length_is_a_400_never_a_500_or_a_hang(front, path, length):
    answer = _raw(front.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                              f"Content-Length: {length}\r\n\r\n{{}}".encode("latin-1"))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"Content-Length" in answer.split(b"\r\n\r\n", 1)[1], "the answer must say what is wrong"
    assert front.calls == []


def test_two_content_lengths_are_a_400(front):
    answer = _raw(front.port, f"POST /_prodline/rollback HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                              "Content-Length: 2\r\nContent-Length: 16\r\n\r\n{}".encode())
    assert answer.startswith(b"HTTP/1.1 400 ") and b"2 Content-Length headers" in answer, answer[:200]
    assert front.calls == []


# --- end to end: fixtures -------------------------------------------------------------------------------------------

def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _client(service: str, endpoint_url: str):
    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", aws_session_token="testing",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def moto_url():
    """A moto server of our own on a free port (never 4566, which a running sandbox may hold)."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory) -> bytes:
    """A small real model, packed as training's model.tar.gz."""
    directory = tmp_path_factory.mktemp("model")
    pipeline, metadata, baseline = train(add_features(generate_typed(3000, 7)), None, Hyperparameters(max_iter=30))
    save_model(directory, pipeline, metadata, baseline)
    return pack_model(directory, tmp_path_factory.mktemp("archive") / "model.tar.gz").read_bytes()


def _broken_archive() -> bytes:
    """A tar.gz without model.joblib: serve fails at start, as a bad training output would make it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("README.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"oops\n"))
    return raw.getvalue()


@dataclass(frozen=True)
class World:
    emulator_url: str
    kms_key: str


def _endpoint_config(sm, name: str, model: str, kms_key: str) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": VARIANT, "ModelName": model, "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": CAPTURE_PREFIX, "KmsKeyId": kms_key,
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                                        "JsonContentTypes": ["application/json"]}})


@pytest.fixture(scope="module")
def world(moto_url, model_archive) -> World:
    """The emulator holding what the ServingEndpoint component declares: a registered model package, models,
    endpoint configurations with data capture (SSE-KMS), and the endpoint."""
    s3, sm = _client("s3", moto_url), _client("sagemaker", moto_url)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    kms_key = _client("kms", moto_url).create_key()["KeyMetadata"]["Arn"]
    s3.put_object(Bucket=BUCKET, Key="models/v1/model.tar.gz", Body=model_archive)
    s3.put_object(Bucket=BUCKET, Key="models/v2/model.tar.gz", Body=model_archive)
    s3.put_object(Bucket=BUCKET, Key="models/broken/model.tar.gz", Body=_broken_archive())
    role = "arn:aws:iam::123456789012:role/serving"
    sm.create_model_package_group(ModelPackageGroupName="churn")
    package = sm.create_model_package(
        ModelPackageGroupName="churn", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "prodline/serve:1",
                                                "ModelDataUrl": f"s3://{BUCKET}/models/v1/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv", "application/json"],
                                "SupportedResponseMIMETypes": ["application/json", "text/csv"]})["ModelPackageArn"]
    sm.create_model(ModelName="churn-v1", ExecutionRoleArn=role, PrimaryContainer={
        "ModelPackageName": package, "Environment": {"PRODLINE_MODEL_VERSION": "1"}})
    for name, key in (("churn-v2", "v2"), ("churn-broken", "broken")):
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
            "Image": "prodline/serve:1", "ModelDataUrl": f"s3://{BUCKET}/models/{key}/model.tar.gz"})
    for config, model in ((BLUE_CONFIG, "churn-v1"), (GREEN_CONFIG, "churn-v2"), (BROKEN_CONFIG, "churn-broken")):
        _endpoint_config(sm, config, model, kms_key)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=BLUE_CONFIG)
    return World(moto_url, kms_key)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRODLINE_SANDBOX_DIR", str(directory))
        yield directory


@pytest.fixture(scope="module")
def gateway(world, sandbox) -> str:
    earlier = sandbox / STACK / hosting.WORKDIR  # what a gateway of an earlier session left
    for stale in hosting.GATEWAY_RUN_WORK:
        (earlier / stale / "an-earlier-server").mkdir(parents=True)
    (sandbox / STACK / hosting.LOG_FILE).write_text("an earlier gateway\n")
    url = hosting.start_gateway(STACK, Emulator(world.emulator_url, embedded=False), REGION, port=free_port())
    try:
        yield url
    finally:
        hosting.stop_gateway(STACK)


@pytest.fixture
def runtime(gateway):
    return _client("sagemaker-runtime", gateway)


def _invoke(runtime, body: str = ROW, content_type: str = "text/csv", endpoint: str = ENDPOINT, **extra) -> dict:
    response = runtime.invoke_endpoint(EndpointName=endpoint, Body=body.encode(), ContentType=content_type, **extra)
    return {"body": response["Body"].read(), "variant": response["InvokedProductionVariant"],
            "content_type": response["ContentType"],
            "fleet": response["ResponseMetadata"]["HTTPHeaders"][FLEET_HEADER.lower()]}


def _fleets(runtime, requests: int) -> Counter:
    return Counter(_invoke(runtime)["fleet"] for _ in range(requests))


def _metric_sum(world: World, metric: str, endpoint: str = ENDPOINT) -> float:
    now = dt.datetime.now(dt.UTC)
    points = _client("cloudwatch", world.emulator_url).get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=metric, StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}])
    return sum(p["Sum"] for p in points["Datapoints"])


def _capture_objects(world: World, endpoint: str = ENDPOINT) -> list[dict]:
    s3 = _client("s3", world.emulator_url)
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"capture/{endpoint}/").get("Contents", [])
    return [{"key": o["Key"], "head": s3.head_object(Bucket=BUCKET, Key=o["Key"]),
             "text": s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()} for o in listing]


def _endpoint_status(gateway: str) -> dict:
    return hosting.status(gateway)["endpoints"][ENDPOINT]


def _pids(endpoint_status: dict, role: str | None = None) -> list[int]:
    return [v["pid"] for f in endpoint_status["fleets"] if role in (None, f["role"]) for v in f["variants"]]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# --- end to end: InvokeEndpoint ---------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_csv_and_json_invocations_return_predictions(runtime):
    answer = _invoke(runtime, f"{ROW}\n{ROW}\n")
    predictions = json.loads(answer["body"])["predictions"]
    assert len(predictions) == 2 and all(0 < p < 1 for p in predictions)
    assert answer["variant"] == VARIANT and answer["content_type"] == "application/json"

    answer = _invoke(runtime, json.dumps([RECORD]), "application/json", Accept="text/csv")
    assert answer["content_type"] == "text/csv" and 0 < float(answer["body"]) < 1


@pytest.mark.e2e
def test_the_gateway_adds_milliseconds_not_a_nagle_delay(runtime):
    """Headers and body were written apart with Nagle on: every request waited ~40 ms for a delayed ACK."""
    _invoke(runtime)
    timings = []
    for _ in range(15):
        started = time.perf_counter()
        _invoke(runtime)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.025, f"median {sorted(timings)[7] * 1000:.0f} ms per request"


@pytest.mark.e2e
def test_target_variant_is_honoured_and_an_unknown_one_refused(runtime):
    assert _invoke(runtime, TargetVariant=VARIANT)["variant"] == VARIANT
    with pytest.raises(runtime.exceptions.ValidationError, match="NoSuchVariant"):
        _invoke(runtime, TargetVariant="NoSuchVariant")


@pytest.mark.e2e
def test_missing_endpoint_raises_validation_error(runtime):
    with pytest.raises(runtime.exceptions.ValidationError, match=r"Endpoint no-such-endpoint of account \d+ not found"):
        _invoke(runtime, endpoint="no-such-endpoint")


@pytest.mark.e2e
def test_garbage_body_raises_model_error_and_counts_a_4xx(world, gateway, runtime):
    before = _metric_sum(world, "Invocation4XXErrors")
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        _invoke(runtime, "this is,not a row")
    response = raised.value.response
    assert response["OriginalStatusCode"] == 400, response
    assert "fields" in response["OriginalMessage"], "the container's own message must reach the caller"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    hosting.flush(gateway)
    assert _metric_sum(world, "Invocation4XXErrors") == before + 1


@pytest.mark.e2e
def test_invocations_and_latency_metrics_are_published(world, gateway, runtime):
    hosting.flush(gateway)
    before = _metric_sum(world, "Invocations")
    for _ in range(3):
        _invoke(runtime)
    hosting.flush(gateway)
    assert _metric_sum(world, "Invocations") == before + 3
    assert hosting.status(gateway)["metrics"]["pending"] == 0
    now = dt.datetime.now(dt.UTC)
    latency = _client("cloudwatch", world.emulator_url).get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="ModelLatency", StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Maximum"], Unit="Microseconds",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}])
    assert latency["Datapoints"] and all(p["Maximum"] > 0 for p in latency["Datapoints"])


@pytest.mark.e2e
def test_capture_files_are_sagemaker_jsonl_encrypted_and_readable_by_the_drift_monitor(world, gateway, runtime):
    marker = dict(RECORD, age=77)
    _invoke(runtime, json.dumps([marker]), "application/json")
    _invoke(runtime, "45,99.5,4477.5,month-to-month,check,fiber,4,1,77\n")
    hosting.flush(gateway)
    objects = _capture_objects(world)
    assert objects, "no capture file was written"
    for obj in objects:
        assert CAPTURE_KEY.match(obj["key"]), obj["key"]
        assert obj["head"]["ServerSideEncryption"] == "aws:kms" and obj["head"]["SSEKMSKeyId"] == world.kms_key
    texts = [obj["text"] for obj in objects]
    inputs = capture.read_inputs(texts)
    assert inputs.unreadable == 0, inputs.errors
    assert (inputs.frame["age"] == 77).sum() == 2, "both requests must be captured (sampling is 100 %)"
    records = [json.loads(line) for text in texts for line in text.splitlines()]
    encodings = {r["captureData"]["endpointInput"]["observedContentType"]: r["captureData"]["endpointInput"]["encoding"]
                 for r in records}
    assert encodings == {"text/csv": "CSV", "application/json": "JSON"}
    assert all(r["captureData"]["endpointOutput"]["mode"] == "OUTPUT" and r["eventVersion"] == "0" for r in records)
    assert not any("not a row" in r["captureData"]["endpointInput"]["data"] for r in records), \
        "a request the model rejected must not be captured"


def test_the_inference_id_and_the_models_version_reach_the_capture_record(world, gateway, runtime):
    answer = _invoke(runtime, "45,99.5,4477.5,month-to-month,check,fiber,4,1,61\n", Accept="application/json",
                     InferenceId="label-me-1")
    assert json.loads(answer["body"])["modelVersion"] == "1", "the model's Environment must reach its container"
    hosting.flush(gateway)
    predictions, unreadable, _ = capture.read_predictions([obj["text"] for obj in _capture_objects(world)])
    mine = [p for p in predictions if p.inference_id == "label-me-1"]
    assert unreadable == 0 and len(mine) == 1
    assert mine[0].version == "1" and len(mine[0].scores) == 1


# --- end to end: deployments ------------------------------------------------------------------------------------------

def _other_config(gateway: str) -> str:
    return GREEN_CONFIG if _endpoint_status(gateway)["endpoint_config"] == BLUE_CONFIG else BLUE_CONFIG


@pytest.mark.e2e
def test_canary_gets_its_share_and_rollback_returns_everything_to_blue(gateway, runtime):
    blue, green = _endpoint_status(gateway)["endpoint_config"], _other_config(gateway)
    state = hosting.deploy(gateway, ENDPOINT, green, 25)
    assert state["routing_percent"] == {"blue": 75, "green": 25}
    assert _fleets(runtime, 40) == {blue: 30, green: 10}
    green_pids = _pids(_endpoint_status(gateway), "green")

    assert hosting.rollback(gateway, ENDPOINT)["rolled_back"] is True
    assert _fleets(runtime, 20) == {blue: 20}
    after = _endpoint_status(gateway)
    assert after["deployment"] is None and after["endpoint_config"] == blue
    assert not any(_running(pid) for pid in green_pids), "the rolled-back fleet's serve processes must be stopped"
    assert hosting.rollback(gateway, ENDPOINT)["rolled_back"] is False, "a second rollback has nothing to undo"


@pytest.mark.e2e
def test_rollback_under_traffic_fails_no_request_and_sends_all_later_ones_to_blue(gateway, runtime):
    blue, green = _endpoint_status(gateway)["endpoint_config"], _other_config(gateway)
    hosting.deploy(gateway, ENDPOINT, green, 50)
    answers: list[tuple[float, str]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                answers.append((started, _invoke(runtime)["fleet"]))
            except Exception as error:
                failures.append(error)

    workers = [threading.Thread(target=traffic) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        hosting.rollback(gateway, ENDPOINT)
        rolled_back = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert failures == [], failures[:3]
    assert any(fleet == green for started, fleet in answers if started < rolled_back), "green got no traffic"
    after = [fleet for started, fleet in answers if started >= rolled_back]
    assert after and set(after) == {blue}, Counter(after)


@pytest.mark.e2e
def test_deploys_that_cannot_start_or_conflict_are_refused_and_blue_keeps_serving(gateway, runtime):
    blue = _endpoint_status(gateway)["endpoint_config"]
    with pytest.raises(hosting.GatewayControlError) as broken:
        hosting.deploy(gateway, ENDPOINT, BROKEN_CONFIG, 10)
    assert broken.value.status == 500 and "exited" in broken.value.message, broken.value.message
    assert _endpoint_status(gateway)["deployment"] is None
    assert _fleets(runtime, 5) == {blue: 5}

    with pytest.raises(hosting.GatewayControlError) as missing:
        hosting.deploy(gateway, ENDPOINT, "no-such-config", 10)
    assert missing.value.status == 404
    with pytest.raises(hosting.GatewayControlError) as same:
        hosting.deploy(gateway, ENDPOINT, blue, 10)
    assert same.value.status == 409
    with pytest.raises(hosting.GatewayControlError) as bad:
        hosting.deploy(gateway, ENDPOINT, _other_config(gateway), 101)
    assert bad.value.status == 400
    with pytest.raises(hosting.GatewayControlError) as nothing:
        hosting.promote(gateway, ENDPOINT)
    assert nothing.value.status == 409


@pytest.mark.e2e
def test_promote_moves_all_traffic_to_green_and_stops_blue(gateway, runtime):
    blue, green = _endpoint_status(gateway)["endpoint_config"], _other_config(gateway)
    hosting.deploy(gateway, ENDPOINT, green, 10)
    with pytest.raises(hosting.GatewayControlError) as conflict:
        hosting.deploy(gateway, ENDPOINT, BROKEN_CONFIG, 10)
    assert conflict.value.status == 409, "a second deployment must wait for the first"
    assert hosting.deploy(gateway, ENDPOINT, green, 50)["routing_percent"] == {"blue": 50, "green": 50}
    assert _fleets(runtime, 10) == {blue: 5, green: 5}
    blue_pids = _pids(_endpoint_status(gateway), "blue")

    state = hosting.promote(gateway, ENDPOINT)
    assert state["endpoint_config"] == green and state["deployment"] is None
    assert _fleets(runtime, 20) == {green: 20}
    assert not any(_running(pid) for pid in blue_pids), "the old fleet's serve processes must be stopped"


# --- end to end: reload, lazy start, shutdown --------------------------------------------------------------------

@pytest.mark.e2e
def test_reload_starts_new_endpoints_and_stops_removed_ones(world, gateway, runtime):
    sm = _client("sagemaker", world.emulator_url)
    sm.create_endpoint(EndpointName="churn-second", EndpointConfigName=GREEN_CONFIG)
    result = hosting.reload(gateway)
    assert result["started"] == ["churn-second"] and result["failed"] == {}
    assert _invoke(runtime, endpoint="churn-second")["fleet"] == GREEN_CONFIG

    sm.create_endpoint(EndpointName="churn-third", EndpointConfigName=BLUE_CONFIG)
    assert _invoke(runtime, endpoint="churn-third")["fleet"] == BLUE_CONFIG, "a new endpoint is started on first use"

    pids = [p for name in ("churn-second", "churn-third")
            for p in _pids(hosting.status(gateway)["endpoints"][name])]
    sm.delete_endpoint(EndpointName="churn-second")
    sm.delete_endpoint(EndpointName="churn-third")
    result = hosting.reload(gateway)
    assert result["stopped"] == ["churn-second", "churn-third"] and ENDPOINT in result["endpoints"]
    assert not any(_running(pid) for pid in pids)
    with pytest.raises(runtime.exceptions.ValidationError):
        _invoke(runtime, endpoint="churn-second")


@pytest.mark.e2e
def test_a_dead_container_is_a_5xx_model_error_and_leaves_nothing_in_flight(world, gateway, runtime):
    sm = _client("sagemaker", world.emulator_url)
    sm.create_endpoint(EndpointName="churn-dies", EndpointConfigName=BLUE_CONFIG)
    try:
        _invoke(runtime, endpoint="churn-dies")
        (pid,) = _pids(hosting.status(gateway)["endpoints"]["churn-dies"])
        os.kill(pid, signal.SIGKILL)
        while _running(pid):
            time.sleep(0.02)
        with pytest.raises(runtime.exceptions.ModelError) as raised:
            _invoke(runtime, endpoint="churn-dies")
        assert raised.value.response["OriginalStatusCode"] == 0
        hosting.flush(gateway)
        assert _metric_sum(world, "Invocation5XXErrors", "churn-dies") == 1
        state = hosting.status(gateway)
        assert state["in_flight"] == 0
        assert state["endpoints"]["churn-dies"]["fleets"][0]["variants"][0]["alive"] is False
    finally:
        sm.delete_endpoint(EndpointName="churn-dies")
        hosting.reload(gateway)


@pytest.mark.e2e
def test_a_broken_endpoint_is_reported_not_fatal(world, gateway, runtime):
    sm = _client("sagemaker", world.emulator_url)
    sm.create_endpoint(EndpointName="churn-broken", EndpointConfigName=BROKEN_CONFIG)
    try:
        result = hosting.reload(gateway)
        assert "churn-broken" in result["failed"] and "exited" in result["failed"]["churn-broken"]
        with pytest.raises(runtime.exceptions.ServiceUnavailable):
            runtime.invoke_endpoint(EndpointName="churn-broken", Body=ROW.encode(), ContentType="text/csv")
        assert _invoke(runtime)["variant"] == VARIANT, "other endpoints keep serving"
    finally:
        sm.delete_endpoint(EndpointName="churn-broken")
        hosting.reload(gateway)


@pytest.mark.e2e
def test_sigterm_flushes_buffered_capture_and_metrics_and_stops_serve(world, gateway, runtime, tmp_path):
    """A second gateway with hour-long flush intervals: only the SIGTERM path can have written its telemetry."""
    port = free_port()
    token_file = hosting.write_token(tmp_path / "token")
    token = token_file.read_text()
    url = f"http://127.0.0.1:{port}"
    with reaped(subprocess.Popen(
            [sys.executable, "-m", "prodline.sandbox.gateway", "--stack", "sigterm", "--port", str(port),
             "--endpoint-url", world.emulator_url, "--region", REGION, "--workdir", str(tmp_path),
             "--metrics-interval", "3600", "--capture-interval", "3600", "--token-file", str(token_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)) as process:
        deadline = time.monotonic() + 60
        while not _ready(url, token):
            assert process.poll() is None and time.monotonic() < deadline, "second gateway did not start"
            time.sleep(0.1)
        second = _client("sagemaker-runtime", url)
        hosting.flush(gateway)  # the module's gateway has nothing pending that could be mistaken for ours
        before = _metric_sum(world, "Invocations")
        _invoke(second, "3,10.0,30.0,month-to-month,card,none,0,1,98\n")
        pending = hosting.status(url, token=token)
        assert pending["capture"]["pending"] == 1 and pending["metrics"]["published"] == 0
        pids = _pids(pending["endpoints"][ENDPOINT])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    frame = capture.read_inputs([obj["text"] for obj in _capture_objects(world)]).frame
    assert (frame["age"] == 98).sum() == 1, "the capture buffered at SIGTERM must be written"
    assert _metric_sum(world, "Invocations") == before + 1, "the metrics buffered at SIGTERM must be published"
    assert not any(_running(pid) for pid in pids)


def _ready(url: str, token: str) -> bool:
    try:
        return hosting.status(url, timeout=2, token=token)["ready"]
    except hosting.GatewayError:
        return False


@pytest.mark.e2e
def test_stop_after_the_gateway_was_killed_still_stops_its_serve_processes(world, gateway):
    url = hosting.start_gateway("gateway-killed", Emulator(world.emulator_url, embedded=False), REGION,
                                port=free_port())
    state = hosting.status(url)
    pids = _pids(state["endpoints"][ENDPOINT])
    os.kill(state["pid"], signal.SIGKILL)
    while _running(state["pid"]):
        time.sleep(0.02)
    assert all(_running(pid) for pid in pids), "serve runs in its own session: a SIGKILLed gateway orphans it"
    assert hosting.gateway_url("gateway-killed") is None
    assert hosting.stop_gateway("gateway-killed") is False, "no live gateway was left to stop"
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in pids), "stop_gateway must stop the orphans children.json lists"


@pytest.mark.e2e
def test_the_started_gateway_wants_the_token_its_starter_wrote_for_this_user_only(gateway, sandbox):
    token_file = sandbox / STACK / hosting.TOKEN_FILE
    assert token_file.stat().st_mode & 0o777 == 0o600
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{gateway}/_prodline/status", timeout=10)
    assert refused.value.code == 401
    with pytest.raises(hosting.GatewayControlError) as wrong:
        hosting.flush(gateway, token="not-the-token")
    assert wrong.value.status == 401
    assert hosting.status(gateway)["ready"], "the client finds the token beside the gateway's record"


def test_a_new_gateway_starts_without_an_earlier_ones_models_and_logs(gateway, sandbox):
    workdir = sandbox / STACK / hosting.WORKDIR
    assert not any((workdir / stale / "an-earlier-server").exists() for stale in hosting.GATEWAY_RUN_WORK)
    assert (sandbox / STACK / f"{hosting.LOG_FILE}.1").read_text() == "an earlier gateway\n"
    assert "an earlier gateway" not in (sandbox / STACK / hosting.LOG_FILE).read_text()


@pytest.mark.e2e
def test_start_is_idempotent_and_stop_flushes_and_leaves_no_serve_process(world, gateway, runtime, sandbox):
    again = hosting.start_gateway(STACK, Emulator(world.emulator_url, embedded=False), REGION, port=free_port())
    assert again == gateway == hosting.gateway_url(STACK), "a live gateway must be reused"
    _invoke(runtime, "7,20.0,140.0,month-to-month,card,none,0,1,99\n")  # left in the buffer: stop must flush it
    pids = _pids(_endpoint_status(gateway))
    gateway_pid = hosting.status(gateway)["pid"]

    assert hosting.stop_gateway(STACK) is True
    assert hosting.gateway_url(STACK) is None and not _running(gateway_pid)
    assert not (sandbox / STACK / hosting.TOKEN_FILE).exists(), "a stopped gateway's token is removed"
    assert pids and not any(_running(pid) for pid in pids)
    leftovers = [d for d in os.listdir("/proc") if d.isdigit() and str(sandbox).encode() in _proc_cmdline(d)]
    assert leftovers == [], "no process of this sandbox may outlive stop_gateway"
    frame = capture.read_inputs([obj["text"] for obj in _capture_objects(world)]).frame
    assert (frame["age"] == 99).sum() == 1, "the capture buffered at shutdown must be written"
    assert hosting.stop_gateway(STACK) is False


def _proc_cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
