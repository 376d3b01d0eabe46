"""Start, find and stop a SageMaker hosting gateway, and drive its control API.

The gateway (``prodline.sandbox.gateway``) runs as a child process in its own session, logs to
``sandbox/<key>/gateway.log`` and is recorded in ``sandbox/<key>/gateway.json`` (pid, url), so a later
``prodline`` command finds it and ``stop_gateway`` stops it. Its ``serve`` children are listed by the gateway
in ``sandbox/<key>/gateway/children.json``; ``stop_gateway`` stops any it left behind (after a SIGKILL),
so no process of the sandbox survives ``down``. The sandbox runs one gateway for all its stacks, under the
key ``.shared`` (``prodline.sandbox.shared``); the functions take the key as ``stack``.

Its control API requires the sandbox's token: ``start_gateway`` writes a new one to ``sandbox/<key>/gateway.token``
(mode 0600) for each gateway it starts, and the control client reads it from there, found by the gateway's URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prodline.net import LOOPBACK, LOOPBACK_OPENER
from prodline.sandbox.emulator import Emulator, is_up
from prodline.sandbox.paths import ROOT, base, fresh_log, sandbox_dir
from prodline.sandbox.processes import alive, start_time, terminate_group

DEFAULT_PORT = 4571
RECORD = "gateway.json"
TOKEN_FILE = "gateway.token"
LOG_FILE = "gateway.log"
WORKDIR = "gateway"
CHILDREN = "children.json"
GATEWAY_RUN_WORK = ("models", "logs")
"""Under the gateway's working directory: the models its servers were started on, and their logs."""
GATEWAY_MODULE = "prodline.sandbox.gateway"


class GatewayError(RuntimeError):
    """The gateway could not be started, reached or stopped; the message says why (and where its log is)."""


class GatewayControlError(GatewayError):
    """The gateway refused a control request (``status``: 400 bad input, 404, 409 conflict, 500 start failure)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"gateway answered {status}: {message}")
        self.status = status
        self.message = message


# --- lifecycle ----------------------------------------------------------------------------------------------

def start_gateway(stack: str, emulator: Emulator, region: str, port: int = DEFAULT_PORT, *,
                  wait_seconds: float = 120.0) -> str:
    """The URL of the stack's gateway, started if none is live; returns once it has loaded the emulator's
    endpoints (each started, or listed under ``failed`` in its status)."""
    sandbox = sandbox_dir(stack)
    live = gateway_url(stack)
    if live:
        return live
    stop_gateway(stack)  # a recorded gateway that no longer answers, and any serve it left behind
    url = f"http://{LOOPBACK}:{port}"
    if is_up(url, timeout=0.5):
        raise GatewayError(f"{url} is taken by a process this sandbox did not start; stop it or pass another port")
    log_path = fresh_log(sandbox / LOG_FILE)
    for stale in GATEWAY_RUN_WORK:  # the previous gateway's model servers' models and logs: none of them runs now
        shutil.rmtree(sandbox / WORKDIR / stale, ignore_errors=True)
    token_file = write_token(sandbox / TOKEN_FILE)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # fixed argv of our own module, loopback only
            [sys.executable, "-m", GATEWAY_MODULE, "--stack", stack, "--port", str(port), "--endpoint-url",
             emulator.endpoint_url, "--region", region, "--workdir", str(sandbox / WORKDIR),
             "--token-file", str(token_file)],
            env={**os.environ, **emulator.environment(region)}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_ready(process, url, wait_seconds, log_path, token_file.read_text())
    except GatewayError:
        terminate_group(process.pid, timeout=10)
        _stop_leftovers(sandbox / WORKDIR / CHILDREN)
        _forget(sandbox)
        raise
    (sandbox / RECORD).write_text(json.dumps({"pid": process.pid, "url": url, "port": port, "region": region,
                                              "emulator": emulator.endpoint_url}))
    return url


def write_token(path: Path) -> Path:
    """A new random token at ``path``, readable by this user only (mode 0600 from its creation on)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path


def _wait_ready(process: subprocess.Popen, url: str, wait_seconds: float, log_path: Path, token: str) -> None:
    """Until the gateway's status says it loaded the emulator; GatewayError if it exits or never does."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GatewayError(f"the gateway exited with {process.returncode} during start; see {log_path}")
        with contextlib.suppress(OSError, ValueError, GatewayError):
            if status(url, timeout=2, token=token)["ready"]:
                return
        time.sleep(0.1)
    raise GatewayError(f"the gateway did not load the emulator's endpoints within {wait_seconds:.0f} s; see {log_path}")


def gateway_url(stack: str) -> str | None:
    """The URL of the stack's live gateway, or None (no record, its process gone, or it does not answer)."""
    sandbox = sandbox_dir(stack)
    known = _record(sandbox)
    if not known or not _is_gateway(known["pid"]):
        return None
    try:
        status(known["url"], timeout=2, token=(sandbox / TOKEN_FILE).read_text())
    except (OSError, ValueError, GatewayError):
        return None
    return known["url"]


