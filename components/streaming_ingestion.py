"""Events into the lake as they happen: a Kinesis data stream, and Firehose delivering it into the raw zone.

Producers put JSON events on the stream (``workloads/ingest/stream.py``); Firehose reads the stream and
writes GZIP JSON-lines objects under ``<dataset>/dt=<event date>/stream/`` of the raw bucket, beside the
uploaded CSV batches, where the ``validate`` job reads both. The date partition comes from Firehose's
dynamic partitioning (a JQ query on each record's ``event_time``), not from the ``!{timestamp:...}`` prefix
expression: the timestamp is the record's arrival time at Firehose, so an event sent just before midnight, or
replayed from the stream's retention a day later, would land in another day than the one it happened on.
Dynamic partitioning also gives the error prefix its meaning: a record that is not JSON, or has no
``event_time``, cannot be partitioned and lands under the error prefix, where the ETL and the demo count it
like quarantined rows, instead of being written into a date it does not belong to.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.data_lake import LakeRefs
from standards.environments import STREAM_MODES

FIREHOSE_NAMESPACE = "AWS/Firehose"
KINESIS_NAMESPACE = "AWS/Kinesis"
PARTITION_KEY = "event_dt"
# Firehose requires 64 MiB or more of buffer with dynamic partitioning, and at most 128.
BUFFER_SIZE_MIB = (64, 128)
BUFFER_INTERVAL_SECONDS = (60, 900)
LOG_STREAM = "DestinationDelivery"
STREAM_SEGMENT = "stream/"
"""The path segment inside a date partition that marks objects Firehose delivered (the ETL reads it)."""


class StreamingIngestionArgs(TypedDict):
    stream_name: str
    delivery_name: str
    dataset: str
    """The raw zone prefix (``<dataset>/``) the events belong to."""
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    stream_mode: str
    """ON_DEMAND or PROVISIONED."""
    shard_count: NotRequired[int]
    """Shards of a PROVISIONED stream."""
    retention_hours: int
    buffer_size_mib: int
    buffer_interval_seconds: int
    freshness_seconds: int
    """Age of the oldest undelivered record above which the freshness alarm fires."""
    log_retention_days: int
    alert_topic_arn: pulumi.Input[str]


def streaming_settings(args: StreamingIngestionArgs) -> StreamingIngestionArgs:
    """Validate args; raise ValueError naming the field and what is allowed."""
    if args["stream_mode"] not in STREAM_MODES:
        raise ValueError(f"stream_mode must be one of {', '.join(STREAM_MODES)}, got {args['stream_mode']!r}")
    if args["stream_mode"] == "PROVISIONED" and not 1 <= args.get("shard_count", 0) <= 500:
        raise ValueError(f"shard_count must be from 1 to 500 for a PROVISIONED stream, got {args.get('shard_count')}")
    if not 24 <= args["retention_hours"] <= 8760:
        raise ValueError(f"retention_hours must be from 24 to 8760, got {args['retention_hours']}")
    for field, (low, high) in (("buffer_size_mib", BUFFER_SIZE_MIB), ("buffer_interval_seconds",
                                                                      BUFFER_INTERVAL_SECONDS)):
        if not low <= args[field] <= high:
            raise ValueError(f"{field} must be from {low} to {high} with dynamic partitioning, got {args[field]}")
    if args["freshness_seconds"] <= args["buffer_interval_seconds"]:
        raise ValueError(f"freshness_seconds must be greater than buffer_interval_seconds "
                         f"({args['buffer_interval_seconds']}), got {args['freshness_seconds']}")
    return args


def delivery_prefix(dataset: str) -> str:
    """Where delivered objects go: the dataset's date partition, in the stream's own segment."""
    return f"{dataset}/dt=!{{partitionKeyFromQuery:{PARTITION_KEY}}}/{STREAM_SEGMENT}"


def error_prefix(dataset: str) -> str:
    """Where records Firehose cannot deliver go: outside the dataset's prefix, by error type and arrival date."""
    return f"_stream_errors/{dataset}/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"


def processors() -> list[dict]:
    """The JQ query that reads the event date, and a newline after every record (JSON lines)."""
    return [
        {"type": "MetadataExtraction", "parameters": [
            {"parameter_name": "JsonParsingEngine", "parameter_value": "JQ-1.6"},
            {"parameter_name": "MetadataExtractionQuery",
             "parameter_value": f"{{{PARTITION_KEY}: .event_time[0:10]}}"},
        ]},
        {"type": "AppendDelimiterToRecord", "parameters": [{"parameter_name": "Delimiter",
                                                            "parameter_value": "\\n"}]},
    ]


