"""The Glue Spark path (pyspark local mode): the same functions, the same outputs as the pandas path."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workloads.etl import commit, lake, pandas_engine
from workloads.etl.plans import JobSettings
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS
from workloads.ingest.generator import generate_raw, to_csv
from workloads.ingest.uploader import upload_batch

pytestmark = pytest.mark.spark
DAYS = ("2026-04-01", "2026-04-02")


def settings(root: str, job: str, engine: str) -> JobSettings:
    if job == "validate":
        return JobSettings(job_name="v", source=f"{root}/raw/churn/", target=f"{root}/curated/churn/",
                           quarantine=f"{root}/curated/quarantine/churn/", manifests=f"{root}/curated/_runs/churn/",
                           dataset="churn", engine=engine)
    return JobSettings(job_name="f", source=f"{root}/curated/churn/", target=f"{root}/features/churn/",
                       manifests=f"{root}/features/_runs/churn/", dataset="churn", engine=engine)


def land_days(root: str) -> None:
    for number, day in enumerate(DAYS):
        for batch in range(2):
            table = generate_raw(1500, 100 * number + batch, invalid_fraction=0.05)
            upload_batch(f"{root}/raw/churn/", day, f"b{batch}", to_csv(table), table.num_rows)


def read_zone(prefix: str, day: str, sort: list[str]) -> pd.DataFrame:
    frames = [pq.read_table(io.BytesIO(lake.read_bytes(u))).to_pandas() for u in lake.list_urls(f"{prefix}dt={day}/")]
    return pd.concat(frames, ignore_index=True).sort_values(sort).reset_index(drop=True)


def same_in_both(roots: dict[str, str], zone: str, day: str, sort: list[str]) -> pd.DataFrame:
    """The zone's partition as each engine wrote it; fails unless the two are equal."""
    frames = {engine: read_zone(f"{root}/{zone}", day, sort) for engine, root in roots.items()}
    pd.testing.assert_frame_equal(frames["spark"], frames["pandas"])
    return frames["spark"]


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, spark_session):
    """The same raw input processed by both engines, each in its own local lake."""
    from workloads.etl import spark_engine

    roots = {engine: str(tmp_path_factory.mktemp(engine)) for engine in ("pandas", "spark")}
    for root in roots.values():
        land_days(root)
    pandas_engine.run_validation(settings(roots["pandas"], "validate", "pandas"))
    pandas_engine.run_features(settings(roots["pandas"], "features", "pandas"))
    manifests = spark_engine.run_validation(settings(roots["spark"], "validate", "spark"), spark_session)
    spark_engine.run_features(settings(roots["spark"], "features", "spark"), spark_session)
    return roots, manifests


def test_spark_commits_every_partition_with_rows_that_add_up(lakes):
    _, manifests = lakes
    assert [m["dt"] for m in manifests] == list(DAYS)
    for manifest in manifests:
        assert manifest["engine"] == "spark"
        assert manifest["rows"]["in"] == 3000 == manifest["rows"]["curated"] + manifest["rows"]["quarantined"]


@pytest.mark.parametrize("day", DAYS)
def test_spark_and_pandas_curate_and_quarantine_the_same_rows(lakes, day):
    roots, _ = lakes
    curated = same_in_both(roots, "curated/churn/", day, ["customer_id"])
    assert list(curated.columns) == [c.name for c in CURATED_COLUMNS]
    same_in_both(roots, "curated/quarantine/churn/", day, ["_source", "_reason", "customer_id", "tenure_months"])
    manifests = {e: json.loads(lake.read_bytes(f"{r}/curated/_runs/churn/dt={day}/manifest.json"))
                 for e, r in roots.items()}
    assert manifests["spark"]["failures_by_column"] == manifests["pandas"]["failures_by_column"]
    assert manifests["spark"]["input_fingerprint"] == manifests["pandas"]["input_fingerprint"]


@pytest.mark.parametrize("day", DAYS)
def test_spark_and_pandas_build_the_same_features(lakes, day):
    roots, _ = lakes
    features = same_in_both(roots, "features/churn/", day, ["customer_id"])
    assert list(features.columns) == [c.name for c in FEATURES_COLUMNS]


def test_a_spark_rerun_commits_nothing_and_leaves_no_staging(lakes, spark_session):
    from workloads.etl import spark_engine

    roots, _ = lakes
    before = {u: lake.read_bytes(u) for u in lake.list_urls(f"{roots['spark']}/curated/")}
    assert spark_engine.run_validation(settings(roots["spark"], "validate", "spark"), spark_session) == []
    assert {u: lake.read_bytes(u) for u in lake.list_urls(f"{roots['spark']}/curated/")} == before
    assert not [u for u in before if commit.STAGING_DIR in u]
