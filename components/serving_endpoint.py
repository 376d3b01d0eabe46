"""A SageMaker real-time endpoint: model, data capture, canary deploys with rollback, autoscaling.

Update and delete order (a known pain with SageMaker in IaC), and how this component avoids it:
- The endpoint configuration is autonamed, so a new model version creates a *new* configuration first,
  the endpoint moves to it through the blue/green canary, and only then is the old one deleted.
- The variant name is fixed, and the endpoint name is explicit, so the autoscaling target's resource id
  (``endpoint/<name>/variant/<variant>``) survives a model update and needs no replacement.
- The scalable target depends on the endpoint and the endpoint never on the target: ``pulumi up``
  registers it only once the variant exists (registering a target for a missing variant is a
  validation error), and ``pulumi destroy`` deregisters autoscaling before it deletes the endpoint,
  so no scaling activity races the deletion and no orphaned target outlives the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.data_lake import LakeRefs
from components.sagemaker_images import ecr_repository_arn, has_instance_storage

MODEL_VERSION_ENV = "PRODLINE_MODEL_VERSION"
"""The serving container's setting (workloads/serving/settings.py reads the same name)."""
DEFAULT_VARIANT = "primary"
CAPTURE_PREFIX = "capture/"
SERVERLESS_MEMORY_MB = 2048
SERVERLESS_MAX_CONCURRENCY = 5
# Old fleet kept this long after a completed deployment, so a late alarm can still roll back fast.
TERMINATION_WAIT_SECONDS = 300


class ServingEndpointArgs(TypedDict):
    endpoint_name: str
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    image_uri: pulumi.Input[str]
    """Serving container image (pull permission is scoped to its repository)."""
    model_artifact_prefixes: Sequence[str]
    """Artifacts-zone prefixes the model may read (model.tar.gz, code bundle)."""
    model_version: NotRequired[str]
    """The model package version served: the container's ``PRODLINE_MODEL_VERSION``, which its JSON answers carry
    into data capture, so model quality is measured per version."""
    instance_type: str
    min_capacity: int
    max_capacity: int
    data_capture_percent: int
    canary_percent: int
    canary_bake_seconds: int
    rollback_alarm_names: Sequence[pulumi.Input[str]]
    """Alarms that roll a deployment back; they must exist in the stack."""
    target_invocations: int
    scale_in_cooldown_seconds: int
    model_package_arn: NotRequired[pulumi.Input[str]]
    """Serve a registered model version (the usual path) ..."""
    model_data_url: NotRequired[pulumi.Input[str]]
    """... or a model.tar.gz with image_uri directly."""
    serverless: NotRequired[bool]
    variant_name: NotRequired[str]
    image_repository_arn: NotRequired[pulumi.Input[str]]
    """ECR repository of image_uri when the URI is not known yet (the stack's own image repository)."""


def serving_settings(args: ServingEndpointArgs) -> ServingEndpointArgs:
    """Validate args; raise ValueError naming the field and what is allowed."""
    if ("model_package_arn" in args) == ("model_data_url" in args):
        raise ValueError("give exactly one of model_package_arn or model_data_url")
    if args["min_capacity"] < 1:
        raise ValueError(f"min_capacity must be >= 1, got {args['min_capacity']}")
    if args["min_capacity"] > args["max_capacity"]:
        raise ValueError(f"min_capacity {args['min_capacity']} must be <= max_capacity {args['max_capacity']}")
    if not 1 <= args["canary_percent"] <= 50:
        raise ValueError(f"canary_percent must be from 1 to 50, got {args['canary_percent']}")
    if not 0 <= args["data_capture_percent"] <= 100:
        raise ValueError(f"data_capture_percent must be from 0 to 100, got {args['data_capture_percent']}")
    if args.get("serverless") and args["data_capture_percent"] > 0:
        raise ValueError("data_capture_percent must be 0 for a serverless endpoint: SageMaker cannot capture there")
    if not args["rollback_alarm_names"]:
        raise ValueError("rollback_alarm_names must name at least one alarm: a canary needs something to watch")
    return args


