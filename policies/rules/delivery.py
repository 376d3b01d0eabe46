"""Continuous delivery rules: the deployer stays inside its boundary, approvals deploy, prod waits for a person.

The deploy role runs ``pulumi up`` unattended, so it is the most powerful role of a stack: it must carry
the account's permissions boundary and name its actions (its statements come as managed policies, too big
for an inline one, so attachments are followed). Staging and prod deploy what is approved through a
CodeBuild deployer woken by the approval; prod's deployer demands a person's recorded approval.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, DISABLED, MANDATORY, ResourceRule, StackRule, levels, message
from policies.rules import links
from policies.rules.props import UNKNOWN, allow_statements, get, items, label, missing, strings

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PROJECT = "aws:codebuild/project:Project"
MODEL_PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
CODEBUILD = "codebuild.amazonaws.com"
DEPLOYER_NAME = "*-deployer*"
APPROVAL_SOURCE = "aws.sagemaker"
APPROVAL_DETAIL_TYPE = "SageMaker Model Package State Change"
REQUIRE_APPROVAL = "PRODLINE_REQUIRE_APPROVAL"
DEPLOYER_VARIABLES = (REQUIRE_APPROVAL, "PRODLINE_DEPLOY_ENGINE")
FIX_DEPLOYER = "components/deployer.py builds the role; prodline:deployerPermissionsBoundary names the boundary"


# --- the deployer role ------------------------------------------------------------------------------

def trusts(role: PolicyResource, service: str) -> bool:
    trust = get(role.props, "assumeRolePolicy")
    return any(service in strings(get(s, "Principal.Service")) for s in allow_statements(trust))


def is_deployer_role(role: PolicyResource) -> bool:
    """Trusted by CodeBuild, or named like a deployer (``prodline-prod-deployer``, CI's ``...-deployer``)."""
    names = [role.name, *(n for n in (get(role.props, "name"),) if isinstance(n, str))]
    return trusts(role, CODEBUILD) or any(fnmatch.fnmatchcase(n, DEPLOYER_NAME) for n in names)


def role_documents(stack: StackValidationArgs, role: PolicyResource) -> Iterator[tuple[str, Any]]:
    """(where, document) for every identity policy of a role: inline, RolePolicy, attached managed policies."""
    for inline in items(get(role.props, "inlinePolicies")):
        yield f"inline policy {get(inline, 'name')!r}", get(inline, "policy")
    for policy in links.referring(stack.resources, [ROLE_POLICY], "role", role):
        yield policy.name, get(policy.props, "policy")
    managed = links.of_type(stack.resources, MANAGED_POLICY)
    for attachment in links.referring(stack.resources, [ATTACHMENT], "role", role):
        for policy in managed:
            if links.refers_to(attachment, "policyArn", policy):
                yield policy.name, get(policy.props, "policy")


def broad_actions(statement: Mapping[str, Any]) -> list[str]:
    """``*``, a whole service (``s3:*``) or any IAM wildcard (``iam:*``, ``iam:Put*``)."""
    return [a for a in strings(get(statement, "Action"))
            if a == "*" or a.endswith(":*") or (a.lower().startswith("iam:") and "*" in a)]


def _check_deployer(stack: StackValidationArgs, role: PolicyResource) -> Iterator[str]:
    if missing(get(role.props, "permissionsBoundary")):
        yield message(role.name, "is a deploy role without a permissions boundary",
                      "it runs pulumi up unattended and may create roles; without the boundary a role it creates, or "
                      "a statement it writes for itself, could grant anything in the account",
                      f"set permissions_boundary to the bootstrap's boundary policy ARN ({FIX_DEPLOYER})")
    for where, document in role_documents(stack, role):
        for index, statement in enumerate(allow_statements(document)):
            broad = broad_actions(statement)
            if broad or get(statement, "NotAction") is not None:
                what = f"the action {broad[0]!r}" if broad else "NotAction"
                yield message(role.name, f"{where} {label(get(statement, 'Sid'), index)} allows {what}",
                              "a deploy role's wildcard grants every present and future action of the service, "
                              "including the IAM actions that escape its boundary",
                              f"name each action (components/deployer_policy.py; {FIX_DEPLOYER})")


def _validate_deployers(args: StackValidationArgs, report: ReportViolation) -> None:
    for role in links.of_type(args.resources, ROLE):
        if is_deployer_role(role):
            for text in _check_deployer(args, role):
                report(text, role.urn)


delivery_deployer_role_bounded = StackRule(
    "delivery-deployer-role-bounded",
    "Requires every deploy role (trusted by CodeBuild or named *-deployer*) to carry a permissions boundary and to "
    "name its actions: no *, no service:* and no IAM wildcard in any of its policies.",
    _validate_deployers,
)


# --- approvals deploy ---------------------------------------------------------------------------------

def approval_pattern_groups(pattern: Any) -> list[str] | None:
    """The model package groups an event pattern matches approvals of ([] = any group); None if no approval."""
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError:
            return None
    if not isinstance(pattern, Mapping):
        return None
    if not (APPROVAL_SOURCE in strings(get(pattern, "source"))
            and APPROVAL_DETAIL_TYPE in strings(get(pattern, "detail-type"))
            and "Approved" in strings(get(pattern, "detail.ModelApprovalStatus"))):
        return None
    return strings(get(pattern, "detail.ModelPackageGroupName"))


def deploys_on_approval(stack: StackValidationArgs, group: PolicyResource) -> bool:
    """Whether an approval rule for the group has a target that is a CodeBuild project of the stack."""
    projects = links.of_type(stack.resources, PROJECT)
    named = links.identities(group) | {n for n in (get(group.props, "modelPackageGroupName"),) if isinstance(n, str)}
    unknown = False
    for rule in links.of_type(stack.resources, EVENT_RULE):
        pattern = get(rule.props, "eventPattern")
        if pattern is UNKNOWN:
            unknown = True  # not known during preview: it may be the one
            continue
        groups = approval_pattern_groups(pattern)
        if groups is None or (groups and not named & set(groups)):
            continue
        targets = links.referring(stack.resources, [EVENT_TARGET], "rule", rule)
        if any(links.refers_to(t, "arn", p) for t in targets for p in projects):
            return True
    return unknown


def _validate_approval_deploys(args: StackValidationArgs, report: ReportViolation) -> None:
    for group in links.of_type(args.resources, MODEL_PACKAGE_GROUP):
        if not deploys_on_approval(args, group):
            report(message(group.name, "has no EventBridge rule that starts a CodeBuild deployer when one of its "
                                       "model versions is approved",
                           "an approval would then change nothing until someone runs pulumi up by hand, and versions "
                           "would reach users in whatever order people happen to deploy them",
                           "declare the Deployer component (components/deployer.py; infra/delivery.py wires it), whose "
                           "rule targets the deploy queue and the deployer project"), group.urn)


delivery_approval_triggers_deploy = StackRule(
    "delivery-approval-triggers-deploy",
    "Requires every model package group to have an EventBridge rule on its approvals that targets a CodeBuild "
    "deployer project.",
    _validate_approval_deploys,
    enforcement=ADVISORY_IN_DEV,
)


# --- prod waits for a person ------------------------------------------------------------------------

def environment_variables(props: Any) -> dict[str, Any]:
    return {get(v, "name"): get(v, "value") for v in items(get(props, "environment.environmentVariables"))}


def _validate_prod_approval(args: ResourceValidationArgs, report: ReportViolation) -> None:
    variables = environment_variables(args.props)
    if not any(name in variables for name in DEPLOYER_VARIABLES) and "deployer" not in args.name:
        return  # not a deployer project
    value = variables.get(REQUIRE_APPROVAL)
    if value is UNKNOWN or (isinstance(value, str) and value.lower() == "true"):
        return
    wrong = f"sets {REQUIRE_APPROVAL}={value!r}" if value is not None else f"does not set {REQUIRE_APPROVAL}"
    report(message(args.name, f"deploys prod but {wrong}",
                   "prod's deploys must refuse a version nobody approved in person, or a green staging deploy "
                   "reaches every user unreviewed",
                   "set prodline:deliveryRequireApproval to true in Pulumi.prod.yaml (config validation requires it); "
                   "the Deployer passes it to the build as PRODLINE_REQUIRE_APPROVAL"))


delivery_prod_requires_approval = ResourceRule(
    "delivery-prod-requires-approval",
    "Requires prod's deployer project to demand a person's recorded approval (PRODLINE_REQUIRE_APPROVAL=true).",
    _validate_prod_approval,
    types=[PROJECT],
    enforcement=levels(DISABLED, DISABLED, MANDATORY),
)

RULES = (delivery_deployer_role_bounded, delivery_approval_triggers_deploy, delivery_prod_requires_approval)
