"""wrk's report as the serving benchmarks read it: a run stopped at its request bound is a floor, not a rate.

wrk divides the requests a run answered by the run's whole duration, also when the bench's script stopped it
early at its bound, so such a run looks like a steady rate. On a fast machine ``serve`` at c=64 reached the
old bound of 200,000 requests in a 5 s run in every round and showed 39,998-39,999 req/s.
"""

import subprocess
from pathlib import Path

import pytest

from bench import common, serving_bench

# wrk 4.1.0's report of a run its script stopped after 100 requests, and of one that ran its whole second
STOPPED_AT_BOUND = """Running 2s test @ http://127.0.0.1:18765/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.32ms  656.83us   4.10ms   74.00%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    1.25ms
     75%    1.83ms
     90%    2.11ms
     99%    4.10ms
  100 requests in 2.00s, 136.72KB read
Requests/sec:     49.99
Transfer/sec:     68.35KB
"""
RAN_ITS_TIME = """Running 1s test @ http://127.0.0.1:18765/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.22ms  445.73us   5.30ms   73.36%
    Req/Sec     1.59k    31.14     1.63k    70.00%
  Latency Distribution
     50%    1.22ms
     75%    1.47ms
     90%    1.70ms
     99%  850.00us
  1580 requests in 1.00s, 2.11MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1579.67
Transfer/sec:      2.11MB
"""


def test_a_run_stopped_at_its_bound_is_marked():
    run = common.read_wrk(STOPPED_AT_BOUND, limit=100)
    assert run["requests"] == 100
    assert run["reached_bound"] is True
    assert common.bound_note(run) == "  reached its request bound: req/s is a floor"


def test_a_run_that_ran_its_time_is_read_whole():
    run = common.read_wrk(RAN_ITS_TIME, limit=1_000_000)
    assert run == {"requests_per_second": 1579.67, "p50_ms": 1.22, "p99_ms": 0.85, "requests": 1580,
                   "reached_bound": False, "non_2xx": 3, "socket_errors": ""}
    assert common.bound_note(run) == ""


def test_the_default_bound_grows_with_the_duration(monkeypatch, tmp_path):
    scripts: list[str] = []

    def fake_wrk(command, **kwargs):
        scripts.append(Path(command[command.index("-s") + 1]).read_text())
        return subprocess.CompletedProcess(command, 0, stdout=RAN_ITS_TIME, stderr="")

    monkeypatch.setattr(common.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(common.subprocess, "run", fake_wrk)
    monkeypatch.setattr(common, "WORK", tmp_path)
    common.wrk("http://127.0.0.1:8080/invocations", "1,2", "text/csv", seconds=5)
    common.wrk("http://127.0.0.1:8080/invocations", "1,2", "text/csv", seconds=5, max_requests=1000)
    assert f"local limit, done = {5 * common.REQUESTS_PER_SECOND_BOUND}, 0" in scripts[0]
    assert "local limit, done = 1000, 0" in scripts[1]
    assert common.REQUESTS_PER_SECOND_BOUND > 40_000 * 10  # far above what serve reached at c=64


@pytest.mark.parametrize("reached", [False, True])
def test_the_summary_names_the_concurrencies_that_reached_the_bound(reached):
    def run(rps: float, bound: bool = False) -> dict:
        return {"requests_per_second": rps, "p50_ms": 1.0, "p99_ms": 2.0, "server_cpu_us_per_request": 30.0,
                "background_cpu_share": 0.0, "non_2xx": 0, "reached_bound": bound}

    rounds = [{"raw_predict_us": {"p50": 500.0, "p99": 700.0}, "scoring_us": {"p50": 60.0, "p99": 80.0},
               "background_busy_before": 0.0,
               "serve": {"c8": run(25_000), "c64": run(40_000, bound=reached and number == 2)},
               "uvicorn": {"c8": run(12_000), "c64": run(26_000)}} for number in (1, 2, 3)]
    summary = serving_bench.summarize(rounds, ["serve", "uvicorn"], [8, 64])
    assert summary["serve"]["reached_bound"] == (["c64"] if reached else [])
    assert summary["uvicorn"]["reached_bound"] == []
    if reached:
        assert common.bound_warning("serve", summary["serve"]["reached_bound"]).startswith(
            "  serve reached wrk's request bound at c64 in some rounds")
