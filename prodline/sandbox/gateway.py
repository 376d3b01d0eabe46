"""The sandbox's SageMaker hosting: the InvokeEndpoint API on loopback, backed by real ``serve`` processes.

moto stores endpoints but runs nothing, so this process does what SageMaker hosting does, reading every
definition back from the emulator (never from Python objects), so the IaC is what gets exercised:

  endpoint -> endpoint config (production variants, data capture) -> model -> model package -> model.tar.gz

For each endpoint it downloads each variant's model from the emulator's S3, starts the project's ``serve``
entry point (the SageMaker container contract) on a free loopback port, and answers

  POST /endpoints/{EndpointName}/invocations     SageMaker Runtime InvokeEndpoint, wire-compatible with boto3

splitting traffic by variant weight, writing data capture as JSONL to the configured S3 prefix (SSE-KMS)
and publishing AWS/SageMaker metrics to the emulator's CloudWatch. A blue/green deployment is driven from
outside (the deployment runtime) through the loopback-only control API:

  GET  /_prodline/status     endpoints, fleets, ports, routing, counters
  POST /_prodline/reload     re-read the emulator: start new endpoints, stop removed ones
  POST /_prodline/deploy     {"endpoint", "endpoint_config", "canary_percent"}: start the green fleet, route a share
  POST /_prodline/promote    {"endpoint"}: all traffic to green, stop blue; green becomes the current (blue) fleet
  POST /_prodline/rollback   {"endpoint"}: all traffic to blue at once, drain and stop green (idempotent)
  POST /_prodline/flush      write buffered capture and metrics now

Routing is deterministic (smooth weighted round-robin), not random as in AWS: a 10 % canary gets exactly
one request in ten, so tests and the demo are reproducible. Capture sampling is deterministic likewise.

Run: ``python -m prodline.sandbox.gateway --stack dev --port 4571 --endpoint-url http://127.0.0.1:4566
--region eu-west-1 --workdir sandbox/dev/gateway`` (``prodline.sandbox.hosting`` does this). SIGTERM or
SIGINT: stop accepting, flush capture and metrics, stop every ``serve`` child, exit 0.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from prodline.sandbox.clients import Clients
from prodline.sandbox.emulator import EmulatorError, require_loopback
from prodline.sandbox.paths import ROOT

LOG = logging.getLogger("prodline.sandbox.gateway")

HOST = "127.0.0.1"
CONTROL_PREFIX = "/_prodline/"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit
CONTAINER_TIMEOUT_SECONDS = 60.0  # SageMaker's invocation timeout
DRAIN_SECONDS = 30.0
METRICS_INTERVAL_SECONDS = 1.0
CAPTURE_INTERVAL_SECONDS = 2.0
MAX_PENDING_METRIC_DATA = 20_000
MAX_PENDING_CAPTURE_RECORDS = 100_000
NAMESPACE = "AWS/SageMaker"
SERVING_STATUSES = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
FLEET_HEADER = "X-Prodline-Fleet"
ROLE_HEADER = "X-Prodline-Fleet-Role"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
BLUE, GREEN = "blue", "green"


# --- errors: one mapping to HTTP for the runtime API, one for the control API -----------------------------

class GatewayError(Exception):
    """A failure the gateway answers with a typed status and message, never a traceback."""

    status = 500
    code = "InternalFailure"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationError(GatewayError):
    """The request is invalid (unknown endpoint or variant, bad body): botocore raises ``ValidationError``."""

    status, code = 400, "ValidationError"


class ServiceUnavailable(GatewayError):
    """The endpoint exists in the emulator but has no healthy fleet (its start failed), or we are stopping."""

    status, code = 503, "ServiceUnavailable"


class ModelError(GatewayError):
    """The container answered 4xx/5xx (or not at all): SageMaker's 424 with the container's status and body."""

    status, code = 424, "ModelError"

    def __init__(self, message: str, original_status: int, original_message: str):
        super().__init__(message)
        self.original_status = original_status
        self.original_message = original_message


class ControlError(GatewayError):
    """A control-API request that cannot be done; ``status`` says why (400 bad input, 404, 409 conflict)."""

    code = "ControlError"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class FleetStartError(GatewayError):
    """A fleet could not start (model missing or broken, ``serve`` exited or never answered /ping)."""

    code = "FleetStartError"


class EndpointMissing(GatewayError):
    """The emulator has no such endpoint or endpoint configuration."""

    status, code = 404, "NotFound"


def runtime_error_response(error: GatewayError, account: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) in the SageMaker Runtime wire format: botocore picks the class from the header."""
    body: dict[str, Any] = {"message": error.message}
    if isinstance(error, ModelError):
        body.update(ErrorCode="CLIENT_ERROR_FROM_MODEL" if 400 <= error.original_status < 500
                    else "SERVER_ERROR_FROM_MODEL", OriginalStatusCode=error.original_status,
                    OriginalMessage=error.original_message,
                    LogStreamArn=f"arn:aws:logs:sandbox:{account}:log-group:/aws/sagemaker/Endpoints")
    return error.status, {"x-amzn-ErrorType": error.code}, json.dumps(body).encode()


def control_error_response(error: GatewayError) -> tuple[int, bytes]:
    return error.status, json.dumps({"error": error.code, "message": error.message}).encode()


