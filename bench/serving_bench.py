"""Inference server benchmark: ``serve`` next to uvicorn + httptools running the same handler and batching, and
next to MLServer 1.7.1 + mlserver-sklearn serving the same model file, with in-process ``predict_proba`` as the
floor; or, with ``--baseline-ref``, ``serve`` against its own earlier version.

    make bench-serving
    .venv/bin/python -m bench.serving_bench [--rounds 5] [--seconds 5] [--concurrency 1,8,64]
    .venv/bin/python -m bench.serving_bench --baseline-ref <git ref> [--rounds 3] [--concurrency 1,8,64]
                                            [--simultaneous]

Each round (N rounds, interleaved): wait (at most 30 s) for the CPUs to be idle, time ``predict_proba`` on the
one-row DataFrame in this process (one thread), then start each server in turn (the order rotates from round to
round), check it scores ROW as ``serve`` does, and run wrk (one thread, keep-alive connections, ``--seconds``
each) at every concurrency, recording req/s, p50 and p99, the server's CPU time per request and the share of
the CPUs other processes took meanwhile. Every figure is then reported as the median and min-max over the
rounds, and the ratios (``serve`` over uvicorn, over MLServer's best configuration of that round) are taken
round by round, so both sides of a ratio saw the same stretch of the machine's load.

The servers: ``serve`` (2 workers, one per core, OpenMP/BLAS pinned to one thread per worker, as it does
itself); uvicorn 0.54 + httptools, 2 workers, with ``bench/asgi_app.py``: ``serve``'s own handler and batching
behind ASGI (the same model call, the same answers), so the difference is the HTTP server; MLServer in its own
venv (bench/.venv-mlserver, created on first run, with uvloop<0.22: 0.23 breaks its start-up, and the
project's scikit-learn/pandas/numpy versions, so it unpickles the identical model) in three configurations
(parallel_workers 0 and 2, and 0 with adaptive batching of up to 8 requests within 1 ms), debug (per-request
logging) off, OpenMP/BLAS pinned to 1 thread. Requests are single rows: CSV for ``serve`` and uvicorn, the V2
protocol with the pandas codec for MLServer (each column an input), which hands its model the same one-row
DataFrame. The load generator shares the 2 cores with the servers.

``--baseline-ref``: see ``bench/serving_compare.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from bench.common import (
    ROOT,
    WORK,
    bound_note,
    bound_warning,
    machine,
    spread,
    summary,
    wait_for,
    wait_for_quiet,
    write_results,
)
from bench.serving_compare import measured_wrk
from bench.serving_processes import ROW, post, start_serve, stop
from prodline.net import LOOPBACK, free_port
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.serving import handler, payloads
from workloads.training.artifacts import MODEL_FILE, ModelArtifacts, load_model, save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

MLSERVER_VENV = ROOT / "bench" / ".venv-mlserver"
MLSERVER_PACKAGES = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22", "scikit-learn==1.9.1",
                     "pandas==2.3.3", "numpy==2.4.6"]
PINNED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


def prepare_model(directory: Path) -> Path:
    if not (directory / MODEL_FILE).exists():
        pipeline, metadata, baseline = train(add_features(generate_typed(20_000, 1)), None, Hyperparameters())
        save_model(directory, pipeline, metadata, baseline)
    return directory


def raw_predict_us(model: ModelArtifacts, calls: int = 2000) -> dict[str, float]:
    """predict_proba on the one-row DataFrame the server builds from ROW, in this process, 1 thread."""
    frame = payloads.decode(ROW, payloads.CSV)
    return in_process_us(lambda: model.pipeline.predict_proba(frame), calls)


def scoring_us(model: ModelArtifacts, calls: int = 2000) -> dict[str, float]:
    """``serve``'s own work for ROW without HTTP (decode, score, answer body), in this process, 1 thread."""
    return in_process_us(lambda: handler.invoke(model, ROW, payloads.CSV, ""), calls)


def in_process_us(call, calls: int) -> dict[str, float]:
    timings = []
    with threadpool_limits(1):
        for _ in range(calls // 10):
            call()
        for _ in range(calls):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1e6)
    return summary(timings)


