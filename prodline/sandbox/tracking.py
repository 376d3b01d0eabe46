"""The sandbox's experiment tracking server: a real MLflow server on loopback, where AWS has SageMaker's.

moto cannot create a managed MLflow tracking server (``CreateMlflowTrackingServer`` is not implemented), so the
realizer records the declared one and this module runs ``mlflow server`` in its place: SQLite in
``sandbox/.shared/mlflow/``, artifacts served by the server from a directory beside it, one process shared by
every stack (each pipeline logs to its own experiment), in its own session so ``sandbox down`` of the last stack
stops it with everything it started. Its ``/health`` takes 5-7 s to answer on 2 shared cores (``mlflow_server``
runs it as one process, not the CLI's two), so the demo and ``sandbox up`` start it first and it is waited for only
when a pipeline is about to log to it; a sandbox brought up otherwise starts it when its first job logs.

The pipeline runtime gives training and evaluation this server's URL where the definition names the declared
server's ARN (``is_declared_server``). mlflow is the ``tracking`` extra: without it nothing starts, and runs are
not tracked.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prodline.sandbox.paths import base, fresh_log
from prodline.sandbox.processes import alive, start_time, terminate_group
from workloads.training.tracking import NO_TELEMETRY

HOST = "127.0.0.1"
DEFAULT_PORT = 4572
"""Beside the emulator (4566) and the gateway (4571); MLflow's own 5000 is often taken (macOS AirPlay)."""
PORT_ENV = "PRODLINE_SANDBOX_MLFLOW_PORT"
RECORD = "mlflow.json"
DIRECTORY = "mlflow"
ARN_PREFIX = "arn:aws:sagemaker:"
TRACKING_SERVER_ARN = ":mlflow-tracking-server/"


PRELOAD = ("mlflow.tracking", "mlflow.entities")
"""What the sandbox's warm interpreter imports besides the workloads' libraries when the pipeline's jobs log runs:
two seconds per job otherwise. Importing them starts no thread, so forking after it is safe."""


SERVER_MODULE = "prodline.sandbox.mlflow_server"
"""``mlflow server``'s own command, with the uvicorn it would start as a second process run in the first."""


SERVER_ENV = {**NO_TELEMETRY, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""No usage reports, and no job executor: the server would otherwise start huey consumer processes (each importing
mlflow again) for scheduled GenAI scoring and trace archival, which the sandbox never uses."""


class TrackingError(RuntimeError):
    """The tracking server did not come up; the message names its log."""


def available() -> bool:
    """Whether mlflow (the ``tracking`` extra) is installed in this interpreter."""
    return importlib.util.find_spec("mlflow") is not None


def port() -> int:
    return int(os.environ.get(PORT_ENV) or DEFAULT_PORT)


def _record(shared: Path) -> dict | None:
    try:
        record = json.loads((shared / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if alive(record["pid"]) and start_time(record["pid"]) == record.get("started") else None


def _template() -> Path:
    """An empty database already migrated to this mlflow's schema, kept beside the stacks' directories: a fresh
    server otherwise spends most of its start running every schema migration on a new SQLite file."""
    try:
        version = importlib.metadata.version("mlflow-skinny")
    except importlib.metadata.PackageNotFoundError:
        version = importlib.metadata.version("mlflow")
    return base() / f".mlflow-{version}.db"


def _keep_template(home: Path) -> None:
    """Keep the just-migrated, still empty database as the template (SQLite's backup API: a consistent copy)."""
    template = _template()
    if template.exists() or not (home / "mlflow.db").exists():
        return
    partial = template.with_suffix(".partial")
    with contextlib.closing(sqlite3.connect(home / "mlflow.db")) as source, \
            contextlib.closing(sqlite3.connect(partial)) as copy:
        source.backup(copy)
    partial.replace(template)


def start(shared: Path) -> str | None:
    """Start the server unless it runs (or mlflow is missing: None); returns its URL without waiting for it."""
    running = _record(shared)
    if running:
        return running["url"]
    if not available():
        return None
    home = shared / DIRECTORY
    home.mkdir(parents=True, exist_ok=True)
    template = _template()
    if template.exists() and not (home / "mlflow.db").exists():
        (home / "mlflow.db").write_bytes(template.read_bytes())
    url = f"http://{HOST}:{port()}"
    command = [sys.executable, "-m", SERVER_MODULE, "server", "--host", HOST, "--port", str(port()), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
               "--artifacts-destination", str(home / "artifacts")]
    with fresh_log(shared / "mlflow.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=home, env={**os.environ, **SERVER_ENV})
    (shared / RECORD).write_text(json.dumps({"pid": process.pid, "url": url, "started": start_time(process.pid)}))
    return url


def healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(shared: Path, timeout: float = 180.0) -> str | None:
    """The server's URL once ``/health`` answers; None when none was started (mlflow missing)."""
    record = json.loads((shared / RECORD).read_text()) if (shared / RECORD).exists() else None
    if record is None:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(record["url"]):
            with contextlib.suppress(OSError, sqlite3.Error):  # only a faster next start is lost
                _keep_template(shared / DIRECTORY)
            return record["url"]
        if not alive(record["pid"]):
            raise TrackingError(f"the MLflow server exited before it answered; see {shared / 'mlflow.log'}")
        time.sleep(0.2)
    raise TrackingError(f"the MLflow server did not answer {record['url']}/health within {timeout:.0f} s; "
                        f"see {shared / 'mlflow.log'}")


def url(shared: Path) -> str | None:
    """The running server's URL (None when none runs)."""
    record = _record(shared)
    return record["url"] if record else None


STOP_SECONDS = 2.0
"""uvicorn waits for idle keep-alive clients before it exits on SIGTERM; every write is already committed to SQLite,
so after this long the group is killed rather than waited for."""


def stop(shared: Path) -> bool:
    """Stop the server and what it started; True when one was running."""
    record = _record(shared)
    (shared / RECORD).unlink(missing_ok=True)
    return bool(record) and terminate_group(record["pid"], STOP_SECONDS)


def is_declared_server(uri: str) -> bool:
    """Whether a tracking URI is a SageMaker tracking server's ARN, which the local server stands in for."""
    return uri.startswith(ARN_PREFIX) and TRACKING_SERVER_ARN in uri