# --- what the emulator declares ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CaptureSpec:
    """An endpoint config's DataCaptureConfig, as SageMaker applies it."""

    destination: str
    percent: int
    kms_key_id: str | None
    capture_input: bool
    capture_output: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    def encoding(self, content_type: str) -> str:
        """CSV or JSON (captured as text) for the configured content types; anything else BASE64, as in AWS."""
        kind = media_type(content_type)
        if kind in self.csv_types:
            return "CSV"
        if kind in self.json_types:
            return "JSON"
        return "BASE64"


@dataclass(frozen=True)
class VariantSpec:
    name: str
    weight: float
    model_name: str
    model_data_url: str


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    variants: tuple[VariantSpec, ...]
    capture: CaptureSpec | None


def media_type(header: str | None) -> str:
    """``Text/CSV; charset=utf-8`` -> ``text/csv``."""
    return (header or "").split(";", 1)[0].strip().lower()


def _missing(error: ClientError) -> bool:
    """moto and AWS answer a missing SageMaker resource with ValidationException ("Could not find ...")."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in ("ValidationException", "ResourceNotFound") and "not find" in message.lower()


def capture_spec(config: Mapping[str, Any] | None) -> CaptureSpec | None:
    """None when capture is absent or disabled."""
    if not config or not config.get("EnableCapture", True):
        return None
    modes = {o["CaptureMode"] for o in config.get("CaptureOptions", [])} or {"Input", "Output"}
    header = config.get("CaptureContentTypeHeader") or {}
    return CaptureSpec(
        destination=config["DestinationS3Uri"].rstrip("/"), percent=int(config.get("InitialSamplingPercentage", 100)),
        kms_key_id=config.get("KmsKeyId") or None, capture_input="Input" in modes, capture_output="Output" in modes,
        csv_types=frozenset(media_type(t) for t in header.get("CsvContentTypes", [])),
        json_types=frozenset(media_type(t) for t in header.get("JsonContentTypes", [])))


def model_data_url(sagemaker, model_name: str) -> str:
    """The model artifact of a model: its container's ModelDataUrl, or its model package's."""
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    package = container.get("ModelPackageName")
    if not package:
        raise FleetStartError(f"model {model_name} has neither ModelDataUrl nor ModelPackageName in its container")
    spec = sagemaker.describe_model_package(ModelPackageName=package).get("InferenceSpecification") or {}
    containers = spec.get("Containers") or [{}]
    if not containers[0].get("ModelDataUrl"):
        raise FleetStartError(f"model package {package} (of model {model_name}) has no ModelDataUrl")
    return containers[0]["ModelDataUrl"]


def read_config(sagemaker, config_name: str) -> ConfigSpec:
    """An endpoint configuration with each variant's model artifact resolved; EndpointMissing if absent."""
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = tuple(
            VariantSpec(name=v["VariantName"], weight=float(v.get("InitialVariantWeight", 1.0)),
                        model_name=v["ModelName"], model_data_url=model_data_url(sagemaker, v["ModelName"]))
            for v in config["ProductionVariants"])
    except ClientError as error:
        if _missing(error):
            raise EndpointMissing(f"the emulator has no endpoint configuration {config_name} "
                                  f"(or one of its models): {error.response['Error']['Message']}") from None
        raise
    return ConfigSpec(config_name, variants, capture_spec(config.get("DataCaptureConfig")))


def endpoint_config_name(sagemaker, endpoint: str) -> str:
    """The configuration the emulator says the endpoint runs; EndpointMissing when there is no such endpoint."""
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except ClientError as error:
        if _missing(error):
            raise EndpointMissing(f"the emulator has no endpoint {endpoint}") from None
        raise


def live_endpoints(sagemaker) -> dict[str, str]:
    """name -> endpoint config name of every endpoint the emulator says is serving."""
    found = {}
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for summary in page["Endpoints"]:
            if summary.get("EndpointStatus", "InService") in SERVING_STATUSES:
                found[summary["EndpointName"]] = endpoint_config_name(sagemaker, summary["EndpointName"])
    return found


# --- model artifacts and serve processes --------------------------------------------------------------------

def split_s3(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise FleetStartError(f"model data URL {url!r} is not an s3://bucket/key URL")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def fetch_model(s3, url: str, models_dir: Path) -> Path:
    """Download and extract model.tar.gz once per (URL, ETag): fleets of the same artifact share the directory."""
    bucket, key = split_s3(url)
    try:
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        target = models_dir / hashlib.sha256(f"{url}|{etag}".encode()).hexdigest()[:16]
        if target.is_dir():
            return target
        models_dir.mkdir(parents=True, exist_ok=True)
        archive = models_dir / f".{target.name}.tar.gz"
        with archive.open("wb") as out:
            shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=key)["Body"], out)
    except ClientError as error:
        detail = error.response["Error"].get("Message") or error.response["Error"].get("Code")
        raise FleetStartError(f"cannot read the model artifact {url} from the emulator's S3: {detail}") from None
    staging = models_dir / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise FleetStartError(f"the model artifact {url} is not a readable tar.gz: {error}") from None
    finally:
        archive.unlink(missing_ok=True)
    os.replace(staging, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def serve_command() -> list[str]:
    """The ``serve`` console script of this interpreter's environment (what the image runs)."""
    script = Path(sys.executable).parent / "serve"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "workloads.serving.server"]


