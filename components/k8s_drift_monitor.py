"""The drift monitor on Kubernetes: a CronJob that runs ``workloads.monitoring.monitor`` on the server's capture.

Why a CronJob in the serving cluster rather than a SageMaker processing schedule: the capture is in the lake either
way, but a stack served from Kubernetes should not need SageMaker to watch its model, and the serving image already
holds the monitor. It publishes the metric the SageMaker path's drift alarm watches (``prodline/Monitoring``
``DriftScore`` with ``EndpointName`` and ``FeatureSet``), so that alarm, its EventBridge rule and the retraining it
starts are the same objects on both platforms.

Its pods run under their own service account, whose IAM role (IRSA) may list and read the endpoint's capture
folder, read the served model's folder (the baseline is in model.tar.gz), write reports under the drift prefix,
use the lake key through S3 only, and put metric data in the monitoring namespace only. They run like the serving
pods: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, bounded, and only
DNS and HTTPS out.
"""

from __future__ import annotations

import re
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import policy_documents as docs
from components.data_lake import LakeRefs
from components.eks_access import web_identity_trust
from components.k8s_serving import (
    IRSA_ANNOTATION,
    aws_only_egress,
    container_security_context,
    image_check_waivers,
    meta,
    model_objects,
    pod_security_context,
)
from components.k8s_settings import image_ref, quantity

DRIFT_NAMESPACE = "prodline/Monitoring"
"""The monitor's CloudWatch namespace (workloads/monitoring/monitor.py): the only one its role may write."""
DEFAULTS = {"window_hours": 24.0, "min_rows": 100, "cpu_request": "250m", "cpu_limit": "1", "memory_request": "512Mi",
            "memory_limit": "1Gi", "deadline_seconds": 1800}
# Five fields (minute hour day-of-month month day-of-week), what a CronJob's schedule takes.
_CRON = re.compile(r"\S+ \S+ \S+ \S+ \S+")


class KubernetesDriftMonitorArgs(TypedDict):
    namespace: str
    """The serving namespace (KubernetesServing creates it; depend on that component)."""
    provider: k8s.Provider
    image: pulumi.Input[str]
    """The serving image (it holds the monitor), with a tag."""
    image_digest: NotRequired[str]
    lake: LakeRefs
    region: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    endpoint_name: str
    """The capture folder and the drift metric's EndpointName: the stack's logical endpoint name."""
    feature_set: str
    capture_prefix: str
    """Folder of the raw bucket the server captures into (``capture/``)."""
    report_prefix: str
    """Folder of the curated bucket the reports go to (``drift/``)."""
    model_data_url: pulumi.Input[str]
    """The served model.tar.gz: the baseline is read from it."""
    schedule: str
    """Five-field cron (``0 * * * *``)."""
    ownership_labels: dict[str, str]
    window_hours: NotRequired[float]
    min_rows: NotRequired[int]
    cpu_request: NotRequired[str]
    cpu_limit: NotRequired[str]
    memory_request: NotRequired[str]
    memory_limit: NotRequired[str]
    deadline_seconds: NotRequired[int]


def drift_monitor_settings(args: KubernetesDriftMonitorArgs) -> dict:
    """Args with defaults; ValueError naming the field."""
    values = {**DEFAULTS, **args}
    if not _CRON.fullmatch(values["schedule"].strip()):
        raise ValueError(f"schedule must be a five-field cron expression like '0 * * * *', got {values['schedule']!r}")
    if values["window_hours"] <= 0:
        raise ValueError(f"window_hours must be > 0, got {values['window_hours']}")
    if values["min_rows"] < 1:
        raise ValueError(f"min_rows must be >= 1, got {values['min_rows']}")
    if values["deadline_seconds"] < 60:
        raise ValueError(f"deadline_seconds must be >= 60, got {values['deadline_seconds']}")
    for prefix in ("capture_prefix", "report_prefix"):
        if not values[prefix].endswith("/") or values[prefix].startswith("/"):
            raise ValueError(f"{prefix} must be a folder like drift/ (no leading /, trailing /), "
                             f"got {values[prefix]!r}")
    for kind in ("cpu", "memory"):
        if quantity(f"{kind}_limit", values[f"{kind}_limit"]) < quantity(f"{kind}_request", values[f"{kind}_request"]):
            raise ValueError(f"{kind}_limit must be >= {kind}_request ({values[f'{kind}_request']}), "
                             f"got {values[f'{kind}_limit']!r}")
    return values


