"""Local containers share the machine's cores: one BLAS/OpenMP thread each, unless the job or the caller says."""

from __future__ import annotations

import json
import os
import sys

import pytest

from prodline.sandbox import warm_start
from prodline.sandbox.runtimes.containers import run_container
from prodline.sandbox.zygote import THREAD_VARIABLES

THREADS = f"""\
import json, os
import sklearn.ensemble  # its OpenMP runtime: what a tree fit spins on
import threadpoolctl
print(json.dumps({{"env": {{name: os.environ.get(name) for name in {THREAD_VARIABLES!r}}},
                  "pools": sorted({{pool["num_threads"] for pool in threadpoolctl.threadpool_info()}})}}))
"""


def _threads(tmp_path, env: dict[str, str]) -> dict:
    script = tmp_path / "threads.py"
    script.write_text(THREADS)
    result = run_container([sys.executable, str(script)], root=None, env=env, log=tmp_path / "log")
    assert result.returncode == 0, result.log.read_text()
    return json.loads(result.log.read_text().strip().splitlines()[-1])


@pytest.mark.parametrize("warm", ["0", "1"])
def test_a_container_gets_one_thread_by_default(monkeypatch, tmp_path, warm):
    monkeypatch.setenv(warm_start.WARM_ENV, warm)
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    seen = _threads(tmp_path, {})
    assert seen["env"] == dict.fromkeys(THREAD_VARIABLES, "1")
    assert seen["pools"] == [1]


def test_the_job_definition_sets_its_own_threads(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "0")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _threads(tmp_path, {"OMP_NUM_THREADS": "2"})["env"]["OMP_NUM_THREADS"] == "2"


def test_the_callers_environment_sets_threads_for_every_container(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_start.WARM_ENV, "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert _threads(tmp_path, {})["env"]["OMP_NUM_THREADS"] == "3"
