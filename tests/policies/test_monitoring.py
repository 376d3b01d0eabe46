"""Monitoring rules: every endpoint has a quality alarm and a scheduled job that feeds it (staging, prod)."""

from __future__ import annotations

import pytest

from policies.rules import monitoring
from tests.helpers import stack_registrations
from tests.policies.cases import DELETE, assert_fails, assert_passes, changed_stack, judge, without

ENDPOINT = "serving-endpoint"
QUALITY_ALARM = "monitoring-quality-alarm"
QUALITY_JOB = "monitoring-quality-job"
QUALITY_SCHEDULE = "monitoring-quality-schedule"
ALARM = monitoring.endpoint_has_quality_alarm
JOB = monitoring.endpoint_quality_job_scheduled


@pytest.fixture(scope="module")
def prod():
    return stack_registrations("prod")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_shipped_stacks_have_a_quality_alarm_and_a_scheduled_quality_job(env):
    regs = stack_registrations(env)
    assert_passes(ALARM, regs, environment=env)
    assert_passes(JOB, regs, environment=env)


def test_an_endpoint_without_a_quality_alarm_fails(prod):
    assert_fails(ALARM, without(prod, QUALITY_ALARM), ENDPOINT, "no quality alarm", "prodline:qualityFloor")


def test_a_quality_alarm_on_another_endpoint_does_not_count(prod):
    regs = changed_stack(prod, QUALITY_ALARM, "dimensions.EndpointName", "someone-elses-endpoint")
    assert_fails(ALARM, regs, ENDPOINT, "no quality alarm")


def test_an_alarm_on_another_namespace_does_not_count(prod):
    assert_fails(ALARM, changed_stack(prod, QUALITY_ALARM, "namespace", "prodline/Monitoring"), ENDPOINT,
                 "no quality alarm")


def test_a_quality_alarm_without_actions_does_not_count(prod):
    assert_fails(ALARM, changed_stack(prod, QUALITY_ALARM, "alarmActions", []), ENDPOINT, QUALITY_ALARM,
                 "no alarm actions")


def test_a_missing_quality_alarm_is_advisory_in_dev():
    found = judge(ALARM, without(stack_registrations("dev"), QUALITY_ALARM), environment="dev")
    assert [v.enforcement for v in found] == ["advisory"]


def test_an_endpoint_without_a_quality_job_fails(prod):
    assert_fails(JOB, without(prod, QUALITY_JOB, QUALITY_SCHEDULE), ENDPOINT, "no model-quality job")


def test_a_job_without_labels_is_not_a_quality_job(prod):
    assert_fails(JOB, changed_stack(prod, QUALITY_JOB, "defaultArguments.--labels", DELETE), ENDPOINT,
                 "no model-quality job")


def test_a_quality_job_nobody_schedules_fails(prod):
    assert_fails(JOB, without(prod, QUALITY_SCHEDULE), ENDPOINT, QUALITY_JOB, "no SCHEDULED trigger",
                 "prodline:qualitySchedule")


def test_a_conditional_trigger_is_not_a_schedule(prod):
    regs = changed_stack(prod, QUALITY_SCHEDULE, "type", "ON_DEMAND")
    assert_fails(JOB, regs, ENDPOINT, "no SCHEDULED trigger")
