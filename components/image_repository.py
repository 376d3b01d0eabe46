"""The ECR repository the inference image is pushed to: scanned, immutable, encrypted, pruned.

Immutable tags mean a tag names one image forever, so the SageMaker model and the Kubernetes Deployment
that reference ``<repo>:<tag>`` run exactly what CI built and scanned. The lifecycle policy keeps the
last N images, enough to roll back to any recent release.
"""

from __future__ import annotations

import json
import re
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs

DEFAULT_KEEP_LAST_IMAGES = 20
# ECR repository names: lowercase path segments separated by / (2-256 characters).
_REPOSITORY_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
# What a role (SageMaker's execution role, a CI runner) needs to pull; GetAuthorizationToken has no resource.
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


class ImageRepositoryArgs(TypedDict):
    repository_name: str
    """e.g. ``prodline/serving``."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key the image layers are encrypted with."""
    keep_last_images: NotRequired[int]
    """Images kept by the lifecycle policy (default 20); older ones expire."""
    force_delete: NotRequired[bool]
    """Let `pulumi destroy` delete a repository that still holds images (dev convenience; False by default)."""


def image_repository_settings(args: ImageRepositoryArgs) -> ImageRepositoryArgs:
    """Validate args; raise ValueError naming the field."""
    name = args["repository_name"]
    if not (2 <= len(name) <= 256 and _REPOSITORY_NAME.fullmatch(name)):
        raise ValueError(f"repository_name must be 2-256 lowercase characters in /-separated segments of "
                         f"a-z 0-9 . _ -, got {name!r}")
    keep = args.get("keep_last_images", DEFAULT_KEEP_LAST_IMAGES)
    if not 1 <= keep <= 1000:
        raise ValueError(f"keep_last_images must be from 1 to 1000, got {keep}")
    return {**args, "keep_last_images": keep}


def lifecycle_policy(keep: int) -> str:
    """ECR lifecycle policy: expire every image beyond the newest ``keep``, tagged or not."""
    return json.dumps({"rules": [{
        "rulePriority": 1,
        "description": f"Keep the last {keep} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }]})


def pull_statements(repository_arn: pulumi.Input[str]) -> list[docs.Statement]:
    """IAM statements that let a role pull from this repository only."""
    return [
        docs.allow("PullServingImage", list(PULL_ACTIONS), [repository_arn]),
        docs.allow("GetEcrAuthorizationToken", ["ecr:GetAuthorizationToken"], ["*"]),
    ]


class ImageRepository(pulumi.ComponentResource):
    """An ECR repository with scan on push, immutable tags, KMS encryption and a keep-last-N lifecycle."""

    repository_url: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRepositoryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:serving:ImageRepository", name, None, opts)
        args = image_repository_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args["repository_name"],
            image_scanning_configuration={"scan_on_push": True},
            image_tag_mutability="IMMUTABLE",
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args["kms_key_arn"]}],
            force_delete=args.get("force_delete", False),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=self.repository.name,
                                policy=lifecycle_policy(args["keep_last_images"]), opts=child)
        self.repository_url = self.repository.repository_url
        self.arn = self.repository.arn
        self.register_outputs({"repository_url": self.repository_url, "arn": self.arn})
