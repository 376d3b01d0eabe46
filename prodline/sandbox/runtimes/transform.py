"""SageMaker Batch Transform, locally: a transform job run by its declared contract against the real server.

moto stores a transform job and calls it Completed at once, scoring nothing. This runtime reads the job back
(``DescribeTransformJob``: model, input, output, strategy, payload bound, concurrency), resolves the model
(``DescribeModel``, and its package's model data), starts the project's ``serve`` on the model as SageMaker
starts the model's container, asks ``GET /execution-parameters`` for what the job leaves unset, then, per
input object: splits it by line into requests of at most ``MaxPayloadInMB`` (MultiRecord) or one record each
(SingleRecord), sends up to ``MaxConcurrentTransforms`` at once on kept-alive connections, and writes
``<object>.out`` (answers assembled by line, encrypted with the output key) under ``S3OutputPath``.

A record longer than the payload bound, a model that cannot be found or started, a container that stops
answering or answers an error: the job is Failed with a reason naming what and where, and nothing of it
is reported as scored. The job's outcome is kept in ``<sandbox>/transform-jobs/<name>.json`` (moto cannot
store it).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prodline.net import LOOPBACK, free_port
from prodline.sandbox import warm_start
from prodline.sandbox.gateway.errors import FleetStartError
from prodline.sandbox.gateway.servers import (
    fetch_model,
    log_tail,
    pings,
    serve_command,
    serve_environment,
    stop_process_group,
)
from prodline.sandbox.paths import ROOT
from workloads.s3_uri import split_s3

MB = 1024 * 1024
COMPLETED, FAILED = "Completed", "Failed"
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 600.0


class TransformFailed(RuntimeError):
    """The job cannot go on; the message is the job's FailureReason."""


@dataclass
class TransformResult:
    job_name: str
    model_name: str
    status: str = COMPLETED
    failure_reason: str = ""
    records: int = 0
    requests: int = 0
    largest_request_bytes: int = 0
    most_in_flight: int = 0
    outputs: list[str] = field(default_factory=list)
    contract: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Contract:
    """What the job (or, where it says nothing, the container) decides about the requests."""

    strategy: str
    max_payload_bytes: int
    concurrency: int
    split: str
    content_type: str
    accept: str
    assemble: str


