"""A process started from the warm interpreter is the process a cold start would have made.

Each case runs the same command both ways (``PRODLINE_SANDBOX_WARM_START=0`` and ``1``) and compares what
the program saw (argv, working directory, environment, ``sys.path`` order, ``__name__``) and how it ended
(exit code, output, traceback), then the warm-only guarantees: its own session when asked, thread limits
applied to the preloaded BLAS, a child that dies with the zygote's loop never running twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodline.sandbox import botocore_data, warm_start
from prodline.sandbox.zygote import PRELOAD_NICENESS, NotPython, import_yielding, python_invocation

PROBE = """\
import json, os, sys
sys.stdout.write(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "marker": os.environ.get("PROBE_MARKER"),
    "path": sys.path[:2], "name": __name__, "own_group": os.getpgid(0) == os.getpid(),
    "stdin": sys.stdin.read(),
}) + "\\n")
print("to stderr", file=sys.stderr)
mode = os.environ.get("PROBE_EXIT", "0")
if mode == "raise":
    raise RuntimeError("the probe failed on purpose")
if mode == "message":
    sys.exit("a message instead of a code")
sys.exit(int(mode))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("probe")
    (directory / "probe.py").write_text(PROBE)
    package = directory / "lib" / "probe_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(PROBE)
    return directory


def run_both(monkeypatch, argv, *, env, cwd, tmp_path, stderr=False):
    """Run ``argv`` cold then warm; return [(returncode, stdout text, stderr text)] for each."""
    results = []
    for mode in ("0", "1"):
        monkeypatch.setenv(warm_start.WARM_ENV, mode)
        out, err = tmp_path / f"out-{mode}", tmp_path / f"err-{mode}"
        code = warm_start.run(argv, env=env, cwd=cwd, stdout=out, stderr=err if stderr else None)
        results.append((code, out.read_text(), err.read_text() if stderr else ""))
    return results


def test_a_script_sees_the_same_argv_cwd_environment_and_path_warm_as_cold(monkeypatch, probe, tmp_path):
    extra = str(tmp_path / "extra")
    env = {**os.environ, "PROBE_MARKER": "m-1", "PYTHONPATH": extra, "PROBE_EXIT": "3"}
    cold, warm = run_both(monkeypatch, [sys.executable, str(probe / "probe.py"), "a", "--b"], env=env,
                          cwd=str(tmp_path), tmp_path=tmp_path)
    assert cold == warm
    code, output, _ = warm
    seen = json.loads(output.splitlines()[0])
    assert code == 3
    assert seen["argv"] == [str(probe / "probe.py"), "a", "--b"]
    assert seen["cwd"] == str(tmp_path)
    assert seen["marker"] == "m-1"
    assert seen["path"] == [str(probe), extra]  # script directory first, then PYTHONPATH
    assert seen["name"] == "__main__"
    assert seen["stdin"] == ""
    assert "to stderr" in output  # one log for both streams when no stderr file is given


def test_a_module_runs_as_python_m_would_run_it(monkeypatch, probe, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(probe / "lib")}
    cold, warm = run_both(monkeypatch, ["python3", "-m", "probe_pkg", "x"], env=env, cwd=str(tmp_path),
                          tmp_path=tmp_path, stderr=True)
    assert cold == warm
    seen = json.loads(warm[1])
    assert seen["argv"] == [str(probe / "lib" / "probe_pkg" / "__main__.py"), "x"]
    assert seen["path"] == [str(tmp_path), str(probe / "lib")]  # the working directory first, as with -m
    assert warm[2] == "to stderr\n"


