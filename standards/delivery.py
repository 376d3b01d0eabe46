"""Names the delivery path shares: the program declares these resources, the deploy path and the bootstrap use them.

A deploy of one stack promotes to the next by name (its queue and its build project are in another stack),
and the account bootstrap creates what every stack's deployer relies on (the state bucket, the secrets key,
the permissions boundary), so both sides derive the names from here rather than from each other's outputs.
"""

from __future__ import annotations

PREFIX = "prodline"
PROJECT = "prodline"
"""The ``project`` ownership tag of every stack's resources; the bootstrap's carry ``BOOTSTRAP_PROJECT``."""
BOOTSTRAP_PROJECT = "prodline-bootstrap"

BOUNDARY_POLICY = "prodline-deployer-boundary"
"""Managed policy the bootstrap creates; every role a deploy creates must carry it as its permissions boundary."""
API_GATEWAY_LOGS_ROLE = "prodline-apigateway-cloudwatch"
"""The role API Gateway writes access logs with (its account setting `cloudwatchRoleArn`; the bootstrap makes it)."""
SECRETS_KEY_ALIAS = "alias/prodline-pulumi-secrets"
"""KMS key (made by the bootstrap) that encrypts the Pulumi state bucket and the stacks' secrets."""
SECRETS_PROVIDER = f"awskms://{SECRETS_KEY_ALIAS}"
STATE_BUCKET = "prodline-pulumi-state-{account}"
"""Pulumi state backend bucket made by the bootstrap (one per account)."""

EVENT_SOURCE = "prodline.delivery"
DETAIL_TYPES = ("Deployment Started", "Deployment Succeeded", "Deployment Failed", "Deployment Promoted",
                "Deployment Awaiting Approval")

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"

DEPLOY_ENGINE = "pulumi"
CODEBUILD_IMAGE = "aws/codebuild/standard:7.0"
CODEBUILD_COMPUTE = "BUILD_GENERAL1_SMALL"
WAKE_UP_SCHEDULE = "rate(1 hour)"


def prefix(environment: str) -> str:
    """``prodline-<env>``: the start of every name a stack gives its resources."""
    return f"{PREFIX}-{environment}"


def deploy_queue(environment: str) -> str:
    return f"{prefix(environment)}-deploy-requests.fifo"


def deployer_project(environment: str) -> str:
    return f"{prefix(environment)}-deployer"


def deployer_role(environment: str) -> str:
    return f"{prefix(environment)}-deployer"


def approval_rule(environment: str) -> str:
    return f"{prefix(environment)}-deploy-on-approval"


def event_bus(environment: str) -> str:
    return prefix(environment)


def alert_topic(environment: str) -> str:
    return f"{prefix(environment)}-alerts"


def github_deploy_role(environment: str) -> str:
    """Outside the stack's prefix on purpose: a stack's own deploy role cannot change CI's role or its trust."""
    return f"{PREFIX}-github-{environment}-deployer"


def version_parameter(stack: str) -> str:
    """SSM parameter holding the version record: what the stack serves, written only after a green smoke."""
    return f"/{PREFIX}/{stack}/model-version"


def approval_parameter(stack: str) -> str:
    return f"/{PREFIX}/{stack}/approval"


def parameters_path(stack: str) -> str:
    """Every delivery parameter of a stack lives under this path."""
    return f"{PREFIX}/{stack}/"


def state_bucket(account: str) -> str:
    return STATE_BUCKET.format(account=account)
