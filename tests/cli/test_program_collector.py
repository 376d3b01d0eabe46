"""The cyclic garbage collector is off while a program runs under the mocks, and as it was afterwards."""

from __future__ import annotations

import gc

import pytest

from prodline.collector import collector_paused, paused
from prodline.program import record


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
