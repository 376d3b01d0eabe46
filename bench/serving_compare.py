"""``serve`` against its own earlier version (``serving_bench.py --baseline-ref <git ref>``).

The ``workloads/serving`` package at the given ref is extracted from git into a temporary
copy of this tree's ``workloads`` (everything else, the model's code included, stays as it is now), and
both servers run at once on two ports. Each round measures every concurrency on both back to back (after
waiting, up to 30 s, for the CPUs to be idle), alternating which goes first, so background load on the
machine falls on both alike; ``--simultaneous`` loads both at once instead (each with its own wrk), so both
see exactly the same background and share the CPUs, which measures efficiency at saturation. Reported:
medians and min-max over the rounds, the paired ratio of throughputs, the CPU time the server spent per
request, and the share of the CPUs other work took.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import ROOT, machine, wait_for_quiet, write_results, wrk
from bench.serving_processes import ROW, post, start_serve, stop
from prodline.net import LOOPBACK
from workloads.serving import payloads


def baseline_tree(ref: str, into: Path) -> str:
    """This checkout's ``workloads`` with ``workloads/serving`` as it was at ``ref``; returns the commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"], check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.copytree(ROOT / "workloads", into / "workloads", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(into / "workloads" / "serving")
    archive = into / "serving.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "workloads/serving"], check=True,
                       stdout=out)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    archive.unlink()
    return commit


def compare_with_ref(model_dir: Path, ref: str, concurrencies: list[int], rounds: int, seconds: int, *,
                     simultaneous: bool = False) -> int:
    workers = os.cpu_count() or 1
    url = "http://{host}:{port}/invocations"
    with tempfile.TemporaryDirectory(prefix="serving-baseline-") as scratch:
        commit = baseline_tree(ref, Path(scratch))
        names = {"baseline": f"{ref} ({commit[:10]})", "current": "this checkout"}
        results: dict = {"machine": machine(), "workers": workers, "servers": names, "seconds": seconds,
                         "simultaneous": simultaneous, "rounds": []}
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            servers["baseline"] = start_serve(model_dir, workers, Path(scratch))
            servers["current"] = start_serve(model_dir, workers)
            scores = {name: json.loads(post(port, "/invocations", ROW, payloads.CSV))["predictions"][0]
                      for name, (_, port) in servers.items()}
            if abs(scores["baseline"] - scores["current"]) > 1e-12:
                raise RuntimeError(f"the two servers score differently: {scores}")
            ours = [process.pid for process, _ in servers.values()]
            for number in range(1, rounds + 1):
                entry: dict = {"round": number, "background_busy_before": {}}
                print(f"round {number}")
                for concurrency in concurrencies:
                    # each pair waits (bounded) for a quiet machine, and the pair's order alternates
                    entry["background_busy_before"][f"c{concurrency}"] = wait_for_quiet(timeout=30)
                    order = ["baseline", "current"] if (number + concurrency) % 2 else ["current", "baseline"]
                    targets = {name: (url.format(host=LOOPBACK, port=servers[name][1]), servers[name][0].pid)
                               for name in order}
                    runs = measured_wrk(targets, concurrency, seconds, ours) if simultaneous else {
                        name: measured_wrk({name: targets[name]}, concurrency, seconds, ours)[name] for name in order}
                    for name in order:
                        run = entry.setdefault(name, {})[f"c{concurrency}"] = runs[name]
                        print(f"  c={concurrency:<3d} {name:8s} {run['requests_per_second']:7.0f} req/s  "
                              f"p99 {run['p99_ms']:6.2f} ms  "
                              f"server CPU {run['server_cpu_us_per_request']:5.0f} us/req  "
                              f"other work {run['background_cpu_share']:4.0%}  non-2xx {run['non_2xx']} "
                              f"{run['socket_errors']}")
                results["rounds"].append(entry)
        finally:
            for process, _ in servers.values():
                stop(process)
    results["summary"] = compare_summary(results["rounds"], concurrencies)
    print_comparison(results["summary"], names, len(results["rounds"]))
    print(f"results: {write_results('serving-compare', results)}")
    return 0


