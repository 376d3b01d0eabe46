"""What every stack's deploys rely on, made once per AWS account: state, secrets, the boundary, CI's roles.

- The Pulumi state bucket (``prodline-pulumi-state-<account>``): KMS-encrypted with the secrets key,
  versioned (a bad state write can be rolled back), TLS-only, private, owner-enforced, access-logged.
- The secrets key (alias ``alias/prodline-pulumi-secrets``, rotating): the stacks' secrets provider.
- The permissions boundary (``components/bootstrap_boundary.py``) that every role a deploy creates carries.
- GitHub's OIDC provider and one deploy role per environment, assumable only from that deployment
  environment of one repository, with the same statements as the stack's deployer (``deployer_policy``).
- API Gateway's account-wide CloudWatch role, without which no stage (the front door's) can write access logs.
- With ``cost_allocation_tags``, the ownership tags activated as cost-allocation tags: every stack's budget
  filters its spend by them (``components/cost_budget.py``). Activation is account-wide (one status per tag
  key, shared by every stack), so it lives here rather than in a stack, where two stacks would both own it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.bootstrap_boundary import boundary_statements
from components.deployer_policy import DeployScope, deploy_statements, split_for_managed_policies
from standards import delivery as names
from standards.environments import PROMOTION_TARGETS

STATE_VERSIONS_KEPT_DAYS = 90
ACCESS_LOGS_KEPT_DAYS = 365


class AccountBootstrapArgs(TypedDict):
    account_id: str
    region: str
    github_repository: str
    """owner/name: only its GitHub deployment environments may assume the deploy roles."""
    environments: Sequence[str]
    boundary_policy: str
    cost_allocation_tags: NotRequired[Sequence[str]]
    """Tag keys to activate as cost-allocation tags (AWS refuses keys its billing data has not seen yet)."""


def bootstrap_settings(args: AccountBootstrapArgs) -> AccountBootstrapArgs:
    owner, _, repository = args["github_repository"].partition("/")
    if not owner or not repository or "/" in repository:
        raise ValueError(f"github_repository must be owner/name, got {args['github_repository']!r}")
    unknown = sorted(set(args["environments"]) - set(PROMOTION_TARGETS))
    if unknown or not args["environments"]:
        raise ValueError(f"environments must be some of {', '.join(PROMOTION_TARGETS)}, got {args['environments']}")
    return args


def github_trust(provider_arn: pulumi.Input[str], repository: str, environment: str) -> pulumi.Output[str]:
    """Only a job of ``repository`` running in its GitHub deployment environment ``environment`` may assume."""
    host = names.GITHUB_OIDC_HOST
    return docs.document([{
        "Sid": "GitHubDeploymentEnvironment",
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:aud": names.GITHUB_AUDIENCE,
                                       f"{host}:sub": f"repo:{repository}:environment:{environment}"}},
    }])


class AccountBootstrap(pulumi.ComponentResource):
    """The state bucket, the secrets key, the permissions boundary and GitHub's deploy roles."""

    state_bucket_name: pulumi.Output[str]
    secrets_provider: str
    boundary_arn: pulumi.Output[str]
    github_role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AccountBootstrapArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:delivery:AccountBootstrap", name, None, opts)
        args = bootstrap_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        account = args["account_id"]

        self.key = aws.kms.Key(
            f"{name}-secrets-key", description="prodline: Pulumi state and stack secrets", enable_key_rotation=True,
            deletion_window_in_days=30, policy=docs.document([docs.key_admin_statement(account)]), opts=child)
        aws.kms.Alias(f"{name}-secrets-key-alias", name=names.SECRETS_KEY_ALIAS, target_key_id=self.key.key_id,
                      opts=child)

        state_name = names.state_bucket(account)
        self.log_bucket = aws.s3.Bucket(f"{name}-state-access-logs", bucket=f"{state_name}-logs", opts=child)
        log_policy = self._secure(f"{name}-state-access-logs", self.log_bucket, {"sse_algorithm": "AES256"},
                                  ACCESS_LOGS_KEPT_DAYS, [{
                                      "Sid": "S3ServerAccessLogDelivery", "Effect": "Allow",
                                      "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                                      "Resource": pulumi.Output.concat(self.log_bucket.arn, "/*"),
                                      "Condition": {"StringEquals": {"aws:SourceAccount": account}}}],
                                  expire_current=True)
        self.state_bucket = aws.s3.Bucket(f"{name}-state", bucket=state_name, opts=child)
        self._secure(f"{name}-state", self.state_bucket,
                     {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key.arn}, STATE_VERSIONS_KEPT_DAYS)
        aws.s3.BucketLogging(f"{name}-state-logging", bucket=self.state_bucket.id, target_bucket=self.log_bucket.id,
                             target_prefix="state/", opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]))

        self.boundary = aws.iam.Policy(
            f"{name}-boundary", name=args["boundary_policy"],
            description="prodline: the most any prodline role may do; every role a deploy creates carries it",
            policy=json.dumps({"Version": "2012-10-17",
                               "Statement": boundary_statements(account, args["boundary_policy"])}),
            opts=child)
        boundary_arn = f"arn:aws:iam::{account}:policy/{args['boundary_policy']}"

        self.github = aws.iam.OpenIdConnectProvider(
            f"{name}-github-oidc", url=names.GITHUB_OIDC_URL, client_id_lists=[names.GITHUB_AUDIENCE], opts=child)
        self.github_role_arns = {}
        for environment in args["environments"]:
            role = aws.iam.Role(
                f"{name}-github-{environment}", name=names.github_deploy_role(environment),
                assume_role_policy=github_trust(self.github.arn, args["github_repository"], environment),
                permissions_boundary=boundary_arn,
                description=f"GitHub Actions deploys {environment} from {args['github_repository']}",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.boundary]))
            scope = DeployScope(environment=environment, stack=environment, account=account, region=args["region"],
                                boundary_arn=boundary_arn, state_bucket=state_name,
                                promote_to=PROMOTION_TARGETS[environment][-1])
            for index, statements in enumerate(split_for_managed_policies(deploy_statements(scope)), start=1):
                policy = aws.iam.Policy(
                    f"{name}-github-{environment}-policy-{index}",
                    name=f"{names.github_deploy_role(environment)}-{index}",
                    description=f"GitHub Actions deploys {environment}, part {index}",
                    policy=json.dumps({"Version": "2012-10-17", "Statement": statements}), opts=child)
                aws.iam.RolePolicyAttachment(f"{name}-github-{environment}-policy-{index}-attachment",
                                             role=role.name, policy_arn=policy.arn, opts=child)
            self.github_role_arns[environment] = role.arn

        self._api_gateway_logging(name, account, args["region"])

        for key in args.get("cost_allocation_tags", ()):
            aws.costexplorer.CostAllocationTag(f"{name}-cost-tag-{key}", tag_key=key, status="Active", opts=child)

        self.state_bucket_name = self.state_bucket.bucket
        self.secrets_provider = names.SECRETS_PROVIDER
        self.boundary_arn = self.boundary.arn
        self.register_outputs({"state_bucket": self.state_bucket_name, "boundary_arn": self.boundary_arn,
                               "github_role_arns": self.github_role_arns})

    def _api_gateway_logging(self, name: str, account: str, region: str) -> None:
        """API Gateway writes a stage's access logs (the front door's) only through the CloudWatch role set in its
        account settings, one per account and region: so it is made here, not by a stack. It may write only to
        the front doors' log groups (``/aws/apigateway/prodline-*``)."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-apigateway-logs", name=names.API_GATEWAY_LOGS_ROLE,
                            assume_role_policy=docs.service_trust("apigateway.amazonaws.com", account),
                            description="API Gateway writes the prodline front doors' access logs", opts=child)
        groups = f"arn:aws:logs:{region}:{account}:log-group:/aws/apigateway/{names.PROJECT}-*"
        aws.iam.RolePolicy(f"{name}-apigateway-logs-policy", role=role.id, policy=docs.document([
            docs.allow("WriteFrontDoorAccessLogs", ["logs:CreateLogStream", "logs:DescribeLogStreams",
                                                    "logs:PutLogEvents"], [groups, f"{groups}:*"]),
            docs.allow("FindLogGroups", ["logs:DescribeLogGroups"], [f"arn:aws:logs:{region}:{account}:log-group:*"]),
        ]), opts=child)
        aws.apigateway.Account(f"{name}-apigateway-account", cloudwatch_role_arn=role.arn, opts=child)

    def _secure(self, name: str, bucket: aws.s3.Bucket, encryption: dict, keep_days: int,
                extra_statements: Sequence[dict] = (), *, expire_current: bool = False) -> aws.s3.BucketPolicy:
        """Private, owner-enforced, versioned, encrypted, TLS-only, and cleaning up after itself."""
        child = pulumi.ResourceOptions(parent=self)
        ownership = aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        public = aws.s3.BucketPublicAccessBlock(f"{name}-public-access-block", bucket=bucket.id,
                                                block_public_acls=True, block_public_policy=True,
                                                ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"},
                                opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id, rules=[{
                "apply_server_side_encryption_by_default": encryption,
                "bucket_key_enabled": encryption["sse_algorithm"] == "aws:kms"}], opts=child)
        rule = {"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": keep_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}
        if expire_current:
            rule["expiration"] = {"days": keep_days}
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=[rule], opts=child)
        return aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id,
            policy=docs.document([docs.deny_insecure_transport(bucket.arn), *extra_statements]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public, ownership]))
