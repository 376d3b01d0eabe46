"""Which model version the stack serves: an input of the stack, resolved when the program runs.

``prodline:modelPackageArn`` is ``latest`` (the newest *approved* package in the group), ``recorded`` (the
version the deploy path last deployed green: the ``modelPackageArn`` of the stack's version record, the SSM
parameter ``/prodline/<stack>/model-version``), ``none`` or an explicit ARN. Resolving at ``pulumi up`` keeps
IaC the source of truth: approving a model in the registry changes nothing until the deploy path runs
``pulumi up``, which then rolls the approved version out through the endpoint's canary. No drift, and the
deployed version is in the stack's history.
"""

from __future__ import annotations

import json
import os

from standards.delivery import version_parameter

# Set by prodline's offline runner: there is no account to ask, so "latest" resolves to a stand-in.
OFFLINE_ENV = "PRODLINE_OFFLINE"
OFFLINE_ACCOUNT = "123456789012"
LOOKUPS = ("latest", "recorded")


def resolve_model_package(setting: str, group_name: str, region: str, stack: str = "") -> str | None:
    """The model package ARN to serve, or None when there is nothing (yet) to serve.

    ``stack`` names the version record ``recorded`` reads.
    """
    if setting == "none":
        return None
    if setting not in LOOKUPS:
        return setting
    if os.environ.get(OFFLINE_ENV):
        return f"arn:aws:sagemaker:{region}:{OFFLINE_ACCOUNT}:model-package/{group_name}/1"
    if setting == "recorded":
        return recorded_version(stack, region)
    return latest_approved(group_name, region)


def latest_approved(group_name: str, region: str) -> str | None:
    """Newest approved package in the group, from the registry (boto3 honours AWS_ENDPOINT_URL)."""
    import boto3

    return newest_approved(boto3.client("sagemaker", region_name=region), group_name)


def newest_approved(sagemaker, group_name: str) -> str | None:
    """Newest approved package in the group, asked through the given SageMaker client (None when none is)."""
    from botocore.exceptions import ClientError

    try:
        page = sagemaker.list_model_packages(
            ModelPackageGroupName=group_name, ModelApprovalStatus="Approved",
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    except ClientError as err:
        # The group does not exist before the first `pulumi up`: nothing is approved yet.
        if err.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    packages = page.get("ModelPackageSummaryList", [])
    return packages[0]["ModelPackageArn"] if packages else None


def recorded_version(stack: str, region: str) -> str | None:
    """The ``modelPackageArn`` of the stack's version record; None before the deploy path wrote one.

    A record that is not JSON with a ``modelPackageArn`` is an error: serving nothing would take the
    endpoint down on a typo.
    """
    import boto3
    from botocore.exceptions import ClientError

    if not stack:
        raise ValueError("modelPackageArn=recorded needs the stack whose version record to read")
    name = version_parameter(stack)
    try:
        value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    try:
        arn = json.loads(value)["modelPackageArn"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"version record {name} is not JSON with a modelPackageArn: {value[:200]!r}") from None
    if arn is None:
        return None  # the record says the stack serves nothing (a restore to `none`)
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValueError(f"version record {name} has modelPackageArn {arn!r}, not a model package ARN")
    return arn


def model_data_url(package_arn: str, region: str) -> str | None:
    """model.tar.gz of a registered version: what a Kubernetes pod downloads (no registry there).

    None offline, where the caller stands in a URL under the stack's own artifacts zone.
    """
    if os.environ.get(OFFLINE_ENV):
        return None
    import boto3

    package = boto3.client("sagemaker", region_name=region).describe_model_package(ModelPackageName=package_arn)
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
