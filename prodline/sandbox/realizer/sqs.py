"""SQS: queues (standard or FIFO, KMS-encrypted) and their access policies."""

from __future__ import annotations

import json

from prodline.sandbox.realizer.base import Context, Handler, Outputs, tag_map

# Pulumi input -> CreateQueue attribute, for the attributes that are carried as they are.
_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "deduplicationScope": "DeduplicationScope",
    "fifoThroughputLimit": "FifoThroughputLimit",
    "policy": "Policy",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
}


def _text(value) -> str:
    """Queue attributes are strings: booleans lower-case, numbers without a fraction, documents as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def queue_attributes(inputs: dict) -> dict[str, str]:
    return {attribute: _text(inputs[field]) for field, attribute in _ATTRIBUTES.items()
            if inputs.get(field) not in (None, "")}


def _queue(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=75 if inputs.get("fifoQueue") else 80)
    if inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name = f"{name}.fifo"  # AWS requires it of a FIFO queue; Pulumi's autonaming adds it likewise
    sqs = ctx.clients("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=queue_attributes(inputs), tags=tag_map(inputs))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {"name": name, "arn": arn, "url": url}


QUEUE = Handler(_queue, lambda ctx, url, _: ctx.clients("sqs").delete_queue(QueueUrl=url),
                carries=("name", "tags", *_ATTRIBUTES))


def _queue_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("sqs").set_queue_attributes(QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]})
    return inputs["queueUrl"], {"queueUrl": inputs["queueUrl"]}


def _delete_queue_policy(ctx: Context, url: str, _: Outputs) -> None:
    ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})


QUEUE_POLICY = Handler(_queue_policy, _delete_queue_policy, carries=("queueUrl", "policy"))
