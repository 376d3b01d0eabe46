"""The demo's model-quality pieces: labels arrive for the predictions it served, the declared model-quality job
measures each model version on them, and a period whose labels disagree with the model trips the quality alarm.

Labels come from the synthetic truth of the rows the demo sent (the generator's ``churned``), keyed by the
inference id each request carried. Some never arrive, a few name ids no request carried, a few arrive twice:
the job must count the first as lower coverage, set the second aside and resolve the third.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prodline.sandbox.lifecycle import Sandbox
from workloads.monitoring.ground_truth import label_line

MISSING_EVERY = 10
"""One request in ten never gets its label (coverage 0.9)."""
UNKNOWN_LABELS = 5
DUPLICATE_LABELS = 3
SHIFTED_SHARE = 0.6
"""Concept shift: the share of rows whose true outcome flips (the inputs look as before; what they mean changed)."""


@dataclass
class QualityRun:
    """One run of the model-quality job, as the demo shows and charts it."""

    seconds: float
    """When it ran, in seconds since the demo began."""
    period: str
    versions: dict[str, dict[str, Any]]
    labels: dict[str, Any]


@dataclass
class QualityState:
    runs: list[QualityRun] = field(default_factory=list)


class QualitySteps:
    """The quality steps of ``prodline.sandbox.demo.Demo`` (its ``sandbox``, ``state`` and ``_traffic``)."""

    sandbox: Sandbox
    state: Any
    started: float
    quality: QualityState
    _traffic: Callable[..., tuple[int, int]]
    _alarm_retrains: Callable[[str, str, str], tuple[Any, Any]]

    def _labelled_traffic(self, endpoint: str, *, rows: int, seed: int, drift: bool, label: str,
                          per_request: int) -> list[tuple[str, list[int]]]:
        """Requests that carry inference ids; returns (id, true outcome per row) for each request."""
        from workloads.ingest.generator import STRONG_DRIFT, generate_typed

        self._traffic(endpoint, rows=rows, seed=seed, drift=drift, label=label, per_request=per_request,
                      id_prefix=label)
        truth = generate_typed(rows, seed, STRONG_DRIFT if drift else None)["churned"].astype(int).tolist()
        return [(f"{label}-{n}", truth[first:first + per_request])
                for n, first in enumerate(range(0, rows, per_request))]

    def _labels_arrive(self, endpoint: str, served: list[tuple[str, list[int]]], name: str,
                       flip: Callable[[int], bool] = lambda row: False) -> None:
        """Labels for ``served`` land under the stack's labels prefix (``label_file``)."""
        when = dt.datetime.now(dt.UTC)
        sb = self.sandbox
        sb.clients("s3").put_object(Bucket=sb.bucket("raw"), Key=f"labels/{endpoint}/dt={when:%Y-%m-%d}/{name}.jsonl",
                                    Body=label_file(served, name, when, flip).encode(),
                                    ContentType="application/jsonlines")

    def _quality_job(self, endpoint: str, since: dt.datetime, period: str) -> QualityRun:
        """The stack's model-quality Glue job, run by the Glue runtime from its declared definition; only the
        window is the run's own (Glue's StartJobRun arguments), so each period is measured apart."""
        from prodline.sandbox import hosting

        sb = self.sandbox
        hosting.flush(sb.gateway_url)  # captured requests reach the lake, as SageMaker's capture does
        job = next(e.id for e in sb.resources("aws:glue/job:Job") if e.id.endswith("-model-quality"))
        end = dt.datetime.now(dt.UTC)
        # Capture records whole seconds: a request just after `since` is recorded at the second it began in.
        since = since.replace(microsecond=0)
        hours = max((end - since).total_seconds() / 3600, 1e-3)
        (run,) = sb.run_etl(job, {"--hours": f"{hours:.6f}", "--end": end.isoformat()}, announce=False)
        if run.state != "SUCCEEDED":
            raise RuntimeError(f"{job} {run.state}: {run.error}")
        summary = json.loads(run.output)
        result = QualityRun(time.monotonic() - self.started, period, summary["versions"], summary["labels"])
        self.quality.runs.append(result)
        return result

    def _quality_line(self, run: QualityRun) -> str:
        labels = run.labels
        parts = [f"v{version} {_metric('AUC', m['auc'])}, {_metric('accuracy', m['accuracy'])}, "
                 f"{_metric('ECE', m['calibration_error'])}, coverage {m['coverage']:.2f} "
                 f"({m['labelled']}/{m['captured']} rows)" for version, m in run.versions.items()]
        return (f"{'; '.join(parts)}; labels {labels['read']} read = {labels['used']} used + "
                f"{labels['duplicates_superseded']} duplicates + {labels['outside_window']} earlier + "
                f"{labels['set_aside']} set aside ({labels['unknown_ids']} unknown ids)")

    def _fresh_quality(self, endpoint: str, since: dt.datetime, served: list[tuple[str, list[int]]]) -> str:
        """Labels for the fresh traffic arrive; the job measures v1; the alarm stays quiet."""
        self._labels_arrive(endpoint, served, "fresh")
        run = self._quality_job(endpoint, since, "fresh")
        judgements = self.sandbox.evaluate_alarms([f"{endpoint}-quality"])
        state = judgements[0].state if judgements else "not found"
        self.state.facts["quality alarm after fresh traffic"] = state
        return f"{self._quality_line(run)}; quality alarm {state}"

    def _drifted_quality(self, endpoint: str, since: dt.datetime, served: list[tuple[str, list[int]]]) -> str:
        """The drifted traffic's true outcomes arrive too: the job measures v1 on the shifted inputs."""
        self._labels_arrive(endpoint, served, "drifted")
        run = self._quality_job(endpoint, since, "drifted")
        return "; ".join(f"v{version} {_metric('AUC', m['auc'])} on its labels" for version, m in run.versions.items())

    def _concept_shift(self, endpoint: str, record: Callable[[Any, str], str]) -> str:
        """A degraded period: inputs as in training, outcomes changed. The quality alarm fires and EventBridge
        starts retraining through the same rule as drift."""
        since = dt.datetime.now(dt.UTC)
        served = self._labelled_traffic(endpoint, rows=400, seed=31, drift=False, label="shifted", per_request=4)
        self._labels_arrive(endpoint, served, "shifted", flip=lambda row: (row * 7919) % 100 < SHIFTED_SHARE * 100)
        run = self._quality_job(endpoint, since, "concept shift")
        fired, execution = self._alarm_retrains(f"{endpoint}-quality", "quality alarm fired", self._quality_line(run))
        version = f"v{(execution.model_package_arn or '?').rsplit('/', 1)[-1]}"
        return (f"{self._quality_line(run)}; alarm {fired.alarm} -> EventBridge -> retraining "
                f"{execution.execution_id[:12]}: {record(execution, version)}")

    def _quality_by_version(self) -> str:
        """Every measure of each version, in order, for the facts."""
        measures: dict[str, list[str]] = {}
        for run in self.quality.runs:
            for version, m in run.versions.items():
                measures.setdefault(version, []).append(f"{_metric('AUC', m['auc'])} ({run.period}, coverage "
                                                        f"{m['coverage']:.2f})")
        return "; ".join(f"v{v} " + " -> ".join(found) for v, found in sorted(measures.items()))

    def _quality_chart_series(self, metric: str) -> dict[str, list[tuple[float, float]]]:
        """(seconds since the demo began, ``metric`` as the alarm names it) per version, a point per run of the job."""
        key = {"AUC": "auc", "Accuracy": "accuracy"}[metric]
        series: dict[str, list[tuple[float, float]]] = {}
        for run in self.quality.runs:
            for version, metrics in run.versions.items():
                if metrics[key] is not None:
                    series.setdefault(f"v{version}", []).append((run.seconds, float(metrics[key])))
        return series


def label_file(served: list[tuple[str, list[int]]], name: str, when: dt.datetime,
               flip: Callable[[int], bool] = lambda row: False) -> str:
    """The labels of ``served`` requests as a labelling system delivers them: every MISSING_EVERY-th request's never
    comes, the first DUPLICATE_LABELS come twice, and UNKNOWN_LABELS name ids nobody sent. ``flip(row)``: whether
    that row's outcome (counted over all rows, in order) is the opposite of the truth."""
    lines, row = [], 0
    for n, (inference_id, outcomes) in enumerate(served):
        truth = [1 - o if flip(row + i) else o for i, o in enumerate(outcomes)]
        row += len(outcomes)
        if n % MISSING_EVERY != MISSING_EVERY - 1:
            lines.append(label_line(inference_id, truth if len(truth) > 1 else truth[0], when))
    lines += lines[:DUPLICATE_LABELS]  # re-sent by the labelling system
    lines += [label_line(f"{name}-never-served-{n}", 1, when) for n in range(UNKNOWN_LABELS)]
    return "\n".join(lines) + "\n"


def _metric(name: str, value: float | None) -> str:
    return f"{name} {value:.3f}" if value is not None else f"{name} n/a"
