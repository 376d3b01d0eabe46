"""One deploy of one stack: resolve the version, `up`, smoke, then record and promote, or restore and alert.

Why this shape: the endpoint is only ever changed by `up` of the stack with a pinned version, so a failed
gate is undone the same way (``up`` of the version the record says was served before), and the record is
written only after the gate is green, so it always names a version that passed. ``drain_queue`` is what
the deployer's build runs: one request at a time off the stack's FIFO queue, deleted only when handled,
which is what makes deploys of a stack run one after the other in approval order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prodline.delivery import events, records, registry, requests
from prodline.delivery.context import DeliveryContext
from prodline.delivery.engines import check_engine
from prodline.delivery.promote import hand_off, publish
from prodline.delivery.registry import ModelVersion, Refused
from prodline.delivery.settings import DeliverySettings
from prodline.delivery.smoke import SmokeResult, run_smoke
from standards import delivery as names

NO_VERSION = "none"


class DeliverySetupError(RuntimeError):
    """The stack is not set up for delivery (no deploy queue, for example); nothing was changed."""


@dataclass
class DeployOutcome:
    stack: str
    model_package_arn: str | None
    version: str | None
    ok: bool
    reason: str = ""
    restored_to: str | None = None
    """What the stack serves after a failure: the previous ARN, or None for nothing."""
    smoke: SmokeResult | None = None
    promoted_to: str = ""
    awaiting_approval: str = ""
    """The next stack, when it waits for a person's `prodline promote`."""
    requested_by: str = ""
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        name = f"version {self.version}" if self.version else (self.model_package_arn or "the request")
        if self.ok:
            then = (f"; promoted to {self.promoted_to}" if self.promoted_to else
                    f"; {self.awaiting_approval} awaits approval" if self.awaiting_approval else "")
            return f"{self.stack}: {name} deployed and smoke-tested{then}"
        return (f"{self.stack}: {name} NOT deployed: {self.reason}; serving "
                f"{self.restored_to or 'no model'}")


def deploy(ctx: DeliveryContext, stack: str, model_version: str, requested_by: str,
           source: str = "manual") -> DeployOutcome:
    """Deploy ``model_version`` (an ARN, ``latest`` or ``current``) to ``stack`` through the smoke gate.

    Returns the outcome (exit code 1 when it failed and was restored); raises EngineUnavailable before
    anything is published when the engine cannot run here.
    """
    settings = ctx.settings(stack)
    check_engine(ctx.engine)
    current = records.read_version(ctx, stack)
    previous = current.model_package_arn if current else None
    try:
        target = _resolve(ctx, settings, model_version, current)
        if settings.require_approval:
            _require_approval(ctx, stack, target)
    except Refused as err:
        return _refuse(ctx, settings, model_version=model_version, previous=previous, reason=str(err),
                       requested_by=requested_by, source=source)

    ctx.on_progress(f"{stack}: deploying {target.group} version {target.version} "
                    f"(requested by {requested_by}, {source}; serving {previous or 'nothing'} now)")
    publish(ctx, _event(events.STARTED, settings, target, requestedBy=requested_by, source=source,
                        previousArn=previous, engine=ctx.engine.name))
    outcome = DeployOutcome(stack, target.arn, target.version, ok=False, requested_by=requested_by, source=source)
    try:
        ctx.engine.up(stack, target.arn)
    except Exception as err:  # whatever `up` dies of, the stack goes back to what it served
        return _restore(ctx, settings, target, previous=previous, reason=f"up failed: {_one_line(err)}",
                        outcome=outcome)

    ctx.on_progress(f"{stack}: smoke gate on {settings.endpoint_name} ({settings.smoke_rows} rows, "
                    f"<= {settings.smoke_latency_ms} ms)")
    try:
        outcome.smoke = run_smoke(ctx, settings)
    except Exception as err:  # a gate that cannot run cannot vouch for the version: red, and restored
        outcome.smoke = SmokeResult(problems=[f"the gate could not run: {_one_line(err)}"])
    ctx.on_progress(f"{stack}: smoke {'green' if outcome.smoke.ok else 'RED'}: {outcome.smoke.summary()}")
    if not outcome.smoke.ok:
        return _restore(ctx, settings, target, previous=previous,
                        reason=f"smoke gate failed: {'; '.join(outcome.smoke.problems[:3])}", outcome=outcome)

    records.write_version(ctx, records.VersionRecord(
        stack=stack, model_package_arn=target.arn, version=target.version, promoted_by=requested_by,
        promoted_at=records.iso(ctx.now()), previous_arn=previous, source=source))
    publish(ctx, _event(events.SUCCEEDED, settings, target, requestedBy=requested_by, source=source,
                        previousArn=previous, smoke=outcome.smoke.as_detail()))
    outcome.ok = True
    _promote_next(ctx, settings, target, requested_by, outcome)
    ctx.on_progress(outcome.summary())
    return outcome


