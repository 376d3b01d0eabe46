"""EventBridge routing, locally: match an event against the rules the stack declared, deliver to targets.

moto stores rules and targets but fails (HTTP 500) when a matched rule targets SNS, and never starts a
pipeline; so the sandbox reads the rules back (list_rules, list_targets_by_rule) and delivers itself:
SNS -> Publish, another event bus -> PutEvents, a SageMaker pipeline -> the pipeline runtime.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Delivery:
    rule: str
    target: str
    kind: str
    """sns | bus | pipeline | unsupported"""


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge pattern matching for what prodline's rules use: values, prefix, exists, nesting."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(_field_matches(value, event.get(key), key in event) for key, value in pattern.items())
    return pattern == event


def _field_matches(pattern: Any, value: Any, present: bool) -> bool:
    if isinstance(pattern, dict):
        return present and matches(pattern, value)
    values = value if isinstance(value, list) else [value]
    for candidate in pattern:
        if isinstance(candidate, dict):
            if "prefix" in candidate and present and any(isinstance(v, str) and v.startswith(candidate["prefix"])
                                                         for v in values):
                return True
            if "exists" in candidate and candidate["exists"] == present:
                return True
            if "anything-but" in candidate and present and all(v not in _as_list(candidate["anything-but"])
                                                               for v in values):
                return True
        elif present and candidate in values:
            return True
    return False


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class EventRouter:
    """Delivers events on the default bus to the targets of every matching rule, as EventBridge would."""

    def __init__(self, clients, account: str, region: str, start_pipeline: Callable[[str, dict], Any] | None = None):
        self.clients = clients
        self.account = account
        self.region = region
        self.start_pipeline = start_pipeline
        self.deliveries: list[Delivery] = []

    def emit(self, event: dict, bus: str = "default") -> list[Delivery]:
        events = self.clients("events")
        full = {"version": "0", "account": self.account, "region": self.region, "resources": [], **event}
        delivered = []
        for rule in events.list_rules(EventBusName=bus).get("Rules", []):
            pattern = rule.get("EventPattern")
            if not pattern or rule.get("State", "ENABLED") != "ENABLED" or not matches(json.loads(pattern), full):
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", []):
                delivered.append(self._deliver(rule["Name"], target, full))
        self.deliveries += delivered
        return delivered

    def _deliver(self, rule: str, target: dict, event: dict) -> Delivery:
        arn = target["Arn"]
        service = arn.split(":")[2]
        if service == "sns":
            self.clients("sns").publish(TopicArn=arn, Message=json.dumps(event), Subject=event["detail-type"][:100])
            return Delivery(rule, arn, "sns")
        if service == "events" and ":event-bus/" in arn:
            self.clients("events").put_events(Entries=[{
                "Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"]),
                "Resources": event.get("resources", []), "EventBusName": arn}])
            return Delivery(rule, arn, "bus")
        if service == "sagemaker" and ":pipeline/" in arn and self.start_pipeline:
            self.start_pipeline(arn.rsplit("/", 1)[-1], event)
            return Delivery(rule, arn, "pipeline")
        return Delivery(rule, arn, "unsupported")
