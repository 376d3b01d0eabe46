"""Drift monitor entry point: capture files of a window -> drift report in the lake -> CloudWatch metric.

Publishes ``DriftScore`` (largest PSI over the features) to namespace ``prodline/Monitoring`` with
dimensions ``EndpointName`` and ``FeatureSet`` (the dataset, ``churn``): the metric the stack's alarm
watches. With fewer captured rows than ``--min-rows`` it writes the report but publishes nothing, so the
alarm sees missing data rather than a score computed from a handful of requests.

Example: python -m workloads.monitoring.monitor --capture s3://<bucket>/datacapture/ --endpoint churn-prod \
  --baseline s3://<bucket>/models/.../model.tar.gz --report s3://<bucket>/monitoring/churn/ --hours 24
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

from workloads.etl import lake
from workloads.etl.schema import DATASET
from workloads.monitoring.capture import capture_urls, read_inputs
from workloads.monitoring.drift import drift_report
from workloads.training.artifacts import BASELINE_FILE
from workloads.training.baseline import read_baseline

LOG = logging.getLogger(__name__)
NAMESPACE = "prodline/Monitoring"
METRIC_NAME = "DriftScore"
SERVED = "served"


@dataclass(frozen=True)
class MonitorSettings:
    capture: str
    endpoint: str
    variant: str | None
    baseline: str
    report: str
    dataset: str
    start: dt.datetime
    end: dt.datetime
    min_rows: int
    publish: bool

    @classmethod
    def from_argv(cls, argv: Sequence[str], now: dt.datetime) -> MonitorSettings:
        parser = argparse.ArgumentParser(prog="python -m workloads.monitoring.monitor",
                                         description=__doc__.split("\n")[0])
        parser.add_argument("--capture", required=True, help="data capture destination (s3://bucket/prefix/)")
        parser.add_argument("--endpoint", required=True)
        parser.add_argument("--variant", default=None, help="one production variant (default: all)")
        parser.add_argument("--baseline", required=True,
                            help=f"baseline.json, the model.tar.gz holding it, or {SERVED!r}: the model the endpoint "
                                 "serves now (read through DescribeEndpoint, its config, model and model package)")
        parser.add_argument("--report", required=True, help="prefix for drift reports")
        parser.add_argument("--dataset", default=DATASET)
        parser.add_argument("--hours", type=float, default=24.0, help="window length ending now (or at --end)")
        parser.add_argument("--end", help="window end, ISO 8601 UTC (default: now)")
        parser.add_argument("--min-rows", type=int, default=100)
        parser.add_argument("--no-publish", dest="publish", action="store_false")
        args = parser.parse_args(list(argv))
        end = dt.datetime.fromisoformat(args.end).replace(tzinfo=dt.UTC) if args.end else now
        if args.hours <= 0:
            raise ValueError(f"--hours must be > 0, got {args.hours}")
        return cls(capture=args.capture, endpoint=args.endpoint, variant=args.variant, baseline=args.baseline,
                   report=args.report, dataset=args.dataset, start=end - dt.timedelta(hours=args.hours), end=end,
                   min_rows=args.min_rows, publish=args.publish)


def served_model_url(endpoint: str, sagemaker=None) -> str:
    """model.tar.gz of the version the endpoint serves: a scheduled run follows each deploy without a redeploy."""
    if sagemaker is None:
        import boto3

        sagemaker = boto3.client("sagemaker")
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    container = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    package = sagemaker.describe_model_package(ModelPackageName=container["ModelPackageName"])
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]


def load_baseline(url: str, endpoint: str | None = None) -> dict:
    if url == SERVED:
        if not endpoint:
            raise ValueError(f"--baseline {SERVED} needs --endpoint")
        url = served_model_url(endpoint)
    data = lake.read_bytes(url)
    if url.endswith(".tar.gz"):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(BASELINE_FILE)
            if member is None:
                raise FileNotFoundError(f"{url} holds no {BASELINE_FILE}")
            data = member.read()
    return read_baseline(data)


def metric_datum(endpoint: str, dataset: str, score: float, when: dt.datetime) -> dict:
    return {"MetricName": METRIC_NAME, "Timestamp": when, "Value": score, "Unit": "None",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "FeatureSet", "Value": dataset}]}


def report_url(prefix: str, endpoint: str, end: dt.datetime) -> str:
    return lake.join(prefix, f"endpoint={endpoint}", f"dt={end:%Y-%m-%d}", f"drift-{end:%Y%m%dT%H%M%SZ}.json")


def run(settings: MonitorSettings, cloudwatch=None) -> dict:
    urls = capture_urls(settings.capture, settings.endpoint, settings.variant, settings.start, settings.end)
    captured = read_inputs([lake.read_bytes(url) for url in urls])
    report = drift_report(load_baseline(settings.baseline, settings.endpoint), captured.frame)
    enough = len(captured.frame) >= settings.min_rows
    report.update({
        "endpoint": settings.endpoint, "variant": settings.variant, "dataset": settings.dataset,
        "window": {"start": settings.start.isoformat(), "end": settings.end.isoformat()},
        "capture_files": len(urls), "records": captured.records, "unreadable_records": captured.unreadable,
        "unreadable_examples": captured.errors,
        "status": "ok" if enough else f"insufficient data: {len(captured.frame)} rows < {settings.min_rows}",
        "published": False,
    })
    if enough and settings.publish:
        if cloudwatch is None:
            import boto3

            cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
            metric_datum(settings.endpoint, settings.dataset, report["drift_score"], settings.end)])
        report["published"] = True
    url = report_url(settings.report, settings.endpoint, settings.end)
    lake.write_bytes(url, json.dumps(report, indent=2, default=str).encode(), "application/json")
    report["report_url"] = url
    return report


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = MonitorSettings.from_argv(sys.argv[1:] if argv is None else argv, dt.datetime.now(dt.UTC))
    report = run(settings)
    print(json.dumps({k: report[k] for k in ("drift_score", "drifted_features", "rows", "status", "report_url")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
