"""Cost rules: the caps each environment's table sets (``standards/environments.py``), enforced on what is declared.

Config validation already refuses a stack file that asks for more; these rules hold code paths that do
not go through config (a component called with literal values, a plan produced elsewhere) to the same
caps. They block in dev and staging and only warn in prod, where capacity is availability.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import (
    ADVISORY_IN_DEV,
    COST_CAP,
    DEV_ONLY,
    HELD_IN_PROD,
    ResourceRule,
    StackRule,
    environment,
    message,
)
from policies.rules import s3, sagemaker
from policies.rules.props import UNKNOWN, get, is_list, items, number
from standards import environments as envs
from standards.cost.estimate import BUDGET_COMPONENT, Resource, estimate_stack
from standards.cost.prices import MissingPriceFile
from standards.delivery import BOOTSTRAP_PROJECT

LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUDGET = "aws:budgets/budget:Budget"
BUDGET_ALERTS = (("ACTUAL", 80.0), ("FORECASTED", 100.0))
"""The alerts every budget needs: spend past 80% of the limit, and a forecast past the limit."""
# GPU and ML-accelerator families: ml.g4dn, ml.p4d, ml.inf2, ml.trn1, ml.dl1 ...
_ACCELERATED = re.compile(r"ml\.(g|p|inf|trn|dl)\d+[a-z]*\..+")


def _validate_capacity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    env = environment(args)
    cap = envs.MAX_SERVING_CAPACITY[env]
    fix = f"set prodline:servingMaxCapacity (and servingMinCapacity) to at most {cap}"
    why = f"{env} caps an endpoint at {cap} instances (standards/environments.py) so a traffic spike or a runaway " \
          "load test cannot run up the bill"
    if args.resource_type == sagemaker.SCALING_TARGET:
        if get(args.props, "scalableDimension") != sagemaker.VARIANT_DIMENSION:
            return
        high = number(get(args.props, "maxCapacity"))
        if high is not None and high > cap:
            report(message(args.name, f"lets the endpoint scale out to {high:g} instances", why, fix))
        return
    for variant in sagemaker.variants(args.props):
        count = number(get(variant, "initialInstanceCount"))
        if count is not None and count > cap:
            report(message(args.name, f"variant {get(variant, 'variantName')} starts {count:g} instances", why, fix))


cost_endpoint_capacity_capped = ResourceRule(
    "cost-endpoint-capacity-capped",
    "Requires SageMaker endpoint capacity (initial instances, autoscaling maximum) to stay within the "
    "environment's cap.",
    _validate_capacity,
    types=[sagemaker.SCALING_TARGET, sagemaker.ENDPOINT_CONFIG],
    enforcement=COST_CAP,
)


def _instance_types(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(where, instance type) of everything an endpoint configuration or a pipeline runs on."""
    if args.resource_type == sagemaker.ENDPOINT_CONFIG:
        for variant in sagemaker.variants(args.props):
            yield f"variant {get(variant, 'variantName')}", get(variant, "instanceType")
        return
    definition = sagemaker.pipeline_definition(args.props)
    for step, _, _, instance_type in sagemaker.jobs(definition) if definition is not None else ():
        yield f"step {get(step, 'Name')}", instance_type


