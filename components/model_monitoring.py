"""The endpoint's scheduled monitoring: the drift monitor and the model-quality job, and the quality alarm.

Both jobs are Glue Python shell jobs (1/16 DPU), declared through ``EtlJob`` so their code is shipped and
versioned like the ETL's, each with its own role: the drift monitor reads the capture prefix and the served
model's artifacts (found through the endpoint's description) and writes drift reports; the quality job reads the
capture and label prefixes and writes quality reports and the labels it sets aside. Each publishes only to its
own CloudWatch namespace. pulumi-aws declares no SageMaker model-quality job definition, and SageMaker's
monitoring schedules run only SageMaker's own analyzers; a Glue job runs the project's code, costs a fraction
of a Processing instance for a job of seconds, and its schedule is a Glue trigger like the ETL's.

The quality alarm watches ``prodline/ModelQuality`` ``<qualityMetric>`` of the version the stack serves
(dimensions ``EndpointName``, ``ModelVersion``) and fires under the floor; the stack routes it to retraining
through the same EventBridge rule as drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.data_lake import LakeRefs
from components.etl_job import EtlJob

DRIFT_NAMESPACE = "prodline/Monitoring"
QUALITY_NAMESPACE = "prodline/ModelQuality"
QUALITY_METRICS = ("AUC", "Accuracy")
"""Metrics the alarm may watch: both are 'higher is better', so the alarm fires below the floor."""
MONITORING_DIR = Path(__file__).resolve().parent.parent / "workloads" / "monitoring"
QUALITY_WINDOW_HOURS = 24
"""Each run scores the predictions of the last day with every label that has arrived."""
ALARM_PERIOD_SECONDS = 3600


class ModelMonitoringArgs(TypedDict):
    prefix: str
    """Stack prefix (``prodline-<env>``): job names derive from it."""
    endpoint_name: str
    model_version: str
    """The model package version the stack serves: the quality alarm's ModelVersion dimension."""
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    capture_prefix: str
    """Raw-zone prefix the endpoint's data capture writes under (``capture/``)."""
    labels_prefix: str
    """Raw-zone prefix labels arrive under (``labels/``); files under ``<prefix><endpoint>/dt=.../``."""
    reports_prefix: str
    """Curated-zone prefix for drift and quality reports (``monitoring/``)."""
    quarantine_prefix: str
    """Curated-zone prefix for label lines the quality job sets aside (``quarantine/labels/``)."""
    model_artifact_prefixes: Sequence[str]
    """Artifacts-zone prefixes model.tar.gz files live under: the drift monitor reads the baseline there."""
    library_files: Mapping[str, str]
    """Archive path -> local file of the shared workloads code the job scripts import."""
    drift_schedule: str
    drift_job: NotRequired[bool]
    """False where something else runs the drift monitor on a schedule (the Kubernetes platform's CronJob, which
    publishes the same metric); the quality job and alarm are declared either way."""
    quality_schedule: str
    quality_metric: str
    quality_floor: float
    quality_min_coverage: float
    quality_min_labels: int
    alert_topic_arn: pulumi.Input[str]
    log_retention_days: int
    timeout_minutes: NotRequired[int]
    python_modules: NotRequired[Sequence[str]]


def monitoring_settings(args: ModelMonitoringArgs) -> ModelMonitoringArgs:
    """Validate args; raise ValueError naming the field and what is allowed."""
    if args["quality_metric"] not in QUALITY_METRICS:
        raise ValueError(f"quality_metric must be one of {', '.join(QUALITY_METRICS)}, got {args['quality_metric']!r}")
    if not 0 < args["quality_floor"] <= 1:
        raise ValueError(f"quality_floor must be > 0 and <= 1, got {args['quality_floor']}")
    if not 0 <= args["quality_min_coverage"] <= 1:
        raise ValueError(f"quality_min_coverage must be from 0 to 1, got {args['quality_min_coverage']}")
    if args["quality_min_labels"] < 1:
        raise ValueError(f"quality_min_labels must be >= 1, got {args['quality_min_labels']}")
    for field in ("capture_prefix", "labels_prefix", "reports_prefix", "quarantine_prefix"):
        if not args[field].endswith("/") or args[field].startswith("/"):
            raise ValueError(f"{field} must be a relative prefix ending in '/', got {args[field]!r}")
    if not args["model_version"]:
        raise ValueError("model_version must name the served version, got ''")
    return args


