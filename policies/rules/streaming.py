"""Streaming rules: events on Kinesis and in Firehose stay under a customer key, and no record is lost silently."""

from __future__ import annotations

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ResourceRule, StackRule, message
from policies.rules import links, s3
from policies.rules.props import UNKNOWN, get, is_true, missing

STREAM = "aws:kinesis/stream:Stream"
DELIVERY = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
AWS_MANAGED_KEY = "alias/aws/kinesis"
# Firehose destinations that write to S3 and so take a KMS key, an error prefix and CloudWatch logging.
S3_DESTINATIONS = ("extendedS3Configuration",)


def _validate_stream_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind, key = get(args.props, "encryptionType"), get(args.props, "kmsKeyId")
    if UNKNOWN in (kind, key):
        return
    if kind != "KMS" or missing(key):
        problem = "is not encrypted at rest" if kind != "KMS" else "sets KMS encryption but names no key"
    elif key == AWS_MANAGED_KEY:
        problem = f"is encrypted with the AWS-managed key {AWS_MANAGED_KEY}"
    else:
        return
    report(message(args.name, problem,
                   "events on the stream are the lake's raw data for up to the stream's retention, and only the "
                   "lake key's policy decides who may read them",
                   "set encryption_type='KMS' and kms_key_id=<the lake key> (StreamingIngestion does)"))


kinesis_stream_encrypted = ResourceRule(
    "kinesis-stream-encrypted",
    "Requires every Kinesis data stream to be encrypted with a customer-managed KMS key.",
    _validate_stream_encryption,
    types=[STREAM],
)


def _s3_destination(args: ResourceValidationArgs):
    for key in S3_DESTINATIONS:
        destination = get(args.props, key)
        if destination not in (None, UNKNOWN):
            return key, destination
    return None, None


def _validate_delivery_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key, destination = _s3_destination(args)
    if destination is not None:
        if missing(get(destination, "kmsKeyArn")):
            report(message(args.name, f"writes to S3 without a KMS key ({key}.kmsKeyArn)",
                           "delivered objects would fall back to the bucket's default key or none, outside the lake "
                           "key's policy",
                           "set extended_s3_configuration.kms_key_arn to the lake key (StreamingIngestion does)"))
        return
    encryption = get(args.props, "serverSideEncryption")
    if encryption is UNKNOWN:
        return
    if not is_true(get(encryption, "enabled")) or get(encryption, "keyType") != "CUSTOMER_MANAGED_CMK":
        report(message(args.name, "does not encrypt its records with a customer-managed key",
                       "records wait in the delivery stream's buffer before they reach the destination",
                       "set server_side_encryption={'enabled': True, 'key_type': 'CUSTOMER_MANAGED_CMK', "
                       "'key_arn': <the lake key>}, or read from an encrypted Kinesis stream"))


firehose_delivery_encrypted = ResourceRule(
    "firehose-delivery-encrypted",
    "Requires every Firehose delivery stream to encrypt what it delivers to S3 (or what it buffers) with a "
    "customer-managed KMS key.",
    _validate_delivery_encryption,
    types=[DELIVERY],
)


def _validate_error_prefix(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key, destination = _s3_destination(args)
    if destination is None:
        return
    prefix = get(destination, "errorOutputPrefix")
    if prefix is not UNKNOWN and missing(prefix):
        report(message(args.name, f"has no error output prefix ({key}.errorOutputPrefix)",
                       "records Firehose cannot partition or deliver then mix with the data under the default "
                       "prefix, or go nowhere a job counts them, so they are lost without anyone knowing",
                       "set extended_s3_configuration.error_output_prefix outside the data prefix, with "
                       "!{firehose:error-output-type} (StreamingIngestion does)"))


firehose_has_error_prefix = ResourceRule(
    "firehose-has-error-prefix",
    "Requires every Firehose delivery stream to S3 to name an error output prefix.",
    _validate_error_prefix,
    types=[DELIVERY],
)


def _validate_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key, destination = _s3_destination(args)
    if destination is None:
        return
    logging = get(destination, "cloudwatchLoggingOptions")
    if logging is UNKNOWN:
        return
    enabled = get(logging, "enabled")
    if enabled is UNKNOWN:
        return
    if not is_true(enabled):
        problem = "does not log delivery errors to CloudWatch"
    elif missing(get(logging, "logGroupName")) or missing(get(logging, "logStreamName")):
        problem = "enables CloudWatch logging without a log group and stream"
    else:
        return
    report(message(args.name, problem,
                   "a delivery that fails (permissions, the key, a full bucket) says why only in its log",
                   f"set {key}.cloudwatch_logging_options={{'enabled': True, 'log_group_name': <group>, "
                   "'log_stream_name': <stream>}} with a log group that has retention and the lake key "
                   "(StreamingIngestion does)"))


firehose_logs_to_cloudwatch = ResourceRule(
    "firehose-logs-to-cloudwatch",
    "Requires every Firehose delivery stream to S3 to log delivery errors to a CloudWatch log group.",
    _validate_logging,
    types=[DELIVERY],
)

def _destination_bucket(stack: StackValidationArgs, delivery: PolicyResource) -> PolicyResource | None:
    arn = get(delivery.props, "extendedS3Configuration.bucketArn")
    for bucket in links.of_type(stack.resources, s3.BUCKET):
        if links.refers_to(delivery, "extendedS3Configuration", bucket, [arn.rsplit(":", 1)[-1]]
                           if isinstance(arn, str) else []):
            return bucket
    return None


def _source_stream(stack: StackValidationArgs, delivery: PolicyResource) -> PolicyResource | None:
    arn = get(delivery.props, "kinesisSourceConfiguration.kinesisStreamArn")
    if not isinstance(arn, str):
        return None
    return next((s for s in links.of_type(stack.resources, STREAM)
                 if get(s.props, "name") == arn.rsplit("/", 1)[-1] or get(s.props, "arn") == arn), None)


def _validate_lake_key(args: StackValidationArgs, report: ReportViolation) -> None:
    for delivery in links.of_type(args.resources, DELIVERY):
        bucket = _destination_bucket(args, delivery)
        if bucket is None:
            continue
        keys = {get(d, "kmsMasterKeyId") for d in s3.encryption_defaults(args, bucket)}
        keys = {k for k in keys if isinstance(k, str) and k}
        if len(keys) != 1:
            continue  # unencrypted or unknown: the S3 rules report it
        (lake_key,) = keys
        users = [(delivery, "extendedS3Configuration.kmsKeyArn")]
        stream = _source_stream(args, delivery)
        if stream is not None:
            users.append((stream, "kmsKeyId"))
        for resource, key in users:
            used = get(resource.props, key)
            if isinstance(used, str) and used and used != lake_key:
                report(message(resource.name, f"encrypts the events bound for bucket {bucket.name} with {used}, "
                                              f"not the bucket's key {lake_key}",
                               "the same events would then be readable under two key policies, and revoking "
                               "access to the lake would leave them open on the stream or in delivery",
                               f"set {key} to the destination bucket's KMS key (StreamingIngestion uses the "
                               "lake key for the stream and the delivery)"), resource.urn)


streaming_uses_the_lake_key = StackRule(
    "streaming-uses-the-lake-key",
    "Requires a Firehose delivery to S3, and the Kinesis stream it reads, to use the KMS key its destination "
    "bucket is encrypted with.",
    _validate_lake_key,
)

RULES = (kinesis_stream_encrypted, firehose_delivery_encrypted, firehose_has_error_prefix,
         firehose_logs_to_cloudwatch, streaming_uses_the_lake_key)
