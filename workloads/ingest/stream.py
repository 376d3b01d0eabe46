"""Put churn events on the Kinesis stream, with exact accounting of what was sent, retried and lost.

Each event is one churn row as JSON (``events``: the columns of ``workloads/etl/schema.py`` with their types,
``null`` for a missing value) plus ``record_id`` (a UUID, also the partition key), ``event_time`` (ISO 8601,
UTC; Firehose partitions by its date) and ``schema_version``.

Delivery is **at least once**. ``PutRecords`` can accept some records of a call and refuse others (throttled
shards, KMS throttling, an internal failure); only the refused ones are sent again, but a record Kinesis
stored whose answer was lost (a timeout, a dropped connection) is sent again too, and Firehose itself may
deliver a record twice after a retry of its own. So the raw zone may hold an event more than once; the
``validate`` job keeps the first copy of each ``record_id`` in a date partition and reports the rest as
duplicates dropped, so curated data has each event once.

Throttling of a whole call (``ProvisionedThroughputExceededException``, ``LimitExceededException``, 5xx) is
retried inside botocore by its retry mode (``standard`` or ``adaptive``, which also rate-limits the client);
this module only re-sends the records a successful call refused, a bounded number of rounds with jittered
backoff, and reports every record it could not place with its error code.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from workloads.etl.schema import RAW_COLUMNS, SCHEMA_VERSION

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
"""Kinesis counts the data and the partition key of a record against its 1 MiB."""
RETRYABLE_CODES = frozenset({"ProvisionedThroughputExceededException", "InternalFailure",
                             "KMSThrottlingException"})
RETRY_MODES = ("standard", "adaptive")
RECORD_ID, EVENT_TIME, VERSION = "record_id", "event_time", "schema_version"
EVENT_FIELDS = (RECORD_ID, EVENT_TIME, VERSION)
"""The fields every event carries beside the churn columns."""
TOO_LARGE = "RecordTooLarge"


@dataclass(frozen=True)
class Record:
    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())


@dataclass(frozen=True)
class Failure:
    partition_key: str
    code: str
    message: str


@dataclass
class SendReport:
    """``sent + len(failed)`` is always the number of records given; ``retried`` counts re-sends."""

    sent: int = 0
    retried: int = 0
    failed: list[Failure] = field(default_factory=list)
    calls: int = 0

    def failures_by_code(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for failure in self.failed:
            counts[failure.code] = counts.get(failure.code, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": len(self.failed),
                "failed_by_code": self.failures_by_code(), "calls": self.calls}


def kinesis_client(retry_mode: str = "standard", max_attempts: int = 5, **client_args):
    """A Kinesis client whose calls botocore retries on throttling and 5xx (honours ``AWS_ENDPOINT_URL``)."""
    import boto3
    from botocore.config import Config

    if retry_mode not in RETRY_MODES:
        raise ValueError(f"retry_mode must be one of {', '.join(RETRY_MODES)}, got {retry_mode!r}")
    return boto3.client("kinesis", config=Config(retries={"mode": retry_mode, "max_attempts": max_attempts}),
                        **client_args)


def events(raw: pa.Table, now: datetime | None = None) -> list[dict[str, Any]]:
    """One event per row of a raw (text) batch, a fresh ``record_id`` each, ``event_time`` now.

    Values that parse as their column's type are sent as JSON numbers, empty ones as ``null``, and the rest
    (the invalid rows of a batch) as the text received, for the ETL to quarantine.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    types = {c.name: c.dtype for c in RAW_COLUMNS}
    return [{RECORD_ID: str(uuid.uuid4()), EVENT_TIME: stamp, VERSION: SCHEMA_VERSION,
             **{name: _typed(value, types[name]) for name, value in row.items()}}
            for row in raw.select(list(types)).to_pylist()]


def _typed(text: str | None, dtype: str) -> Any:
    if text in (None, ""):
        return None
    try:
        value = {"int": int, "float": float}.get(dtype, str)(text)
    except ValueError:
        return text
    return value if not isinstance(value, float) or math.isfinite(value) else text  # JSON has no NaN


def encode(event: dict[str, Any]) -> Record:
    """The event as compact JSON, no newline (the delivery stream appends one), keyed by its record id."""
    return Record(json.dumps(event, separators=(",", ":"), default=str).encode(), str(event[RECORD_ID]))


def undeliverable(count: int) -> list[Record]:
    """Records Firehose cannot partition: alternately not JSON, and JSON without ``event_time`` (for demos)."""
    found = []
    for i in range(count):
        record_id = str(uuid.uuid4())
        data = (b"not json: " + record_id.encode() if i % 2 == 0 else
                json.dumps({RECORD_ID: record_id, VERSION: SCHEMA_VERSION}).encode())
        found.append(Record(data, record_id))
    return found


def batches(records: Iterable[Record]) -> Iterator[list[Record]]:
    """Consecutive records in groups that fit one PutRecords call (500 records, 5 MiB)."""
    batch: list[Record] = []
    size = 0
    for record in records:
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + record.size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


def put_records(client, stream_name: str, records: Sequence[Record], *, rounds: int = 4,
                base_delay: float = 0.05, sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Send every record; re-send only the ones a call refused with a retryable code, up to ``rounds`` more times.

    Records over 1 MiB are never sent (Kinesis would refuse the whole call) and are reported as failed.
    """
    report = SendReport()
    pending: list[Record] = []
    for record in records:
        if record.size > MAX_BYTES_PER_RECORD:
            report.failed.append(Failure(record.partition_key, TOO_LARGE,
                                         f"{record.size} bytes; Kinesis takes at most {MAX_BYTES_PER_RECORD}"))
        else:
            pending.append(record)
    for attempt in range(rounds + 1):
        if attempt:
            report.retried += len(pending)
            sleep(random.uniform(0, base_delay * 2 ** attempt))  # full jitter; not a security use
        refused: list[Record] = []
        for batch in batches(pending):
            refused += _put_batch(client, stream_name, batch, report, last=attempt == rounds)
        pending = refused
        if not pending:
            break
    return report


def _put_batch(client, stream_name: str, batch: list[Record], report: SendReport, *, last: bool) -> list[Record]:
    """One call; returns the records to send again, counts the ones stored and the ones lost for good."""
    answer = client.put_records(StreamName=stream_name, Records=[
        {"Data": r.data, "PartitionKey": r.partition_key} for r in batch])
    report.calls += 1
    again = []
    for record, result in zip(batch, answer["Records"], strict=True):
        code = result.get("ErrorCode")
        if not code:
            report.sent += 1
        elif code in RETRYABLE_CODES and not last:
            again.append(record)
        else:
            report.failed.append(Failure(record.partition_key, code, result.get("ErrorMessage", "")))
    return again


def main(argv: list[str] | None = None) -> int:
    """``python -m workloads.ingest.stream --stream NAME --rows N``: synthetic events onto a Kinesis stream."""
    import argparse

    from workloads.ingest.generator import generate_raw

    parser = argparse.ArgumentParser(prog="python -m workloads.ingest.stream", description=main.__doc__)
    parser.add_argument("--stream", required=True, help="Kinesis stream name")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--invalid-fraction", type=float, default=0.0, help="share of rows the ETL must quarantine")
    parser.add_argument("--retry-mode", choices=RETRY_MODES, default="standard")
    args = parser.parse_args(argv)
    table = generate_raw(args.rows, args.seed, args.invalid_fraction)
    report = put_records(kinesis_client(args.retry_mode), args.stream, [encode(e) for e in events(table)])
    print(json.dumps(report.as_dict()))
    return 0 if not report.failed else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
