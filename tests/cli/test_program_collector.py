"""The cyclic garbage collector is off while a program runs under the mocks, and as it was afterwards."""

from __future__ import annotations

import gc
import json
import os
import subprocess

import pytest

from prodline.collector import collector_paused, paused
from prodline.program import record
from tests.helpers import run_python


def test_the_collector_is_off_during_the_run_and_on_again_after():
    seen: list[bool] = []
    assert gc.isenabled()
    record(lambda: seen.append(gc.isenabled()), stack="dev")
    assert seen == [False]
    assert gc.isenabled()


def test_the_collector_is_on_again_after_a_program_that_fails():
    def failing():
        raise RuntimeError("the program broke")

    with pytest.raises(Exception, match="the program broke"):  # pulumi wraps the program's error in its own
        record(failing, stack="dev")
    assert gc.isenabled()


def test_a_collector_someone_turned_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_preview_and_policy_run_with_the_collector_paused_from_their_first_import():
    from prodline.cli import build_parser

    parser = build_parser()
    for argv in (["preview", "--stack", "dev"], ["policy", "--stack", "dev"]):
        handler = parser.parse_args(argv).handler
        assert handler.__wrapped__.__name__ == f"cmd_{argv[0]}"
    seen = []
    paused(lambda: seen.append(gc.isenabled()))()
    assert seen == [False]
    assert gc.isenabled()


def _python(script: str) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter whose output is block-buffered, as a console script's is in a pipe."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return run_python("-c", script, env=env, check=False, timeout=120)


def test_exit_at_once_flushes_what_was_written_and_keeps_the_code():
    done = _python("import sys\nfrom prodline.collector import exit_at_once\n"
                   "print('to stdout', end='')\nsys.stderr.write('to stderr')\nexit_at_once(3)\n")
    assert (done.returncode, done.stdout, done.stderr) == (3, "to stdout", "to stderr")


def test_exit_at_once_with_a_stdout_that_cannot_take_the_output_ends_with_120():
    done = _python("import os, sys\nfrom prodline.collector import exit_at_once\n"
                   "print('lost', end='')\nos.close(1)\nexit_at_once(0)\n")
    assert done.returncode == 120


def test_the_console_script_ends_the_program_running_commands_at_once_and_others_the_usual_way():
    from prodline.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["preview", "--stack", "dev"]).handler.exits_at_once
    for argv in (["policy", "--stack", "dev"], ["cost", "--stack", "dev"], ["bootstrap"]):
        assert parser.parse_args(argv).handler.exits_at_once
    assert not hasattr(parser.parse_args(["sandbox", "status", "--stack", "dev"]).handler, "exits_at_once")
    done = run_python("-m", "prodline.cli", "preview", "--stack", "dev", "--json", check=False)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) > 100  # the whole document arrived before the process ended


def test_a_settled_long_run_freezes_what_its_set_up_built_and_still_collects_what_comes_after():
    # In a process of its own: a frozen heap would stay frozen in this test worker.
    script = """
import gc, json, weakref
from prodline.collector import LONG_RUN_YOUNG_THRESHOLD, settle_long_run

class Node:
    pass

kept = Node()
settle_long_run()
frozen_after = gc.get_freeze_count()
walked = {id(o) for o in gc.get_objects()}
late = Node(); late.self = late
gone = weakref.ref(late)
del late
gc.collect()
print(json.dumps({"frozen": frozen_after, "kept_walked": id(kept) in walked, "late_collected": gone() is None,
                  "young": gc.get_threshold()[0], "expected_young": LONG_RUN_YOUNG_THRESHOLD}))
"""
    done = run_python("-c", script, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["frozen"] > 1000  # the modules and objects of the set-up
    assert seen["kept_walked"] is False  # a full collection no longer walks them
    assert seen["late_collected"] is True  # a cycle made afterwards is still collected
    assert seen["young"] == seen["expected_young"] == 7000
