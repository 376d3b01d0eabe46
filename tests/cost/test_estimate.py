"""The estimator, pinned on a fixed price file (tests/cost/prices, never the live one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from standards.cost import estimate as est
from standards.cost.estimate import Resource, classify, estimate_stack
from standards.cost.schedule import runs_per_month
from tests.helpers import named, stack_registrations

FIXTURE = Path(__file__).resolve().parent / "prices"


def _estimate(stack: str, *overrides: str):
    regs = stack_registrations(stack, *overrides)
    return estimate_stack([Resource(r.type, r.name, r.inputs) for r in regs], price_dir=FIXTURE)


def test_the_fixture_prices_are_the_ones_used():
    estimate, _ = _estimate("dev")
    assert estimate.prices.source.startswith("test fixture")


def test_the_endpoint_line_is_instance_price_times_count_times_730_hours():
    estimate, _ = _estimate("prod")
    (line,) = [x for x in estimate.lines if x.name == "serving-config"]
    assert line.unit_price == 0.25
    assert line.low == pytest.approx(0.25 * 2 * 730)  # servingMinCapacity 2
    assert line.high == pytest.approx(0.25 * 6 * 730)  # servingMaxCapacity 6


def test_dev_costs_less_than_staging_and_staging_less_than_prod():
    dev, staging, prod = (_estimate(s)[0] for s in ("dev", "staging", "prod"))
    assert dev.low < staging.low < prod.low
    assert dev.high < staging.high < prod.high


def test_a_serverless_endpoint_is_priced_by_its_requests():
    estimate, budget = _estimate("dev", "prodline:servingServerless=true", "prodline:dataCapturePercent=0")
    lines = [x for x in estimate.lines if x.name == "serving-config"]
    compute = next(x for x in lines if x.price_key == "sagemaker.serverless.gb_second")
    requests = budget.usage.requests_per_day * 730 / 24
    assert compute.quantity_low == pytest.approx(requests * budget.usage.request_ms / 1000 * 2)  # 2 GB of memory


def test_glue_runs_follow_the_schedule_and_the_trigger_after_it():
    estimate, budget = _estimate("prod")
    validate, features = (next(x for x in estimate.lines if x.name == n) for n in ("validate-job", "features-job"))
    runs = 730 / 24  # cron(0 2 * * ? *): daily
    assert validate.quantity_low == pytest.approx(runs * 4 * budget.usage.etl_run_minutes / 60)  # 4 G.1X workers
    assert features.quantity_low == validate.quantity_low


def test_unpriced_resources_are_listed_by_type_not_counted_as_zero():
    estimate, _ = _estimate("dev")
    assert "aws:cloudwatch/eventBus:EventBus" in {x.type for x in estimate.unpriced}
    unknown = est.estimate([Resource("aws:new/thing:Thing", "x", {})], _estimate("dev")[1].usage,
                           estimate.prices, "eu-west-1")
    assert [x.type for x in unknown.unpriced] == ["aws:new/thing:Thing"] and unknown.high == 0


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("overrides", [(), ("prodline:servingImageSource=project",),
                                       ("prodline:servingPlatform=kubernetes",)])
def test_every_type_the_program_declares_is_priced_free_or_unpriced(stack, overrides):
    types = {r.type for r in stack_registrations(stack, *overrides) if r.custom}
    assert not [t for t in sorted(types) if classify(t) == "unknown"], \
        "add these types to PRICED, FREE or UNPRICED in standards/cost/estimate.py"


def test_the_types_other_branches_add_are_priced():
    for token in ("aws:kinesis/stream:Stream", "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
                  "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"):
        assert classify(token) == "priced"


def test_a_stack_without_a_budget_component_cannot_be_estimated():
    with pytest.raises(ValueError, match="no prodline:cost:CostBudget"):
        estimate_stack([Resource("aws:kms/key:Key", "k", {})], price_dir=FIXTURE)


@pytest.mark.parametrize(("expression", "runs"), [
    ("rate(7 days)", 730 / 24 / 7), ("rate(1 hour)", 730), ("cron(0 2 * * ? *)", 730 / 24),
    ("cron(0 2 ? * MON-FRI *)", 5 * 730 / 24 / 7), ("cron(0/15 * * * ? *)", 4 * 24 * 730 / 24),
    ("cron(0 3 1 * ? *)", 1)])
def test_schedules_become_runs_per_month(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


def test_an_unreadable_schedule_is_an_error_not_zero_runs():
    with pytest.raises(ValueError, match="every day"):
        runs_per_month("every day")


def test_the_budget_component_carries_the_usage_of_the_stack_config():
    regs = stack_registrations("prod")
    inputs = named(regs, "cost").inputs
    assert inputs["limitUsd"] == 2500 and inputs["usage"]["requestsPerDay"] == 500000
