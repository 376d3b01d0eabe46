"""The account bootstrap `pulumi up` runs in this folder (once per AWS account, before any stack's first deploy)."""

import pulumi
import pulumi_aws as aws

from components.account_bootstrap import AccountBootstrap
from infra.bootstrap_config import from_pulumi
from infra.config import ConfigError
from infra.tags import register_ownership_tags
from standards.ownership import OWNERSHIP_TAG_KEYS

try:
    config = from_pulumi()
except ConfigError as err:
    raise pulumi.RunError(str(err)) from None

register_ownership_tags(config.tags())
foundation = AccountBootstrap("account", {
    "account_id": aws.get_caller_identity().account_id,
    "region": config.region,
    "github_repository": config.github_repository,
    "environments": list(config.environments),
    "boundary_policy": config.boundary_policy,
    **({"cost_allocation_tags": list(OWNERSHIP_TAG_KEYS)} if config.activate_cost_allocation_tags else {}),
})
pulumi.export("stateBucket", foundation.state_bucket_name)
pulumi.export("backendUrl", pulumi.Output.concat("s3://", foundation.state_bucket_name))
pulumi.export("secretsProvider", foundation.secrets_provider)
pulumi.export("boundaryPolicyArn", foundation.boundary_arn)
pulumi.export("githubDeployRoles", foundation.github_role_arns)
