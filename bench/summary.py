"""The ratios of one ``make bench`` run, read back from the results files it has just written, with the targets
of docs/benchmarks.md: ``serve`` against MLServer's best configuration and against uvicorn + httptools with the
same batching, and the ETL against DuckDB.

    .venv/bin/python -m bench.summary [--since <unix time>]

``--since``: refuse results files written before this time (``make bench`` passes its start), so that the
ratios printed together were measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.common import WORK, bound_warning


def load(name: str, since: float) -> dict:
    path = WORK / f"{name}-results.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make bench-{name}` first")
    results = json.loads(path.read_text())
    if results.get("finished", 0) < since:
        raise SystemExit(f"{path} was written before this run started: it is not this run's")
    return results


def shown(figure: dict, digits: int = 2, unit: str = "x") -> str:
    return f"{figure['median']:.{digits}f}{unit} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--since", type=float, default=0.0)
    args = parser.parse_args(argv)
    serving, etl = load("serving", args.since), load("etl", args.since)
    summary = serving["summary"]
    rounds = len(serving["rounds"])
    busy = summary["background_busy_before"]
    print(f"\nmake bench: ratios of this run, median (min-max) over its rounds; "
          f"other work took {busy['median']:.0%} ({busy['min']:.0%}-{busy['max']:.0%}) of the CPUs before the "
          f"serving rounds")
    for label, key, target in (("serve / MLServer's best configuration", "serve_over_best_mlserver", {"c8": 5.0}),
                               ("serve / uvicorn + httptools, same batching", "serve_over_uvicorn", {})):
        for concurrency, figure in summary.get(key, {}).items():
            goal = f"  (target >= {target[concurrency]:g}x)" if concurrency in target else ""
            best = summary.get("best_mlserver", {}).get(concurrency) if "mlserver" in key else None
            print(f"  {label} at {concurrency}: {shown(figure)} req/s, {rounds} rounds"
                  + (f"; best configuration {best}" if best else "") + goal)
    for concurrency, figures in summary.get("serve", {}).items():
        if concurrency.startswith("c"):
            print(f"  serve at {concurrency}: p50 {shown(figures['p50_ms'], unit=' ms')}, "
                  f"p99 {shown(figures['p99_ms'], unit=' ms')}"
                  + ("  (target p99 <= 10 ms)" if concurrency == "c64" else ""))
    for name in serving.get("servers", []):
        if summary[name].get("reached_bound"):
            print(bound_warning(name, summary[name]["reached_bound"]))
    ratio = etl["prodline_over_duckdb"]
    print(f"  ETL prodline / DuckDB time: {shown(ratio)}, {ratio['rounds']} runs (target <= 0.7x); "
          f"highest peak RSS over DuckDB's lowest {etl['prodline_peak_over_duckdb_peak']:.2f}x (target <= 0.5x); "
          f"outputs identical: {etl['outputs']['identical']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
