"""SageMaker rules: what makes an endpoint and a training pipeline production-grade, not only secure.

The resource rules read one endpoint configuration or pipeline definition. The stack rules follow an
endpoint to its configuration (``endpointConfigName``), its autoscaling targets (resource id
``endpoint/<name>/variant/<variant>``) and its CloudWatch alarms (``EndpointName`` dimension), because
"has alarms", "autoscales" and "rolls back on alarms that exist" are facts about several resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import (
    ADVISORY_IN_DEV,
    STAGING_AND_PROD,
    ResourceRule,
    StackRule,
    environment,
    message,
)
from policies.rules import links
from policies.rules.cloudwatch import METRIC_ALARM, alarm_metrics, report_alarm_gap
from policies.rules.props import UNKNOWN, get, is_false, items, missing, number
from standards import environments as envs

ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
SCALING_TARGET = "aws:appautoscaling/target:Target"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
LATENCY_METRICS = ("ModelLatency", "OverheadLatency")
ERROR_METRICS = ("Invocation5XXErrors",)
PENDING = "PendingManualApproval"
_RESOURCE_ID = re.compile(r"endpoint/(?P<endpoint>[^/]+)/variant/(?P<variant>[^/]+)")


def has_instance_storage(instance_type: str) -> bool:
    """Instance families with local NVMe storage (``d`` in the family, g5/g6/p5): SageMaker refuses a volume key.

    The same test as ``components.sagemaker_images.has_instance_storage`` (rules never import components;
    tests/policies keeps the two in step).
    """
    parts = instance_type.split(".")
    family = parts[1] if len(parts) > 1 else ""
    return bool(re.fullmatch(r"[a-z]+\d+[a-z]*d[a-z]*", family)) or family in ("g5", "g6", "p5")


def variants(config_props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Production and shadow variants of an endpoint configuration."""
    return [*items(get(config_props, "productionVariants")), *items(get(config_props, "shadowProductionVariants"))]


def instance_types(config_props: Mapping[str, Any]) -> list[str]:
    return [t for v in variants(config_props) if isinstance(t := get(v, "instanceType"), str)]


# --- endpoint configuration -------------------------------------------------------------------------

def _validate_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    types = instance_types(args.props)
    # One variant with local NVMe storage and SageMaker refuses any key for the whole configuration.
    needs_volume_key = bool(types) and not any(has_instance_storage(t) for t in types)
    if needs_volume_key and missing(get(args.props, "kmsKeyArn")):
        report(message(args.name, f"does not encrypt the ML storage volumes of {', '.join(sorted(set(types)))} "
                                  "with a customer key (no kms_key_arn)",
                       "the volumes hold the model artifact and any data the container writes; without a customer "
                       "key they are readable outside the lake key's policy",
                       "set kms_key_arn to the lake key (ServingEndpoint does for instance types without local NVMe "
                       "storage; with one, like ml.g5 or ml.m5d, SageMaker encrypts the disks in hardware and "
                       "refuses a key)"))
    capture = get(args.props, "dataCaptureConfig")
    if isinstance(capture, Mapping) and not is_false(get(capture, "enableCapture")) \
            and missing(get(capture, "kmsKeyId")):
        report(message(args.name, "captures requests and responses without a customer key (no kms_key_id)",
                       "captured payloads are production data, often personal; they belong under the lake key",
                       "set data_capture_config.kms_key_id to the lake key (ServingEndpoint does)"))
    async_config = get(args.props, "asyncInferenceConfig")
    if isinstance(async_config, Mapping) and missing(get(async_config, "outputConfig.kmsKeyId")):
        report(message(args.name, "writes asynchronous inference results without a customer key",
                       "async results are model outputs on production data",
                       "set async_inference_config.output_config.kms_key_id to the lake key"))


sagemaker_endpoint_config_encrypted = ResourceRule(
    "sagemaker-endpoint-config-encrypted",
    "Requires SageMaker endpoint configurations to encrypt ML storage volumes (where the instance type allows a "
    "key) and captured data with a customer-managed KMS key.",
    _validate_encryption,
    types=[ENDPOINT_CONFIG],
)


