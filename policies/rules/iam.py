"""IAM rules: least privilege written where it can be checked, not promised.

Policy documents live in several places (a role's inline policies, ``RolePolicy``, ``Policy``, user and
group policies) and managed policies are attached in several ways; each rule reads all of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rule import ResourceRule, message
from policies.rules.props import allow_statements, get, items, label, strings

ROLE = "aws:iam/role:Role"
# Type token -> property holding an identity policy document.
POLICY_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
# Type token -> property holding managed policy ARNs.
MANAGED_POLICY_ARNS = {
    ROLE: "managedPolicyArns",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
}
# AWS managed policies that grant whole services (or everything): never what a workload needs.
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess")
NAME_THE_ACTIONS = ("list the actions the role uses (components build statements with policy_documents.allow, "
                    "which refuses wildcards)")


def identity_documents(args: ResourceValidationArgs) -> Iterator[Any]:
    """Every identity policy document a resource declares."""
    if args.resource_type in POLICY_DOCUMENTS:
        yield get(args.props, POLICY_DOCUMENTS[args.resource_type])
    elif args.resource_type == ROLE:
        for inline in items(get(args.props, "inlinePolicies")):
            yield get(inline, "policy")


def _wildcard_actions(statement: Mapping[str, Any]) -> list[str]:
    return [a for a in strings(get(statement, "Action")) if a == "*" or a.endswith(":*")]


def _validate_wildcard_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for document in identity_documents(args):
        for index, statement in enumerate(allow_statements(document)):
            where = label(get(statement, "Sid"), index)
            wildcards = _wildcard_actions(statement)
            if wildcards:
                report(message(args.name, f"{where} allows the wildcard action {wildcards[0]!r}",
                               "a wildcard grants every present and future action it covers, including ones "
                               "that delete data or change permissions", NAME_THE_ACTIONS))
            if get(statement, "NotAction") is not None:
                report(message(args.name, f"{where} allows NotAction",
                               "an Allow with NotAction grants every action except the listed ones, including "
                               "actions AWS adds later", NAME_THE_ACTIONS))


iam_no_wildcard_actions = ResourceRule(
    "iam-no-wildcard-actions",
    "Prohibits IAM policies that allow the action * or a whole service (service:*), or use NotAction in an Allow.",
    _validate_wildcard_actions,
    types=[*POLICY_DOCUMENTS, ROLE],
)


def _is_broad(arn: str) -> bool:
    name = arn.rsplit("/", 1)[-1]
    return name.endswith("FullAccess") or name in BROAD_MANAGED_POLICIES


def _validate_managed_policies(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for arn in strings(get(args.props, MANAGED_POLICY_ARNS[args.resource_type])):
        if _is_broad(arn):
            report(message(args.name, f"attaches the managed policy {arn.rsplit('/', 1)[-1]}",
                           "*FullAccess and administrator policies grant every action of a service on every resource "
                           "in the account, far beyond what one job or endpoint uses",
                           "remove the attachment and give the role an inline policy naming its actions and resources "
                           "(see components/policy_documents.py)"))


iam_no_full_access_managed_policies = ResourceRule(
    "iam-no-full-access-managed-policies",
    "Prohibits attaching *FullAccess, AdministratorAccess or PowerUserAccess managed policies.",
    _validate_managed_policies,
    types=list(MANAGED_POLICY_ARNS),
)


def _validate_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for index, statement in enumerate(allow_statements(get(args.props, "assumeRolePolicy"))):
        if "*" in strings(get(statement, "Principal")):
            report(message(args.name, f"trust policy {label(get(statement, 'Sid'), index)} lets any principal ('*') "
                                      "assume the role",
                           "anyone in any AWS account who learns the role ARN could then act with its permissions",
                           "name the service (policy_documents.service_trust) or the federated provider and pin the "
                           "subject with a condition (eks_access.web_identity_trust)"))


iam_trust_no_wildcard_principal = ResourceRule(
    "iam-trust-no-wildcard-principal",
    "Prohibits IAM role trust policies that let any principal (*) assume the role.",
    _validate_trust,
    types=[ROLE],
)


def _validate_pass_role(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for document in identity_documents(args):
        for index, statement in enumerate(allow_statements(document)):
            if "iam:PassRole" in strings(get(statement, "Action")) and "*" in strings(get(statement, "Resource")):
                report(message(args.name, f"{label(get(statement, 'Sid'), index)} allows iam:PassRole on every role",
                               "passing any role to a service is privilege escalation: a job can run as the most "
                               "powerful role in the account",
                               "name the role ARNs it may pass and pin iam:PassedToService in a condition "
                               "(TrainingPipeline passes only its own role to SageMaker)"))


iam_pass_role_scoped = ResourceRule(
    "iam-pass-role-scoped",
    "Prohibits granting iam:PassRole on every role (Resource *).",
    _validate_pass_role,
    types=[*POLICY_DOCUMENTS, ROLE],
)

RULES = (iam_no_wildcard_actions, iam_no_full_access_managed_policies, iam_trust_no_wildcard_principal,
         iam_pass_role_scoped)
