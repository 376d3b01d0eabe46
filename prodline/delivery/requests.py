"""Deploy requests on the stack's SQS FIFO queue: what serializes deploys, in approval order.

Why a FIFO queue with one message group per stack: SQS hands out the next message of a group only after
the one in flight is deleted, so two approvals a second apart become two deploys one after the other, in
the order they were approved, without a lock service; a second build that starts meanwhile finds the queue
"empty" and ends. The body is the request JSON ``{"stack","modelPackageArn","requestedBy","source"}``, or the
raw EventBridge approval event the stack's approval rule delivers (its ``detail.ModelPackageArn`` or
``resources[0]``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from prodline.delivery.context import DeliveryContext
from standards import delivery as names

SOURCES = ("approval", "promotion", "manual")
VISIBILITY_SECONDS = 2 * 60 * 60
"""How long a received request stays hidden: longer than any `pulumi up` with a canary bake. A build that
dies mid-deploy leaves the request to reappear then, for the next (hourly) build to pick up."""
APPROVAL_DETAIL_TYPE = "SageMaker Model Package State Change"


class BadRequest(ValueError):
    """A queue message that is not a deploy request; the message says what is wrong with it."""


@dataclass(frozen=True)
class DeployRequest:
    stack: str
    model_package_arn: str
    requested_by: str
    source: str


@dataclass(frozen=True)
class Received:
    """One message taken off the queue: the request in it, or why it holds none (it is deleted either way)."""

    receipt_handle: str
    message_id: str
    request: DeployRequest | None
    problem: str = ""


def queue_name(environment: str) -> str:
    return names.deploy_queue(environment)


def queue_url(ctx: DeliveryContext, environment: str) -> str:
    return ctx.clients("sqs").get_queue_url(QueueName=queue_name(environment))["QueueUrl"]


def request_body(stack: str, model_package_arn: str, requested_by: str, source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return json.dumps({"stack": stack, "modelPackageArn": model_package_arn, "requestedBy": requested_by,
                       "source": source}, sort_keys=True)


def deduplication_id(model_package_arn: str, at: str) -> str:
    """Same version asked for at the same instant = one request (SQS drops the copy for five minutes)."""
    return hashlib.sha256(f"{model_package_arn}|{at}".encode()).hexdigest()


def enqueue(ctx: DeliveryContext, environment: str, stack: str, model_package_arn: str, *, requested_by: str,
            source: str) -> str:
    """Put a deploy request on ``stack``'s queue (message group = the stack); returns the message id."""
    sent = ctx.clients("sqs").send_message(
        QueueUrl=queue_url(ctx, environment), MessageBody=request_body(stack, model_package_arn, requested_by, source),
        MessageGroupId=stack, MessageDeduplicationId=deduplication_id(model_package_arn, ctx.now().isoformat()))
    return sent["MessageId"]


def parse_body(body: str, stack: str) -> DeployRequest:
    """A deploy request from a queue message body: the request JSON or an EventBridge approval event."""
    try:
        document = json.loads(body)
    except ValueError as err:
        raise BadRequest(f"the message is not JSON: {err}") from None
    if not isinstance(document, dict):
        raise BadRequest("the message is not a JSON object")
    if "detail-type" in document:
        return _from_approval_event(document, stack)
    arn = document.get("modelPackageArn")
    if not arn or not isinstance(arn, str):
        raise BadRequest("the request has no modelPackageArn")
    target = document.get("stack") or stack
    if target != stack:
        raise BadRequest(f"the request is for stack {target!r}, not {stack!r}: it is on the wrong queue")
    source = document.get("source") or "manual"
    if source not in SOURCES:
        raise BadRequest(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return DeployRequest(stack, arn, str(document.get("requestedBy") or "unknown"), source)


def _from_approval_event(event: dict, stack: str) -> DeployRequest:
    if event.get("detail-type") != APPROVAL_DETAIL_TYPE:
        raise BadRequest(f"event {event.get('detail-type')!r} is not a model package approval")
    detail = event.get("detail") or {}
    status = detail.get("ModelApprovalStatus")
    if status and status != "Approved":
        raise BadRequest(f"the event says the version is {status}, not Approved")
    resources = event.get("resources") or []
    arn = detail.get("ModelPackageArn") or (resources[0] if resources else None)
    if not arn:
        raise BadRequest("the approval event names no model package (no detail.ModelPackageArn, no resources)")
    who = (detail.get("LastModifiedBy") or {}).get("UserProfileName") or "registry approval"
    return DeployRequest(stack, arn, f"{who} (event {event.get('id', '?')})", "approval")


def receive_one(ctx: DeliveryContext, url: str, stack: str) -> Received | None:
    """The next message of the queue (hidden from others while it is handled), or None when there is none."""
    answer = ctx.clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                                WaitTimeSeconds=ctx.poll_seconds,
                                                VisibilityTimeout=VISIBILITY_SECONDS)
    messages = answer.get("Messages", [])
    if not messages:
        return None
    message = messages[0]
    handle, message_id = message["ReceiptHandle"], message.get("MessageId", "")
    try:
        return Received(handle, message_id, parse_body(message["Body"], stack))
    except BadRequest as err:
        return Received(handle, message_id, None, str(err))


def delete(ctx: DeliveryContext, url: str, receipt_handle: str) -> None:
    """Done with a request (deployed, refused or failed and restored): the group's next one may go."""
    ctx.clients("sqs").delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
