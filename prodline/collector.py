"""Cyclic garbage collection paused for the short commands that build a whole program's objects and exit."""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside. A program run under the mocks (and the policy pack after it) builds
    hundreds of thousands of objects that live to its end (the provider's typed classes, Outputs, tasks), so
    every collection walks them all and frees next to nothing: a quarter of `prodline preview`'s CPU time, for
    3 MB more peak memory (docs/benchmarks.md). Reference counting still frees everything else. The collector
    is as it was afterwards, so long-running commands (the sandbox, the server) keep it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def paused(command: Callable[P, R]) -> Callable[P, R]:
    """``command`` run with the collector paused from its first import on (a tenth of a second more than
    pausing around the program run alone): for the subcommands that run a program and exit."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return command(*args, **kwargs)

    run.exits_at_once = True  # type: ignore[attr-defined]
    return run


def exit_at_once(code: int) -> None:
    """End the process with ``code`` without tearing its objects down one by one.

    After a program run the interpreter holds hundreds of thousands of objects; turning the collector back on
    makes its next collection walk them all, and the interpreter's exit then frees them one at a time and
    clears every module: together a quarter of `prodline preview`'s wall time (docs/benchmarks.md), spent on
    memory the operating system takes back anyway. Everything a command wrote is flushed first; nothing of
    this project registers ``atexit`` work for these commands. A stdout closed early (``| head``) ends with
    120, as the interpreter's own exit would."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


LONG_RUN_YOUNG_THRESHOLD = 7000
"""Allocations between young collections once a long-running command has settled (the interpreter's is 700)."""


def settle_long_run() -> None:
    """For a command that goes on for minutes after a set-up that built what it keeps (``prodline demo``).

    What exists once the set-up is done (the imported modules, the provider's classes, the clients) lives to
    the end, yet every full collection would walk it again; frozen, collections walk only what came after. The
    young generation is collected every 7,000 allocations instead of 700: fewer, larger passes over the objects
    the demo's dozen program runs make spend less time walking the survivors. Measured when a run still left
    ~93,000 objects of cyclic garbage (before ``mock_run_shortcuts`` took that to ~8,000): about a third less
    time in the collector over a demo (docs/benchmarks.md); not measured again since."""
    gc.collect()
    gc.freeze()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, LONG_RUN_YOUNG_THRESHOLD), *older)
