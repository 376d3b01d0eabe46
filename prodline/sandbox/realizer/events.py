"""EventBridge (Pulumi's ``aws:cloudwatch/event*``): buses, rules and targets."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, Outputs, as_int, drop_none, tag_list


def _event_bus(ctx: Context, urn: str, logical: str, inputs: dict):
    arn = ctx.clients("events").create_event_bus(**drop_none({
        "Name": inputs["name"], "KmsKeyIdentifier": inputs.get("kmsKeyIdentifier"),
        "Description": inputs.get("description"), "Tags": tag_list(inputs) or None}))["EventBusArn"]
    return inputs["name"], {"name": inputs["name"], "arn": arn}


EVENT_BUS = Handler(_event_bus, lambda ctx, name, _: ctx.clients("events").delete_event_bus(Name=name),
                    carries=("name", "kmsKeyIdentifier", "description", "tags"))


def _event_rule(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    arn = ctx.clients("events").put_rule(**drop_none({
        "Name": name, "ScheduleExpression": inputs.get("scheduleExpression"),
        "EventPattern": inputs.get("eventPattern"), "Description": inputs.get("description"),
        "EventBusName": inputs.get("eventBusName"), "RoleArn": inputs.get("roleArn"),
        "State": inputs.get("state") or "ENABLED", "Tags": tag_list(inputs) or None}))["RuleArn"]
    return f"{inputs.get('eventBusName') or 'default'}/{name}", {"name": name, "arn": arn}


def _delete_rule(ctx: Context, ident: str, outputs: Outputs) -> None:
    bus, _, name = ident.partition("/")
    events = ctx.clients("events")
    targets = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
    if targets:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=[t["Id"] for t in targets])
    events.delete_rule(Name=name, EventBusName=bus)


EVENT_RULE = Handler(_event_rule, _delete_rule,
                     carries=("name", "scheduleExpression", "eventPattern", "description", "eventBusName",
                              "roleArn", "state", "tags"))


def _event_target(ctx: Context, urn: str, logical: str, inputs: dict):
    target_id = inputs.get("targetId") or ctx.physical(urn, logical, limit=64)
    target = drop_none({"Id": target_id, "Arn": inputs["arn"], "RoleArn": inputs.get("roleArn"),
                        "Input": inputs.get("input"), "InputPath": inputs.get("inputPath")})
    if "sagemakerPipelineTarget" in inputs:
        target["SageMakerPipelineParameters"] = {"PipelineParameterList": [
            {"Name": p["name"], "Value": p["value"]}
            for p in inputs["sagemakerPipelineTarget"].get("pipelineParameterLists", [])]}
    if inputs.get("sqsTarget"):
        target["SqsParameters"] = drop_none({"MessageGroupId": inputs["sqsTarget"].get("messageGroupId")})
    if inputs.get("retryPolicy"):
        retry = inputs["retryPolicy"]
        target["RetryPolicy"] = drop_none({"MaximumRetryAttempts": as_int(retry.get("maximumRetryAttempts")),
                                           "MaximumEventAgeInSeconds": as_int(retry.get("maximumEventAgeInSeconds"))})
    if inputs.get("deadLetterConfig"):
        target["DeadLetterConfig"] = drop_none({"Arn": inputs["deadLetterConfig"].get("arn")})
    if inputs.get("inputTransformer"):
        transformer = inputs["inputTransformer"]
        target["InputTransformer"] = drop_none({"InputPathsMap": transformer.get("inputPaths"),
                                                "InputTemplate": transformer["inputTemplate"]})
    bus = inputs.get("eventBusName") or "default"
    ctx.clients("events").put_targets(Rule=inputs["rule"], EventBusName=bus, Targets=[target])
    return f"{bus}/{inputs['rule']}/{target_id}", {"targetId": target_id}


def _delete_target(ctx: Context, ident: str, _: Outputs) -> None:
    bus, rule, target_id = ident.split("/", 2)
    ctx.clients("events").remove_targets(Rule=rule, EventBusName=bus, Ids=[target_id])


EVENT_TARGET = Handler(_event_target, _delete_target,
                       carries=("targetId", "arn", "roleArn", "input", "inputPath", "rule", "eventBusName",
                                "sagemakerPipelineTarget.pipelineParameterLists.name",
                                "sagemakerPipelineTarget.pipelineParameterLists.value", "sqsTarget.messageGroupId",
                                "retryPolicy.maximumRetryAttempts", "retryPolicy.maximumEventAgeInSeconds",
                                "deadLetterConfig.arn", "inputTransformer.inputPaths",
                                "inputTransformer.inputTemplate"))
