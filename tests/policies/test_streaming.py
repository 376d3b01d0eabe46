"""Streaming rules on a Kinesis stream and its Firehose delivery, as StreamingIngestion declares them."""

from __future__ import annotations

import pytest

from policies.rules import s3, streaming
from tests.policies.cases import DELETE, KEY_ARN, assert_fails, assert_passes, change, resource

STREAM = {"name": "prodline-prod-churn-events", "encryptionType": "KMS", "kmsKeyId": KEY_ARN,
          "retentionPeriod": 168, "streamModeDetails": {"streamMode": "PROVISIONED"}, "shardCount": 2}
DELIVERY = {"name": "prodline-prod-churn-delivery", "destination": "extended_s3",
            "kinesisSourceConfiguration": {"kinesisStreamArn": "arn:aws:kinesis:eu-west-1:1:stream/s",
                                           "roleArn": "arn:aws:iam::1:role/r"},
            "extendedS3Configuration": {
                "bucketArn": "arn:aws:s3:::raw", "roleArn": "arn:aws:iam::1:role/r",
                "prefix": "churn/dt=!{partitionKeyFromQuery:event_dt}/stream/",
                "errorOutputPrefix": "_stream_errors/churn/!{firehose:error-output-type}/",
                "compressionFormat": "GZIP", "kmsKeyArn": KEY_ARN,
                "cloudwatchLoggingOptions": {"enabled": True, "logGroupName": "/aws/kinesisfirehose/d",
                                             "logStreamName": "DestinationDelivery"}}}


def stream(*edit):
    return [resource(streaming.STREAM, "ingest-stream", change(STREAM, *edit) if edit else STREAM)]


def delivery(*edit):
    return [resource(streaming.DELIVERY, "ingest-delivery", change(DELIVERY, *edit) if edit else DELIVERY)]


@pytest.mark.parametrize("rule", streaming.RULES, ids=lambda r: r.name)
def test_the_declared_stream_and_delivery_pass(rule):
    assert_passes(rule, [*stream(), *delivery()])


@pytest.mark.parametrize(("edit", "words"), [
    (("encryptionType", "NONE"), "not encrypted at rest"),
    (("kmsKeyId", DELETE), "names no key"),
    (("kmsKeyId", "alias/aws/kinesis"), "AWS-managed key"),
])
def test_a_stream_without_a_customer_key_fails(edit, words):
    assert_fails(streaming.kinesis_stream_encrypted, stream(*edit), "ingest-stream", words, "kms_key_id")


def test_a_delivery_to_s3_without_a_key_fails():
    assert_fails(streaming.firehose_delivery_encrypted, delivery("extendedS3Configuration.kmsKeyArn", DELETE),
                 "ingest-delivery", "without a KMS key")


def test_a_direct_put_delivery_without_customer_key_encryption_fails():
    direct = {"name": "d", "destination": "http_endpoint", "serverSideEncryption": {"enabled": True,
                                                                                     "keyType": "AWS_OWNED_CMK"}}
    regs = [resource(streaming.DELIVERY, "ingest-delivery", direct)]
    assert_fails(streaming.firehose_delivery_encrypted, regs, "ingest-delivery", "customer-managed key")


def test_a_delivery_without_an_error_prefix_fails():
    assert_fails(streaming.firehose_has_error_prefix, delivery("extendedS3Configuration.errorOutputPrefix", DELETE),
                 "ingest-delivery", "no error output prefix")


@pytest.mark.parametrize(("edit", "words"), [
    (("extendedS3Configuration.cloudwatchLoggingOptions", DELETE), "does not log"),
    (("extendedS3Configuration.cloudwatchLoggingOptions.enabled", False), "does not log"),
    (("extendedS3Configuration.cloudwatchLoggingOptions.logGroupName", DELETE), "without a log group"),
])
def test_a_delivery_without_cloudwatch_logging_fails(edit, words):
    assert_fails(streaming.firehose_logs_to_cloudwatch, delivery(*edit), "ingest-delivery", words)


OTHER_KEY = KEY_ARN.replace("key/lake", "key/other")
RAW = {"bucket": "raw"}
RAW_ENCRYPTION = {"bucket": "raw", "rules": [{"applyServerSideEncryptionByDefault": {
    "sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}}]}


def lake_and_stream(stream_edit=(), delivery_edit=()):
    named_stream = change(STREAM, "name", "s")
    return [resource(s3.BUCKET, "lake-raw", RAW), resource(s3.ENCRYPTION, "lake-raw-encryption", RAW_ENCRYPTION),
            resource(streaming.STREAM, "ingest-stream",
                     change(named_stream, *stream_edit) if stream_edit else named_stream),
            *delivery(*delivery_edit)]


def test_a_stream_and_delivery_under_the_raw_buckets_key_pass():
    assert_passes(streaming.streaming_uses_the_lake_key, lake_and_stream())


def test_a_delivery_under_another_key_than_its_bucket_fails():
    assert_fails(streaming.streaming_uses_the_lake_key,
                 lake_and_stream(delivery_edit=("extendedS3Configuration.kmsKeyArn", OTHER_KEY)),
                 "ingest-delivery", "not the bucket's key", "lake-raw")


def test_a_source_stream_under_another_key_than_the_bucket_fails():
    assert_fails(streaming.streaming_uses_the_lake_key, lake_and_stream(stream_edit=("kmsKeyId", OTHER_KEY)),
                 "ingest-stream", "not the bucket's key")
