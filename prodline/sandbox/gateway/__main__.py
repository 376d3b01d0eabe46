"""``python -m prodline.sandbox.gateway``: the gateway as a process, as ``prodline.sandbox.hosting`` starts it.

Run: ``python -m prodline.sandbox.gateway --stack dev --port 4571 --endpoint-url http://127.0.0.1:4566
--region eu-west-1 --workdir sandbox/dev/gateway --token-file sandbox/dev/gateway.token``. SIGTERM or SIGINT:
stop accepting, flush capture and metrics, stop every ``serve`` child, exit 0. Settings come from argv here and
nowhere else (the control API's token from the file argv names, so it is never on a command line).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from prodline.net import LOOPBACK
from prodline.sandbox import warm_start
from prodline.sandbox.clients import Clients
from prodline.sandbox.emulator import EmulatorError, require_loopback
from prodline.sandbox.gateway.api import GatewayServer
from prodline.sandbox.gateway.app import Gateway
from prodline.sandbox.gateway.telemetry import CAPTURE_INTERVAL_SECONDS, METRICS_INTERVAL_SECONDS, Periodic

LOG = logging.getLogger("prodline.sandbox.gateway")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prodline.sandbox.gateway",
                                     description="SageMaker hosting for the sandbox (InvokeEndpoint on loopback).")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--port", type=int, required=True, help="loopback port; 0 picks a free one")
    parser.add_argument("--endpoint-url", required=True, help="the emulator (loopback only)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--workdir", required=True, type=Path, help="models, serve logs, children.json")
    parser.add_argument("--token-file", required=True, type=Path,
                        help="the token the control API requires (the file, mode 0600, its starter wrote)")
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
    try:
        token = args.token_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        LOG.error("cannot read the control token %s: %s", args.token_file, error)
        return 2
    if not token:
        LOG.error("the control token file %s is empty", args.token_file)
        return 2
    # Created up front: client creation is not thread-safe.
    for service in ("sagemaker", "s3", "cloudwatch", "sts", "apigateway", "logs"):
        clients(service)
    args.workdir.mkdir(parents=True, exist_ok=True)
    warm_start.prewarm(f"gateway {args.workdir}")  # serve processes fork from it, scikit-learn imported
    gateway = Gateway(clients, args.workdir.resolve(), account_of(clients), args.ping_timeout)
    try:
        server = GatewayServer((LOOPBACK, args.port), gateway, token)
    except OSError as error:
        LOG.error("cannot listen on %s:%d: %s", LOOPBACK, args.port, error)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    LOG.info("gateway for stack %s listening on http://%s:%d", args.stack, LOOPBACK, server.server_address[1])
    flushers = [Periodic(args.metrics_interval, gateway.metrics.flush, "metrics-flush"),
                Periodic(args.capture_interval, gateway.capture.flush, "capture-flush"),
                Periodic(args.metrics_interval, gateway.front_door.flush, "access-log-flush")]
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
