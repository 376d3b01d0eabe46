"""The validate job on stream-delivered objects: the files' validation and quarantine, duplicates dropped once."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.workloads.etl_helpers import land, read_partition, run_validate, zone_urls
from workloads.etl import lake, plans, raw_batches, stream_records
from workloads.ingest.generator import generate_raw
from workloads.ingest.stream import encode, events

DT = "2026-01-15"


@pytest.fixture
def urls(lake_buckets):
    return zone_urls(lake_buckets)


def deliver(urls, name: str, lines: list[bytes], dt: str = DT) -> str:
    """An object as Firehose writes it: GZIP JSON lines under the partition's stream/ segment."""
    url = f"{urls['raw']}dt={dt}/stream/{name}.gz"
    lake.write_bytes(url, gzip.compress(b"".join(line + b"\n" for line in lines)))
    return url


def stream_events(rows: int, seed: int, invalid_fraction: float = 0.1) -> list[bytes]:
    return [encode(e).data for e in events(generate_raw(rows, seed, invalid_fraction))]


def manifest(urls, dt=DT):
    return json.loads(lake.read_bytes(f"{urls['curated_runs']}dt={dt}/manifest.json"))


def test_stream_events_are_validated_and_counted_apart_from_files(urls):
    land(urls, DT, "b1", 300, seed=1)
    lines = stream_events(200, seed=2)
    deliver(urls, "delivery-1", lines[:120])
    deliver(urls, "delivery-2", lines[120:])
    assert run_validate(urls) == 0

    rows = manifest(urls)["rows"]
    assert rows["in"] == 500 and rows["curated"] + rows["quarantined"] == 500
    assert rows["files"]["in"] == 300 and rows["stream"]["in"] == 200
    for origin in ("files", "stream"):
        assert rows[origin]["curated"] + rows[origin]["quarantined"] == rows[origin]["in"], origin
    assert rows["stream"]["quarantined"] > 5, "the stream's invalid rows are quarantined like a file's"
    quarantined = read_partition(urls["quarantine"], DT)
    streamed = quarantined[quarantined["_source"].str.startswith("stream:")]
    assert len(streamed) == rows["stream"]["quarantined"] and streamed["_reason"].str.len().min() > 0


def test_a_duplicate_delivery_reaches_curated_once(urls):
    lines = stream_events(100, seed=3, invalid_fraction=0.0)
    deliver(urls, "delivery-1", lines)
    deliver(urls, "delivery-2-redelivered", lines[40:60])  # a retry delivered 20 events again
    assert run_validate(urls) == 0

    rows = manifest(urls)["rows"]
    assert rows["in"] == 120 and rows["duplicates"] == 20 and rows["stream"]["duplicates"] == 20
    assert rows["curated"] + rows["quarantined"] + rows["duplicates"] == rows["in"]
    curated = read_partition(urls["curated"], DT)
    assert len(curated) == 100 and curated["customer_id"].is_unique


def test_a_later_redelivery_reprocesses_the_partition_and_stays_deduplicated(urls):
    lines = stream_events(50, seed=4, invalid_fraction=0.0)
    deliver(urls, "delivery-1", lines)
    run_validate(urls)
    deliver(urls, "delivery-2", lines[:10] + stream_events(5, seed=5, invalid_fraction=0.0))
    run_validate(urls)
    rows = manifest(urls)["rows"]
    assert (rows["in"], rows["duplicates"], rows["curated"]) == (65, 10, 55)
    assert len(read_partition(urls["curated"], DT)) == 55


def test_lines_that_are_not_events_are_quarantined_with_the_reason(urls):
    good = stream_events(3, seed=6, invalid_fraction=0.0)
    no_id = json.dumps({**json.loads(good[0]), "record_id": None}).encode()
    deliver(urls, "delivery-1", [*good, b"not json at all", no_id])
    run_validate(urls)
    rows = manifest(urls)["rows"]
    assert (rows["stream"]["in"], rows["stream"]["curated"], rows["stream"]["quarantined"]) == (5, 3, 2)
    reasons = set(read_partition(urls["quarantine"], DT)["_reason"])
    assert any("not a JSON object" in r for r in reasons) and any("no record_id" in r for r in reasons)


def test_a_stream_object_changed_after_planning_stops_the_run(urls):
    url = deliver(urls, "delivery-1", stream_events(5, seed=7))
    item = stream_records.object_input(url)
    lake.write_bytes(url, gzip.compress(b"{}\n"))
    with pytest.raises(stream_records.BatchError, match="sha256"):
        stream_records.read_objects([item], "_source")


def test_error_prefix_and_other_segments_are_not_read_as_events(urls):
    deliver(urls, "delivery-1", stream_events(5, seed=8, invalid_fraction=0.0))
    bucket_root = lake.bucket_root(urls["raw"])
    lake.write_bytes(f"{bucket_root}_stream_errors/churn/processing-failed/dt={DT}/x.gz", gzip.compress(b"bad\n"))
    delivered = stream_records.objects_in(lake.list_urls(raw_batches.listing_prefix(urls["raw"])))
    assert list(delivered) == [DT]
    assert len(delivered[DT]) == 1


def test_planning_lists_the_raw_zone_once_for_the_batches_and_the_stream_objects(urls, monkeypatch):
    land(urls, DT, "b1", 30, seed=1)
    land(urls, "2026-01-16", "b1", 30, seed=2)
    deliver(urls, "delivery-1", stream_events(10, seed=3))
    listed = []
    real = lake.list_urls
    monkeypatch.setattr(lake, "list_urls", lambda prefix: listed.append(prefix) or real(prefix))
    settings = plans.JobSettings(job_name="v", source=urls["raw"], target=urls["curated"],
                                 manifests=urls["curated_runs"], dataset="churn", engine="pandas",
                                 quarantine=urls["quarantine"])
    found = {plan.dt: plan for plan in plans.validation_plans(settings)}
    assert listed == [f"{urls['raw']}dt="], "one listing of the raw zone's partitions"
    assert sorted(found) == [DT, "2026-01-16"]
    assert [item["batch_id"] for item in found[DT].inputs] == ["b1", "stream/delivery-1.gz"]
    assert [item["batch_id"] for item in found["2026-01-16"].inputs] == ["b1"]