class StreamingIngestion(pulumi.ComponentResource):
    """A KMS-encrypted Kinesis stream, its Firehose delivery into the raw zone, their roles, logs and alarms."""

    stream_name: pulumi.Output[str]
    stream_arn: pulumi.Output[str]
    delivery_name: pulumi.Output[str]

    def __init__(self, name: str, args: StreamingIngestionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:data:StreamingIngestion", name, None, opts)
        args = streaming_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        provisioned = args["stream_mode"] == "PROVISIONED"

        self.stream = aws.kinesis.Stream(
            f"{name}-stream", name=args["stream_name"], encryption_type="KMS", kms_key_id=lake.key_arn,
            retention_period=args["retention_hours"], stream_mode_details={"stream_mode": args["stream_mode"]},
            **({"shard_count": args["shard_count"]} if provisioned else {}), opts=child)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/kinesisfirehose/{args['delivery_name']}",
            retention_in_days=args["log_retention_days"], kms_key_id=lake.key_arn, opts=child)
        log_stream = aws.cloudwatch.LogStream(f"{name}-log-stream", name=LOG_STREAM,
                                              log_group_name=self.log_group.name, opts=child)

        self.role = aws.iam.Role(
            f"{name}-delivery-role",
            assume_role_policy=docs.service_trust("firehose.amazonaws.com", args["account_id"]),
            description=f"Firehose {args['delivery_name']}: read its stream, write the raw zone's stream prefix",
            opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-delivery-role-policy", role=self.role.id,
            policy=docs.document(delivery_statements(args, self.stream.arn, self.log_group.arn)), opts=child)

        self.delivery = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-delivery", name=args["delivery_name"], destination="extended_s3",
            kinesis_source_configuration={"kinesis_stream_arn": self.stream.arn, "role_arn": self.role.arn},
            extended_s3_configuration={
                "bucket_arn": lake.bucket_arns["raw"],
                "role_arn": self.role.arn,
                "prefix": delivery_prefix(args["dataset"]),
                "error_output_prefix": error_prefix(args["dataset"]),
                "buffering_size": args["buffer_size_mib"],
                "buffering_interval": args["buffer_interval_seconds"],
                "compression_format": "GZIP",
                "kms_key_arn": lake.key_arn,
                "dynamic_partitioning_configuration": {"enabled": True},
                "processing_configuration": {"enabled": True, "processors": processors()},
                "cloudwatch_logging_options": {"enabled": True, "log_group_name": self.log_group.name,
                                               "log_stream_name": log_stream.name},
            },
            # Firehose checks its role's permissions when it is created: the policy must be in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_stream]))

        topic = args["alert_topic_arn"]

        def alarm(suffix: str, **kwargs) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}", name=f"{args['delivery_name']}-{suffix}", alarm_actions=[topic],
                ok_actions=[topic], period=300, evaluation_periods=1, opts=child, **kwargs)

        bound = args["freshness_seconds"]
        stream_dims = {"StreamName": args["stream_name"]}
        self.freshness_alarm = alarm(
            "freshness", alarm_description=f"the oldest record not yet in the raw zone is older than {bound} s",
            namespace=FIREHOSE_NAMESPACE, metric_name="DeliveryToS3.DataFreshness",
            dimensions={"DeliveryStreamName": args["delivery_name"]}, statistic="Maximum",
            comparison_operator="GreaterThanThreshold", threshold=float(bound), treat_missing_data="notBreaching")
        self.iterator_age_alarm = alarm(
            "iterator-age", alarm_description=f"records wait on the stream longer than {bound} s before Firehose "
                                              "reads them",
            namespace=KINESIS_NAMESPACE, metric_name="GetRecords.IteratorAgeMilliseconds", dimensions=stream_dims,
            statistic="Maximum", comparison_operator="GreaterThanThreshold", threshold=bound * 1000.0,
            treat_missing_data="notBreaching")
        self.throttle_alarm = alarm(
            "throttled-writes", alarm_description="producers' writes were throttled (the stream needs capacity)",
            namespace=KINESIS_NAMESPACE, metric_name="WriteProvisionedThroughputExceeded", dimensions=stream_dims,
            statistic="Sum", comparison_operator="GreaterThanThreshold", threshold=0.0,
            treat_missing_data="notBreaching")

        self.stream_name = self.stream.name
        self.stream_arn = self.stream.arn
        self.delivery_name = self.delivery.name
        self.register_outputs({"stream_name": self.stream_name, "stream_arn": self.stream_arn,
                               "delivery_name": self.delivery_name})


def delivery_statements(args: StreamingIngestionArgs, stream_arn: pulumi.Input[str],
                        log_group_arn: pulumi.Input[str]) -> list[dict]:
    """Firehose's role: read this stream, write the stream segment and the error prefix, the lake key, its log."""
    raw = args["lake"].bucket_arns["raw"]
    dataset = args["dataset"]
    written = [docs.objects(raw, f"{dataset}/dt=*/{STREAM_SEGMENT}"), docs.objects(raw, f"_stream_errors/{dataset}/")]
    return [
        docs.allow("ReadOwnStream", ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                                     "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"],
                   [stream_arn]),
        docs.allow("FindRawBucket", ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], [raw]),
        docs.allow("WriteStreamObjects", ["s3:AbortMultipartUpload", "s3:PutObject"], written),
        docs.allow("UseLakeKey", ["kms:Decrypt", "kms:GenerateDataKey"], [args["lake"].key_arn]),
        docs.allow("WriteOwnLogs", ["logs:PutLogEvents"], [pulumi.Output.concat(log_group_arn, ":*")]),
    ]
