"""The server's request metrics off SageMaker: CloudWatch embedded metric format (EMF) lines on stdout.

SageMaker hosting measures a container from outside (``AWS/SageMaker`` Invocations, Invocation4XXErrors,
Invocation5XXErrors, ModelLatency); on Kubernetes nothing does, so the server reports the same four metrics,
under the same names and units, itself. Why EMF and not Prometheus text on a port: the alarms must be
CloudWatch alarms on the stack's topic and dashboard, beside SageMaker's; an EMF line that reaches CloudWatch
Logs (the container's stdout, shipped by Fluent Bit or the CloudWatch agent, which EKS clusters run for their
logs anyway) becomes a CloudWatch metric with no scraper, no adapter and no IAM on the pod, while Prometheus
text would need the agent's Prometheus scraping (or Amazon Managed Prometheus and its own alerting) before
any alarm could see it.

Correct across workers without shared memory: each worker process counts its own requests (plain integers,
touched only by its event loop) and, every interval, writes one line with what it counted since its last
line. CloudWatch adds up every line with the same dimensions, whichever worker or pod wrote it, so sums are
exact; the latency histogram is sent as ``Values``/``Counts`` (the form the OpenTelemetry collector's
awsemf exporter writes), so CloudWatch computes the p99 over every worker's requests together. A line is
one ``os.write`` of well under PIPE_BUF (4 KiB), so lines of concurrent workers never interleave. A worker
that stops writes what it has counted first.

Settings (environment): PRODLINE_METRICS_NAMESPACE (empty: no metrics; on SageMaker, which measures itself),
PRODLINE_METRICS_DIMENSIONS (``Name=value,Name=value``: the target, for example its Kubernetes namespace
and Service), PRODLINE_MODEL_VERSION (one more dimension set carries it), PRODLINE_METRICS_INTERVAL_SECONDS (60).
"""

from __future__ import annotations

import json
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass

METRICS = (("Invocations", "Count"), ("Invocation4XXErrors", "Count"), ("Invocation5XXErrors", "Count"),
           ("ModelLatency", "Microseconds"))
VERSION_DIMENSION = "ModelVersion"
# Histogram bucket upper bounds in microseconds: 50 us to ~2 min, each 1.5x the last (35 buckets, under
# CloudWatch's 150 values per datum); a value is reported as its bucket's geometric middle, within 25%.
BOUNDS = tuple(50.0 * 1.5 ** i for i in range(36))
MAX_LINE_BYTES = 4096
"""PIPE_BUF on Linux: a write no longer than this to the container's stdout pipe is never split (a line holds at
most 37 histogram buckets, about 1.5 KiB; the tests hold it to this)."""


@dataclass(frozen=True)
class MetricsSettings:
    namespace: str
    dimensions: tuple[tuple[str, str], ...]
    model_version: str = ""
    interval: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MetricsSettings | None:
        """None when PRODLINE_METRICS_NAMESPACE is unset or empty; ValueError naming a bad variable."""
        namespace = env.get("PRODLINE_METRICS_NAMESPACE", "").strip()
        if not namespace:
            return None
        dimensions = []
        for item in filter(None, (part.strip() for part in env.get("PRODLINE_METRICS_DIMENSIONS", "").split(","))):
            name, sep, value = item.partition("=")
            if not sep or not name or not value:
                raise ValueError(f"PRODLINE_METRICS_DIMENSIONS must be Name=value pairs separated by commas, "
                                 f"got {item!r}")
            dimensions.append((name.strip(), value.strip()))
        if not dimensions:
            raise ValueError("PRODLINE_METRICS_DIMENSIONS must name the target (for example "
                             "Namespace=serving,Service=churn): alarms need dimensions to tell targets apart")
        text = env.get("PRODLINE_METRICS_INTERVAL_SECONDS", "") or "60"
        try:
            interval = float(text)
        except ValueError:
            raise ValueError(f"PRODLINE_METRICS_INTERVAL_SECONDS must be a number, got {text!r}") from None
        if not interval > 0:
            raise ValueError(f"PRODLINE_METRICS_INTERVAL_SECONDS must be > 0, got {text!r}")
        return cls(namespace, tuple(dimensions), env.get("PRODLINE_MODEL_VERSION", "").strip(), interval)


class RequestMetrics:
    """One worker's counts since its last line. ``record`` is all a request costs: a few additions."""

    __slots__ = ("counts", "errors_4xx", "errors_5xx", "invocations", "latency_max", "latency_min", "latency_sum",
                 "settings", "write")

    def __init__(self, settings: MetricsSettings, write: Callable[[bytes], object] | None = None):
        self.settings = settings
        self.write = write or (lambda line: os.write(1, line))
        self._reset()

    def _reset(self) -> None:
        self.invocations = self.errors_4xx = self.errors_5xx = 0
        self.counts = [0] * (len(BOUNDS) + 1)
        self.latency_sum, self.latency_min, self.latency_max = 0.0, float("inf"), 0.0

    def record(self, status: int, micros: float) -> None:
        self.invocations += 1
        if status >= 500:
            self.errors_5xx += 1
        elif status >= 400:
            self.errors_4xx += 1
        self.counts[bisect_left(BOUNDS, micros)] += 1
        self.latency_sum += micros
        # Comparisons, not max()/min(): this runs once per request, and a call costs more.
        if micros > self.latency_max:  # noqa: PLR1730
            self.latency_max = micros
        if micros < self.latency_min:  # noqa: PLR1730
            self.latency_min = micros

    def document(self, timestamp_ms: int) -> dict | None:
        """The EMF document of what was counted since the last one, or None when nothing was."""
        if not self.invocations:
            return None
        s = self.settings
        names = [name for name, _ in s.dimensions]
        dimension_sets = [names, [*names, VERSION_DIMENSION]] if s.model_version else [names]
        values, counts = [], []
        for index, count in enumerate(self.counts):
            if count:
                low = BOUNDS[index - 1] if index else 0.0
                high = BOUNDS[index] if index < len(BOUNDS) else self.latency_max
                middle = (low * high) ** 0.5 if low else high / 2
                values.append(round(min(max(middle, self.latency_min), self.latency_max), 1))
                counts.append(count)
        document = {
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                "Namespace": s.namespace, "Dimensions": dimension_sets,
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS]}]},
            **dict(s.dimensions),
            **({VERSION_DIMENSION: s.model_version} if s.model_version else {}),
            "Invocations": self.invocations, "Invocation4XXErrors": self.errors_4xx,
            "Invocation5XXErrors": self.errors_5xx,
            "ModelLatency": {"Values": values, "Counts": counts, "Count": self.invocations,
                             "Sum": round(self.latency_sum, 1), "Min": round(self.latency_min, 1),
                             "Max": round(self.latency_max, 1)},
            "Worker": os.getpid(),
        }
        return document

    def emit(self, now: float | None = None) -> bool:
        """Write the line of what was counted since the last, and start counting afresh; False if nothing was."""
        document = self.document(int((time.time() if now is None else now) * 1000))
        if document is None:
            return False
        self._reset()
        self.write(json.dumps(document, separators=(",", ":")).encode() + b"\n")
        return True