def stop_gateway(stack: str, timeout: float = 30.0) -> bool:
    """Stop the stack's gateway (it flushes capture and metrics and stops its serve processes), then any serve
    process it left behind. True when a gateway was running."""
    sandbox = sandbox_dir(stack)
    known = _record(sandbox)
    stopped = bool(known) and _is_gateway(known["pid"]) and terminate_group(known["pid"], timeout)
    _stop_leftovers(sandbox / WORKDIR / CHILDREN)
    _forget(sandbox)
    return stopped


def _record(sandbox: Path) -> dict[str, Any] | None:
    try:
        return json.loads((sandbox / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _forget(sandbox: Path) -> None:
    (sandbox / RECORD).unlink(missing_ok=True)
    (sandbox / TOKEN_FILE).unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_gateway(pid: int) -> bool:
    """The pid is alive and is a gateway (not an unrelated process that reused the number)."""
    return GATEWAY_MODULE in _cmdline(pid)


def _stop_leftovers(children_file: Path) -> None:
    """Kill the serve processes the gateway recorded and that still run (only after an unclean gateway exit).

    A recorded process is the same one only if it started when the record says (its pid may have been reused
    since); serve processes are forked from the gateway's warm interpreter, so their command line is that
    interpreter's and cannot tell them apart."""
    try:
        recorded = json.loads(children_file.read_text()).get("serve", [])
    except (OSError, ValueError):
        return
    for child in recorded:
        pid = child.get("pid")
        if isinstance(pid, int) and alive(pid) and start_time(pid) == child.get("started"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    children_file.unlink(missing_ok=True)


# --- control client -------------------------------------------------------------------------------------------

def token_for(url: str) -> str:
    """The control token of the gateway this sandbox started at ``url`` (read from beside its record)."""
    for record in sorted(base().glob(f"*/{RECORD}")):
        known = _record(record.parent)
        if known and known.get("url", "").rstrip("/") == url.rstrip("/"):
            try:
                return (record.parent / TOKEN_FILE).read_text().strip()
            except OSError as error:
                raise GatewayError(f"cannot read the control token of the gateway at {url}: {error}") from None
    raise GatewayError(f"no gateway at {url} was started by this sandbox ({base()}): its control token is unknown")


def _call(url: str, method: str, action: str, payload: dict[str, Any] | None = None,
          timeout: float = 30.0, *, token: str | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(f"{url.rstrip('/')}/_prodline/{action}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {(token or token_for(url)).strip()}"})
    try:
        with LOOPBACK_OPENER.open(request, timeout=timeout) as response:  # the gateway is on loopback: no proxy
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            message = json.loads(body).get("message", body.decode(errors="replace"))
        except ValueError:
            message = body.decode(errors="replace")
        raise GatewayControlError(error.code, message) from None
    except OSError as error:  # refused, reset, timed out
        raise GatewayError(f"the gateway at {url} did not answer {method} /_prodline/{action}: {error}") from None


def status(url: str, timeout: float = 10.0, *, token: str | None = None) -> dict[str, Any]:
    """Endpoints, their fleets (role, config, variants with port, pid, counters), routing and telemetry.

    ``token`` (every control call takes it): the gateway's control token, when it is not this sandbox's."""
    return _call(url, "GET", "status", timeout=timeout, token=token)


def reload(url: str, timeout: float = 300.0, *, token: str | None = None) -> dict[str, Any]:
    """Re-read the emulator: ``{"started": [...], "stopped": [...], "failed": {name: why}, "endpoints": [...]}``."""
    return _call(url, "POST", "reload", {}, timeout=timeout, token=token)


def deploy(url: str, endpoint: str, config: str, canary_percent: int, timeout: float = 300.0, *,
           token: str | None = None) -> dict[str, Any]:
    """Start the green fleet for ``config`` and route ``canary_percent`` % of requests to it; returns once green
    is healthy. Calling it again for the same config only changes the share. GatewayControlError on 404/409/500."""
    return _call(url, "POST", "deploy", {"endpoint": endpoint, "endpoint_config": config,
                                         "canary_percent": canary_percent}, timeout=timeout, token=token)


def promote(url: str, endpoint: str, timeout: float = 120.0, *, token: str | None = None) -> dict[str, Any]:
    """All traffic to green; blue drained and stopped; green becomes the endpoint's current fleet."""
    return _call(url, "POST", "promote", {"endpoint": endpoint}, timeout=timeout, token=token)


def rollback(url: str, endpoint: str, timeout: float = 120.0, *, token: str | None = None) -> dict[str, Any]:
    """All traffic to blue at once; green drained and stopped. With no deployment in progress (e.g. green failed
    to start) there is nothing to undo: 200, ``"rolled_back": false``."""
    return _call(url, "POST", "rollback", {"endpoint": endpoint}, timeout=timeout, token=token)


def flush(url: str, timeout: float = 60.0, *, token: str | None = None) -> dict[str, Any]:
    """Write buffered capture records and metric data now: ``{"capture_records": n, "metric_data": m}``."""
    return _call(url, "POST", "flush", {}, timeout=timeout, token=token)
