"""The gateway itself: the endpoints it hosts, how a request reaches a container, and every lifecycle change.

``Gateway`` is what the HTTP front calls. It owns the running endpoints (each an ``EndpointRuntime`` of one or
two fleets), the failures of those that could not start, and the telemetry buffers. It converges on the
emulator on ``reload``, starts an endpoint on first use, and drives blue/green deployments (deploy, promote,
rollback) for the deployment runtime. It records the pids of its ``serve`` children in ``children.json``, so
``prodline.sandbox.hosting`` can stop them even after the gateway was killed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prodline.sandbox.clients import Clients
from prodline.sandbox.gateway.declared import ConfigSpec, endpoint_config_name, live_endpoints, read_config
from prodline.sandbox.gateway.errors import (
    ControlError,
    EndpointMissing,
    FleetStartError,
    GatewayError,
    ServiceUnavailable,
    ValidationError,
)
from prodline.sandbox.gateway.fleet import EndpointRuntime, Fleet
from prodline.sandbox.gateway.front_door import FrontDoor
from prodline.sandbox.gateway.servers import (
    ContainerAnswer,
    Invocation,
    VariantServer,
    call_container,
    fetch_model,
    model_error,
    start_server,
    stop_server,
    wait_healthy,
)
from prodline.sandbox.gateway.telemetry import CaptureBuffer, MetricsBuffer, capture_record
from prodline.sandbox.processes import start_time

LOG = logging.getLogger(__name__)

CONTAINER_TIMEOUT_SECONDS = 60.0  # SageMaker's invocation timeout
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class InvocationResult:
    answer: ContainerAnswer
    variant: str
    fleet: str
    role: str


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
        self.front_door = FrontDoor(clients("apigateway"), clients("logs"), self.invoke_for_front_door)

    # requests

    def invoke_for_front_door(self, endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """The front door's AWS integration: InvokeEndpoint with the headers the integration passes on."""
        result = self.invoke(Invocation(endpoint=endpoint, body=body, content_type=headers.get("Content-Type", ""),
                                        accept=headers.get("Accept", ""), target_variant=None, custom_attributes=None,
                                        inference_id=headers.get("X-Amzn-SageMaker-Inference-Id")))
        return 200, result.answer.body, result.answer.content_type

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
            self.front_door.reload()
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
        return {"capture_records": self.capture.flush(), "metric_data": self.metrics.flush(),
                "access_log_lines": self.front_door.flush()}

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
        serve = [{"pid": pid, "started": start_time(pid)} for pid in pids]
        path = self.workdir / "children.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps({"gateway": os.getpid(), "serve": serve}))
        os.replace(staging, path)
