"""Blue/green canary deployments, locally, as the endpoint's deployment configuration says.

moto has no UpdateEndpoint, and its DescribeEndpoint drops the DeploymentConfig, so the configuration is
the one the program declared for the endpoint (the IaC itself). The new fleet takes the canary share in
the hosting gateway; the rollback alarms are judged on the metrics the gateway publishes, for the bake
time scaled down by ``PRODLINE_SANDBOX_TIME_SCALE``; an alarm rolls back with every request still served,
otherwise the rest of the traffic moves and the emulator's endpoint points at the new configuration.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prodline.sandbox import hosting
from prodline.sandbox.realizer.sagemaker import deployment_config
from prodline.sandbox.runtimes import alarms

DEFAULT_TIME_SCALE = 0.01  # 10 minutes of bake become 6 seconds
JUDGEMENTS = 2
"""Every bake, however short, flushes the gateway's metrics and judges every rollback alarm at least this often."""
POLL_SECONDS = 0.5
"""The longest wait between two judgements."""
MIN_BAKE_SECONDS = 0.5
"""The floor of a scaled bake: two judgements a quarter of a second apart, each on the traffic since the start."""


class DeploymentRolledBack(RuntimeError):
    """The canary tripped a rollback alarm; the endpoint stays on its previous configuration."""


@dataclass
class DeploymentRecord:
    endpoint: str
    from_config: str
    to_config: str
    canary_percent: int
    bake_seconds: float
    outcome: str = ""
    alarm: str = ""
    started: float = field(default_factory=time.time)
    ended: float = 0.0


def time_scale() -> float:
    return float(os.environ.get("PRODLINE_SANDBOX_TIME_SCALE", DEFAULT_TIME_SCALE))


class Deployer:
    """The realizer's endpoint-update hook: rolls a changed endpoint out through the gateway."""

    def __init__(self, clients, gateway_url: str | Callable[[], str], on_event: Callable[[dict], None],
                 on_progress: Callable[[str], None] | None = None, records: list[DeploymentRecord] | None = None):
        """``gateway_url``: the URL, or a callable giving it once the gateway is up (it may still be starting)."""
        self.clients = clients
        self._gateway = gateway_url
        self.on_event = on_event
        self.on_progress = on_progress or (lambda message: None)
        self.records: list[DeploymentRecord] = [] if records is None else records

    @property
    def gateway_url(self) -> str:
        return self._gateway if isinstance(self._gateway, str) else self._gateway()

    def __call__(self, endpoint: str, old_outputs: dict, new_inputs: dict) -> None:
        sm = self.clients("sagemaker")
        current = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        target = new_inputs["endpointConfigName"]
        if current == target:
            return
        config = deployment_config(new_inputs) or {}
        routing = config.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE"})
        canary = int(routing.get("CanarySize", {}).get("Value", 100)) if routing["Type"] == "CANARY" else 100
        bake = max(MIN_BAKE_SECONDS, float(routing.get("WaitIntervalInSeconds", 0)) * time_scale())
        watched = [a["AlarmName"] for a in config.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
        record = DeploymentRecord(endpoint, current, target, canary, bake)
        self.records.append(record)

        since = dt.datetime.now(dt.UTC)
        self.on_progress(f"canary: {canary}% of {endpoint} to {target} for {bake:.1f} s, watching {', '.join(watched)}")
        try:
            hosting.deploy(self.gateway_url, endpoint, target, canary)
        except hosting.GatewayError as err:
            self._roll_back(record, f"new fleet did not start: {err}")
        deadline, poll = time.monotonic() + bake, min(POLL_SECONDS, bake / JUDGEMENTS)
        while time.monotonic() < deadline:
            time.sleep(poll)
            hosting.flush(self.gateway_url)
            fired = [j for j in alarms.evaluate(self.clients, watched, since=since) if j.state == alarms.ALARM]
            for judgement in (j for j in fired if j.changed):
                self.on_event(alarms.state_change_event(judgement))
            if fired:
                self._roll_back(record, f"alarm {fired[0].alarm} fired during the canary: {fired[0].reason}",
                                alarm=fired[0].alarm)
        hosting.promote(self.gateway_url, endpoint)
        # moto cannot update an endpoint: re-create it on the new configuration, as the update leaves it.
        sm.delete_endpoint(EndpointName=endpoint)
        request = {"EndpointName": endpoint, "EndpointConfigName": target}
        if config:
            request["DeploymentConfig"] = config
        arn = sm.create_endpoint(**request)["EndpointArn"]
        record.outcome, record.ended = "promoted", time.time()
        self.on_event({"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint State Change", "resources": [arn],
                       "detail": {"EndpointName": endpoint, "EndpointStatus": "IN_SERVICE",
                                  "EndpointConfigName": target}})

    def _roll_back(self, record: DeploymentRecord, reason: str, alarm: str = "") -> None:
        hosting.rollback(self.gateway_url, record.endpoint)
        record.outcome, record.alarm, record.ended = "rolled back", alarm, time.time()
        raise DeploymentRolledBack(f"{record.endpoint}: deployment of {record.to_config} rolled back ({reason}); "
                                   f"the endpoint still serves {record.from_config}")
