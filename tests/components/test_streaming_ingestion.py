"""StreamingIngestion under mocks, and in every shipped stack: an encrypted stream, Firehose into the raw zone."""

from __future__ import annotations

import pytest

from components.streaming_ingestion import StreamingIngestion, streaming_settings
from tests.helpers import (
    LAKE_KEY_ARN,
    STACKS,
    as_list,
    component_registrations,
    fake_lake_refs,
    named,
    of_type,
    stack_registrations,
    statements,
)

STREAM = "aws:kinesis/stream:Stream"
DELIVERY = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def ingestion_args(**changes):
    args = {
        "stream_name": "prodline-test-churn-events", "delivery_name": "prodline-test-churn-delivery",
        "dataset": "churn", "lake": None, "account_id": "123456789012", "region": "eu-west-1",
        "stream_mode": "ON_DEMAND", "retention_hours": 24, "buffer_size_mib": 64, "buffer_interval_seconds": 60,
        "freshness_seconds": 300, "log_retention_days": 14,
        "alert_topic_arn": "arn:aws:sns:eu-west-1:123456789012:prodline-test-alerts",
    }
    args.update(changes)
    return args


def build(**changes):
    def program():
        StreamingIngestion("ingest", {**ingestion_args(**changes), "lake": fake_lake_refs()})
    return component_registrations(program)


@pytest.fixture(scope="module")
def on_demand():
    return build()


def test_stream_is_encrypted_with_the_lake_key_on_demand(on_demand):
    stream = named(on_demand, "ingest-stream").inputs
    assert (stream["encryptionType"], stream["kmsKeyId"]) == ("KMS", LAKE_KEY_ARN)
    assert stream["streamModeDetails"] == {"streamMode": "ON_DEMAND"}
    assert "shardCount" not in stream, "an ON_DEMAND stream must not declare shards"


def test_provisioned_stream_declares_its_shards():
    stream = named(build(stream_mode="PROVISIONED", shard_count=3), "ingest-stream").inputs
    assert stream["streamModeDetails"] == {"streamMode": "PROVISIONED"} and stream["shardCount"] == 3


def test_delivery_reads_the_stream_and_writes_gzip_into_the_raw_date_partitions(on_demand):
    delivery = named(on_demand, "ingest-delivery").inputs
    s3 = delivery["extendedS3Configuration"]
    assert delivery["kinesisSourceConfiguration"]["kinesisStreamArn"].endswith(":stream/prodline-test-churn-events")
    assert s3["bucketArn"] == "arn:aws:s3:::bucket-raw"
    assert s3["prefix"] == "churn/dt=!{partitionKeyFromQuery:event_dt}/stream/"
    assert s3["errorOutputPrefix"].startswith("_stream_errors/churn/!{firehose:error-output-type}/")
    assert (s3["compressionFormat"], s3["kmsKeyArn"]) == ("GZIP", LAKE_KEY_ARN)
    assert (s3["bufferingSize"], s3["bufferingInterval"]) == (64, 60)
    assert s3["cloudwatchLoggingOptions"]["logGroupName"] == "/aws/kinesisfirehose/prodline-test-churn-delivery"
    query = s3["processingConfiguration"]["processors"][0]["parameters"][1]["parameterValue"]
    assert query == "{event_dt: .event_time[0:10]}"


def test_log_group_has_retention_and_the_lake_key(on_demand):
    group = named(on_demand, "ingest-logs").inputs
    assert (group["retentionInDays"], group["kmsKeyId"]) == (14, LAKE_KEY_ARN)


def test_delivery_role_reads_only_its_stream_and_writes_only_the_stream_and_error_prefixes(on_demand):
    trust = statements(named(on_demand, "ingest-delivery-role").inputs["assumeRolePolicy"])
    assert trust[0]["Principal"] == {"Service": ["firehose.amazonaws.com"]}
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    by_sid = {s["Sid"]: s for s in statements(named(on_demand, "ingest-delivery-role-policy").inputs["policy"])}
    assert by_sid["ReadOwnStream"]["Resource"] == [
        "arn:aws:kinesis:eu-west-1:123456789012:stream/prodline-test-churn-events"]
    assert by_sid["WriteStreamObjects"]["Resource"] == ["arn:aws:s3:::bucket-raw/churn/dt=*/stream/*",
                                                         "arn:aws:s3:::bucket-raw/_stream_errors/churn/*"]
    assert by_sid["UseLakeKey"]["Resource"] == [LAKE_KEY_ARN]
    for statement in by_sid.values():
        assert all("*" not in action for action in as_list(statement["Action"])), statement["Sid"]


def test_alarms_watch_freshness_iterator_age_and_throttling_with_real_dimensions(on_demand):
    alarms = {a.inputs["metricName"]: a.inputs for a in of_type(on_demand, ALARM)}
    assert alarms["DeliveryToS3.DataFreshness"]["dimensions"] == {"DeliveryStreamName": "prodline-test-churn-delivery"}
    assert alarms["DeliveryToS3.DataFreshness"]["threshold"] == 300
    assert alarms["GetRecords.IteratorAgeMilliseconds"]["dimensions"] == {"StreamName": "prodline-test-churn-events"}
    assert alarms["GetRecords.IteratorAgeMilliseconds"]["threshold"] == 300_000
    assert alarms["WriteProvisionedThroughputExceeded"]["dimensions"] == {"StreamName": "prodline-test-churn-events"}
    for alarm in alarms.values():
        assert alarm["alarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:prodline-test-alerts"]


@pytest.mark.parametrize(("change", "field"), [
    ({"stream_mode": "BURST"}, "stream_mode"),
    ({"stream_mode": "PROVISIONED"}, "shard_count"),
    ({"retention_hours": 12}, "retention_hours"),
    ({"buffer_size_mib": 32}, "buffer_size_mib"),
    ({"buffer_interval_seconds": 30}, "buffer_interval_seconds"),
    ({"freshness_seconds": 60}, "freshness_seconds"),
])
def test_settings_refuse_bad_values_naming_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        streaming_settings(ingestion_args(**change))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_streams_into_the_raw_zone_with_a_freshness_alarm(stack):
    regs = stack_registrations(stack)
    assert [r.inputs["name"] for r in of_type(regs, STREAM)] == [f"prodline-{stack}-churn-events"]
    (delivery,) = of_type(regs, DELIVERY)
    assert delivery.inputs["extendedS3Configuration"]["bucketArn"].startswith(f"arn:aws:s3:::prodline-{stack}-lake-raw")
    freshness = [a for a in of_type(regs, ALARM) if a.inputs.get("metricName") == "DeliveryToS3.DataFreshness"]
    assert len(freshness) == 1, f"{stack} has no delivery freshness alarm"


def test_prod_stream_is_provisioned_with_a_week_of_retention():
    (stream,) = of_type(stack_registrations("prod"), STREAM)
    assert stream.inputs["streamModeDetails"] == {"streamMode": "PROVISIONED"}
    assert (stream.inputs["shardCount"], stream.inputs["retentionPeriod"]) == (2, 168)