class KubernetesDriftMonitor(pulumi.ComponentResource):
    """IRSA role, service account, CronJob and its NetworkPolicy."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: KubernetesDriftMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:monitoring:KubernetesDriftMonitor", name, None, opts)
        v = drift_monitor_settings(args)
        image = image_ref("image", v["image"], v.get("image_digest"))
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args["provider"])
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "prodline",
                  "app.kubernetes.io/managed-by": "pulumi", **args["ownership_labels"]}
        namespace = args["namespace"]

        self.role = aws.iam.Role(
            f"{name}-irsa-role",
            assume_role_policy=web_identity_trust(args["oidc_provider_arn"], args["oidc_issuer_url"], namespace, name),
            description=f"Service account {namespace}/{name}: reads the capture, writes drift reports and metrics",
            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-irsa-policy", role=self.role.id,
                           policy=docs.document(monitor_statements(args, v)), opts=pulumi.ResourceOptions(parent=self))
        k8s.core.v1.ServiceAccount(f"{name}-service-account",
                                   metadata=meta(name, namespace, labels, {IRSA_ANNOTATION: self.role.arn}),
                                   automount_service_account_token=False, opts=on_cluster)
        k8s.batch.v1.CronJob(f"{name}-cronjob", metadata=meta(name, namespace, labels, image_check_waivers(image)),
                             spec=cronjob_spec(name, v, image.reference, image.pull_policy, labels), opts=on_cluster)
        k8s.networking.v1.NetworkPolicy(f"{name}-network-policy", metadata=meta(name, namespace, labels), spec={
            "pod_selector": {"match_labels": {"app.kubernetes.io/name": name}},
            "policy_types": ["Ingress", "Egress"], "ingress": [], "egress": aws_only_egress()}, opts=on_cluster)

        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})


def monitor_statements(args: KubernetesDriftMonitorArgs, v: dict) -> list[dict]:
    lake, endpoint = args["lake"], args["endpoint_name"]
    capture = f"{v['capture_prefix']}{endpoint}/"
    reports = f"{v['report_prefix']}endpoint={endpoint}/"
    through_s3 = {"StringEquals": {"kms:ViaService": f"s3.{args['region']}.amazonaws.com"}}
    return [
        docs.list_prefix("ListCapture", lake.bucket_arns["raw"], [capture]),
        docs.allow("ReadCapture", ["s3:GetObject"], [docs.objects(lake.bucket_arns["raw"], capture)]),
        docs.allow("ReadBaseline", ["s3:GetObject"], [model_objects(lake.bucket_arns["artifacts"],
                                                                    args["model_data_url"])]),
        docs.allow("WriteReports", ["s3:PutObject"], [docs.objects(lake.bucket_arns["curated"], reports)]),
        docs.allow("UseLakeKeyThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"], [lake.key_arn], through_s3),
        # PutMetricData has no resource-level permissions; the condition pins the namespace instead.
        docs.allow("PublishDrift", ["cloudwatch:PutMetricData"], ["*"],
                   {"StringEquals": {"cloudwatch:namespace": DRIFT_NAMESPACE}}),
    ]


def monitor_command(v: dict) -> list[pulumi.Input[str]]:
    """What the image's entry point runs: the monitor over the last window of the endpoint's capture."""
    lake = v["lake"]
    return ["python", "-m", "workloads.monitoring.monitor",
            "--capture", pulumi.Output.concat("s3://", lake.bucket_names["raw"], "/", v["capture_prefix"]),
            "--endpoint", v["endpoint_name"], "--dataset", v["feature_set"], "--baseline", v["model_data_url"],
            "--report", pulumi.Output.concat("s3://", lake.bucket_names["curated"], "/", v["report_prefix"]),
            "--hours", str(v["window_hours"]), "--min-rows", str(v["min_rows"])]


def cronjob_spec(name: str, v: dict, image: pulumi.Input[str], pull_policy: str, labels: dict[str, str]) -> dict:
    """One run at a time, bounded in time and retries, locked down like the serving pods."""
    container = {
        "name": "monitor", "image": image, "image_pull_policy": pull_policy, "args": monitor_command(v),
        "env": [{"name": "AWS_DEFAULT_REGION", "value": v["region"]}, {"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": v["cpu_request"], "memory": v["memory_request"]},
                      "limits": {"cpu": v["cpu_limit"], "memory": v["memory_limit"]}},
        "security_context": container_security_context(),
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
    }
    pod = {"service_account_name": name, "automount_service_account_token": False, "restart_policy": "Never",
           "security_context": pod_security_context(), "containers": [container],
           "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "256Mi"}}]}
    return {
        "schedule": v["schedule"], "concurrency_policy": "Forbid", "starting_deadline_seconds": 600,
        "successful_jobs_history_limit": 3, "failed_jobs_history_limit": 3,
        "job_template": {"spec": {
            "backoff_limit": 2, "active_deadline_seconds": v["deadline_seconds"], "ttl_seconds_after_finished": 86400,
            "template": {"metadata": {"labels": labels}, "spec": pod}}},
    }
