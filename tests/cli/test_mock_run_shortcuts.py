"""A program run under the mocks sends no source positions, checks values for unknowns without leaving reference
cycles, and leaves the SDK's own functions in place afterwards."""

from __future__ import annotations

import gc
import threading
import traceback

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import UNKNOWN, Unknown
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc

from prodline import mock_run_shortcuts as shortcuts
from prodline import program
from prodline.program import record, run_program


def _one_resource_program() -> None:
    pulumi.CustomResource("test:index:Thing", "thing", {"size": 1})


class _SeeingMonitor(program.RecordingMonitor):
    """Keeps each request's stack trace as the SDK sent it."""

    traces: list = []

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            self.traces.append((len(request.stackTrace.frames), request.HasField("sourcePosition")))
        return super().RegisterResource(request)


@pytest.fixture
def stack_walks(monkeypatch):
    """How often the SDK walked the Python stack (``traceback.extract_stack``) in this test."""
    calls: list[int] = []
    real = traceback.extract_stack

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sdk_resource.traceback, "extract_stack", counted)
    return calls


def _sdk_functions_in_place() -> bool:
    return (sdk_resource._get_stack_trace is shortcuts.SDK_STACK_TRACE
            and rpc.contains_unknowns is shortcuts.SDK_CONTAINS_UNKNOWNS)


def test_a_recorded_run_never_walks_the_stack_and_registers_the_same_resources(stack_walks, monkeypatch):
    _SeeingMonitor.traces = []
    monkeypatch.setattr(program, "RecordingMonitor", _SeeingMonitor)
    registrations = record(_one_resource_program, stack="dev")
    assert [(r.type, r.name, r.inputs) for r in registrations] == [("test:index:Thing", "thing", {"size": 1})]
    assert stack_walks == []
    assert _SeeingMonitor.traces == [(0, False)]


def test_the_sdk_functions_are_back_after_the_run(stack_walks):
    record(_one_resource_program, stack="dev")
    assert _sdk_functions_in_place()
    assert stack_walks == []
    sdk_resource._get_stack_trace()
    assert stack_walks == [1]  # the SDK's own function, walking again


def test_the_sdk_functions_are_back_after_a_program_that_fails():
    def failing():
        raise RuntimeError("the program broke")

    with pytest.raises(Exception, match="the program broke"):
        record(failing, stack="dev")
    assert _sdk_functions_in_place()


def test_runs_in_two_threads_restore_the_sdk_functions_only_when_the_last_ends():
    first_in, second_done = threading.Event(), threading.Event()
    seen: list = []

    def first():
        with shortcuts.shortcuts_in_place():
            first_in.set()
            second_done.wait(10)
            seen.append(_sdk_functions_in_place())

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with shortcuts.shortcuts_in_place():
        pass
    second_done.set()
    thread.join(10)
    assert seen == [False]  # the second run's end left the first one's shortcuts in place
    assert _sdk_functions_in_place()


def test_the_sdk_still_has_the_functions_this_replaces():
    """A Pulumi upgrade that renames them would leave the shortcuts silently doing nothing: this says so instead."""
    assert (shortcuts.SDK_STACK_TRACE.__module__, shortcuts.SDK_STACK_TRACE.__name__) == \
        ("pulumi.runtime.resource", "_get_stack_trace")
    assert (shortcuts.SDK_CONTAINS_UNKNOWNS.__module__, shortcuts.SDK_CONTAINS_UNKNOWNS.__name__) == \
        ("pulumi.runtime.rpc", "contains_unknowns")


_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just(UNKNOWN),
                    st.builds(Unknown))
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4),
    st.tuples(inner, inner)), max_leaves=20)


@given(_values)
def test_contains_unknowns_answers_as_the_sdk_does(value):
    assert shortcuts.contains_unknowns(value) is shortcuts.SDK_CONTAINS_UNKNOWNS(value)


def test_contains_unknowns_answers_as_the_sdk_does_on_shared_and_cyclic_values():
    shared = [UNKNOWN]
    cyclic: list = [1]
    cyclic.append(cyclic)
    holding: dict = {"a": cyclic, "b": [2, {"c": UNKNOWN}]}
    for value in ([shared, shared], {"x": shared, "y": shared}, cyclic, holding, [cyclic, [cyclic]]):
        assert shortcuts.contains_unknowns(value) is shortcuts.SDK_CONTAINS_UNKNOWNS(value)
    assert shortcuts.contains_unknowns(holding) is True and shortcuts.contains_unknowns(cyclic) is False


def test_a_dev_run_leaves_no_closure_cycles_behind():
    """The SDK's ``contains_unknowns`` left a function, its cell and its annotations per call: ~85,000 cyclic
    objects a dev run. Counted with the collector off for the run, then one collection."""
    run_program("dev")  # imports and caches out of the count
    gc.collect()
    gc.disable()
    try:
        run_program("dev")
    finally:
        gc.enable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        closures = [o for o in gc.garbage if type(o).__name__ == "function" and o.__name__ == "impl"
                    and o.__module__ == "pulumi.runtime.rpc"]
        left = len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert closures == []
    assert left < 30_000
