"""The front door's wiring: which backend it reaches and the names its alarms watch, from the stack's config.

Its names are explicit (``prodline-<env>-front-door``, stage ``<env>``), like the endpoint's, so Observability
declares the API's alarms before the API exists, with no dependency between the two.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.front_door import FrontDoor
from components.front_door_settings import FrontDoorArgs, KubernetesBackend, SageMakerBackend, ingress_front_door_host
from components.observability import WatchedApi
from infra.config import StackConfig

# The AWS Load Balancer Controller tags the NLB it makes for a Service of type LoadBalancer with this key and
# "<namespace>/<service>" as the value.
SERVICE_TAG = "service.k8s.aws/stack"


def api_name(config: StackConfig) -> str:
    return f"prodline-{config.environment}-front-door"


def watched_apis(config: StackConfig, serving: bool) -> list[WatchedApi]:
    """The front door's stage for Observability, when the stack serves a model and declares the front door."""
    if not (serving and config.front_door.enabled):
        return []
    return [WatchedApi(api_name(config), config.environment)]


def ingress_host(config: StackConfig) -> str | None:
    """The Ingress host of Kubernetes serving: the stack's, or, for the front door alone, a private one."""
    if config.kubernetes.ingress_host:
        return config.kubernetes.ingress_host
    return ingress_front_door_host(api_name(config)) if config.front_door.enabled else None


def build_front_door(config: StackConfig, account_id: pulumi.Input[str], log_kms_key_arn: pulumi.Input[str],
                     endpoint_name: str) -> FrontDoor:
    door = config.front_door
    backend: SageMakerBackend | KubernetesBackend
    if config.serving.platform == "kubernetes":
        host = ingress_host(config)
        assert host is not None, "the front door is enabled, so Kubernetes serving has an Ingress host"
        nlb = aws.lb.get_load_balancer_output(
            tags={SERVICE_TAG: f"{config.kubernetes.ingress_namespace}/{door.ingress_service}"})
        backend = {"kind": "kubernetes", "load_balancer_arn": nlb.arn, "host": host}
    else:
        backend = {"kind": "sagemaker", "endpoint_name": endpoint_name}
    args: FrontDoorArgs = {
        "api_name": api_name(config),
        "stage_name": config.environment,
        "region": config.region,
        "account_id": account_id,
        "backend": backend,
        "auth": door.auth,
        "clients": door.clients.split(","),
        "rate_limit": door.rate_limit,
        "burst_limit": door.burst_limit,
        "client_rate_limit": door.client_rate_limit,
        "client_burst_limit": door.client_burst_limit,
        "quota_per_day": door.quota_per_day,
        "log_retention_days": config.lake.log_retention_days,
        "log_kms_key_arn": log_kms_key_arn,
    }
    if door.cognito_user_pool_arn:
        args["cognito_user_pool_arn"] = door.cognito_user_pool_arn
    if door.domain:
        args["domain"] = {"name": door.domain, "certificate_arn": door.certificate_arn}
    return FrontDoor("front-door", args)
