"""Firehose, locally: deliver a Kinesis-sourced delivery stream into S3 by its definition in the emulator.

moto stores a delivery stream whose source is a Kinesis stream but never moves a record, so this runtime
does what Firehose does, reading the definition back with ``DescribeDeliveryStream``:

- reads the source stream's shards from the last checkpoint (kept beside the sandbox, as Firehose keeps its
  own, and only for the delivery stream that wrote it: a re-created one starts from the stream's oldest
  record), so records are delivered once per pass and a later pass picks up only what came after;
- applies the declared processors: ``MetadataExtraction`` (a JQ query of the form ``{key: .field}`` or
  ``{key: .field[a:b]}``; any other query is refused, naming it) and ``AppendDelimiterToRecord``;
- evaluates the prefix's ``!{partitionKeyFromQuery:key}`` and ``!{timestamp:pattern}`` expressions and the error
  prefix's ``!{firehose:error-output-type}``;
- buffers per partition and writes an object whenever the declared buffer size is reached, and at the end of
  the pass for what is left (the sandbox does not wait out ``IntervalInSeconds``: the end of a pass stands
  for it), compressed as declared (GZIP), encrypted with the declared KMS key, named as Firehose names objects;
- sends a record it cannot partition (not JSON, the queried field missing) or that is over Firehose's
  1,000 KiB to the error prefix (``processing-failed``), as one JSON line in Firehose's error format with the
  record base64-encoded, logs the failure to the declared log group and stream, and counts it;
- publishes ``DeliveryToS3.DataFreshness`` and ``DeliveryToS3.Records`` to CloudWatch for the alarms runtime.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MAX_RECORD_BYTES = 1000 * 1024
"""Firehose's largest record (before base64)."""
PROCESSING_FAILED = "processing-failed"
_QUERY = re.compile(r"^\{\s*(\w+)\s*:\s*\.(\w+)(?:\[(\d*):(\d*)\])?\s*\}$")
_EXPRESSION = re.compile(r"!\{([\w-]+):([^}]*)\}")
# Firehose's timestamp patterns are Java DateTimeFormatter patterns; these are the ones prefixes use.
_JAVA_TO_STRFTIME = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))
FIREHOSE_NAMESPACE = "AWS/Firehose"


@dataclass(frozen=True)
class DeliveryConfig:
    """What the runtime needs of a delivery stream, as DescribeDeliveryStream returns it."""

    name: str
    version: str
    created: str
    """When the delivery stream was created: a checkpoint of an earlier one with the same name does not apply."""
    stream_name: str
    bucket: str
    prefix: str
    error_prefix: str
    compression: str
    kms_key_arn: str | None
    buffer_bytes: int
    partition_query: tuple[str, str, int | None, int | None] | None
    """(key, field, slice start, slice end) of the MetadataExtraction query, when dynamic partitioning is on."""
    delimiter: bytes
    log_group: str | None
    log_stream: str | None


@dataclass
class DeliveryReport:
    read: int = 0
    delivered: int = 0
    errored: int = 0
    objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"read": self.read, "delivered": self.delivered, "errored": self.errored,
                "objects": len(self.objects), "error_objects": len(self.error_objects)}


def read_config(firehose, name: str) -> DeliveryConfig:
    description = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    source = description.get("Source", {}).get("KinesisStreamSourceDescription")
    if not source:
        raise ValueError(f"delivery stream {name} has no Kinesis source; this runtime delivers Kinesis sources only")
    destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    processors = {p["Type"]: {q["ParameterName"]: q["ParameterValue"] for q in p.get("Parameters", [])}
                  for p in destination.get("ProcessingConfiguration", {}).get("Processors", [])
                  if destination["ProcessingConfiguration"].get("Enabled")}
    partitioning = destination.get("DynamicPartitioningConfiguration", {}).get("Enabled", False)
    query = processors.get("MetadataExtraction", {}).get("MetadataExtractionQuery")
    delimiter = processors.get("AppendDelimiterToRecord", {}).get("Delimiter")
    logging = destination.get("CloudWatchLoggingOptions", {})
    kms = destination.get("EncryptionConfiguration", {}).get("KMSEncryptionConfig", {}).get("AWSKMSKeyARN")
    return DeliveryConfig(
        name=name, version=str(description.get("VersionId", "1")), created=str(description.get("CreateTimestamp")),
        stream_name=source["KinesisStreamARN"].rsplit("/", 1)[1],
        bucket=destination["BucketARN"].rsplit(":", 1)[1], prefix=destination.get("Prefix", ""),
        error_prefix=destination.get("ErrorOutputPrefix", ""),
        compression=destination.get("CompressionFormat", "UNCOMPRESSED"), kms_key_arn=kms,
        buffer_bytes=int(destination.get("BufferingHints", {}).get("SizeInMBs", 5)) * 1024 * 1024,
        partition_query=parse_query(query) if partitioning and query else None,
        delimiter=_unescape(delimiter) if delimiter is not None else b"",
        log_group=logging.get("LogGroupName") if logging.get("Enabled") else None,
        log_stream=logging.get("LogStreamName") if logging.get("Enabled") else None)


