"""What hosting reports besides the answer: AWS/SageMaker metrics to CloudWatch and data capture to S3.

Both are buffered per request and written in batches by ``Periodic`` flushers (and once more at shutdown), so a
request never waits on the emulator, and a failed write keeps its data for the next flush, up to a bound.

Metrics are per-variant windows: counts as sums, latencies as the window's nearest-rank p99 (moto computes no
ExtendedStatistics, so each datapoint is already a p99). Capture records are SageMaker's JSONL format, grouped
per hour into objects under SageMaker's key layout, with SSE-KMS when the config names a key.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prodline.sandbox.gateway.declared import CaptureSpec
from prodline.sandbox.gateway.servers import ContainerAnswer, Invocation
from prodline.stats import percentile

LOG = logging.getLogger(__name__)

METRICS_INTERVAL_SECONDS = 1.0
CAPTURE_INTERVAL_SECONDS = 2.0
MAX_PENDING_METRIC_DATA = 20_000
MAX_PENDING_CAPTURE_RECORDS = 100_000
NAMESPACE = "AWS/SageMaker"


@dataclass
class _Window:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_us: list[float] = field(default_factory=list)
    overhead_us: list[float] = field(default_factory=list)


def metric_data(endpoint: str, variant: str, window: _Window, when: dt.datetime) -> list[dict[str, Any]]:
    """One window of one variant as CloudWatch datums: counts as sums (zeros included, as SageMaker emits
    them while there is traffic), latencies as the window's p99 in microseconds."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    values = [("Invocations", window.invocations, "None"), ("Invocation4XXErrors", window.errors_4xx, "None"),
              ("Invocation5XXErrors", window.errors_5xx, "None")]
    if window.model_us:
        values.append(("ModelLatency", percentile(window.model_us, 99), "Microseconds"))
    if window.overhead_us:
        values.append(("OverheadLatency", percentile(window.overhead_us, 99), "Microseconds"))
    return [{"MetricName": name, "Dimensions": dimensions, "Timestamp": when, "Value": float(value), "Unit": unit}
            for name, value, unit in values]


class MetricsBuffer:
    """Per-variant counters of the current window; ``flush`` publishes them (kept for a retry if it fails)."""

    def __init__(self, cloudwatch):
        self.cloudwatch = cloudwatch
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pending: list[dict[str, Any]] = []
        self.published = 0
        self.dropped = 0
        self.errors = 0

    def record(self, endpoint: str, variant: str, status: int, model_us: float | None, overhead_us: float) -> None:
        with self._lock:
            window = self._windows.setdefault((endpoint, variant), _Window())
            window.invocations += 1
            window.errors_4xx += 400 <= status < 500
            window.errors_5xx += not (200 <= status < 300 or 400 <= status < 500)
            if model_us is not None:
                window.model_us.append(model_us)
            window.overhead_us.append(overhead_us)

    def flush(self) -> int:
        """Publish every closed window; returns the number of datums sent."""
        with self._flush_lock:
            with self._lock:
                windows, self._windows = self._windows, {}
            when = dt.datetime.now(dt.UTC)
            for (endpoint, variant), window in windows.items():
                self._pending += metric_data(endpoint, variant, window, when)
            sent = 0
            while self._pending:
                batch = self._pending[:500]
                try:
                    self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
                except (ClientError, BotoCoreError) as error:
                    self.errors += 1
                    self._trim()
                    LOG.warning("put_metric_data failed (%s); %d datums kept for the next flush", error,
                                len(self._pending))
                    break
                del self._pending[:len(batch)]
                sent += len(batch)
            self.published += sent
            return sent

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING_METRIC_DATA
        if excess > 0:
            del self._pending[:excess]
            self.dropped += excess
            LOG.error("dropped the %d oldest metric datums: the emulator's CloudWatch keeps failing", excess)

    def describe(self) -> dict[str, int]:
        return {"published": self.published, "pending": len(self._pending), "dropped": self.dropped,
                "errors": self.errors}