def drain_queue(ctx: DeliveryContext, stack: str, limit: int | None = None) -> list[DeployOutcome]:
    """Deploy every request on ``stack``'s queue, one at a time, in queue order; the outcomes in that order.

    A request is deleted once it is handled (deployed, refused, or failed and restored); one that is not a
    deploy request is deleted with a failed outcome. An unexpected error leaves the request on the queue
    (it reappears after the visibility timeout) and propagates.
    """
    settings = ctx.settings(stack)
    check_engine(ctx.engine)
    sqs = ctx.clients("sqs")
    try:
        url = requests.queue_url(ctx, settings.environment)
    except sqs.exceptions.QueueDoesNotExist:
        raise DeliverySetupError(f"stack {stack} has no deploy queue {requests.queue_name(settings.environment)}: "
                                 "deploy the stack (its Deployer) first") from None
    outcomes: list[DeployOutcome] = []
    while limit is None or len(outcomes) < limit:
        received = requests.receive_one(ctx, url, stack)
        if received is None:
            break
        if received.request is None:
            ctx.on_progress(f"{stack}: message {received.message_id} is not a deploy request: {received.problem}")
            outcome = DeployOutcome(stack, None, None, ok=False,
                                    reason=f"message {received.message_id} dropped: {received.problem}")
        else:
            request = received.request
            outcome = deploy(ctx, stack, request.model_package_arn, request.requested_by, request.source)
        requests.delete(ctx, url, received.receipt_handle)
        outcomes.append(outcome)
    ctx.on_progress(f"{stack}: deploy queue empty after {len(outcomes)} request(s)")
    return outcomes


# --- steps ----------------------------------------------------------------------------------------------

def _resolve(ctx: DeliveryContext, settings: DeliverySettings, model_version: str,
             current: records.VersionRecord | None) -> ModelVersion:
    if model_version == "latest":
        arn = registry.latest_approved(ctx, settings.model_package_group)
        if arn is None:
            raise Refused(f"no approved version in {settings.model_package_group}")
    elif model_version == "current":
        if current is None:
            raise Refused(f"stack {settings.stack} has no version record yet: nothing is current")
        arn = current.model_package_arn
    else:
        arn = model_version
    return registry.require_approved(ctx, arn)


def _require_approval(ctx: DeliveryContext, stack: str, target: ModelVersion) -> None:
    approval = records.read_approval(ctx, stack)
    if approval is None or approval.model_package_arn != target.arn:
        recorded = f"the recorded approval is for {approval.model_package_arn}" if approval else "none is recorded"
        raise Refused(f"{stack} requires a person's approval of {target.group} version {target.version} "
                      f"({recorded}): prodline promote --to {stack} --model-version {target.arn}")
    ctx.on_progress(f"{stack}: approved by {approval.approved_by} at {approval.approved_at}")