def serve_environment(model_dir: Path, port: int) -> dict[str, str]:
    """SageMaker's container settings; one worker with one BLAS/OpenMP thread: a 2-core laptop hosts many."""
    return {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "PRODLINE_SERVER_HOST": HOST, "PRODLINE_SERVER_THREADS": "1",
            "PRODLINE_SHUTDOWN_GRACE_SECONDS": "5", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


class Sampler:
    """Exactly ``percent`` of every 100 requests, evenly spread: SageMaker samples at random, the sandbox
    deterministically, so a test knows how many records to expect."""

    def __init__(self, percent: int):
        self.percent = max(0, min(100, percent))
        self._credit = 0

    def take(self) -> bool:
        self._credit += self.percent
        if self._credit >= 100:
            self._credit -= 100
            return True
        return False


@dataclass
class VariantServer:
    """One production variant's ``serve`` process (its own process group, so it is stopped with its children)."""

    variant: VariantSpec
    port: int
    process: subprocess.Popen
    log_path: Path
    sampler: Sampler
    invocations: int = 0
    in_flight: int = 0

    def describe(self) -> dict[str, Any]:
        return {"variant": self.variant.name, "weight": self.variant.weight, "model": self.variant.model_name,
                "model_data_url": self.variant.model_data_url, "port": self.port, "pid": self.process.pid,
                "alive": self.process.poll() is None, "invocations": self.invocations, "in_flight": self.in_flight,
                "log": str(self.log_path)}


def start_server(variant: VariantSpec, model_dir: Path, log_path: Path, capture_percent: int) -> VariantServer:
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            serve_command(), env=serve_environment(model_dir, port), cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return VariantServer(variant, port, process, log_path, Sampler(capture_percent))


def pings(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=1)
        connection.request("GET", "/ping")
        healthy = connection.getresponse().status == 200
        connection.close()
        return healthy
    except OSError:
        return False


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(servers: Iterable[VariantServer], timeout: float) -> None:
    """Block until every server answers /ping 200; FleetStartError naming the variant and its log otherwise."""
    waiting = list(servers)
    deadline = time.monotonic() + timeout
    while waiting:
        for server in list(waiting):
            if server.process.poll() is not None:
                raise FleetStartError(f"serve for variant {server.variant.name} exited with code "
                                      f"{server.process.returncode} before answering /ping; {server.log_path}: "
                                      f"{log_tail(server.log_path)}")
            if pings(server.port):
                waiting.remove(server)
        if waiting and time.monotonic() > deadline:
            raise FleetStartError(f"serve for variant {waiting[0].variant.name} did not answer /ping within "
                                  f"{timeout:.0f} s; see {waiting[0].log_path}")
        if waiting:
            time.sleep(0.05)


def stop_server(server: VariantServer, grace: float = 10.0) -> None:
    """SIGTERM the server's process group (it finishes the request in hand), SIGKILL what is left."""
    process = server.process
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)


# --- routing ------------------------------------------------------------------------------------------------

class WeightedRotation:
    """Deterministic weighted choice (nginx's smooth weighted round-robin): exact shares, evenly interleaved.

    Zero weights get nothing; if every weight is zero, all share equally (SageMaker would refuse the config).
    """

    def __init__(self, weights: Mapping[str, float]):
        if not weights:
            raise ValueError("no choices to rotate over")
        positive = {k: float(w) for k, w in weights.items() if w > 0}
        self.weights = positive or dict.fromkeys(weights, 1.0)
        self._total = sum(self.weights.values())
        self._current = dict.fromkeys(self.weights, 0.0)

    def next(self) -> str:
        for key, weight in self.weights.items():
            self._current[key] += weight
        best = max(self._current, key=self._current.__getitem__)
        self._current[best] -= self._total
        return best


class Fleet:
    """The serve processes of one endpoint configuration: what a SageMaker blue/green update calls a fleet."""

    def __init__(self, config: ConfigSpec, servers: list[VariantServer]):
        self.config = config
        self.servers = {s.variant.name: s for s in servers}
        self._rotation = WeightedRotation({s.variant.name: s.variant.weight for s in servers})

    def pick(self, target_variant: str | None) -> VariantServer:
        """The variant the weights choose, or the one the caller targets (X-Amzn-SageMaker-Target-Variant)."""
        if target_variant is None:
            return self.servers[self._rotation.next()]
        if target_variant not in self.servers:
            raise ValidationError(f"Target variant {target_variant} is not a production variant of this "
                                  f"endpoint; its variants are {', '.join(sorted(self.servers))}")
        return self.servers[target_variant]

    def in_flight(self) -> int:
        return sum(s.in_flight for s in self.servers.values())

    def describe(self, role: str) -> dict[str, Any]:
        return {"role": role, "endpoint_config": self.config.name,
                "invocations": sum(s.invocations for s in self.servers.values()),
                "variants": [s.describe() for s in self.servers.values()]}


