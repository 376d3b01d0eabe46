"""Work the demo runs beside its next steps (prod's deployer after a person's approval): what it reports is held
and printed with the step that waits for it, never in the middle of another step's output."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from prodline.sandbox.demo import Demo


def demo() -> tuple[Demo, io.StringIO]:
    out = io.StringIO()
    return Demo(console=Console(file=out, width=200, color_system=None)), out


def test_lines_reported_beside_are_printed_with_the_step_that_waits_and_others_print_at_once():
    d, out = demo()
    reported, release = threading.Event(), threading.Event()

    def work() -> str:
        d._progress("prod: deploying version 1")
        reported.set()
        assert release.wait(timeout=10)
        d._progress("prod: smoke green")
        return "prod: Deployment Succeeded"

    beside = d._beside("promote-prod", work)
    assert reported.wait(timeout=10)
    d._progress("dev: traffic sent")  # the main thread's own progress, while the work is under way
    assert out.getvalue() == "  dev: traffic sent\n", "nothing of the work beside may be printed yet"
    release.set()
    with d.step("prodline promote --to prod, beside the steps above") as s:
        s["result"] = d._waited(beside)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["  dev: traffic sent", "  prod: deploying version 1", "  prod: smoke green"]
    assert lines[3].startswith("v prodline promote --to prod, beside the steps above (")
    assert lines[3].endswith("): prod: Deployment Succeeded")


def test_the_work_beside_fails_its_step_with_its_error_after_printing_what_it_reported():
    d, out = demo()

    def work() -> str:
        d._progress("prod: deploying version 1")
        raise RuntimeError("prod: smoke gate failed")

    beside = d._beside("promote-prod", work)
    with pytest.raises(RuntimeError, match="smoke gate failed"), d.step("prodline promote --to prod"):
        d._waited(beside)
    lines = out.getvalue().splitlines()
    assert lines == ["  prod: deploying version 1", "x prodline promote --to prod: prod: smoke gate failed"]
    assert not d.state.steps[-1].ok


def test_a_step_that_fails_before_waiting_leaves_nothing_running_beside_when_the_demo_ends(monkeypatch, tmp_path):
    """The demo takes the sandbox down when a step fails: work beside (a deploy) must be over by then."""
    d, _ = demo()
    finished = threading.Event()

    def slow_deploy() -> str:
        assert not finished.wait(timeout=0.5)  # still deploying when the next step fails
        finished.set()
        return "done"

    def lifecycle():
        d._beside("promote-prod", slow_deploy)
        raise RuntimeError("a later step failed")

    monkeypatch.setattr(d, "_lifecycle", lifecycle)
    for name in ("_cost", "_summary"):
        monkeypatch.setattr(d, name, lambda *a: None)
    monkeypatch.setattr(d, "_write_report", lambda: tmp_path / "report.html")
    with pytest.raises(RuntimeError, match="a later step failed"):
        d.run()
    assert finished.is_set(), "run() ended while the work beside was still under way"
