"""The last stack's down: the MLflow server stops beside the gateway and the emulator, which stop in order; with no
stack up, what was left running stops the same way."""

from __future__ import annotations

import threading

from prodline.sandbox import shared
from prodline.sandbox.paths import EMULATOR_URL_FILE


def test_the_tracking_server_stops_while_the_gateway_and_then_the_emulator_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    events: list[str] = []
    tracking_stopping = threading.Event()

    def stop_tracking(directory):
        events.append("tracking starts")
        tracking_stopping.set()
        assert gateway_stopped.wait(timeout=10)  # still stopping when the gateway is done: in parallel
        events.append("tracking stopped")
        return True

    gateway_stopped = threading.Event()

    def stop_gateway(stack):
        assert tracking_stopping.wait(timeout=10), "the tracking server must start stopping beside the gateway"
        events.append("gateway stopped")
        gateway_stopped.set()
        return True

    def stop_emulator(directory):
        events.append("emulator stopped")
        return True

    monkeypatch.setattr(shared.tracking, "stop", stop_tracking)
    monkeypatch.setattr(shared.hosting, "stop_gateway", stop_gateway)
    monkeypatch.setattr(shared.emu, "stop", stop_emulator)

    assert shared.leave("dev") == ["gateway and model servers", "MLflow server", "emulator"]
    assert events.index("gateway stopped") < events.index("emulator stopped"), "the gateway flushes into the emulator"
    assert events[0] == "tracking starts" and "tracking stopped" in events


def test_nothing_stopped_is_not_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    monkeypatch.setattr(shared.tracking, "stop", lambda directory: False)
    monkeypatch.setattr(shared.hosting, "stop_gateway", lambda stack: False)
    monkeypatch.setattr(shared.emu, "stop", lambda directory: True)
    assert shared.leave("dev") == ["emulator"]


def test_what_no_stack_uses_is_stopped_and_nothing_while_a_stack_is_up(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr(shared.tracking, "stop", lambda directory: calls.append("tracking") or True)
    monkeypatch.setattr(shared.hosting, "stop_gateway", lambda stack: calls.append("gateway") or True)
    monkeypatch.setattr(shared.emu, "stop", lambda directory: calls.append("emulator") or True)
    shared.join("staging", "http://127.0.0.1:1")
    assert shared.stop_unused() == [] and calls == []
    (tmp_path / "staging" / EMULATOR_URL_FILE).unlink()
    assert shared.stop_unused() == ["gateway and model servers", "MLflow server", "emulator"]
    assert sorted(calls) == ["emulator", "gateway", "tracking"]