class EndpointRuntime:
    """One endpoint's fleets and how requests are split between them (callers hold the gateway's lock)."""

    def __init__(self, name: str, blue: Fleet):
        self.name = name
        self.blue = blue
        self.green: Fleet | None = None
        self.canary_percent = 0
        self._split = WeightedRotation({BLUE: 1})

    def begin_canary(self, green: Fleet, percent: int) -> None:
        self.green = green
        self.set_canary(percent)

    def set_canary(self, percent: int) -> None:
        self.canary_percent = percent
        self._split = WeightedRotation({BLUE: 100 - percent, GREEN: percent})

    def route(self, target_variant: str | None) -> tuple[str, Fleet, VariantServer]:
        role = self._split.next() if self.green is not None else BLUE
        fleet = self.green if role == GREEN and self.green is not None else self.blue
        return role, fleet, fleet.pick(target_variant)

    def promote(self) -> Fleet:
        """Green becomes the current fleet; returns the old blue fleet, to be drained and stopped."""
        if self.green is None:
            raise ControlError(409, f"endpoint {self.name} has no deployment in progress to promote")
        old, self.blue, self.green = self.blue, self.green, None
        self.set_canary(0)
        return old

    def rollback(self) -> Fleet | None:
        """Every request from now on goes to blue; returns the green fleet to drain and stop (None: no green)."""
        old, self.green = self.green, None
        self.set_canary(0)
        return old

    def fleets(self) -> list[Fleet]:
        return [self.blue] + ([self.green] if self.green is not None else [])

    def describe(self) -> dict[str, Any]:
        fleets = [self.blue.describe(BLUE)] + ([self.green.describe(GREEN)] if self.green else [])
        routing = {BLUE: 100 - self.canary_percent, GREEN: self.canary_percent} if self.green else {BLUE: 100}
        return {"endpoint_config": self.blue.config.name, "fleets": fleets, "routing_percent": routing,
                "deployment": {"endpoint_config": self.green.config.name, "canary_percent": self.canary_percent}
                if self.green else None}


# --- telemetry: CloudWatch metrics and data capture ----------------------------------------------------------

