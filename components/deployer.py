"""The in-account deployer: an approved model version reaches the stack without anyone running a command.

An approval in the stack's model package group is a deploy request. EventBridge puts it on a FIFO queue
(one message group per stack: approval order, one deploy at a time, no lock service) and wakes a CodeBuild
project, whose build runs ``prodline deploy --stack <stack> --from-queue``: it drains the queue, one
request at a time, each one a ``pulumi up`` of this stack with the version pinned, a smoke gate, and a
restore when the gate fails. The project allows one build at a time, so a throttled wake-up is harmless
(the running build drains the queue), and an hourly wake-up means no request is ever stranded (one
that finds the queue empty skips the install and ends in seconds).

Keys: the queues use the stack's alerts key, which EventBridge may already use (the events role sends
through it); the build's source, logs and artifacts use the lake key, whose policy lets CloudWatch Logs use
it. A request the build fails to finish three times (a build that crashed mid-deploy, a message it cannot
read) moves to a dead-letter queue instead of blocking every later approval of the FIFO group, and an
alarm on that queue pages the alert topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import yaml

from components import policy_documents as docs
from components.deployer_bundle import write_zip
from components.deployer_policy import DeployScope, deploy_statements, split_for_managed_policies
from components.model_registry import approval_pattern
from standards import delivery as names

SOURCE_PREFIX = "deployer"
NOTHING_TO_DEPLOY = ".nothing-to-deploy"
PYTHON_VERSION = "3.12"
REDELIVERIES = 3
"""Receives of one request before it moves to the dead-letter queue."""
DEPLOY_VISIBILITY_SECONDS = 2 * 3600
"""How long a request stays invisible while one deploy runs: pulumi up (a canary bakes up to an hour), smoke."""
BUILD_TIMEOUT_MINUTES = 8 * 60
"""One build drains the queue, several deploys in a row."""
RETENTION_SECONDS = 14 * 24 * 3600  # the longest SQS keeps a message: a request outlives a long weekend


class DeployerArgs(TypedDict):
    environment: str
    stack: str
    account_id: str
    region: str
    model_package_group: pulumi.Input[str]
    """Approvals in this group are deploy requests."""
    artifacts_bucket: pulumi.Input[str]
    """Where the repository bundle (the build's source) is uploaded, under ``deployer/<hash>/``."""
    artifacts_key_arn: pulumi.Input[str]
    """Encrypts the bundle, the build's logs and artifacts; its policy must let CloudWatch Logs use it."""
    queue_key_arn: pulumi.Input[str]
    """Encrypts the queues; its policy must let EventBridge use it."""
    alert_topic_arn: pulumi.Input[str]
    log_retention_days: int
    boundary_arn: str
    """Permissions boundary of the deploy role, and of every role it may create."""
    state_bucket: str
    backend_url: str
    """Pulumi state backend the build uses (PULUMI_BACKEND_URL)."""
    require_approval: bool
    source_files: Mapping[str, bytes]
    """The repository bundle: what ``pip install .`` and ``prodline deploy`` need, archive path -> content."""
    pulumi_version: str
    """The Pulumi CLI the build installs: the version of the SDK the program is built with."""
    promote_to: NotRequired[str]
    """Stack a green deploy promotes to: the deploy role may request a deploy there."""
    eks_cluster: NotRequired[str]
    extra_key_aliases: NotRequired[Sequence[str]]


def deployer_settings(args: DeployerArgs) -> DeployerArgs:
    if args.get("promote_to") == args["environment"]:
        raise ValueError(f"promote_to must name another stack than {args['environment']}")
    if not args["backend_url"].startswith("s3://"):
        raise ValueError(f"backend_url must be an s3:// URL, got {args['backend_url']!r}")
    for required in ("pyproject.toml", "Pulumi.yaml"):
        if required not in args["source_files"]:
            raise ValueError(f"source_files must contain {required} at the top of the bundle")
    return args


def buildspec(pulumi_version: str) -> str:
    """Install the pinned Pulumi CLI and the project, then drain the stack's deploy queue.

    An hourly wake-up usually finds the queue empty: the build then skips the install and the deploy.
    """
    idle = f"test -f {NOTHING_TO_DEPLOY} ||"
    return yaml.safe_dump({
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {
                "runtime-versions": {"python": PYTHON_VERSION},
                "commands": [
                    'waiting=$(aws sqs get-queue-attributes --queue-url "$DEPLOY_QUEUE_URL" --attribute-names '
                    "ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages --output text) && "
                    'echo "deploy requests waiting: $waiting" && '
                    f'if [ "$waiting" = "0" ]; then touch {NOTHING_TO_DEPLOY}; fi',
                    f"{idle} curl -fsSL https://get.pulumi.com | sh -s -- --version {pulumi_version}",
                    f"{idle} python -m venv .venv",
                    f"{idle} .venv/bin/pip install --quiet --disable-pip-version-check .",
                ],
            },
            "build": {"commands": [
                f'{idle} PATH="$HOME/.pulumi/bin:$PATH" .venv/bin/prodline deploy --stack "$STACK" --from-queue',
            ]},
        },
    }, sort_keys=False, width=1000)


