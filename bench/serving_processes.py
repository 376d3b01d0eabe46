"""Starting, asking and stopping the servers the serving benchmarks measure, and the request they send.

Shared by ``serving_bench`` (``serve`` vs MLServer) and ``serving_compare`` (``serve`` vs its earlier version).
"""

from __future__ import annotations

import http.client
import os
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


def start_serve(model_dir: Path, workers: int, tree: Path = ROOT) -> tuple[subprocess.Popen, int]:
    """``serve`` from the ``workloads`` package under ``tree`` (this checkout unless told otherwise)."""
    port = free_port()
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PRODLINE_SERVER_HOST": LOOPBACK, "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
           "PYTHONPATH": str(tree)}
    process = subprocess.Popen([sys.executable, "-m", "workloads.serving.server"], cwd=tree, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://{LOOPBACK}:{port}/ping")
    return process, port


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
