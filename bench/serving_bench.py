"""Inference server benchmark: per-request overhead over raw predict, and throughput at concurrency 8,
``serve`` side by side with MLServer 1.7.1 + mlserver-sklearn serving the same model file; or, with
``--baseline-ref``, ``serve`` against its own earlier version.

    make bench-serving
    .venv/bin/python -m bench.serving_bench [--rounds 2] [--seconds 10]     (the same, from the repository root)
    .venv/bin/python -m bench.serving_bench --baseline-ref <git ref> [--rounds 3] [--concurrency 1,8,64]
                                            [--simultaneous]

MLServer is installed only in its own venv (bench/.venv-mlserver, created on first run) with uvloop<0.22
(0.23 breaks its start-up) and the project's scikit-learn/pandas/numpy versions, so it unpickles the
identical model. It runs in three configurations (parallel_workers 0 and 2, and 0 with adaptive batching of
up to 8 requests within 1 ms), debug (per-request logging) off, OpenMP/BLAS pinned to 1 thread like
``serve``; its best figure is the one compared. Requests are
single rows: CSV for ``serve``, the V2 protocol with the pandas codec for MLServer (each column an input),
so both hand the model the same one-row DataFrame. The load generator (wrk, one thread, 8 keep-alive
connections) runs on the same 2 cores as the servers.

``--baseline-ref``: see ``bench/serving_compare.py``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from bench.common import (
    ROOT,
    WORK,
    machine,
    summary,
    wait_for,
    wait_for_quiet,
    write_results,
    wrk,
)
from bench.serving_processes import ROW, post, start_serve, stop
from prodline.net import LOOPBACK, free_port
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.serving import payloads
from workloads.training.artifacts import MODEL_FILE, load_model, save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

MLSERVER_VENV = ROOT / "bench" / ".venv-mlserver"
MLSERVER_PACKAGES = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22", "scikit-learn==1.9.1",
                     "pandas==2.3.3", "numpy==2.4.6"]
PINNED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
SEQUENTIAL_REQUESTS = 3000


def prepare_model(directory: Path) -> Path:
    if not (directory / MODEL_FILE).exists():
        pipeline, metadata, baseline = train(add_features(generate_typed(20_000, 1)), None, Hyperparameters())
        save_model(directory, pipeline, metadata, baseline)
    return directory


def raw_predict_us(model_dir: Path) -> dict[str, float]:
    """predict_proba on the one-row DataFrame the server builds from ROW, in this process, 1 thread."""
    model = load_model(model_dir)
    frame = payloads.decode(ROW, payloads.CSV)
    timings = []
    with threadpool_limits(1):
        for _ in range(300):
            model.pipeline.predict_proba(frame)
        for _ in range(SEQUENTIAL_REQUESTS):
            started = time.perf_counter()
            model.pipeline.predict_proba(frame)
            timings.append((time.perf_counter() - started) * 1e6)
    return summary(timings)


def sequential_us(port: int, path: str, body: bytes, content_type: str) -> dict[str, float]:
    """Round-trip time of single requests, one at a time, on one keep-alive connection."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    headers = {"Content-Type": content_type}
    timings = []
    for number in range(300 + SEQUENTIAL_REQUESTS):
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        if number >= 300:
            timings.append((time.perf_counter() - started) * 1e6)
    connection.close()
    return summary(timings)


def ensure_mlserver() -> Path:
    mlserver = MLSERVER_VENV / "bin" / "mlserver"
    if not mlserver.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(MLSERVER_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        *MLSERVER_PACKAGES], check=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--baseline-ref", help="compare serve with its workloads/serving at this git ref")
    parser.add_argument("--concurrency", default="1,8,64", help="with --baseline-ref: wrk connection counts")
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
    if args.baseline_ref:
        from bench.serving_compare import Extras, compare_with_ref

        extras = Extras(args.soak_seconds, args.idle_connections, args.open_files)
        return compare_with_ref(model_dir, args.baseline_ref, [int(c) for c in args.concurrency.split(",")],
                                args.rounds, args.seconds, simultaneous=args.simultaneous, extras=extras)
    workers = os.cpu_count() or 1
    results: dict = {"machine": machine(), "command": "make bench-serving", "rounds": []}
    v2_body = v2_request()
    for number in range(1, args.rounds + 1):
        round_result: dict = {"round": number, "background_busy_before": wait_for_quiet(),
                              "raw_predict_us": raw_predict_us(model_dir)}
        process, port = start_serve(model_dir, workers)
        try:
            ours = json.loads(post(port, "/invocations", ROW, payloads.CSV))["predictions"][0]
            round_result["serve"] = {
                "workers": workers,
                "sequential_us": sequential_us(port, "/invocations", ROW, payloads.CSV),
                "concurrency_8": wrk(f"http://{LOOPBACK}:{port}/invocations", ROW.decode(), payloads.CSV,
                                     seconds=args.seconds)}
        finally:
            stop(process)
        for name in MLSERVER_CONFIGS:
            process, port = start_mlserver(model_dir, name)
            try:
                answer = json.loads(post(port, "/v2/models/churn/infer", v2_body, "application/json"))
                theirs = answer["outputs"][0]["data"][1]
                if abs(theirs - ours) > 1e-9:
                    raise RuntimeError(f"MLServer scored {theirs}, serve {ours}: not the same model or input")
                round_result[name] = {
                    "sequential_us": sequential_us(port, "/v2/models/churn/infer", v2_body, "application/json"),
                    "concurrency_8": wrk(f"http://{LOOPBACK}:{port}/v2/models/churn/infer", v2_body.decode(),
                                         "application/json", seconds=args.seconds)}
            finally:
                stop(process, group=True)
        results["rounds"].append(round_result)
        report(round_result)
    print(f"results: {write_results('serving', results)}")
    return 0


def report(result: dict) -> None:
    raw = result["raw_predict_us"]["p50"]
    print(f"round {result['round']}: raw predict p50 {raw:.0f} us")
    mlservers = [k for k in result if k.startswith("mlserver")]
    best = max(result[k]["concurrency_8"]["requests_per_second"] for k in mlservers)
    for name in ["serve", *mlservers]:
        entry = result[name]
        p50 = entry["sequential_us"]["p50"]
        rps = entry["concurrency_8"]["requests_per_second"]
        print(f"  {name:30s} p50 {p50:7.0f} us  overhead {p50 - raw:6.0f} us  "
              f"c8 {rps:7.0f} req/s ({rps / best:.2f}x best MLServer)  non-2xx {entry['concurrency_8']['non_2xx']}")


if __name__ == "__main__":
    sys.exit(main())