def _validate_capture(args: ResourceValidationArgs, report: ReportViolation) -> None:
    capture = get(args.props, "dataCaptureConfig")
    if capture is UNKNOWN:
        return
    percent = number(get(capture, "initialSamplingPercentage")) if capture is not None else None
    modes = {get(o, "captureMode") for o in items(get(capture, "captureOptions"))} if capture is not None else set()
    if capture is None:
        problem = "has no data capture"
    elif is_false(get(capture, "enableCapture")):
        problem = "turns data capture off"
    elif percent is not None and percent < 1:
        problem = f"captures {percent:g}% of requests"
    elif UNKNOWN not in modes and "Input" not in modes:
        problem = "does not capture request inputs"
    else:
        return
    report(message(args.name, problem,
                   f"{environment(args)} endpoints need captured inputs for the drift monitor: without them drift "
                   "goes unseen and retraining never starts",
                   "set prodline:dataCapturePercent to 1-100 (ServingEndpoint's data_capture_percent); it captures "
                   "inputs and outputs"))


sagemaker_data_capture_enabled = ResourceRule(
    "sagemaker-data-capture-enabled",
    "Requires staging and prod SageMaker endpoint configurations to capture request inputs for drift monitoring.",
    _validate_capture,
    types=[ENDPOINT_CONFIG],
    enforcement=STAGING_AND_PROD,
)


def _validate_serving_types(args: ResourceValidationArgs, report: ReportViolation) -> None:
    env = environment(args)
    allowed = envs.SERVING_INSTANCE_TYPES[env]
    for instance_type in instance_types(args.props):
        if instance_type not in allowed:
            report(message(args.name, f"serves on {instance_type}, which {env} does not allow",
                           "each environment's list (standards/environments.py) keeps its cost and capacity planned",
                           f"set prodline:servingInstanceType to one of {', '.join(allowed)}"))


sagemaker_endpoint_instance_type_allowed = ResourceRule(
    "sagemaker-endpoint-instance-type-allowed",
    "Requires SageMaker endpoint instance types to be in the environment's allowlist (standards/environments.py).",
    _validate_serving_types,
    types=[ENDPOINT_CONFIG],
)


# --- pipeline definition ----------------------------------------------------------------------------

def pipeline_definition(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pipeline definition as a mapping, from ``pipelineDefinition`` JSON text; None if unknown or absent."""
    text = get(props, "pipelineDefinition")
    if isinstance(text, Mapping):
        return text
    if not isinstance(text, str):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def steps(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every step, including those nested in a condition's IfSteps / ElseSteps."""
    pending = list(items(get(definition, "Steps")))
    while pending:
        step = pending.pop(0)
        yield step
        pending += [*items(get(step, "Arguments.IfSteps")), *items(get(step, "Arguments.ElseSteps"))]


def resolve(definition: Mapping[str, Any], value: Any) -> Any:
    """A literal, or the default of the parameter a ``{"Get": "Parameters.X"}`` names (None when it has none)."""
    reference = get(value, "Get") if isinstance(value, Mapping) else None
    if not (isinstance(reference, str) and reference.startswith("Parameters.")):
        return value
    name = reference.removeprefix("Parameters.")
    for parameter in items(get(definition, "Parameters")):
        if get(parameter, "Name") == name:
            return get(parameter, "DefaultValue")
    return None


@dataclass(frozen=True)
class JobPaths:
    """Where a pipeline step of one type keeps its output key, volume key and instance type."""

    output_key: str
    volume_key: str
    instance_type: str


JOBS = {
    "Training": JobPaths("Arguments.OutputDataConfig.KmsKeyId", "Arguments.ResourceConfig.VolumeKmsKeyId",
                         "Arguments.ResourceConfig.InstanceType"),
    "Processing": JobPaths("Arguments.ProcessingOutputConfig.KmsKeyId",
                           "Arguments.ProcessingResources.ClusterConfig.VolumeKmsKeyId",
                           "Arguments.ProcessingResources.ClusterConfig.InstanceType"),
}


def jobs(definition: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], str, JobPaths, Any]]:
    """(step, step type, its paths, its resolved instance type) for each training and processing step."""
    for step in steps(definition):
        paths = JOBS.get(get(step, "Type"))
        if paths is not None:
            yield step, get(step, "Type"), paths, resolve(definition, get(step, paths.instance_type))


