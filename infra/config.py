"""Stack config -> frozen, validated dataclasses. The only module that reads Pulumi config.

Each key is declared once, as a field of the settings dataclass the components' wiring reads
(``setting(...)``, see ``infra/config_schema.py``): its name, parser, default, per-environment rule and
description. The key table (``KEYS``), the validation and the ``config:`` block of ``Pulumi.yaml``
(``python -m infra.config --write-pulumi-yaml``; ``--check`` compares) all derive from those fields.

Every value arrives as the string the Pulumi engine hands the program (project defaults from
``Pulumi.yaml`` merged under the stack file). All problems are collected and reported together, each
naming the key, the bad value and what is allowed, before a single resource is declared.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import config_parsers as p
from infra import config_schema as schema
from infra.config_parsers import Invalid
from infra.config_schema import allowed_in, at_least, at_most, setting
from standards import delivery
from standards import environments as envs
from standards.cost.usage import Usage
from standards.ownership import ownership_tags

NAMESPACE = "prodline"
PROJECT = "prodline"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"


class ConfigError(ValueError):
    """Raised with every config problem of a stack, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))


def _on_kubernetes(values: Mapping[str, Any]) -> bool:
    return values.get("servingPlatform") == "kubernetes"


# --- the settings: one field per key ------------------------------------------------------------------
# Keys with no default come first in Pulumi.yaml; the rest follow in the order of the fields below.

@dataclass(frozen=True)
class Ownership:
    environment: str = setting(
        "environment", p.choice(envs.ENVIRONMENTS), "Environment this stack is: dev, staging or prod.")
    owner: str = setting("owner", p.tag_value, "Team that owns the stack; becomes the `owner` tag.")
    cost_center: str = setting("costCenter", p.tag_value, "Cost center billed; becomes the `cost-center` tag.")
    project: str = PROJECT

    def tags(self) -> dict[str, str]:
        """The five tags every taggable resource carries."""
        return ownership_tags(owner=self.owner, cost_center=self.cost_center, environment=self.environment,
                              project=self.project)


@dataclass(frozen=True)
class LakeSettings:
    retention_days: int = setting(
        "lakeRetentionDays", p.integer(1),
        "Days a superseded (noncurrent) object version is kept in the lake before it expires.", default=90)
    raw_transition_days: int = setting(
        "lakeRawTransitionDays", p.integer(30),
        "Days after which raw-zone objects move to STANDARD_IA (S3 requires at least 30).", default=30)
    log_retention_days: int = setting(
        "logRetentionDays", p.choice(envs.LOG_RETENTION_DAYS, int),
        "Retention of every CloudWatch log group, in days (a value CloudWatch Logs accepts).", default=30)


@dataclass(frozen=True)
class EtlSettings:
    job_type: str = setting(
        "etlJobType", p.choice(envs.GLUE_JOB_TYPES),
        "Glue job type: pythonshell (pandas, small data) or glueetl (Spark, data that outgrows one machine).",
        default="pythonshell")
    schedule: str = setting(
        "etlSchedule", p.schedule, "When the ETL runs: a Glue/EventBridge cron() or rate() expression.",
        default="cron(0 2 * * ? *)")
    worker_type: str = setting(
        "etlWorkerType", p.choice(envs.GLUE_WORKER_TYPES), "Glue Spark worker type (glueetl only).", default="G.1X")
    number_of_workers: int = setting(
        "etlNumberOfWorkers", p.integer(2, 100), "Glue Spark worker count (glueetl only).", default=2)
    timeout_minutes: int = setting(
        "etlTimeoutMinutes", p.integer(1, 2880), "Minutes after which a Glue job run is stopped.", default=60)
    max_retries: int = setting(
        "etlMaxRetries", p.integer(0, 3), "Times Glue retries a failed job run.", default=1)


