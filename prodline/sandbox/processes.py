"""Child processes the sandbox starts in their own sessions (emulator, gateway, model servers): is one
alive, and stop its whole process group, so nothing it started outlives it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

GONE_STATES = ("Z", "X")
"""A zombie (exited, not yet reaped) and a dead process hold nothing: both count as gone."""


def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (the state first, /proc(5)'s field 3); empty
    when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def alive(pid: int) -> bool:
    """Alive and not a zombie (a child of this process that exited but was not yet reaped counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    fields = _stat(pid)
    return bool(fields) and fields[0] not in GONE_STATES


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, an identity
    that a later process reusing the number does not share. None when it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else None


def group_members(pgid: int) -> list[int]:
    """The processes of the process group that are alive (field 5 of their stat is ``pgid``; zombies, which
    hold nothing, do not count)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in GONE_STATES:
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
