"""The Glue jobs end to end on moto's S3: accounting, atomic commits, idempotent re-runs."""

import dataclasses
import json

import boto3
import pyarrow.parquet as pq
import pytest

from tests.workloads.etl_helpers import (
    land,
    parquet_files,
    read_parquet,
    read_partition,
    run_features,
    run_validate,
    snapshot,
    zone_urls,
)
from workloads.etl import catalog, commit, lake, pandas_engine, validation
from workloads.etl.plans import JobSettings
from workloads.etl.raw_batches import BatchError
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS
from workloads.ingest.generator import generate_raw, to_csv
from workloads.ingest.uploader import upload_batch
from workloads.training.data import read_channel

DT = "2026-01-15"


@pytest.fixture
def urls(lake_buckets):
    return zone_urls(lake_buckets)


def manifest(urls, dt=DT, zone="curated_runs"):
    return json.loads(lake.read_bytes(f"{urls[zone]}dt={dt}/manifest.json"))


def dies(message):
    """A stand-in for a lake, commit or catalog call: the run dies there with ``message``."""

    def die(*args, **kwargs):
        raise RuntimeError(message)

    return die


def test_bad_rows_are_quarantined_with_reasons_and_counts_add_up(urls):
    land(urls, DT, "b1", 2000, seed=1)
    land(urls, DT, "b2", 1000, seed=2)
    assert run_validate(urls) == 0

    runs = manifest(urls)
    assert runs["rows"]["in"] == 3000
    assert runs["rows"]["curated"] + runs["rows"]["quarantined"] == 3000
    assert runs["rows"]["quarantined"] > 50
    curated = read_partition(urls["curated"], DT)
    quarantined = read_partition(urls["quarantine"], DT)
    assert len(curated) == runs["rows"]["curated"] and len(quarantined) == runs["rows"]["quarantined"]
    assert quarantined["_reason"].notna().all() and (quarantined["_reason"] != "").all()
    assert set(quarantined["_source"]) == {"b1", "b2"}
    assert sum(runs["failures_by_column"].values()) >= len(quarantined)


def test_curated_files_hold_exactly_the_schema_columns_under_dt_partitions(urls):
    land(urls, DT, "b1", 500, seed=1)
    run_validate(urls)
    [url] = parquet_files(f"{urls['curated']}dt={DT}/")
    commit_id = manifest(urls)["commit_id"]
    assert url == f"{urls['curated']}dt={DT}/{commit_id}/part-00000.parquet"
    pointer = json.loads(lake.read_bytes(f"{urls['curated']}dt={DT}/{commit.POINTER_NAME}"))
    assert pointer["files"] == [f"{commit_id}/part-00000.parquet"]
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
    curated = read_partition(urls["curated"], DT)
    quarantined = read_partition(urls["quarantine"], DT)
    assert runs["rows"]["in"] == 1500 and len(curated) + len(quarantined) == 1500
    assert not curated["customer_id"].duplicated().any()


def test_a_crash_between_stage_and_commit_leaves_no_partial_output(urls, monkeypatch):
    land(urls, DT, "b1", 600, seed=1)

    monkeypatch.setattr(commit, "commit_partition", dies("injected crash before commit"))
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


def test_a_partition_whose_commit_fails_stops_the_run_before_the_next_commits(urls, monkeypatch):
    monkeypatch.setattr(validation, "THREADS", 2)  # the next partition is read while this one commits
    land(urls, "2026-01-01", "b1", 200, seed=1)
    land(urls, "2026-01-02", "b1", 200, seed=2)
    real_commit, committed = commit.commit_partition, []

    def commit_second_only(target, outputs, manifest):
        if manifest["dt"] == "2026-01-01":
            raise RuntimeError("injected crash in the first commit")
        committed.append(manifest["dt"])
        return real_commit(target, outputs, manifest)

    monkeypatch.setattr(commit, "commit_partition", commit_second_only)
    with pytest.raises(RuntimeError, match="first commit"):
        run_validate(urls)
    assert committed == [] and lake.list_urls(urls["curated_runs"]) == []


def test_a_partition_that_fails_to_read_lets_the_one_before_it_commit_first(urls, monkeypatch):
    monkeypatch.setattr(validation, "THREADS", 2)
    land(urls, "2026-01-01", "b1", 200, seed=1)
    upload = land(urls, "2026-01-02", "b1", 200, seed=2)
    lake.write_bytes(upload.data_url, lake.read_bytes(upload.data_url)[:-100])
    with pytest.raises(BatchError, match="sha256"):
        run_validate(urls)
    assert [u.rsplit("/", 2)[1] for u in lake.list_urls(urls["curated_runs"])] == ["dt=2026-01-01"]
    assert manifest(urls, "2026-01-01")["complete"] is True