def parse_query(query: str) -> tuple[str, str, int | None, int | None]:
    """``{key: .field}`` or ``{key: .field[a:b]}``: the JQ the sandbox evaluates; anything else is refused."""
    found = _QUERY.match(query)
    if not found:
        raise ValueError(f"MetadataExtractionQuery {query!r}: the sandbox evaluates only {{key: .field}} and "
                         "{key: .field[start:end]}")
    key, name, start, end = found.groups()
    return key, name, int(start) if start else None, int(end) if end else None


def deliver(clients, name: str, checkpoint: Path, now: Callable[[], datetime] = lambda: datetime.now(UTC)
            ) -> DeliveryReport:
    """One delivery pass: every record on the source stream since the checkpoint, into S3; then the checkpoint."""
    config = read_config(clients("firehose"), name)
    saved = json.loads(checkpoint.read_text()) if checkpoint.is_file() else {}
    positions = saved.get("positions", {}) if saved.get("delivery_stream_created") == config.created else {}
    records, positions, oldest = _read_stream(clients("kinesis"), config.stream_name, positions)
    report = DeliveryReport(read=len(records))
    buffers: dict[str, list[bytes]] = {}
    failures: list[dict] = []
    arrived = now()
    for data, arrival in records:
        partition, problem = _partition(config, data)
        if problem:
            failures.append(_error_record(data, arrival, *problem))
            continue
        buffers.setdefault(partition, []).append(data + config.delimiter)
    s3 = clients("s3")
    for partition, chunks in sorted(buffers.items()):
        for objects in _split(chunks, config.buffer_bytes):
            report.objects.append(_put(s3, config, _expand(config.prefix, partition, arrived), objects, arrived))
            report.delivered += len(objects)
    if failures:
        error_prefix = _expand(config.error_prefix, None, arrived, error_type=PROCESSING_FAILED)
        lines = [json.dumps(f).encode() + b"\n" for f in failures]
        report.error_objects.append(_put(s3, config, error_prefix, lines, arrived))
        report.errored = len(failures)
        _log_failures(clients("logs"), config, failures)
    _publish_metrics(clients("cloudwatch"), config, report, oldest, arrived)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_text(json.dumps({"delivery_stream_created": config.created, "positions": positions}))
    return report


