"""Handing a version to the next stack: a request on its queue, a wake-up of its deployer, an event.

Why the same hand-off serves two callers: a green dev deploy promotes to staging on its own, and a person
promotes to prod with ``prodline promote`` (their own credentials, so the approval record names them).
Either way the next stack deploys the version through its own queue and build, so promotions queue up
behind approvals in order and every deploy of a stack runs the one way. The build start is only a
wake-up: the request waits on the queue, and the deployer's hourly schedule would pick it up anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodline.delivery import events, records, registry, requests
from prodline.delivery.context import DeliveryContext
from prodline.delivery.settings import DeliverySettings
from standards import delivery as names


@dataclass(frozen=True)
class HandOff:
    to_stack: str
    message_id: str
    build_id: str | None
    """None when the build could not be started (the request still waits on the queue)."""


@dataclass(frozen=True)
class PromoteOutcome:
    to_stack: str
    model_package_arn: str
    version: str
    approved_by: str
    approved_at: str
    hand_off: HandOff


def deployer_project(environment: str) -> str:
    return names.deployer_project(environment)


def caller_identity(ctx: DeliveryContext) -> str:
    """Who is running this: the caller's IAM ARN (an assumed role's session names the person)."""
    return ctx.clients("sts").get_caller_identity()["Arn"]


def start_build(ctx: DeliveryContext, environment: str) -> str | None:
    """Wake the stack's deployer; None (and a progress line) when it cannot be started now."""
    from botocore.exceptions import BotoCoreError, ClientError

    project = deployer_project(environment)
    try:
        return ctx.clients("codebuild").start_build(projectName=project)["build"]["id"]
    except (ClientError, BotoCoreError) as err:
        ctx.on_progress(f"could not start {project} ({err}); the queued request waits for its next scheduled run")
        return None


def hand_off(ctx: DeliveryContext, to: DeliverySettings, arn: str, version: str, requested_by: str, *,
             from_settings: DeliverySettings | None = None, extra: dict | None = None) -> HandOff:
    """Enqueue a promotion request on ``to``'s queue, start its build, publish Deployment Promoted.

    The event goes on the bus of the stack the version comes from (``from_settings``), or of ``to`` when
    a person promotes it.
    """
    message_id = requests.enqueue(ctx, to.environment, to.stack, arn, requested_by=requested_by,
                                  source="promotion")
    build_id = start_build(ctx, to.environment)
    origin = from_settings or to
    publish(ctx, events.entry(events.PROMOTED, environment=origin.environment, stack=origin.stack,
                              model_package_arn=arn, version=version, to=to.stack, requestedBy=requested_by,
                              build=build_id, **(extra or {})))
    ctx.on_progress(f"{to.stack}: deploy request queued ({message_id}), "
                    + (f"build {build_id} started" if build_id else "build not started"))
    return HandOff(to.stack, message_id, build_id)


def promote(ctx: DeliveryContext, to_stack: str, model_version: str, approver: str | None = None) -> PromoteOutcome:
    """Record a person's approval of an Approved version for ``to_stack`` and hand it to that stack.

    Raises registry.Refused when the registry does not hold the version as Approved.
    """
    to = ctx.settings(to_stack)
    target = registry.require_approved(ctx, model_version)
    who = approver or caller_identity(ctx)
    record = records.ApprovalRecord(model_package_arn=target.arn, approved_by=who,
                                    approved_at=records.iso(ctx.now()))
    records.write_approval(ctx, to_stack, record)
    ctx.on_progress(f"{to_stack}: approval of {target.group} version {target.version} recorded for {who}")
    handed = hand_off(ctx, to, target.arn, target.version, who,
                      extra={"approvedBy": who, "approvedAt": record.approved_at})
    return PromoteOutcome(to_stack, target.arn, target.version, who, record.approved_at, handed)


def publish(ctx: DeliveryContext, event: dict) -> None:
    """Publish, and carry on when the bus refuses: events inform, the SSM record is the truth."""
    try:
        ctx.publish(event)
    except Exception as err:  # any publishing failure is reported, never fatal
        ctx.on_progress(f"could not publish {event['detail-type']} on {event['bus']}: {err}")
