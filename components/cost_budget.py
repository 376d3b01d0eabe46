"""The stack's monthly AWS Budget: its limit, filtered by the stack's cost-allocation tags, alerting its topic.

Budgets are account-level, so the filter is what makes one stack's budget see only that stack's spend:
every taggable resource carries the ownership tags (``infra/tags.py``), and the budget sums what carries
this stack's ``environment``, ``cost-center`` and ``project`` values. The tags count only once they are
activated as cost-allocation tags, which the account bootstrap does (``components/account_bootstrap.py``).

The component's own inputs carry the limit, the region and the usage assumptions of the stack's
estimate: the policy pack sees only registrations, and recomputes the estimate from them and these
(``policies/rules/cost.py``), so a plan judged elsewhere is held to the same budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from standards.cost.usage import Usage

COMPONENT_TYPE = "prodline:cost:CostBudget"
ACTUAL_PERCENT = 80.0
FORECAST_PERCENT = 100.0
FILTER_TAGS = ("environment", "cost-center", "project")
"""The ownership tags (standards/ownership.py) that mark a stack's spend; owner may span stacks."""


class CostBudgetArgs(TypedDict):
    budget_name: str
    limit_usd: int
    ownership_tags: Mapping[str, str]
    """The stack's ownership tags; the budget filters on FILTER_TAGS of them."""
    topic_arn: pulumi.Input[str]
    """The stack's alert topic; its policy must let budgets.amazonaws.com publish."""
    region: str
    usage: Usage


def budget_settings(args: CostBudgetArgs) -> CostBudgetArgs:
    if args["limit_usd"] < 1:
        raise ValueError(f"limit_usd must be >= 1, got {args['limit_usd']}")
    missing = [key for key in FILTER_TAGS if not args["ownership_tags"].get(key)]
    if missing:
        raise ValueError(f"ownership_tags must give {', '.join(missing)}: the budget filters on them")
    return args


def filter_expression(tags: Mapping[str, str]) -> dict:
    """Spend that carries every one of FILTER_TAGS with this stack's value (AND of tag filters)."""
    return {"ands": [{"tags": {"key": key, "values": [tags[key]], "match_options": ["EQUALS"]}}
                     for key in FILTER_TAGS]}


class CostBudget(pulumi.ComponentResource):
    """A monthly cost budget with an 80% actual and a 100% forecast alert to the stack's topic."""

    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        args = budget_settings(args)
        # Inputs and outputs both: the offline preview shows a component's inputs, the engine its outputs.
        declared = {"limitUsd": args["limit_usd"], "region": args["region"], "usage": args["usage"].as_inputs()}
        super().__init__(COMPONENT_TYPE, name, declared, opts)

        def alert(kind: str, percent: float) -> dict:
            return {"notification_type": kind, "comparison_operator": "GREATER_THAN", "threshold": percent,
                    "threshold_type": "PERCENTAGE", "subscriber_sns_topic_arns": [args["topic_arn"]]}

        budget = aws.budgets.Budget(
            f"{name}-budget", name=args["budget_name"], budget_type="COST", time_unit="MONTHLY",
            limit_amount=f"{args['limit_usd']:.2f}", limit_unit="USD",
            filter_expression=filter_expression(args["ownership_tags"]),
            notifications=[alert("ACTUAL", ACTUAL_PERCENT), alert("FORECASTED", FORECAST_PERCENT)],
            opts=pulumi.ResourceOptions(parent=self))
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name, **declared})