def _read_stream(kinesis, stream: str, positions: dict[str, str]
                 ) -> tuple[list[tuple[bytes, datetime]], dict[str, str], datetime | None]:
    """Records after each shard's checkpoint, in shard then sequence order, with their arrival times."""
    records: list[tuple[bytes, datetime]] = []
    positions = dict(positions)
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        start = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": positions[shard_id]}
                 if shard_id in positions else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **start)["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            for record in page["Records"]:
                records.append((record["Data"], record["ApproximateArrivalTimestamp"]))
                positions[shard_id] = record["SequenceNumber"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    oldest = min((arrival for _, arrival in records), default=None)
    return records, positions, oldest


EXTRACTION_FAILED = "DynamicPartitioning.MetadataExtractionFailed"


def _partition(config: DeliveryConfig, data: bytes) -> tuple[str | None, tuple[str, str] | None]:
    """The record's partition key value, or (error code, message) saying why it cannot be delivered."""
    if len(data) > MAX_RECORD_BYTES:
        return None, ("RecordTooLarge", f"record of {len(data)} bytes is over Firehose's {MAX_RECORD_BYTES}")
    if config.partition_query is None:
        return None, None
    _, name, start, end = config.partition_query
    try:
        event = json.loads(data)
    except ValueError:
        return None, (EXTRACTION_FAILED, "the record is not JSON")
    value = event.get(name) if isinstance(event, dict) else None
    if not isinstance(value, str) or not value:
        return None, (EXTRACTION_FAILED, f".{name} is missing or not a string")
    return value[start:end], None


def _error_record(data: bytes, arrival: datetime, code: str, message: str) -> dict:
    """A record as Firehose writes it under the error prefix: what went wrong and the data, base64-encoded."""
    return {"attemptsMade": 1, "arrivalTimestamp": int(arrival.timestamp() * 1000), "errorCode": code,
            "errorMessage": message, "attemptEndingTimestamp": int(time.time() * 1000),
            "rawData": base64.b64encode(data).decode()}


def _split(chunks: list[bytes], limit: int) -> list[list[bytes]]:
    """Records in groups whose bytes stay within the buffer size (a record is never split)."""
    groups: list[list[bytes]] = [[]]
    size = 0
    for chunk in chunks:
        if groups[-1] and size + len(chunk) > limit:
            groups.append([])
            size = 0
        groups[-1].append(chunk)
        size += len(chunk)
    return groups


def _expand(prefix: str, partition: str | None, at: datetime, error_type: str | None = None) -> str:
    def evaluate(found: re.Match) -> str:
        namespace, argument = found.groups()
        if namespace == "timestamp":
            pattern = argument
            for java, strf in _JAVA_TO_STRFTIME:
                pattern = pattern.replace(java, strf)
            return at.strftime(pattern)
        if namespace == "partitionKeyFromQuery" and partition is not None:
            return partition
        if namespace == "firehose" and argument == "error-output-type" and error_type:
            return error_type
        raise ValueError(f"prefix {prefix!r}: the sandbox cannot evaluate !{{{namespace}:{argument}}}")

    return _EXPRESSION.sub(evaluate, prefix)


def _put(s3, config: DeliveryConfig, prefix: str, chunks: list[bytes], at: datetime) -> str:
    body = b"".join(chunks)
    suffix = ""
    if config.compression == "GZIP":
        body, suffix = gzip.compress(body), ".gz"
    elif config.compression != "UNCOMPRESSED":
        raise ValueError(f"delivery stream {config.name}: the sandbox writes GZIP or UNCOMPRESSED, "
                         f"not {config.compression}")
    key = f"{prefix}{config.name}-{config.version}-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_arn} if config.kms_key_arn else {}
    s3.put_object(Bucket=config.bucket, Key=key, Body=body, **extra)
    return f"s3://{config.bucket}/{key}"


def _log_failures(logs, config: DeliveryConfig, failures: list[dict]) -> None:
    if not (config.log_group and config.log_stream):
        return
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=config.log_group, logStreamName=config.log_stream, logEvents=[
        {"timestamp": now, "message": f"{f['errorCode']}: {f['errorMessage']}"} for f in failures[:1000]])


def _publish_metrics(cloudwatch, config: DeliveryConfig, report: DeliveryReport, oldest: datetime | None,
                     delivered_at: datetime) -> None:
    dims = [{"Name": "DeliveryStreamName", "Value": config.name}]
    data = [{"MetricName": "DeliveryToS3.Records", "Dimensions": dims, "Value": float(report.delivered),
             "Unit": "Count"}]
    if oldest is not None:
        data.append({"MetricName": "DeliveryToS3.DataFreshness", "Dimensions": dims, "Unit": "Seconds",
                     "Value": max(0.0, (delivered_at - oldest).total_seconds())})
    cloudwatch.put_metric_data(Namespace=FIREHOSE_NAMESPACE, MetricData=data)


def _unescape(text: str) -> bytes:
    """The delimiter as declared (``\\n`` written as two characters in the API) as bytes."""
    return text.encode().decode("unicode_escape").encode()
