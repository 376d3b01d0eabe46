"""Shared test helpers: run programs under the recording mocks and pick registrations apart."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from prodline.net import free_port
from prodline.program import Registration, record, run_program
from prodline.sandbox.processes import terminate_group
from tests.shared_results import once_per_session

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev", "staging", "prod")
OWNERSHIP_TAGS = ("owner", "cost-center", "environment", "project", "managed-by")
ON_KUBERNETES = "prodline:servingPlatform=kubernetes"
# Shaped like image digests; no registry holds them (the program only checks their format).
IMAGE_DIGEST, CANARY_IMAGE_DIGEST = "sha256:" + "1" * 64, "sha256:" + "2" * 64
# Kubernetes serving with a canary, both images named by digest (overrides for stack_registrations).
PINNED_K8S = (ON_KUBERNETES, f"prodline:k8sImageDigest={IMAGE_DIGEST}", "prodline:k8sIngressHost=churn.example.com",
              "prodline:k8sCanaryImageTag=0.2.0", f"prodline:k8sCanaryImageDigest={CANARY_IMAGE_DIGEST}")


def run_python(*args: str, stdin: str | None = None, check: bool = True, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """``python ARGS`` in a fresh interpreter, from the repository's root with it first on the path: what a
    command or an import does in a process of its own (``env`` replaces this process's environment)."""
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env={**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)}, timeout=timeout,
                          check=check)


@cache
def _stack(stack: str, overrides: tuple[str, ...]) -> tuple[Registration, ...]:
    return once_per_session(json.dumps(["program", stack, overrides]), lambda: tuple(run_program(stack, overrides)))


def stack_registrations(stack: str, *overrides: str) -> list[Registration]:
    """The whole program's registrations for a shipped stack (cached: the program is deterministic)."""
    return list(_stack(stack, overrides))


def component_registrations(build, stack: str = "test") -> list[Registration]:
    """Run a function that declares components under the recording mocks."""
    return record(build, stack=stack)


def of_type(registrations: list[Registration], type_token: str) -> list[Registration]:
    return [r for r in registrations if r.type == type_token]


def named(registrations: list[Registration], name: str) -> Registration:
    matches = [r for r in registrations if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
    return matches[0]


def statements(policy: Any) -> list[dict[str, Any]]:
    """Statements of a policy document given as JSON text or a dict."""
    doc = json.loads(policy) if isinstance(policy, str) else policy
    found = doc["Statement"]
    return found if isinstance(found, list) else [found]


def trust_condition(role: Registration) -> dict[str, Any]:
    """The Condition of a role's one trust statement (the confused-deputy conditions of a service role)."""
    (statement,) = statements(role.inputs["assumeRolePolicy"])
    return statement["Condition"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


LAKE_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/lake"
SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def fake_lake_refs():
    """LakeRefs with fixed names, for components tested without a DataLake (call inside a program)."""
    import pulumi

    from components.data_lake import ZONES, LakeRefs

    return LakeRefs(
        bucket_names={zone: pulumi.Output.from_input(f"bucket-{zone}") for zone in ZONES},
        bucket_arns={zone: pulumi.Output.from_input(f"arn:aws:s3:::bucket-{zone}") for zone in ZONES},
        key_arn=pulumi.Output.from_input(LAKE_KEY_ARN),
        database_name=pulumi.Output.from_input("prodline_test"),
    )


def wildcard_actions(policy) -> list[str]:
    """Every action in a policy document that contains a wildcard."""
    return [a for s in statements(policy) for a in as_list(s.get("Action", [])) if "*" in a]


@contextlib.contextmanager
def reaped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``with reaped(subprocess.Popen(...)) as process:`` a process still running when the block ends (the test
    failed before it stopped it) is killed and waited for, so no test leaves one behind."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serving_in_thread(server):
    """A socketserver serving from a thread of this process until the block ends, then stopped and closed.

    serve_forever looks for shutdown() once per poll interval, half a second by default, which every test that
    stops a server would otherwise wait out."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server of the test's own on a free loopback port (never 4566, which a running sandbox may hold)."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    assert server is not None, "moto_server is not installed (pip install 'moto[server]')"
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # an HTTP answer: the server is up
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.05)
        yield url
    finally:
        terminate_group(process.pid, timeout=10)


def unhosted_endpoint(sagemaker, name: str) -> None:
    """An endpoint as the emulator stores one (model, endpoint config, endpoint), with nothing serving it."""
    sagemaker.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/serving",
                           PrimaryContainer={"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/serve:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
