"""The demo's cost fact: the stack as last realized, estimated from the registrations its latest `up` kept."""

from __future__ import annotations

from prodline.cost_report import one_line
from prodline.sandbox.demo import Demo
from prodline.sandbox.realizer import commands
from tests.helpers import stack_registrations
from tests.policies.cases import changed_stack


def test_the_demo_states_the_estimate_of_the_stack_as_last_realized_and_its_budget(monkeypatch):
    regs = stack_registrations("dev")
    monkeypatch.setitem(commands.LAST_REGISTRATIONS, "dev", regs)
    demo = Demo("dev")
    demo._cost()
    fact = demo.state.facts["monthly cost of dev (prodline cost)"]
    assert fact == one_line(regs)
    assert "a month estimated" in fact and fact.endswith("held to a budget of $750.00")


def test_no_fact_without_a_realized_stack(monkeypatch):
    monkeypatch.setattr(commands, "LAST_REGISTRATIONS", {})
    demo = Demo("dev")
    demo._cost()
    assert not any(key.startswith("monthly cost") for key in demo.state.facts)


def test_a_region_without_prices_is_stated_as_not_estimated(monkeypatch):
    regs = changed_stack(stack_registrations("dev"), "cost", "region", "eu-central-1")
    monkeypatch.setitem(commands.LAST_REGISTRATIONS, "dev", regs)
    demo = Demo("dev")
    demo._cost()
    fact = demo.state.facts["monthly cost of dev (prodline cost)"]
    assert fact.startswith("not estimated: no price file for region 'eu-central-1'")