class ServingEndpoint(pulumi.ComponentResource):
    """Model -> endpoint configuration (capture, KMS) -> endpoint (canary, rollback) -> autoscaling."""

    endpoint_name: pulumi.Output[str]
    variant_name: str

    def __init__(self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:serving:ServingEndpoint", name, None, opts)
        args = serving_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        serverless = args.get("serverless", False)
        self.variant_name = args.get("variant_name", DEFAULT_VARIANT)

        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=docs.sagemaker_trust(args["region"], args["account_id"]),
            description=f"SageMaker endpoint {args['endpoint_name']}: read its model, write its capture", opts=child)
        aws.iam.RolePolicy(f"{name}-role-policy", role=self.role.id,
                           policy=docs.document(serving_statements(args)), opts=child)

        container = ({"model_package_name": args["model_package_arn"]} if "model_package_arn" in args
                     else {"image": args["image_uri"], "model_data_url": args["model_data_url"]})
        if args.get("model_version"):
            container["environment"] = {MODEL_VERSION_ENV: args["model_version"]}
        self.model = aws.sagemaker.Model(f"{name}-model", execution_role_arn=self.role.arn,
                                         primary_container=container, opts=child)

        variant: dict = {"variant_name": self.variant_name, "model_name": self.model.name}
        config_kwargs: dict = {}
        if serverless:
            variant["serverless_config"] = {"max_concurrency": SERVERLESS_MAX_CONCURRENCY,
                                            "memory_size_in_mb": SERVERLESS_MEMORY_MB}
        else:
            variant.update(initial_instance_count=args["min_capacity"], instance_type=args["instance_type"],
                           initial_variant_weight=1.0)
            if not has_instance_storage(args["instance_type"]):
                config_kwargs["kms_key_arn"] = lake.key_arn
        if args["data_capture_percent"] > 0:
            config_kwargs["data_capture_config"] = {
                "enable_capture": True,
                "initial_sampling_percentage": args["data_capture_percent"],
                "destination_s3_uri": pulumi.Output.concat("s3://", lake.bucket_names["raw"], "/", CAPTURE_PREFIX),
                "kms_key_id": lake.key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {"csv_content_types": ["text/csv"],
                                                "json_content_types": ["application/json"]},
            }
        self.endpoint_config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config", production_variants=[variant], **config_kwargs, opts=child)

        bake = args["canary_bake_seconds"]
        routing = ({"type": "ALL_AT_ONCE", "wait_interval_in_seconds": bake} if serverless else
                   {"type": "CANARY", "wait_interval_in_seconds": bake,
                    "canary_size": {"type": "CAPACITY_PERCENT", "value": args["canary_percent"]}})
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args["endpoint_name"],
            endpoint_config_name=self.endpoint_config.name,
            deployment_config={
                "blue_green_update_policy": {
                    "traffic_routing_configuration": routing,
                    "termination_wait_in_seconds": TERMINATION_WAIT_SECONDS,
                    "maximum_execution_timeout_in_seconds": max(1800, 2 * bake + 1200),
                },
                "auto_rollback_configuration": {
                    "alarms": [{"alarm_name": alarm} for alarm in args["rollback_alarm_names"]]},
            },
            opts=child)

        self.scaling_target = None
        if not serverless:  # serverless endpoints scale themselves, down to zero
            resource_id = f"endpoint/{args['endpoint_name']}/variant/{self.variant_name}"
            self.scaling_target = aws.appautoscaling.Target(
                f"{name}-scaling-target",
                service_namespace="sagemaker",
                resource_id=resource_id,
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=args["min_capacity"],
                max_capacity=args["max_capacity"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.endpoint]))
            aws.appautoscaling.Policy(
                f"{name}-scaling-policy",
                policy_type="TargetTrackingScaling",
                service_namespace=self.scaling_target.service_namespace,
                resource_id=self.scaling_target.resource_id,
                scalable_dimension=self.scaling_target.scalable_dimension,
                target_tracking_scaling_policy_configuration={
                    "predefined_metric_specification": {
                        "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"},
                    "target_value": float(args["target_invocations"]),
                    "scale_in_cooldown": args["scale_in_cooldown_seconds"],
                    "scale_out_cooldown": 60,
                },
                opts=child)

        self.endpoint_name = self.endpoint.name
        self.register_outputs({"endpoint_name": self.endpoint_name, "model_name": self.model.name})


def serving_statements(args: ServingEndpointArgs) -> list[dict]:
    """Read the model and its code, write data capture for this endpoint only, pull its image, log."""
    lake = args["lake"]
    artifacts_arn, raw_arn = lake.bucket_arns["artifacts"], lake.bucket_arns["raw"]
    logs_arn = pulumi.Output.concat("arn:aws:logs:", args["region"], ":", args["account_id"],
                                    ":log-group:/aws/sagemaker/Endpoints/", args["endpoint_name"])
    return [
        docs.allow("ReadModel", ["s3:GetObject"],
                   [docs.objects(artifacts_arn, p) for p in args["model_artifact_prefixes"]]),
        docs.allow("WriteCapture", ["s3:PutObject"],
                   [docs.objects(raw_arn, f"{CAPTURE_PREFIX}{args['endpoint_name']}/")]),
        docs.allow("UseLakeKey", list(docs.KMS_USE_ACTIONS), [lake.key_arn]),
        *docs.image_pull("PullServingImage", args.get("image_repository_arn") or ecr_repository_arn(args["image_uri"])),
        docs.allow("WriteEndpointLogs", ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                   [logs_arn, pulumi.Output.concat(logs_arn, ":*")]),
    ]