class ModelServer:
    """The model's container: ``serve`` on a loopback port, started warm; ``url`` while it runs."""

    def __init__(self, model_dir: Path, log_path: Path, workers: int, max_payload_mb: int):
        self.port = free_port()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        env = {**serve_environment(model_dir, self.port), "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
               "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(max_payload_mb)}
        self.process = warm_start.start(serve_command(), env=env, cwd=ROOT, stdout=log_path, session=True)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not pings(self.port):
            if self.process.poll() is not None:
                raise TransformFailed(f"the model container exited with code {self.process.returncode} before "
                                      f"answering /ping: {log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise TransformFailed(f"the model container did not answer /ping within {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        stop_process_group(self.process)


def execution_parameters(port: int) -> dict[str, Any]:
    """The container's answer to ``GET /execution-parameters``; {} when it has none (SageMaker's defaults apply)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", "/execution-parameters")
        response = connection.getresponse()
        body = response.read()
        return json.loads(body) if response.status == 200 else {}
    except (OSError, ValueError):
        return {}
    finally:
        connection.close()


def contract_of(job: dict[str, Any], container: dict[str, Any]) -> Contract:
    """The job's settings, the container's where the job has none, SageMaker's defaults last."""
    transform_input, output = job["TransformInput"], job["TransformOutput"]
    strategy = job.get("BatchStrategy") or {"MULTI_RECORD": "MultiRecord", "SINGLE_RECORD": "SingleRecord"}.get(
        container.get("BatchStrategy", ""), "MultiRecord")
    payload_mb = job.get("MaxPayloadInMB") or container.get("MaxPayloadInMB") or 6
    concurrency = job.get("MaxConcurrentTransforms") or container.get("MaxConcurrentTransforms") or 1
    return Contract(strategy=strategy, max_payload_bytes=int(payload_mb) * MB, concurrency=int(concurrency),
                    split=transform_input.get("SplitType", "None"),
                    content_type=transform_input.get("ContentType", "text/csv"),
                    accept=output.get("Accept") or transform_input.get("ContentType", "text/csv"),
                    assemble=output.get("AssembleWith", "None"))


def payloads(data: bytes, contract: Contract) -> Iterator[tuple[bytes, int]]:
    """(request body, records in it): by line, each body within the payload bound (MultiRecord packs lines)."""
    if contract.split != "Line":
        if len(data) > contract.max_payload_bytes:
            raise TransformFailed(f"an object of {len(data)} bytes exceeds MaxPayloadInMB "
                                  f"({contract.max_payload_bytes // MB}) and SplitType is None")
        yield data, 1
        return
    limit = contract.max_payload_bytes
    start, size = 0, len(data)
    while start < size:
        if contract.strategy == "SingleRecord":
            end = data.find(b"\n", start)
            end = size if end < 0 else end + 1
        else:
            end = min(start + limit, size)
            if end < size:
                cut = data.rfind(b"\n", start, end)
                if cut < 0:
                    raise TransformFailed(f"a record at byte {start} is longer than MaxPayloadInMB "
                                          f"({limit // MB}); records must fit one request")
                end = cut + 1
        chunk = data[start:end]
        if len(chunk) > limit:
            raise TransformFailed(f"a record at byte {start} is longer than MaxPayloadInMB ({limit // MB})")
        records = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        if chunk.strip():
            yield chunk, records
        start = end


class Sender:
    """Keep-alive connections, one per sending thread, to the model's port; counts what is in flight."""

    def __init__(self, port: int, contract: Contract):
        self.port, self.contract = port, contract
        self.local = threading.local()
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def send(self, body: bytes) -> bytes:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self._post(body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _post(self, body: bytes) -> bytes:
        """One request; a kept-alive connection the server has closed meanwhile (its idle timeout) is replaced
        once, as HTTP clients do: the request never reached the model, so sending it again scores nothing twice."""
        attempts = 2 if getattr(self.local, "connection", None) is not None else 1
        for attempt in range(attempts):
            try:
                return self._exchange(body)
            except OSError as error:
                self.local.connection = None
                if attempt == attempts - 1:
                    raise TransformFailed(f"the model container stopped answering "
                                          f"({type(error).__name__}: {error})") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _exchange(self, body: bytes) -> bytes:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(LOOPBACK, self.port,
                                                                            timeout=REQUEST_TIMEOUT)
        connection.request("POST", "/invocations", body=body,
                           headers={"Content-Type": self.contract.content_type, "Accept": self.contract.accept})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise TransformFailed(f"the model container answered {response.status}: "
                                  f"{answer[:300].decode(errors='replace')}")
        return answer


def resolve_model_data(sm, model_name: str) -> str:
    """model.tar.gz of a SageMaker model: its container's ModelDataUrl, or its model package's."""
    try:
        container = sm.describe_model(ModelName=model_name).get("PrimaryContainer", {})
    except ClientError as error:
        raise TransformFailed(f"model {model_name} cannot be found ({_reason(error)}); "
                              "was it deleted or never created?") from None
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    package = container.get("ModelPackageName")
    if not package:
        raise TransformFailed(f"model {model_name} names neither model data nor a model package")
    try:
        described = sm.describe_model_package(ModelPackageName=package)
    except ClientError as error:
        raise TransformFailed(f"model {model_name}: its model package {package} cannot be read "
                              f"({_reason(error)})") from None
    return described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]


def _reason(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message") or error.response.get("Error", {}).get("Code", "error")


def run_transform_job(clients, job_name: str, workdir: Path,
                      on_server: Callable[[ModelServer], None] | None = None) -> TransformResult:
    """Run the job the emulator holds; never raises for the job's own failure (see ``TransformResult.status``).

    ``on_server`` is called once the model's container answers (tests stop it there, as a model that stops)."""
    sm, s3 = clients("sagemaker"), clients("s3")
    job = sm.describe_transform_job(TransformJobName=job_name)
    result = TransformResult(job_name, job["ModelName"])
    started = time.monotonic()
    server: ModelServer | None = None
    try:
        url = resolve_model_data(sm, job["ModelName"])
        try:
            model_dir = fetch_model(s3, url, workdir / "models")
        except FleetStartError as error:
            raise TransformFailed(f"model {job['ModelName']}: {error}") from None
        wanted = job.get("MaxConcurrentTransforms") or 1
        server = ModelServer(model_dir, workdir / "transform-jobs" / f"{job_name}.serve.log",
                             workers=max(1, min(int(wanted), 2)), max_payload_mb=int(job.get("MaxPayloadInMB") or 6))
        server.wait_healthy()
        if on_server:
            on_server(server)
        contract = contract_of(job, execution_parameters(server.port))
        result.contract = asdict(contract)
        _transform_objects(s3, job, contract, Sender(server.port, contract), result)
    except TransformFailed as error:
        result.status, result.failure_reason = FAILED, f"{job_name}: {error}"
        result.outputs = []
    finally:
        if server is not None:
            server.stop()
        result.seconds = round(time.monotonic() - started, 3)
        _save(workdir, result)
    return result


def _transform_objects(s3, job: dict, contract: Contract, sender: Sender, result: TransformResult) -> None:
    source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    output = job["TransformOutput"]
    bucket, prefix = split_s3(source)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    if not keys:
        raise TransformFailed(f"no input objects under {source}")
    out_bucket, out_prefix = split_s3(output["S3OutputPath"])
    base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output["KmsKeyId"]} if output.get("KmsKeyId") else {}
    with ThreadPoolExecutor(max_workers=contract.concurrency, thread_name_prefix="transform") as pool:
        for key in keys:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            requests = list(payloads(data, contract))
            answers = list(pool.map(sender.send, [body for body, _ in requests]))
            joined = assemble(answers, contract.assemble)
            target = "/".join(p.strip("/") for p in (out_prefix, key[len(base):] + ".out") if p.strip("/"))
            s3.put_object(Bucket=out_bucket, Key=target, Body=joined, **extra)
            result.records += sum(n for _, n in requests)
            result.requests += len(requests)
            result.largest_request_bytes = max([result.largest_request_bytes, *(len(b) for b, _ in requests)])
            result.outputs.append(f"s3://{out_bucket}/{target}")
    result.most_in_flight = sender.most_in_flight


def assemble(answers: list[bytes], assemble: str) -> bytes:
    if assemble != "Line":
        return b"".join(answers)
    return b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers if a)


def _save(workdir: Path, result: TransformResult) -> None:
    path = workdir / "transform-jobs" / f"{result.job_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result), indent=1))


def load(workdir: Path, job_name: str) -> dict[str, Any] | None:
    """The recorded outcome of a job this sandbox ran (status, failure reason, counts)."""
    path = workdir / "transform-jobs" / f"{job_name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
