"""``serve``: the HTTP server of SageMaker's container contract, built for per-request speed.

  GET  /ping                   200 once the model is loaded (it is loaded before the port opens)
  POST /invocations            score the body (see payloads for the formats)
  GET  /execution-parameters   batch transform's tuning hints

Settings (environment, or the matching option): SM_MODEL_DIR (/opt/ml/model), SAGEMAKER_BIND_TO_PORT (8080),
SAGEMAKER_MODEL_SERVER_WORKERS (worker processes; default one per CPU), SAGEMAKER_MAX_PAYLOAD_IN_MB (6),
PRODLINE_SERVER_HOST (0.0.0.0), PRODLINE_SERVER_THREADS (1), PRODLINE_SHUTDOWN_GRACE_SECONDS (20).

Design: a pre-fork server. The parent loads the model (so a bad model fails at start, not per request)
and forks the workers, which share the model's memory copy-on-write. Each worker listens on the port with
SO_REUSEPORT, so the kernel spreads connections evenly; on one shared socket, the first worker to wake
takes a whole burst of new connections and leaves the others idle. Each worker is one asyncio event loop
with a minimal HTTP/1.1 parser (keep-alive, pipelining, Expect: 100-continue, Content-Length bodies) that
scores in place: scoring is CPU-bound, so one process per core with no thread hand-off is the fastest
arrangement. OpenMP/BLAS pools are pinned to one thread per
worker, or workers and library threads fight over the cores. SIGTERM (or SIGINT) stops accepting, closes
idle connections, lets every worker finish the request in hand, and exits 0; a worker that dies is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workloads.serving.errors import (
    HeadersTooLarge,
    LengthRequired,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestError,
    error_response,
)

if TYPE_CHECKING:  # the handler imports numpy, which must wait until the thread pools are pinned
    from workloads.serving.handler import Scoring

LOG = logging.getLogger("workloads.serving")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
MAX_HEADER_BYTES = 64 * 1024
CRASH_WINDOW_SECONDS = 5.0
MAX_QUICK_CRASHES = 3


@dataclass(frozen=True)
class ServerSettings:
    model_dir: str
    host: str
    port: int
    workers: int
    threads: int
    max_body_bytes: int
    grace_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str], argv: Sequence[str] = ()) -> ServerSettings:
        parser = argparse.ArgumentParser(prog="serve", description="Serve the churn model (SageMaker contract).")
        parser.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "/opt/ml/model"))
        # A container listens on all its interfaces; tests and benchmarks pass 127.0.0.1.
        parser.add_argument("--host", default=env.get("PRODLINE_SERVER_HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=int(env.get("SAGEMAKER_BIND_TO_PORT", "8080")))
        parser.add_argument("--workers", type=int,
                            default=int(env.get("SAGEMAKER_MODEL_SERVER_WORKERS") or os.cpu_count() or 1))
        args = parser.parse_args(list(argv))
        settings = cls(model_dir=args.model_dir, host=args.host, port=args.port, workers=args.workers,
                       threads=int(env.get("PRODLINE_SERVER_THREADS", "1")),
                       max_body_bytes=int(float(env.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")) * 1024 * 1024),
                       grace_seconds=float(env.get("PRODLINE_SHUTDOWN_GRACE_SECONDS", "20")))
        if settings.workers < 1:
            raise ValueError(f"workers must be >= 1, got {settings.workers}")
        if not 0 <= settings.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {settings.port}")
        return settings


def parse_head(buffer: bytes | bytearray) -> tuple[str, str, str, dict[str, str], int] | None:
    """(method, target, version, lower-cased headers, head length), or None while the head is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end > MAX_HEADER_BYTES or (end < 0 and len(buffer) > MAX_HEADER_BYTES):
        raise HeadersTooLarge(f"request head exceeds {MAX_HEADER_BYTES} bytes")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedRequest(f"malformed request line {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MalformedRequest(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers, end + 4


def body_length(headers: Mapping[str, str], limit: int) -> int:
    if "transfer-encoding" in headers:
        raise LengthRequired("chunked request bodies are not supported; send Content-Length")
    text = headers.get("content-length", "0")
    if not text.isdigit():
        raise MalformedRequest(f"Content-Length must be a non-negative integer, got {text[:40]!r}")
    length = int(text)
    if length > limit:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the limit of {limit} bytes")
    return length


def wants_keep_alive(version: str, headers: Mapping[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    return connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"


def response_bytes(status: int, content_type: str, body: bytes, keep_alive: bool) -> bytes:
    phrase = http.HTTPStatus(status).phrase
    close = b"" if keep_alive else b"Connection: close\r\n"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (status, phrase.encode(), content_type.encode(), len(body), close)) + body


@dataclass
class Job:
    """A parsed request waiting for its answer; answers are written in arrival order."""

    connection: Connection
    keep_alive: bool
    head: bool = False
    scoring: Scoring | None = None
    response: tuple[int, bytes, str] | None = None


class App:
    """Routes requests to the handler and writes the answers; one per worker, shared by its connections.

    Requests are not scored the moment they are parsed: each is queued, and once the event loop has read
    every connection that was ready, one ``flush`` scores all queued requests in a single model call and
    answers them in order. A lone request waits for nothing (the flush runs straight after its read); under
    concurrent load, requests that arrived together share one call, whose fixed cost dominates a row's.
    """

    def __init__(self, model, settings: ServerSettings):
        from workloads.serving import handler

        self.model, self.settings = model, settings
        self.prepare, self.score_together = handler.prepare, handler.score_together
        self.connections: set[Connection] = set()
        self.queue: list[Job] = []
        self.flush_scheduled = False
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.execution_parameters = json.dumps({"MaxConcurrentTransforms": settings.workers,
                                                "BatchStrategy": "MULTI_RECORD",
                                                "MaxPayloadInMB": settings.max_body_bytes // (1024 * 1024)}).encode()

    def submit(self, job: Job, method: str, target: str, headers: Mapping[str, str], body: bytes) -> None:
        path = target.split("?", 1)[0]
        if path == "/invocations" and method == "POST":
            job.scoring = self.prepare(body, headers.get("content-type", ""), headers.get("accept", ""))
        else:
            job.head = method == "HEAD"
            job.response = self.route(method, path)
        self.enqueue(job)

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
                return 200, answer, "application/json"
            if path == "/invocations":
                raise MethodNotAllowed(f"{method} {path}: use POST")
            raise NotFound(f"no route {path!r}; the server answers /ping and /invocations")
        except Exception as error:
            status, _, answer = error_response(error)
            return status, answer, "application/json"

    def flush(self) -> None:
        self.flush_scheduled = False
        jobs, self.queue = self.queue, []
        scored = [job for job in jobs if job.scoring is not None]
        if scored:
            for job, response in zip(scored, self.score_together(self.model, [j.scoring for j in scored]), strict=True):
                job.response = response
        for job in jobs:
            job.connection.pending -= 1
            status, answer, content_type = job.response
            keep_alive = job.keep_alive and not self.stopping
            job.connection.send(response_bytes(status, content_type, b"" if job.head else answer, keep_alive),
                                keep_alive)
        if self.stopping:
            self.close_idle()

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
            if not connection.buffer and not connection.pending:
                connection.close()

    def maybe_finish(self) -> None:
        if self.stopping and not self.connections and self.loop is not None:
            self.loop.stop()

    def _force_close(self) -> None:
        for connection in list(self.connections):
            connection.close()
        self.loop.stop()


class Connection(asyncio.Protocol):
    """One client connection: parse requests as bytes arrive and hand them to the App in order."""

    def __init__(self, app: App):
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.continue_sent = False
        self.pending = 0
        self.last_request_seen = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.app.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.app.connections.discard(self)
        self.transport = None
        self.app.maybe_finish()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.last_request_seen:
            return  # the client asked to close (or sent garbage): nothing after that is read
        self.buffer += data
        while self.buffer:
            try:
                head = parse_head(self.buffer)
                if head is None:
                    return
                method, target, version, headers, head_length = head
                length = body_length(headers, self.app.settings.max_body_bytes)
            except RequestError as error:
                status, _, answer = error_response(error)
                self.last_request_seen = True
                self.buffer.clear()
                self.app.enqueue(Job(self, keep_alive=False, response=(status, answer, "application/json")))
                return
            if len(self.buffer) < head_length + length:
                if headers.get("expect", "").lower() == "100-continue" and not self.continue_sent:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    self.continue_sent = True
                return
            body = bytes(self.buffer[head_length:head_length + length])
            del self.buffer[:head_length + length]
            self.continue_sent = False
            keep_alive = wants_keep_alive(version, headers) and not self.app.stopping
            self.app.submit(Job(self, keep_alive=keep_alive), method, target, headers, body)
            if not keep_alive:
                self.last_request_seen = True
                self.buffer.clear()
                return


def pin_threads(count: int) -> None:
    """Limit OpenMP/BLAS pools; effective for libraries not yet loaded (call before importing numpy)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(count)


def serve_on(sock: socket.socket, model, settings: ServerSettings) -> None:
    """Run one worker's event loop on an open listening socket until SIGTERM/SIGINT."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(settings.threads)
    app = App(model, settings)
    loop = asyncio.new_event_loop()
    app.loop = loop
    server = loop.run_until_complete(loop.create_server(lambda: Connection(app), sock=sock))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.begin_shutdown, server)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


def run(settings: ServerSettings) -> int:
    pin_threads(settings.threads)
    from workloads.serving.handler import model_fn

    model = model_fn(settings.model_dir)
    LOG.info("serving %s on %s:%d with %d worker(s)", settings.model_dir, settings.host, settings.port,
             settings.workers)
    if settings.workers == 1:
        serve_on(listen(settings, reuse_port=False), model, settings)
        return 0
    per_worker = hasattr(socket, "SO_REUSEPORT") and settings.port != 0
    if per_worker:
        check_port_free(settings)
    shared = None if per_worker else listen(settings, reuse_port=False)
    return supervise(shared, model, settings)


def check_port_free(settings: ServerSettings) -> None:
    """Fail now if anything holds the port. SO_REUSEPORT would otherwise let a second server of the same
    user share the port silently, each answering part of the traffic."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}") from None


def listen(settings: ServerSettings, *, reuse_port: bool) -> socket.socket:
    return socket.create_server((settings.host, settings.port), backlog=2048, reuse_port=reuse_port)


def supervise(shared: socket.socket | None, model, settings: ServerSettings) -> int:
    """Fork the workers, replace any that die, and on SIGTERM/SIGINT stop them within the grace period.

    ``shared`` is the one listening socket every worker accepts on, or None: each worker then opens its own
    with SO_REUSEPORT (Linux balances connections across them)."""
    children: dict[int, float] = {}
    stopping: list[float] = []

    def stop(signum, frame) -> None:
        if not stopping:
            stopping.append(time.monotonic() + settings.grace_seconds + 2)
            for pid in children:
                _signal(pid, signal.SIGTERM)

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                serve_on(shared or listen(settings, reuse_port=True), model, settings)
            except BaseException:
                LOG.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(settings.workers):
        spawn()
    quick_crashes, code = 0, 0
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            if stopping and time.monotonic() > stopping[0]:
                for child in children:
                    _signal(child, signal.SIGKILL)
            time.sleep(0.1)
            continue
        started = children.pop(pid, time.monotonic())
        if stopping:
            continue
        LOG.warning("worker %d exited (status %d); starting another", pid, status)
        quick_crashes = quick_crashes + 1 if time.monotonic() - started < CRASH_WINDOW_SECONDS else 0
        if quick_crashes >= MAX_QUICK_CRASHES:
            LOG.error("workers keep failing at start; stopping")
            code = 1
            stop(signal.SIGTERM, None)
            continue
        spawn()
    if shared is not None:
        shared.close()
    return code


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    settings = ServerSettings.from_env(os.environ, sys.argv[1:] if argv is None else argv)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