def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile (moto computes no ExtendedStatistics, so each datapoint is a window's p99)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class _Window:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_us: list[float] = field(default_factory=list)
    overhead_us: list[float] = field(default_factory=list)


def metric_data(endpoint: str, variant: str, window: _Window, when: dt.datetime) -> list[dict[str, Any]]:
    """One window of one variant as CloudWatch datums: counts as sums (zeros included, as SageMaker emits
    them while there is traffic), latencies as the window's p99 in microseconds."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    values = [("Invocations", window.invocations, "None"), ("Invocation4XXErrors", window.errors_4xx, "None"),
              ("Invocation5XXErrors", window.errors_5xx, "None")]
    if window.model_us:
        values.append(("ModelLatency", p99(window.model_us), "Microseconds"))
    if window.overhead_us:
        values.append(("OverheadLatency", p99(window.overhead_us), "Microseconds"))
    return [{"MetricName": name, "Dimensions": dimensions, "Timestamp": when, "Value": float(value), "Unit": unit}
            for name, value, unit in values]


class MetricsBuffer:
    """Per-variant counters of the current window; ``flush`` publishes them (kept for a retry if it fails)."""

    def __init__(self, cloudwatch):
        self.cloudwatch = cloudwatch
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pending: list[dict[str, Any]] = []
        self.published = 0
        self.dropped = 0
        self.errors = 0

    def record(self, endpoint: str, variant: str, status: int, model_us: float | None, overhead_us: float) -> None:
        with self._lock:
            window = self._windows.setdefault((endpoint, variant), _Window())
            window.invocations += 1
            window.errors_4xx += 400 <= status < 500
            window.errors_5xx += not (200 <= status < 300 or 400 <= status < 500)
            if model_us is not None:
                window.model_us.append(model_us)
            window.overhead_us.append(overhead_us)

    def flush(self) -> int:
        """Publish every closed window; returns the number of datums sent."""
        with self._flush_lock:
            with self._lock:
                windows, self._windows = self._windows, {}
            when = dt.datetime.now(dt.UTC)
            for (endpoint, variant), window in windows.items():
                self._pending += metric_data(endpoint, variant, window, when)
            sent = 0
            while self._pending:
                batch = self._pending[:500]
                try:
                    self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
                except (ClientError, BotoCoreError) as error:
                    self.errors += 1
                    self._trim()
                    LOG.warning("put_metric_data failed (%s); %d datums kept for the next flush", error,
                                len(self._pending))
                    break
                del self._pending[:len(batch)]
                sent += len(batch)
            self.published += sent
            return sent

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING_METRIC_DATA
        if excess > 0:
            del self._pending[:excess]
            self.dropped += excess
            LOG.error("dropped the %d oldest metric datums: the emulator's CloudWatch keeps failing", excess)

    def describe(self) -> dict[str, int]:
        return {"published": self.published, "pending": len(self._pending), "dropped": self.dropped,
                "errors": self.errors}


def capture_channel(data: bytes, content_type: str, mode: str, spec: CaptureSpec) -> dict[str, str]:
    """One side of a capture record; text that is not UTF-8 falls back to BASE64 so nothing is mangled."""
    encoding = spec.encoding(content_type)
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_record(spec: CaptureSpec, request: Invocation, answer: ContainerAnswer, event_id: str,
                   when: dt.datetime) -> dict[str, Any]:
    """A record in SageMaker's data-capture format (eventVersion "0")."""
    data = {}
    if spec.capture_input:
        data["endpointInput"] = capture_channel(request.body, request.content_type, "INPUT", spec)
    if spec.capture_output:
        data["endpointOutput"] = capture_channel(answer.body, answer.content_type, "OUTPUT", spec)
    metadata = {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if request.inference_id:
        metadata["inferenceId"] = request.inference_id
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(spec: CaptureSpec, endpoint: str, variant: str, first: dt.datetime) -> tuple[str, str]:
    """(bucket, key) ``{dest}/{endpoint}/{variant}/yyyy/mm/dd/hh/mm-ss-SSS-{uuid}.jsonl``, SageMaker's layout."""
    bucket, _, prefix = spec.destination[len("s3://"):].partition("/")
    name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{first:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


@dataclass
class _CaptureBatch:
    spec: CaptureSpec
    endpoint: str
    variant: str
    first: dt.datetime
    lines: list[bytes] = field(default_factory=list)


class CaptureBuffer:
    """Capture records grouped per (destination, endpoint, variant, hour); ``flush`` writes one object per group.

    A failed write keeps its records for the next flush (up to a bound), so nothing is lost to a hiccup.
    """

    def __init__(self, s3):
        self.s3 = s3
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._batches: dict[tuple, _CaptureBatch] = {}
        self.objects = 0
        self.records = 0
        self.dropped = 0
        self.errors = 0

    def add(self, spec: CaptureSpec, endpoint: str, variant: str, record: dict[str, Any], when: dt.datetime) -> None:
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        key = (spec, endpoint, variant, when.strftime("%Y%m%d%H"))
        with self._lock:
            self._batches.setdefault(key, _CaptureBatch(spec, endpoint, variant, when)).lines.append(line)

    def pending(self) -> int:
        with self._lock:
            return sum(len(b.lines) for b in self._batches.values())

    def flush(self) -> int:
        """Write every buffered group; returns the number of records written."""
        with self._flush_lock:
            with self._lock:
                batches, self._batches = self._batches, {}
            written = 0
            for key, batch in batches.items():
                try:
                    self._write(batch)
                    written += len(batch.lines)
                except (ClientError, BotoCoreError) as error:
                    self.errors += 1
                    LOG.warning("capture write to %s failed (%s); %d records kept for the next flush",
                                batch.spec.destination, error, len(batch.lines))
                    self._requeue(key, batch)
            self.records += written
            return written

    def _write(self, batch: _CaptureBatch) -> None:
        bucket, key = capture_key(batch.spec, batch.endpoint, batch.variant, batch.first)
        kms = batch.spec.kms_key_id
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"".join(batch.lines), ContentType="application/jsonlines",
                           **extra)
        self.objects += 1

    def _requeue(self, key: tuple, batch: _CaptureBatch) -> None:
        with self._lock:
            newer = self._batches.get(key)
            if newer is not None:
                batch.lines += newer.lines
            self._batches[key] = batch
            total = sum(len(b.lines) for b in self._batches.values())
            if total > MAX_PENDING_CAPTURE_RECORDS:
                excess = total - MAX_PENDING_CAPTURE_RECORDS
                del batch.lines[:excess]
                self.dropped += excess
                LOG.error("dropped %d capture records: writes to %s keep failing", excess, batch.spec.destination)

    def describe(self) -> dict[str, int]:
        return {"objects_written": self.objects, "records_written": self.records, "pending": self.pending(),
                "dropped": self.dropped, "errors": self.errors}


class Periodic(threading.Thread):
    """Calls ``action`` every ``interval`` seconds until stopped; failures are logged, never fatal."""

    def __init__(self, interval: float, action: Callable[[], object], name: str):
        super().__init__(name=name, daemon=True)
        self.interval, self.action = interval, action
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.action()
            except Exception:
                LOG.exception("%s failed", self.name)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


# --- the gateway --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Invocation:
    endpoint: str
    body: bytes
    content_type: str
    accept: str
    target_variant: str | None = None
    custom_attributes: str | None = None
    inference_id: str | None = None


@dataclass(frozen=True)
class ContainerAnswer:
    status: int
    body: bytes
    content_type: str
    custom_attributes: str | None = None


@dataclass(frozen=True)
class InvocationResult:
    answer: ContainerAnswer
    variant: str
    fleet: str
    role: str


def call_container(port: int, request: Invocation, timeout: float) -> ContainerAnswer:
    """POST /invocations to the variant's serve; ModelError (original status 0) when it cannot answer."""
    headers = {k: v for k, v in (("Content-Type", request.content_type), ("Accept", request.accept),
                                 (CUSTOM_ATTRIBUTES, request.custom_attributes)) if v}
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", "/invocations", body=request.body, headers=headers)
        response = connection.getresponse()
        return ContainerAnswer(response.status, response.read(),
                               response.getheader("Content-Type", "application/octet-stream"),
                               response.getheader(CUSTOM_ATTRIBUTES))
    except TimeoutError:
        raise ModelError(f"Your invocation timed out while waiting for a response from container primary "
                         f"(limit {timeout:.0f} s).", 0, "") from None
    except (OSError, http.client.HTTPException) as error:  # refused, reset, or a broken HTTP answer
        raise ModelError(f"Received server error (0) from primary: the container did not answer ({error!r}).",
                         0, repr(error)) from None
    finally:
        connection.close()


def model_error(answer: ContainerAnswer) -> ModelError:
    kind = "client" if 400 <= answer.status < 500 else "server"
    original = answer.body.decode("utf-8", "replace")
    return ModelError(f'Received {kind} error ({answer.status}) from primary with message "{original}". '
                      "See the variant's serve log under the gateway's workdir.", answer.status, original)


class Gateway:
    """Endpoint runtimes plus their telemetry. Two locks: ``_lock`` guards routing state for microseconds per
    request; ``_control`` serializes lifecycle changes (start, deploy, promote, rollback, stop), which can take
    seconds, so requests to running endpoints never wait for a fleet to start."""

    def __init__(self, clients: Clients, workdir: Path, account: str, ping_timeout: float = 60.0):
        self.sagemaker, self.s3 = clients("sagemaker"), clients("s3")
        self.workdir, self.account, self.ping_timeout = workdir, account, ping_timeout
        self.metrics = MetricsBuffer(clients("cloudwatch"))
        self.capture = CaptureBuffer(self.s3)
        self.endpoints: dict[str, EndpointRuntime] = {}
        self.failures: dict[str, str] = {}
        self.ready = False
        self.load_error: str | None = None
        self.closing = False
        self.in_flight = 0
        self._lock = threading.Lock()
        self._control = threading.RLock()

    # requests

    def invoke(self, request: Invocation) -> InvocationResult:
        started = time.perf_counter_ns()
        if self.closing:
            raise ServiceUnavailable("the sandbox gateway is shutting down")
        runtime = self._runtime(request.endpoint)
        with self._lock:
            role, fleet, server = runtime.route(request.target_variant)
            server.in_flight += 1
            self.in_flight += 1
        answer: ContainerAnswer | None = None
        model_us: float | None = None
        try:
            before = time.perf_counter_ns()
            answer = call_container(server.port, request, CONTAINER_TIMEOUT_SECONDS)
            model_us = (time.perf_counter_ns() - before) / 1000
        finally:  # whatever happened, the request leaves the fleet's in-flight count (draining waits on it)
            self._finish(server, fleet, request, answer, started=started, model_us=model_us)
        if not 200 <= answer.status < 300:
            raise model_error(answer)
        return InvocationResult(answer, server.variant.name, fleet.config.name, role)

    def _finish(self, server: VariantServer, fleet: Fleet, request: Invocation, answer: ContainerAnswer | None, *,
                started: int, model_us: float | None) -> None:
        """Count the request, and capture it when it succeeded and the sampler says so."""
        status = answer.status if answer is not None else 0
        spec = fleet.config.capture
        with self._lock:
            server.in_flight -= 1
            server.invocations += 1
            self.in_flight -= 1
            sampled = spec is not None and answer is not None and 200 <= status < 300 and server.sampler.take()
        overhead_us = max(0.0, (time.perf_counter_ns() - started) / 1000 - (model_us or 0.0))
        self.metrics.record(request.endpoint, server.variant.name, status, model_us, overhead_us)
        if sampled:
            when = dt.datetime.now(dt.UTC)
            record = capture_record(spec, request, answer, str(uuid.uuid4()), when)
            self.capture.add(spec, request.endpoint, server.variant.name, record, when)

    def _runtime(self, endpoint: str) -> EndpointRuntime:
        """The running endpoint; one the emulator has but we have not started yet is started now (as if the
        caller had reloaded), so an endpoint created after the gateway started is invocable at once."""
        with self._lock:
            runtime = self.endpoints.get(endpoint)
        if runtime is not None:
            return runtime
        if self.closing:
            raise ServiceUnavailable("the sandbox gateway is shutting down")
        with self._control:
            if endpoint in self.endpoints:
                return self.endpoints[endpoint]
            if endpoint in self.failures:
                raise ServiceUnavailable(f"endpoint {endpoint} could not start: {self.failures[endpoint]}; "
                                         "fix it and POST /_prodline/reload")
            try:
                config = endpoint_config_name(self.sagemaker, endpoint)
            except EndpointMissing:
                raise ValidationError(f"Endpoint {endpoint} of account {self.account} not found.") from None
            self._start_endpoint(endpoint, config)
            if endpoint in self.failures:
                raise ServiceUnavailable(f"endpoint {endpoint} could not start: {self.failures[endpoint]}")
            return self.endpoints[endpoint]

    # lifecycle

    def _start_fleet(self, endpoint: str, config: ConfigSpec) -> Fleet:
        """Every variant's serve, started together and awaited together; all stopped if one fails."""
        servers: list[VariantServer] = []
        try:
            for variant in config.variants:
                model_dir = fetch_model(self.s3, variant.model_data_url, self.workdir / "models")
                log_path = self.workdir / "logs" / f"{endpoint}.{config.name}.{variant.name}.log"
                percent = config.capture.percent if config.capture else 0
                servers.append(start_server(variant, model_dir, log_path, percent))
            self._record_children(extra=servers)
            wait_healthy(servers, self.ping_timeout)
        except BaseException:
            for server in servers:
                stop_server(server)
            self._record_children()
            raise
        LOG.info("endpoint %s: fleet %s healthy on ports %s", endpoint, config.name, [s.port for s in servers])
        return Fleet(config, servers)

    def _start_endpoint(self, endpoint: str, config_name: str) -> None:
        try:
            fleet = self._start_fleet(endpoint, read_config(self.sagemaker, config_name))
        except (GatewayError, ClientError, BotoCoreError) as error:
            self.failures[endpoint] = str(error)
            LOG.error("endpoint %s (config %s) could not start: %s", endpoint, config_name, error)
            return
        with self._lock:
            self.endpoints[endpoint] = EndpointRuntime(endpoint, fleet)
        self.failures.pop(endpoint, None)
        self._record_children()

    def _retire(self, fleet: Fleet) -> None:
        """Wait for the fleet's requests in hand (new ones already go elsewhere), then stop its servers."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while fleet.in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
        for server in fleet.servers.values():
            stop_server(server)
        self._record_children()

    def _known(self, endpoint: str) -> EndpointRuntime:
        try:
            return self._runtime(endpoint)
        except ValidationError:
            raise ControlError(404, f"the emulator has no endpoint {endpoint}") from None
        except ServiceUnavailable as error:
            raise ControlError(409, error.message) from None

    def reload(self) -> dict[str, Any]:
        """Converge on the emulator: start endpoints it has and we do not, stop those it no longer has.
        Running endpoints are left as they are (their config changes only through deploy/promote)."""
        with self._control:
            live = live_endpoints(self.sagemaker)
            self.failures = {name: why for name, why in self.failures.items() if name in live}
            started = []
            for name, config in sorted(live.items()):
                if name not in self.endpoints:
                    self.failures.pop(name, None)
                    self._start_endpoint(name, config)
                    if name in self.endpoints:
                        started.append(name)
            stopped = [name for name in sorted(self.endpoints) if name not in live]
            for name in stopped:
                self._stop_endpoint(name)
            self.ready, self.load_error = True, None
            return {"started": started, "stopped": stopped, "failed": dict(self.failures),
                    "endpoints": sorted(self.endpoints)}

    def _stop_endpoint(self, name: str) -> None:
        with self._lock:
            runtime = self.endpoints.pop(name)
        for fleet in runtime.fleets():
            self._retire(fleet)

    def deploy(self, endpoint: str, config_name: str, canary_percent: int) -> dict[str, Any]:
        """Start the green fleet for ``config_name`` and give it ``canary_percent`` of the requests. Repeating
        the call for the deployment in progress only changes the share (linear traffic shifting)."""
        if isinstance(canary_percent, bool) or not isinstance(canary_percent, int) or not 0 <= canary_percent <= 100:
            raise ControlError(400, f"canary_percent must be an integer from 0 to 100, got {canary_percent!r}")
        with self._control:
            runtime = self._known(endpoint)
            if runtime.green is not None:
                if runtime.green.config.name != config_name:
                    raise ControlError(409, f"endpoint {endpoint} is already deploying {runtime.green.config.name}; "
                                            "promote or roll it back first")
                with self._lock:
                    runtime.set_canary(canary_percent)
                return runtime.describe()
            if runtime.blue.config.name == config_name:
                raise ControlError(409, f"endpoint {endpoint} already runs {config_name}")
            try:
                green = self._start_fleet(endpoint, read_config(self.sagemaker, config_name))
            except EndpointMissing as error:
                raise ControlError(404, error.message) from None
            except (ClientError, BotoCoreError) as error:
                raise FleetStartError(f"cannot read {config_name} from the emulator: {error}") from None
            with self._lock:
                runtime.begin_canary(green, canary_percent)
            self._record_children()
            return runtime.describe()

    def promote(self, endpoint: str) -> dict[str, Any]:
        with self._control:
            runtime = self._known(endpoint)
            with self._lock:
                old = runtime.promote()
            self._retire(old)
            return runtime.describe()

    def rollback(self, endpoint: str) -> dict[str, Any]:
        """Idempotent: without a deployment in progress (green failed to start, or already rolled back) every
        request already goes to blue, which is what a rollback asks for."""
        with self._control:
            runtime = self._known(endpoint)
            with self._lock:
                old = runtime.rollback()
            if old is not None:
                self._retire(old)
            return {**runtime.describe(), "rolled_back": old is not None}

    def flush(self) -> dict[str, int]:
        return {"capture_records": self.capture.flush(), "metric_data": self.metrics.flush()}

    def status(self) -> dict[str, Any]:
        with self._lock:
            endpoints = {name: runtime.describe() for name, runtime in sorted(self.endpoints.items())}
        return {"ready": self.ready, "load_error": self.load_error, "pid": os.getpid(), "endpoints": endpoints,
                "failed": dict(self.failures), "in_flight": self.in_flight, "capture": self.capture.describe(),
                "metrics": self.metrics.describe()}

    def close(self) -> None:
        """Wait for requests in hand, flush telemetry, stop every serve child."""
        self.closing = True
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        self.flush()
        with self._control:
            for name in list(self.endpoints):
                self._stop_endpoint(name)

    def _record_children(self, extra: Iterable[VariantServer] = ()) -> None:
        """Write the serve pids to ``children.json``, so a gateway killed with SIGKILL leaves nothing behind:
        ``hosting.stop_gateway`` stops what the file lists."""
        with self._lock:
            servers = [s for r in self.endpoints.values() for f in r.fleets() for s in f.servers.values()]
        pids = sorted({s.process.pid for s in [*servers, *extra] if s.process.poll() is None})
        path = self.workdir / "children.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps({"gateway": os.getpid(), "serve_pids": pids}))
        os.replace(staging, path)


# --- HTTP ---------------------------------------------------------------------------------------------------

class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway):
        super().__init__(address, GatewayHandler)
        self.gateway = gateway


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle + delayed ACK would add 40 ms
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):
            self._control(method, path[len(CONTROL_PREFIX):])
            return
        parts = path.split("/")
        if method == "POST" and len(parts) == 4 and parts[1] == "endpoints" and parts[3] == "invocations":
            self._invoke(unquote(parts[2]))
            return
        with contextlib.suppress(GatewayError):
            self._read_body()
        self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"},
                   json.dumps({"message": f"no operation {method} {path}"}).encode(), "application/json")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ValidationError("chunked request bodies are not supported; send Content-Length")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            raise ValidationError(f"the request body of {length} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        return self.rfile.read(length) if length else b""

    def _invoke(self, endpoint: str) -> None:
        gateway = self.server.gateway
        try:
            request = Invocation(endpoint=endpoint, body=self._read_body(),
                                 content_type=self.headers.get("Content-Type", ""),
                                 accept=self.headers.get("Accept", ""),
                                 target_variant=self.headers.get("X-Amzn-SageMaker-Target-Variant"),
                                 custom_attributes=self.headers.get(CUSTOM_ATTRIBUTES),
                                 inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"))
            result = gateway.invoke(request)
        except GatewayError as error:
            status, headers, body = runtime_error_response(error, gateway.account)
            self._send(status, headers, body, "application/json")
            return
        except Exception as error:
            LOG.exception("invocation of %s failed", endpoint)
            status, headers, body = runtime_error_response(GatewayError(f"internal failure: {error}"), gateway.account)
            self._send(status, headers, body, "application/json")
            return
        headers = {VARIANT_HEADER: result.variant, FLEET_HEADER: result.fleet, ROLE_HEADER: result.role}
        if result.answer.custom_attributes:
            headers[CUSTOM_ATTRIBUTES] = result.answer.custom_attributes
        self._send(200, headers, result.answer.body, result.answer.content_type)

    def _control(self, method: str, action: str) -> None:
        try:
            if not self._from_loopback():
                raise ControlError(403, "the control API answers loopback clients only")
            payload = self._json_body()
            answer = self._control_action(method, action, payload)
            self._send(200, {}, json.dumps(answer, default=str).encode(), "application/json")
        except GatewayError as error:
            status, body = control_error_response(error)
            self._send(status, {}, body, "application/json")
        except (ClientError, BotoCoreError) as error:
            status, body = control_error_response(GatewayError(f"the emulator refused a call: {error}"))
            self._send(status, {}, body, "application/json")

    def _control_action(self, method: str, action: str, payload: dict[str, Any]) -> Any:
        gateway = self.server.gateway
        if method == "GET" and action == "status":
            return gateway.status()
        if method != "POST":
            raise ControlError(405 if action in CONTROL_ACTIONS else 404, f"no control action {method} {action}")
        if action == "reload":
            return gateway.reload()
        if action == "flush":
            return gateway.flush()
        if action == "deploy":
            return gateway.deploy(_field(payload, "endpoint"), _field(payload, "endpoint_config"),
                                  payload.get("canary_percent"))
        if action == "promote":
            return gateway.promote(_field(payload, "endpoint"))
        if action == "rollback":
            return gateway.rollback(_field(payload, "endpoint"))
        raise ControlError(404, f"no control action {action!r}; actions: {', '.join(CONTROL_ACTIONS)}")

    def _json_body(self) -> dict[str, Any]:
        raw = self._read_body()
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except ValueError as error:
            raise ControlError(400, f"the body is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise ControlError(400, "the body must be a JSON object")
        return payload

    def _from_loopback(self) -> bool:
        host = self.client_address[0]
        return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")

    def _send(self, status: int, headers: Mapping[str, str], body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


CONTROL_ACTIONS = ("status", "reload", "deploy", "promote", "rollback", "flush")


def _field(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(400, f"{name} must be a non-empty string, got {value!r}")
    return value


# --- process entry point --------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prodline.sandbox.gateway",
                                     description="SageMaker hosting for the sandbox (InvokeEndpoint on loopback).")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--port", type=int, required=True, help="loopback port; 0 picks a free one")
    parser.add_argument("--endpoint-url", required=True, help="the emulator (loopback only)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--workdir", required=True, type=Path, help="models, serve logs, children.json")
    parser.add_argument("--ping-timeout", type=float, default=60.0, help="seconds a fleet has to answer /ping")
    parser.add_argument("--metrics-interval", type=float, default=METRICS_INTERVAL_SECONDS,
                        help="seconds between metric flushes")
    parser.add_argument("--capture-interval", type=float, default=CAPTURE_INTERVAL_SECONDS,
                        help="seconds between capture flushes")
    return parser.parse_args(argv)


def account_of(clients: Clients) -> str:
    """The emulator's account id, for SageMaker-style error messages."""
    try:
        return clients("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError):
        return "123456789012"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    args = parse_args(argv)
    try:
        clients = Clients(require_loopback(args.endpoint_url), args.region)
    except EmulatorError as error:
        LOG.error("%s", error)
        return 2
    for service in ("sagemaker", "s3", "cloudwatch", "sts"):  # created up front: client creation is not thread-safe
        clients(service)
    args.workdir.mkdir(parents=True, exist_ok=True)
    gateway = Gateway(clients, args.workdir.resolve(), account_of(clients), args.ping_timeout)
    try:
        server = GatewayServer((HOST, args.port), gateway)
    except OSError as error:
        LOG.error("cannot listen on %s:%d: %s", HOST, args.port, error)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    LOG.info("gateway for stack %s listening on http://%s:%d", args.stack, HOST, server.server_address[1])
    flushers = [Periodic(args.metrics_interval, gateway.metrics.flush, "metrics-flush"),
                Periodic(args.capture_interval, gateway.capture.flush, "capture-flush")]
    for flusher in flushers:
        flusher.start()
    threading.Thread(target=_initial_load, args=(gateway,), name="initial-load", daemon=True).start()
    while not stop.wait(0.5):
        pass
    LOG.info("stopping: flushing telemetry and stopping serve processes")
    server.shutdown()
    server.server_close()
    for flusher in flushers:
        flusher.stop()
    gateway.close()
    LOG.info("stopped")
    return 0


def _initial_load(gateway: Gateway) -> None:
    try:
        LOG.info("initial load: %s", gateway.reload())
    except Exception as error:
        LOG.exception("initial load from the emulator failed; POST /_prodline/reload to retry")
        gateway.load_error = f"{type(error).__name__}: {error}"
        gateway.ready = True


if __name__ == "__main__":
    sys.exit(main())
