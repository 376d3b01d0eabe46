"""Shared pieces of the benchmarks: waiting for servers, wrk, latency summaries, machine facts.

Every load generated here goes to 127.0.0.1 only, and every loop is bounded in requests and in time.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from prodline.net import LOOPBACK
from prodline.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"


def wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def spread(values: list[float]) -> dict[str, float]:
    """A figure measured over rounds: its median, its range and how many rounds (docs/benchmarks.md)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": len(values)}


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99),
            "mean": statistics.fmean(values), "n": len(values)}


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "{content_type}"
local limit, done = {limit}, 0
function response(status, headers, body)
  done = done + 1
  if done >= limit then wrk.thread:stop() end
end
"""


#: The bound on a wrk run's requests, per second of its duration: far above what one wrk thread gets from a
#: server on these cores (``serve`` answered 40,000 req/s at c=64 when the bound was 200,000 a run and stopped it).
#: A run that reaches its bound stops early, yet wrk divides by the whole duration, so its req/s would be a floor
#: that looks like a measurement; ``read_wrk`` marks such a run.
REQUESTS_PER_SECOND_BOUND = 1_000_000


def wrk(url: str, body: str, content_type: str, *, connections: int = 8, seconds: int = 10,
        max_requests: int | None = None) -> dict[str, float]:
    """Requests/s and latency at a fixed concurrency: one wrk thread, ``connections`` keep-alive connections,
    at most ``max_requests`` (by default ``seconds`` x ``REQUESTS_PER_SECOND_BOUND``)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"load goes to {LOOPBACK} only, got {url}")
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    limit = max_requests if max_requests is not None else seconds * REQUESTS_PER_SECOND_BOUND
    text = WRK_SCRIPT.format(body=json.dumps(body), content_type=content_type, limit=limit)
    script = WORK / f"post-{hashlib.sha256(text.encode()).hexdigest()[:16]}.lua"
    if not script.exists():  # written aside and renamed: wrk runs started at once may share the script
        WORK.mkdir(parents=True, exist_ok=True)
        aside = script.with_suffix(f".{os.getpid()}.{threading.get_ident()}")
        aside.write_text(text)
        aside.replace(script)
    result = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                            check=True, capture_output=True, text=True, timeout=seconds + 60)
    return read_wrk(result.stdout, limit)


def read_wrk(out: str, limit: int) -> dict:
    """The figures of wrk's ``--latency`` report; ``reached_bound`` when the script stopped it at ``limit``
    requests, which makes ``requests_per_second`` a floor (wrk divides by the whole duration)."""
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in ", out).group(1))
    return {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
            "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
            "requests": requests, "reached_bound": requests >= limit,
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def bound_note(run: dict) -> str:
    """What a run's printed line adds when wrk stopped at its request bound."""
    return "  reached its request bound: req/s is a floor" if run.get("reached_bound") else ""


def bound_warning(name: str, reached: list[str]) -> str:
    """The summaries' line for a server that reached wrk's request bound at the concurrencies ``reached``."""
    return (f"  {name} reached wrk's request bound at {', '.join(reached)} in some rounds: its req/s there, and the "
            "ratios built on it, are floors")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def busy_share(seconds: float = 1.0) -> float:
    """Share of all CPU time spent busy over ``seconds`` (from /proc/stat; 0.0 where there is none)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0.0

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(limit: float = 0.1, timeout: float = 30.0) -> float:
    """Wait (bounded) until other processes leave the CPUs idle; returns the busy share last seen.

    Other work on the machine (a test run, a build) steals cores from the servers and from the load
    generator alike and makes every figure meaningless; the share is recorded with the results. The wait is
    short (30 s by default) so that `make bench` on a shared machine ends in bounded time: there the recorded
    share, not the wait, says how much to trust a round."""
    deadline = time.monotonic() + timeout
    busy = busy_share()
    while busy > limit and time.monotonic() < deadline:
        print(f"  waiting: CPUs {busy:.0%} busy with other work")
        time.sleep(5)
        busy = busy_share()
    return busy


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.*)", cpuinfo.read_text())
        cpu = found.group(1) if found else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "python": platform.python_version(),
            "os": platform.platform()}


def write_results(name: str, results: dict) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}-results.json"
    path.write_text(json.dumps(results, indent=2))
    return path
