"""The AWS emulator the sandbox talks to: the user's (``AWS_ENDPOINT_URL``) or an embedded moto server.

The embedded default listens on 127.0.0.1:4566, LocalStack's edge port, so tools that default to it
(``awslocal``, ``pulumilocal``) work unchanged; boto3 itself follows ``AWS_ENDPOINT_URL``. It runs as a child
process in its own process group, logs to ``sandbox/.shared/emulator.log`` and is shared by every stack of the
sandbox (``prodline.sandbox.shared``): ``prodline sandbox down`` of the last stack that uses it stops it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prodline.net import is_loopback_url
from prodline.sandbox.emulator_warm_up import start_warm_up
from prodline.sandbox.paths import fresh_log
from prodline.sandbox.processes import alive, terminate_group

SERVER_MODULE = "prodline.sandbox.emulator_server"
"""moto_server's main, leaving at once on SIGTERM (see the module)."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
BUSY_SECONDS = 15.0
"""How long the embedded server recorded as ours may take to answer before it is taken to be gone."""
# Emulators accept any credentials; these make sure a real account's are never used by mistake.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class EmulatorError(RuntimeError):
    """The emulator could not be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class Emulator:
    endpoint_url: str
    embedded: bool
    pid: int | None = None

    def environment(self, region: str) -> dict[str, str]:
        """Environment for any process (workload, runtime, boto3) that must talk to this emulator only."""
        return {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": region,
                "AWS_REGION": region}


def require_loopback(url: str) -> str:
    """The URL without a trailing slash, when it is http(s) on a loopback address; EmulatorError otherwise."""
    if not is_loopback_url(url):
        raise EmulatorError(f"AWS_ENDPOINT_URL={url!r} is not an http:// or https:// URL on a loopback address; "
                            "the sandbox only talks to an emulator on this machine (127.0.0.1, ::1, localhost)")
    return url.rstrip("/")


def is_up(url: str, timeout: float = 1.0) -> bool:
    """True when something answers HTTP at the URL (moto and LocalStack both answer their root)."""
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP error is still an answer
    except OSError:
        return False


def _pid_file(sandbox: Path) -> Path:
    return sandbox / "emulator.json"


def ensure(sandbox: Path, *, port: int = DEFAULT_PORT, wait_seconds: float = 20.0) -> Emulator:
    """The user's emulator when AWS_ENDPOINT_URL is set, else the embedded moto server (started if needed),
    recorded in and logging to the directory ``sandbox``. AWS_ENDPOINT_URL naming the embedded server (as the
    sandbox sets it for what runs against it) is still the embedded server."""
    record = _pid_file(sandbox)
    known = json.loads(record.read_text()) if record.exists() else None
    # A live server of ours that is slow to answer is busy (building a service on its first request, see
    # emulator_warm_up), not gone: it gets longer than a stranger on the port would.
    if known and not (alive(known["pid"]) and is_up(known["url"], timeout=BUSY_SECONDS)):
        record.unlink()
        known = None
    if os.environ.get("AWS_ENDPOINT_URL"):
        url = require_loopback(os.environ["AWS_ENDPOINT_URL"])
        if known and known["url"] == url:
            return Emulator(url, embedded=True, pid=known["pid"])
        if not is_up(url):
            raise EmulatorError(f"nothing answers at AWS_ENDPOINT_URL={url}; start LocalStack or a moto server there, "
                                "or unset AWS_ENDPOINT_URL to use the embedded one")
        return Emulator(url, embedded=False)

    url = f"http://{DEFAULT_HOST}:{port}"
    if known:
        return Emulator(known["url"], embedded=True, pid=known["pid"])
    if is_up(url):
        raise EmulatorError(f"{url} is taken by a process this sandbox did not start; stop it, or point "
                            f"AWS_ENDPOINT_URL at it to use it as the emulator")

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise EmulatorError("moto's server (moto[server]) is not installed; run `make setup`")
    log = fresh_log(sandbox / "emulator.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", SERVER_MODULE, "-H", DEFAULT_HOST, "-p", str(port)], stdout=log,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **DUMMY_CREDENTIALS})
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(f"the moto server exited with {process.returncode}; see {sandbox / 'emulator.log'}")
        if is_up(url, timeout=0.5):
            record.write_text(json.dumps({"pid": process.pid, "url": url}))
            start_warm_up(url)  # its slowest first answers, built while the caller goes on
            return Emulator(url, embedded=True, pid=process.pid)
        time.sleep(0.1)
    terminate_group(process.pid)
    raise EmulatorError(f"the moto server did not answer on {url} within {wait_seconds:.0f} s; "
                        f"see {sandbox / 'emulator.log'}")


def stop(sandbox: Path, timeout: float = 10.0) -> bool:
    """Stop the embedded emulator recorded in the directory ``sandbox``, if it runs; True when one was stopped."""
    record = _pid_file(sandbox)
    if not record.exists():
        return False
    pid = json.loads(record.read_text())["pid"]
    stopped = terminate_group(pid, timeout)
    record.unlink(missing_ok=True)
    return stopped