class ModelMonitoring(pulumi.ComponentResource):
    """Scheduled drift and model-quality jobs for one endpoint, and the alarm on its quality."""

    quality_alarm_arn: pulumi.Output[str]
    quality_alarm_name: pulumi.Output[str]
    quality_job_name: pulumi.Output[str]
    drift_job_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:monitoring:ModelMonitoring", name, None, opts)
        args = monitoring_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        buckets = lake.bucket_names
        endpoint = args["endpoint_name"]

        def s3(zone: str, prefix: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("s3://", buckets[zone], "/", prefix)

        common = {
            "job_type": "pythonshell",
            "python_shell_dpu": 0.0625,
            "lake": lake,
            "account_id": args["account_id"],
            "log_retention_days": args["log_retention_days"],
            "timeout_minutes": args.get("timeout_minutes", 30),
            "max_retries": 0,  # the next scheduled run is the retry; a window is never scored twice at once
            "library_files": args["library_files"],
            "python_modules": args.get("python_modules", ()),
        }
        capture_reads = [("raw", f"{args['capture_prefix']}{endpoint}/")]
        drift_reports = f"{args['reports_prefix']}drift/"
        drift = None if not args.get("drift_job", True) else EtlJob(f"{name}-drift", {
            **common,
            "job_name": f"{args['prefix']}-drift-monitor",
            "script_path": str(MONITORING_DIR / "drift_job.py"),
            "reads": [*capture_reads, *(("artifacts", p) for p in args["model_artifact_prefixes"])],
            "writes": [("curated", drift_reports)],
            "metric_namespaces": [DRIFT_NAMESPACE],
            "extra_statements": [_describe_served_model(args)],
            "arguments": {
                "--capture": s3("raw", args["capture_prefix"]),
                "--endpoint": endpoint,
                "--baseline": "served",
                "--report": s3("curated", drift_reports),
                "--hours": "1",
            },
            "schedule": args["drift_schedule"],
        }, opts=child)
        quality_reports = f"{args['reports_prefix']}quality/"
        quality = EtlJob(f"{name}-quality", {
            **common,
            "job_name": f"{args['prefix']}-model-quality",
            "script_path": str(MONITORING_DIR / "quality_job.py"),
            "reads": [*capture_reads, ("raw", f"{args['labels_prefix']}{endpoint}/")],
            "writes": [("curated", quality_reports), ("curated", args["quarantine_prefix"])],
            "metric_namespaces": [QUALITY_NAMESPACE],
            "arguments": {
                "--capture": s3("raw", args["capture_prefix"]),
                "--labels": s3("raw", args["labels_prefix"]),
                "--endpoint": endpoint,
                "--report": s3("curated", quality_reports),
                "--quarantine": s3("curated", args["quarantine_prefix"]),
                "--hours": str(QUALITY_WINDOW_HOURS),
                "--min-labels": str(args["quality_min_labels"]),
                "--min-coverage": f"{args['quality_min_coverage']:g}",
            },
            "schedule": args["quality_schedule"],
        }, opts=child)

        metric = args["quality_metric"]
        alarm_name = f"{endpoint}-quality"
        self.quality_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-quality-alarm", name=alarm_name,
            alarm_description=(f"{metric} of model version {args['model_version']} on labelled traffic below "
                               f"{args['quality_floor']:g}: retraining starts"),
            namespace=QUALITY_NAMESPACE, metric_name=metric,
            dimensions={"EndpointName": endpoint, "ModelVersion": args["model_version"]},
            statistic="Minimum", period=ALARM_PERIOD_SECONDS, evaluation_periods=1,
            comparison_operator="LessThanThreshold", threshold=args["quality_floor"],
            # No labels (or too few) publish nothing: that is not evidence of bad quality.
            treat_missing_data="notBreaching",
            alarm_actions=[args["alert_topic_arn"]], ok_actions=[args["alert_topic_arn"]], opts=child)

        self.quality_alarm_arn = self.quality_alarm.arn
        self.quality_alarm_name = self.quality_alarm.name
        self.quality_job_name = quality.job_name
        self.drift_job_name = drift.job_name if drift else None
        self.register_outputs({"quality_alarm_arn": self.quality_alarm_arn, "quality_job_name": self.quality_job_name,
                               "drift_job_name": self.drift_job_name})


def _describe_served_model(args: ModelMonitoringArgs) -> dict:
    """What ``--baseline served`` reads: the endpoint, its configs, models and packages, in this stack only."""
    arn = pulumi.Output.concat("arn:aws:sagemaker:", args["region"], ":", args["account_id"], ":")
    return {"Sid": "DescribeServedModel", "Effect": "Allow",
            "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel",
                       "sagemaker:DescribeModelPackage"],
            "Resource": [pulumi.Output.concat(arn, "endpoint/", args["endpoint_name"]),
                         pulumi.Output.concat(arn, "endpoint-config/*"),
                         pulumi.Output.concat(arn, "model/*"),
                         pulumi.Output.concat(arn, "model-package/", args["prefix"], "-*")]}

