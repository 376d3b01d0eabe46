"""``serve``: the HTTP server of SageMaker's container contract, built for per-request speed.

  GET  /ping                   200 once the model is loaded (it is loaded before the port opens)
  POST /invocations            score the body (see payloads for the formats)
  GET  /execution-parameters   batch transform's tuning hints

Settings (environment, or the matching option): SM_MODEL_DIR (/opt/ml/model), SAGEMAKER_BIND_TO_PORT (8080),
SAGEMAKER_MODEL_SERVER_WORKERS (worker processes; default one per CPU), PRODLINE_SERVER_HOST (0.0.0.0),
PRODLINE_SERVER_THREADS (1), PRODLINE_SHUTDOWN_GRACE_SECONDS (20), and the bounds on clients listed in
``settings`` (body and head size, header/body/keep-alive timeouts, connections, pipelined requests).
Off SageMaker (which measures and captures a container itself), PRODLINE_METRICS_* turn on request metrics as
CloudWatch EMF lines on stdout (``metrics``) and PRODLINE_CAPTURE_* data capture to the lake (``capture``).

Design: a pre-fork server. The parent loads the model (so a bad model fails at start, not per request) and
forks the workers, which share the model's memory copy-on-write. Each worker listens on the port with
SO_REUSEPORT, so the kernel spreads connections by a hash of their addresses: evenly over many connections
(on one shared socket, the first worker to wake takes a whole burst of new connections and leaves the others
idle), but by chance over few: two kept-alive connections share one worker half the time. Each worker is one
asyncio event loop (``app``): HTTP/1.1 is parsed by llhttp through httptools (``protocol``, ``connection``:
keep-alive, pipelining, Expect: 100-continue, Content-Length bodies, every read bounded in size and time),
and requests are scored in place, those that arrive together in one model call: scoring is CPU-bound, so one
process per core with no thread hand-off is the fastest arrangement. OpenMP/BLAS pools are pinned to one
thread per worker, or workers and library threads fight over the cores. SIGTERM (or SIGINT) stops accepting,
closes idle connections, lets every worker finish the request in hand, and exits 0; a worker that dies is
replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence

from workloads.serving.app import App
from workloads.serving.connection import Connection
from workloads.serving.settings import ServerSettings

__all__ = ["ServerSettings", "main", "run"]

LOG = logging.getLogger("workloads.serving")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
CRASH_WINDOW_SECONDS = 5.0
MAX_QUICK_CRASHES = 3
SPARE_FILES = 64  # descriptors a worker needs besides its connections (listening socket, logs, libraries)
# Connections the kernel queues before a worker accepts them. asyncio's create_server listens again with its own
# default of 100 unless told: a burst beyond that had its SYNs dropped and each such client waited a second to retry.
BACKLOG = 2048


def pin_threads(count: int) -> None:
    """Limit OpenMP/BLAS pools; effective for libraries not yet loaded (call before importing numpy)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(count)


def serve_on(sock: socket.socket, model, settings: ServerSettings) -> None:
    """Run one worker's event loop on an open listening socket until SIGTERM/SIGINT."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(settings.threads)
    loop = asyncio.new_event_loop()
    app = App(model, settings, loop)
    report = attach_telemetry(app, settings, loop)
    server = loop.run_until_complete(loop.create_server(lambda: Connection(app), sock=sock, backlog=BACKLOG))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.begin_shutdown, server)
    try:
        loop.run_forever()
    finally:
        server.close()
        report()
        loop.close()


def attach_telemetry(app: App, settings: ServerSettings, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Give the worker its request metrics (a line every interval) and data capture, as configured; returns
    what the worker calls as it stops: the last metrics line and the last capture upload."""
    if settings.metrics is not None:
        from workloads.serving.metrics import RequestMetrics

        metrics = app.metrics = RequestMetrics(settings.metrics)
        interval = settings.metrics.interval

        def tick() -> None:
            loop.call_later(interval, tick)
            metrics.emit()

        loop.call_later(interval, tick)
    if settings.capture is not None:
        from workloads.serving.capture import Capture

        app.capture = Capture(settings.capture)

    def report() -> None:
        if app.metrics is not None:
            app.metrics.emit()
        if app.capture is not None:
            app.capture.close()

    return report


def fit_file_limit(settings: ServerSettings) -> ServerSettings:
    """Raise this process's open-file limit so every worker can hold its connections (plus as many closing),
    or lower the connection bound to what the hard limit allows: running out of descriptors stops a
    worker from accepting anyone, which is the failure the bound exists to prevent."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * settings.max_connections + SPARE_FILES
    if hard != resource.RLIM_INFINITY and hard < needed:
        fitted = max(1, (hard - SPARE_FILES) // 2)
        LOG.warning("open-file limit %d allows %d connections per worker, not %d", hard, fitted,
                    settings.max_connections)
        settings, needed = dataclasses.replace(settings, max_connections=fitted), hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return settings


def run(settings: ServerSettings) -> int:
    pin_threads(settings.threads)
    settings = fit_file_limit(settings)
    from workloads.serving.handler import model_fn

    model = model_fn(settings.model_dir)
    if settings.model_version:
        model = dataclasses.replace(model, version=settings.model_version)
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
    return socket.create_server((settings.host, settings.port), backlog=BACKLOG, reuse_port=reuse_port)


def supervise(shared: socket.socket | None, model, settings: ServerSettings) -> int:
    """Fork the workers, replace any that die, and on SIGTERM/SIGINT stop them within the grace period.

    ``shared`` is the one listening socket every worker accepts on, or None: each worker then opens its own
    with SO_REUSEPORT (Linux spreads connections across them by a hash, even only over many)."""
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