class Deployer(pulumi.ComponentResource):
    """Deploy requests (FIFO queue), the build that serves them, and the rules that start it."""

    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    project_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeployerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:delivery:Deployer", name, None, opts)
        args = deployer_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        env = args["environment"]
        prefix = names.prefix(env)

        self.dead_letters = aws.sqs.Queue(
            f"{name}-dead-letters", name=f"{prefix}-deploy-requests-dead-letters.fifo", fifo_queue=True,
            kms_master_key_id=args["queue_key_arn"], message_retention_seconds=RETENTION_SECONDS, opts=child)
        self.queue = aws.sqs.Queue(
            f"{name}-requests", name=names.deploy_queue(env), fifo_queue=True, content_based_deduplication=True,
            kms_master_key_id=args["queue_key_arn"], kms_data_key_reuse_period_seconds=300,
            visibility_timeout_seconds=DEPLOY_VISIBILITY_SECONDS, message_retention_seconds=RETENTION_SECONDS,
            redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": self.dead_letters.arn,
                                                     "maxReceiveCount": REDELIVERIES}),
            opts=child)
        aws.cloudwatch.MetricAlarm(
            f"{name}-dead-letters-alarm", name=f"{prefix}-deploy-requests-dead-letters",
            alarm_description="a deploy request failed three times and was set aside: read it, then redrive or drop it",
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dead_letters.name}, statistic="Maximum", period=300, evaluation_periods=1,
            comparison_operator="GreaterThanThreshold", threshold=0.0, treat_missing_data="notBreaching",
            alarm_actions=[args["alert_topic_arn"]], ok_actions=[args["alert_topic_arn"]], opts=child)

        bundle_path, version = write_zip(args["source_files"])
        self.source = aws.s3.BucketObject(
            f"{name}-source", bucket=args["artifacts_bucket"], key=f"{SOURCE_PREFIX}/{version}/source.zip",
            source=pulumi.FileAsset(str(bundle_path)), server_side_encryption="aws:kms",
            kms_key_id=args["artifacts_key_arn"], opts=child)
        project_name = names.deployer_project(env)
        self.logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/codebuild/{project_name}", retention_in_days=args["log_retention_days"],
            kms_key_id=args["artifacts_key_arn"], opts=child)

        self.role = aws.iam.Role(
            f"{name}-role", name=names.deployer_role(env), permissions_boundary=args["boundary_arn"],
            # The project's ARN by name: the project itself needs the role first.
            assume_role_policy=docs.service_trust("codebuild.amazonaws.com", args["account_id"], [
                f"arn:aws:codebuild:{args['region']}:{args['account_id']}:project/{project_name}"]),
            description=f"prodline deployer of {args['stack']}: pulumi up of its own stack, within the boundary",
            opts=child)
        attachments = self._deploy_policies(name, args)

        self.project = aws.codebuild.Project(
            f"{name}-project", name=project_name,
            description=f"prodline deploy --stack {args['stack']} --from-queue: serves the stack's deploy requests",
            service_role=self.role.arn, concurrent_build_limit=1, build_timeout=BUILD_TIMEOUT_MINUTES,
            queued_timeout=BUILD_TIMEOUT_MINUTES, encryption_key=args["artifacts_key_arn"],
            artifacts={"type": "NO_ARTIFACTS"},
            source={"type": "S3", "location": pulumi.Output.concat(args["artifacts_bucket"], "/", self.source.key),
                    "buildspec": buildspec(args["pulumi_version"])},
            environment={
                "compute_type": names.CODEBUILD_COMPUTE, "image": names.CODEBUILD_IMAGE,
                "type": "LINUX_CONTAINER", "image_pull_credentials_type": "CODEBUILD",
                "environment_variables": [{"name": key, "value": value, "type": "PLAINTEXT"}
                                          for key, value in self._environment(args).items()],
            },
            logs_config={"cloudwatch_logs": {"status": "ENABLED", "group_name": self.logs.name},
                         "s3_logs": {"status": "DISABLED"}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments))

        self.approval_rule = aws.cloudwatch.EventRule(
            f"{name}-on-approval", name=names.approval_rule(env),
            description=f"a model version of {args['stack']} was approved: queue a deploy and wake the deployer",
            event_pattern=pulumi.Output.json_dumps(approval_pattern(args["model_package_group"])), opts=child)
        self.wake_up_rule = aws.cloudwatch.EventRule(
            f"{name}-wake-up", name=f"{prefix}-deployer-wake-up", schedule_expression=names.WAKE_UP_SCHEDULE,
            description=f"wake the deployer of {args['stack']} hourly, so no queued request is stranded", opts=child)

        # EventBridge sends and starts with a role of its own, allowed this queue and this project only, and
        # assumable by EventBridge only for the two rules above.
        self.events_role = aws.iam.Role(
            f"{name}-events-role", name=f"{prefix}-deploy-events",
            assume_role_policy=docs.events_trust(args["account_id"], [self.approval_rule, self.wake_up_rule]),
            permissions_boundary=args["boundary_arn"],
            description=f"EventBridge queues deploy requests of {args['stack']} and starts its deployer", opts=child)
        events_policy = aws.iam.RolePolicy(f"{name}-events-role-policy", role=self.events_role.id,
                                           policy=docs.document([
            docs.allow("QueueDeployRequests", ["sqs:SendMessage"], [self.queue.arn]),
            docs.allow("EncryptDeployRequests", ["kms:Decrypt", "kms:GenerateDataKey"], [args["queue_key_arn"]]),
            docs.allow("StartDeployer", ["codebuild:StartBuild"], [self.project.arn]),
                                           ]), opts=child)
        targets = pulumi.ResourceOptions(parent=self, depends_on=[events_policy])
        aws.cloudwatch.EventTarget(
            f"{name}-on-approval-queue", rule=self.approval_rule.name, arn=self.queue.arn,
            role_arn=self.events_role.arn, sqs_target={"message_group_id": args["stack"]}, opts=targets)
        aws.cloudwatch.EventTarget(
            f"{name}-on-approval-build", rule=self.approval_rule.name, arn=self.project.arn,
            role_arn=self.events_role.arn, opts=targets)
        aws.cloudwatch.EventTarget(f"{name}-wake-up-build", rule=self.wake_up_rule.name, arn=self.project.arn,
                                   role_arn=self.events_role.arn, opts=targets)

        self.queue_url = self.queue.url
        self.queue_arn = self.queue.arn
        self.project_name = self.project.name
        self.role_arn = self.role.arn
        self.register_outputs({"queue_url": self.queue_url, "queue_arn": self.queue_arn,
                               "project_name": self.project_name, "role_arn": self.role_arn})

    def _environment(self, args: DeployerArgs) -> dict[str, pulumi.Input[str]]:
        return {
            "STACK": args["stack"],
            "PRODLINE_DEPLOY_ENGINE": names.DEPLOY_ENGINE,
            "PULUMI_BACKEND_URL": args["backend_url"],
            "PULUMI_SECRETS_PROVIDER": names.SECRETS_PROVIDER,
            "PRODLINE_REQUIRE_APPROVAL": "true" if args["require_approval"] else "false",
            "DEPLOY_QUEUE_URL": self.queue.url,
        }

    def _deploy_policies(self, name: str, args: DeployerArgs) -> list[pulumi.Resource]:
        """The deploy role's statements as managed policies: together they exceed what an inline policy may hold."""
        scope = DeployScope(
            environment=args["environment"], stack=args["stack"], account=args["account_id"], region=args["region"],
            boundary_arn=args["boundary_arn"], state_bucket=args["state_bucket"],
            promote_to=args.get("promote_to", ""), eks_cluster=args.get("eks_cluster", ""),
            extra_key_aliases=tuple(args.get("extra_key_aliases", ())))
        attachments: list[pulumi.Resource] = []
        for index, statements in enumerate(split_for_managed_policies(deploy_statements(scope)), start=1):
            policy = aws.iam.Policy(
                f"{name}-policy-{index}", name=f"{names.deployer_role(args['environment'])}-{index}",
                description=f"prodline deployer of {args['stack']}, part {index}",
                policy=json.dumps({"Version": "2012-10-17", "Statement": statements}),
                opts=pulumi.ResourceOptions(parent=self))
            attachments.append(aws.iam.RolePolicyAttachment(
                f"{name}-policy-{index}-attachment", role=self.role.name, policy_arn=policy.arn,
                opts=pulumi.ResourceOptions(parent=self)))
        return attachments
