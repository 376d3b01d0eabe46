"""The permissions boundary every prodline role carries: the most any of them may ever do.

A boundary is a ceiling, not a grant: a role may do what its own policies allow *and* the boundary allows.
This one allows the actions of the services the platform uses (the deploy roles' and the workload roles'),
and denies the ways out: removing or swapping the boundary, creating a role without it, rewriting the
boundary itself, creating users or access keys, and destroying the shared secrets key.

IAM caps a managed policy at 6,144 characters, which the platform's ~250 named actions exceed, so outside
IAM the boundary names actions by service and verb (``s3:Get*``) wherever two or more of the platform's
actions share one; IAM's actions are always named one by one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from components.deployer_policy import DeployScope, Statement, actions_of, deploy_statements
from components.tracking_server import LOGGING_ACTIONS
from standards import delivery as names

# What the stack's workload roles (Glue jobs, the SageMaker pipeline and endpoint, EventBridge, pods) use;
# a test checks that every action in every role policy the program declares is inside the boundary.
WORKLOAD_ACTIONS = (
    "cloudwatch:PutMetricData", "codebuild:StartBuild", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer", "events:PutEvents", "glue:BatchCreatePartition",
    "glue:CreatePartition", "glue:GetDatabase", "glue:GetPartition", "glue:GetPartitions", "glue:GetTable",
    "glue:UpdatePartition", "iam:PassRole", "kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kms:CreateGrant", "kms:Decrypt",
    "kms:DescribeKey", "kms:Encrypt",
    "kms:GenerateDataKey", "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:CreateLogStream",
    "logs:DescribeLogStreams", "logs:PutLogEvents", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket",
    "s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
    "s3:PutObject", "sagemaker:AddTags", "sagemaker:CreateModelPackage", "sagemaker:CreateProcessingJob",
    "sagemaker:CreateModel", "sagemaker:CreateTrainingJob", "sagemaker:CreateTransformJob", "sagemaker:DescribeModel",
    "sagemaker:DescribeModelPackage", "sagemaker:DescribeProcessingJob",
    "sagemaker:DescribeTrainingJob", "sagemaker:InvokeEndpoint", "sagemaker:StartPipelineExecution",
    "sagemaker:StopProcessingJob",
    "sagemaker:DescribeTransformJob", "sagemaker:StopTrainingJob", "sagemaker:StopTransformJob", "sqs:SendMessage",
    *LOGGING_ACTIONS,  # training and evaluation log their runs to the stack's MLflow tracking server
)
ROLE_CHANGES = ("iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy")
SEPARATE_IAM_ACTIONS = ("iam:CreateServiceLinkedRole", "iam:PassRole")
GROUP_FROM = 2
_VERB = re.compile(r"[A-Z][a-z]*")


def platform_actions() -> set[str]:
    """Every action a deploy role (of any stack, with every option on) or a workload role uses."""
    scope = DeployScope(environment="dev", stack="dev", account="000000000000", region="us-east-1",
                        boundary_arn="boundary", state_bucket="state", promote_to="staging", eks_cluster="cluster")
    return actions_of(deploy_statements(scope)) | set(WORKLOAD_ACTIONS)


def compress(actions: Iterable[str]) -> list[str]:
    """Actions by service and verb (``s3:Get*``) where ``GROUP_FROM`` or more share one; IAM's always named."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for action in actions:
        service, operation = action.split(":", 1)
        groups[(service, _VERB.match(operation).group(0))].append(action)
    found: list[str] = []
    for (service, verb), members in sorted(groups.items()):
        grouped = service != "iam" and len(members) >= GROUP_FROM
        found += [f"{service}:{verb}*"] if grouped else sorted(members)
    return found


def boundary_statements(account: str, policy_name: str = names.BOUNDARY_POLICY, partition: str = "aws"
                        ) -> list[Statement]:
    iam = f"arn:{partition}:iam::{account}"
    itself = f"{iam}:policy/{policy_name}"
    actions = platform_actions()
    services = compress(a for a in actions if not a.startswith("iam:"))
    iam_actions = sorted(a for a in actions if a.startswith("iam:") and a not in SEPARATE_IAM_ACTIONS)
    policy_actions = [a for a in iam_actions if "Polic" in a and "Role" not in a]  # managed policies
    role_actions = [a for a in iam_actions if a not in policy_actions]
    autoscaling = "sagemaker.application-autoscaling.amazonaws.com"
    return [
        {"Sid": "PlatformServices", "Effect": "Allow", "Action": services, "Resource": "*"},
        {"Sid": "PlatformRoles", "Effect": "Allow", "Action": role_actions, "Resource": f"{iam}:role/{names.PREFIX}-*"},
        {"Sid": "PlatformPolicies", "Effect": "Allow", "Action": policy_actions,
         "Resource": f"{iam}:policy/{names.PREFIX}-*"},
        {"Sid": "PassPlatformRoles", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"{iam}:role/{names.PREFIX}-*"},
        {"Sid": "EndpointAutoscalingLinkedRole", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": f"{iam}:role/aws-service-role/{autoscaling}/*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": autoscaling}}},
        {"Sid": "NoBoundaryRemoval", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"},
        {"Sid": "NoRoleWithoutThisBoundary", "Effect": "Deny", "Action": list(ROLE_CHANGES), "Resource": "*",
         "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": itself}}},
        {"Sid": "BoundaryStaysAsWritten", "Effect": "Deny", "Resource": itself,
         "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion"]},
        {"Sid": "NoUsersOrAccessKeys", "Effect": "Deny", "Action": ["iam:CreateAccessKey", "iam:CreateUser"],
         "Resource": "*"},
        {"Sid": "SecretsKeyStays", "Effect": "Deny", "Resource": "*",
         "Action": ["kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
         "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.SECRETS_KEY_ALIAS}}},
    ]
