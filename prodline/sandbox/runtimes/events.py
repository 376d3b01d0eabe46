"""EventBridge routing, locally: match an event against the rules the stacks declared, deliver to targets.

moto stores rules and targets but fails (HTTP 500) when a matched rule targets SNS, and never starts a
pipeline or a build; so the sandbox reads the rules back (list_rules, list_targets_by_rule) and delivers
itself: SNS -> Publish, SQS -> SendMessage (a FIFO queue's message group from the target's SqsParameters,
the event id as deduplication id, as EventBridge does), another event bus -> the rules of that bus, a
SageMaker pipeline -> the pipeline runtime, a CodeBuild project -> the build runtime. Within a rule, queue
targets are delivered before build targets, so a build woken by an event finds the event's message on its
queue (EventBridge delivers targets in parallel; a build that raced ahead of its message would end empty
and leave the message to the next scheduled build).

Every stack of the sandbox shares the emulator, hence its default bus: one router delivers to all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_BUS_HOPS = 3
"""Bus-to-bus forwarding deeper than this is a loop (EventBridge stops such loops too)."""


@dataclass(frozen=True)
class Delivery:
    rule: str
    target: str
    kind: str
    """sns | sqs | bus | pipeline | codebuild | unsupported | failed"""
    error: str = ""


@dataclass
class Routed:
    """One event put on a bus, and where it went."""

    bus: str
    event: dict
    deliveries: list[Delivery] = field(default_factory=list)


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
    """Delivers events put on a bus to the targets of every matching rule, as EventBridge would."""

    def __init__(self, clients, account: str, region: str, start_pipeline: Callable[[str, dict], Any] | None = None,
                 start_build: Callable[[str, dict, str], Any] | None = None):
        self.clients = clients
        self.account = account
        self.region = region
        self.start_pipeline = start_pipeline
        self.start_build = start_build
        """(project name, event, rule name): the build runtime's start."""
        self.deliveries: list[Delivery] = []
        self.journal: list[Routed] = []
        """Every event put on any bus through this router, in order (the demo and the tests read it)."""
        self.observers: list[Callable[[Routed], None]] = []
        """Called with each event as it is put on a bus, before it is delivered."""

    def emit(self, event: dict, bus: str = "default", _hops: int = 0) -> list[Delivery]:
        """Put ``event`` on ``bus`` (a name or an ARN); ``event`` may carry its own ``bus`` (a
        DeliveryContext's publish entry), which wins."""
        bus = _bus_name(event.get("bus") or bus)
        full = {"version": "0", "id": str(uuid.uuid4()), "time": _now(), "account": self.account,
                "region": self.region, "resources": [], **{k: v for k, v in event.items() if k != "bus"}}
        routed = Routed(bus, full)
        self.journal.append(routed)
        for observer in self.observers:
            observer(routed)
        events = self.clients("events")
        matched = []
        for rule in _rules(events, bus):
            pattern = rule.get("EventPattern")
            if not pattern or rule.get("State", "ENABLED") != "ENABLED" or not matches(json.loads(pattern), full):
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
            matched += [(rule["Name"], t) for t in sorted(targets, key=_delivery_order)]
        for rule_name, target in matched:
            routed.deliveries.append(self._deliver(rule_name, target, full, _hops))
        self.deliveries += routed.deliveries
        return routed.deliveries

    def _deliver(self, rule: str, target: dict, event: dict, hops: int) -> Delivery:
        arn = target["Arn"]
        try:
            return self._deliver_to(rule, target, event, hops)
        except (ClientError, BotoCoreError) as err:  # EventBridge retries, then gives up; the others still get it
            return Delivery(rule, arn, "failed", str(err))

    def _deliver_to(self, rule: str, target: dict, event: dict, hops: int) -> Delivery:
        arn = target["Arn"]
        service = arn.split(":")[2]
        if service == "sns":
            self.clients("sns").publish(TopicArn=arn, Message=_body(target, event),
                                        Subject=event["detail-type"][:100])
            return Delivery(rule, arn, "sns")
        if service == "sqs":
            self._send_to_queue(target, event)
            return Delivery(rule, arn, "sqs")
        if service == "events" and ":event-bus/" in arn:
            if hops >= MAX_BUS_HOPS:
                return Delivery(rule, arn, "failed", f"more than {MAX_BUS_HOPS} bus-to-bus hops: a loop")
            forwarded = {k: event[k] for k in ("source", "detail-type", "detail", "resources") if k in event}
            self.emit(forwarded, bus=arn, _hops=hops + 1)
            return Delivery(rule, arn, "bus")
        if service == "sagemaker" and ":pipeline/" in arn and self.start_pipeline:
            self.start_pipeline(arn.rsplit("/", 1)[-1], event)
            return Delivery(rule, arn, "pipeline")
        if service == "codebuild" and ":project/" in arn and self.start_build:
            self.start_build(arn.rsplit("/", 1)[-1], event, rule)
            return Delivery(rule, arn, "codebuild")
        return Delivery(rule, arn, "unsupported")

    def _send_to_queue(self, target: dict, event: dict) -> None:
        sqs = self.clients("sqs")
        name, owner = arn_resource(target["Arn"]), target["Arn"].split(":")[4]
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)["QueueUrl"]
        message: dict[str, Any] = {"QueueUrl": url, "MessageBody": _body(target, event)}
        if name.endswith(".fifo"):
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if not group:
                raise ClientError({"Error": {"Code": "InvalidParameterValue", "Message": (
                    f"target {target['Id']}: a FIFO queue target needs SqsParameters.MessageGroupId")}}, "SendMessage")
            message.update(MessageGroupId=group, MessageDeduplicationId=event["id"])
        sqs.send_message(**message)


def arn_resource(arn: str) -> str:
    """The resource part of an ARN: ``arn:aws:sqs:eu-west-1:123456789012:q.fifo`` -> ``q.fifo``."""
    return arn.split(":", 5)[5].rsplit("/", 1)[-1]


def _bus_name(bus: str) -> str:
    return bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus


def _rules(events, bus: str) -> list[dict]:
    rules, token = [], None
    while True:
        page = events.list_rules(EventBusName=bus, **({"NextToken": token} if token else {}))
        rules += page.get("Rules", [])
        token = page.get("NextToken")
        if not token:
            return rules


def _delivery_order(target: dict) -> int:
    """Queues first, builds last: a build woken by the event must find the event's message on its queue."""
    service = target["Arn"].split(":")[2]
    return {"sqs": 0, "codebuild": 2}.get(service, 1)


def _body(target: dict, event: dict) -> str:
    """What the target receives: its constant Input, the part InputPath selects, or the whole event."""
    if target.get("Input"):
        return target["Input"]
    if target.get("InputPath"):
        value: Any = event
        for key in target["InputPath"].removeprefix("$").strip(".").split("."):
            if key:
                value = value.get(key) if isinstance(value, dict) else None
        return json.dumps(value)
    return json.dumps(event)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
