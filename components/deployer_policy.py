"""What the deploy role may do: a ``pulumi up`` of its own stack, and the delivery steps around it.

Pure data and a renderer, so tests read the statements without Pulumi and the account bootstrap gives its
CI deploy roles the same ones. Every action is named (no ``*``, no ``service:*``, no ``iam:*``). Resources are
scoped to the stack's name prefix ``prodline-<env>-`` wherever the service has resource-level permissions
(``infra/naming.py`` gives every autonamed role, rule and bucket such a name); resources a service names
itself (KMS keys, SageMaker models and endpoint configurations, which are replaced on every change) are
scoped by the stack's ``environment`` and ``project`` tags instead. Roles can be created or given policies
only when they carry the account's permissions boundary, and passed only when they are the stack's own.

The table is keyed by the Pulumi module of the resource types it manages, and a test checks that every
type the program declares has its entry, so a new resource type cannot reach a stack unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from standards import delivery as names

Statement = dict[str, Any]

PASSED_TO_SERVICES = ("apigateway.amazonaws.com", "codebuild.amazonaws.com", "events.amazonaws.com",
                      "firehose.amazonaws.com", "glue.amazonaws.com", "sagemaker.amazonaws.com")
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
LOG_GROUP_PREFIXES = ("/aws-glue/jobs/", "/aws/sagemaker/Endpoints/", "/aws/codebuild/", "/aws/kinesisfirehose/",
                      "/aws/apigateway/")
API_GATEWAY_COLLECTIONS = ("restapis", "apikeys", "usageplans", "vpclinks", "domainnames", "tags")
"""API Gateway's management resources (``arn:aws:apigateway:<region>::/<collection>/<id>/...``) the front door uses."""
KEY_USE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class DeployScope:
    """Whose resources the statements cover: one environment's stack in one account and region."""

    environment: str
    stack: str
    account: str
    region: str
    boundary_arn: str
    state_bucket: str
    promote_to: str = ""
    eks_cluster: str = ""
    extra_key_aliases: tuple[str, ...] = ()
    """Aliases the stack declares outside its prefix (DataLake's ``alias/<name>``)."""
    partition: str = "aws"

    @property
    def prefix(self) -> str:
        return names.prefix(self.environment)

    def arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if regional else ''}:"
                f"{self.account if account else ''}:{resource}")

    def queue_arn(self, environment: str) -> str:
        return self.arn("sqs", names.deploy_queue(environment))


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str], condition: dict | None = None
               ) -> Statement:
    actions = sorted(set(actions))
    for action in actions:
        if action == "*" or action.endswith(":*") or action.startswith("iam:*"):
            raise ValueError(f"statement {sid}: wildcard action {action!r} is not allowed; name the actions")
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": sorted(set(resources))}
    if condition:
        statement["Condition"] = condition
    return statement


def _tagged(scope: DeployScope, key: str = "aws:ResourceTag") -> dict:
    """Resources the stack's ownership tags mark as its own (the bootstrap's carry another project)."""
    return {"StringEquals": {f"{key}/environment": scope.environment, f"{key}/project": names.PROJECT}}


# --- per service: Pulumi module -> statements ----------------------------------------------------

def _s3(s: DeployScope) -> list[Statement]:
    buckets = f"arn:{s.partition}:s3:::{s.prefix}-*"
    state = f"arn:{s.partition}:s3:::{s.state_bucket}"
    stack_state = [f"{state}/.pulumi/{kind}/prodline/{s.stack}{tail}" for kind, tail in
                   (("stacks", ".json*"), ("history", "/*"), ("backups", "/*"), ("locks", "/*"))]
    return [
        _statement("ManageStackBuckets", [f"s3:{a}" for a in (
            "CreateBucket", "DeleteBucket", "DeleteBucketPolicy", "GetAccelerateConfiguration", "GetBucketAcl",
            "GetBucketCORS", "GetBucketLocation", "GetBucketLogging", "GetBucketNotification",
            "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls", "GetBucketPolicy",
            "GetBucketPolicyStatus", "GetBucketPublicAccessBlock", "GetBucketRequestPayment", "GetBucketTagging",
            "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration", "GetLifecycleConfiguration",
            "GetReplicationConfiguration", "ListBucket", "ListBucketVersions", "PutBucketLogging",
            "PutBucketNotification", "PutBucketOwnershipControls", "PutBucketPolicy", "PutBucketPublicAccessBlock",
            "PutBucketTagging", "PutBucketVersioning", "PutEncryptionConfiguration", "PutLifecycleConfiguration")],
            [buckets]),
        _statement("ManageStackObjects", [f"s3:{a}" for a in (
            "DeleteObject", "DeleteObjectVersion", "GetObject", "GetObjectTagging", "GetObjectVersion", "PutObject",
            "PutObjectTagging")], [f"{buckets}/*"]),
        _statement("ListPulumiState", ["s3:GetBucketLocation", "s3:ListBucket"], [state]),
        _statement("ReadPulumiStateMeta", ["s3:GetObject"], [f"{state}/.pulumi/meta.yaml"]),
        _statement("WriteOwnPulumiState", ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], stack_state),
    ]