@dataclass(frozen=True)
class TrainingSettings:
    instance_type: str = setting(
        "trainingInstanceType", p.instance_type,
        "SageMaker training instance type; each environment allows its own list.", default="ml.m5.large",
        per_environment=allowed_in(envs.TRAINING_INSTANCE_TYPES))
    quality_threshold: float = setting(
        "trainingQualityThreshold", p.decimal(0.0, 1.0, lo_open=True),
        "Least validation AUC a trained model needs to be registered (0 < x <= 1).", default="0.75")
    schedule: str = setting(
        "trainingSchedule", p.schedule, "When the training pipeline runs: an EventBridge cron() or rate().",
        default="rate(7 days)")
    approval_status: str = setting(
        "modelApprovalStatus", p.choice(envs.MODEL_APPROVAL_STATUSES),
        "Status a newly registered model gets; Approved (auto-deploy) is allowed in dev only.",
        default="PendingManualApproval",
        per_environment=allowed_in(envs.APPROVAL_STATUSES_ALLOWED,
                                   "new models must wait for a person's approval there (PendingManualApproval)"))


@dataclass(frozen=True)
class TrackingSettings:
    """Experiment tracking: SageMaker's managed MLflow, which training and evaluation log their runs to."""

    enabled: bool = setting(
        "trackingEnabled", p.boolean,
        "Declare the MLflow tracking server and have training and evaluation log their runs to it.", default=True)
    server_size: str = setting(
        "trackingServerSize", p.choice(envs.TRACKING_SERVER_SIZES),
        "Size of the managed MLflow tracking server: Small, Medium or Large (users and runs it serves at once).",
        default="Small")


@dataclass(frozen=True)
class ServingSettings:
    model_package: str = setting(
        "modelPackageArn", p.model_package,
        "Model version to serve: latest approved in the group, recorded (the deploy path's version record), none, "
        "or an explicit model package ARN.", default="latest")
    """'latest', 'recorded', 'none' or a model package ARN."""
    instance_type: str = setting(
        "servingInstanceType", p.instance_type,
        "SageMaker endpoint instance type; each environment allows its own list.", default="ml.m5.large",
        per_environment=allowed_in(envs.SERVING_INSTANCE_TYPES))
    min_capacity: int = setting(
        "servingMinCapacity", p.integer(1), "Fewest endpoint instances (prod needs at least 2).", default=1,
        per_environment=at_least(envs.MIN_SERVING_CAPACITY, "it needs at least {limit} so the endpoint survives "
                                                            "the loss of an availability zone"))
    max_capacity: int = setting(
        "servingMaxCapacity", p.integer(1), "Most endpoint instances autoscaling may reach.", default=2,
        per_environment=at_most(envs.MAX_SERVING_CAPACITY, "at most {limit} (cost cap)"))
    serverless: bool = setting(
        "servingServerless", p.boolean,
        "Serve from a serverless endpoint (scales to zero; no data capture) instead of instances; dev only.",
        default=False,
        per_environment=allowed_in(envs.SERVERLESS_ALLOWED, "serverless endpoints have no data capture and no "
                                                            "instance floor, so only dev may use them"))
    target_invocations: int = setting(
        "servingTargetInvocations", p.integer(1, 100000),
        "Invocations per instance per minute that target-tracking autoscaling aims for.", default=100)
    scale_in_cooldown_seconds: int = setting(
        "servingScaleInCooldownSeconds", p.integer(0, 3600),
        "Seconds autoscaling waits after a scale-in before scaling in again.", default=300)
    data_capture_percent: int = setting(
        "dataCapturePercent", p.integer(0, 100),
        "Share of requests and responses captured to the lake for drift monitoring (staging/prod need > 0).",
        default=20, per_environment=at_least(envs.MIN_DATA_CAPTURE_PERCENT, "at least {limit}, or drift goes unseen"))
    canary_percent: int = setting(
        "canaryPercent", p.integer(1, 50), "Share of traffic a new model version gets during its canary.",
        default=10)
    canary_bake_seconds: int = setting(
        "canaryBakeSeconds", p.integer(60, 3600),
        "Seconds a canary serves its share, watched by the rollback alarms, before the rest of the traffic moves.",
        default=600)
    image_source: str = setting(
        "servingImageSource", p.choice(envs.SERVING_IMAGE_SOURCES),
        "Image a SageMaker endpoint runs: framework (SageMaker's scikit-learn container) or project (this "
        "project's image from the stack's ECR repository, at servingImageTag).", default="framework")
    platform: str = setting(
        "servingPlatform", p.choice(envs.SERVING_PLATFORMS),
        "Where the model is served: sagemaker (endpoints) or kubernetes (the same image on a cluster).",
        default="sagemaker")


