"""The warm interpreter behind the sandbox's local containers: ``python -m prodline.sandbox.zygote``.

A local container (a Glue job, a training or processing step, a ``serve`` process) is a Python process that
spends most of its start importing numpy, pandas, pyarrow and scikit-learn: about two seconds on a laptop,
paid again by every job, every canary and every restore of the demo. This process imports those libraries
once and forks a child per container. The child becomes what ``python script.py args`` or
``python -m module args`` would have been: its own process (its own session when asked), the request's
environment, working directory, ``sys.argv`` and ``sys.path`` (script directory or working directory first,
then the request's ``PYTHONPATH``, then the interpreter's own), stdin from /dev/null, output to the request's
log files, BLAS/OpenMP thread limits from the request's ``OMP_NUM_THREADS``-style variables, and Python's
exit code, traceback and shutdown. Only third-party libraries are preloaded (and botocore's data files parsed, by
``prodline.sandbox.botocore_data``): the project's own code (which a Glue job may bring in its
``--extra-py-files``) is imported by the child from its own path, as in AWS.

A forked child keeps this process's command line (``ps`` shows it as the zygote, with the ``--label`` its
owner gave: the sandbox or gateway directory), so the sandbox knows its children by pid and start time.

Protocol (one SOCK_SEQPACKET control socket from the parent, ``--fd``): each message is a JSON request with
one passed file descriptor, a stream socket on which the zygote answers ``{"pid": N}`` once forked (or
``{"error": "..."}``) and ``{"returncode": N}`` when the child ends. Nothing but the parent holds the
control socket, so no other local process can ask this one to run anything. It exits when the parent
closes the socket (or dies). Standard library only: importing it must not import the project.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import time
import traceback

MAX_REQUEST = 4 * 1024 * 1024
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PYTHON_NAMES = ("python", "python3", f"python3.{sys.version_info.minor}")


class NotPython(ValueError):
    """The command is not ``python <script>`` or ``python -m <module>``: it cannot start warm."""


def python_invocation(argv: list[str], executable: str = sys.executable) -> tuple[str, str, list[str]]:
    """``("path", script, args)`` or ``("module", name, args)`` for a plain Python command line.

    Interpreter options other than ``-m`` (``-u``, ``-c``, ``-X``...) are not accepted: they would need an
    interpreter of their own."""
    if not argv:
        raise NotPython("empty command")
    program = argv[0]
    if program != executable and os.path.basename(program) not in PYTHON_NAMES:
        raise NotPython(f"{program} is not a Python interpreter")
    if len(argv) >= 3 and argv[1] == "-m":
        return "module", argv[2], argv[3:]
    if len(argv) >= 2 and not argv[1].startswith("-"):
        return "path", argv[1], argv[2:]
    raise NotPython(f"{' '.join(argv[:3])}: only `python <script> ...` and `python -m <module> ...` start warm")


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prodline.sandbox.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the control socket the parent passed")
    parser.add_argument("--label", default="", help="whose zygote this is (shown by ps, with its children)")
    parser.add_argument("preload", nargs="*", help="modules to import once (missing ones are skipped)")
    options = parser.parse_args(arguments)
    base_path = _interpreter_path()
    import_yielding(options.preload)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    Zygote(socket.socket(fileno=options.fd), base_path).serve()
    _leave()


def _leave() -> None:
    """The parent is gone: leave without the interpreter's teardown, which frees pandas, scikit-learn and the
    rest object by object (0.55 s of CPU, measured three times, with the process still there after its owner
    had exited). Running children are processes of their own and go on; nothing else is left to do."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


PRELOAD_NICENESS = 10
"""How much lower than its owner's the priority of the preloading is. The zygote starts beside the work it is
meant to speed up (the program realized into the emulator, the emulator answering it), and on 2 cores its
seconds of imports would otherwise take a core from that work."""


def import_yielding(names: list[str], niceness: int = PRELOAD_NICENESS) -> None:
    """Import ``names`` (missing ones are skipped) in a thread of lower priority, and wait for it.

    Linux gives each thread its own nice value, and a process forked by a thread has that thread's: the
    children, forked by the main thread once this returns, run at the owner's priority, which an unprivileged
    process could not give back once it had lowered its own. Nowhere but Linux, the imports run at the usual
    priority."""

    def preload() -> None:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no native thread ids here
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
        for name in names:
            with contextlib.suppress(ImportError):  # an optional library: a child imports what it needs itself
                importlib.import_module(name)

    if sys.platform != "linux":
        preload()
        return
    loader = threading.Thread(target=preload, name="preload")
    loader.start()
    loader.join()
    wait_gone(loader.native_id)