def measured_wrk(targets: dict[str, tuple[str, int]], concurrency: int, seconds: int, servers: list[int]) -> dict:
    """wrk at ``concurrency`` against each target (name -> (url, the server's parent id)), all at once when
    there are several, plus two figures that load on the machine disturbs less than throughput: the CPU
    time each server spent per request, and the share of the machine's CPU time that went to processes
    other than the servers (``servers``) and wrk."""
    clock = os.sysconf("SC_CLK_TCK")
    total0, busy0 = cpu_jiffies()
    ours0 = {pid: tree_jiffies(pid) for pid in servers}
    wrk0 = os.times()
    with ThreadPoolExecutor(len(targets)) as pool:
        running = {name: pool.submit(wrk, url, ROW.decode(), payloads.CSV, connections=concurrency, seconds=seconds)
                   for name, (url, _) in targets.items()}
        results = {name: future.result() for name, future in running.items()}
    wrk1 = os.times()
    total1, busy1 = cpu_jiffies()
    ours = {pid: tree_jiffies(pid) - ours0[pid] for pid in servers}
    load_generator = (wrk1.children_user + wrk1.children_system - wrk0.children_user - wrk0.children_system) * clock
    other = max(0.0, (busy1 - busy0 - sum(ours.values()) - load_generator) / max(total1 - total0, 1))
    for name, (_, pid) in targets.items():
        result = results[name]
        result["background_cpu_share"] = other
        result["server_cpu_us_per_request"] = ours[pid] / clock * 1e6 / max(result["requests_per_second"] * seconds, 1)
    return results


def cpu_jiffies() -> tuple[int, int]:
    """(all, busy) CPU time of the machine so far, in clock ticks."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), sum(fields) - fields[3] - fields[4]


def tree_jiffies(pid: int) -> int:
    """CPU time (user + system, clock ticks) of a process and its children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12]) + sum(tree_jiffies(int(child)) for child in children)


def compare_summary(rounds: list[dict], concurrencies: list[int]) -> dict:
    """Per server and concurrency: median, min and max over the rounds of req/s and p99."""
    summary: dict = {}
    for name in ("baseline", "current"):
        for concurrency in concurrencies:
            runs = [r[name][f"c{concurrency}"] for r in rounds]
            summary.setdefault(name, {})[f"c{concurrency}"] = {
                key: {"median": statistics.median(values), "min": min(values), "max": max(values)}
                for key, values in (("requests_per_second", [r["requests_per_second"] for r in runs]),
                                    ("p99_ms", [r["p99_ms"] for r in runs]),
                                    ("server_cpu_us_per_request", [r["server_cpu_us_per_request"] for r in runs]),
                                    ("background_cpu_share", [r["background_cpu_share"] for r in runs]))}
    for concurrency in concurrencies:
        key = f"c{concurrency}"
        ratios = [r["current"][key]["requests_per_second"] / r["baseline"][key]["requests_per_second"] for r in rounds]
        summary.setdefault("current_over_baseline", {})[key] = {
            "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return summary


def print_comparison(summary: dict, names: dict[str, str], rounds: int) -> None:
    print(f"median (min-max) over {rounds} rounds; baseline = {names['baseline']}, current = {names['current']}")
    for key in summary["baseline"]:
        before, after = summary["baseline"][key], summary["current"][key]
        rps = [f"{s['requests_per_second']['median']:6.0f} ({s['requests_per_second']['min']:.0f}-"
               f"{s['requests_per_second']['max']:.0f})" for s in (before, after)]
        p99 = [f"{s['p99_ms']['median']:6.2f} ({s['p99_ms']['min']:.2f}-{s['p99_ms']['max']:.2f})"
               for s in (before, after)]
        cpu = [f"{s['server_cpu_us_per_request']['median']:4.0f}" for s in (before, after)]
        ratio = summary["current_over_baseline"][key]
        print(f"  {key:>4s}  req/s {rps[0]} -> {rps[1]}  (paired ratio {ratio['median']:.2f}, "
              f"{ratio['min']:.2f}-{ratio['max']:.2f})   p99 ms {p99[0]} -> {p99[1]}   "
              f"server CPU us/req {cpu[0]} -> {cpu[1]}")