@dataclass(frozen=True)
class BatchSettings:
    """Batch scoring: a features partition scored by the approved model with SageMaker Batch Transform."""

    enabled: bool = setting(
        "batchScoringEnabled", p.boolean,
        "Declare batch scoring (needs an approved model version, like the endpoint).", default=True)
    schedule: str = setting(
        "batchSchedule", p.schedule,
        "When batch scoring runs besides on each new features partition: an EventBridge cron() or rate().",
        default="cron(0 4 * * ? *)")
    instance_type: str = setting(
        "batchInstanceType", p.instance_type,
        "Batch Transform instance type; each environment allows its serving list.", default="ml.m5.large",
        per_environment=allowed_in(envs.SERVING_INSTANCE_TYPES))
    instance_count: int = setting(
        "batchInstanceCount", p.integer(1, 10), "Batch Transform instances per job.", default=1)
    max_payload_mb: int = setting(
        "batchMaxPayloadMb", p.integer(1, 100),
        "Largest request, in MB, Batch Transform sends the model (MultiRecord batches of CSV lines).", default=6)
    max_concurrent_transforms: int = setting(
        "batchMaxConcurrentTransforms", p.integer(1, 16),
        "Requests Batch Transform sends each instance at once.", default=2)
    alert_on_failure: bool = setting(
        "batchAlertOnFailure", p.boolean, "A failed batch scoring run notifies the stack's alert topic.",
        default=False)


@dataclass(frozen=True)
class KubernetesSettings:
    eks_cluster_name: str = setting(
        "eksClusterName", p.optional(p.eks_cluster_name),
        "Existing EKS cluster to serve on when servingPlatform is kubernetes (or give kubeconfig).", default="")
    kubeconfig: str = setting(
        "kubeconfig", p.text,
        "Kubeconfig of a non-EKS cluster (set it as a secret); needs k8sOidcIssuerUrl for pod IAM roles.", default="")
    oidc_issuer_url: str = setting(
        "k8sOidcIssuerUrl", p.optional(p.https_url),
        "OIDC issuer of the cluster given by kubeconfig (for IAM roles for service accounts).", default="")
    image_tag: str = setting(
        "servingImageTag", p.image_tag, "Tag of the serving image in the stack's ECR repository.", default="0.1.0")
    image_digest: str = setting(
        "k8sImageDigest", p.optional(p.image_digest),
        "Digest (sha256:...) of the image at servingImageTag: pods run it by digest; empty: by tag, pulled Always.",
        default="")
    canary_image_tag: str = setting(
        "k8sCanaryImageTag", p.optional(p.image_tag),
        "Image tag of a canary Deployment that gets canaryPercent of the traffic (needs k8sIngressHost).", default="")
    canary_image_digest: str = setting(
        "k8sCanaryImageDigest", p.optional(p.image_digest),
        "Digest (sha256:...) of the image at k8sCanaryImageTag: the canary pods run it by digest.", default="")
    namespace: str = setting(
        "k8sNamespace", p.dns_label, "Namespace of the serving objects.", default="prodline-serving")
    ingress_namespace: str = setting(
        "k8sIngressNamespace", p.dns_label, "Namespace of the ingress controller: the only allowed caller.",
        default="ingress-nginx")
    ingress_host: str = setting(
        "k8sIngressHost", p.optional(p.dns_name), "Host name of the serving Ingress (empty: no Ingress).", default="")
    min_replicas: int = setting(
        "k8sMinReplicas", p.integer(1), "Fewest serving pods (prod needs at least 2).", default=1,
        per_environment=at_least(envs.MIN_SERVING_CAPACITY, "it needs at least {limit}", when=_on_kubernetes))
    max_replicas: int = setting(
        "k8sMaxReplicas", p.integer(1), "Most serving pods the HorizontalPodAutoscaler may reach.", default=2,
        per_environment=at_most(envs.MAX_SERVING_CAPACITY, "at most {limit}", when=_on_kubernetes))
    cpu_target_percent: int = setting(
        "k8sCpuTargetPercent", p.integer(1, 100), "CPU utilization the HorizontalPodAutoscaler aims for.",
        default=70)
    requests_per_second_target: int = setting(
        "k8sRequestsPerSecondTarget", p.integer(0),
        "Requests per second per pod to scale on (needs a metrics adapter); 0 scales on CPU only.", default=0)
    drift_schedule: str = setting(
        "k8sDriftSchedule", p.k8s_cron,
        "When the drift monitor's CronJob runs over the server's data capture (five-field cron, UTC).",
        default="0 * * * *")


