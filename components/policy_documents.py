"""Pure builders of IAM and resource policy documents shared by components.

They return plain dicts (with Pulumi Inputs where ARNs are not known yet) so components serialize them
with ``Output.json_dumps`` and tests can check statements without running Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from standards import trust

Statement = dict[str, Any]

# What a principal needs to read and write objects encrypted with the lake's customer key.
KMS_USE_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


# A key policy's admin statement names these instead of AWS's default "kms:*"; kms:PutKeyPolicy keeps the
# account able to repair the policy, so it can never lock itself out of the key.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
    "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
    "kms:ListKeyRotations", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    "kms:RetireGrant", "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
)


def document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """Serialize statements into a policy document, resolving any Outputs inside them."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(service: str, account_id: pulumi.Input[str],
                  source_arns: Sequence[pulumi.Input[str]] = ()) -> pulumi.Output[str]:
    """Trust policy letting one AWS service assume a role, only on behalf of this account and its own resources.

    ``aws:SourceAccount`` (always) and ``aws:SourceArn`` (``source_arns``: the resources the service acts for)
    stop the service from using the role for another customer who learns its ARN (the confused deputy).
    Services that send ``aws:SourceArn`` (``standards/trust.py``) must be given the ARNs.
    """
    if service in trust.SOURCE_ARN_SERVICES and not source_arns:
        raise ValueError(f"{service} sends {trust.SOURCE_ARN}: give the ARNs of the resources it assumes the role "
                         "for (source_arns)")
    condition: dict[str, Any] = {"StringEquals": {trust.SOURCE_ACCOUNT: account_id}}
    if source_arns:
        condition["ArnLike"] = {trust.SOURCE_ARN: list(source_arns)}
    return document([{
        "Sid": "AssumedByService",
        "Effect": "Allow",
        "Principal": {"Service": [service]},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }])


def events_trust(account_id: pulumi.Input[str], rules: Sequence[Any]) -> pulumi.Output[str]:
    """EventBridge may assume the role only for these rules (``aws.cloudwatch.EventRule``s) whose targets run as it."""
    return service_trust("events.amazonaws.com", account_id, [rule.arn for rule in rules])


def sagemaker_trust(region: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """SageMaker may assume the role for this account's jobs, models and pipelines in this region, no others."""
    return service_trust("sagemaker.amazonaws.com", account_id,
                         [pulumi.Output.concat("arn:aws:sagemaker:", region, ":", account_id, ":*")])


def allow(sid: str, actions: Sequence[str], resources: Sequence[Any], condition: dict | None = None) -> Statement:
    """An Allow statement; refuses wildcard actions so least privilege is checked where it is written."""
    for action in actions:
        if action == "*" or action.endswith(":*"):
            raise ValueError(f"statement {sid}: wildcard action {action!r} is not allowed; name the actions")
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def image_pull(sid: str, repository_arn: pulumi.Input[str]) -> list[Statement]:
    """Log in to ECR and pull from one repository. GetAuthorizationToken has no resource-level permissions;
    the pulls are limited to the repository."""
    return [allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            allow(sid, ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                  [repository_arn])]


def pass_own_role_to_jobs(role_arn: pulumi.Input[str]) -> Statement:
    """A SageMaker pipeline passes its own role, and no other, to the jobs it starts."""
    return allow("PassOwnRoleToJobs", ["iam:PassRole"], [role_arn],
                 {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> Statement:
    """Deny every request to a bucket that does not arrive over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def objects(bucket_arn: pulumi.Input[str], prefix: str = "") -> pulumi.Output[str]:
    """ARN of the objects under a prefix of a bucket (``arn:...:bucket/prefix*``)."""
    return pulumi.Output.concat(bucket_arn, "/", prefix, "*")


def list_prefix(sid: str, bucket_arn: pulumi.Input[str], prefixes: Sequence[str]) -> Statement:
    """ListBucket limited to some prefixes, so a role cannot enumerate the rest of a zone."""
    return allow(sid, ["s3:ListBucket"], [bucket_arn],
                 {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}})


def key_admin_statement(account_id: pulumi.Input[str]) -> Statement:
    """The account administers a key through IAM; roles get their grants in their own IAM policies."""
    return {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": list(KEY_ADMIN_ACTIONS),
        "Resource": "*",
    }
