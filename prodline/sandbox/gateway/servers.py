"""Model artifacts and the ``serve`` processes that host them: one process per production variant.

SageMaker runs the model's container; the sandbox runs the project's ``serve`` entry point (the same container
contract: ``SM_MODEL_DIR``, ``SAGEMAKER_BIND_TO_PORT``, ``GET /ping``, ``POST /invocations``) on a free loopback
port, in its own session so stopping it stops its children too. Everything that talks to one of those processes
lives here, so the fleet and the gateway only ever see ``VariantServer`` and ``ContainerAnswer``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prodline.net import LOOPBACK, free_port
from prodline.sandbox import warm_start
from prodline.sandbox.gateway.declared import VariantSpec
from prodline.sandbox.gateway.errors import FleetStartError, ModelError
from prodline.sandbox.paths import ROOT
from prodline.sandbox.runtimes.containers import ONE_THREAD
from prodline.sandbox.warm_start import WarmProcess
from workloads.archives import extract_tar
from workloads.s3_uri import split_s3

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def fetch_model(s3, url: str, models_dir: Path) -> Path:
    """Download and extract model.tar.gz once per (URL, ETag): fleets of the same artifact share the directory."""
    try:
        bucket, key = split_s3(url, object_key=True)
    except ValueError:
        raise FleetStartError(f"model data URL {url!r} is not an s3://bucket/key URL") from None
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
        extract_tar(archive, staging)
    except (tarfile.TarError, OSError) as error:
        raise FleetStartError(f"the model artifact {url} is not a readable tar.gz: {error}") from None
    finally:
        archive.unlink(missing_ok=True)
    os.replace(staging, target)
    return target


def serve_command() -> list[str]:
    """What the image's ``serve`` script runs (``workloads.serving.server``'s main), as a Python command line, so
    the sandbox can start it from its warm interpreter (``prodline.sandbox.warm_start``)."""
    return [sys.executable, "-m", "workloads.serving.server"]


def serve_environment(model_dir: Path, port: int, model_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The model's Environment, then SageMaker's container settings; one worker with one BLAS/OpenMP thread: a
    2-core laptop hosts many."""
    return {**os.environ, **(model_env or {}), "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "PRODLINE_SERVER_HOST": LOOPBACK, "PRODLINE_SERVER_THREADS": "1",
            "PRODLINE_SHUTDOWN_GRACE_SECONDS": "5", **ONE_THREAD}


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
    process: subprocess.Popen | WarmProcess
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
    env = serve_environment(model_dir, port, dict(variant.environment))
    process = warm_start.start(serve_command(), env=env, cwd=ROOT, stdout=log_path,
                               session=True)
    return VariantServer(variant, port, process, log_path, Sampler(capture_percent))


def pings(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=1)
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
    stop_process_group(server.process, grace)


def stop_process_group(process, grace: float = 10.0) -> None:
    """SIGTERM a server's process group (it finishes the request in hand), SIGKILL what is left."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)


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


def call_container(port: int, request: Invocation, timeout: float) -> ContainerAnswer:
    """POST /invocations to the variant's serve; ModelError (original status 0) when it cannot answer."""
    headers = {k: v for k, v in (("Content-Type", request.content_type), ("Accept", request.accept),
                                 (CUSTOM_ATTRIBUTES, request.custom_attributes)) if v}
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
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
