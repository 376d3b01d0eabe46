"""``serve`` against its own earlier version (``serving_bench.py --baseline-ref <git ref>``).

The ``workloads/serving`` package at the given ref is extracted from git into a temporary
copy of this tree's ``workloads`` (everything else, the model's code included, stays as it is now), and
both servers run at once on two ports. Each round measures every concurrency on both back to back (after
waiting, up to 30 s, for the CPUs to be idle), alternating which goes first, so background load on the
machine falls on both alike; ``--simultaneous`` loads both at once instead (each with its own wrk), so both
see exactly the same background and share the CPUs, which measures efficiency at saturation. Reported:
medians and min-max over the rounds, the paired ratio of throughputs, the CPU time the server spent per
request, and the share of the CPUs other work took.

Then, for each server in turn (``Extras``): a soak, ``soak_seconds`` of wrk at the highest concurrency with
the server's memory (PSS and RSS of the parent and its workers) sampled every second, its non-2xx answers,
socket errors and logged errors; and an idle-connection probe, ``idle_connections`` connections opened
and left idle (half after one /ping, half having sent nothing), then new clients timed from connect to a
200 from /ping, one after another, each bounded by 10 s. Both servers start with the same soft open-file
limit (``open_files``, 1,024 by default, a common default), which is what idle connections exhaust.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import ROOT, bound_note, machine, summary, wait_for_quiet, write_results, wrk
from bench.serving_processes import ROW, post, soft_open_files, start_serve, stop
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


@dataclass(frozen=True)
class Extras:
    """What runs after the throughput rounds (0 skips it), and the open-file limit the servers start with."""

    soak_seconds: int = 60
    idle_connections: int = 2000
    open_files: int | None = 1024


def compare_with_ref(model_dir: Path, ref: str, concurrencies: list[int], rounds: int, seconds: int, *,
                     simultaneous: bool = False, extras: Extras = Extras()) -> int:
    workers = os.cpu_count() or 1
    url = "http://{host}:{port}/invocations"
    with tempfile.TemporaryDirectory(prefix="serving-baseline-") as scratch:
        commit = baseline_tree(ref, Path(scratch))
        names = {"baseline": f"{ref} ({commit[:10]})", "current": "this checkout"}
        results: dict = {"machine": machine(), "workers": workers, "servers": names, "seconds": seconds,
                         "simultaneous": simultaneous, "extras": asdict(extras), "rounds": []}
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        logs = {name: Path(scratch) / f"{name}.log" for name in names}
        try:
            servers["baseline"] = start_serve(model_dir, workers, Path(scratch), open_files=extras.open_files,
                                              log=logs["baseline"])
            servers["current"] = start_serve(model_dir, workers, open_files=extras.open_files, log=logs["current"])
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
                              f"{run['socket_errors']}{bound_note(run)}")
                results["rounds"].append(entry)
            if extras.soak_seconds:
                for name in names:  # the soak first: the idle probe leaves the baseline's workers short of files
                    results.setdefault("soak", {})[name] = soak(servers[name], max(concurrencies),
                                                                extras.soak_seconds, logs[name], ours)
            if extras.idle_connections:
                for name in names:
                    results.setdefault("idle", {})[name] = idle_probe(servers[name][1], extras.idle_connections)
        finally:
            for process, _ in servers.values():
                stop(process)
    if results["rounds"]:  # --rounds 0 runs only the soak and the idle probe
        results["summary"] = compare_summary(results["rounds"], concurrencies)
        print_comparison(results["summary"], names, len(results["rounds"]))
    print_extras(results, names)
    print(f"results: {write_results('serving-compare', results)}")
    return 0


def soak(server: tuple[subprocess.Popen, int], concurrency: int, seconds: int, log: Path, ours: list[int]) -> dict:
    """wrk at ``concurrency`` for ``seconds`` with the server's memory sampled every second; its growth is
    reported from the idle server before the load and from the first sample under load (the first second
    includes one-time allocations: buffers, the first batches' arrays) to the last. Like the rounds, it
    records the server's CPU time per request and the share of the CPUs other work took meanwhile."""
    process, port = server
    pid = process.pid
    wait_for_quiet(timeout=30)
    errors_before = logged_errors(log)
    idle = tree_memory(pid)
    samples: list[dict[str, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(tree_memory(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run = measured_wrk({"soak": (f"http://{LOOPBACK}:{port}/invocations", pid)}, concurrency, seconds, ours,
                           max_requests=100_000_000)["soak"]
    finally:
        done.set()
        sampler.join()
    time.sleep(2)
    after = tree_memory(pid)
    pss = [s["pss_mib"] for s in samples]
    return {"seconds": seconds, "concurrency": concurrency, "wrk": run,
            "logged_errors": logged_errors(log) - errors_before,
            "memory_mib": {"idle_before": idle, "first_under_load": samples[0], "last_under_load": samples[-1],
                           "peak_pss": max(pss), "idle_after": after, "samples": len(samples)},
            "pss_growth": {"from_idle": samples[-1]["pss_mib"] / idle["pss_mib"] - 1,
                           "under_load": samples[-1]["pss_mib"] / samples[0]["pss_mib"] - 1}}


def logged_errors(log: Path) -> int:
    """Lines of the server's log that report an error or a traceback."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))


def idle_probe(port: int, connections: int, probes: int = 20, timeout: float = 10.0) -> dict:
    """Open ``connections`` and leave them idle (every other one after a /ping whose answer is left unread,
    the rest having sent nothing), then time ``probes`` new clients, one after another, from connect to a
    200 from /ping; a client not answered within ``timeout`` counts as failed."""
    ping = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
    latencies: list[float] = []
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(soft_open_files(connections + 256))
        opened = 0
        for number in range(connections):
            try:
                sock = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=2))
                if number % 2:
                    sock.sendall(ping)
            except OSError as error:
                failures.append(f"opening idle connection {number + 1}: {error}")
                break
            opened += 1
        time.sleep(1)  # let the workers accept what they will
        for _ in range(probes):
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
                connection.request("GET", "/ping", headers={"Connection": "close"})
                status = connection.getresponse().status
                connection.close()
            except OSError as error:
                failures.append(f"new client: {type(error).__name__}: {error}")
                continue
            if status != 200:
                failures.append(f"new client: /ping answered {status}")
                continue
            latencies.append((time.perf_counter() - started) * 1000)
    return {"idle_connections": connections, "opened": opened, "probes": probes, "answered": len(latencies),
            "failures": failures, "latency_ms": summary(latencies) | {"max": max(latencies)} if latencies else {}}


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (from /proc; what has exited is left out)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(descendant for child in children for descendant in tree_pids(int(child)))]


TCP_ESTABLISHED, TCP_LISTEN = 0x01, 0x0A  # the st column of /proc/net/tcp (include/net/tcp_states.h)


def connections_per_process(pid: int, port: int) -> dict[int, int]:
    """Established TCP connections on local ``port`` held by each process of ``pid``'s tree that listens on it
    (a server's workers). With ``SO_REUSEPORT`` the kernel picks a worker for a connection when it opens, so a
    client with few kept-alive connections can have them all on one worker."""
    sockets: dict[int, tuple[int, int]] = {}  # inode -> (local port, state)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                sockets[int(fields[9])] = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[3], 16))
    held: dict[int, int] = {}
    for member in tree_pids(pid):
        states = []
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{member}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        states.append(sockets.get(int(target[8:-1])))
        if (port, TCP_LISTEN) in states:
            held[member] = states.count((port, TCP_ESTABLISHED))
    return held


def tree_memory(pid: int) -> dict[str, float]:
    """PSS (shared pages split between the processes sharing them: the model the workers share
    copy-on-write counted once) and RSS of a process and its descendants, in MiB."""
    pss = rss = 0
    for member in tree_pids(pid):
        with contextlib.suppress(OSError):
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text().split("\n")
            fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line}
            pss, rss = pss + fields["Pss"], rss + fields["Rss"]
    return {"pss_mib": pss / 1024, "rss_mib": rss / 1024}


def measured_wrk(targets: dict[str, tuple[str, int]], concurrency: int, seconds: int, servers: list[int], *,
                 max_requests: int | None = None, body: str = ROW.decode(),
                 content_type: str = payloads.CSV) -> dict:
    """wrk at ``concurrency`` against each target (name -> (url, the server's parent id)), all at once when
    there are several, plus two figures that load on the machine disturbs less than throughput: the CPU
    time each server spent per request, and the share of the machine's CPU time that went to processes
    other than the servers (``servers``) and wrk."""
    clock = os.sysconf("SC_CLK_TCK")
    total0, busy0 = cpu_jiffies()
    ours0 = {pid: tree_jiffies(pid) for pid in servers}
    wrk0 = os.times()
    with ThreadPoolExecutor(len(targets)) as pool:
        running = {name: pool.submit(wrk, url, body, content_type, connections=concurrency, seconds=seconds,
                                     max_requests=max_requests)
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
        result["server_cpu_us_per_request"] = ours[pid] / clock * 1e6 / max(result["requests"], 1)
    return results


def cpu_jiffies() -> tuple[int, int]:
    """(all, busy) CPU time of the machine so far, in clock ticks."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), sum(fields) - fields[3] - fields[4]


def tree_jiffies(pid: int) -> int:
    """CPU time (user + system, clock ticks) of a process and its descendants."""
    total = 0
    for member in tree_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


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


def print_extras(results: dict, names: dict[str, str]) -> None:
    for name, run in results.get("soak", {}).items():
        memory, growth, load = run["memory_mib"], run["pss_growth"], run["wrk"]
        print(f"soak {name} ({names[name]}): {run['seconds']} s at c={run['concurrency']}: "
              f"{load['requests_per_second']:.0f} req/s, p99 {load['p99_ms']:.2f} ms, "
              f"server CPU {load['server_cpu_us_per_request']:.0f} us/req, "
              f"other work {load['background_cpu_share']:.0%}; "
              f"non-2xx {load['non_2xx']}, socket errors {load['socket_errors'] or 'none'}, "
              f"logged errors {run['logged_errors']}; "
              f"PSS MiB idle {memory['idle_before']['pss_mib']:.1f} -> first/last under load "
              f"{memory['first_under_load']['pss_mib']:.1f}/{memory['last_under_load']['pss_mib']:.1f} "
              f"(peak {memory['peak_pss']:.1f}): "
              f"{growth['from_idle']:+.1%} from idle, {growth['under_load']:+.1%} under load")
    for name, probe in results.get("idle", {}).items():
        latency = probe["latency_ms"]
        timing = (f"p50 {latency['p50']:.1f} ms, max {latency['max']:.1f} ms" if latency else "no answer")
        print(f"idle {name} ({names[name]}): {probe['opened']}/{probe['idle_connections']} idle connections open, "
              f"new clients answered {probe['answered']}/{probe['probes']}: {timing}"
              + (f"; {probe['failures'][0]} (+{len(probe['failures']) - 1} more)" if probe["failures"] else ""))
