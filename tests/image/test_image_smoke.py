"""The image's start-up path without Docker: the init container's unpack, then `entrypoint.sh` -> `serve`.

A stand-in model (a fitted DummyClassifier in the layout training writes) is packed as model.tar.gz,
unpacked by docker/fetch_model.py, and served by the real `serve` script through the entry point on a
loopback port; /ping must answer 200, and SIGTERM must stop it within its grace period.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from prodline.net import free_port
from tests.helpers import reaped
from tests.image.test_fetch_model import load_fetcher

ROOT = Path(__file__).resolve().parents[2]
SERVE = Path(sys.executable).parent / "serve"

pytestmark = pytest.mark.skipif(not SERVE.exists(), reason="the `serve` script is not installed: "
                                "pip install -e '.[dev]'")


def model_archive(path: Path) -> Path:
    import joblib
    import numpy as np
    from sklearn.dummy import DummyClassifier

    buffer = io.BytesIO()
    joblib.dump(DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [0, 1, 0, 1]), buffer)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("model.joblib", buffer.getvalue()), ("metadata.json", json.dumps({}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def ping(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except OSError:
        return None


def test_unpacked_model_is_served_through_the_entry_point_and_stops_on_sigterm(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    load_fetcher().unpack(model_archive(tmp_path / "model.tar.gz"), model_dir)
    port = free_port()
    env = {**os.environ, "PATH": f"{SERVE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PRODLINE_SERVER_HOST": "127.0.0.1", "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
           "PRODLINE_SHUTDOWN_GRACE_SECONDS": "2"}
    with reaped(subprocess.Popen(["sh", str(ROOT / "docker" / "entrypoint.sh")], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) as process:
        deadline = time.monotonic() + 30
        while ping(f"http://127.0.0.1:{port}/ping") != 200:
            assert process.poll() is None, process.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no 200 from /ping within 30 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
