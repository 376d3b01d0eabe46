"""The cyclic garbage collector is off while a program runs under the mocks, and as it was afterwards."""

from __future__ import annotations

import gc

import pytest

from prodline.program import collector_paused, record


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