def _validate_accelerated(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, instance_type in _instance_types(args):
        if isinstance(instance_type, str) and _ACCELERATED.fullmatch(instance_type):
            report(message(args.name, f"{where} runs on the accelerated instance type {instance_type} in "
                                      f"{environment(args)}",
                           "GPU and accelerator instances cost several times a CPU instance and are rarely needed "
                           "to try a change; dev serves the churn model on CPU",
                           "use a CPU type (prodline:servingInstanceType, prodline:trainingInstanceType) from "
                           "standards/environments.py"))


cost_no_accelerated_instances_in_dev = ResourceRule(
    "cost-no-accelerated-instances-in-dev",
    "Prohibits GPU and ML-accelerator instance types for endpoints and pipeline jobs in dev.",
    _validate_accelerated,
    types=[sagemaker.ENDPOINT_CONFIG, sagemaker.PIPELINE],
    enforcement=DEV_ONLY,
)


def _rules_of(stack: StackValidationArgs, bucket: PolicyResource) -> list[Mapping[str, Any]] | None:
    """Enabled lifecycle rules of a bucket (None when they are not known yet)."""
    found = [*items(get(bucket.props, "lifecycleRules"))]
    for config in s3.companions(stack, LIFECYCLE, bucket):
        rules = get(config.props, "rules")
        if rules is UNKNOWN:
            return None
        found += items(rules)
    return [r for r in found if get(r, "status") in ("Enabled", None, UNKNOWN) and get(r, "enabled") is not False]


def _check_lifecycle(stack: StackValidationArgs, bucket: PolicyResource):
    rules = _rules_of(stack, bucket)
    if rules is None:
        return
    fix = ("declare aws.s3.BucketLifecycleConfiguration with noncurrent_version_expiration and "
           "abort_incomplete_multipart_upload (DataLake does; prodline:lakeRetentionDays sets the days)")
    if not any(get(r, "noncurrentVersionExpiration") is not None for r in rules):
        yield message(bucket.name, "never expires noncurrent object versions",
                      "in a versioned bucket every overwrite keeps the old version; a daily ETL rewriting its "
                      "partitions doubles the bill month after month", fix)
    if not any(get(r, "abortIncompleteMultipartUpload") is not None for r in rules):
        yield message(bucket.name, "never aborts incomplete multipart uploads",
                      "parts of failed uploads are invisible in listings but billed until deleted", fix)


cost_s3_lifecycle = StackRule(
    "cost-s3-lifecycle",
    "Requires every S3 bucket to expire noncurrent versions and abort incomplete multipart uploads.",
    s3.for_each_bucket(_check_lifecycle),
    enforcement=ADVISORY_IN_DEV,
)

def _budgets(stack: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in stack.resources if r.resource_type == BUDGET]


def _reaches_someone(notification: Any) -> bool:
    """A topic or an address is named, or will be once computed (a topic's ARN is unknown in a new stack's
    preview): only a known empty list reaches nobody."""
    for field in ("subscriberSnsTopicArns", "subscriberEmailAddresses"):
        value = get(notification, field)
        if value is UNKNOWN or (is_list(value) and len(value) > 0):
            return True
    return False


def _alerted(budget: PolicyResource, kind: str, percent: float) -> bool:
    """A notification of ``kind`` at or below ``percent`` that reaches a topic or an address."""
    for notification in items(get(budget.props, "notifications")):
        threshold = number(get(notification, "threshold"))
        if (get(notification, "notificationType") == kind and get(notification, "thresholdType") == "PERCENTAGE"
                and threshold is not None and threshold <= percent and _reaches_someone(notification)):
            return True
    return False


def _is_account_bootstrap(stack: StackValidationArgs) -> bool:
    """The account bootstrap's stack (state bucket, boundary, deploy roles): shared by every stack, so it is
    paid for under the account, not under a stack's budget."""
    projects = {r.urn.split("::")[1] for r in stack.resources if r.urn.count("::") >= 3}
    return projects == {BOOTSTRAP_PROJECT}


def _validate_budget(stack: StackValidationArgs, report: ReportViolation) -> None:
    if _is_account_bootstrap(stack):
        return
    fix = "declare components.cost_budget.CostBudget (infra/stack.py does; prodline:budgetMonthlyUsd sets the limit)"
    budgets = _budgets(stack)
    if not budgets:
        report(message(f"prodline-{environment(stack)}", "declares no AWS Budget",
                       "nobody hears of an idle endpoint or a runaway training fleet until the invoice", fix))
        return
    for budget in budgets:
        for kind, percent in BUDGET_ALERTS:
            if not _alerted(budget, kind, percent):
                report(message(budget.name, f"has no {kind} notification at {percent:g}% or less to a topic or an "
                                            "address", "a budget nobody is told about protects nothing", fix),
                       budget.urn)


cost_stack_budget = StackRule(
    "cost-stack-budget",
    "Requires every stack to declare an AWS Budget that notifies at 80% of actual and 100% of forecast spend.",
    _validate_budget,
)


def _limit(stack: StackValidationArgs) -> float | None:
    for budget in _budgets(stack):
        limit = get(budget.props, "limitAmount")
        try:
            return float(limit)
        except (TypeError, ValueError):
            continue
    return None


def _validate_estimate(stack: StackValidationArgs, report: ReportViolation) -> None:
    resources = [Resource(r.resource_type, r.name, r.props) for r in stack.resources]
    if not any(r.type == BUDGET_COMPONENT for r in resources):
        return  # no usage assumptions to estimate with; cost-stack-budget reports the missing budget
    try:
        estimate, declared = estimate_stack(resources)
    except MissingPriceFile as err:
        report(message(f"prodline-{environment(stack)}", f"cannot be estimated: {err}",
                       "a stack whose estimate cannot be made is held to no budget at all",
                       "commit the region's price file, written by `prodline cost refresh-prices --region <region>`"))
        return
    limit = _limit(stack) or declared.limit_usd
    if estimate.high > limit:
        report(message(f"prodline-{environment(stack)}",
                       f"may cost up to ${estimate.high:,.2f} a month (estimate ${estimate.low:,.2f} - "
                       f"${estimate.high:,.2f}, prodline cost) against a budget of ${limit:,.2f}",
                       "the budget would alert every month, and an alert that always fires is ignored",
                       "lower the capacity or the usage the stack is built for, or raise prodline:budgetMonthlyUsd "
                       "after agreeing the spend with the cost center"))


cost_estimate_within_budget = StackRule(
    "cost-estimate-within-budget",
    "Requires the upper bound of the stack's monthly cost estimate to fit in its budget.",
    _validate_estimate,
    enforcement=HELD_IN_PROD,
)

RULES = (cost_endpoint_capacity_capped, cost_no_accelerated_instances_in_dev, cost_s3_lifecycle, cost_stack_budget,
         cost_estimate_within_budget)
