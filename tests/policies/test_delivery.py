"""Delivery rules on a deployer as components/deployer.py declares it: its role, its rules, its project."""

from __future__ import annotations

import json

import pytest

from policies.rules import delivery
from tests.policies.cases import ACCOUNT, DELETE, REGION, assert_fails, assert_passes, change, resource

BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/prodline-deployer-boundary"
ROLE_NAME = "prodline-prod-deployer"
PROJECT_ARN = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/prodline-prod-deployer"
GROUP = "prodline-prod-churn"
APPROVAL = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]}}
NAMED = {"Sid": "ManageStackBuckets", "Effect": "Allow", "Action": ["s3:CreateBucket", "s3:GetBucketPolicy"],
         "Resource": ["arn:aws:s3:::prodline-prod-*"]}
BOUNDED = {"Sid": "CreateBoundedRoles", "Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
           "Resource": [f"arn:aws:iam::{ACCOUNT}:role/prodline-prod-*"],
           "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}}
CODEBUILD_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": ["codebuild.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]}


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def variables(**values) -> list[dict]:
    return [{"name": name, "value": value, "type": "PLAINTEXT"} for name, value in values.items()]


ENVIRONMENT = variables(STACK="prod", PRODLINE_DEPLOY_ENGINE="pulumi", PRODLINE_REQUIRE_APPROVAL="true")


def deployer(*, role=None, managed=(NAMED, BOUNDED), inline_policy=None, pattern=APPROVAL, build_target=True,
             environment=ENVIRONMENT, group=True):
    """The deployer's resources as the program registers them, with the changes asked for."""
    role_inputs = {"name": ROLE_NAME, "assumeRolePolicy": json.dumps(CODEBUILD_TRUST),
                   "permissionsBoundary": BOUNDARY, **(role or {})}
    role_inputs = {k: v for k, v in role_inputs.items() if v is not DELETE}
    regs = [
        resource(delivery.ROLE, "deployer-role", role_inputs),
        resource(delivery.MANAGED_POLICY, "deployer-policy-1", {"name": "prodline-prod-deployer-1",
                                                                "policy": document(*managed)}),
        resource(delivery.ATTACHMENT, "deployer-policy-1-attachment", {
            "role": ROLE_NAME, "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/prodline-prod-deployer-1"}),
        resource(delivery.PROJECT, "deployer-project", {"name": "prodline-prod-deployer", "serviceRole": "x",
                                                        "environment": {"environmentVariables": environment}}),
        resource(delivery.EVENT_RULE, "deployer-on-approval", {"name": "prodline-prod-deploy-on-approval",
                                                               "eventPattern": json.dumps(pattern)}),
        resource(delivery.EVENT_TARGET, "deployer-on-approval-queue", {
            "rule": "prodline-prod-deploy-on-approval", "sqsTarget": {"messageGroupId": "prod"},
            "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:prodline-prod-deploy-requests.fifo"}),
    ]
    if build_target:
        regs.append(resource(delivery.EVENT_TARGET, "deployer-on-approval-build",
                             {"rule": "prodline-prod-deploy-on-approval", "arn": PROJECT_ARN}))
    if inline_policy is not None:
        regs.append(resource(delivery.ROLE_POLICY, "deployer-role-policy",
                             {"role": ROLE_NAME, "policy": document(inline_policy)}))
    if group:
        regs.append(resource(delivery.MODEL_PACKAGE_GROUP, "registry-group", {"modelPackageGroupName": GROUP}))
    return regs


@pytest.mark.parametrize("rule", delivery.RULES, ids=lambda r: r.name)
def test_the_deployer_as_declared_passes(rule):
    assert_passes(rule, deployer())


def test_the_rules_find_nothing_to_judge_in_a_stack_without_a_registry():
    for rule in delivery.RULES:
        assert_passes(rule, deployer(group=False))


# --- delivery-deployer-role-bounded -----------------------------------------------------------------

def test_a_deploy_role_without_a_boundary_fails():
    assert_fails(delivery.delivery_deployer_role_bounded, deployer(role={"permissionsBoundary": DELETE}),
                 "deployer-role", "without a permissions boundary", "permissions_boundary")


@pytest.mark.parametrize("action", ["*", "s3:*", "iam:*", "iam:Put*"])
def test_a_wildcard_in_the_deploy_roles_managed_policy_fails(action):
    broad = {**NAMED, "Sid": "Broad", "Action": [action]}
    assert_fails(delivery.delivery_deployer_role_bounded, deployer(managed=(NAMED, broad)), "deployer-role",
                 f"allows the action {action!r}", "'Broad'", "deployer-policy-1")


