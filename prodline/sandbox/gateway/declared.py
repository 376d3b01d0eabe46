"""What the emulator declares about hosting, read back from it: the gateway never trusts Python objects.

moto stores endpoints but runs nothing, so the gateway reads every definition from the emulator, which is what
the IaC wrote:

  endpoint -> endpoint config (production variants, data capture) -> model -> model package -> model.tar.gz

These frozen specs are that chain resolved; a missing link is ``EndpointMissing`` (404) or, for a model with no
artifact, ``FleetStartError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from prodline.sandbox.gateway.errors import EndpointMissing, FleetStartError

SERVING_STATUSES = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})


@dataclass(frozen=True)
class CaptureSpec:
    """An endpoint config's DataCaptureConfig, as SageMaker applies it."""

    destination: str
    percent: int
    kms_key_id: str | None
    capture_input: bool
    capture_output: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    def encoding(self, content_type: str) -> str:
        """CSV or JSON (captured as text) for the configured content types; anything else BASE64, as in AWS."""
        kind = media_type(content_type)
        if kind in self.csv_types:
            return "CSV"
        if kind in self.json_types:
            return "JSON"
        return "BASE64"


@dataclass(frozen=True)
class VariantSpec:
    name: str
    weight: float
    model_name: str
    model_data_url: str
    environment: tuple[tuple[str, str], ...] = ()
    """The model container's Environment, which SageMaker gives the container."""


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    variants: tuple[VariantSpec, ...]
    capture: CaptureSpec | None


def media_type(header: str | None) -> str:
    """``Text/CSV; charset=utf-8`` -> ``text/csv``."""
    return (header or "").split(";", 1)[0].strip().lower()


def _missing(error: ClientError) -> bool:
    """moto and AWS answer a missing SageMaker resource with ValidationException ("Could not find ...")."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in ("ValidationException", "ResourceNotFound") and "not find" in message.lower()


def capture_spec(config: Mapping[str, Any] | None) -> CaptureSpec | None:
    """None when capture is absent or disabled."""
    if not config or not config.get("EnableCapture", True):
        return None
    modes = {o["CaptureMode"] for o in config.get("CaptureOptions", [])} or {"Input", "Output"}
    header = config.get("CaptureContentTypeHeader") or {}
    return CaptureSpec(
        destination=config["DestinationS3Uri"].rstrip("/"), percent=int(config.get("InitialSamplingPercentage", 100)),
        kms_key_id=config.get("KmsKeyId") or None, capture_input="Input" in modes, capture_output="Output" in modes,
        csv_types=frozenset(media_type(t) for t in header.get("CsvContentTypes", [])),
        json_types=frozenset(media_type(t) for t in header.get("JsonContentTypes", [])))


def model_environment(sagemaker, model_name: str) -> tuple[tuple[str, str], ...]:
    container = sagemaker.describe_model(ModelName=model_name).get("PrimaryContainer") or {}
    return tuple(sorted((container.get("Environment") or {}).items()))


def model_data_url(sagemaker, model_name: str) -> str:
    """The model artifact of a model: its container's ModelDataUrl, or its model package's."""
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    package = container.get("ModelPackageName")
    if not package:
        raise FleetStartError(f"model {model_name} has neither ModelDataUrl nor ModelPackageName in its container")
    spec = sagemaker.describe_model_package(ModelPackageName=package).get("InferenceSpecification") or {}
    containers = spec.get("Containers") or [{}]
    if not containers[0].get("ModelDataUrl"):
        raise FleetStartError(f"model package {package} (of model {model_name}) has no ModelDataUrl")
    return containers[0]["ModelDataUrl"]


def read_config(sagemaker, config_name: str) -> ConfigSpec:
    """An endpoint configuration with each variant's model artifact resolved; EndpointMissing if absent."""
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = tuple(
            VariantSpec(name=v["VariantName"], weight=float(v.get("InitialVariantWeight", 1.0)),
                        model_name=v["ModelName"], model_data_url=model_data_url(sagemaker, v["ModelName"]),
                        environment=model_environment(sagemaker, v["ModelName"]))
            for v in config["ProductionVariants"])
    except ClientError as error:
        if _missing(error):
            raise EndpointMissing(f"the emulator has no endpoint configuration {config_name} "
                                  f"(or one of its models): {error.response['Error']['Message']}") from None
        raise
    return ConfigSpec(config_name, variants, capture_spec(config.get("DataCaptureConfig")))


def endpoint_config_name(sagemaker, endpoint: str) -> str:
    """The configuration the emulator says the endpoint runs; EndpointMissing when there is no such endpoint."""
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except ClientError as error:
        if _missing(error):
            raise EndpointMissing(f"the emulator has no endpoint {endpoint}") from None
        raise


def live_endpoints(sagemaker) -> dict[str, str]:
    """name -> endpoint config name of every endpoint the emulator says is serving."""
    found = {}
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for summary in page["Endpoints"]:
            if summary.get("EndpointStatus", "InService") in SERVING_STATUSES:
                found[summary["EndpointName"]] = endpoint_config_name(sagemaker, summary["EndpointName"])
    return found
