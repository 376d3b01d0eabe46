"""IAM rules on a role with an inline policy document, a RolePolicy and managed policy attachments."""

from __future__ import annotations

import json

import pytest

from policies.rules import iam
from tests.policies.cases import assert_fails, assert_passes, resource

TRUST = {"Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com"]},
         "Action": "sts:AssumeRole"}
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


def test_pass_role_on_every_role_fails():
    regs = role_stack(statements=(READ, {**PASS_OWN_ROLE, "Resource": "*"}))
    assert_fails(iam.iam_pass_role_scoped, regs, "training-role-policy", "iam:PassRole", "'PassOwnRoleToJobs'")
