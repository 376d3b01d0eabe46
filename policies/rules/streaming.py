"""Streaming rules: events on Kinesis and in Firehose stay under a customer key, and no record is lost silently."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rule import ResourceRule, message
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

RULES = (kinesis_stream_encrypted, firehose_delivery_encrypted, firehose_has_error_prefix,
         firehose_logs_to_cloudwatch)
