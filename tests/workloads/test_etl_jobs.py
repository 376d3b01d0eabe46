"""The Glue jobs end to end on moto's S3: accounting, atomic commits, idempotent re-runs."""

import json

import boto3
import pyarrow.parquet as pq
import pytest

from tests.workloads.etl_helpers import land, read_parquet, run_features, run_validate, snapshot, zone_urls
from workloads.etl import commit, lake
from workloads.etl.raw_batches import BatchError
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS

DT = "2026-01-15"


@pytest.fixture
def urls(lake_buckets):
    return zone_urls(lake_buckets)


def manifest(urls, dt=DT, zone="curated_runs"):
    return json.loads(lake.read_bytes(f"{urls[zone]}dt={dt}/manifest.json"))


def test_bad_rows_are_quarantined_with_reasons_and_counts_add_up(urls):
    land(urls, DT, "b1", 2000, seed=1)
    land(urls, DT, "b2", 1000, seed=2)
    assert run_validate(urls) == 0

    runs = manifest(urls)
    assert runs["rows"]["in"] == 3000
    assert runs["rows"]["curated"] + runs["rows"]["quarantined"] == 3000
    assert runs["rows"]["quarantined"] > 50
    curated = read_parquet(lake.list_urls(f"{urls['curated']}dt={DT}/"))
    quarantined = read_parquet(lake.list_urls(f"{urls['quarantine']}dt={DT}/"))
    assert len(curated) == runs["rows"]["curated"] and len(quarantined) == runs["rows"]["quarantined"]
    assert quarantined["_reason"].notna().all() and (quarantined["_reason"] != "").all()
    assert set(quarantined["_source"]) == {"b1", "b2"}
    assert sum(runs["failures_by_column"].values()) >= len(quarantined)


def test_curated_files_hold_exactly_the_schema_columns_under_dt_partitions(urls):
    land(urls, DT, "b1", 500, seed=1)
    run_validate(urls)
    [url] = lake.list_urls(f"{urls['curated']}dt={DT}/")
    assert url.endswith(f"/churn/dt={DT}/part-00000.parquet")
    schema = pq.read_schema(__import__("io").BytesIO(lake.read_bytes(url)))
    assert schema.names == [c.name for c in CURATED_COLUMNS]
    assert str(schema.field("tenure_months").type) == "int64"
    assert str(schema.field("monthly_charges").type) == "double"


def test_rerun_over_the_same_input_changes_nothing(urls):
    land(urls, DT, "b1", 800, seed=1)
    run_validate(urls)
    before = snapshot(f"s3://{urls['curated'].split('/')[2]}/")
    assert run_validate(urls) == 0
    assert snapshot(f"s3://{urls['curated'].split('/')[2]}/") == before


def test_a_new_batch_redoes_the_partition_exactly_once(urls):
    land(urls, DT, "b1", 800, seed=1)
    run_validate(urls)
    land(urls, DT, "b2", 700, seed=2)
    run_validate(urls)
    runs = manifest(urls)
    curated = read_parquet(lake.list_urls(f"{urls['curated']}dt={DT}/"))
    quarantined = read_parquet(lake.list_urls(f"{urls['quarantine']}dt={DT}/"))
    assert runs["rows"]["in"] == 1500 and len(curated) + len(quarantined) == 1500
    assert not curated["customer_id"].duplicated().any()


