"""``terminate_group`` stops a whole process group: it returns once no member is left, not when the leader is."""

from __future__ import annotations

import subprocess
import sys
import time

from prodline.sandbox.processes import group_members, terminate_group

MEMBER = """
import signal, sys, time
def on_term(*_):
    {on_term}
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(60)
"""

LEADER = """
import subprocess, sys
member = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
member.stdout.readline()  # its SIGTERM handler is in place
print(member.pid, flush=True)
member.wait()
"""


def _group(on_term: str) -> tuple[subprocess.Popen, int]:
    """A group leader that dies on SIGTERM at once, and one member that handles SIGTERM with ``on_term``."""
    leader = subprocess.Popen([sys.executable, "-c", LEADER, MEMBER.format(on_term=on_term)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    return leader, int(leader.stdout.readline())


def test_it_returns_only_once_a_member_that_exits_slowly_has_exited():
    leader, member = _group("time.sleep(1.0); sys.exit(0)")
    assert sorted(group_members(leader.pid)) == sorted([leader.pid, member])

    started = time.monotonic()
    assert terminate_group(leader.pid, timeout=10) is True
    assert group_members(leader.pid) == [], "a member still ran after terminate_group returned"
    assert time.monotonic() - started >= 0.9, "the member's exit was not waited for"
    leader.stdout.close()


def test_a_member_that_ignores_sigterm_is_killed_when_the_time_is_up():
    leader, _ = _group("pass")

    assert terminate_group(leader.pid, timeout=0.5) is True
    assert group_members(leader.pid) == []
    leader.stdout.close()


def test_a_group_that_is_gone_is_reported_as_such():
    leader, _ = _group("sys.exit(0)")
    assert terminate_group(leader.pid) is True
    assert terminate_group(leader.pid) is False
    leader.stdout.close()
