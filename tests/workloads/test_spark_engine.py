"""The Glue Spark path (pyspark local mode): the same functions, the same outputs as the pandas path."""

from __future__ import annotations

import gzip
import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workloads.etl import commit, lake, pandas_engine
from workloads.etl.plans import JobSettings
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS
from workloads.ingest.generator import generate_raw, to_csv
from workloads.ingest.stream import encode, events
from workloads.ingest.uploader import upload_batch

pytestmark = pytest.mark.spark
DAYS = ("2026-04-01", "2026-04-02")
# Made once, so both engines' lakes get the same record ids.
STREAMED = [encode(e).data + b"\n" for e in events(generate_raw(200, 7, invalid_fraction=0.1))]


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
    # The first day also gets stream deliveries: 200 events, 20 of them delivered twice. mtime=0: gzip's header
    # holds the time by the second, and both lakes' objects (so their checksums) must be the same bytes.
    lake.write_bytes(f"{root}/raw/churn/dt={DAYS[0]}/stream/d-1.gz", gzip.compress(b"".join(STREAMED), mtime=0))
    lake.write_bytes(f"{root}/raw/churn/dt={DAYS[0]}/stream/d-2.gz", gzip.compress(b"".join(STREAMED[50:70]), mtime=0))


def read_zone(prefix: str, day: str, sort: list[str]) -> pd.DataFrame:
    urls = [u for u in lake.list_urls(f"{prefix}dt={day}/") if u.endswith(".parquet")]
    frames = [pq.read_table(io.BytesIO(lake.read_bytes(u))).to_pandas() for u in urls]
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
    for manifest, streamed in zip(manifests, (220, 0), strict=True):
        rows = manifest["rows"]
        assert manifest["engine"] == "spark"
        assert rows["in"] == 3000 + streamed == rows["curated"] + rows["quarantined"] + rows["duplicates"]
        assert (rows["stream"]["in"], rows["stream"]["duplicates"]) == (streamed, 20 if streamed else 0)


@pytest.mark.parametrize("day", DAYS)
def test_spark_and_pandas_curate_and_quarantine_the_same_rows(lakes, day):
    roots, _ = lakes
    curated = same_in_both(roots, "curated/churn/", day, ["customer_id"])
    assert list(curated.columns) == [c.name for c in CURATED_COLUMNS]
    same_in_both(roots, "curated/quarantine/churn/", day, ["_source", "_reason", "customer_id", "tenure_months"])
    manifests = {e: json.loads(lake.read_bytes(f"{r}/curated/_runs/churn/dt={day}/manifest.json"))
                 for e, r in roots.items()}
    assert manifests["spark"]["failures_by_column"] == manifests["pandas"]["failures_by_column"]
    assert manifests["spark"]["rows"] == manifests["pandas"]["rows"]
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


def test_spark_finishes_a_commit_killed_after_its_manifest_then_replaces_the_partition_whole(
        tmp_path, spark_session, monkeypatch):
    from workloads.etl import spark_engine

    root, day = str(tmp_path), DAYS[0]
    validate = settings(root, "validate", "spark")
    upload_batch(f"{root}/raw/churn/", day, "b0", to_csv(generate_raw(400, 1, 0.1)), 400)
    real_pointers, pointer_writes = commit.write_pointers, []

    def kill_after_the_switch(*args):
        pointer_writes.append(args)
        if len(pointer_writes) == 2:  # the first marks the old generation, the second comes after the manifest
            raise RuntimeError("killed after the switch")
        real_pointers(*args)

    monkeypatch.setattr(commit, "write_pointers", kill_after_the_switch)
    with pytest.raises(RuntimeError, match="after the switch"):
        spark_engine.run_validation(validate, spark_session)
    monkeypatch.undo()
    first = commit.read_manifest(validate.manifests, day)
    assert first["complete"] is False

    assert spark_engine.run_validation(validate, spark_session) == [], "finished, not redone"
    assert commit.read_manifest(validate.manifests, day) == {**first, "complete": True}
    pointer = json.loads(lake.read_bytes(f"{root}/curated/churn/dt={day}/{commit.POINTER_NAME}"))
    assert [f"{root}/curated/churn/dt={day}/{name}" for name in pointer["files"]] == \
        [f["url"] for f in first["outputs"]["curated"]]

    upload_batch(f"{root}/raw/churn/", day, "b1", to_csv(generate_raw(300, 2, 0.1)), 300)
    [second] = spark_engine.run_validation(validate, spark_session)
    for name, zone in (("curated", "curated/churn"), ("quarantine", "curated/quarantine/churn")):
        files = [u for u in lake.list_urls(f"{root}/{zone}/dt={day}/") if u.endswith(".parquet")]
        assert files == [f["url"] for f in second["outputs"][name]], f"{name}: only the new generation is left"
    rows = second["rows"]
    assert rows["in"] == 700 == rows["curated"] + rows["quarantined"]
    assert sum(len(read_zone(f"{root}/{zone}/", day, ["customer_id"])) for zone in
               ("curated/churn", "curated/quarantine/churn")) == 700