@dataclass(frozen=True)
class AlarmSettings:
    latency_p99_ms: int = setting(
        "alarmLatencyP99Ms", p.integer(1, 60000), "p99 model latency, in ms, above which the latency alarm fires.",
        default=500)
    errors_5xx: int = setting(
        "alarm5xxThreshold", p.integer(1), "5xx errors per minute at or above which the error alarm fires.",
        default=5)
    invocations_floor: int = setting(
        "alarmInvocationsFloor", p.integer(0),
        "Fewest invocations per 5 minutes before the traffic-floor alarm fires; 0 turns it off (prod needs >= 1).",
        default=0, per_environment=at_least(envs.MIN_INVOCATIONS_FLOOR,
                                            "at least {limit}, so a silent endpoint pages someone"))
    rate_4xx_percent: float = setting(
        "alarm4xxRatePercent", p.decimal(0.0, 100.0, lo_open=True),
        "Share of requests answered 4xx, in percent, above which the client-error alarm fires.", default="5")
    drift_threshold: float = setting(
        "driftThreshold", p.decimal(0.0, 10.0, lo_open=True),
        "Population stability index above which the drift alarm fires (0.2 is a common choice).", default="0.2")
    alert_email: str = setting("alertEmail", p.email, "E-mail address subscribed to the stack's alerts.")


@dataclass(frozen=True)
class MonitoringSettings:
    """The endpoint's scheduled drift and model-quality jobs and the quality alarm (components/model_monitoring.py)."""

    drift_schedule: str = setting(
        "driftSchedule", p.schedule, "When the drift monitor runs over the last hour of captured requests.",
        default="cron(5 * * * ? *)")
    quality_schedule: str = setting(
        "qualitySchedule", p.schedule,
        "When the model-quality job joins the last day's captured predictions with the labels that arrived.",
        default="cron(35 * * * ? *)")
    quality_metric: str = setting(
        "qualityMetric", p.choice(("AUC", "Accuracy")),
        "Quality metric the alarm watches for the served model version (on labelled traffic).", default="AUC")
    quality_floor: float = setting(
        "qualityFloor", p.decimal(0.0, 1.0, lo_open=True),
        "Value of qualityMetric below which the quality alarm fires and retraining starts.", default="0.7")
    quality_min_coverage: float = setting(
        "qualityMinCoverage", p.decimal(0.0, 1.0),
        "Least label coverage (labelled / captured rows) before quality is published; below it only coverage is.",
        default="0.1")
    quality_min_labels: int = setting(
        "qualityMinLabels", p.integer(1),
        "Fewest labelled rows of a version before its quality is published.", default=50)


