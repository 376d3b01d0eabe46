"""A program run under the mocks sends no source positions, and the SDK's own walk is back afterwards."""

from __future__ import annotations

import threading
import traceback

import pulumi
import pytest
from pulumi.runtime import resource as sdk_resource

from prodline import program
from prodline.program import record, source_positions_skipped


def _bucket_program() -> None:
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


def test_a_recorded_run_never_walks_the_stack_and_registers_the_same_resources(stack_walks, monkeypatch):
    _SeeingMonitor.traces = []
    monkeypatch.setattr(program, "RecordingMonitor", _SeeingMonitor)
    registrations = record(_bucket_program, stack="dev")
    assert [(r.type, r.name, r.inputs) for r in registrations] == [("test:index:Thing", "thing", {"size": 1})]
    assert stack_walks == []
    assert _SeeingMonitor.traces == [(0, False)]


def test_the_sdk_walks_the_stack_again_after_the_run(stack_walks):
    record(_bucket_program, stack="dev")
    assert sdk_resource._get_stack_trace is program._sdk_stack_trace
    assert stack_walks == []
    sdk_resource._get_stack_trace()
    assert stack_walks == [1]  # the SDK's own function, walking again


def test_the_sdk_function_is_back_after_a_program_that_fails():
    def failing():
        raise RuntimeError("the program broke")

    with pytest.raises(Exception, match="the program broke"):
        record(failing, stack="dev")
    assert sdk_resource._get_stack_trace is program._sdk_stack_trace


def test_runs_in_two_threads_restore_the_sdk_function_only_when_the_last_ends():
    first_in, second_done = threading.Event(), threading.Event()
    seen: list = []

    def first():
        with source_positions_skipped():
            first_in.set()
            second_done.wait(10)
            seen.append(sdk_resource._get_stack_trace is program._sdk_stack_trace)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with source_positions_skipped():
        pass
    second_done.set()
    thread.join(10)
    assert seen == [False]  # the second run's end left the first one skipping
    assert sdk_resource._get_stack_trace is program._sdk_stack_trace


def test_the_sdk_still_has_the_function_this_replaces():
    """A Pulumi upgrade that renames it would leave the skip silently doing nothing: this says so instead."""
    assert callable(program._sdk_stack_trace)
    assert program._sdk_stack_trace.__module__ == "pulumi.runtime.resource"
    assert program._sdk_stack_trace.__name__ == "_get_stack_trace"
