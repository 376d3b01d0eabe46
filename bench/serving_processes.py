"""Starting, asking and stopping the servers the serving benchmarks measure, and the request they send.

Shared by ``serving_bench`` (``serve`` vs MLServer) and ``serving_compare`` (``serve`` vs its earlier version).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, wait_for
from prodline.net import LOOPBACK, free_port

ROW = b"12,70.5,800,one-year,card,dsl,1,2,40"


def post(port: int, path: str, body: bytes, content_type: str) -> bytes:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    connection.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {answer[:300]!r}")
    return answer


def start_serve(model_dir: Path, workers: int, tree: Path = ROOT, *, open_files: int | None = None,
                log: Path | None = None) -> tuple[subprocess.Popen, int]:
    """``serve`` from the ``workloads`` package under ``tree`` (this checkout unless told otherwise);
    ``open_files``: the soft open-file limit it starts with; ``log``: where its log goes (else nowhere)."""
    port = free_port()
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PRODLINE_SERVER_HOST": LOOPBACK, "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
           "PYTHONPATH": str(tree)}
    with (log.open("ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as err,
          soft_open_files(open_files)):
        process = subprocess.Popen([sys.executable, "-m", "workloads.serving.server"], cwd=tree, env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
    wait_for(f"http://{LOOPBACK}:{port}/ping")
    return process, port


@contextlib.contextmanager
def soft_open_files(limit: int | None):
    """This process's soft open-file limit set to ``limit`` (within the hard one) for a while, so that a
    child started meanwhile inherits it; None changes nothing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit if hard == resource.RLIM_INFINITY else min(limit, hard),
                                                    hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def stop(process: subprocess.Popen, *, group: bool = False) -> None:
    """SIGTERM the server (its whole process group for MLServer, whose workers are its children)."""
    if process.poll() is None:
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