def wait_gone(native_id: int | None, timeout: float = 5.0, exists=os.path.exists) -> bool:
    """Wait until the thread ``native_id`` has left the OS; whether it has.

    ``Thread.join`` returns when the thread's Python code is done, before the OS thread exits: its thread-local
    destructors (OpenSSL's among them, for a thread that imported ``ssl``) still run, and take locks. A fork in
    between copies a lock held by a thread the child does not have, and the child hangs the first time it needs
    it. The zygote forks right after its preloading thread ends, so it waits for the thread's ``/proc`` entry
    to go first (Linux only, where per-thread priorities make the thread worth having)."""
    if native_id is None:
        return True
    task = f"/proc/self/task/{native_id}"
    deadline = time.monotonic() + timeout
    while exists(task):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


def _interpreter_path() -> list[str]:
    """``sys.path`` without this process's own first entry and ``PYTHONPATH``: what every child starts from."""
    own = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    return [p for p in sys.path[1:] if os.path.abspath(p) not in own]


class Zygote:
    """One thread, one selector: requests on the control socket, children's ends on their pidfds."""

    def __init__(self, control: socket.socket, base_path: list[str]):
        self.control = control
        self.base_path = base_path
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ, None)
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply)

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is not None:
                    self._reap(key.data)
                elif not self._accept():
                    return  # the parent is gone: running children go on, no new ones start

    def _accept(self) -> bool:
        try:
            message, fds, _flags, _address = socket.recv_fds(self.control, MAX_REQUEST, 1)
        except OSError:
            return False
        if not message:
            return False
        if fds:
            reply = socket.socket(fileno=fds[0])
            pid = self._fork(message, reply)
            if pid:
                pidfd = os.pidfd_open(pid)
                self.children[pidfd] = (pid, reply)
                self.selector.register(pidfd, selectors.EVENT_READ, pidfd)
        return True

    def _reap(self, pidfd: int) -> None:
        pid, reply = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        _answer(reply, {"returncode": os.waitstatus_to_exitcode(status)})
        reply.close()

    def _fork(self, message: bytes, reply: socket.socket) -> int:
        try:
            request = json.loads(message)
            kind, target, args = python_invocation(list(request["argv"]),
                                                   request.get("executable") or sys.executable)
        except (ValueError, KeyError, TypeError) as err:
            _answer(reply, {"error": f"{type(err).__name__}: {err}"})
            reply.close()
            return 0
        pid = os.fork()
        if pid:
            _answer(reply, {"pid": pid})
            return pid
        # The child: nothing of the zygote's loop may outlive this point.
        self.selector.close()
        self.control.close()
        reply.close()
        for pidfd, (_, other) in self.children.items():
            os.close(pidfd)
            other.close()
        try:
            _become(request, kind, target, args, self.base_path)  # exits there
        finally:
            os._exit(127)  # a child that could not even start must never run the zygote's loop


def _answer(reply: socket.socket, payload: dict) -> None:
    with contextlib.suppress(OSError):  # the caller stopped listening; the child runs on regardless
        reply.sendall(json.dumps(payload).encode() + b"\n")


def _become(request: dict, kind: str, target: str, args: list[str], base_path: list[str]) -> None:
    """Turn this forked child into the requested Python process, run it, and exit as Python would."""
    if request.get("session"):
        os.setsid()
    _redirect(0, os.devnull, os.O_RDONLY)
    stdout = request["stdout"]
    _redirect(1, stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _redirect(2, request.get("stderr") or stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    _limit_threads(request["env"])
    first = os.path.dirname(os.path.abspath(target)) if kind == "path" else os.getcwd()
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [first, *extra, *base_path]
    sys.argv = [target, *args]
    code: object = 0
    try:
        if kind == "module":
            sys.argv[0] = "-m"  # runpy replaces it with the module's file, as `python -m` does
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
    except BaseException as error:  # what the interpreter does with an uncaught exception
        _print_from_program(error)
        code = 1
    _exit(code)


def _exit(code: object) -> None:
    """Python's shutdown without its module teardown (all of pandas and scikit-learn, a second's work):
    non-daemon threads joined, atexit handlers run, streams flushed, the exit code as the interpreter sets it."""
    import atexit
    import threading

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        print(code, file=sys.stderr)
        status = 1
    try:
        threading._shutdown()  # what the interpreter calls before the atexit handlers
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def _print_from_program(error: BaseException) -> None:
    """The traceback from the program's first frame, as the interpreter prints it (no zygote or runpy frames)."""
    tb = error.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                              or "runpy" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb)


def _redirect(fd: int, path: str, flags: int) -> None:
    opened = os.open(path, flags, 0o644)
    os.dup2(opened, fd)
    os.close(opened)


def _limit_threads(env: dict[str, str]) -> None:
    """numpy's BLAS was loaded (and sized) in the zygote: apply the request's thread variables now."""
    limit = next((env[name] for name in THREAD_VARIABLES if env.get(name, "").isdigit()), None)
    if limit is None or "numpy" not in sys.modules:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(limit))


if __name__ == "__main__":
    main()