def _refuse(ctx: DeliveryContext, settings: DeliverySettings, *, model_version: str, previous: str | None,
            reason: str, requested_by: str, source: str) -> DeployOutcome:
    """Nothing was changed: say so on the bus and to the alert topic."""
    arn = model_version if registry.is_arn(model_version) else None
    version = arn.rsplit("/", 1)[-1] if arn else None
    publish(ctx, events.entry(events.FAILED, environment=settings.environment, stack=settings.stack,
                              model_package_arn=arn, version=version, reason=f"refused: {reason}",
                              restoredTo=previous or NO_VERSION, requestedBy=requested_by, source=source,
                              requested=model_version))
    outcome = DeployOutcome(settings.stack, arn, version, ok=False, reason=f"refused: {reason}",
                            restored_to=previous, requested_by=requested_by, source=source)
    _alert(ctx, settings, outcome)
    ctx.on_progress(outcome.summary())
    return outcome


def _restore(ctx: DeliveryContext, settings: DeliverySettings, target: ModelVersion, *, previous: str | None,
             reason: str, outcome: DeployOutcome) -> DeployOutcome:
    """`up` of the previous version (or of none), then Deployment Failed and an alert."""
    ctx.on_progress(f"{settings.stack}: {reason}; restoring {previous or 'no model'}")
    restore_error = None
    try:
        ctx.engine.up(settings.stack, previous)
    except Exception as err:  # the failure is reported with the original reason, never swallowed
        restore_error = _one_line(err)
        outcome.notes.append(f"restore failed: {restore_error}")
    outcome.reason = reason + (f"; the restore failed too: {restore_error}" if restore_error else "")
    outcome.restored_to = None if restore_error else previous
    publish(ctx, _event(events.FAILED, settings, target, reason=outcome.reason,
                        restoredTo=(previous or NO_VERSION) if not restore_error else "unknown",
                        requestedBy=outcome.requested_by, source=outcome.source,
                        smoke=outcome.smoke.as_detail() if outcome.smoke else None))
    _alert(ctx, settings, outcome)
    ctx.on_progress(outcome.summary())
    return outcome


def _promote_next(ctx: DeliveryContext, settings: DeliverySettings, target: ModelVersion, requested_by: str,
                  outcome: DeployOutcome) -> None:
    if not settings.promote_to:
        return
    nxt = ctx.settings(settings.promote_to)
    if nxt.require_approval:
        publish(ctx, events.entry(events.AWAITING_APPROVAL, environment=nxt.environment, stack=nxt.stack,
                                  model_package_arn=target.arn, version=target.version, **{"from": settings.stack}))
        ctx.on_progress(f"{nxt.stack} requires a person's approval: prodline promote --to {nxt.stack} "
                        f"--model-version {target.arn}")
        outcome.awaiting_approval = nxt.stack
        return
    hand_off(ctx, nxt, target.arn, target.version, requested_by, from_settings=settings)
    outcome.promoted_to = nxt.stack


def _alert(ctx: DeliveryContext, settings: DeliverySettings, outcome: DeployOutcome) -> None:
    """Tell the people on the stack's alert topic (``prodline-<env>-alerts``); never fails the deploy."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = names.alert_topic(settings.environment)
    try:
        sns = ctx.clients("sns")
        topic = next((t["TopicArn"] for page in sns.get_paginator("list_topics").paginate()
                      for t in page.get("Topics", []) if t["TopicArn"].rsplit(":", 1)[-1] == name), None)
        if topic is None:
            ctx.on_progress(f"no alert topic {name}: nobody was told")
            return
        sns.publish(TopicArn=topic, Subject=f"prodline {settings.stack}: deployment failed"[:100],
                    Message=outcome.summary())
    except (ClientError, BotoCoreError) as err:
        ctx.on_progress(f"could not alert {name}: {err}")


def _event(detail_type: str, settings: DeliverySettings, target: ModelVersion, **extra) -> dict:
    return events.entry(detail_type, environment=settings.environment, stack=settings.stack,
                        model_package_arn=target.arn, version=target.version, **extra)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[-1] if text else type(err).__name__)[:300]
