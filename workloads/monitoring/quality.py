"""Model-quality job: captured predictions of a window joined with the labels that arrived -> metrics per model version.

Publishes to namespace ``prodline/ModelQuality``, dimensions ``EndpointName`` and ``ModelVersion`` (the model
package version that scored the request, from the server's answer in the capture record): ``LabelCoverage``
(labelled rows / captured rows) for every version with captured rows, and ``AUC``, ``Accuracy`` and
``CalibrationError`` (ECE, 10 equal-width bins) only for a version with at least ``--min-labels`` labelled rows
and ``--min-coverage`` coverage, so the alarm sees missing data rather than quality measured on a handful of
labels. Writes a report, and every label line it did not use (with the reason) under ``--quarantine``: none is
dropped silently. The rules of the label format and its join: ``workloads/monitoring/ground_truth.py``.

Example: python -m workloads.monitoring.quality --capture s3://<raw>/capture/ --labels s3://<raw>/labels/ \
  --endpoint churn-prod --report s3://<curated>/monitoring/quality/ --quarantine s3://<curated>/quarantine/labels/
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from workloads.etl import lake
from workloads.monitoring import ground_truth as gt
from workloads.monitoring.capture import capture_urls, read_predictions
from workloads.monitoring.quality_metrics import ECE_BINS, quality

LOG = logging.getLogger(__name__)
NAMESPACE = "prodline/ModelQuality"
METRICS = {"auc": "AUC", "accuracy": "Accuracy", "calibration_error": "CalibrationError"}
COVERAGE_METRIC = "LabelCoverage"


@dataclass(frozen=True)
class QualitySettings:
    capture: str
    labels: str
    endpoint: str
    report: str
    quarantine: str
    start: dt.datetime
    end: dt.datetime
    lookback: dt.timedelta
    min_labels: int
    min_coverage: float
    publish: bool

    @classmethod
    def from_argv(cls, argv: Sequence[str], now: dt.datetime) -> QualitySettings:
        parser = argparse.ArgumentParser(prog="python -m workloads.monitoring.quality",
                                         description=__doc__.split("\n")[0])
        parser.add_argument("--capture", required=True, help="data capture destination (s3://bucket/prefix/)")
        parser.add_argument("--labels", required=True, help="label prefix; files under <prefix><endpoint>/dt=.../")
        parser.add_argument("--endpoint", required=True)
        parser.add_argument("--report", required=True, help="prefix for quality reports")
        parser.add_argument("--quarantine", required=True, help="prefix for label lines set aside")
        parser.add_argument("--hours", type=float, default=24.0, help="predictions of this window ending at --end")
        parser.add_argument("--end", help="window end, ISO 8601 UTC (default: now)")
        parser.add_argument("--lookback-hours", type=float, default=24.0,
                            help="predictions before the window whose late labels are not 'unknown'")
        parser.add_argument("--min-labels", type=int, default=50)
        parser.add_argument("--min-coverage", type=float, default=0.0)
        parser.add_argument("--no-publish", dest="publish", action="store_false")
        args = parser.parse_args(list(argv))
        end = gt.parse_time(args.end) if args.end else now
        if args.hours <= 0:
            raise ValueError(f"--hours must be > 0, got {args.hours}")
        if args.lookback_hours < 0:
            raise ValueError(f"--lookback-hours must be >= 0, got {args.lookback_hours}")
        if not 0 <= args.min_coverage <= 1:
            raise ValueError(f"--min-coverage must be from 0 to 1, got {args.min_coverage}")
        return cls(capture=args.capture, labels=args.labels, endpoint=args.endpoint, report=args.report,
                   quarantine=args.quarantine, start=end - dt.timedelta(hours=args.hours), end=end,
                   lookback=dt.timedelta(hours=args.lookback_hours), min_labels=args.min_labels,
                   min_coverage=args.min_coverage, publish=args.publish)


def evaluate(settings: QualitySettings) -> tuple[dict, gt.SetAside]:
    """The report (before publishing) and the label lines set aside."""
    earliest = settings.start - settings.lookback
    urls = capture_urls(settings.capture, settings.endpoint, None, earliest, settings.end)
    predictions, unreadable, examples = read_predictions([lake.read_bytes(url) for url in urls])
    window = [p for p in predictions if settings.start <= p.time < settings.end]
    earlier = {p.inference_id for p in predictions if p.time < settings.start and p.inference_id}

    set_aside = gt.SetAside()
    label_urls = gt.label_partitions(lake.list_urls(lake.join(settings.labels, settings.endpoint, "")),
                                     settings.start.date(), settings.end.date())
    labels, read = [], 0
    for url in label_urls:
        found, lines = gt.parse_labels(lake.read_bytes(url), url, set_aside)
        labels += found
        read += lines
    joined = gt.join(window, earlier, labels, read, set_aside)

    versions: dict[str, dict] = {}
    for version in sorted({p.version for p, _ in joined.pairs}):
        metrics = quality((p.scores, outcomes) for p, outcomes in joined.pairs if p.version == version)
        enough = metrics["labelled"] >= settings.min_labels and metrics["coverage"] >= settings.min_coverage
        metrics["status"] = "ok" if enough else (
            f"not published: {metrics['labelled']} labelled rows (need {settings.min_labels}), coverage "
            f"{metrics['coverage']:.2f} (need {settings.min_coverage:.2f})")
        versions[version] = metrics
    report = {
        "endpoint": settings.endpoint,
        "window": {"start": settings.start.isoformat(), "end": settings.end.isoformat()},
        "capture_files": len(urls), "requests": len(window), "without_inference_id":
            sum(1 for p in window if not p.inference_id), "unreadable_records": unreadable,
        "unreadable_examples": examples,
        "labels": {"files": len(label_urls), "read": joined.labels_read, "used": joined.labels_used,
                   "duplicates_superseded": joined.duplicates, "outside_window": joined.outside_window,
                   "unknown_ids": set_aside.count(gt.UNKNOWN_ID), "set_aside": set_aside.count(),
                   "reconciled": joined.reconciles()},
        "versions": versions,
        "thresholds": {"score": 0.5, "ece_bins": ECE_BINS, "min_labels": settings.min_labels,
                       "min_coverage": settings.min_coverage},
        "published": [],
    }
    return report, set_aside


def metric_data(endpoint: str, report: dict, when: dt.datetime) -> list[dict]:
    data = []
    for version, metrics in report["versions"].items():
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "ModelVersion", "Value": version}]
        if metrics["captured"]:
            data.append({"MetricName": COVERAGE_METRIC, "Timestamp": when, "Value": metrics["coverage"],
                         "Unit": "None", "Dimensions": dims})
        if metrics["status"] == "ok":
            data += [{"MetricName": name, "Timestamp": when, "Value": metrics[key], "Unit": "None",
                      "Dimensions": dims} for key, name in METRICS.items() if metrics[key] is not None]
    return data


def run(settings: QualitySettings, cloudwatch=None) -> dict:
    report, set_aside = evaluate(settings)
    stamp = f"{settings.end:%Y%m%dT%H%M%SZ}"
    where = lake.join(f"endpoint={settings.endpoint}", f"dt={settings.end:%Y-%m-%d}")
    if set_aside.records:
        url = lake.join(settings.quarantine, where, f"set-aside-{stamp}.jsonl")
        lake.write_bytes(url, "".join(json.dumps(r) + "\n" for r in set_aside.records).encode(),
                         "application/jsonlines")
        report["quarantine_url"] = url
    data = metric_data(settings.endpoint, report, settings.end)
    if data and settings.publish:
        if cloudwatch is None:
            import boto3

            cloudwatch = boto3.client("cloudwatch")
        for first in range(0, len(data), 1000):  # PutMetricData takes at most 1,000 values a call
            cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[first:first + 1000])
        report["published"] = sorted({f"{d['MetricName']}[{d['Dimensions'][1]['Value']}]" for d in data})
    url = lake.join(settings.report, where, f"quality-{stamp}.json")
    lake.write_bytes(url, json.dumps(report, indent=2, default=str).encode(), "application/json")
    report["report_url"] = url
    return report


def summary(report: dict) -> dict:
    """The one line the job prints: per version the metrics, and the labels' accounting."""
    keep = ("captured", "labelled", "coverage", "auc", "accuracy", "calibration_error", "status")
    return {"versions": {v: {k: m[k] for k in keep} for v, m in report["versions"].items()},
            "labels": report["labels"], "report_url": report["report_url"],
            "quarantine_url": report.get("quarantine_url")}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = QualitySettings.from_argv(sys.argv[1:] if argv is None else argv, dt.datetime.now(dt.UTC))
    print(json.dumps(summary(run(settings)), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
