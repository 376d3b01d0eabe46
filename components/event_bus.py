"""The platform's own EventBridge bus, onto which its lifecycle events are published for other apps.

AWS services emit their events on the account's default bus; rules there forward the ones that mark
the ML lifecycle (data landed, model registered, model deployed, drift detected) to ``prodline-<env>``,
so downstream teams subscribe to one bus and never need access to the default one. Workloads may also
publish to it directly (source ``prodline``); the README documents the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs


class EventBusArgs(TypedDict):
    bus_name: str
    account_id: pulumi.Input[str]
    """The account whose forwarding rules EventBridge may assume the forwarding role for."""
    kms_key_arn: pulumi.Input[str]
    forwarded: Mapping[str, pulumi.Input[dict]]
    """Rule name -> event pattern on the default bus whose matches are forwarded to this bus."""


class EventBus(pulumi.ComponentResource):
    """A KMS-encrypted bus and the forwarding rules (with one scoped role) that feed it."""

    bus_name: pulumi.Output[str]
    bus_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EventBusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:integration:EventBus", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", name=args["bus_name"],
                                           kms_key_identifier=args["kms_key_arn"], opts=child)
        rules = {rule_name: aws.cloudwatch.EventRule(f"{name}-{rule_name}", description=f"forward {rule_name} events",
                                                     event_pattern=pulumi.Output.json_dumps(pattern), opts=child)
                 for rule_name, pattern in sorted(args["forwarded"].items())}
        self.role = aws.iam.Role(
            f"{name}-forward-role", assume_role_policy=docs.events_trust(args["account_id"], list(rules.values())),
            description=f"EventBridge forwards lifecycle events to {args['bus_name']}", opts=child)
        aws.iam.RolePolicy(f"{name}-forward-role-policy", role=self.role.id, policy=docs.document([
            docs.allow("PutOnPlatformBus", ["events:PutEvents"], [self.bus.arn]),
            docs.allow("UseBusKey", ["kms:Decrypt", "kms:GenerateDataKey"], [args["kms_key_arn"]]),
        ]), opts=child)
        for rule_name, rule in rules.items():
            aws.cloudwatch.EventTarget(f"{name}-{rule_name}-forward", rule=rule.name, arn=self.bus.arn,
                                       role_arn=self.role.arn, opts=child)
        self.rules = rules
        self.bus_name = self.bus.name
        self.bus_arn = self.bus.arn
        self.register_outputs({"bus_name": self.bus_name, "bus_arn": self.bus_arn})