def _with_definition(check):
    """A resource validation that parses the pipeline definition and hands it to ``check``."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        definition = pipeline_definition(args.props)
        if definition is not None:
            check(args, definition, report)

    return validate


def _check_training_types(args: ResourceValidationArgs, definition: Mapping[str, Any], report: ReportViolation):
    env = environment(args)
    allowed = envs.TRAINING_INSTANCE_TYPES[env]
    for step, kind, _, instance_type in jobs(definition):
        if kind == "Training" and isinstance(instance_type, str) and instance_type not in allowed:
            report(message(args.name, f"step {get(step, 'Name')} trains on {instance_type}, which {env} does not allow",
                           "each environment's list (standards/environments.py) keeps training cost planned; one "
                           "scheduled or drift-triggered run on a large type costs every time it runs",
                           f"set prodline:trainingInstanceType to one of {', '.join(allowed)}"))


sagemaker_training_instance_type_allowed = ResourceRule(
    "sagemaker-training-instance-type-allowed",
    "Requires training steps of SageMaker pipelines to use an instance type in the environment's allowlist.",
    _with_definition(_check_training_types),
    types=[PIPELINE],
)

def _check_job_encryption(args: ResourceValidationArgs, definition: Mapping[str, Any], report: ReportViolation):
    for step, _, paths, instance_type in jobs(definition):
        unencrypted = ["its output"] if missing(get(step, paths.output_key)) else []
        if missing(get(step, paths.volume_key)) and not (isinstance(instance_type, str)
                                                         and has_instance_storage(instance_type)):
            unencrypted.append("its storage volume")
        if unencrypted:
            report(message(args.name, f"step {get(step, 'Name')} does not encrypt {' or '.join(unencrypted)} "
                                      "with a customer key",
                           "training and evaluation jobs read the features and write the model; both are lake data",
                           f"set {paths.output_key.removeprefix('Arguments.')} and "
                           f"{paths.volume_key.removeprefix('Arguments.')} to the lake key "
                           "(components/pipeline_definition.py does)"))


sagemaker_pipeline_jobs_encrypted = ResourceRule(
    "sagemaker-pipeline-jobs-encrypted",
    "Requires training and processing steps of SageMaker pipelines to encrypt their output and storage volumes "
    "with a customer-managed KMS key.",
    _with_definition(_check_job_encryption),
    types=[PIPELINE],
)


def _check_approval(args: ResourceValidationArgs, definition: Mapping[str, Any], report: ReportViolation):
    for step in steps(definition):
        if get(step, "Type") != "RegisterModel":
            continue
        declared = get(step, "Arguments.ModelApprovalStatus")
        status = resolve(definition, declared)
        if declared is None or status == PENDING:
            continue  # unset: SageMaker registers versioned packages as PendingManualApproval
        wrong = (f"step {get(step, 'Name')} registers models as {status!r}" if status is not None else
                 f"step {get(step, 'Name')} takes ModelApprovalStatus from a parameter with no default")
        report(message(args.name, wrong,
                       f"in {environment(args)} a person must approve each model version before the deploy path "
                       "rolls it out; an approved registration deploys an unreviewed model",
                       f"set prodline:modelApprovalStatus to {PENDING} (TrainingPipeline's approval_status; "
                       "Approved is for dev only)"))


sagemaker_model_approval_manual = ResourceRule(
    "sagemaker-model-approval-manual",
    "Requires SageMaker pipelines in staging and prod to register models as PendingManualApproval.",
    _with_definition(_check_approval),
    types=[PIPELINE],
    enforcement=STAGING_AND_PROD,
)


# --- endpoints across the stack ---------------------------------------------------------------------

def endpoint_variants(stack: StackValidationArgs, endpoint: PolicyResource) -> list[Mapping[str, Any]] | None:
    """Variants of the configuration an endpoint serves; None when the configuration is not in the stack."""
    configs = [c for c in links.of_type(stack.resources, ENDPOINT_CONFIG)
               if links.refers_to(endpoint, "endpointConfigName", c)]
    return [v for c in configs for v in variants(c.props)] if configs else None


def _targets(stack: StackValidationArgs, endpoint: PolicyResource, variant: Any) -> list[PolicyResource]:
    """Autoscaling targets of one variant of an endpoint (any variant when the name is not known)."""
    found = []
    for target in links.of_type(stack.resources, SCALING_TARGET):
        if get(target.props, "scalableDimension") not in (VARIANT_DIMENSION, UNKNOWN):
            continue
        resource_id = get(target.props, "resourceId")
        parsed = _RESOURCE_ID.fullmatch(resource_id) if isinstance(resource_id, str) else None
        if parsed:
            same = links.refers_to(target, "resourceId", endpoint, [parsed["endpoint"]])
            if same and (not isinstance(variant, str) or parsed["variant"] == variant):
                found.append(target)
        elif resource_id is UNKNOWN and links.refers_to(target, "resourceId", endpoint, []):
            found.append(target)
    return found


def _endpoint_scaling(args: StackValidationArgs, report: ReportViolation) -> None:
    env = environment(args)
    floor = envs.MIN_SERVING_CAPACITY[env]
    fix = f"set prodline:servingMinCapacity to at least {floor} (ServingEndpoint's min_capacity)"
    for endpoint in links.of_type(args.resources, ENDPOINT):
        for variant in endpoint_variants(args, endpoint) or [{}]:
            name = get(variant, "variantName")
            where = f"variant {name}" if isinstance(name, str) else "its variant"
            if get(variant, "serverlessConfig") is not None:
                if floor > 1:
                    report(message(endpoint.name, f"{where} is serverless, with no instance floor",
                                   f"{env} needs at least {floor} instances across availability zones",
                                   "set prodline:servingServerless=false"), endpoint.urn)
                continue
            targets = _targets(args, endpoint, name)
            initial = number(get(variant, "initialInstanceCount"))
            if not targets:
                report(message(endpoint.name, f"{where} has no autoscaling target",
                               "without one the endpoint keeps its initial instance count through any traffic spike, "
                               "and nothing restores capacity after an instance is replaced",
                               "declare aws.appautoscaling.Target for endpoint/<name>/variant/<variant> "
                               "(ServingEndpoint does for instance endpoints)"), endpoint.urn)
            for target in targets:
                low = number(get(target.props, "minCapacity"))
                if low is not None and low < floor:
                    report(message(endpoint.name, f"{where} may scale in to {low:g} instance(s) ({target.name})",
                                   f"{env} needs at least {floor} so the endpoint survives the loss of an availability "
                                   "zone", fix), endpoint.urn)
            if initial is not None and initial < floor:
                report(message(endpoint.name, f"{where} starts with {initial:g} instance(s)",
                               f"{env} needs at least {floor} from the first deploy, before autoscaling acts", fix),
                       endpoint.urn)


sagemaker_endpoint_autoscaling = StackRule(
    "sagemaker-endpoint-autoscaling",
    "Requires every instance-backed SageMaker endpoint variant to have an autoscaling target whose minimum meets "
    "the environment's floor (2 in prod).",
    _endpoint_scaling,
)


def endpoint_alarms(stack: StackValidationArgs, endpoint: PolicyResource, metric_names: tuple[str, ...],
                    namespace: str = SAGEMAKER_NAMESPACE):
    """Alarms on one of the metrics of ``namespace`` for this endpoint (its ``EndpointName`` dimension names it).

    A namespace or metric name not known yet (preview) may be the one; an unknown endpoint dimension
    counts when it comes from the endpoint (a property dependency).
    """
    found = []
    for alarm in links.of_type(stack.resources, METRIC_ALARM):
        for key, watched, metric, dimensions in alarm_metrics(alarm):
            if watched not in (namespace, UNKNOWN) or metric not in (*metric_names, UNKNOWN):
                continue
            named = get(dimensions, "EndpointName") if isinstance(dimensions, Mapping) else dimensions
            if named is not None and links.refers_to(alarm, key, endpoint, [named] if isinstance(named, str) else []):
                found.append(alarm)
                break
    return found


def _endpoint_alarms(args: StackValidationArgs, report: ReportViolation) -> None:
    for endpoint in links.of_type(args.resources, ENDPOINT):
        for kind, metrics, key in (("latency", LATENCY_METRICS, "prodline:alarmLatencyP99Ms"),
                                   ("5xx error", ERROR_METRICS, "prodline:alarm5xxThreshold")):
            report_alarm_gap(report, endpoint, kind, endpoint_alarms(args, endpoint, metrics), (
                f"has no {kind} alarm ({' or '.join(metrics)})",
                "a slow or failing endpoint would go unnoticed, and a canary would have nothing to roll back on",
                f"watch it with Observability (a WatchedEndpoint with its name; threshold {key})"))


sagemaker_endpoint_alarms = StackRule(
    "sagemaker-endpoint-alarms",
    "Requires every SageMaker endpoint to have a latency alarm and a 5xx alarm, each with alarm actions.",
    _endpoint_alarms,
    enforcement=ADVISORY_IN_DEV,
)


def _blue_green(args: StackValidationArgs, report: ReportViolation) -> None:
    alarms = links.of_type(args.resources, METRIC_ALARM)
    fix = ("deploy through ServingEndpoint: a blue/green canary (prodline:canaryPercent, prodline:canaryBakeSeconds) "
           "that rolls back on the alarms Observability declares (rollback_alarm_names)")
    for endpoint in links.of_type(args.resources, ENDPOINT):
        config = get(endpoint.props, "deploymentConfig")
        if config is UNKNOWN:
            continue
        routing = get(config, "blueGreenUpdatePolicy.trafficRoutingConfiguration") if config is not None else None
        named = items(get(config, "autoRollbackConfiguration.alarms")) if config is not None else []
        if routing is None:
            report(message(endpoint.name, "has no blue/green deployment configuration",
                           "a new model version would replace the old fleet at once, with no bake time and no way "
                           "back but another deploy", fix), endpoint.urn)
        if not named:
            report(message(endpoint.name, "has no auto-rollback alarms",
                           "a bad model version would keep serving until someone notices and redeploys", fix),
                   endpoint.urn)
        for entry in named:
            name = get(entry, "alarmName")
            if not _alarm_exists(endpoint, name, alarms):
                report(message(endpoint.name, f"rolls back on alarm {name!r}, which is not in the stack",
                               "SageMaker cannot watch an alarm that does not exist, so the rollback never triggers",
                               fix), endpoint.urn)


def _alarm_exists(endpoint: PolicyResource, name: Any, alarms: list[PolicyResource]) -> bool:
    """A rollback alarm named by value, or (its name unknown in preview) one the configuration depends on."""
    if isinstance(name, str):
        return any(name in links.identities(a) for a in alarms)
    return any(links.refers_to(endpoint, "deploymentConfig", a, []) for a in alarms)


sagemaker_endpoint_blue_green_rollback = StackRule(
    "sagemaker-endpoint-blue-green-rollback",
    "Requires SageMaker endpoints to deploy blue/green with auto-rollback on CloudWatch alarms that exist in the "
    "stack (mandatory in staging and prod).",
    _blue_green,
    enforcement=ADVISORY_IN_DEV,
)

RULES = (sagemaker_endpoint_config_encrypted, sagemaker_data_capture_enabled, sagemaker_endpoint_instance_type_allowed,
         sagemaker_training_instance_type_allowed, sagemaker_pipeline_jobs_encrypted, sagemaker_model_approval_manual,
         sagemaker_endpoint_autoscaling, sagemaker_endpoint_alarms, sagemaker_endpoint_blue_green_rollback)