@dataclass(frozen=True)
class DeliverySettings:
    """Continuous delivery: the deployer's build, its smoke gate and where a green deploy promotes to."""

    promote_to: str = setting(
        "deliveryPromoteTo", p.choice(("", *envs.ENVIRONMENTS)),
        "Stack a green deploy promotes the version to (dev: staging, staging: prod); empty ends the chain.",
        default="", per_environment=allowed_in(envs.PROMOTION_TARGETS, "it may promote only to: {allowed}"))
    require_approval: bool = setting(
        "deliveryRequireApproval", p.boolean,
        "A deploy needs a person's recorded approval of the version (prodline promote); always true in prod.",
        default=False, per_environment=allowed_in(envs.REQUIRE_APPROVAL_ALLOWED,
                                                  "nothing reaches prod without a person's recorded approval"))
    smoke_rows: int = setting("smokeRows", p.integer(1, 1000),
                              "Held-out rows the smoke gate sends to a freshly deployed model.", default=20)
    smoke_latency_ms: int = setting("smokeLatencyMs", p.integer(1, 60000),
                                    "Slowest smoke-gate request, in ms, a green deploy may have.", default=2000)
    permissions_boundary: str = setting(
        "deployerPermissionsBoundary", p.iam_policy_name,
        "Managed policy (made by the bootstrap) every role of the stack carries as its permissions boundary.",
        default=delivery.BOUNDARY_POLICY)
    backend_url: str = setting(
        "pulumiBackendUrl", p.optional(p.s3_url),
        "Pulumi state backend of the deployer's builds (s3://...); empty: the bootstrap's state bucket.", default="")


@dataclass(frozen=True)
class CostSettings:
    """The budget a stack is held to and the usage its estimate assumes (``prodline cost``, README "Cost")."""

    budget_usd: int = setting(
        "budgetMonthlyUsd", p.integer(1),
        "Monthly AWS Budget of the stack, in USD: alerts at 80% actual and 100% forecast; prod's estimate must fit.",
        default=300)
    requests_per_day: int = setting(
        "usageRequestsPerDay", p.integer(0), "Expected endpoint requests per day (serverless compute, estimates).",
        default=1000)
    request_ms: int = setting(
        "usageRequestMs", p.integer(1, 60000), "Expected milliseconds of model time per request (serverless).",
        default=100)
    data_gb_per_day: float = setting(
        "usageDataGbPerDay", p.decimal(0.0, 100000.0),
        "Expected GB landing in the raw zone per day (storage, streams).",
        default="0.1")
    log_gb_per_day: float = setting(
        "usageLogGbPerDay", p.decimal(0.0, 100000.0),
        "Expected GB of CloudWatch logs per day, all log groups together.",
        default="0.05")
    api_requests_per_day: int = setting(
        "usageApiRequestsPerDay", p.integer(0), "Expected S3 (and KMS) API requests per day by the workloads.",
        default=5000)
    etl_run_minutes: int = setting(
        "usageEtlRunMinutes", p.integer(1, 2880),
        "Expected minutes of one Glue job run (the timeout is the high bound).",
        default=10)
    training_run_minutes: int = setting(
        "usageTrainingRunMinutes", p.integer(1, 10080),
        "Expected minutes of one training or processing step (its MaxRuntimeInSeconds is the high bound).", default=30)
    retrainings_per_month: int = setting(
        "usageRetrainingsPerMonth", p.integer(0, 1000),
        "Extra pipeline runs (and deploys) a month started by the drift or quality alarm, on top of the schedule; "
        "high bound only.",
        default=2)

    def usage(self) -> Usage:
        return Usage(requests_per_day=self.requests_per_day, request_ms=self.request_ms,
                     data_gb_per_day=self.data_gb_per_day, log_gb_per_day=self.log_gb_per_day,
                     api_requests_per_day=self.api_requests_per_day, etl_run_minutes=self.etl_run_minutes,
                     training_run_minutes=self.training_run_minutes,
                     retrainings_per_month=self.retrainings_per_month)


