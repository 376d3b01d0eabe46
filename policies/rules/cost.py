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

from policies.rule import ADVISORY_IN_DEV, COST_CAP, DEV_ONLY, ResourceRule, StackRule, environment, message
from policies.rules import s3, sagemaker
from policies.rules.props import UNKNOWN, get, items, number
from standards import environments as envs

LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
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

RULES = (cost_endpoint_capacity_capped, cost_no_accelerated_instances_in_dev, cost_s3_lifecycle)
