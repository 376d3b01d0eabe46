"""The Kubernetes canary decision and release, without a cluster: alarms read from a script, `up` recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from prodline.delivery import canary
from prodline.delivery.canary import (
    ALARM,
    CANARY_KEY,
    INSUFFICIENT,
    OK,
    PROMOTE,
    ROLLBACK,
    STABLE_KEY,
    WAIT,
    AlarmReading,
    decide,
    read_alarms,
    release,
    rollback_alarm_names,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BAKE = 600
NAMES = rollback_alarm_names("prodline-staging-churn", "churn-canary")


def readings(*states: str | None) -> list[AlarmReading]:
    return [AlarmReading(name, state) for name, state in zip(NAMES, states, strict=True)]


# --- the must-shows ----------------------------------------------------------------------------------------

def test_an_alarm_during_the_bake_rolls_the_canary_back():
    decision = decide(readings(OK, ALARM), T0, T0 + timedelta(seconds=90), BAKE)
    assert decision.verdict == ROLLBACK
    assert "prodline-staging-churn-churn-canary-5xx fired" in decision.reason


def test_a_quiet_bake_promotes_the_canary():
    decision = decide(readings(OK, OK), T0, T0 + timedelta(seconds=BAKE), BAKE)
    assert decision.verdict == PROMOTE


# --- edge cases --------------------------------------------------------------------------------------------

def test_an_unfinished_quiet_bake_waits():
    decision = decide(readings(OK, OK), T0, T0 + timedelta(seconds=BAKE - 1), BAKE)
    assert decision.verdict == WAIT and "1 s left" in decision.reason


def test_an_alarm_ends_the_bake_before_its_time():
    assert decide(readings(ALARM, INSUFFICIENT), T0, T0, BAKE).verdict == ROLLBACK


def test_alarms_without_data_wait_while_baking_and_roll_back_at_the_end():
    assert decide(readings(INSUFFICIENT, OK), T0, T0 + timedelta(seconds=30), BAKE).verdict == WAIT
    decision = decide(readings(INSUFFICIENT, OK), T0, T0 + timedelta(seconds=BAKE), BAKE)
    assert decision.verdict == ROLLBACK and "no data" in decision.reason


@pytest.mark.parametrize("states", [(None, OK), (OK, None)])
def test_a_missing_alarm_rolls_back_at_once(states):
    decision = decide(readings(*states), T0, T0, BAKE)
    assert decision.verdict == ROLLBACK and "does not exist" in decision.reason


def test_no_alarms_at_all_roll_back():
    assert decide([], T0, T0 + timedelta(seconds=BAKE), BAKE).verdict == ROLLBACK


def test_the_rollback_alarms_are_the_ones_observability_marks_for_rollback():
    from components.observability import SERVING_ALARMS

    marked = tuple(spec.suffix for spec in SERVING_ALARMS if spec.rollback)
    assert marked == canary.ROLLBACK_SUFFIXES


# --- the release: up, bake, up -----------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def run(script: list[tuple[str, str]]) -> tuple[canary.CanaryOutcome, list[dict], int]:
    """Release with alarms that read as ``script`` (one reading per poll, the last repeated)."""
    clock, applied, reads = Clock(), [], []

    def read() -> list[AlarmReading]:
        reads.append(clock.now)
        return readings(*script[min(len(reads) - 1, len(script) - 1)])

    outcome = release("staging", "1.5.0", apply=applied.append, read=read, bake_seconds=BAKE, now=clock,
                      sleep=clock.sleep, poll_seconds=60)
    return outcome, applied, len(reads)


def test_a_canary_that_trips_its_alarm_is_removed_and_the_stable_image_is_untouched():
    outcome, applied, polls = run([(OK, OK), (OK, OK), (OK, ALARM)])
    assert applied == [{CANARY_KEY: "1.5.0"}, {CANARY_KEY: ""}], "canary up, then removed (weight with it)"
    assert polls == 3 and outcome.exit_code == 1 and "ROLLED BACK" in outcome.summary()


def test_a_quiet_canary_becomes_the_stable_image():
    outcome, applied, polls = run([(INSUFFICIENT, INSUFFICIENT), (OK, OK)])
    assert applied == [{CANARY_KEY: "1.5.0"}, {STABLE_KEY: "1.5.0", CANARY_KEY: ""}]
    assert polls == BAKE // 60 + 1 and outcome.exit_code == 0


@mock_aws
def test_alarm_states_are_read_from_cloudwatch_and_an_absent_alarm_is_named():
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    cloudwatch.put_metric_alarm(AlarmName=NAMES[0], Namespace="prodline/Serving", MetricName="ModelLatency",
                                Dimensions=[{"Name": "Service", "Value": "churn-canary"}], Statistic="Maximum",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=NAMES[0], StateValue="ALARM", StateReason="test")
    found = read_alarms(cloudwatch, NAMES)
    assert [(r.name, r.state) for r in found] == [(NAMES[0], ALARM), (NAMES[1], None)]