@dataclass(frozen=True)
class StreamSettings:
    """Streaming ingestion: the Kinesis stream events are put on and the Firehose delivery into the raw zone."""

    mode: str = setting(
        "streamMode", p.choice(envs.STREAM_MODES),
        "Kinesis capacity mode: ON_DEMAND (scales itself, billed per GB) or PROVISIONED (streamShardCount shards).",
        default="ON_DEMAND")
    shard_count: int = setting(
        "streamShardCount", p.integer(1, 500),
        "Shards of a PROVISIONED stream (1 MiB/s or 1,000 records/s of writes each); ignored when ON_DEMAND.",
        default=1)
    retention_hours: int = setting(
        "streamRetentionHours", p.integer(24, 8760),
        "Hours Kinesis keeps records, so a stalled delivery can catch up without loss (24 to 8760).", default=24)
    buffer_size_mib: int = setting(
        "streamBufferSizeMiB", p.integer(64, 128),
        "MiB Firehose buffers before it writes an object (64 to 128: dynamic partitioning needs at least 64).",
        default=64)
    buffer_interval_seconds: int = setting(
        "streamBufferIntervalSeconds", p.integer(60, 900),
        "Seconds Firehose buffers before it writes an object, whichever of size and time comes first.",
        default=300)
    freshness_seconds: int = setting(
        "streamFreshnessSeconds", p.integer(60, 86400),
        "Age, in seconds, of the oldest undelivered record above which the delivery-freshness alarm fires.",
        default=900)


@dataclass(frozen=True)
class FrontDoorSettings:
    """The API Gateway REST API in front of the served model: auth, throttling, quota, logs, custom domain."""

    enabled: bool = setting(
        "frontDoorEnabled", p.boolean,
        "Declare the front door (POST /v1/predict, GET /v1/health) in front of the served model.", default=True)
    auth: str = setting(
        "frontDoorAuth", p.choice(envs.FRONT_DOOR_AUTH),
        "Who may call the front door: api-key (usage-plan keys only), iam (SigV4 and a key) or cognito (a user "
        "pool's JWT and a key).", default="api-key")
    cognito_user_pool_arn: str = setting(
        "frontDoorCognitoUserPoolArn", p.optional(p.cognito_user_pool_arn),
        "Cognito user pool whose tokens the front door accepts (frontDoorAuth=cognito).", default="")
    clients: str = setting(
        "frontDoorClients", p.client_names,
        "Machine clients, comma-separated: each gets its own API key in the usage plan (per-client throttling).",
        default="app")
    rate_limit: float = setting(
        "frontDoorRateLimit", p.decimal(0.0, 10000.0, lo_open=True),
        "Requests per second the stage admits in the steady state, all clients together.", default="50")
    burst_limit: int = setting(
        "frontDoorBurstLimit", p.integer(1, 5000), "Requests the stage admits at once above the rate.", default=100)
    client_rate_limit: float = setting(
        "frontDoorClientRateLimit", p.decimal(0.0, 10000.0, lo_open=True),
        "Requests per second each client's API key may make in the steady state (usage plan).", default="10")
    client_burst_limit: int = setting(
        "frontDoorClientBurstLimit", p.integer(1, 5000),
        "Requests each client's API key may make at once above its rate (usage plan).", default=20)
    quota_per_day: int = setting(
        "frontDoorQuotaPerDay", p.integer(0),
        "Requests each client's API key may make a day (usage plan quota); 0: no quota.", default=100000)
    domain: str = setting(
        "frontDoorDomain", p.optional(p.dns_name),
        "Custom domain of the front door (TLS 1.2 minimum); empty: the execute-api URL only.", default="")
    certificate_arn: str = setting(
        "frontDoorCertificateArn", p.optional(p.acm_certificate_arn),
        "ACM certificate of frontDoorDomain, in the stack's region.", default="")
    ingress_service: str = setting(
        "frontDoorIngressService", p.dns_label,
        "Service of the ingress controller (in k8sIngressNamespace) whose NLB the front door reaches through a VPC "
        "link when servingPlatform is kubernetes.", default="ingress-nginx-controller")


