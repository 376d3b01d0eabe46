"""What the model registry says about a version: does it exist, is it Approved, which number is it.

Why the deploy path asks the registry itself (through the context's client) instead of trusting the
request: a queue message or a flag can name anything; only a version the registry holds as Approved may
reach an endpoint, and the refusal names the version and what the registry said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prodline.delivery.context import DeliveryContext

APPROVED = "Approved"
ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[^/\s]+/\d+")
SYMBOLIC = ("latest", "current")


class Refused(ValueError):
    """The version cannot be deployed to this stack; the message is the reason, in one line."""


@dataclass(frozen=True)
class ModelVersion:
    arn: str
    version: str
    status: str
    group: str


def is_arn(text: str) -> bool:
    return bool(ARN_PATTERN.fullmatch(text))


def check_model_version(text: str) -> str:
    """``text`` when it is ``latest``, ``current`` or a model package ARN; else ValueError saying so."""
    if text in SYMBOLIC or is_arn(text):
        return text
    raise ValueError(f"--model-version {text!r}: expected latest, current or a model package ARN "
                     "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")


def describe(ctx: DeliveryContext, arn: str) -> ModelVersion:
    """The registry's view of ``arn``; Refused when it is no model package or the registry has none such."""
    if not is_arn(arn):
        raise Refused(f"{arn!r} is not a model package version ARN")
    sagemaker = ctx.clients("sagemaker")
    from botocore.exceptions import ClientError

    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", str(err))
        raise Refused(f"{arn} is not in the model registry: {message}") from None
    return ModelVersion(arn=package.get("ModelPackageArn", arn),
                        version=str(package.get("ModelPackageVersion") or arn.rsplit("/", 1)[-1]),
                        status=package.get("ModelApprovalStatus", "unknown"),
                        group=package.get("ModelPackageGroupName", arn.split("/")[-2]))


def require_approved(ctx: DeliveryContext, arn: str) -> ModelVersion:
    version = describe(ctx, arn)
    if version.status != APPROVED:
        raise Refused(f"{version.group} version {version.version} is {version.status} in the registry, not "
                      f"{APPROVED}: only an approved version is deployed")
    return version


def latest_approved(ctx: DeliveryContext, group: str) -> str | None:
    """The newest Approved version of ``group``, asked through the context's SageMaker client."""
    from infra.model_version import newest_approved

    return newest_approved(ctx.clients("sagemaker"), group)