def _kms(s: DeployScope) -> list[Statement]:
    keys = s.arn("kms", "key/*")
    aliases = [s.arn("kms", f"alias/{s.prefix}-*"), *(s.arn("kms", a) for a in s.extra_key_aliases)]
    return [
        _statement("CreateStackKeys", ["kms:CreateKey", "kms:TagResource"], ["*"], _tagged(s, "aws:RequestTag")),
        _statement("ManageStackKeys", [*KEY_USE, *(f"kms:{a}" for a in (
            "CreateAlias", "DeleteAlias", "EnableKeyRotation", "GetKeyPolicy", "GetKeyRotationStatus",
            "ListResourceTags", "PutKeyPolicy", "ScheduleKeyDeletion", "TagResource", "UntagResource",
            "UpdateAlias", "UpdateKeyDescription"))], [keys], _tagged(s)),
        _statement("GrantStackKeysToServices", ["kms:CreateGrant"], [keys],
                   {**_tagged(s), "Bool": {"kms:GrantIsForAWSResource": "true"}}),
        _statement("ManageStackAliases", ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], aliases),
        _statement("ListAliases", ["kms:ListAliases"], ["*"]),  # no resource-level permissions
        _statement("UsePulumiSecretsKey", KEY_USE, [keys],
                   {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.SECRETS_KEY_ALIAS}}),
    ]