def capture_channel(data: bytes, content_type: str, mode: str, spec: CaptureSpec) -> dict[str, str]:
    """One side of a capture record; text that is not UTF-8 falls back to BASE64 so nothing is mangled."""
    encoding = spec.encoding(content_type)
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_record(spec: CaptureSpec, request: Invocation, answer: ContainerAnswer, event_id: str,
                   when: dt.datetime) -> dict[str, Any]:
    """A record in SageMaker's data-capture format (eventVersion "0")."""
    data = {}
    if spec.capture_input:
        data["endpointInput"] = capture_channel(request.body, request.content_type, "INPUT", spec)
    if spec.capture_output:
        data["endpointOutput"] = capture_channel(answer.body, answer.content_type, "OUTPUT", spec)
    metadata = {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if request.inference_id:
        metadata["inferenceId"] = request.inference_id
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(spec: CaptureSpec, endpoint: str, variant: str, first: dt.datetime) -> tuple[str, str]:
    """(bucket, key) ``{dest}/{endpoint}/{variant}/yyyy/mm/dd/hh/mm-ss-SSS-{uuid}.jsonl``, SageMaker's layout."""
    bucket, _, prefix = spec.destination[len("s3://"):].partition("/")
    name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{first:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


@dataclass
class _CaptureBatch:
    spec: CaptureSpec
    endpoint: str
    variant: str
    first: dt.datetime
    lines: list[bytes] = field(default_factory=list)


class CaptureBuffer:
    """Capture records grouped per (destination, endpoint, variant, hour); ``flush`` writes one object per group.

    A failed write keeps its records for the next flush (up to a bound), so nothing is lost to a hiccup.
    """

    def __init__(self, s3):
        self.s3 = s3
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._batches: dict[tuple, _CaptureBatch] = {}
        self.objects = 0
        self.records = 0
        self.dropped = 0
        self.errors = 0

    def add(self, spec: CaptureSpec, endpoint: str, variant: str, record: dict[str, Any], when: dt.datetime) -> None:
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        key = (spec, endpoint, variant, when.strftime("%Y%m%d%H"))
        with self._lock:
            self._batches.setdefault(key, _CaptureBatch(spec, endpoint, variant, when)).lines.append(line)

    def pending(self) -> int:
        with self._lock:
            return sum(len(b.lines) for b in self._batches.values())

    def flush(self) -> int:
        """Write every buffered group; returns the number of records written."""
        with self._flush_lock:
            with self._lock:
                batches, self._batches = self._batches, {}
            written = 0
            for key, batch in batches.items():
                try:
                    self._write(batch)
                    written += len(batch.lines)
                except (ClientError, BotoCoreError) as error:
                    self.errors += 1
                    LOG.warning("capture write to %s failed (%s); %d records kept for the next flush",
                                batch.spec.destination, error, len(batch.lines))
                    self._requeue(key, batch)
            self.records += written
            return written

    def _write(self, batch: _CaptureBatch) -> None:
        bucket, key = capture_key(batch.spec, batch.endpoint, batch.variant, batch.first)
        kms = batch.spec.kms_key_id
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"".join(batch.lines), ContentType="application/jsonlines",
                           **extra)
        self.objects += 1

    def _requeue(self, key: tuple, batch: _CaptureBatch) -> None:
        with self._lock:
            newer = self._batches.get(key)
            if newer is not None:
                batch.lines += newer.lines
            self._batches[key] = batch
            total = sum(len(b.lines) for b in self._batches.values())
            if total > MAX_PENDING_CAPTURE_RECORDS:
                excess = total - MAX_PENDING_CAPTURE_RECORDS
                del batch.lines[:excess]
                self.dropped += excess
                LOG.error("dropped %d capture records: writes to %s keep failing", excess, batch.spec.destination)

    def describe(self) -> dict[str, int]:
        return {"objects_written": self.objects, "records_written": self.records, "pending": self.pending(),
                "dropped": self.dropped, "errors": self.errors}


class Periodic(threading.Thread):
    """Calls ``action`` every ``interval`` seconds until stopped; failures are logged, never fatal."""

    def __init__(self, interval: float, action: Callable[[], object], name: str):
        super().__init__(name=name, daemon=True)
        self.interval, self.action = interval, action
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.action()
            except Exception:
                LOG.exception("%s failed", self.name)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)
