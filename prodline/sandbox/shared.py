"""What every stack of the sandbox shares: one emulator (one account) and one hosting gateway.

dev, staging and prod are realized in the same moto server at once, as three stacks of one account, so a
deploy of one stack can hand a model version to the next one's queue and build, as it would in AWS. Each
stack keeps its own state in ``sandbox/<stack>/``; what they share lives in ``sandbox/.shared/``: the
emulator's record and log, the gateway's record, log and model servers.

Who uses the emulator is the set of ``sandbox/<stack>/emulator-url`` files (a stack joins on ``up`` and
leaves on ``down``), read under a file lock. ``down`` of one stack therefore stops nothing the others still
use; the last stack to leave stops the gateway, its model servers and the embedded emulator.

One gateway serves every stack's endpoints, as SageMaker Runtime's one regional endpoint serves every
endpoint of an account: one URL for ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` whichever stack is invoked, one
process instead of a gateway per stack that would each read (and start servers for) every endpoint of the
shared emulator.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from prodline.sandbox import emulator as emu
from prodline.sandbox import hosting, tracking
from prodline.sandbox.paths import BUILD_JOURNAL_FILE, EMULATOR_URL_FILE, base, running_stacks, sandbox_dir

SHARED = ".shared"
"""The directory (beside the stacks' own) that holds what the stacks share; not a valid stack name."""
EMULATOR_PORT_ENV = "PRODLINE_SANDBOX_EMULATOR_PORT"
GATEWAY_PORT_ENV = "PRODLINE_SANDBOX_GATEWAY_PORT"
LOCK_FILE = "lock"


class SharedError(RuntimeError):
    """The stacks cannot share what they must (for example, two regions); the message says what to do."""


def shared_dir() -> Path:
    return sandbox_dir(SHARED)


def was_used() -> bool:
    """Whether a stack of this sandbox directory was ever brought up (its shared directory exists): otherwise
    nothing of it can be running. Read without making the directory, as ``shared_dir`` would."""
    return (base() / SHARED).is_dir()


def emulator_port() -> int:
    return int(os.environ.get(EMULATOR_PORT_ENV) or emu.DEFAULT_PORT)


def gateway_port() -> int:
    return int(os.environ.get(GATEWAY_PORT_ENV) or hosting.DEFAULT_PORT)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One sandbox command at a time decides what starts and stops (two terminals, or the demo and a CLI)."""
    with (shared_dir() / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def emulator() -> emu.Emulator:
    """The emulator every stack uses: AWS_ENDPOINT_URL's, or the embedded moto server (started if needed)."""
    with locked():
        return emu.ensure(shared_dir(), port=emulator_port())


def join(stack: str, emulator_url: str) -> None:
    """Count ``stack`` among the emulator's users until it leaves (``prodline invoke`` also finds it so)."""
    (sandbox_dir(stack) / EMULATOR_URL_FILE).write_text(emulator_url)


def stacks_up() -> list[str]:
    """Every stack that has been brought up and not taken down, whichever emulator it is in."""
    return [stack for stack, _ in running_stacks() if stack != SHARED]


def not_up(stack: str) -> str | None:
    """Why a command that needs ``stack`` up cannot go on (naming the stacks that are up and the command to run),
    or None when it is up."""
    up = sorted(stacks_up())
    if stack in up:
        return None
    return f"the sandbox stack {stack} is not up (up: {', '.join(up) or 'none'}): prodline sandbox up --stack {stack}"


def users(emulator_url: str) -> list[str]:
    """The stacks that are up in the emulator at ``emulator_url``."""
    return [stack for stack, url in running_stacks() if url == emulator_url and stack != SHARED]


def gateway(emulator: emu.Emulator, region: str) -> str:
    """The URL of the gateway every stack's endpoints are served by, started if none is live."""
    with locked():
        record = _gateway_record()
        if record and hosting.gateway_url(SHARED) and record.get("region") != region:
            raise SharedError(f"the sandbox's gateway serves region {record.get('region')}; a stack in {region} "
                              "cannot share it: take the other stacks down first")
        return hosting.start_gateway(SHARED, emulator, region, port=gateway_port())


def gateway_url() -> str | None:
    return hosting.gateway_url(SHARED)


def start_tracking() -> str | None:
    """Start the MLflow server every stack logs to, unless it runs; its URL, not waited for (None: no mlflow)."""
    with locked():
        return tracking.start(shared_dir())


def tracking_url(wait: bool = False) -> str | None:
    """The MLflow server's URL (None when none runs); with ``wait``, once it answers."""
    return tracking.wait(shared_dir()) if wait else tracking.url(shared_dir())


def tracking_for_a_job() -> str | None:
    """The MLflow server's URL once it answers, started first if none runs (None: mlflow is not installed).

    ``up`` does not start the server (a sandbox that runs no pipeline needs none: it would cost ~5 s of CPU and a
    process), so the first job that logs starts it and waits for it; the demo, which trains, starts it first."""
    return start_tracking() and tracking_url(wait=True)


def leave(stack: str) -> list[str]:
    """``stack`` no longer uses the emulator. Returns what was stopped: nothing while another stack still
    uses it (the gateway then only stops the endpoints the emulator no longer has), else the gateway, its
    model servers and the embedded emulator."""
    with locked():
        marker = sandbox_dir(stack) / EMULATOR_URL_FILE
        url = marker.read_text().strip() if marker.exists() else None
        marker.unlink(missing_ok=True)
        remaining = users(url) if url else stacks_up()
        if remaining:
            live = hosting.gateway_url(SHARED)
            if live:
                hosting.reload(live)
            return []
        return _stop_shared()


def stop_unused() -> list[str]:
    """What a sandbox left running with no stack up (one killed before its down): stopped, as the last stack's
    down stops it. Nothing is stopped while a stack is up; nothing is started either way."""
    with locked():
        return [] if stacks_up() else _stop_shared()


def _stop_shared() -> list[str]:
    """Stop the gateway, its model servers, the MLflow server and the embedded emulator (under ``locked``)."""
    # The MLflow server needs nothing else and may take its full grace to exit: it stops beside the gateway
    # and the emulator, which stop in order (the gateway flushes its telemetry into the emulator first).
    tracking_stopped: list[bool] = []
    stopping = threading.Thread(target=lambda: tracking_stopped.append(tracking.stop(shared_dir())),
                                name="stop-mlflow", daemon=True)
    stopping.start()
    stopped = []
    if hosting.stop_gateway(SHARED):
        stopped.append("gateway and model servers")
    emulator_stopped = emu.stop(shared_dir())
    if emulator_stopped:  # its builds went with it
        (shared_dir() / BUILD_JOURNAL_FILE).unlink(missing_ok=True)
    stopping.join()
    if tracking_stopped and tracking_stopped[0]:
        stopped.append("MLflow server")
    if emulator_stopped:
        stopped.append("emulator")
    return stopped


def _gateway_record() -> dict | None:
    try:
        return json.loads((shared_dir() / hosting.RECORD).read_text())
    except (OSError, ValueError):
        return None