def _iam(s: DeployScope) -> list[Statement]:
    roles = s.arn("iam", f"role/{s.prefix}-*", regional=False)
    return [
        # Every role the stack creates or changes the permissions of must carry the boundary.
        _statement("CreateBoundedRoles", [f"iam:{a}" for a in (
            "AttachRolePolicy", "CreateRole", "DeleteRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary",
            "PutRolePolicy")], [roles], {"StringEquals": {"iam:PermissionsBoundary": s.boundary_arn}}),
        _statement("ManageStackRoles", [f"iam:{a}" for a in (
            "DeleteRole", "GetRole", "GetRolePolicy", "ListAttachedRolePolicies", "ListInstanceProfilesForRole",
            "ListRolePolicies", "TagRole", "UntagRole", "UpdateAssumeRolePolicy", "UpdateRole",
            "UpdateRoleDescription")], [roles]),
        # The deploy role's own statements are managed policies (they exceed an inline policy's size).
        _statement("ManageStackPolicies", [f"iam:{a}" for a in (
            "CreatePolicy", "CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion", "GetPolicy",
            "GetPolicyVersion", "ListEntitiesForPolicy", "ListPolicyVersions", "TagPolicy", "UntagPolicy")],
            [s.arn("iam", f"policy/{s.prefix}-*", regional=False)]),
        _statement("PassStackRoles", ["iam:PassRole"], [roles],
                   {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}}),
        _statement("EndpointAutoscalingLinkedRole", ["iam:CreateServiceLinkedRole"],
                   [s.arn("iam", f"role/aws-service-role/{AUTOSCALING_SERVICE}/*", regional=False)],
                   {"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}}),
    ]


def _glue(s: DeployScope) -> list[Statement]:
    database = f"{names.PREFIX}_{s.environment}"
    tags = ("GetTags", "TagResource", "UntagResource")
    return [
        _statement("ManageStackCatalog", [f"glue:{a}" for a in (
            "CreateDatabase", "CreateTable", "DeleteDatabase", "DeleteTable", "GetDatabase", "GetTable",
            "GetTables", "UpdateDatabase", "UpdateTable", *tags)],
            [s.arn("glue", "catalog"), s.arn("glue", f"database/{database}"),
             s.arn("glue", f"table/{database}/*")]),
        _statement("ManageStackJobs", [f"glue:{a}" for a in (
            "CreateJob", "CreateTrigger", "DeleteJob", "DeleteTrigger", "GetJob", "GetTrigger", "StartTrigger",
            "StopTrigger", "UpdateJob", "UpdateTrigger", *tags)],
            [s.arn("glue", f"job/{s.prefix}-*"), s.arn("glue", f"trigger/{s.prefix}-*")]),
        # Security configurations have no resource-level permissions.
        _statement("ManageSecurityConfigurations", [f"glue:{a}" for a in (
            "CreateSecurityConfiguration", "DeleteSecurityConfiguration", "GetSecurityConfiguration")], ["*"]),
    ]


def _sagemaker(s: DeployScope) -> list[Statement]:
    tags = ("sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags")
    generated = [s.arn("sagemaker", "model/*"), s.arn("sagemaker", "endpoint-config/*")]
    return [
        _statement("ManageStackRegistry", [*tags, *(f"sagemaker:{a}" for a in (
            "CreateModelPackageGroup", "DeleteModelPackageGroup", "DescribeModelPackage",
            "DescribeModelPackageGroup"))],
            [s.arn("sagemaker", f"model-package-group/{s.prefix}-*"),
             s.arn("sagemaker", f"model-package/{s.prefix}-*/*")]),
        _statement("ListRegistry", ["sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"], ["*"]),
        _statement("ManageStackPipelines", [*tags, *(f"sagemaker:{a}" for a in (
            "CreatePipeline", "DeletePipeline", "DescribePipeline", "UpdatePipeline"))],
            [s.arn("sagemaker", f"pipeline/{s.prefix}-*")]),
        _statement("ManageStackEndpoints", [*tags, *(f"sagemaker:{a}" for a in (
            "CreateEndpoint", "DeleteEndpoint", "DescribeEndpoint", "InvokeEndpoint", "UpdateEndpoint",
            "UpdateEndpointWeightsAndCapacities"))], [s.arn("sagemaker", f"endpoint/{s.prefix}-*")]),
        # Models and endpoint configurations are replaced on every change, so AWS-side autonames: the
        # environment tag (set by the stack transformation) scopes them instead of a name.
        _statement("CreateStackModels", ["sagemaker:AddTags", "sagemaker:CreateEndpointConfig",
                                         "sagemaker:CreateModel"], generated, _tagged(s, "aws:RequestTag")),
        _statement("ManageStackModels", [*tags, *(f"sagemaker:{a}" for a in (
            "CreateEndpoint", "DeleteEndpointConfig", "DeleteModel", "DescribeEndpointConfig", "DescribeModel",
            "UpdateEndpoint"))], generated, _tagged(s)),
    ]


def _cloudwatch(s: DeployScope) -> list[Statement]:
    """Pulumi's ``cloudwatch`` module: alarms, dashboards, log groups and EventBridge."""
    groups = [s.arn("logs", f"log-group:{prefix}{s.prefix}-*") for prefix in LOG_GROUP_PREFIXES]
    tags = ("TagResource", "UntagResource", "ListTagsForResource")
    return [
        _statement("ManageStackAlarms", [f"cloudwatch:{a}" for a in ("DeleteAlarms", "DescribeAlarms",
                                                                     "PutMetricAlarm", *tags)],
                   [s.arn("cloudwatch", f"alarm:{s.prefix}-*")]),
        _statement("ManageStackDashboards", ["cloudwatch:DeleteDashboards", "cloudwatch:GetDashboard",
                                             "cloudwatch:PutDashboard"],
                   [s.arn("cloudwatch", f"dashboard/{s.prefix}-*", regional=False)]),
        _statement("ManageStackLogGroups", [f"logs:{a}" for a in (
            "AssociateKmsKey", "CreateLogGroup", "DeleteLogGroup", "DeleteRetentionPolicy", "DisassociateKmsKey",
            "ListTagsLogGroup", "PutRetentionPolicy", "TagLogGroup", "UntagLogGroup", *tags)], groups),
        # Firehose logs to a stream the stack creates in its log group.
        _statement("ManageStackLogStreams", ["logs:CreateLogStream", "logs:DeleteLogStream", "logs:DescribeLogStreams"],
                   [s.arn("logs", "log-group:/aws/kinesisfirehose/" + s.prefix + "-*")]),
        _statement("DescribeLogGroups", ["logs:DescribeLogGroups"], [s.arn("logs", "log-group:*")]),
        _statement("WriteBuildLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                   [s.arn("logs", f"log-group:/aws/codebuild/{names.deployer_project(s.environment)}:*")]),
        _statement("ManageStackRules", [f"events:{a}" for a in (
            "DeleteRule", "DescribeRule", "DisableRule", "EnableRule", "ListTargetsByRule", "PutRule", "PutTargets",
            "RemoveTargets", *tags)],
            [s.arn("events", f"rule/{s.prefix}-*"), s.arn("events", f"rule/{names.event_bus(s.environment)}/*")]),
        # PutEvents: the deploy path publishes its Deployment ... events on the stack's bus.
        _statement("ManageStackBus", [f"events:{a}" for a in (
            "CreateEventBus", "DeleteEventBus", "DescribeEventBus", "PutEvents", "UpdateEventBus", *tags)],
            [s.arn("events", f"event-bus/{names.event_bus(s.environment)}")]),
    ]


def _kinesis(s: DeployScope) -> list[Statement]:
    """Pulumi's ``kinesis`` module: data streams and Firehose delivery streams."""
    return [
        _statement("ManageStackStreams", [f"kinesis:{a}" for a in (
            "AddTagsToStream", "CreateStream", "DecreaseStreamRetentionPeriod", "DeleteStream", "DescribeStream",
            "DescribeStreamSummary", "IncreaseStreamRetentionPeriod", "ListShards", "ListTagsForStream",
            "RemoveTagsFromStream", "StartStreamEncryption", "StopStreamEncryption", "UpdateShardCount",
            "UpdateStreamMode")], [s.arn("kinesis", f"stream/{s.prefix}-*")]),
        _statement("ManageStackDeliveryStreams", [f"firehose:{a}" for a in (
            "CreateDeliveryStream", "DeleteDeliveryStream", "DescribeDeliveryStream", "ListTagsForDeliveryStream",
            "TagDeliveryStream", "UntagDeliveryStream", "UpdateDestination")],
            [s.arn("firehose", f"deliverystream/{s.prefix}-*")]),
    ]


def _apigateway(s: DeployScope) -> list[Statement]:
    """The front door. API Gateway names its resources by generated ids, so the stack's own are those carrying its
    tags (a REST API's methods, stages and deployments are authorized by the API's tags)."""
    collections = [s.arn("apigateway", f"/{c}", account=False) for c in API_GATEWAY_COLLECTIONS]
    members = [f"{c}/*" for c in collections]
    verbs = [f"apigateway:{v}" for v in ("DELETE", "GET", "PATCH", "POST", "PUT")]
    return [
        _statement("CreateStackApis", ["apigateway:POST", "apigateway:PUT"], collections, _tagged(s, "aws:RequestTag")),
        _statement("ManageStackApis", verbs, members, _tagged(s)),
        # The Kubernetes front door finds the ingress controller's NLB by its tags (no resource-level permission).
        _statement("FindIngressLoadBalancer", ["elasticloadbalancing:DescribeLoadBalancers",
                                               "elasticloadbalancing:DescribeTags"], ["*"]),
    ]


def _sns(s: DeployScope) -> list[Statement]:
    # Publish: a failed deploy alerts the stack's topic.
    return [_statement("ManageStackTopics", [f"sns:{a}" for a in (
        "CreateTopic", "DeleteTopic", "GetSubscriptionAttributes", "GetTopicAttributes", "ListSubscriptionsByTopic",
        "ListTagsForResource", "Publish", "SetSubscriptionAttributes", "SetTopicAttributes", "Subscribe",
        "TagResource", "Unsubscribe", "UntagResource")], [s.arn("sns", f"{s.prefix}-*")])]


def _appautoscaling(s: DeployScope) -> list[Statement]:
    # Scalable targets are named by the endpoint they scale, not by an ARN a policy can match before they exist.
    return [_statement("ManageEndpointScaling", [f"application-autoscaling:{a}" for a in (
        "DeleteScalingPolicy", "DeregisterScalableTarget", "DescribeScalableTargets", "DescribeScalingPolicies",
        "ListTagsForResource", "PutScalingPolicy", "RegisterScalableTarget", "TagResource")], ["*"])]


def _ecr(s: DeployScope) -> list[Statement]:
    return [_statement("ManageStackRepositories", [f"ecr:{a}" for a in (
        "CreateRepository", "DeleteLifecyclePolicy", "DeleteRepository", "DescribeRepositories",
        "GetLifecyclePolicy", "ListTagsForResource", "PutImageScanningConfiguration", "PutImageTagMutability",
        "PutLifecyclePolicy", "TagResource", "UntagResource")], [s.arn("ecr", f"repository/{s.prefix}/*")])]


def _sqs(s: DeployScope) -> list[Statement]:
    statements = [
        _statement("ManageStackQueues", [f"sqs:{a}" for a in (
            "CreateQueue", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl", "ListQueueTags", "SetQueueAttributes",
            "TagQueue", "UntagQueue")], [s.arn("sqs", f"{s.prefix}-*")]),
        _statement("DrainOwnDeployQueue", [f"sqs:{a}" for a in (
            "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl", "ReceiveMessage",
            "SendMessage")], [s.queue_arn(s.environment)]),
    ]
    if s.promote_to:
        statements += [
            _statement("RequestDeployOfNextStack", ["sqs:GetQueueUrl", "sqs:SendMessage"], [s.queue_arn(s.promote_to)]),
            # The next stack's queue is under that stack's key; SQS asks for it only for that queue.
            _statement("EncryptForNextStackQueue", ["kms:Decrypt", "kms:GenerateDataKey"], [s.arn("kms", "key/*")],
                       {"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": s.queue_arn(s.promote_to),
                                         "kms:ViaService": f"sqs.{s.region}.amazonaws.com"}}),
        ]
    return statements


def _codebuild(s: DeployScope) -> list[Statement]:
    statements = [_statement("ManageStackProjects", [f"codebuild:{a}" for a in (
        "BatchGetProjects", "CreateProject", "DeleteProject", "UpdateProject")],
        [s.arn("codebuild", f"project/{s.prefix}-*")])]
    if s.promote_to:
        statements.append(_statement("StartDeployOfNextStack", ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                                     [s.arn("codebuild", f"project/{names.deployer_project(s.promote_to)}")]))
    return statements


def _ssm(s: DeployScope) -> list[Statement]:
    return [_statement("DeliveryRecords", ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"],
                       [s.arn("ssm", f"parameter/{names.parameters_path(s.stack)}*")])]


def _budgets(s: DeployScope) -> list[Statement]:
    """The stack's monthly budget: Budgets authorizes create, update and delete as ModifyBudget, reads as View."""
    return [_statement("ManageStackBudget", [f"budgets:{a}" for a in (
        "ListTagsForResource", "ModifyBudget", "TagResource", "UntagResource", "ViewBudget")],
        [s.arn("budgets", f"budget/{s.prefix}-*", regional=False)])]


def _kubernetes(s: DeployScope) -> list[Statement]:
    """Kubernetes objects are authorized by the cluster (its access entries), not IAM; IAM only finds the cluster."""
    if not s.eks_cluster:
        return []
    return [_statement("FindServingCluster", ["eks:DescribeCluster"], [s.arn("eks", f"cluster/{s.eks_cluster}")])]


SERVICES = {
    "s3": _s3, "kms": _kms, "iam": _iam, "glue": _glue, "sagemaker": _sagemaker, "cloudwatch": _cloudwatch,
    "kinesis": _kinesis, "apigateway": _apigateway, "sns": _sns, "appautoscaling": _appautoscaling, "ecr": _ecr,
    "sqs": _sqs,    "codebuild": _codebuild, "ssm": _ssm, "budgets": _budgets, "kubernetes": _kubernetes,
}
"""Pulumi module of a resource type (``aws:<module>/...``, or the ``kubernetes`` package) -> its statements."""


def module_of(type_token: str) -> str | None:
    """The ``SERVICES`` key that covers a resource type; None for what needs no permission (providers)."""
    package, module, _ = type_token.split(":")
    if package == "aws":
        return module.split("/")[0]
    if package == "kubernetes":
        return "kubernetes"
    return None


def deploy_statements(scope: DeployScope) -> list[Statement]:
    """Every statement of the deploy role, service by service."""
    return [statement for build in SERVICES.values() for statement in build(scope)]


def actions_of(statements: Iterable[Statement]) -> set[str]:
    return {action for statement in statements if statement["Effect"] == "Allow" for action in statement["Action"]}


# IAM counts a managed policy's characters without whitespace; leave room for the version and wrapping.
MANAGED_POLICY_LIMIT = 6144
_WRAPPING = len('{"Version":"2012-10-17","Statement":[]}')


def compact_size(statements: Iterable[Statement]) -> int:
    return _WRAPPING + sum(len(json.dumps(s, separators=(",", ":"))) + 1 for s in statements)


def split_for_managed_policies(statements: list[Statement], limit: int = MANAGED_POLICY_LIMIT
                               ) -> list[list[Statement]]:
    """The statements in order, in as few groups as fit one managed policy each."""
    groups: list[list[Statement]] = [[]]
    for statement in statements:
        if compact_size([statement]) > limit:
            raise ValueError(f"statement {statement['Sid']} alone exceeds a managed policy's {limit} characters")
        if compact_size([*groups[-1], statement]) > limit:
            groups.append([])
        groups[-1].append(statement)
    return groups
