"""The model registry: a model package group, and the approval event that starts a deployment.

Deploying is not done by the event itself: the served version is a stack input (``infra/model_version.py``
resolves the newest approved package), so an approval notifies the deploy path — people and CI — which
runs ``pulumi up``. IaC stays the source of truth and an approval never causes drift.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_aws as aws


class ModelRegistryArgs(TypedDict):
    group_name: str
    description: str
    notify_topic_arn: pulumi.Input[str]
    """Where approvals are announced (the deploy path subscribes here)."""


class ModelRegistry(pulumi.ComponentResource):
    """A model package group whose approvals are published to the deploy path."""

    group_name: pulumi.Output[str]
    group_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:model:ModelRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group", model_package_group_name=args["group_name"],
            model_package_group_description=args["description"], opts=child)
        self.approved_rule = aws.cloudwatch.EventRule(
            f"{name}-approved",
            description=f"a model version in {args['group_name']} was approved: deploy it with pulumi up",
            event_pattern=pulumi.Output.json_dumps(approval_pattern(self.group.model_package_group_name)),
            opts=child)
        aws.cloudwatch.EventTarget(f"{name}-approved-notify", rule=self.approved_rule.name,
                                   arn=args["notify_topic_arn"], opts=child)
        self.group_name = self.group.model_package_group_name
        self.group_arn = self.group.arn
        self.register_outputs({"group_name": self.group_name, "group_arn": self.group_arn})


def approval_pattern(group_name: pulumi.Input[str]) -> dict:
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved"]},
    }
