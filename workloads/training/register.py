"""Register a trained model as a package version in a SageMaker model package group, metrics attached.

The package points at the model artifact and the inference image, lists the content types the serving
handler accepts, and attaches the evaluation report as its model-quality statistics, so whoever approves
a version sees what it scored. The approval status is an argument: pipelines register as
PendingManualApproval; a person (or a gate) approves.

Local run: python -m workloads.training.register --group churn-models --model-data-url s3://.../model.tar.gz \
  --image-uri <ecr image> --evaluation-url s3://.../evaluation.json --approval-status PendingManualApproval
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from workloads.serving.payloads import ACCEPTED_TYPES, RESPONSE_TYPES

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


def model_package_request(group: str, *, model_data_url: str, image_uri: str, evaluation_url: str,
                          approval_status: str, description: str = "", metrics: dict | None = None) -> dict:
    """The CreateModelPackage request. Pure, so its shape is tested without AWS."""
    if approval_status not in APPROVAL_STATUSES:
        raise ValueError(f"approval status must be one of {', '.join(APPROVAL_STATUSES)}, got {approval_status!r}")
    for name, url in (("model data URL", model_data_url), ("evaluation URL", evaluation_url)):
        if not url.startswith("s3://"):
            raise ValueError(f"{name} must be an s3:// URL, got {url!r}")
    request = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": description or "churn model registered by prodline",
        "ModelApprovalStatus": approval_status,
        "InferenceSpecification": {
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": list(ACCEPTED_TYPES),
            "SupportedResponseMIMETypes": list(RESPONSE_TYPES),
        },
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_url}}},
    }
    if metrics:
        request["CustomerMetadataProperties"] = {name: f"{value:.6g}" for name, value in sorted(metrics.items())}
    return request


def register(client, request: dict) -> str:
    """Create the package; returns its ARN."""
    return client.create_model_package(**request)["ModelPackageArn"]


def metrics_from_report(report: dict) -> dict[str, float]:
    return {name: float(entry["value"]) for name, entry in report.get("metrics", {}).items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register a model package version.")
    parser.add_argument("--group", required=True, help="model package group name")
    parser.add_argument("--model-data-url", required=True)
    parser.add_argument("--image-uri", required=True)
    parser.add_argument("--evaluation-url", required=True, help="s3:// URL of evaluation.json")
    parser.add_argument("--approval-status", default="PendingManualApproval", choices=APPROVAL_STATUSES)
    parser.add_argument("--description", default="")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    import boto3  # imported here: building the request needs no AWS

    from workloads.etl import lake

    report = json.loads(lake.read_bytes(args.evaluation_url))
    request = model_package_request(
        args.group, model_data_url=args.model_data_url, image_uri=args.image_uri, evaluation_url=args.evaluation_url,
        approval_status=args.approval_status, description=args.description, metrics=metrics_from_report(report))
    print(json.dumps({"model_package_arn": register(boto3.client("sagemaker"), request)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