def test_a_run_that_loses_a_row_fails_and_commits_nothing(urls, monkeypatch):
    land(urls, DT, "b1", 300, seed=1)
    real_validate = validation.validate_rows

    def lose_a_row(raw):
        checked = real_validate(raw)
        return dataclasses.replace(checked, curated=checked.curated.iloc[1:])

    monkeypatch.setattr(validation, "validate_rows", lose_a_row)
    with pytest.raises(commit.AccountingError, match=r"read 300, wrote \d+ curated \+ \d+ quarantine = 299"):
        run_validate(urls)
    assert lake.list_urls(urls["curated_runs"]) == [] and parquet_files(urls["curated"]) == []


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
    curated = read_partition(urls["curated"], DT)
    quarantined = read_partition(urls["quarantine"], DT)
    assert len(curated) == runs["rows"]["curated"] and len(curated) + len(quarantined) == 600


def test_files_a_crashed_attempt_left_beside_a_finished_commit_are_deleted_by_the_next_run(urls, monkeypatch):
    """A batch lands, the run that would commit it is killed mid-copy, then the batch is withdrawn: the input
    is the committed one again, so nothing is redone, but the killed attempt's files must still go."""
    land(urls, DT, "b1", 500, seed=1)
    run_validate(urls)
    committed = manifest(urls)
    withdrawn = land(urls, DT, "b2", 400, seed=2)
    real_copy = lake.copy

    def copy_once_then_die(source, destination):
        monkeypatch.setattr(lake, "copy", dies("killed mid-copy"))
        real_copy(source, destination)

    monkeypatch.setattr(lake, "copy", copy_once_then_die)
    with pytest.raises(RuntimeError, match="mid-copy"):
        run_validate(urls)
    monkeypatch.undo()
    lake.delete([withdrawn.data_url, withdrawn.manifest_url])
    assert len(parquet_files(f"{urls['curated']}dt={DT}/")) == 2, "the killed attempt left a file"

    assert run_validate(urls) == 0
    assert manifest(urls) == committed, "nothing to redo"
    assert parquet_files(f"{urls['curated']}dt={DT}/") == [f["url"] for f in committed["outputs"]["curated"]]


def committed_rows(urls, output, dt=DT, zone="curated_runs"):
    """What a reader that goes through the manifest sees of one output."""
    return read_parquet([f["url"] for f in manifest(urls, dt, zone)["outputs"][output]])


def test_a_recommit_killed_before_its_manifest_leaves_the_old_curated_and_quarantine_together(urls, monkeypatch):
    land(urls, DT, "b1", 500, seed=1)
    run_validate(urls)
    old = manifest(urls)
    land(urls, DT, "b2", 400, seed=2)

    monkeypatch.setattr(commit, "write_manifest", dies("injected crash before the switch"))
    with pytest.raises(RuntimeError, match="before the switch"):
        run_validate(urls)
    assert manifest(urls) == old
    assert len(committed_rows(urls, "curated")) == old["rows"]["curated"]
    assert len(committed_rows(urls, "quarantine")) == old["rows"]["quarantined"]
    pointer = json.loads(lake.read_bytes(f"{urls['curated']}dt={DT}/{commit.POINTER_NAME}"))
    assert pointer["files"] == [f"{old['commit_id']}/part-00000.parquet"], "prefix readers keep the old files"

    monkeypatch.undo()
    run_validate(urls)
    assert manifest(urls)["rows"]["in"] == 900 and manifest(urls)["complete"] is True
    assert len(read_partition(urls["curated"], DT)) == manifest(urls)["rows"]["curated"], "crashed files removed"


def catalog_table(urls, zone="curated", columns=CURATED_COLUMNS):
    glue = boto3.client("glue")
    if not glue.get_databases()["DatabaseList"]:
        glue.create_database(DatabaseInput={"Name": "prodline_test"})
    glue.create_table(DatabaseName="prodline_test", TableInput={
        "Name": f"{zone}_churn", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": c.name, "Type": c.glue_type} for c in columns],
                              "Location": urls[zone]}})
    return glue


def registered_location(glue, dt=DT, table="curated_churn"):
    try:
        partition = glue.get_partition(DatabaseName="prodline_test", TableName=table, PartitionValues=[dt])
    except glue.exceptions.EntityNotFoundException:
        return None
    return partition["Partition"]["StorageDescriptor"]["Location"]


def test_a_partition_committed_but_not_registered_is_registered_by_the_next_run(urls, monkeypatch):
    glue = catalog_table(urls)
    land(urls, DT, "b1", 300, seed=1)

    monkeypatch.setattr(catalog, "add_partition", dies("injected crash after the switch"))
    with pytest.raises(RuntimeError, match="after the switch"):
        run_validate(urls, "--database", "prodline_test")
    assert manifest(urls)["complete"] is False and registered_location(glue) is None

    monkeypatch.undo()
    assert run_validate(urls, "--database", "prodline_test") == 0
    assert registered_location(glue) == manifest(urls)["locations"]["curated"]
    assert manifest(urls)["complete"] is True


