"""ETL benchmark: validate 5 million raw rows, quarantine the invalid ones with reasons and write Parquet
partitioned by date, with the project's pandas engine and with DuckDB doing the same checks and writes.

    make bench-etl
    .venv/bin/python -m bench.etl_bench [--rows 5000000] [--runs 5]     (the same, from the repository root)

Input: 5 daily partitions of 1M rows each (CSV, 2% invalid rows of every kind the schema rejects), made by
the project's generator and landed on local disk with their manifests. Both engines read the same files
from the page cache (one warm-up run each), write snappy Parquet to local disk, and run in a fresh
subprocess per run so peak RSS is theirs alone. DuckDB gets the schema's checks as SQL generated from
the same schema (same regular expressions, same reason texts) and both outputs are compared: the same
rows curated, the same rows quarantined with the same reasons. The project's run also verifies each
batch's sha256 against its manifest, stages and commits, and writes run manifests; DuckDB does none of that.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, WORK, machine, spread, wait_for_quiet, write_results
from workloads.etl.schema import RAW_COLUMNS, Column
from workloads.etl.validation import FLOAT_PATTERN, INT_PATTERN

INPUT = WORK / "etl" / "input"
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05")


def make_input(rows: int) -> Path:
    from workloads.ingest.generator import generate_raw, to_csv
    from workloads.ingest.uploader import upload_batch

    marker = INPUT / f".rows-{rows}"
    if marker.exists():
        return INPUT
    shutil.rmtree(INPUT, ignore_errors=True)
    per_day = rows // len(DAYS)
    for number, day in enumerate(DAYS):
        upload_batch(f"{INPUT}/raw/churn/", day, "batch-1", to_csv(generate_raw(per_day, number, 0.02)), per_day)
    marker.touch()
    return INPUT


def run_prodline(output: Path) -> dict:
    from workloads.etl import pandas_engine
    from workloads.etl.plans import JobSettings

    settings = JobSettings(job_name="bench", source=f"{INPUT}/raw/churn/", target=f"{output}/curated/churn/",
                           quarantine=f"{output}/curated/quarantine/churn/",
                           manifests=f"{output}/curated/_runs/churn/", dataset="churn", engine="pandas")
    manifests = pandas_engine.run_validation(settings)
    return {"curated": sum(m["rows"]["curated"] for m in manifests),
            "quarantined": sum(m["rows"]["quarantined"] for m in manifests)}


def reason_sql(column: Column) -> str:
    """The validator's rule for one column, as a DuckDB CASE giving the same reason text."""
    name, quoted = column.name, f"'{column.name}: ''' || {column.name} || ''''"
    missing = f"({name} IS NULL OR {name} = '')"
    cases = [f"WHEN {missing} THEN {'NULL' if not column.required else repr(f'{name}: required value is missing')}"]
    if column.dtype == "string":
        if column.allowed:
            allowed = ", ".join(f"'{v}'" for v in column.allowed)
            rule = "is not one of " + ", ".join(column.allowed)
            cases.append(f"WHEN {name} NOT IN ({allowed}) THEN {quoted} || ' {rule}'")
    else:
        pattern = INT_PATTERN if column.dtype == "int" else FLOAT_PATTERN
        kind = "an integer" if column.dtype == "int" else "a finite number"
        value = f"TRY_CAST({name} AS {'BIGINT' if column.dtype == 'int' else 'DOUBLE'})"
        finite = "" if column.dtype == "int" else f" OR NOT isfinite({value})"
        cases.append(f"WHEN NOT regexp_full_match({name}, '{pattern}'){finite} THEN {quoted} || ' is not {kind}'")
        if column.minimum is not None:
            cases.append(f"WHEN {value} < {column.minimum} THEN {quoted} || ' is below the minimum {column.minimum:g}'")
        if column.maximum is not None:
            cases.append(f"WHEN {value} > {column.maximum} THEN {quoted} || ' is above the maximum {column.maximum:g}'")
    return "CASE " + " ".join(cases) + " END"


def run_duckdb(output: Path) -> dict:
    import duckdb

    sql_types = {"int": "BIGINT", "float": "DOUBLE", "string": "VARCHAR"}
    typed = ", ".join(f"TRY_CAST(NULLIF({c.name}, '') AS {sql_types[c.dtype]}) AS {c.name}" for c in RAW_COLUMNS)
    reasons = ", ".join(reason_sql(c) for c in RAW_COLUMNS)
    text = ", ".join(f"COALESCE({c.name}, '') AS {c.name}" for c in RAW_COLUMNS)
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    connection.execute(f"""
        CREATE TEMP TABLE checked AS
        SELECT *, NULLIF(concat_ws('; ', {reasons}), '') AS _reason,
               regexp_extract(filename, 'dt=([0-9-]+)/', 1) AS dt,
               regexp_extract(filename, '([^/]+)\\.csv$', 1) AS _source
        FROM read_csv('{INPUT}/raw/churn/*/*.csv', header = true, all_varchar = true, filename = true)""")
    (output / "curated").mkdir(parents=True)
    connection.execute(f"""COPY (SELECT {typed}, dt FROM checked WHERE _reason IS NULL)
        TO '{output}/curated/churn' (FORMAT PARQUET, PARTITION_BY (dt))""")
    connection.execute(f"""COPY (SELECT {text}, _source, _reason, dt FROM checked WHERE _reason IS NOT NULL)
        TO '{output}/curated/quarantine' (FORMAT PARQUET, PARTITION_BY (dt))""")
    curated, quarantined = connection.execute(
        "SELECT count(*) FILTER (WHERE _reason IS NULL), count(*) FILTER (WHERE _reason IS NOT NULL) FROM checked"
    ).fetchone()
    return {"curated": curated, "quarantined": quarantined}


