"""Batch scoring: rows/s through the real server by Batch Transform's contract, against in-process predict_proba.

The batch path is what the sandbox's transform runtime does for one input object, minus S3: the same headerless
CSV records split by line into MultiRecord requests of at most MaxPayloadInMB, MaxConcurrentTransforms requests
in flight on kept-alive connections, to ``serve`` started as a transform job starts it (its workers, one
BLAS/OpenMP thread each), answers assembled by line and counted. The clock runs from the CSV bytes to the
assembled answers. The baseline is ``predict_proba`` in this process on the same rows, already a DataFrame,
with the same model: once with the machine's default threads and once pinned to one thread.

Each figure is taken over N rounds after a warm-up round; the report gives the median and the min-max, and
checks that both paths gave the same scores. The load generator shares the cores with the server.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import WORK, machine, spread, wait_for_quiet, write_results
from bench.serving_bench import prepare_model
from bench.serving_compare import connections_per_process
from prodline.sandbox.runtimes.transform import MB, Contract, ModelServer, Sender, assemble, payloads
from workloads.ingest.generator import generate_typed
from workloads.serving.payloads import INPUTS
from workloads.training.artifacts import load_model


def rows_per_second(seconds: list[float], rows: int) -> dict[str, float]:
    return spread([rows / s for s in seconds])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payload-mb", type=int, default=6, help="MaxPayloadInMB")
    parser.add_argument("--concurrency", type=int, default=2, help="MaxConcurrentTransforms")
    parser.add_argument("--workers", type=int, default=2, help="serve workers (the transform runtime's choice)")
    args = parser.parse_args(argv)
    model_dir = prepare_model(WORK / "model")
    model = load_model(model_dir)
    frame = generate_typed(args.rows, 17)[list(INPUTS)]
    body = frame.to_csv(header=False, index=False, lineterminator="\n").encode()
    contract = Contract(strategy="MultiRecord", max_payload_bytes=args.payload_mb * MB,
                        concurrency=args.concurrency, split="Line", content_type="text/csv", accept="text/csv",
                        assemble="Line")
    expected = model.pipeline.predict_proba(frame)[:, 1]

    in_process: dict[str, list[float]] = {"default_threads": [], "one_thread": []}
    batch: list[float] = []
    spread_over_workers: list[list[int]] = []  # the Sender's kept-alive connections held by each serve worker
    server = ModelServer(model_dir, WORK / "batch-serve.log", workers=args.workers, max_payload_mb=args.payload_mb)
    try:
        server.wait_healthy()
        sender = Sender(server.port, contract)
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for round_number in range(args.rounds + 1):  # round 0 warms connections, caches and workers
                busy = wait_for_quiet()
                started = time.perf_counter()
                requests = list(payloads(body, contract))
                answers = assemble(list(pool.map(sender.send, [b for b, _ in requests])), contract.assemble)
                scores = np.array(answers.split(), dtype=np.float64)
                seconds = time.perf_counter() - started
                if len(scores) != args.rows or not np.allclose(scores, expected, rtol=0, atol=1e-12):
                    raise RuntimeError("the batch path's scores differ from in-process predict_proba")
                timings = {}
                for name, limit in (("default_threads", None), ("one_thread", 1)):
                    with threadpool_limits(limit):
                        began = time.perf_counter()
                        model.pipeline.predict_proba(frame)
                        timings[name] = time.perf_counter() - began
                if round_number:
                    batch.append(seconds)
                    for name, value in timings.items():
                        in_process[name].append(value)
                held = sorted(connections_per_process(server.process.pid, server.port).values(), reverse=True)
                if round_number:
                    spread_over_workers.append(held)
                label = f"round {round_number}" if round_number else "warm-up"
                print(f"{label}: batch {args.rows / seconds:,.0f} rows/s in {len(requests)} requests, "
                      f"in-process {args.rows / timings['default_threads']:,.0f}"
                      f" rows/s (1 thread: {args.rows / timings['one_thread']:,.0f}); background busy {busy:.0%}; "
                      f"connections per worker {'+'.join(map(str, held))}")
    finally:
        server.stop()
    result = {"machine": machine(), "command": "make bench-batch", "rows": args.rows, "payload_mb": args.payload_mb,
              "concurrency": args.concurrency, "workers": args.workers, "request_bytes": len(body),
              "batch": rows_per_second(batch, args.rows),
              "in_process": {k: rows_per_second(v, args.rows) for k, v in in_process.items()},
              "connections_per_worker": spread_over_workers}
    ratios = {k: statistics.median(i / b for i, b in zip(v, batch, strict=True)) for k, v in in_process.items()}
    result["batch_over_in_process"] = ratios
    print(f"batch {result['batch']['median']:,.0f} rows/s (min-max {result['batch']['min']:,.0f}-"
          f"{result['batch']['max']:,.0f}); in-process {result['in_process']['default_threads']['median']:,.0f} "
          f"rows/s (1 thread {result['in_process']['one_thread']['median']:,.0f}); batch / in-process, median of "
          f"rounds: {ratios['default_threads']:.2f}x ({ratios['one_thread']:.2f}x of one thread)")
    if any(len(set(held)) > 1 for held in spread_over_workers):
        print(f"  the kernel put the {args.concurrency} kept-alive connections on the workers unevenly "
              f"({', '.join('+'.join(map(str, held)) for held in spread_over_workers)} by round; SO_REUSEPORT picks "
              "a worker per connection): a worker left idle caps the batch figure (docs/benchmarks.md)")
    print(f"results: {write_results('batch', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
