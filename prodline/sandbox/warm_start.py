"""Start the sandbox's local containers from a warm interpreter (``prodline.sandbox.zygote``), or cold.

``start(argv, ...)`` returns a process with ``Popen``'s face (``pid``, ``poll``, ``wait``, ``returncode``):
forked from this process's zygote when the command is ``python <script>`` or ``python -m <module>``, a plain
subprocess otherwise, or when ``PRODLINE_SANDBOX_WARM_START=0`` asks for cold starts everywhere. Both run the
same command line with the same environment, working directory and exit code; the zygote only skips the
imports. The zygote is started once per process, on first use or by ``prewarm()`` (the sandbox calls it
before realizing a stack, so the imports overlap with that work), and goes when this process goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from prodline.sandbox.processes import alive
from prodline.sandbox.zygote import MAX_REQUEST, NotPython, python_invocation

WARM_ENV = "PRODLINE_SANDBOX_WARM_START"
# Third-party libraries the workloads import (Glue jobs: pandas/pyarrow/boto3; training, evaluation and
# serving: scikit-learn), and botocore's data files parsed for every session a child makes (botocore_data). Never
# the packages a job brings (workloads): a job imports those from its own path.
PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "joblib", "threadpoolctl", "boto3", "botocore.session",
           "prodline.sandbox.botocore_data",
           "sklearn.compose", "sklearn.ensemble", "sklearn.impute", "sklearn.linear_model", "sklearn.metrics",
           "sklearn.pipeline", "sklearn.preprocessing")


class WarmStartError(RuntimeError):
    """The zygote could not start the process (its message says why)."""


def enabled() -> bool:
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class WarmProcess:
    """A process the zygote forked: ``subprocess.Popen``'s ``pid``/``poll``/``wait``/``returncode``."""

    def __init__(self, args: Sequence[str], pid: int, channel: socket.socket, buffered: bytes):
        self.args = list(args)
        self.pid = pid
        self.returncode: int | None = None
        self._channel = channel
        self._buffer = b""
        self._lock = threading.Lock()
        self._take(buffered)

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                self._read(blocking=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self.returncode is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                self._read(blocking=True, timeout=remaining)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)

    def _take(self, chunk: bytes) -> None:
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        for line in lines:
            answer = json.loads(line)
            if "returncode" in answer:
                self.returncode = int(answer["returncode"])
                self._channel.close()

    def _read(self, blocking: bool, timeout: float | None = None) -> None:
        self._channel.settimeout(timeout if blocking else 0.0)
        try:
            chunk = self._channel.recv(4096)
        except (BlockingIOError, TimeoutError):
            return
        except OSError:
            chunk = b""
        if chunk:
            self._take(chunk)
            return
        # The zygote went away before reporting: the child is reparented and can no longer be reaped here.
        while alive(self.pid):
            if not blocking or (timeout is not None and timeout <= 0):
                return
            time.sleep(0.05)
            timeout = None if timeout is None else timeout - 0.05
        self.returncode = 255
        self._channel.close()


class Zygote:
    """This process's warm interpreter: one ``prodline.sandbox.zygote`` child and its control socket."""

    def __init__(self, preload: Sequence[str] = PRELOAD, log: Path | None = None, label: str = ""):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        output = log.open("ab") if log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prodline.sandbox.zygote", "--fd", str(theirs.fileno()), "--label", label,
                 *preload],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        finally:
            theirs.close()
            if log:
                output.close()
        self._control = ours
        self._lock = threading.Lock()

    def start(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None, stdout: str,
              stderr: str | None = None, session: bool = False) -> WarmProcess:
        request = {"argv": list(argv), "env": dict(env), "cwd": cwd, "stdout": stdout, "stderr": stderr,
                   "session": session, "executable": sys.executable}
        message = json.dumps(request).encode()
        if len(message) > MAX_REQUEST:
            raise WarmStartError(f"the request is {len(message)} bytes; the zygote reads at most {MAX_REQUEST}")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                socket.send_fds(self._control, [message], [theirs.fileno()])
        except OSError as err:
            ours.close()
            raise WarmStartError(f"the zygote (pid {self.process.pid}) is gone: {err}") from None
        finally:
            theirs.close()
        buffered = b""
        while b"\n" not in buffered:
            chunk = ours.recv(4096)  # blocks while the zygote is still importing its libraries
            if not chunk:
                ours.close()
                raise WarmStartError(f"the zygote (pid {self.process.pid}) exited with code "
                                     f"{self.process.poll()} before starting {' '.join(argv)}")
            buffered += chunk
        line, _, rest = buffered.partition(b"\n")
        answer = json.loads(line)
        if "error" in answer:
            ours.close()
            raise WarmStartError(answer["error"])
        return WarmProcess(argv, int(answer["pid"]), ours, rest)

    def close(self) -> None:
        self._control.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


_ZYGOTES: list[Zygote] = []  # this process's zygote, once started
_ZYGOTE_LOCK = threading.Lock()


def zygote(label: str = "", preload: Sequence[str] = PRELOAD) -> Zygote:
    """This process's zygote, started on first use (a new one if the previous one died) with ``label`` on its
    command line and ``preload`` imported."""
    with _ZYGOTE_LOCK:
        if not _ZYGOTES or _ZYGOTES[-1].process.poll() is not None:
            _ZYGOTES[:] = [Zygote(preload, label=label)]
        return _ZYGOTES[-1]


def prewarm(label: str = "", preload: Sequence[str] = PRELOAD) -> None:
    """Start the zygote now, so its imports overlap with whatever this process does next; ``label`` (the
    sandbox or gateway directory) names its owner in ``ps``."""
    if enabled():
        zygote(label, preload)


def start(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | Path | None, stdout: Path,
          stderr: Path | None = None, session: bool = False) -> WarmProcess | subprocess.Popen:
    """Start ``argv`` as its own process, output appended to ``stdout`` (and ``stderr``, else the same file)."""
    if enabled():
        try:
            python_invocation(list(argv))
        except NotPython:
            pass
        else:
            return zygote().start(argv, env=env, cwd=str(cwd) if cwd else None, stdout=str(stdout),
                                  stderr=str(stderr) if stderr else None, session=session)
    with Path(stdout).open("ab") as out, (Path(stderr).open("ab") if stderr else contextlib.nullcontext()) as err:
        return subprocess.Popen(list(argv), env=dict(env), cwd=str(cwd) if cwd else None, stdout=out,
                                stderr=err or subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=session)


def run(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | Path | None, stdout: Path,
        stderr: Path | None = None, timeout: float | None = None) -> int:
    """Run ``argv`` to its end; its return code. On timeout it is killed and ``TimeoutExpired`` raised."""
    return finish(start(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr), timeout)


def finish(process: WarmProcess | subprocess.Popen, timeout: float | None = None) -> int:
    """Wait for ``process`` to end; its return code. On timeout it is killed and reaped, and ``TimeoutExpired``
    raised."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
