"""Child processes the sandbox starts in their own sessions (emulator, gateway, model servers): is one
alive, and stop its whole process group, so nothing it started outlives it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Alive and not a zombie (a child of this process that exited but was not yet reaped counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, an identity
    that a later process reusing the number does not share. None when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """The processes of the process group that are alive (zombies, which hold nothing, do not count)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            state, _parent, group = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def terminate_group(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL it if it has not exited in time; False when it was already gone.

    Returns once no process of the group is left, not when its leader is gone: the others (a gateway's warm
    interpreter, a server's workers) got the same signal but may still be exiting, and a caller that then
    starts another or removes their files must not find them running."""
    if not (alive(pid) or group_members(pid)):  # zombies left in the group (not yet reaped) hold nothing
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not _gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _gone(pid, KILLED_EXIT_SECONDS)
    return True


KILLED_EXIT_SECONDS = 5.0
"""How long SIGKILLed processes may take to be gone (the kernel frees their memory first)."""


def _gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pgid) or group_members(pgid):  # alive() reaps the leader when it is this process's child
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
