"""The sandbox's blue/green bake (``runtimes.deploy.Deployer``) on a fake clock: how long it bakes, how often it
judges the rollback alarms, and what it does when one fires. The gateway, the emulator and the alarms are
stand-ins; the demo runs the real ones."""

from __future__ import annotations

import pytest

from prodline.sandbox.runtimes import alarms
from prodline.sandbox.runtimes import deploy as runtime

ALARM = "prodline-dev-churn-primary-5xx"


class Clock:
    """``time`` as the Deployer sees it: sleeping moves the clock, nothing else does."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def time(self) -> float:
        return self.now


class SageMaker:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def describe_endpoint(self, EndpointName):
        return {"EndpointConfigName": "config-old"}

    def delete_endpoint(self, EndpointName):
        self.calls.append("delete")

    def create_endpoint(self, **request):
        self.calls.append(f"create {request['EndpointConfigName']}")
        return {"EndpointArn": f"arn:endpoint/{request['EndpointName']}"}


def endpoint_inputs(wait_seconds: int) -> dict:
    return {"endpointConfigName": "config-new", "deploymentConfig": {
        "blueGreenUpdatePolicy": {"trafficRoutingConfiguration": {
            "type": "CANARY", "waitIntervalInSeconds": wait_seconds, "canarySize": {"type": "CAPACITY_PERCENT",
                                                                                   "value": 50}}},
        "autoRollbackConfiguration": {"alarms": [{"alarmName": ALARM}]}}}


@pytest.fixture
def rollout(monkeypatch):
    """Runs one rollout; returns what the gateway was told, when each judgement happened, the record, the
    rollback error (or None) and the emulator's endpoint calls."""
    clock, sagemaker, gateway = Clock(), SageMaker(), []
    monkeypatch.setattr(runtime, "time", clock)
    for action in ("deploy", "promote", "rollback", "flush"):
        monkeypatch.setattr(runtime.hosting, action, lambda url, *a, _action=action, **k: gateway.append(_action))

    def run(wait_seconds: int, scale: str, fire_at: float | None = None):
        judged: list[float] = []

        def evaluate(clients, names, since):
            judged.append(clock.now)
            state = alarms.ALARM if fire_at is not None and clock.now >= fire_at else alarms.OK
            return [alarms.Judgement(name, f"arn:{name}", alarms.OK, state, "5 errors") for name in names]

        monkeypatch.setattr(runtime.alarms, "evaluate", evaluate)
        monkeypatch.setenv("PRODLINE_SANDBOX_TIME_SCALE", scale)
        deployer = runtime.Deployer(lambda service: sagemaker, "http://gateway", on_event=lambda event: None)
        error = None
        try:
            deployer("prodline-dev-churn", {}, endpoint_inputs(wait_seconds))
        except runtime.DeploymentRolledBack as err:
            error = err
        return gateway, judged, deployer.records[0], error, sagemaker.calls

    return run


def test_a_bake_scaled_below_the_floor_lasts_the_floor_and_judges_every_alarm_twice(rollout):
    gateway, judged, record, error, calls = rollout(300, "0.00085")  # 0.255 s scaled
    assert error is None and record.outcome == "promoted"
    assert record.bake_seconds == runtime.MIN_BAKE_SECONDS == 0.5
    assert judged == pytest.approx([0.25, 0.5])
    assert gateway == ["deploy", "flush", "flush", "promote"]
    assert calls == ["delete", "create config-new"]


def test_a_longer_bake_judges_every_half_second_until_it_is_over(rollout):
    _, judged, record, error, _ = rollout(600, "0.005")  # 3 s
    assert error is None and record.bake_seconds == pytest.approx(3.0)
    assert judged == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])


def test_an_alarm_at_the_second_judgement_rolls_back_and_leaves_the_endpoint_alone(rollout):
    gateway, judged, record, error, calls = rollout(300, "0.00085", fire_at=0.5)
    assert error is not None and ALARM in str(error) and "still serves config-old" in str(error)
    assert (record.outcome, record.alarm) == ("rolled back", ALARM)
    assert judged == pytest.approx([0.25, 0.5])
    assert gateway == ["deploy", "flush", "flush", "rollback"]
    assert calls == [], "a rolled-back canary leaves the endpoint on its old configuration"


def test_an_alarm_at_the_first_judgement_rolls_back_at_once(rollout):
    gateway, judged, record, _, _ = rollout(600, "0.005", fire_at=0.0)
    assert judged == pytest.approx([0.5]) and record.outcome == "rolled back"
    assert gateway == ["deploy", "flush", "rollback"]


def test_the_demo_bakes_dev_and_staging_at_the_floor():
    from prodline.sandbox.demo_delivery import DEMO_TIME_SCALE

    for wait_seconds in (300, 600):  # Pulumi.dev.yaml's canaryBakeSeconds, and the default staging keeps
        assert wait_seconds * float(DEMO_TIME_SCALE) <= runtime.MIN_BAKE_SECONDS + 0.02
