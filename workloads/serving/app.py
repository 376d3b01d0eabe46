"""One worker's application: routes requests, scores them in batches, answers in order, keeps its
connections within bounds and shuts down gracefully.

Requests are not scored the moment they are parsed: each is queued, and once the event loop has read
every connection that was ready, one ``flush`` scores all queued requests in a single model call and
answers them in order. A lone request waits for nothing (the flush runs straight after its read); under
concurrent load, requests that arrived together share one call, whose fixed cost dominates a row's.

Connections: at most ``max_connections`` per worker. When a new one arrives at the limit, the longest-idle
connection (between requests, nothing owed to it) is closed to make room, so idle connections can never
lock clients out; when none is idle, the newcomer gets 503 with Retry-After and is closed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING

from workloads.serving import protocol
from workloads.serving.connection import LINGER_SECONDS, Connection
from workloads.serving.errors import MethodNotAllowed, NotFound, RequestError, error_response
from workloads.serving.settings import MB, ServerSettings

if TYPE_CHECKING:  # the handler imports numpy, which must wait until the thread pools are pinned
    from workloads.serving.capture import Capture
    from workloads.serving.handler import Scoring
    from workloads.serving.metrics import RequestMetrics

INFERENCE_ID = b"x-amzn-sagemaker-inference-id"


@dataclass(slots=True)
class Job:
    """A parsed request waiting for its answer; answers are written in arrival order."""

    connection: Connection
    keep_alive: bool
    http10: bool = False
    head: bool = False
    scoring: Scoring | None = None
    response: tuple[int, bytes, str] | None = None
    arrived: float = 0.0
    """When it was read (monotonic), kept only when the worker reports metrics."""
    capture: tuple | None = None
    """(body, content type, inference id) when the worker captures data."""


class App:
    """Shared by one worker's connections."""

    def __init__(self, model, settings: ServerSettings, loop: asyncio.AbstractEventLoop):
        from workloads.serving import handler

        self.model, self.settings, self.loop = model, settings, loop
        self.prepare, self.score_together = handler.prepare, handler.score_together
        self.connections: set[Connection] = set()
        self.closing: set[Connection] = set()
        self.queue: list[Job] = []
        self.flush_scheduled = False
        self.stopping = False
        # Set by the server when configured (off SageMaker): request metrics and data capture.
        self.metrics: RequestMetrics | None = None
        self.capture: Capture | None = None
        self.execution_parameters = json.dumps({"MaxConcurrentTransforms": settings.workers,
                                                "BatchStrategy": "MULTI_RECORD",
                                                "MaxPayloadInMB": settings.max_body_bytes // MB}).encode()
        shortest = min(settings.header_timeout, settings.body_timeout, settings.keepalive_timeout, LINGER_SECONDS)
        self.sweep_interval = min(1.0, max(0.05, shortest / 4))
        self.sweeper = loop.call_later(self.sweep_interval, self.sweep)

    # requests

    def submit(self, connection: Connection, keep_alive: bool, body: bytes) -> None:
        """Queue the request the connection has just read (its method, target and headers are on it)."""
        url, headers, method = connection.url, connection.headers, connection.parser.get_method()
        job = Job(connection, keep_alive, connection.version == "1.0")
        if self.metrics is not None:
            job.arrived = monotonic()
        query = url.find(b"?")
        path = url if query < 0 else url[:query]
        if not path.startswith(b"/") and b"://" in path:  # absolute form: http://host/path
            rest = path.split(b"://", 1)[1]
            path = rest[rest.find(b"/"):] if b"/" in rest else b"/"
        if path == b"/invocations" and method == b"POST":
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            job.scoring = self.prepare(body, content_type, headers.get(b"accept", b"").decode("latin-1"))
            if self.capture is not None:
                job.capture = (body, content_type, headers.get(INFERENCE_ID))
        else:
            job.head = method == b"HEAD"
            job.response = self.route(method.decode("latin-1"), path.decode("latin-1"))
        self.enqueue(job)

    def enqueue_error(self, connection: Connection, error: BaseException) -> None:
        status, _, body = error_response(error)
        self.enqueue(Job(connection, keep_alive=False, response=(status, body, protocol.JSON),
                         arrived=monotonic() if self.metrics is not None else 0.0))

    def enqueue(self, job: Job) -> None:
        job.connection.pending += 1
        self.queue.append(job)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def route(self, method: str, path: str) -> tuple[int, bytes, str]:
        """Everything but scoring: health, batch parameters, and the 404/405 answers."""
        try:
            if path in ("/ping", "/execution-parameters"):
                if method not in ("GET", "HEAD"):
                    raise MethodNotAllowed(f"{method} {path}: use GET")
                answer = b'{"status": "healthy"}' if path == "/ping" else self.execution_parameters
                return 200, answer, protocol.JSON
            if path == "/invocations":
                raise MethodNotAllowed(f"{method} {path}: use POST")
            raise NotFound(f"no route {path[:200]!r}; the server answers /ping and /invocations")
        except RequestError as error:
            status, _, answer = error_response(error)
            return status, answer, protocol.JSON

    def flush(self) -> None:
        self.flush_scheduled = False
        jobs, self.queue = self.queue, []
        scored = [job for job in jobs if job.scoring is not None]
        if scored:
            for job, response in zip(scored, self.score_together(self.model, [j.scoring for j in scored]), strict=True):
                job.response = response
        response_bytes, stopping, metrics = protocol.response_bytes, self.stopping, self.metrics
        done = monotonic() if metrics is not None else 0.0
        for job in jobs:
            connection = job.connection
            status, answer, content_type = job.response
            if metrics is not None and (job.scoring is not None or status >= 400):  # not the health checks
                metrics.record(status, (done - job.arrived) * 1e6)
            if job.capture is not None and status < 300:
                self.capture.add(*job.capture, answer, content_type)
            # Stopping: the last answer owed on a connection between requests closes it.
            keep_alive = job.keep_alive and not (stopping and connection.pending == 1 and connection.is_between())
            connection.send(response_bytes(status, content_type, b"" if job.head else answer, keep_alive, job.http10),
                            keep_alive)
        if stopping:
            self.close_idle()

    # connections

    def admit(self, connection: Connection) -> bool:
        """Room for a new connection: under the limit, or by closing the longest-idle one."""
        if len(self.connections) >= self.settings.max_connections:
            idle = [c for c in self.connections if c.is_idle()]
            if not idle or len(self.closing) >= self.settings.max_connections:
                return False
            oldest = min(idle, key=lambda c: c.since)
            self.connections.discard(oldest)
            oldest.close()
        self.connections.add(connection)
        return True

    def lingering(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.closing.add(connection)

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.closing.discard(connection)
        self.maybe_finish()

    def sweep(self) -> None:
        self.sweeper = self.loop.call_later(self.sweep_interval, self.sweep)
        now = monotonic()
        for connection in [*self.connections, *self.closing]:
            connection.expire(now)

    # shutdown

    def begin_shutdown(self, server: asyncio.Server) -> None:
        if self.stopping:
            return
        self.stopping = True
        server.close()
        self.close_idle()
        self.loop.call_later(self.settings.grace_seconds, self._force_close)
        self.maybe_finish()

    def close_idle(self) -> None:
        for connection in list(self.connections):
            if connection.is_idle():
                connection.close()

    def maybe_finish(self) -> None:
        if self.stopping and not self.connections and not self.closing:
            self.loop.stop()

    def _force_close(self) -> None:
        for connection in [*self.connections, *self.closing]:
            connection.close()
        self.loop.stop()