def test_a_registration_missing_or_stale_for_a_complete_commit_is_repaired(urls):
    land(urls, DT, "b1", 300, seed=1)
    run_validate(urls)
    glue = catalog_table(urls)  # the table came after the commit: the date is not registered
    before = manifest(urls)
    run_validate(urls, "--database", "prodline_test")
    assert registered_location(glue) == before["locations"]["curated"]
    catalog.add_partition("prodline_test", "curated_churn", DT, f"{urls['curated']}dt={DT}/elsewhere/")
    run_validate(urls, "--database", "prodline_test")
    assert registered_location(glue) == before["locations"]["curated"]
    assert manifest(urls)["commit_id"] == before["commit_id"], "repaired, not redone"


def test_a_partition_in_the_flat_layout_is_kept_until_its_input_changes(urls):
    """Partitions committed before commit directories (``dt=.../part-00000.parquet``) stay readable."""
    land(urls, DT, "b1", 300, seed=1)
    run_validate(urls)
    current = manifest(urls)
    legacy = {key: value for key, value in current.items() if key not in ("commit_id", "locations", "complete")}
    for name, files in current["outputs"].items():
        zone = urls[name]
        for f in files:
            flat = f"{zone}dt={DT}/part-00000.parquet"
            lake.copy(f["url"], flat)
            lake.delete([f["url"], f"{zone}dt={DT}/{commit.POINTER_NAME}"])
            f["url"] = flat
    lake.write_bytes(f"{urls['curated_runs']}dt={DT}/manifest.json", json.dumps(legacy).encode())

    assert run_validate(urls) == 0 and manifest(urls)["input_fingerprint"] == current["input_fingerprint"]
    pointer = json.loads(lake.read_bytes(f"{urls['curated']}dt={DT}/{commit.POINTER_NAME}"))
    assert pointer["files"] == ["part-00000.parquet"]
    land(urls, DT, "b2", 200, seed=2)
    run_validate(urls)
    [url] = parquet_files(f"{urls['curated']}dt={DT}/")
    assert url.startswith(manifest(urls)["locations"]["curated"]), "the flat file went with the next commit"
    assert len(read_partition(urls["curated"], DT)) == manifest(urls)["rows"]["curated"]


def download(prefix, directory):
    """What a SageMaker File-mode channel does: every object under the prefix, keys kept."""
    for url in lake.list_urls(prefix):
        (directory / url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
        (directory / url[len(prefix):]).write_bytes(lake.read_bytes(url))
    return directory


def test_a_training_channel_downloaded_mid_commit_reads_the_committed_generation_only(urls, monkeypatch, tmp_path):
    land(urls, DT, "b1", 400, seed=1)
    run_validate(urls)
    run_features(urls)
    old = manifest(urls, zone="features_runs")
    land(urls, DT, "b2", 300, seed=2)
    run_validate(urls)

    monkeypatch.setattr(commit, "write_manifest", dies("killed before the switch"))
    with pytest.raises(RuntimeError, match="killed"):
        run_features(urls)
    monkeypatch.undo()
    assert len(parquet_files(f"{urls['features']}dt={DT}/")) == 2, "old and new files side by side"

    rows = read_channel(download(urls["features"], tmp_path / "train"))
    assert len(rows) == old["rows"]["features"]
    run_features(urls)
    rows = read_channel(download(urls["features"], tmp_path / "again"))
    assert len(rows) == manifest(urls, zone="features_runs")["rows"]["features"] == manifest(urls)["rows"]["curated"]


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
        features = read_partition(urls["features"], dt)
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
    assert len(read_partition(urls["features"], DT)) == manifest(urls)["rows"]["curated"]


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
    assert partition["Partition"]["StorageDescriptor"]["Location"] == manifest(urls)["locations"]["curated"]
    assert manifest(urls)["locations"]["curated"] == f"{urls['curated']}dt={DT}/{manifest(urls)['commit_id']}/"


def test_bad_arguments_are_refused_naming_the_argument(urls):
    with pytest.raises(ValueError, match="--engine must be one of pandas, spark"):
        run_validate(urls, "--engine", "dask")


def test_a_lake_addressed_by_file_urls_keeps_the_files_its_manifest_names(tmp_path):
    """Listings come back spelled like their prefix, so the clean-up after a commit never mistakes the
    committed files for unnamed ones."""
    root = f"file://{tmp_path}"
    settings = JobSettings(job_name="v", source=f"{root}/raw/churn/", target=f"{root}/curated/churn/",
                           quarantine=f"{root}/curated/quarantine/churn/", manifests=f"{root}/curated/_runs/churn/",
                           dataset="churn", engine="pandas")
    upload_batch(settings.source, DT, "b1", to_csv(generate_raw(200, 1, 0.1)), 200)
    [committed] = pandas_engine.run_validation(settings)
    named = [f["url"] for files in committed["outputs"].values() for f in files]
    assert named and all(url.startswith(root) and lake.exists(url) for url in named)
    [curated] = committed["outputs"]["curated"]
    assert lake.list_urls(f"{root}/curated/churn/dt={DT}/") == sorted(
        [curated["url"], f"{root}/curated/churn/dt={DT}/{commit.POINTER_NAME}"])
