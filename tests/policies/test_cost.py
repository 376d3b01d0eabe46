"""Cost rules: endpoint capacity caps per environment and no accelerators in dev (lifecycle: see test_s3)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from policies.rules import cost
from standards import environments as envs
from tests.helpers import named, stack_registrations
from tests.policies.cases import assert_fails, assert_passes, change, changed_stack, judge

CAP = cost.cost_endpoint_capacity_capped
ACCELERATED = cost.cost_no_accelerated_instances_in_dev


@pytest.fixture(scope="module")
def dev():
    return stack_registrations("dev")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("rule", [CAP, ACCELERATED], ids=lambda r: r.name)
def test_the_shipped_stacks_pass(rule, stack):
    assert_passes(rule, stack_registrations(stack), environment=stack)


def test_dev_scaling_beyond_its_cap_fails(dev):
    cap = envs.MAX_SERVING_CAPACITY["dev"]
    violation = assert_fails(CAP, changed_stack(dev, "serving-scaling-target", "maxCapacity", cap + 1),
                             "serving-scaling-target", f"scale out to {cap + 1}", "prodline:servingMaxCapacity",
                             environment="dev")
    assert violation.enforcement == "mandatory"


def test_dev_starting_beyond_its_cap_fails(dev):
    regs = changed_stack(dev, "serving-config", "productionVariants.0.initialInstanceCount", 3)
    assert_fails(CAP, regs, "serving-config", "starts 3 instances", environment="dev")


def test_the_cap_only_warns_in_prod():
    regs = changed_stack(stack_registrations("prod"), "serving-scaling-target", "maxCapacity", 50)
    (violation,) = judge(CAP, regs, environment="prod")
    assert violation.enforcement == "advisory"


def test_other_scalable_targets_are_not_endpoints(dev):
    regs = changed_stack(dev, "serving-scaling-target", "scalableDimension", "dynamodb:table:ReadCapacityUnits")
    assert_passes(CAP, changed_stack(regs, "serving-scaling-target", "maxCapacity", 500), environment="dev")


def test_a_gpu_endpoint_in_dev_fails(dev):
    regs = changed_stack(dev, "serving-config", "productionVariants.0.instanceType", "ml.g4dn.xlarge")
    assert_fails(ACCELERATED, regs, "serving-config", "ml.g4dn.xlarge", "prodline:servingInstanceType",
                 environment="dev")


@pytest.mark.parametrize(("step", "path"), [(0, "ResourceConfig.InstanceType"),
                                            (1, "ProcessingResources.ClusterConfig.InstanceType")])
def test_a_gpu_pipeline_step_in_dev_fails(dev, step, path):
    registration = named(dev, "training-pipeline")
    definition = change(json.loads(registration.inputs["pipelineDefinition"]), f"Steps.{step}.Arguments.{path}",
                        "ml.p3.2xlarge")
    regs = [dataclasses.replace(registration, inputs={**registration.inputs,
                                                       "pipelineDefinition": json.dumps(definition)})]
    assert_fails(ACCELERATED, regs, "training-pipeline", "ml.p3.2xlarge", environment="dev")


def test_accelerators_are_a_warning_in_staging_and_allowed_in_prod(dev):
    regs = changed_stack(dev, "serving-config", "productionVariants.0.instanceType", "ml.inf2.xlarge")
    assert [v.enforcement for v in judge(ACCELERATED, regs, environment="staging")] == ["advisory"]
    assert judge(ACCELERATED, regs, environment="prod") == []


BUDGET = cost.cost_stack_budget
WITHIN = cost.cost_estimate_within_budget


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("rule", [BUDGET, WITHIN], ids=lambda r: r.name)
def test_the_shipped_stacks_have_a_budget_that_holds_their_estimate(rule, stack):
    assert_passes(rule, stack_registrations(stack), environment=stack)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_declares_a_budget_with_both_alerts(stack):
    (budget,) = [r for r in stack_registrations(stack) if r.type == cost.BUDGET]
    kinds = {(n["notificationType"], n["threshold"]) for n in budget.inputs["notifications"]}
    assert kinds == {("ACTUAL", 80), ("FORECASTED", 100)}
    assert all(n["subscriberSnsTopicArns"] for n in budget.inputs["notifications"])


def test_a_stack_without_a_budget_fails():
    regs = [r for r in stack_registrations("prod") if r.type != cost.BUDGET]
    violation = assert_fails(BUDGET, regs, "prodline-prod", "declares no AWS Budget", "CostBudget", environment="prod")
    assert violation.enforcement == "mandatory"


def test_a_budget_without_the_forecast_alert_fails():
    regs = changed_stack(stack_registrations("dev"), "cost-budget", "notifications.1.notificationType", "ACTUAL")
    assert_fails(BUDGET, regs, "cost-budget", "no FORECASTED notification", environment="dev")


def test_a_budget_alert_that_reaches_nobody_fails():
    regs = changed_stack(stack_registrations("dev"), "cost-budget", "notifications.0.subscriberSnsTopicArns", [])
    assert_fails(BUDGET, regs, "cost-budget", "no ACTUAL notification", environment="dev")


def test_an_estimate_above_the_budget_fails_in_prod():
    regs = changed_stack(stack_registrations("prod"), "cost-budget", "limitAmount", "100.00")
    violation = assert_fails(WITHIN, regs, "prodline-prod", "against a budget of $100.00", "prodline:budgetMonthlyUsd",
                             environment="prod")
    assert violation.enforcement == "mandatory"


def test_an_estimate_above_the_budget_only_warns_outside_prod():
    regs = changed_stack(stack_registrations("staging"), "cost-budget", "limitAmount", "10.00")
    assert [v.enforcement for v in judge(WITHIN, regs, environment="staging")] == ["advisory"]


def test_more_capacity_pushes_the_prod_estimate_over_its_budget():
    regs = changed_stack(stack_registrations("prod"), "serving-scaling-target", "maxCapacity", 20)
    assert_fails(WITHIN, regs, "prodline-prod", "may cost up to", environment="prod")


def test_a_region_without_a_price_file_fails_in_prod():
    regs = changed_stack(stack_registrations("prod"), "cost", "region", "eu-central-1")
    violation = assert_fails(WITHIN, regs, "prodline-prod", "no price file for region 'eu-central-1'",
                             "refresh-prices --region", environment="prod")
    assert violation.enforcement == "mandatory"


def test_the_account_bootstrap_needs_no_stack_budget():
    from prodline.program import run_bootstrap

    assert_passes(BUDGET, run_bootstrap(), environment="prod")
    assert judge(BUDGET, [r for r in stack_registrations("prod") if r.type != cost.BUDGET], environment="prod")
