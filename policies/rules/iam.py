"""IAM rules: least privilege written where it can be checked, not promised.

Policy documents live in several places (a role's inline policies, ``RolePolicy``, ``Policy``, user and
group policies) and managed policies are attached in several ways; each rule reads all of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.props import UNKNOWN, allow_statements, get, items, label, missing, strings
from standards import trust

ROLE = "aws:iam/role:Role"
MANAGED_POLICY = "aws:iam/policy:Policy"
# Type token -> property naming a permissions boundary.
BOUNDED = {ROLE: "permissionsBoundary", "aws:iam/user:User": "permissionsBoundary"}
# Type token -> property holding an identity policy document.
POLICY_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    MANAGED_POLICY: "policy",
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


def identity_documents(args: ResourceValidationArgs | PolicyResource) -> Iterator[Any]:
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


def _is_pattern(action: str) -> bool:
    return "*" in action or "?" in action


def _every_resource(statement: Mapping[str, Any]) -> str | None:
    """How a statement reaches every resource (``Resource *``, or ``NotResource``), or None when it names them."""
    if "*" in strings(get(statement, "Resource")):
        return "on every resource (Resource *)"
    if get(statement, "NotResource") is not None:
        return "on every resource but those NotResource lists"
    return None


def _names_policy(arn: Any, policy: PolicyResource) -> bool:
    """Whether an ARN names a managed policy: its ARN, or (its ARN unknown during preview) its path and name."""
    if not isinstance(arn, str):
        return False
    if arn in links.identities(policy):
        return True
    name, path = get(policy.props, "name"), get(policy.props, "path")
    path = path if isinstance(path, str) and path else "/"
    return isinstance(name, str) and arn.endswith(f":policy{path}{name}")


def _refers(resource: PolicyResource, key: str, policy: PolicyResource) -> bool:
    return links.refers_to(resource, key, policy, []) or any(
        _names_policy(arn, policy) for arn in strings(get(resource.props, key)))


def only_a_boundary(stack: StackValidationArgs, policy: PolicyResource) -> bool:
    """A managed policy that some role or user of the stack carries as its permissions boundary and that nothing
    attaches: it only caps what others grant, and grants nothing itself."""
    capping = any(_refers(r, BOUNDED[r.resource_type], policy) for r in links.of_type(stack.resources, *BOUNDED))
    attached = any(_refers(r, MANAGED_POLICY_ARNS[r.resource_type], policy)
                   for r in links.of_type(stack.resources, *MANAGED_POLICY_ARNS))
    return capping and not attached


def _validate_patterns_on_every_resource(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in links.of_type(args.resources, *POLICY_DOCUMENTS, ROLE):
        if resource.resource_type == MANAGED_POLICY and only_a_boundary(args, resource):
            continue
        for document in identity_documents(resource):
            for index, statement in enumerate(allow_statements(document)):
                reach = _every_resource(statement)
                # * and service:* are iam-no-wildcard-actions' to report, on any resource.
                whole = _wildcard_actions(statement)
                patterns = [a for a in strings(get(statement, "Action")) if _is_pattern(a) and a not in whole]
                if reach and patterns:
                    report(message(resource.name, f"{label(get(statement, 'Sid'), index)} allows the action pattern "
                                                  f"{patterns[0]!r} {reach}",
                                   "a pattern grants every action it matches, today's and those AWS adds later, and "
                                   "on every resource it reaches any bucket, key or role in the account",
                                   f"{NAME_THE_ACTIONS}, or scope the statement to the resources it needs"),
                           resource.urn)


iam_no_action_patterns_on_every_resource = StackRule(
    "iam-no-action-patterns-on-every-resource",
    "Prohibits IAM policies that allow an action pattern like s3:Get* on every resource (Resource * or NotResource), "
    "except in a managed policy the stack's roles carry only as their permissions boundary: a boundary caps what "
    "other policies grant and grants nothing by itself.",
    _validate_patterns_on_every_resource,
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


def _condition_values(statement: Mapping[str, Any], key: str, operators: tuple[str, ...]) -> list[str] | None:
    """The values a statement's condition pins ``key`` to under one of ``operators`` (IAM compares condition
    keys case-insensitively); None when the condition is not known yet."""
    condition = get(statement, "Condition")
    if condition is UNKNOWN:
        return None
    found: list[str] = []
    for operator in operators:
        block = get(condition, operator)
        if isinstance(block, Mapping):
            found += [v for k in block if isinstance(k, str) and k.lower() == key.lower()
                      for v in strings(get(block, k))]
    return found


SOURCE_ACCOUNT_OPERATORS = ("StringEquals", "StringLike")
SOURCE_ARN_OPERATORS = ("ArnEquals", "ArnLike", "StringEquals", "StringLike")


def _validate_service_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for index, statement in enumerate(allow_statements(get(args.props, "assumeRolePolicy"))):
        services = strings(get(statement, "Principal.Service"))
        if not services:
            continue
        where = f"trust policy {label(get(statement, 'Sid'), index)} ({', '.join(services)})"
        why = ("without it, the service may assume the role for any customer who names its ARN in their own job or "
               "rule (the confused deputy), and act in this account with the role's permissions")
        needed = [(trust.SOURCE_ACCOUNT, SOURCE_ACCOUNT_OPERATORS)]
        if trust.SOURCE_ARN_SERVICES.intersection(services):
            needed.append((trust.SOURCE_ARN, SOURCE_ARN_OPERATORS))
        for key, operators in needed:
            values = _condition_values(statement, key, operators)
            if values is not None and (missing(values) or "*" in values):
                report(message(args.name, f"{where} does not pin {key}", why,
                               f"pin {key} to the account (or its resources) in a {operators[0]} or {operators[1]} "
                               "condition (components build service roles with policy_documents.service_trust, "
                               "which does; standards/trust.py lists the services that send aws:SourceArn)"))


iam_service_trust_source_conditions = ResourceRule(
    "iam-service-trust-source-conditions",
    "Requires every trust statement for an AWS service principal to pin aws:SourceAccount, and aws:SourceArn for the "
    "services that send it (SageMaker, CodeBuild, EventBridge): the cross-service confused-deputy conditions.",
    _validate_service_trust,
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

RULES = (iam_no_wildcard_actions, iam_no_action_patterns_on_every_resource, iam_no_full_access_managed_policies,
         iam_trust_no_wildcard_principal, iam_service_trust_source_conditions, iam_pass_role_scoped)