def test_a_crash_between_stage_and_commit_leaves_no_partial_output(urls, monkeypatch):
    land(urls, DT, "b1", 600, seed=1)

    def crash(*args, **kwargs):
        raise RuntimeError("injected crash before commit")

    monkeypatch.setattr(commit, "commit_partition", crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        run_validate(urls)
    assert lake.list_urls(urls["curated"]) == []
    assert lake.list_urls(urls["quarantine"]) == []
    assert lake.list_urls(urls["curated_runs"]) == []

    monkeypatch.undo()
    assert run_validate(urls) == 0
    runs = manifest(urls)
    assert runs["rows"]["curated"] + runs["rows"]["quarantined"] == 600
    bucket = urls["curated"].split("/")[2]
    assert lake.list_urls(f"s3://{bucket}/_staging/") == [], "the re-run cleared the crashed run's staging"


def test_a_crash_in_the_middle_of_the_commit_is_completed_by_the_next_run(urls, monkeypatch):
    land(urls, DT, "b1", 600, seed=1)
    real_copy, copies = lake.copy, []

    def copy_then_crash(source, destination):
        if copies:
            raise RuntimeError("injected crash mid-commit")
        copies.append(destination)
        real_copy(source, destination)

    monkeypatch.setattr(lake, "copy", copy_then_crash)
    with pytest.raises(RuntimeError, match="mid-commit"):
        run_validate(urls)
    assert lake.list_urls(urls["curated_runs"]) == [], "no manifest: the partition is not committed"

    monkeypatch.undo()
    run_validate(urls)
    runs = manifest(urls)
    curated = read_parquet(lake.list_urls(f"{urls['curated']}dt={DT}/"))
    quarantined = read_parquet(lake.list_urls(f"{urls['quarantine']}dt={DT}/"))
    assert len(curated) == runs["rows"]["curated"] and len(curated) + len(quarantined) == 600


def test_a_batch_whose_bytes_differ_from_its_manifest_fails_the_run(urls):
    upload = land(urls, DT, "b1", 300, seed=1)
    lake.write_bytes(upload.data_url, lake.read_bytes(upload.data_url)[:-200])
    with pytest.raises(BatchError, match="sha256"):
        run_validate(urls)
    assert lake.list_urls(urls["curated_runs"]) == []


def test_a_csv_without_its_manifest_waits_for_a_later_run(urls):
    lake.write_bytes(f"{urls['raw']}dt={DT}/in-flight.csv", b"customer_id\n")
    assert run_validate(urls) == 0
    assert lake.list_urls(urls["curated_runs"]) == []


def test_dt_argument_limits_the_run_to_one_partition(urls):
    land(urls, "2026-01-01", "b1", 200, seed=1)
    land(urls, "2026-01-02", "b1", 200, seed=2)
    run_validate(urls, "--dt", "2026-01-02")
    assert [u.rsplit("/", 2)[1] for u in lake.list_urls(urls["curated_runs"])] == ["dt=2026-01-02"]


def test_features_are_built_for_committed_partitions_with_the_features_columns(urls):
    land(urls, "2026-01-01", "b1", 400, seed=1)
    land(urls, "2026-01-02", "b1", 300, seed=2)
    run_validate(urls)
    assert run_features(urls) == 0
    for dt in ("2026-01-01", "2026-01-02"):
        features = read_parquet(lake.list_urls(f"{urls['features']}dt={dt}/"))
        assert list(features.columns) == [c.name for c in FEATURES_COLUMNS]
        assert len(features) == manifest(urls, dt)["rows"]["curated"]
        assert manifest(urls, dt, "features_runs")["rows"] == {"in": len(features), "features": len(features)}
    before = snapshot(urls["features"])
    run_features(urls)
    assert snapshot(urls["features"]) == before


def test_features_follow_a_redone_curated_partition(urls):
    land(urls, DT, "b1", 300, seed=1)
    run_validate(urls)
    run_features(urls)
    land(urls, DT, "b2", 300, seed=2)
    run_validate(urls)
    run_features(urls)
    assert len(read_parquet(lake.list_urls(f"{urls['features']}dt={DT}/"))) == manifest(urls)["rows"]["curated"]


def test_committed_partitions_are_registered_in_the_glue_catalog(urls):
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "prodline_test"})
    glue.create_table(DatabaseName="prodline_test", TableInput={
        "Name": "curated_churn", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": c.name, "Type": c.glue_type} for c in CURATED_COLUMNS],
                              "Location": urls["curated"]}})
    land(urls, DT, "b1", 100, seed=1)
    run_validate(urls, "--database", "prodline_test")
    partition = glue.get_partition(DatabaseName="prodline_test", TableName="curated_churn", PartitionValues=[DT])
    assert partition["Partition"]["StorageDescriptor"]["Location"] == f"{urls['curated']}dt={DT}/"


def test_bad_arguments_are_refused_naming_the_argument(urls):
    with pytest.raises(ValueError, match="--engine must be one of pandas, spark"):
        run_validate(urls, "--engine", "dask")