def ensure_mlserver() -> Path:
    mlserver, installed = MLSERVER_VENV / "bin" / "mlserver", MLSERVER_VENV / ".installed"
    if not installed.exists():  # written last: an interrupted install is redone
        # Without PYTHONPATH: pip would take a package found there (uvicorn, say) as installed and skip it.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(MLSERVER_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        *MLSERVER_PACKAGES], check=True, env=env)
        installed.touch()
    return mlserver


MLSERVER_CONFIGS = {
    # name: (parallel_workers, adaptive batching as (max_batch_size, max_batch_time seconds) or None)
    "mlserver_parallel_workers_0": (0, None),
    "mlserver_parallel_workers_2": (2, None),
    "mlserver_parallel_workers_0_adaptive_batching": (0, (8, 0.001)),
}


def start_mlserver(model_dir: Path, name: str) -> tuple[subprocess.Popen, int]:
    parallel_workers, batching = MLSERVER_CONFIGS[name]
    mlserver = ensure_mlserver()
    folder = WORK / name
    (folder / "churn").mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "settings.json").write_text(json.dumps({
        "debug": False, "parallel_workers": parallel_workers, "host": LOOPBACK, "http_port": port,
        "grpc_port": free_port(), "metrics_port": free_port(), "load_models_at_startup": True}))
    model_settings = {"name": "churn", "implementation": "mlserver_sklearn.SKLearnModel",
                      "parameters": {"uri": str(model_dir / MODEL_FILE), "extra": {"predict_fn": "predict_proba"}}}
    if batching:
        model_settings.update(max_batch_size=batching[0], max_batch_time=batching[1])
    (folder / "churn" / "model-settings.json").write_text(json.dumps(model_settings))
    # The pickled pipeline refers to workloads.* (the encoder), so MLServer needs the package importable.
    env = {**os.environ, **PINNED, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([str(mlserver), "start", str(folder)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(f"http://{LOOPBACK}:{port}/v2/models/churn/ready")
    return process, port


def v2_request() -> bytes:
    """ROW as a V2 inference request decoded by MLServer's pandas codec into the same one-row DataFrame."""
    frame = payloads.decode(ROW, payloads.CSV)
    inputs = []
    for name in payloads.INPUTS:
        value = frame[name].iloc[0]
        numeric = name in payloads.NUMERIC
        inputs.append({"name": name, "shape": [1], "datatype": "FP64" if numeric else "BYTES",
                       "data": [float(value) if numeric else value]})
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs}).encode()


SERVERS = ("serve", "uvicorn", *MLSERVER_CONFIGS)


def start_uvicorn(model_dir: Path, workers: int) -> tuple[subprocess.Popen, int]:
    """uvicorn + httptools with ``serve``'s handler and batching (bench/asgi_app.py); uvicorn comes with the
    ``bench`` extra."""
    port = free_port()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **PINNED, "SM_MODEL_DIR": str(model_dir), "PYTHONPATH": path}
    process = subprocess.Popen([sys.executable, "-m", "bench.asgi_app", "--host", LOOPBACK, "--port", str(port),
                                "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(f"http://{LOOPBACK}:{port}/ping")
    return process, port


def measure_server(name: str, model_dir: Path, workers: int, *, concurrencies: list[int], seconds: int,
                   expected: float) -> dict:
    """Start one server, check its score of ROW, load it at every concurrency, stop it."""
    csv = ("/invocations", ROW, payloads.CSV)
    if name == "serve":
        (process, port), (path, body, kind) = start_serve(model_dir, workers), csv
    elif name == "uvicorn":
        (process, port), (path, body, kind) = start_uvicorn(model_dir, workers), csv
    else:
        (process, port), (path, body, kind) = start_mlserver(model_dir, name), ("/v2/models/churn/infer",
                                                                                 v2_request(), "application/json")
    try:
        answer = json.loads(post(port, path, body, kind))
        score = answer["outputs"][0]["data"][1] if "outputs" in answer else answer["predictions"][0]
        if abs(score - expected) > 1e-9:
            raise RuntimeError(f"{name} scored {score}, predict_proba {expected}: not the same model or input")
        target = {name: (f"http://{LOOPBACK}:{port}{path}", process.pid)}
        return {f"c{c}": measured_wrk(target, c, seconds, [process.pid], body=body.decode(), content_type=kind)[name]
                for c in concurrencies}
    finally:
        stop(process, group=name != "serve")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="of each wrk run")
    parser.add_argument("--concurrency", default="1,8,64", help="wrk connection counts")
    parser.add_argument("--servers", default=",".join(SERVERS), help="which of them to measure")
    parser.add_argument("--baseline-ref", help="compare serve with its workloads/serving at this git ref")
    parser.add_argument("--simultaneous", action="store_true",
                        help="with --baseline-ref: load both servers at once (same background for both)")
    parser.add_argument("--soak-seconds", type=int, default=60,
                        help="with --baseline-ref: then load each server this long at the highest concurrency, "
                             "sampling its memory (0: skip)")
    parser.add_argument("--idle-connections", type=int, default=2000,
                        help="with --baseline-ref: then time /ping for new clients while this many idle "
                             "connections are open on each server (0: skip)")
    parser.add_argument("--open-files", type=int, default=1024,
                        help="with --baseline-ref: the soft open-file limit both servers start with")
    args = parser.parse_args(argv)
    model_dir = prepare_model(WORK / "model")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    if args.baseline_ref:
        from bench.serving_compare import Extras, compare_with_ref

        extras = Extras(args.soak_seconds, args.idle_connections, args.open_files)
        return compare_with_ref(model_dir, args.baseline_ref, concurrencies, args.rounds, args.seconds,
                                simultaneous=args.simultaneous, extras=extras)
    servers = [name for name in SERVERS if name in args.servers.split(",")]
    if any(name.startswith("mlserver") for name in servers):
        ensure_mlserver()
    workers = os.cpu_count() or 1
    model = load_model(model_dir)
    expected = float(model.pipeline.predict_proba(payloads.decode(ROW, payloads.CSV))[0, 1])
    results: dict = {"machine": machine(), "command": "make bench-serving", "workers": workers,
                     "seconds": args.seconds, "concurrency": concurrencies, "servers": servers, "rounds": []}
    for number in range(1, args.rounds + 1):
        round_result: dict = {"round": number, "background_busy_before": wait_for_quiet(timeout=30),
                              "raw_predict_us": raw_predict_us(model), "scoring_us": scoring_us(model)}
        print(f"round {number}: other work {round_result['background_busy_before']:.0%} of the CPUs before it; "
              f"raw predict_proba p50 {round_result['raw_predict_us']['p50']:.0f} us, "
              f"p99 {round_result['raw_predict_us']['p99']:.0f} us; serve's scoring without HTTP p50 "
              f"{round_result['scoring_us']['p50']:.0f} us")
        shift = (number - 1) % len(servers)  # each server takes its turn at every position across the rounds
        for name in servers[shift:] + servers[:shift]:
            round_result[name] = measure_server(name, model_dir, workers, concurrencies=concurrencies,
                                                seconds=args.seconds, expected=expected)
            for key, run in round_result[name].items():
                print(f"  {name:45s} {key:>4s} {run['requests_per_second']:7.0f} req/s  p50 {run['p50_ms']:6.2f} ms  "
                      f"p99 {run['p99_ms']:6.2f} ms  server CPU {run['server_cpu_us_per_request']:5.0f} us/req  "
                      f"other work {run['background_cpu_share']:4.0%}  non-2xx {run['non_2xx']} "
                      f"{run['socket_errors']}{bound_note(run)}")
        results["rounds"].append(round_result)
    results["summary"] = summarize(results["rounds"], servers, concurrencies)
    results["finished"] = time.time()
    print_summary(results["summary"], servers, concurrencies, len(results["rounds"]))
    print(f"results: {write_results('serving', results)}")
    return 0


FIGURES = ("requests_per_second", "p50_ms", "p99_ms", "server_cpu_us_per_request", "background_cpu_share")


def summarize(rounds: list[dict], servers: list[str], concurrencies: list[int]) -> dict:
    """Median and min-max over the rounds of every figure, and of the round-by-round ratios of ``serve``'s
    throughput over uvicorn's and over MLServer's best configuration of the round."""
    summary: dict = {f"{what}_us": {key: spread([r[f"{what}_us"][key] for r in rounds]) for key in ("p50", "p99")}
                     for what in ("raw_predict", "scoring")}
    summary.update({
                     "background_busy_before": spread([r["background_busy_before"] for r in rounds])})
    for name in servers:
        summary[name] = {f"c{c}": {figure: spread([r[name][f"c{c}"][figure] for r in rounds]) for figure in FIGURES}
                         for c in concurrencies}
        summary[name]["non_2xx"] = sum(r[name][f"c{c}"]["non_2xx"] for r in rounds for c in concurrencies)
        summary[name]["reached_bound"] = [f"c{c}" for c in concurrencies
                                          if any(r[name][f"c{c}"].get("reached_bound") for r in rounds)]
    mlservers = [name for name in servers if name.startswith("mlserver")]
    for c in concurrencies:
        key = f"c{c}"
        if "serve" in servers:  # the HTTP round trip: serve's p50 at the lowest concurrency minus its own scoring
            summary.setdefault("serve_http_us", spread(
                [r["serve"][f"c{concurrencies[0]}"]["p50_ms"] * 1000 - r["scoring_us"]["p50"] for r in rounds]))
        if "serve" in servers and "uvicorn" in servers:
            summary.setdefault("serve_over_uvicorn", {})[key] = spread(
                [r["serve"][key]["requests_per_second"] / r["uvicorn"][key]["requests_per_second"] for r in rounds])
        if "serve" in servers and mlservers:
            summary.setdefault("serve_over_best_mlserver", {})[key] = spread(
                [r["serve"][key]["requests_per_second"] / max(r[m][key]["requests_per_second"] for m in mlservers)
                 for r in rounds])
            summary.setdefault("best_mlserver", {})[key] = statistics.mode(
                max(mlservers, key=lambda m: r[m][key]["requests_per_second"]) for r in rounds)
    return summary


def shown(figure: dict, digits: int = 0, scale: float = 1.0) -> str:
    return (f"{figure['median'] * scale:,.{digits}f} "
            f"({figure['min'] * scale:,.{digits}f}-{figure['max'] * scale:,.{digits}f})")


def print_summary(summary: dict, servers: list[str], concurrencies: list[int], rounds: int) -> None:
    print(f"\nmedian (min-max) over {rounds} interleaved rounds; other work took "
          f"{shown(summary['background_busy_before'], scale=100)} % of the CPUs before the rounds")
    print(f"  raw predict_proba in this process: p50 {shown(summary['raw_predict_us']['p50'])} us, "
          f"p99 {shown(summary['raw_predict_us']['p99'])} us; serve's scoring without HTTP (decode, model, answer): "
          f"p50 {shown(summary['scoring_us']['p50'])} us")
    print(f"  {'server':45s} {'c':>3s}  {'req/s':>22s}  {'p50 ms':>20s}  {'p99 ms':>20s}  {'CPU us/req':>16s}  "
          "other work")
    for name in servers:
        for c in concurrencies:
            figures = summary[name][f"c{c}"]
            print(f"  {name:45s} {c:3d}  {shown(figures['requests_per_second']):>22s}  "
                  f"{shown(figures['p50_ms'], 2):>20s}  {shown(figures['p99_ms'], 2):>20s}  "
                  f"{shown(figures['server_cpu_us_per_request']):>16s}  "
                  f"{shown(figures['background_cpu_share'], scale=100)} %")
    for label, key in (("serve / uvicorn+httptools (same batching)", "serve_over_uvicorn"),
                       ("serve / MLServer's best configuration", "serve_over_best_mlserver")):
        if key in summary:
            print(f"  {label}, req/s paired by round: " + ", ".join(
                f"c={c} {shown(summary[key][f'c{c}'], 2)}x" for c in concurrencies))
    if "serve_http_us" in summary:
        print(f"  serve's p50 at c={concurrencies[0]} minus its scoring without HTTP (the round trip, wrk's side "
              f"included): {shown(summary['serve_http_us'])} us")
    for name in servers:
        if summary[name].get("reached_bound"):
            print(bound_warning(name, summary[name]["reached_bound"]))


if __name__ == "__main__":
    sys.exit(main())