@dataclass(frozen=True)
class StackConfig:
    stack: str
    environment: str
    region: str
    ownership: Ownership
    lake: LakeSettings
    etl: EtlSettings
    training: TrainingSettings
    tracking: TrackingSettings
    serving: ServingSettings
    batch: BatchSettings
    kubernetes: KubernetesSettings
    alarms: AlarmSettings
    monitoring: MonitoringSettings
    delivery: DeliverySettings
    cost: CostSettings
    stream: StreamSettings
    front_door: FrontDoorSettings

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


KEYS: dict[str, schema.Setting] = schema.key_table(StackConfig)
"""Every key, by name: required keys first, then in the order the settings dataclasses declare them."""

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")


# --- parsing ----------------------------------------------------------------------------------------

def parse_config(raw: Mapping[str, Any], stack: str) -> StackConfig:
    """Turn raw ``namespace:key -> value`` config into a StackConfig, or raise ConfigError with every problem."""
    problems: list[str] = []
    values: dict[str, Any] = {}

    for full_key in sorted(raw):
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE and key not in KEYS:
            problems.append(f"{full_key}: unknown key; allowed keys are {', '.join(f'{NAMESPACE}:{k}' for k in KEYS)}")

    for key in KEYS.values():
        full_key = f"{NAMESPACE}:{key.name}"
        if full_key not in raw:
            problems.append(f"{full_key}: missing; {key.description}"
                            + ("" if key.required else " (its default belongs in Pulumi.yaml)"))
            continue
        text = _as_text(raw[full_key])
        try:
            values[key.name] = key.parse(text)
        except Invalid as err:
            problems.append(f"{full_key}: {text!r} is not allowed; expected {err}")

    region = _as_text(raw.get("aws:region", ""))
    if not _REGION.fullmatch(region):
        problems.append(f"aws:region: {region!r} is not allowed; expected an AWS region like eu-west-1")

    problems.extend(_environment_rules(values))
    problems.extend(_cross_checks(values))
    if problems:
        raise ConfigError(problems)

    return schema.assemble(StackConfig, values, stack=stack, environment=values["environment"], region=region)


def _environment_rules(values: Mapping[str, Any]) -> list[str]:
    """Each key's per-environment rule (tables in standards/environments.py); run only on keys that parsed."""
    env = values.get("environment")
    if env is None:
        return []
    problems = []
    for key in KEYS.values():
        if key.per_environment is None or key.name not in values:
            continue
        value = values[key.name]
        complaint = key.per_environment.check(value, env, values)
        if complaint:
            problems.append(f"{NAMESPACE}:{key.name}: {_show(value)} is not allowed in {env}; {complaint}")
    return problems


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    """Rules that relate keys to each other; run only on keys that parsed."""
    if values.get("environment") is None:
        return []
    problems = []
    capture = values.get("dataCapturePercent")
    if values.get("servingServerless") and capture:
        problems.append(f"{NAMESPACE}:dataCapturePercent: {capture} is not allowed with servingServerless=true; "
                        "serverless endpoints cannot capture data, set it to 0")
    problems.extend(_kubernetes_checks(values))
    problems.extend(_front_door_checks(values))
    interval, freshness = values.get("streamBufferIntervalSeconds"), values.get("streamFreshnessSeconds")
    if interval is not None and freshness is not None and freshness <= interval:
        problems.append(f"{NAMESPACE}:streamFreshnessSeconds: {freshness} is not allowed with "
                        f"{NAMESPACE}:streamBufferIntervalSeconds {interval}; it must be greater, or the "
                        "freshness alarm fires on every buffered delivery")
    low, high = values.get("servingMinCapacity"), values.get("servingMaxCapacity")
    if low is not None and high is not None and low > high:
        problems.append(f"{NAMESPACE}:servingMinCapacity: {low} is greater than "
                        f"{NAMESPACE}:servingMaxCapacity {high}; min must be <= max")
    return problems


