"""Stack config -> frozen, validated dataclasses. The only module that reads Pulumi config.

Every value arrives as the string the Pulumi engine hands the program (project defaults from
``Pulumi.yaml`` merged under the stack file). All problems are collected and reported together, each
naming the key, the bad value and what is allowed, before a single resource is declared.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra import environments as envs

NAMESPACE = "prodline"
PROJECT = "prodline"


class ConfigError(ValueError):
    """Raised with every config problem of a stack, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))


class _Invalid(ValueError):
    """A parser's complaint: the text says what is allowed."""


# --- parsers: str -> value, or _Invalid naming what is allowed -------------------------------------

def _integer(lo: int, hi: int | None = None) -> Callable[[str], int]:
    allowed = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _Invalid(allowed) from None
        if value < lo or (hi is not None and value > hi):
            raise _Invalid(allowed)
        return value

    return parse


def _decimal(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    allowed = f"a number {'>' if lo_open else '>='} {lo} and <= {hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _Invalid(allowed) from None
        if math.isnan(value) or value > hi or value < lo or (lo_open and value == lo):
            raise _Invalid(allowed)
        return value

    return parse


def _choice(values: tuple[Any, ...], convert: Callable[[str], Any] = str) -> Callable[[str], Any]:
    allowed = "one of " + ", ".join(str(v) for v in values)

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise _Invalid(allowed) from None
        if value not in values:
            raise _Invalid(allowed)
        return value

    return parse


def _pattern(regex: str, allowed: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        if not compiled.fullmatch(text):
            raise _Invalid(allowed)
        return text

    return parse


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise _Invalid("true or false")


# AWS tag values: letters, digits, spaces and + - = . _ : / @, at most 256 characters.
_tag_value = _pattern(r"[\w .:/=+@-]{1,256}", "1-256 characters of letters, digits, spaces and + - = . _ : / @")
_email = _pattern(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                  "an e-mail address like team@example.com")
# EventBridge / Glue schedule expressions: cron with six fields, or rate(N unit).
_schedule = _pattern(
    r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)|rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)",
    "cron(min hour day-of-month month day-of-week year) or rate(N minutes|hours|days)",
)
_instance_type = _pattern(r"ml\.[a-z0-9]+\.[a-z0-9]+", "a SageMaker instance type like ml.m5.large")
_optional = lambda parse: lambda text: "" if text == "" else parse(text)  # noqa: E731 - a tiny combinator
_dns_label = _pattern(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a DNS label: lowercase letters, digits and -")
_image_tag = _pattern(r"(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "an image tag other than latest, e.g. 0.1.0")
_model_package = _pattern(
    r"latest|none|arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+(/\d+)?",
    "latest (the newest approved package in the group), none (declare no endpoint yet) or a model package ARN",
)


@dataclass(frozen=True)
class Key:
    """One config key: its Pulumi.yaml type, how to parse it, and what it means."""

    name: str
    kind: str  # the Pulumi.yaml schema type: string | integer | boolean
    parse: Callable[[str], Any]
    description: str
    required: bool = False


KEYS: dict[str, Key] = {k.name: k for k in (
    Key("environment", "string", _choice(envs.ENVIRONMENTS), "Environment this stack is: dev, staging or prod.",
        required=True),
    Key("owner", "string", _tag_value, "Team that owns the stack; becomes the `owner` tag.", required=True),
    Key("costCenter", "string", _tag_value, "Cost center billed; becomes the `cost-center` tag.", required=True),
    Key("alertEmail", "string", _email, "E-mail address subscribed to the stack's alerts.", required=True),
    Key("lakeRetentionDays", "integer", _integer(1),
        "Days a superseded (noncurrent) object version is kept in the lake before it expires."),
    Key("lakeRawTransitionDays", "integer", _integer(30),
        "Days after which raw-zone objects move to STANDARD_IA (S3 requires at least 30)."),
    Key("logRetentionDays", "integer", _choice(envs.LOG_RETENTION_DAYS, int),
        "Retention of every CloudWatch log group, in days (a value CloudWatch Logs accepts)."),
    Key("etlJobType", "string", _choice(envs.GLUE_JOB_TYPES),
        "Glue job type: pythonshell (pandas, small data) or glueetl (Spark, data that outgrows one machine)."),
    Key("etlSchedule", "string", _schedule, "When the ETL runs: a Glue/EventBridge cron() or rate() expression."),
    Key("etlWorkerType", "string", _choice(envs.GLUE_WORKER_TYPES), "Glue Spark worker type (glueetl only)."),
    Key("etlNumberOfWorkers", "integer", _integer(2, 100), "Glue Spark worker count (glueetl only)."),
    Key("etlTimeoutMinutes", "integer", _integer(1, 2880), "Minutes after which a Glue job run is stopped."),
    Key("etlMaxRetries", "integer", _integer(0, 3), "Times Glue retries a failed job run."),
    Key("trainingInstanceType", "string", _instance_type,
        "SageMaker training instance type; each environment allows its own list."),
    Key("trainingQualityThreshold", "string", _decimal(0.0, 1.0, lo_open=True),
        "Least validation AUC a trained model needs to be registered (0 < x <= 1)."),
    Key("trainingSchedule", "string", _schedule, "When the training pipeline runs: an EventBridge cron() or rate()."),
    Key("modelApprovalStatus", "string", _choice(envs.MODEL_APPROVAL_STATUSES),
        "Status a newly registered model gets; Approved (auto-deploy) is allowed in dev only."),
    Key("modelPackageArn", "string", _model_package,
        "Model version to serve: latest approved in the group, none, or an explicit model package ARN."),
    Key("servingInstanceType", "string", _instance_type,
        "SageMaker endpoint instance type; each environment allows its own list."),
    Key("servingMinCapacity", "integer", _integer(1), "Fewest endpoint instances (prod needs at least 2)."),
    Key("servingMaxCapacity", "integer", _integer(1), "Most endpoint instances autoscaling may reach."),
    Key("servingServerless", "boolean", _boolean,
        "Serve from a serverless endpoint (scales to zero; no data capture) instead of instances; dev only."),
    Key("servingTargetInvocations", "integer", _integer(1, 100000),
        "Invocations per instance per minute that target-tracking autoscaling aims for."),
    Key("servingScaleInCooldownSeconds", "integer", _integer(0, 3600),
        "Seconds autoscaling waits after a scale-in before scaling in again."),
    Key("dataCapturePercent", "integer", _integer(0, 100),
        "Share of requests and responses captured to the lake for drift monitoring (staging/prod need > 0)."),
    Key("canaryPercent", "integer", _integer(1, 50), "Share of traffic a new model version gets during its canary."),
    Key("canaryBakeSeconds", "integer", _integer(60, 3600),
        "Seconds a canary serves its share, watched by the rollback alarms, before the rest of the traffic moves."),
    Key("servingImageSource", "string", _choice(envs.SERVING_IMAGE_SOURCES),
        "Image a SageMaker endpoint runs: framework (SageMaker's scikit-learn container) or project (this "
        "project's image from the stack's ECR repository, at servingImageTag)."),
    Key("servingPlatform", "string", _choice(envs.SERVING_PLATFORMS),
        "Where the model is served: sagemaker (endpoints) or kubernetes (the same image on a cluster)."),
    Key("eksClusterName", "string", _optional(_pattern(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}", "an EKS cluster name")),
        "Existing EKS cluster to serve on when servingPlatform is kubernetes (or give kubeconfig)."),
    Key("kubeconfig", "string", lambda text: text,
        "Kubeconfig of a non-EKS cluster (set it as a secret); needs k8sOidcIssuerUrl for pod IAM roles."),
    Key("k8sOidcIssuerUrl", "string", _optional(_pattern(r"https://\S+", "an https:// URL")),
        "OIDC issuer of the cluster given by kubeconfig (for IAM roles for service accounts)."),
    Key("servingImageTag", "string", _image_tag, "Tag of the serving image in the stack's ECR repository."),
    Key("k8sCanaryImageTag", "string", _optional(_image_tag),
        "Image tag of a canary Deployment that gets canaryPercent of the traffic (needs k8sIngressHost)."),
    Key("k8sNamespace", "string", _dns_label, "Namespace of the serving objects."),
    Key("k8sIngressNamespace", "string", _dns_label, "Namespace of the ingress controller: the only allowed caller."),
    Key("k8sIngressHost", "string", _optional(_pattern(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}",
                                                       "a DNS name like churn.example.com")),
        "Host name of the serving Ingress (empty: no Ingress)."),
    Key("k8sMinReplicas", "integer", _integer(1), "Fewest serving pods (prod needs at least 2)."),
    Key("k8sMaxReplicas", "integer", _integer(1), "Most serving pods the HorizontalPodAutoscaler may reach."),
    Key("k8sCpuTargetPercent", "integer", _integer(1, 100), "CPU utilization the HorizontalPodAutoscaler aims for."),
    Key("k8sRequestsPerSecondTarget", "integer", _integer(0),
        "Requests per second per pod to scale on (needs a metrics adapter); 0 scales on CPU only."),
    Key("alarmLatencyP99Ms", "integer", _integer(1, 60000),
        "p99 model latency, in ms, above which the latency alarm fires."),
    Key("alarm5xxThreshold", "integer", _integer(1), "5xx errors per minute at or above which the error alarm fires."),
    Key("alarmInvocationsFloor", "integer", _integer(0),
        "Fewest invocations per 5 minutes before the traffic-floor alarm fires; 0 turns it off (prod needs >= 1)."),
    Key("alarm4xxRatePercent", "string", _decimal(0.0, 100.0, lo_open=True),
        "Share of requests answered 4xx, in percent, above which the client-error alarm fires."),
    Key("driftThreshold", "string", _decimal(0.0, 10.0, lo_open=True),
        "Population stability index above which the drift alarm fires (0.2 is a common choice)."),
)}

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")


# --- typed settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ownership:
    owner: str
    cost_center: str
    environment: str
    project: str = PROJECT

    def tags(self) -> dict[str, str]:
        """The five tags every taggable resource carries."""
        return {
            "owner": self.owner,
            "cost-center": self.cost_center,
            "environment": self.environment,
            "project": self.project,
            "managed-by": "pulumi",
        }


@dataclass(frozen=True)
class LakeSettings:
    retention_days: int
    raw_transition_days: int
    log_retention_days: int


@dataclass(frozen=True)
class EtlSettings:
    job_type: str
    schedule: str
    worker_type: str
    number_of_workers: int
    timeout_minutes: int
    max_retries: int


@dataclass(frozen=True)
class TrainingSettings:
    instance_type: str
    quality_threshold: float
    schedule: str
    approval_status: str


@dataclass(frozen=True)
class ServingSettings:
    instance_type: str
    min_capacity: int
    max_capacity: int
    canary_percent: int
    canary_bake_seconds: int
    serverless: bool
    target_invocations: int
    scale_in_cooldown_seconds: int
    data_capture_percent: int
    model_package: str
    """'latest', 'none' or a model package ARN."""
    platform: str
    image_source: str


@dataclass(frozen=True)
class KubernetesSettings:
    eks_cluster_name: str
    kubeconfig: str
    oidc_issuer_url: str
    image_tag: str
    canary_image_tag: str
    namespace: str
    ingress_namespace: str
    ingress_host: str
    min_replicas: int
    max_replicas: int
    cpu_target_percent: int
    requests_per_second_target: int


@dataclass(frozen=True)
class AlarmSettings:
    latency_p99_ms: int
    errors_5xx: int
    rate_4xx_percent: float
    drift_threshold: float
    alert_email: str
    invocations_floor: int


@dataclass(frozen=True)
class StackConfig:
    stack: str
    environment: str
    region: str
    ownership: Ownership
    lake: LakeSettings
    etl: EtlSettings
    training: TrainingSettings
    serving: ServingSettings
    kubernetes: KubernetesSettings
    alarms: AlarmSettings

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


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
        except _Invalid as err:
            problems.append(f"{full_key}: {text!r} is not allowed; expected {err}")

    region = _as_text(raw.get("aws:region", ""))
    if not _REGION.fullmatch(region):
        problems.append(f"aws:region: {region!r} is not allowed; expected an AWS region like eu-west-1")

    problems.extend(_cross_checks(values))
    if problems:
        raise ConfigError(problems)

    env = values["environment"]
    return StackConfig(
        stack=stack,
        environment=env,
        region=region,
        ownership=Ownership(owner=values["owner"], cost_center=values["costCenter"], environment=env),
        lake=LakeSettings(
            retention_days=values["lakeRetentionDays"],
            raw_transition_days=values["lakeRawTransitionDays"],
            log_retention_days=values["logRetentionDays"],
        ),
        etl=EtlSettings(
            job_type=values["etlJobType"],
            schedule=values["etlSchedule"],
            worker_type=values["etlWorkerType"],
            number_of_workers=values["etlNumberOfWorkers"],
            timeout_minutes=values["etlTimeoutMinutes"],
            max_retries=values["etlMaxRetries"],
        ),
        training=TrainingSettings(
            instance_type=values["trainingInstanceType"],
            quality_threshold=values["trainingQualityThreshold"],
            schedule=values["trainingSchedule"],
            approval_status=values["modelApprovalStatus"],
        ),
        serving=ServingSettings(
            instance_type=values["servingInstanceType"],
            min_capacity=values["servingMinCapacity"],
            max_capacity=values["servingMaxCapacity"],
            canary_percent=values["canaryPercent"],
            canary_bake_seconds=values["canaryBakeSeconds"],
            serverless=values["servingServerless"],
            target_invocations=values["servingTargetInvocations"],
            scale_in_cooldown_seconds=values["servingScaleInCooldownSeconds"],
            data_capture_percent=values["dataCapturePercent"],
            model_package=values["modelPackageArn"],
            platform=values["servingPlatform"],
            image_source=values["servingImageSource"],
        ),
        kubernetes=KubernetesSettings(
            eks_cluster_name=values["eksClusterName"],
            kubeconfig=values["kubeconfig"],
            oidc_issuer_url=values["k8sOidcIssuerUrl"],
            image_tag=values["servingImageTag"],
            canary_image_tag=values["k8sCanaryImageTag"],
            namespace=values["k8sNamespace"],
            ingress_namespace=values["k8sIngressNamespace"],
            ingress_host=values["k8sIngressHost"],
            min_replicas=values["k8sMinReplicas"],
            max_replicas=values["k8sMaxReplicas"],
            cpu_target_percent=values["k8sCpuTargetPercent"],
            requests_per_second_target=values["k8sRequestsPerSecondTarget"],
        ),
        alarms=AlarmSettings(
            latency_p99_ms=values["alarmLatencyP99Ms"],
            errors_5xx=values["alarm5xxThreshold"],
            rate_4xx_percent=values["alarm4xxRatePercent"],
            drift_threshold=values["driftThreshold"],
            alert_email=values["alertEmail"],
            invocations_floor=values["alarmInvocationsFloor"],
        ),
    )


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    """Rules that relate keys to each other or to the environment; run only on keys that parsed."""
    env = values.get("environment")
    if env is None:
        return []
    problems = []
    for key, table in (("trainingInstanceType", envs.TRAINING_INSTANCE_TYPES),
                       ("servingInstanceType", envs.SERVING_INSTANCE_TYPES)):
        value = values.get(key)
        if value is not None and value not in table[env]:
            problems.append(f"{NAMESPACE}:{key}: {value!r} is not allowed in {env}; allowed: {', '.join(table[env])}")

    low, high = values.get("servingMinCapacity"), values.get("servingMaxCapacity")
    if low is not None and low < envs.MIN_SERVING_CAPACITY[env]:
        problems.append(f"{NAMESPACE}:servingMinCapacity: {low} is not allowed in {env}; it needs at least "
                        f"{envs.MIN_SERVING_CAPACITY[env]} so the endpoint survives the loss of an availability zone")
    if high is not None and high > envs.MAX_SERVING_CAPACITY[env]:
        problems.append(f"{NAMESPACE}:servingMaxCapacity: {high} is not allowed in {env}; "
                        f"at most {envs.MAX_SERVING_CAPACITY[env]} (cost cap)")
    if values.get("modelApprovalStatus") == "Approved" and env != "dev":
        problems.append(f"{NAMESPACE}:modelApprovalStatus: 'Approved' is not allowed in {env}; new models must "
                        "wait for a person's approval there (PendingManualApproval)")
    if values.get("servingServerless") and env != "dev":
        problems.append(f"{NAMESPACE}:servingServerless: true is not allowed in {env}; serverless endpoints have no "
                        "data capture and no instance floor, so only dev may use them")
    capture = values.get("dataCapturePercent")
    if values.get("servingServerless") and capture:
        problems.append(f"{NAMESPACE}:dataCapturePercent: {capture} is not allowed with servingServerless=true; "
                        "serverless endpoints cannot capture data, set it to 0")
    if capture is not None and capture < 1 and env != "dev":
        problems.append(f"{NAMESPACE}:dataCapturePercent: {capture} is not allowed in {env}; at least 1, "
                        "or drift goes unseen")
    floor = values.get("alarmInvocationsFloor")
    if floor is not None and floor < 1 and env == "prod":
        problems.append(f"{NAMESPACE}:alarmInvocationsFloor: {floor} is not allowed in prod; at least 1, "
                        "so a silent endpoint pages someone")
    problems.extend(_kubernetes_checks(values, env))
    if low is not None and high is not None and low > high:
        problems.append(f"{NAMESPACE}:servingMinCapacity: {low} is greater than "
                        f"{NAMESPACE}:servingMaxCapacity {high}; min must be <= max")
    return problems


def _kubernetes_checks(values: Mapping[str, Any], env: str) -> list[str]:
    """Kubernetes serving needs a cluster, and the same replica floor and cap as SageMaker capacity."""
    if values.get("servingPlatform") != "kubernetes":
        return []
    problems = []
    key = f"{NAMESPACE}:"
    if bool(values.get("eksClusterName")) == bool(values.get("kubeconfig")):
        problems.append(f"{key}eksClusterName / {key}kubeconfig: give exactly one when servingPlatform is kubernetes")
    if values.get("kubeconfig") and not values.get("k8sOidcIssuerUrl"):
        problems.append(f"{key}k8sOidcIssuerUrl: missing; a kubeconfig cluster needs its OIDC issuer for pod IAM roles")
    if values.get("k8sCanaryImageTag") and not values.get("k8sIngressHost"):
        problems.append(f"{key}k8sCanaryImageTag: a canary needs {key}k8sIngressHost to split traffic at the ingress")
    if values.get("k8sNamespace") and values.get("k8sNamespace") == values.get("k8sIngressNamespace"):
        problems.append(f"{key}k8sIngressNamespace: must differ from {key}k8sNamespace")
    low, high = values.get("k8sMinReplicas"), values.get("k8sMaxReplicas")
    if low is not None and low < envs.MIN_SERVING_CAPACITY[env]:
        problems.append(f"{key}k8sMinReplicas: {low} is not allowed in {env}; it needs at least "
                        f"{envs.MIN_SERVING_CAPACITY[env]}")
    if high is not None and high > envs.MAX_SERVING_CAPACITY[env]:
        problems.append(f"{key}k8sMaxReplicas: {high} is not allowed in {env}; "
                        f"at most {envs.MAX_SERVING_CAPACITY[env]}")
    if low is not None and high is not None and low > high:
        problems.append(f"{key}k8sMinReplicas: {low} is greater than {key}k8sMaxReplicas {high}")
    return problems


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
