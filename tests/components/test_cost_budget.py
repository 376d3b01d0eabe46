"""CostBudget under mocks: the limit, the tag filter, both alerts to the topic, and the topic letting Budgets in."""

from __future__ import annotations

import pytest

from components.cost_budget import FILTER_TAGS, CostBudget, budget_settings
from standards.cost.usage import Usage
from standards.ownership import ownership_tags
from tests.helpers import component_registrations, named, stack_registrations, statements

TOPIC = "arn:aws:sns:eu-west-1:123456789012:prodline-test-alerts"
USAGE = Usage(1000, 100, 0.1, 0.05, 5000, 10, 30, 2)


def args(**changes):
    return {"budget_name": "prodline-test-monthly", "limit_usd": 300,
            "ownership_tags": ownership_tags(owner="team", cost_center="cc-1", environment="dev", project="prodline"),
            "topic_arn": TOPIC, "region": "eu-west-1", "usage": USAGE, **changes}


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: CostBudget("cost", args()))


def test_a_monthly_cost_budget_of_the_limit(regs):
    budget = named(regs, "cost-budget")
    assert budget.inputs["budgetType"] == "COST" and budget.inputs["timeUnit"] == "MONTHLY"
    assert (budget.inputs["limitAmount"], budget.inputs["limitUnit"]) == ("300.00", "USD")


def test_it_counts_only_the_spend_tagged_as_this_stack(regs):
    ands = named(regs, "cost-budget").inputs["filterExpression"]["ands"]
    assert {a["tags"]["key"]: a["tags"]["values"] for a in ands} == {
        "environment": ["dev"], "cost-center": ["cc-1"], "project": ["prodline"]}
    assert [a["tags"]["key"] for a in ands] == list(FILTER_TAGS)


def test_it_alerts_the_topic_at_80_percent_actual_and_100_percent_forecast(regs):
    alerts = named(regs, "cost-budget").inputs["notifications"]
    assert {(a["notificationType"], a["threshold"], a["thresholdType"]) for a in alerts} == {
        ("ACTUAL", 80, "PERCENTAGE"), ("FORECASTED", 100, "PERCENTAGE")}
    assert all(a["subscriberSnsTopicArns"] == [TOPIC] for a in alerts)


def test_the_component_carries_the_limit_region_and_usage_for_the_policy_pack(regs):
    component = named(regs, "cost")
    assert component.inputs["limitUsd"] == 300 and component.inputs["region"] == "eu-west-1"
    assert Usage.from_inputs(component.inputs["usage"]) == USAGE


@pytest.mark.parametrize(("change", "field"), [({"limit_usd": 0}, "limit_usd"),
                                               ({"ownership_tags": {"owner": "team"}}, "ownership_tags")])
def test_bad_arguments_name_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        budget_settings(args(**change))


def test_the_alert_topic_lets_budgets_of_this_account_publish_and_use_its_key():
    regs = stack_registrations("dev")
    (statement,) = statements(named(regs, "observability-alerts-policy").inputs["policy"])
    assert "budgets.amazonaws.com" in statement["Principal"]["Service"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    key = [s for s in statements(named(regs, "observability-alerts-key").inputs["policy"])
           if s["Sid"] == "AlarmsAndEventsPublishEncrypted"]
    assert "budgets.amazonaws.com" in key[0]["Principal"]["Service"]
