"""Results shared by the session's processes: computed once, whichever process asks first; a failure is not kept."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import run_python
from tests.shared_results import SHARED_DIR_ENV, once_per_session


@pytest.fixture
def shared_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_DIR_ENV, str(tmp_path))
    return tmp_path


def test_two_askers_at_once_compute_once_and_get_the_same_value(shared_dir):
    calls, results = [], []

    def compute():
        calls.append(1)
        time.sleep(0.2)  # long enough for the other thread to ask while this one computes
        return {"registrations": [1, 2, 3]}

    threads = [threading.Thread(target=lambda: results.append(once_per_session("k", compute))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [{"registrations": [1, 2, 3]}] * 2


def test_another_process_reads_the_value_instead_of_computing_it(shared_dir):
    once_per_session("program dev", lambda: ("computed here",))
    script = ("from tests.shared_results import once_per_session\n"
              "def fail(): raise SystemExit('computed again')\n"
              "print(once_per_session('program dev', fail))")
    assert run_python("-c", script).stdout.strip() == "('computed here',)"


def test_a_failed_computation_is_not_kept_and_the_next_asker_computes(shared_dir):
    def fail():
        raise ValueError("bad config")

    with pytest.raises(ValueError, match="bad config"):
        once_per_session("k", fail)
    assert once_per_session("k", lambda: 42) == 42
    assert once_per_session("k", fail) == 42


def test_keys_do_not_collide(shared_dir):
    assert once_per_session("a", lambda: 1) == 1
    assert once_per_session("b", lambda: 2) == 2