def test_a_wildcard_in_the_deploy_roles_inline_policy_fails():
    assert_fails(delivery.delivery_deployer_role_bounded,
                 deployer(inline_policy={**NAMED, "Sid": "Inline", "Action": "sagemaker:*"}),
                 "deployer-role", "'sagemaker:*'", "deployer-role-policy")


def test_not_action_in_the_deploy_role_fails():
    not_action = {"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:CreateUser"], "Resource": "*"}
    assert_fails(delivery.delivery_deployer_role_bounded, deployer(managed=(NAMED, not_action)), "deployer-role",
                 "NotAction")


def test_a_role_named_like_a_deployer_is_held_to_the_rule_whoever_trusts_it():
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                            "Principal": {"Federated": "arn:oidc"}}]}
    github = {"name": "prodline-github-prod-deployer", "permissionsBoundary": DELETE,
              "assumeRolePolicy": json.dumps(trust)}
    assert_fails(delivery.delivery_deployer_role_bounded, deployer(role=github), "deployer-role", "boundary")


def test_other_roles_are_left_to_the_iam_rules():
    other = {"name": "prodline-prod-training-role", "permissionsBoundary": DELETE,
             "assumeRolePolicy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "sagemaker.amazonaws.com"}}]})}
    assert_passes(delivery.delivery_deployer_role_bounded, deployer(role=other))


# --- delivery-approval-triggers-deploy -------------------------------------------------------------

def test_an_approval_rule_without_a_codebuild_target_fails():
    assert_fails(delivery.delivery_approval_triggers_deploy, deployer(build_target=False), "registry-group",
                 "no EventBridge rule that starts a CodeBuild deployer", "Deployer")


@pytest.mark.parametrize(("path", "value"), [
    ("detail.ModelApprovalStatus", ["PendingManualApproval"]),
    ("source", ["aws.glue"]),
    ("detail.ModelPackageGroupName", ["another-group"]),
])
def test_a_rule_on_other_events_does_not_count(path, value):
    assert_fails(delivery.delivery_approval_triggers_deploy, deployer(pattern=change(APPROVAL, path, value)),
                 "registry-group", "CodeBuild deployer")


def test_a_rule_on_approvals_of_every_group_counts():
    assert_passes(delivery.delivery_approval_triggers_deploy,
                  deployer(pattern=change(APPROVAL, "detail.ModelPackageGroupName", DELETE)))


def test_dev_is_only_told():
    from tests.policies.cases import judge

    (violation,) = judge(delivery.delivery_approval_triggers_deploy, deployer(build_target=False), "dev")
    assert violation.enforcement == "advisory"


# --- delivery-prod-requires-approval ---------------------------------------------------------------

@pytest.mark.parametrize(("environment", "words"), [
    (variables(STACK="prod", PRODLINE_DEPLOY_ENGINE="pulumi", PRODLINE_REQUIRE_APPROVAL="false"),
     "sets PRODLINE_REQUIRE_APPROVAL='false'"),
    (variables(STACK="prod", PRODLINE_DEPLOY_ENGINE="pulumi"), "does not set PRODLINE_REQUIRE_APPROVAL"),
])
def test_prods_deployer_without_approval_fails(environment, words):
    assert_fails(delivery.delivery_prod_requires_approval, deployer(environment=environment), "deployer-project",
                 words, "prodline:deliveryRequireApproval")


def test_staging_and_dev_deploy_without_a_person():
    unapproved = deployer(environment=variables(STACK="staging", PRODLINE_REQUIRE_APPROVAL="false"))
    for environment in ("dev", "staging"):
        assert_passes(delivery.delivery_prod_requires_approval, unapproved, environment)


def test_other_build_projects_are_not_deployers():
    other = deployer(environment=variables(STAGE="test"))
    other = [r if r.name != "deployer-project" else resource(delivery.PROJECT, "image-builder", {
        "name": "prodline-prod-image", "environment": {"environmentVariables": variables(STAGE="test")}})
        for r in other]
    assert_passes(delivery.delivery_prod_requires_approval, other)


@pytest.mark.parametrize(("stack", "overrides"), [
    ("dev", ()), ("staging", ()), ("prod", ()),
    ("dev", ("prodline:servingPlatform=kubernetes",)), ("staging", ("prodline:servingPlatform=kubernetes",)),
    ("prod", ("prodline:servingPlatform=kubernetes",)),
])
def test_the_whole_pack_passes_on_every_shipped_stack_with_its_deployer(stack, overrides):
    from prodline.policy_runner import evaluate
    from tests.helpers import stack_registrations
    from tests.policies.expected import assert_verdict

    report = evaluate(stack_registrations(stack, *overrides), stack=stack, environment=stack, region=REGION)
    assert_verdict(report.violations, stack, overrides)
    assert any(r.name == "deployer-project" for r in stack_registrations(stack, *overrides))