@pytest.mark.parametrize("case", [
    ("raise", 1, "RuntimeError: the probe failed on purpose"),
    ("message", 1, "a message instead of a code"),
    ("300", 44, ""),  # the interpreter keeps the low byte
])
def test_failures_end_as_the_interpreter_ends_them(monkeypatch, probe, tmp_path, case):
    mode, code, expected = case
    env = {**os.environ, "PROBE_EXIT": mode}
    cold, warm = run_both(monkeypatch, [sys.executable, str(probe / "probe.py")], env=env, cwd=None,
                          tmp_path=tmp_path, stderr=True)
    assert cold[0] == warm[0] == code
    assert expected in warm[2]
    assert cold[2] == warm[2]


def test_a_process_started_in_its_own_session_leads_its_group(monkeypatch, probe, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    process = warm_start.start([sys.executable, str(probe / "probe.py")], env=dict(os.environ), cwd=None,
                               stdout=tmp_path / "out", session=True)
    assert isinstance(process, warm_start.WarmProcess)
    assert process.wait(timeout=30) == 0
    assert json.loads((tmp_path / "out").read_text().splitlines()[0])["own_group"] is True


def test_a_timeout_kills_the_process_and_is_raised(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ntime.sleep(60)\n")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        warm_start.run([sys.executable, str(script)], env=dict(os.environ), cwd=None, stdout=tmp_path / "out",
                       timeout=1)
    assert time.monotonic() - started < 30


def test_terminate_reaches_the_process_and_its_code_is_the_signal(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ntime.sleep(60)\n")
    process = warm_start.start([sys.executable, str(script)], env=dict(os.environ), cwd=None, stdout=tmp_path / "o")
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=30) == -signal.SIGTERM


def test_thread_variables_limit_the_preloaded_blas(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    script = tmp_path / "threads.py"
    script.write_text("import json, threadpoolctl\n"
                      "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info()]))\n")
    warm_start.run([sys.executable, str(script)], env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=None,
                   stdout=tmp_path / "out")
    threads = json.loads((tmp_path / "out").read_text())
    assert threads
    assert set(threads) == {1}


def test_a_child_s_new_sessions_read_no_botocore_file_for_the_workloads_services(monkeypatch, tmp_path):
    """The zygote parsed them (``botocore_data`` is preloaded): a job's clients, paginators and waiters come from
    the shared cache. Cold, the same script fails on its first file."""
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    script = tmp_path / "clients.py"
    script.write_text(
        "import boto3, botocore.loaders\n"
        "def no_file(self, path):\n"
        "    raise AssertionError(f'parsed {path}')\n"
        "botocore.loaders.JSONFileLoader.load_file = no_file\n"
        f"for service in {list(botocore_data.SERVICES)!r}:\n"
        "    client = boto3.session.Session().client(service, region_name='eu-west-1', aws_access_key_id='x',\n"
        "                                            aws_secret_access_key='x', endpoint_url='http://127.0.0.1:9')\n"
        "boto3.session.Session().client('s3', region_name='eu-west-1', aws_access_key_id='x',\n"
        "    aws_secret_access_key='x').get_paginator('list_objects_v2')\n"
        "print('no file read')\n")
    code = warm_start.run([sys.executable, str(script)], env=dict(os.environ), cwd=None, stdout=tmp_path / "out")
    assert (code, (tmp_path / "out").read_text().strip().splitlines()[-1]) == (0, "no file read")


def test_a_child_that_cannot_start_exits_and_the_zygote_keeps_serving(monkeypatch, probe, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    unwritable = tmp_path / "missing-dir" / "out"  # the child cannot open its log
    assert warm_start.run([sys.executable, str(probe / "probe.py")], env=dict(os.environ), cwd=None,
                          stdout=unwritable) == 127
    assert warm_start.run([sys.executable, str(probe / "probe.py")], env=dict(os.environ), cwd=None,
                          stdout=tmp_path / "out") == 0


def test_only_plain_python_command_lines_start_warm():
    assert python_invocation(["python3", "train.py", "--x", "1"]) == ("path", "train.py", ["--x", "1"])
    assert python_invocation([sys.executable, "-m", "pkg.mod"]) == ("module", "pkg.mod", [])
    for argv in (["/bin/sh", "-c", "exec python3 x.py"], ["python3", "-c", "print(1)"], ["python3"], []):
        with pytest.raises(NotPython):
            python_invocation(argv)


def test_other_commands_start_cold(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    process = warm_start.start(["/bin/sh", "-c", "echo from-shell; exit 5"], env=dict(os.environ), cwd=None,
                               stdout=tmp_path / "out")
    assert isinstance(process, subprocess.Popen)
    assert process.wait(timeout=30) == 5
    assert (tmp_path / "out").read_text() == "from-shell\n"


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_preloading_runs_at_a_lower_priority_and_the_children_at_the_owners(monkeypatch, tmp_path):
    (tmp_path / "niceness_probe.py").write_text(
        "import os\nseen = os.getpriority(os.PRIO_PROCESS, 0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    own = os.getpriority(os.PRIO_PROCESS, 0)
    import_yielding(["niceness_probe", "no_such_module_anywhere"])
    import niceness_probe

    lowered = own + PRELOAD_NICENESS
    assert niceness_probe.seen == lowered, "the imports run lowered"
    assert os.getpriority(os.PRIO_PROCESS, 0) == own, "the calling thread keeps its priority"

    monkeypatch.setenv(warm_start.WARM_ENV, "1")
    script = tmp_path / "child.py"
    script.write_text("import os\nprint(os.getpriority(os.PRIO_PROCESS, 0))\n")
    out = tmp_path / "out"
    assert warm_start.run([sys.executable, str(script)], env=dict(os.environ), cwd=tmp_path, stdout=out) == 0
    assert int(out.read_text()) == own, "a forked child runs at its owner's priority, not the preload's"


def test_every_library_the_zygotes_import_is_installed():
    """A missing one is skipped without a word (an optional library), so a misspelt name would only be slower."""
    import importlib.util

    from prodline.sandbox import tracking

    for name in (*warm_start.PRELOAD, *tracking.PRELOAD):
        assert importlib.util.find_spec(name) is not None, name


def test_waiting_for_a_thread_to_leave_the_os_ends_when_its_task_is_gone_or_at_the_timeout():
    from prodline.sandbox.zygote import wait_gone

    answers = iter([True, True, False])
    asked = []
    assert wait_gone(123, exists=lambda path: asked.append(path) or next(answers))
    assert asked == ["/proc/self/task/123"] * 3
    assert not wait_gone(123, timeout=0.05, exists=lambda path: True)
    assert wait_gone(None, exists=lambda path: pytest.fail("no thread to wait for"))


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread preloading is Linux's")
def test_preloading_returns_once_its_thread_has_left_the_os(monkeypatch, tmp_path):
    """The zygote forks right after: a thread still exiting could hold a lock the child inherits held."""
    from prodline.sandbox import zygote

    (tmp_path / "thread_probe.py").write_text("import threading\nseen = threading.get_native_id()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "thread_probe", raising=False)
    waited = []
    real_wait = zygote.wait_gone
    monkeypatch.setattr(zygote, "wait_gone", lambda native_id: waited.append(native_id) or real_wait(native_id))
    import_yielding(["thread_probe"])
    import thread_probe

    assert waited == [thread_probe.seen]
    assert not os.path.exists(f"/proc/self/task/{thread_probe.seen}")


def test_the_zygote_leaves_without_the_interpreters_teardown_once_its_parent_is_gone(monkeypatch):
    import socket as socket_module

    from prodline.sandbox import zygote

    ours, theirs = socket_module.socketpair(socket_module.AF_UNIX, socket_module.SOCK_SEQPACKET)
    ours.close()  # the parent is gone: serve() returns at once
    left = []

    def leave(code):
        left.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(zygote.os, "_exit", leave)
    monkeypatch.setattr(zygote.signal, "signal", lambda *args: None)
    with pytest.raises(SystemExit):
        zygote.main(["--fd", str(theirs.detach())])
    assert left == [0]
