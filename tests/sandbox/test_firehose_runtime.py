"""The stream and delivery stream as the component declares them, realized in moto, delivered by the runtime."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from components.streaming_ingestion import StreamingIngestion
from prodline.sandbox.realizer.base import Context
from prodline.sandbox.realizer.registry import HANDLERS
from prodline.sandbox.runtimes import firehose
from tests.components.test_streaming_ingestion import ingestion_args
from tests.helpers import component_registrations, fake_lake_refs
from tests.sandbox.test_events_and_alarms import _Clients
from workloads.ingest.generator import generate_raw
from workloads.ingest.stream import encode, events, kinesis_client, put_records

EVENT_DAY = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
DELIVERY = "prodline-test-churn-delivery"


@pytest.fixture
def realized(monkeypatch):
    """The component's stream, log group and stream, and delivery stream, created by the realizer's handlers."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def program():
        StreamingIngestion("ingest", {**ingestion_args(), "lake": fake_lake_refs()})

    regs = component_registrations(program)
    with mock_aws():
        clients = _Clients()
        clients("s3").create_bucket(Bucket="bucket-raw", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ctx = Context(clients=clients, account="123456789012", region="eu-west-1", stack="test")
        for reg in regs:
            if reg.type.startswith(("aws:kinesis/", "aws:cloudwatch/log")):
                handler = HANDLERS[reg.type]
                handler.check(reg.type, reg.name, reg.inputs)
                handler.create(ctx, reg.urn, reg.name, reg.inputs)
        yield clients


def produce(rows: int, bad: list[bytes] = ()) -> None:
    records = [encode(e) for e in events(generate_raw(rows, 1, 0.1), now=EVENT_DAY)]
    client = kinesis_client()
    report = put_records(client, "prodline-test-churn-events", records)
    assert report.sent == rows
    for i, data in enumerate(bad):
        client.put_record(StreamName="prodline-test-churn-events", Data=data, PartitionKey=f"bad-{i}")


def objects(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="bucket-raw", Prefix=prefix).get("Contents", [])]


def test_the_runtime_reads_the_declared_delivery_config(realized):
    config = firehose.read_config(realized("firehose"), DELIVERY)
    assert config.stream_name == "prodline-test-churn-events" and config.bucket == "bucket-raw"
    assert config.partition_query == ("event_dt", "event_time", 0, 10)
    assert (config.compression, config.delimiter, config.buffer_bytes) == ("GZIP", b"\n", 64 * 1024 * 1024)


def test_events_land_gzip_json_lines_in_their_event_date_partition(realized, tmp_path):
    produce(120)
    report = firehose.deliver(realized, DELIVERY, tmp_path / "checkpoint.json")
    assert (report.read, report.delivered, report.errored) == (120, 120, 0)
    s3 = realized("s3")
    [key] = objects(s3, "churn/")
    assert key.startswith(f"churn/dt=2026-03-14/stream/{DELIVERY}-1-") and key.endswith(".gz")
    obj = s3.get_object(Bucket="bucket-raw", Key=key)
    lines = gzip.decompress(obj["Body"].read()).splitlines()
    assert len(lines) == 120 and all(json.loads(line)["event_time"].startswith("2026-03-14") for line in lines)
    assert obj["ServerSideEncryption"] == "aws:kms"


def test_records_that_cannot_be_partitioned_go_to_the_error_prefix_and_are_counted(realized, tmp_path):
    bad = [b"not json", json.dumps({"record_id": "x"}).encode()]
    produce(30, bad)
    report = firehose.deliver(realized, DELIVERY, tmp_path / "checkpoint.json")
    assert (report.read, report.delivered, report.errored) == (32, 30, 2)
    s3 = realized("s3")
    [key] = objects(s3, "_stream_errors/churn/processing-failed/dt=")
    failures = [json.loads(line) for line in gzip.decompress(
        s3.get_object(Bucket="bucket-raw", Key=key)["Body"].read()).splitlines()]
    assert {base64.b64decode(f["rawData"]) for f in failures} == set(bad)
    assert all(f["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed" for f in failures)
    logged = realized("logs").get_log_events(logGroupName=f"/aws/kinesisfirehose/{DELIVERY}",
                                             logStreamName="DestinationDelivery")["events"]
    assert len(logged) == 2


def test_a_second_pass_delivers_only_what_arrived_since(realized, tmp_path):
    checkpoint = tmp_path / "checkpoint.json"
    produce(10)
    firehose.deliver(realized, DELIVERY, checkpoint)
    assert firehose.deliver(realized, DELIVERY, checkpoint).read == 0
    produce(5)
    assert firehose.deliver(realized, DELIVERY, checkpoint).delivered == 5


def test_objects_are_split_at_the_buffer_size():
    chunks = [b"x" * 400] * 5
    assert [len(g) for g in firehose._split(chunks, 1000)] == [2, 2, 1]


@pytest.mark.parametrize("query", ["{dt: .a | .b}", "{dt: .a.b}", ".event_time"])
def test_queries_the_sandbox_cannot_evaluate_are_refused(query):
    with pytest.raises(ValueError, match="MetadataExtractionQuery"):
        firehose.parse_query(query)


def test_a_checkpoint_of_an_earlier_delivery_stream_of_the_same_name_is_not_used(realized, tmp_path):
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(json.dumps({"delivery_stream_created": "another day",
                                      "positions": {"shardId-000000000000": "9" * 50}}))
    produce(8)
    assert firehose.deliver(realized, DELIVERY, checkpoint).delivered == 8


def test_a_record_over_firehoses_limit_goes_to_the_error_prefix(realized, tmp_path):
    kinesis = realized("kinesis")
    kinesis.put_record(StreamName="prodline-test-churn-events", PartitionKey="big",
                       Data=json.dumps({"event_time": "2026-03-14", "pad": "x" * firehose.MAX_RECORD_BYTES}).encode())
    report = firehose.deliver(realized, DELIVERY, tmp_path / "checkpoint.json")
    assert (report.delivered, report.errored) == (0, 1)
    [key] = objects(realized("s3"), "_stream_errors/")
    [failure] = [json.loads(line) for line in gzip.decompress(
        realized("s3").get_object(Bucket="bucket-raw", Key=key)["Body"].read()).splitlines()]
    assert failure["errorCode"] == "RecordTooLarge"