ENGINES = {"prodline": run_prodline, "duckdb": run_duckdb}


def timed_child(engine: str, output: Path) -> dict:
    """One run in a fresh process, which reports its wall time and its own peak RSS."""
    shutil.rmtree(output, ignore_errors=True)
    result = subprocess.run([sys.executable, "-m", "bench.etl_bench", "--child", engine, "--output", str(output)],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare_outputs(ours: Path, theirs: Path) -> dict:
    """Same curated rows, same quarantined rows with the same reasons, in both outputs."""
    import duckdb

    connection = duckdb.connect()

    def digest(files: list[str], columns: str) -> list:
        return connection.execute(f"""SELECT count(*), {columns}
            FROM read_parquet({files!r}, hive_partitioning = false)""").fetchall()

    def committed(output: str) -> list[str]:
        """Ours as its readers see it: the files the run manifests name (a partition's directory can also
        hold an earlier generation until the commit's clean-up)."""
        from workloads.etl.commit import committed_manifests

        manifests = committed_manifests(f"{ours}/curated/_runs/churn/").values()
        return [f["url"] for manifest in manifests for f in manifest["outputs"][output]]

    def written(zone: str) -> list[str]:
        return sorted(str(path) for path in (theirs / "curated" / zone).glob("*/*.parquet"))

    curated = "sum(hash(customer_id, tenure_months, monthly_charges, total_charges, age)), sum(churned)"
    quarantine = "sum(hash(customer_id, _reason, _source, tenure_months, monthly_charges))"
    ours_digest = (digest(committed("curated"), curated), digest(committed("quarantine"), quarantine))
    theirs_digest = (digest(written("churn"), curated), digest(written("quarantine"), quarantine))
    return {"identical": ours_digest == theirs_digest, "prodline": str(ours_digest), "duckdb": str(theirs_digest)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=sorted(ENGINES))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        counts = ENGINES[args.child](args.output)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        peak_mib = round(after.ru_maxrss / 1024)  # Linux: KiB
        print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib, "cpu_seconds": cpu,
                          "cores_busy": cpu / seconds, **counts}))
        return 0

    make_input(args.rows)
    outputs = {engine: WORK / "etl" / f"out-{engine}" for engine in ENGINES}
    results: dict = {"machine": machine(), "command": "make bench-etl", "rows": args.rows, "runs": {}}
    for engine in ENGINES:  # warm-up: input into the page cache, imports compiled
        timed_child(engine, outputs[engine])
    for number in range(args.runs):
        busy = wait_for_quiet(timeout=30)
        for engine in ENGINES if number % 2 == 0 else reversed(ENGINES):  # which goes first alternates
            run = timed_child(engine, outputs[engine])
            run["background_busy_before"] = busy
            results["runs"].setdefault(engine, []).append(run)
            print(f"run {number + 1} {engine:9s} {run['seconds']:6.2f} s  "
                  f"{args.rows / run['seconds'] / 1e6:5.2f} M rows/s  peak RSS {run['peak_rss_mib']} MiB  "
                  f"cores busy {run['cores_busy']:.2f}  "
                  f"curated {run['curated']} quarantined {run['quarantined']}")
    results["outputs"] = compare_outputs(outputs["prodline"], outputs["duckdb"])
    figures = ("seconds", "peak_rss_mib", "cores_busy")
    for engine, runs in results["runs"].items():
        for figure in figures:
            results[f"{engine}_{figure}"] = spread([r[figure] for r in runs])
        print(f"{engine:9s} median (min-max) of {len(runs)} runs: " + ", ".join(
            f"{figure} {results[f'{engine}_{figure}']['median']:.2f} "
            f"({results[f'{engine}_{figure}']['min']:.2f}-{results[f'{engine}_{figure}']['max']:.2f})"
            for figure in figures))
    ratios = spread([ours["seconds"] / theirs["seconds"]
                     for ours, theirs in zip(results["runs"]["prodline"], results["runs"]["duckdb"], strict=True)])
    results["prodline_over_duckdb"] = ratios
    memory = results["prodline_peak_rss_mib"]["max"] / results["duckdb_peak_rss_mib"]["min"]
    results["prodline_peak_over_duckdb_peak"] = memory
    print(f"prodline / duckdb time, run by run: median {ratios['median']:.2f}x ({ratios['min']:.2f}-{ratios['max']:.2f}"
          f"; target <= 0.7x); highest peak RSS over DuckDB's lowest: {memory:.2f}x (target <= 0.5x); "
          f"outputs identical: {results['outputs']['identical']}")
    results["finished"] = time.time()
    print(f"results: {write_results('etl', results)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
