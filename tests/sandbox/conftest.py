"""An emulator for the sandbox tests: AWS_ENDPOINT_URL when set, else a moto server on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from prodline.net import free_port


@pytest.fixture(scope="session")
def emulator_url():
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    port = free_port()
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=0.5)
            break
        except urllib.error.HTTPError:
            break  # an HTTP answer: the server is up
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)
