"""Which model version the stack serves: an input of the stack, resolved when the program runs.

``prodline:modelPackageArn`` is ``latest`` (the newest *approved* package in the group), ``none`` or an
explicit ARN. Resolving "latest" at ``pulumi up`` keeps IaC the source of truth: approving a model in
the registry changes nothing until the deploy path runs ``pulumi up``, which then rolls the approved
version out through the endpoint's canary. No drift, and the deployed version is in the stack's history.
"""

from __future__ import annotations

import os

# Set by prodline's offline runner: there is no account to ask, so "latest" resolves to a stand-in.
OFFLINE_ENV = "PRODLINE_OFFLINE"
OFFLINE_ACCOUNT = "123456789012"


def resolve_model_package(setting: str, group_name: str, region: str) -> str | None:
    """The model package ARN to serve, or None when there is nothing (yet) to serve."""
    if setting == "none":
        return None
    if setting != "latest":
        return setting
    if os.environ.get(OFFLINE_ENV):
        return f"arn:aws:sagemaker:{region}:{OFFLINE_ACCOUNT}:model-package/{group_name}/1"
    return latest_approved(group_name, region)


def latest_approved(group_name: str, region: str) -> str | None:
    """Newest approved package in the group, from the registry (boto3 honours AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("sagemaker", region_name=region)
    try:
        page = client.list_model_packages(
            ModelPackageGroupName=group_name, ModelApprovalStatus="Approved",
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    except ClientError as err:
        # The group does not exist before the first `pulumi up`: nothing is approved yet.
        if err.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    packages = page.get("ModelPackageSummaryList", [])
    return packages[0]["ModelPackageArn"] if packages else None


def model_data_url(package_arn: str, region: str) -> str | None:
    """model.tar.gz of a registered version: what a Kubernetes pod downloads (no registry there).

    None offline, where the caller stands in a URL under the stack's own artifacts zone.
    """
    if os.environ.get(OFFLINE_ENV):
        return None
    import boto3

    package = boto3.client("sagemaker", region_name=region).describe_model_package(ModelPackageName=package_arn)
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
