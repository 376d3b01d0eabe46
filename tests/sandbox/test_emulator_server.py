"""The embedded emulator's process: moto's own server, which leaves at once on SIGTERM instead of freeing its state
object by object; its answers are moto's."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from moto import server

from prodline.net import free_port
from prodline.sandbox import emulator_server
from prodline.sandbox.clients import Clients
from prodline.sandbox.emulator import SERVER_MODULE, is_up
from tests.helpers import reaped


def test_main_runs_motos_main_with_its_signal_handler_replaced_and_the_shortcuts_installed(monkeypatch):
    seen, steps = {}, []
    monkeypatch.setattr(emulator_server.moto_shortcuts, "install", lambda: steps.append("shortcuts"))
    monkeypatch.setattr(server, "main", lambda argv: (steps.append("serve"),
                                                      seen.update(argv=argv, handler=server.signal_handler)))
    monkeypatch.setattr(server, "signal_handler", server.signal_handler)
    emulator_server.main(["-p", "1"])
    assert seen == {"argv": ["-p", "1"], "handler": emulator_server.leave}
    assert steps == ["shortcuts", "serve"]


def test_a_moto_without_the_handler_this_replaces_is_refused_not_run_half_patched(monkeypatch):
    monkeypatch.delattr(server, "signal_handler")
    monkeypatch.setattr(server, "main", lambda argv: pytest.fail("moto's main ran"))
    with pytest.raises(RuntimeError, match="signal_handler"):
        emulator_server.main([])


def test_the_server_answers_as_moto_and_exits_0_on_sigterm(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "emulator.log").open("wb") as log, reaped(subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)) as process:
        deadline = time.monotonic() + 30
        while not is_up(url, timeout=0.5):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "emulator.log").read_text()
            time.sleep(0.1)
        s3 = Clients(url, "eu-west-1")("s3")
        s3.create_bucket(Bucket="state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["state"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert "PUT /state" in (tmp_path / "emulator.log").read_text(), "the request log is flushed before it leaves"
