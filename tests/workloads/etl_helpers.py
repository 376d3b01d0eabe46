"""Helpers shared by the ETL tests: land batches, run the jobs as Glue would, list what they wrote."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq

from workloads.etl import features_job, lake, validate_job
from workloads.ingest.generator import generate_raw, to_csv
from workloads.ingest.uploader import upload_batch

GLUE_EXTRAS = ["--job-bookmark-option", "job-bookmark-enable", "--TempDir", "s3://artifacts/tmp/",
               "--enable-metrics", "true", "library-set", "analytics"]


def zone_urls(buckets: dict[str, str]) -> dict[str, str]:
    return {
        "raw": f"s3://{buckets['raw']}/churn/",
        "curated": f"s3://{buckets['curated']}/churn/",
        "quarantine": f"s3://{buckets['curated']}/quarantine/churn/",
        "curated_runs": f"s3://{buckets['curated']}/_runs/churn/",
        "features": f"s3://{buckets['features']}/churn/",
        "features_runs": f"s3://{buckets['features']}/_runs/churn/",
    }


def land(urls: dict[str, str], dt: str, batch_id: str, rows: int, *, seed: int, invalid_fraction: float = 0.05):
    table = generate_raw(rows, seed, invalid_fraction)
    return upload_batch(urls["raw"], dt, batch_id, to_csv(table), rows)


def validate_argv(urls: dict[str, str], *extra: str, engine: str = "pandas") -> list[str]:
    return ["validate_job.py", "--JOB_NAME", "prodline-test-validate", "--source", urls["raw"],
            "--target", urls["curated"], "--quarantine", urls["quarantine"], "--manifests", urls["curated_runs"],
            "--dataset", "churn", "--engine", engine, *GLUE_EXTRAS, *extra]


def features_argv(urls: dict[str, str], *extra: str, engine: str = "pandas") -> list[str]:
    return ["features_job.py", "--JOB_NAME", "prodline-test-features", "--source", urls["curated"],
            "--target", urls["features"], "--manifests", urls["features_runs"], "--dataset", "churn",
            "--engine", engine, *GLUE_EXTRAS, *extra]


def run_validate(urls: dict[str, str], *extra: str) -> int:
    return validate_job.main(validate_argv(urls, *extra))


def run_features(urls: dict[str, str], *extra: str) -> int:
    return features_job.main(features_argv(urls, *extra))


def snapshot(prefix: str) -> dict[str, bytes]:
    """Every object under the prefix with its bytes."""
    return {url: lake.read_bytes(url) for url in lake.list_urls(prefix)}


def parquet_files(prefix: str) -> list[str]:
    """The data files under a prefix as a direct reader of the prefix lists them (no pointers, no manifests)."""
    return [url for url in lake.list_urls(prefix) if url.endswith(".parquet")]


def read_partition(zone: str, dt: str) -> pd.DataFrame:
    """Every row under a zone's partition prefix, as a direct reader of the prefix sees them."""
    return read_parquet(parquet_files(f"{zone}dt={dt}/"))


def read_parquet(urls: list[str]) -> pd.DataFrame:
    frames = [pq.read_table(io.BytesIO(lake.read_bytes(url))).to_pandas() for url in urls]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
