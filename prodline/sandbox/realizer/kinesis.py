"""Kinesis: data streams (KMS, on-demand or provisioned) and Firehose delivery streams reading them into S3.

moto holds both definitions; it never delivers from a Kinesis source, so the sandbox's Firehose runtime
(``runtimes/firehose.py``) reads the delivery stream back with ``DescribeDeliveryStream`` and delivers by it.
"""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, as_int, drop_none, tag_list, tag_map


def _stream(ctx: Context, urn: str, logical: str, inputs: dict):
    kinesis = ctx.clients("kinesis")
    name = inputs.get("name") or ctx.physical(urn, logical, limit=128)
    mode = (inputs.get("streamModeDetails") or {}).get("streamMode", "PROVISIONED")
    kinesis.create_stream(**drop_none({"StreamName": name, "StreamModeDetails": {"StreamMode": mode},
                                       "ShardCount": as_int(inputs.get("shardCount"))}))
    if inputs.get("encryptionType") == "KMS":
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=inputs["kmsKeyId"])
    hours = as_int(inputs.get("retentionPeriod"))
    if hours and hours > 24:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=hours)
    if tag_map(inputs):
        kinesis.add_tags_to_stream(StreamName=name, Tags=tag_map(inputs))
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, {"name": name, "arn": arn, "id": arn}


STREAM = Handler(
    _stream, lambda ctx, name, _: ctx.clients("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True),
    carries=("name", "streamModeDetails.streamMode", "shardCount", "encryptionType", "kmsKeyId", "retentionPeriod",
             "tags"))

# extendedS3Configuration member -> the API's ExtendedS3DestinationConfiguration member, carried as they are.
_S3_FIELDS = {"bucketArn": "BucketARN", "roleArn": "RoleARN", "prefix": "Prefix",
              "errorOutputPrefix": "ErrorOutputPrefix", "compressionFormat": "CompressionFormat"}


def s3_destination(config: dict) -> dict:
    """ExtendedS3DestinationConfiguration from the Pulumi ``extended_s3_configuration`` inputs."""
    out = {api: config[field] for field, api in _S3_FIELDS.items() if config.get(field) is not None}
    out["BufferingHints"] = drop_none({"SizeInMBs": as_int(config.get("bufferingSize")),
                                       "IntervalInSeconds": as_int(config.get("bufferingInterval"))})
    if config.get("kmsKeyArn"):
        out["EncryptionConfiguration"] = {"KMSEncryptionConfig": {"AWSKMSKeyARN": config["kmsKeyArn"]}}
    logging = config.get("cloudwatchLoggingOptions")
    if logging:
        out["CloudWatchLoggingOptions"] = drop_none({"Enabled": bool(logging.get("enabled")),
                                                     "LogGroupName": logging.get("logGroupName"),
                                                     "LogStreamName": logging.get("logStreamName")})
    partitioning = config.get("dynamicPartitioningConfiguration")
    if partitioning:
        out["DynamicPartitioningConfiguration"] = {"Enabled": bool(partitioning.get("enabled"))}
    processing = config.get("processingConfiguration")
    if processing:
        out["ProcessingConfiguration"] = {"Enabled": bool(processing.get("enabled")), "Processors": [
            {"Type": p["type"], "Parameters": [{"ParameterName": q["parameterName"],
                                                "ParameterValue": q["parameterValue"]}
                                               for q in p.get("parameters", [])]}
            for p in processing.get("processors", [])]}
    return out


S3_CARRIED = (*_S3_FIELDS, "bufferingSize", "bufferingInterval", "kmsKeyArn", "cloudwatchLoggingOptions.enabled",
              "cloudwatchLoggingOptions.logGroupName", "cloudwatchLoggingOptions.logStreamName",
              "dynamicPartitioningConfiguration.enabled", "processingConfiguration.enabled",
              "processingConfiguration.processors.type", "processingConfiguration.processors.parameters.parameterName",
              "processingConfiguration.processors.parameters.parameterValue")


def _delivery_stream(ctx: Context, urn: str, logical: str, inputs: dict):
    if inputs.get("destination") != "extended_s3":
        raise ValueError(f"{logical}: the sandbox delivers to extended_s3 only, got {inputs.get('destination')!r}")
    firehose = ctx.clients("firehose")
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    source = inputs.get("kinesisSourceConfiguration")
    request = {"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration":
               s3_destination(inputs["extendedS3Configuration"]), "Tags": tag_list(inputs) or None}
    if source:
        request["DeliveryStreamType"] = "KinesisStreamAsSource"
        request["KinesisStreamSourceConfiguration"] = {"KinesisStreamARN": source["kinesisStreamArn"],
                                                       "RoleARN": source["roleArn"]}
    arn = firehose.create_delivery_stream(**drop_none(request))["DeliveryStreamARN"]
    return name, {"name": name, "arn": arn, "id": arn}


DELIVERY_STREAM = Handler(
    _delivery_stream,
    lambda ctx, name, _: ctx.clients("firehose").delete_delivery_stream(DeliveryStreamName=name),
    carries=("name", "destination", "tags", "kinesisSourceConfiguration.kinesisStreamArn",
             "kinesisSourceConfiguration.roleArn", *(f"extendedS3Configuration.{f}" for f in S3_CARRIED)),
    note="moto holds the delivery stream; runtimes/firehose.py delivers its records by this definition")
