"""The account bootstrap: what every stack's deploys rely on, previewed offline and judged by the pack."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from functools import cache

import pytest
import yaml

from components.bootstrap_boundary import WORKLOAD_ACTIONS, boundary_statements, platform_actions
from components.deployer_policy import MANAGED_POLICY_LIMIT
from infra import bootstrap_config
from infra.config import ConfigError
from policies.rules import s3
from prodline.program import BOOTSTRAP_DIR, Registration, run_bootstrap
from standards import delivery
from standards.ownership import OWNERSHIP_TAG_KEYS
from tests.helpers import as_list, named, of_type, stack_registrations, statements
from tests.policies.cases import changed_stack, judge, without

ACCOUNT = "123456789012"
STATE = f"prodline-pulumi-state-{ACCOUNT}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/prodline-deployer-boundary"
REPOSITORY = "acme/prodline"


@cache
def _bootstrap(*overrides: str) -> tuple[Registration, ...]:
    return tuple(run_bootstrap([f"githubRepository={REPOSITORY}", *overrides]))


def bootstrap(*overrides: str) -> list[Registration]:
    return list(_bootstrap(*overrides))


def test_state_bucket_is_encrypted_versioned_tls_only_private_and_owner_enforced():
    regs = bootstrap()
    bucket = named(regs, "account-state")
    assert bucket.inputs["bucket"] == STATE
    key = named(regs, "account-secrets-key")
    default = named(regs, "account-state-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}
    assert named(regs, "account-state-versioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert named(regs, "account-state-ownership").inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    block = named(regs, "account-state-public-access-block").inputs
    assert all(block[flag] is True for flag in s3.PUBLIC_ACCESS_FLAGS)
    policy = named(regs, "account-state-policy").inputs["policy"]
    assert any(s3.denies_insecure_transport(s) for s in statements(policy))
    assert named(regs, "account-state-logging").inputs["targetBucket"] == f"{STATE}-logs"


def test_the_secrets_key_rotates_and_is_the_stacks_secrets_provider():
    regs = bootstrap()
    key = named(regs, "account-secrets-key")
    assert key.inputs["enableKeyRotation"] is True
    alias = named(regs, "account-secrets-key-alias")
    assert alias.inputs["name"] == "alias/prodline-pulumi-secrets" == delivery.SECRETS_KEY_ALIAS
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]


def test_github_may_assume_one_role_per_environment_only_from_that_deployment_environment():
    regs = bootstrap()
    provider = named(regs, "account-github-oidc")
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    for env in ("dev", "staging", "prod"):
        role = named(regs, f"account-github-{env}")
        assert role.inputs["name"] == f"prodline-github-{env}-deployer"
        assert not fnmatch.fnmatchcase(role.inputs["name"], f"prodline-{env}-*"), "outside the stack's own prefix"
        assert role.inputs["permissionsBoundary"] == BOUNDARY
        (trust,) = statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Federated": provider.outputs["arn"]}
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Condition"] == {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:{env}"}}
        attached = [a for a in of_type(regs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if a.inputs["role"] == role.inputs["name"]]
        assert len(attached) >= 2


def test_environments_choose_the_github_roles():
    regs = bootstrap('environments=["prod"]')
    assert [r.name for r in of_type(regs, "aws:iam/role:Role") if "github" in r.name] == ["account-github-prod"]


def test_api_gateway_may_write_only_the_front_doors_access_logs():
    regs = bootstrap()
    (account,) = of_type(regs, "aws:apigateway/account:Account")
    role = named(regs, "account-apigateway-logs")
    assert account.inputs["cloudwatchRoleArn"].endswith(f"role/{role.inputs['name']}")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"] == [
        "apigateway.amazonaws.com"]
    write, find = statements(named(regs, "account-apigateway-logs-policy").inputs["policy"])
    assert all(":log-group:/aws/apigateway/prodline-*" in r for r in write["Resource"])
    assert find["Action"] == ["logs:DescribeLogGroups"]


def test_every_resource_carries_the_bootstraps_ownership_tags():
    from infra.tags import type_takes_tags

    for r in bootstrap():
        if r.custom and type_takes_tags(r.type):
            assert r.inputs["tags"]["project"] == "prodline-bootstrap", r.name
            assert r.inputs["tags"]["environment"] == "prod", r.name


# --- the pack judges it ------------------------------------------------------------------------------

def verdict(registrations):
    from prodline.policy_runner import evaluate

    return evaluate(registrations, stack="account", environment=bootstrap_config.ENVIRONMENT, region="eu-west-1")


def test_the_policy_pack_passes_on_the_bootstrap():
    report = verdict(bootstrap())
    assert not report.violations, [v.message for v in report.violations]


@pytest.mark.parametrize(("change", "rule"), [
    (lambda regs: without(regs, "account-state-encryption"), s3.s3_bucket_encrypted_with_kms),
    (lambda regs: changed_stack(regs, "account-state-versioning", "versioningConfiguration.status", "Suspended"),
     s3.s3_bucket_versioning_enabled),
    (lambda regs: changed_stack(regs, "account-state-policy", "policy",
                                json.dumps({"Version": "2012-10-17", "Statement": []})), s3.s3_bucket_tls_only),
    (lambda regs: without(regs, "account-state-public-access-block"), s3.s3_bucket_public_access_blocked),
], ids=["unencrypted", "unversioned", "not-tls-only", "public"])
def test_a_broken_state_bucket_fails_the_s3_rules(change, rule):
    found = judge(rule, change(bootstrap()), "prod")
    assert [v.resource for v in found] == ["account-state"], [v.message for v in found]


def test_a_github_role_without_the_boundary_fails():
    from policies.rules import delivery as rules

    found = judge(rules.delivery_deployer_role_bounded,
                  changed_stack(bootstrap(), "account-github-staging", "permissionsBoundary", ""), "prod")
    assert [v.resource for v in found] == ["account-github-staging"]


# --- the boundary ------------------------------------------------------------------------------------

def test_the_boundarys_action_patterns_pass_only_while_it_is_only_a_boundary():
    from policies.rules import iam as rules
    from tests.policies.cases import resource

    rule = rules.iam_no_action_patterns_on_every_resource
    assert any("*" in pattern for pattern in allowed_patterns()), "the boundary names actions by service and verb"
    assert judge(rule, bootstrap(), "prod") == []
    as_a_grant = resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "boundary-as-a-grant",
                          {"role": "prodline-github-prod-deployer", "policyArn": BOUNDARY})
    assert [v.resource for v in judge(rule, [*bootstrap(), as_a_grant], "prod")] == ["account-boundary"]


def allowed_patterns() -> list[str]:
    return [a for s in boundary_statements(ACCOUNT) if s["Effect"] == "Allow" for a in as_list(s["Action"])]


def allows(action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed_patterns())


def test_the_boundary_fits_one_managed_policy_and_names_no_whole_service():
    document = {"Version": "2012-10-17", "Statement": boundary_statements(ACCOUNT)}
    assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_LIMIT
    for pattern in allowed_patterns():
        assert pattern != "*" and not pattern.endswith(":*"), pattern
        assert not (pattern.startswith("iam:") and "*" in pattern), pattern


def test_the_boundary_allows_every_action_a_deploy_role_uses():
    missing = sorted(a for a in platform_actions() if not allows(a))
    assert not missing


@pytest.mark.parametrize(("stack", "overrides"), [("dev", ()), ("prod", ()),
                                                  ("prod", ("prodline:servingPlatform=kubernetes",)),
                                                  ("staging", ("prodline:servingImageSource=project",))])
def test_the_boundary_allows_every_action_the_stacks_roles_use(stack, overrides):
    used = set()
    for r in stack_registrations(stack, *overrides):
        if r.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
            used |= {a for s in statements(r.inputs["policy"]) if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not sorted(a for a in used if not allows(a)), "add them to WORKLOAD_ACTIONS"
    assert set(WORKLOAD_ACTIONS) <= platform_actions()


def test_the_boundary_denies_the_ways_out():
    denies = {s["Sid"]: s for s in boundary_statements(ACCOUNT) if s["Effect"] == "Deny"}
    assert denies["NoBoundaryRemoval"]["Action"] == "iam:DeleteRolePermissionsBoundary"
    without_it = denies["NoRoleWithoutThisBoundary"]
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary"} <= set(without_it["Action"])
    assert without_it["Condition"] == {"StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    assert denies["BoundaryStaysAsWritten"]["Resource"] == BOUNDARY
    assert {"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"} <= set(
        denies["BoundaryStaysAsWritten"]["Action"])
    assert set(denies["NoUsersOrAccessKeys"]["Action"]) == {"iam:CreateUser", "iam:CreateAccessKey"}
    assert not allows("iam:CreateUser") and not allows("iam:CreateAccessKey")


def test_the_boundary_policy_in_the_preview_is_the_one_the_stacks_name():
    policy = named(bootstrap(), "account-boundary")
    assert policy.inputs["name"] == delivery.BOUNDARY_POLICY
    assert statements(policy.inputs["policy"]) == boundary_statements(ACCOUNT)


# --- config and project files ---------------------------------------------------------------------

def test_the_project_file_is_a_python_program_in_the_projects_virtualenv():
    project = yaml.safe_load((BOOTSTRAP_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == delivery.BOOTSTRAP_PROJECT
    assert project["runtime"]["name"] == "python"
    assert (BOOTSTRAP_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == BOOTSTRAP_DIR.parent / ".venv"
    assert project["config"]["boundaryPolicyName"]["default"] == delivery.BOUNDARY_POLICY
    assert set(project["config"]) - {"aws:region"} == set(bootstrap_config.KEYS)


def raw(**values) -> dict:
    return {"aws:region": "eu-west-1", "prodline-bootstrap:githubRepository": REPOSITORY,
            "prodline-bootstrap:environments": '["dev", "staging", "prod"]', "prodline-bootstrap:owner": "team",
            "prodline-bootstrap:costCenter": "cc-1", "prodline-bootstrap:boundaryPolicyName": "boundary",
            **{f"prodline-bootstrap:{k}": v for k, v in values.items()}}


@pytest.mark.parametrize(("values", "complaint"), [
    ({"githubRepository": "no-slash"}, "githubRepository: 'no-slash' is not allowed"),
    ({"environments": '["qa"]'}, "environments"),
    ({"environments": "[]"}, "environments"),
    ({"environments": '["dev", "dev"]'}, "environments"),
    ({"boundaryPolicyName": "has space"}, "boundaryPolicyName"),
    ({"extra": "1"}, "prodline-bootstrap:extra: unknown key"),
])
def test_bad_bootstrap_config_names_the_key(values, complaint):
    with pytest.raises(ConfigError, match=complaint.replace("[", r"\[")):
        bootstrap_config.parse_bootstrap_config(raw(**values))


def test_the_placeholder_repository_is_refused_for_a_real_deploy(monkeypatch):
    monkeypatch.delenv("PRODLINE_OFFLINE", raising=False)
    with pytest.raises(ConfigError, match="placeholder"):
        bootstrap_config.parse_bootstrap_config(raw(githubRepository="example-org/prodline"))
    assert bootstrap_config.parse_bootstrap_config(raw()).environments == ("dev", "staging", "prod")


# --- the command -------------------------------------------------------------------------------------

def prodline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prodline.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_prodline_bootstrap_previews_and_judges_offline():
    listed = prodline("bootstrap", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {r["name"] for r in json.loads(listed.stdout)}
    assert {"account-state", "account-secrets-key", "account-boundary", "account-github-oidc"} <= names
    judged = prodline("bootstrap", "--policy", "--json")
    assert judged.returncode == 0, judged.stderr
    assert json.loads(judged.stdout)["mandatory"] == 0


def test_prodline_bootstrap_exits_2_on_bad_config():
    result = prodline("bootstrap", "-c", "githubRepository=nope")
    assert result.returncode == 2
    assert "githubRepository" in result.stderr and "Traceback" not in result.stderr


def test_the_ownership_tags_are_activated_for_cost_allocation_when_asked():
    assert of_type(bootstrap(), "aws:costexplorer/costAllocationTag:CostAllocationTag") == []
    tags = of_type(bootstrap("activateCostAllocationTags=true"),
                   "aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert sorted(t.inputs["tagKey"] for t in tags) == sorted(OWNERSHIP_TAG_KEYS)
    assert {t.inputs["status"] for t in tags} == {"Active"}


def test_activate_cost_allocation_tags_is_a_boolean():
    with pytest.raises(ConfigError, match="activateCostAllocationTags"):
        bootstrap_config.parse_bootstrap_config(raw(activateCostAllocationTags="yes"))
