"""Two pieces of the Pulumi SDK's per-value bookkeeping done more cheaply while a program runs under the mocks.

Why: the sandbox's deploys and the tests run the program again and again in one process, and the previews and
policy checks run it once per command; each run spent about a quarter of its CPU on two helpers that either produce
what mocks never read or leave garbage the collector must walk (docs/benchmarks.md):

- ``_get_stack_trace``: for every resource the SDK walks the whole Python stack (``traceback.extract_stack``)
  and makes a file URI of each frame, for the engine to show where the resource was declared. Mocks never read
  it; the SDK's own empty trace, the one it sends when it finds no user frame, is sent instead.
- ``contains_unknowns``: called for every Output's value, it defines a recursive inner function on each call,
  a function that holds itself through its closure cell, with its annotations (``set[int]``) built anew. Each
  call leaves a reference cycle: ~85,000 of the ~93,000 objects of cyclic garbage a dev run leaves behind.
  ``contains_unknowns`` here answers the same (a test compares the two on generated values) without a closure.

Both are swapped in for the span of a run and the SDK's own are back when the last run in the process ends
(counted: a stack realized in a background thread may run beside another). ``pulumi up`` through the CLI runs
the program in a process of its own and never comes here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pulumi.runtime import known_types, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

SDK_STACK_TRACE = sdk_resource._get_stack_trace
SDK_CONTAINS_UNKNOWNS = rpc.contains_unknowns


def no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def contains_unknowns(val: Any, seen_ids: set[int] | None = None) -> bool:
    """Whether ``val`` is or holds (in dicts and lists, at any depth) an unknown: the SDK's answer, cycles
    and shared values visited once as there."""
    if known_types.is_unknown(val):
        return True
    if seen_ids is None:
        seen_ids = set()
    if id(val) in seen_ids:
        return False
    seen_ids.add(id(val))
    if isinstance(val, dict):
        return any(contains_unknowns(val[key], seen_ids) for key in val)
    if isinstance(val, list):
        return any(contains_unknowns(item, seen_ids) for item in val)
    return False


class _Shortcuts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            self._runs += 1
            sdk_resource._get_stack_trace = no_stack_trace
            rpc.contains_unknowns = contains_unknowns
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1
                if not self._runs:
                    sdk_resource._get_stack_trace = SDK_STACK_TRACE
                    rpc.contains_unknowns = SDK_CONTAINS_UNKNOWNS


shortcuts_in_place = _Shortcuts()
"""``with shortcuts_in_place():`` around a run under the mocks."""
