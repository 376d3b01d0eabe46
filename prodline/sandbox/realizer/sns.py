"""SNS: topics, their access policies, and subscriptions."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, tag_list


def _topic(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=256)
    attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
    if inputs.get("displayName"):
        attributes["DisplayName"] = inputs["displayName"]
    arn = ctx.clients("sns").create_topic(Name=name, Attributes=attributes, Tags=tag_list(inputs))["TopicArn"]
    return arn, {"arn": arn, "name": name}


TOPIC = Handler(_topic, lambda ctx, arn, _: ctx.clients("sns").delete_topic(TopicArn=arn),
                carries=("name", "kmsMasterKeyId", "displayName", "tags"))


def _topic_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("sns").set_topic_attributes(TopicArn=inputs["arn"], AttributeName="Policy",
                                            AttributeValue=inputs["policy"])
    return inputs["arn"], {"arn": inputs["arn"]}


TOPIC_POLICY = Handler(_topic_policy, carries=("arn", "policy"))  # deleted with its topic


def _subscription(ctx: Context, urn: str, logical: str, inputs: dict):
    arn = ctx.clients("sns").subscribe(TopicArn=inputs["topic"], Protocol=inputs["protocol"],
                                       Endpoint=inputs["endpoint"])["SubscriptionArn"]
    return arn, {"arn": arn}


SUBSCRIPTION = Handler(_subscription, lambda ctx, arn, _: ctx.clients("sns").unsubscribe(SubscriptionArn=arn),
                       carries=("topic", "protocol", "endpoint"))