def _kubernetes_checks(values: Mapping[str, Any]) -> list[str]:
    """Kubernetes serving needs one cluster, an OIDC issuer for a kubeconfig cluster, and sane replicas."""
    if not _on_kubernetes(values):
        return []
    problems = []
    key = f"{NAMESPACE}:"
    if bool(values.get("eksClusterName")) == bool(values.get("kubeconfig")):
        problems.append(f"{key}eksClusterName / {key}kubeconfig: give exactly one when servingPlatform is kubernetes")
    if values.get("kubeconfig") and not values.get("k8sOidcIssuerUrl"):
        problems.append(f"{key}k8sOidcIssuerUrl: missing; a kubeconfig cluster needs its OIDC issuer for pod IAM roles")
    if values.get("k8sCanaryImageTag") and not values.get("k8sIngressHost"):
        problems.append(f"{key}k8sCanaryImageTag: a canary needs {key}k8sIngressHost to split traffic at the ingress")
    if values.get("k8sCanaryImageDigest") and not values.get("k8sCanaryImageTag"):
        problems.append(f"{key}k8sCanaryImageDigest: names the digest of {key}k8sCanaryImageTag, which is not set")
    if values.get("k8sNamespace") and values.get("k8sNamespace") == values.get("k8sIngressNamespace"):
        problems.append(f"{key}k8sIngressNamespace: must differ from {key}k8sNamespace")
    low, high = values.get("k8sMinReplicas"), values.get("k8sMaxReplicas")
    if low is not None and high is not None and low > high:
        problems.append(f"{key}k8sMinReplicas: {low} is greater than {key}k8sMaxReplicas {high}")
    return problems


def _front_door_checks(values: Mapping[str, Any]) -> list[str]:
    """Cognito needs its pool, a domain its certificate, and no client may outrun the whole stage."""
    if not values.get("frontDoorEnabled"):
        return []
    key = f"{NAMESPACE}:"
    problems = []
    if values.get("frontDoorAuth") == "cognito" and not values.get("frontDoorCognitoUserPoolArn"):
        problems.append(f"{key}frontDoorCognitoUserPoolArn: missing; frontDoorAuth=cognito needs the user pool "
                        "whose tokens it accepts")
    if bool(values.get("frontDoorDomain")) != bool(values.get("frontDoorCertificateArn")):
        problems.append(f"{key}frontDoorDomain / {key}frontDoorCertificateArn: give both (a custom domain serves "
                        "TLS with its ACM certificate) or neither")
    for client, stage in (("frontDoorClientRateLimit", "frontDoorRateLimit"),
                          ("frontDoorClientBurstLimit", "frontDoorBurstLimit")):
        low, high = values.get(client), values.get(stage)
        if low is not None and high is not None and low > high:
            problems.append(f"{key}{client}: {low:g} is greater than {key}{stage} {high:g}; one "
                            "client cannot be allowed more than the whole stage")
    return problems


def _show(value: Any) -> str:
    """A parsed value as a problem quotes it: strings in quotes, booleans as config spells them."""
    if isinstance(value, str):
        return repr(value)
    return _as_text(value)


def _as_text(value: Any) -> str:
    """Render a value the way the Pulumi engine passes config to a program: strings as is, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def from_pulumi() -> StackConfig:
    """Read the running stack's whole config from the Pulumi runtime (real engine or mocks) and parse it."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_config(raw, pulumi.get_stack())


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.config --write-pulumi-yaml`` regenerates Pulumi.yaml's config block; ``--check`` compares."""
    return schema.cli(argv, KEYS, PROJECT_FILE, prog="python -m infra.config", description=main.__doc__)


if __name__ == "__main__":
    sys.exit(main())
