"""One emulator and one gateway for every stack of the sandbox: a stack's down stops nothing another still uses.

The embedded moto server and the gateway run on free ports (not 4566 and 4571, which a running sandbox may
hold); the stacks join and leave as ``sandbox up`` and ``sandbox down`` make them. ``sandbox down`` of a stack that
is not up starts nothing, and stops only what no stack uses; its ``status`` says it is not up and makes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prodline.net import free_port
from prodline.sandbox import shared
from prodline.sandbox.emulator import is_up
from prodline.sandbox.paths import EMULATOR_URL_FILE, STATE_FILE
from prodline.sandbox.processes import alive

pytestmark = pytest.mark.e2e
REGION = "eu-west-1"


@pytest.fixture
def sandbox_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    monkeypatch.setenv(shared.EMULATOR_PORT_ENV, str(free_port()))
    monkeypatch.setenv(shared.GATEWAY_PORT_ENV, str(free_port()))
    yield tmp_path
    for stack in ("dev", "staging"):  # whatever a failed test left running
        shared.leave(stack)


def _pids(sandbox_dir: Path) -> list[int]:
    records = [sandbox_dir / shared.SHARED / "emulator.json", sandbox_dir / shared.SHARED / "gateway.json"]
    return [json.loads(r.read_text())["pid"] for r in records if r.exists()]


def test_the_emulator_outlives_one_stacks_down_and_stops_with_the_last(sandbox_dir):
    (sandbox_dir / shared.SHARED).mkdir()
    (sandbox_dir / shared.SHARED / "emulator.log").write_text("an earlier emulator\n")
    emulator = shared.emulator()
    assert (sandbox_dir / shared.SHARED / "emulator.log.1").read_text() == "an earlier emulator\n", (
        "a new emulator logs to a new file; the previous log is kept once")
    assert emulator.embedded and emulator.endpoint_url.endswith(f":{shared.emulator_port()}")
    for stack in ("dev", "staging"):
        shared.join(stack, emulator.endpoint_url)
        assert shared.emulator() == emulator, "every stack gets the one emulator"
    gateway = shared.gateway(emulator, REGION)
    assert shared.gateway(emulator, REGION) == gateway, "every stack gets the one gateway"
    pids = _pids(sandbox_dir)
    assert len(pids) == 2

    assert shared.leave("dev") == [], "staging still uses the emulator and the gateway"
    assert is_up(emulator.endpoint_url) and shared.gateway_url() == gateway
    assert shared.users(emulator.endpoint_url) == ["staging"]

    assert shared.leave("staging") == ["gateway and model servers", "emulator"]
    assert not is_up(emulator.endpoint_url) and shared.gateway_url() is None
    assert not any(alive(pid) for pid in pids), "no process of the sandbox may outlive its last stack"


def test_a_stack_in_another_region_cannot_share_the_gateway(sandbox_dir):
    emulator = shared.emulator()
    shared.join("dev", emulator.endpoint_url)
    shared.gateway(emulator, REGION)
    with pytest.raises(shared.SharedError, match="us-east-1"):
        shared.gateway(emulator, "us-east-1")
    shared.leave("dev")


def _sandbox(action: str, stack: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prodline.cli", "sandbox", action, "--stack", stack],
                          capture_output=True, text=True, timeout=120, check=False)


def _down(stack: str) -> subprocess.CompletedProcess:
    return _sandbox("down", stack)


def test_down_of_a_stack_never_up_starts_nothing_and_makes_nothing(sandbox_dir):
    result = _down("dev")
    assert (result.returncode, result.stdout) == (0, "sandbox dev is not up; nothing to take down\n"), result.stderr
    assert list(sandbox_dir.iterdir()) == []
    assert not is_up(f"http://127.0.0.1:{shared.emulator_port()}", timeout=0.5), "the emulator was started"


def test_down_of_a_stack_not_up_stops_what_no_stack_uses_and_nothing_another_uses(sandbox_dir):
    emulator = shared.emulator()
    shared.join("staging", emulator.endpoint_url)
    result = _down("dev")
    assert (result.returncode, result.stdout) == (0, "sandbox dev is not up; nothing to take down\n"), result.stderr
    assert alive(emulator.pid) and shared.users(emulator.endpoint_url) == ["staging"]

    (sandbox_dir / "staging" / EMULATOR_URL_FILE).unlink()  # staging's process was killed before its down
    result = _down("dev")
    assert (result.returncode, result.stdout) == (0, "sandbox dev is not up; stopped what was left running: "
                                                     "emulator\n"), result.stderr
    assert not alive(emulator.pid)


def test_down_of_a_stack_not_up_whose_state_holds_resources_clears_it(sandbox_dir):
    """A down killed after the stack left the emulator's users but before its state was cleared: the next down
    finishes it (an up would otherwise take those resources to exist)."""
    state = sandbox_dir / "dev" / STATE_FILE
    state.parent.mkdir()
    state.write_text(json.dumps({"entries": [{"urn": "aws:s3/bucket:Bucket::raw", "type": "aws:s3/bucket:Bucket",
                                              "name": "raw", "status": "realized", "id": "raw-1234567",
                                              "outputs": {}, "inputs_hash": "0"}]}))
    result = _down("dev")
    assert result.returncode == 0 and "is not up" not in result.stdout, result.stdout + result.stderr
    assert json.loads(state.read_text())["entries"] == []


def test_status_of_a_stack_never_up_says_so_and_makes_nothing(sandbox_dir):
    result = _sandbox("status", "dev")
    assert (result.returncode, result.stdout) == (
        0, "the sandbox stack dev is not up (up: none): prodline sandbox up --stack dev\n"), result.stderr
    assert list(sandbox_dir.iterdir()) == []


def test_status_of_a_stack_not_up_names_those_that_are_and_what_they_share(sandbox_dir):
    emulator = shared.emulator()
    shared.join("staging", emulator.endpoint_url)
    result = _sandbox("status", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "the sandbox stack dev is not up (up: staging): prodline sandbox up --stack dev", "gateway: not running"]
    assert not (sandbox_dir / "dev").exists()
