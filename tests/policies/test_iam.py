"""IAM rules on a role with an inline policy document, a RolePolicy and managed policy attachments."""

from __future__ import annotations

import json

import pytest

from policies.rules import iam
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, judge, resource

ACCOUNT = "123456789012"
TRUST = {"Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com"]},
         "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                       "ArnLike": {"aws:SourceArn": [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:*"]}}}
READ = {"Sid": "ReadFeatures", "Effect": "Allow", "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::bucket-features/churn/*"]}
PASS_OWN_ROLE = {"Sid": "PassOwnRoleToJobs", "Effect": "Allow", "Action": ["iam:PassRole"],
                 "Resource": ["arn:aws:iam::123456789012:role/training-role"],
                 "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_stack(*, trust=TRUST, statements=(READ, PASS_OWN_ROLE), managed=(), inline=()):
    return [
        resource(iam.ROLE, "training-role", {
            "assumeRolePolicy": document(trust), "managedPolicyArns": list(managed),
            "inlinePolicies": [{"name": "inline", "policy": document(*inline)}] if inline else []}),
        resource("aws:iam/rolePolicy:RolePolicy", "training-role-policy",
                 {"role": "training-role", "policy": document(*statements)}),
        resource(ATTACHMENT, "training-logs", {
            "role": "training-role", "policyArn": "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess"}),
    ]


@pytest.mark.parametrize("rule", iam.RULES, ids=lambda r: r.name)
def test_a_least_privilege_role_passes(rule):
    assert_passes(rule, role_stack())


@pytest.mark.parametrize("action", ["*", "s3:*", "sagemaker:*"])
def test_a_wildcard_action_fails(action):
    regs = role_stack(statements=(READ, {**READ, "Sid": "Everything", "Action": action}))
    assert_fails(iam.iam_no_wildcard_actions, regs, "training-role-policy", repr(action), "'Everything'")


def test_a_partial_wildcard_is_allowed():
    assert_passes(iam.iam_no_wildcard_actions, role_stack(statements=(READ, {**READ, "Action": "s3:Get*"})))


PATTERNS = iam.iam_no_action_patterns_on_every_resource
EVERYTHING = {"Sid": "Everything", "Effect": "Allow", "Resource": "*"}


@pytest.mark.parametrize("action", ["s3:Get*", "s3:?etObject", "sagemaker:Describe*"])
def test_an_action_pattern_on_every_resource_fails(action):
    regs = role_stack(statements=(READ, {**EVERYTHING, "Action": [action]}))
    assert_fails(PATTERNS, regs, "training-role-policy", repr(action), "'Everything'", "Resource *")


def test_an_action_pattern_on_every_resource_but_some_fails():
    broad = {"Sid": "AllButLogs", "Effect": "Allow", "Action": ["s3:Get*"], "NotResource": ["arn:aws:s3:::logs/*"]}
    assert_fails(PATTERNS, role_stack(statements=(READ, broad)), "training-role-policy", "NotResource")


def test_an_action_pattern_on_named_resources_passes():
    assert_passes(PATTERNS, role_stack(statements=(READ, {**READ, "Action": ["s3:Get*"]})))


@pytest.mark.parametrize("action", ["*", "sagemaker:*"])
def test_a_whole_service_on_every_resource_is_reported_once_by_the_pack(action):
    """* and service:* on Resource * fail: iam-no-wildcard-actions reports them (anywhere), and only it."""
    regs = role_stack(statements=(READ, {**EVERYTHING, "Action": action}))
    found = [v.rule for rule in (iam.iam_no_wildcard_actions, PATTERNS) for v in judge(rule, regs)]
    assert found == ["iam-no-wildcard-actions"]


def managed(name: str, *statements, **props):
    return resource(iam.MANAGED_POLICY, name, {"name": name, "policy": document(*statements), **props})


BOUNDARY_STATEMENT = {"Sid": "PlatformServices", "Effect": "Allow", "Action": ["s3:Get*", "sagemaker:Describe*"],
                      "Resource": "*"}


def bounded_stack(boundary_arn: str, *extra):
    return [*role_stack(), managed("platform-boundary", BOUNDARY_STATEMENT),
            resource(iam.ROLE, "deploy-role", {"name": "deploy", "assumeRolePolicy": document(TRUST),
                                               "permissionsBoundary": boundary_arn}), *extra]


@pytest.mark.parametrize("arn", [f"arn:aws:iam::{ACCOUNT}:policy/platform-boundary",
                                 "arn:aws:iam::1:policy/platform-boundary"], ids=["by-arn", "by-name"])
def test_a_policy_that_is_only_a_permissions_boundary_is_exempt(arn):
    # by-name: the policy's own ARN is not known yet (a preview), the role names it by its name.
    assert_passes(PATTERNS, bounded_stack(arn))


def test_an_action_pattern_on_every_resource_in_a_managed_policy_fails():
    regs = [*role_stack(), managed("platform-boundary", BOUNDARY_STATEMENT)]
    assert_fails(PATTERNS, regs, "platform-boundary", "'s3:Get*'")


def test_a_boundary_that_is_also_attached_grants_and_fails():
    attached = resource(ATTACHMENT, "deploy-boundary-attachment", {
        "role": "deploy", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/platform-boundary"})
    regs = bounded_stack(f"arn:aws:iam::{ACCOUNT}:policy/platform-boundary", attached)
    assert_fails(PATTERNS, regs, "platform-boundary", "'s3:Get*'", "'PlatformServices'")


def test_not_action_in_an_allow_fails():
    broad = {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}
    assert_fails(iam.iam_no_wildcard_actions, role_stack(statements=(READ, broad)), "training-role-policy",
                 "NotAction", "statement #2")


def test_a_wildcard_in_a_role_inline_policy_fails():
    assert_fails(iam.iam_no_wildcard_actions, role_stack(inline=({**READ, "Action": "*"},)), "training-role", "'*'")


def test_a_wildcard_deny_is_fine():
    assert_passes(iam.iam_no_wildcard_actions, role_stack(statements=(READ, {**READ, "Effect": "Deny", "Action": "*"})))


@pytest.mark.parametrize("policy", ["AmazonSageMakerFullAccess", "AmazonS3FullAccess", "AdministratorAccess",
                                    "service-role/AWSGlueServiceRoleFullAccess"])
def test_a_broad_managed_policy_on_the_role_fails(policy):
    regs = role_stack(managed=[f"arn:aws:iam::aws:policy/{policy}"])
    assert_fails(iam.iam_no_full_access_managed_policies, regs, "training-role", policy.rsplit("/", 1)[-1])


def test_a_broad_managed_policy_attached_separately_fails():
    regs = role_stack()
    regs[2].inputs["policyArn"] = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    assert_fails(iam.iam_no_full_access_managed_policies, regs, "training-logs", "AmazonSageMakerFullAccess")


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root", "*"]}],
                         ids=["star", "aws-star", "aws-list"])
def test_a_trust_policy_for_any_principal_fails(principal):
    regs = role_stack(trust={**TRUST, "Principal": principal})
    assert_fails(iam.iam_trust_no_wildcard_principal, regs, "training-role", "any principal", "'AssumedByService'")


SOURCES = iam.iam_service_trust_source_conditions


@pytest.mark.parametrize(("path", "value", "key"), [
    ("Condition.StringEquals", DELETE, "aws:SourceAccount"),
    ("Condition.ArnLike", DELETE, "aws:SourceArn"),
    ("Condition.StringEquals.aws:SourceAccount", "*", "aws:SourceAccount"),
    ("Condition", {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                   "ArnNotLike": {"aws:SourceArn": "arn:aws:sagemaker:*"}}, "aws:SourceArn"),
], ids=["no-source-account", "no-source-arn", "any-account", "negated-arn"])
def test_a_service_trust_that_does_not_pin_its_source_fails(path, value, key):
    regs = role_stack(trust=change(TRUST, path, value))
    assert_fails(SOURCES, regs, "training-role", f"does not pin {key}", "sagemaker.amazonaws.com", "confused deputy")


def test_a_source_pinned_only_if_the_key_exists_fails():
    if_exists = change(TRUST, "Condition", {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT},
                                            "ArnLike": TRUST["Condition"]["ArnLike"]})
    assert_fails(SOURCES, role_stack(trust=if_exists), "training-role", "aws:SourceAccount")


def test_glue_sends_no_source_arn_so_its_account_is_enough():
    glue = change(change(TRUST, "Principal.Service", ["glue.amazonaws.com"]), "Condition.ArnLike", DELETE)
    assert_passes(SOURCES, role_stack(trust=glue))


def test_condition_keys_match_in_any_case():
    lower = change(TRUST, "Condition.StringEquals", {"aws:sourceaccount": ACCOUNT})
    assert_passes(SOURCES, role_stack(trust=lower))


def test_federated_trusts_are_not_service_trusts():
    irsa = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks"},
            "Action": "sts:AssumeRoleWithWebIdentity"}
    assert_passes(SOURCES, role_stack(trust=irsa))


def test_pass_role_on_every_role_fails():
    regs = role_stack(statements=(READ, {**PASS_OWN_ROLE, "Resource": "*"}))
    assert_fails(iam.iam_pass_role_scoped, regs, "training-role-policy", "iam:PassRole", "'PassOwnRoleToJobs'")
