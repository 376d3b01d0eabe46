"""One table: Pulumi resource type -> how to create and delete it in the emulator through boto3.

Inputs arrive as the engine passes them (camelCase); each handler maps them to the AWS API, returns the
real identifiers and ARNs, so later resources are wired with emulator values exactly as with
``pulumi up``. Adding a type is one entry in ``HANDLERS``; a type with no entry is "declared only",
listed by ``prodline sandbox status`` and never dropped silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from prodline.sandbox.clients import Clients

Outputs = dict[str, Any]


@dataclass
class Context:
    """What handlers need: emulator clients, the account, and how to name things like autonaming does."""

    clients: Clients
    account: str
    region: str
    stack: str
    on_endpoint_update: Callable[[str, dict, dict], None] | None = None
    """Called to roll out a changed endpoint (the deployment runtime); moto has no UpdateEndpoint."""
    notes: dict[str, str] = field(default_factory=dict)

    def physical(self, urn: str, logical: str, inputs: dict | None = None, limit: int = 63) -> str:
        """A stable physical name, like Pulumi's autonaming: logical name plus a short hash.

        With ``inputs``, the hash covers them, so a changed resource gets a new name (replace, not update).
        """
        seed = urn + (json.dumps(inputs, sort_keys=True, default=str) if inputs is not None else "")
        suffix = hashlib.sha1(seed.encode()).hexdigest()[:7]  # naming, not security
        return f"{logical[: limit - 8]}-{suffix}".lower()


@dataclass(frozen=True)
class Handler:
    create: Callable[[Context, str, str, dict], tuple[str, Outputs]]
    """(ctx, urn, logical name, inputs) -> (id, outputs)."""
    delete: Callable[[Context, str, Outputs], None] | None = None
    """(ctx, id, outputs); None when deleting the owner removes it too."""
    replace_on_change: bool = False
    """Immutable in AWS (endpoint configurations, models): a change creates a new one."""
    note: str = ""


def _tags(inputs: dict) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((inputs.get("tags") or {}).items())]


def _tag_map(inputs: dict) -> dict[str, str]:
    return dict(inputs.get("tags") or {})


def _int(value: Any) -> int | None:
    """Numbers arrive from the engine as floats; AWS wants integers where its API says so."""
    return None if value is None else int(value)


def _drop_none(value: dict) -> dict:
    return {k: v for k, v in value.items() if v is not None}


# --- S3 -----------------------------------------------------------------------------------------------

def _bucket(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("bucket") or ctx.physical(urn, logical)
    s3 = ctx.clients("s3")
    kwargs: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    s3.create_bucket(**kwargs)
    if inputs.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(inputs)})
    return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}", "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "region": ctx.region}


def _delete_bucket(ctx: Context, name: str, _: Outputs) -> None:
    s3 = ctx.clients("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def _bucket_setting(apply: Callable[[Any, str, dict], None], remove: Callable[[Any, str], None] | None = None):
    """Handlers for the per-bucket configuration resources (versioning, encryption, ...)."""
    def create(ctx: Context, urn: str, logical: str, inputs: dict):
        apply(ctx.clients("s3"), inputs["bucket"], inputs)
        return inputs["bucket"], {"bucket": inputs["bucket"]}

    def delete(ctx: Context, bucket: str, _: Outputs) -> None:
        if remove:
            remove(ctx.clients("s3"), bucket)

    return Handler(create, delete)


def _lifecycle_rule(rule: dict) -> dict:
    out: dict[str, Any] = {"ID": rule["id"], "Status": rule["status"],
                           "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")}}
    if "noncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["noncurrentVersionExpiration"]["noncurrentDays"])}
    if "transitions" in rule:
        out["Transitions"] = [{"Days": int(t["days"]), "StorageClass": t["storageClass"]} for t in rule["transitions"]]
    if "expiration" in rule:
        out["Expiration"] = {"Days": int(rule["expiration"]["days"])}
    if "abortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"])}
    return out


TLS_NOTE = ("statements conditioned on aws:SecureTransport are recorded, not applied: moto evaluates policy "
            "conditions wrongly and would deny every request")


def _applicable_policy(policy: str) -> str | None:
    """The policy without its TLS-only statements (which moto would enforce on every request)."""
    doc = json.loads(policy)
    kept = [s for s in doc["Statement"] if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    return json.dumps({**doc, "Statement": kept}) if kept else None


def _put_bucket_policy(s3, bucket: str, inputs: dict) -> None:
    applicable = _applicable_policy(inputs["policy"])
    if applicable:
        s3.put_bucket_policy(Bucket=bucket, Policy=applicable)


def _archive_bytes(archive: pulumi.AssetArchive) -> bytes:
    """A deterministic zip of an AssetArchive of FileAssets, as Pulumi uploads archives."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, asset in sorted(archive.assets.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, Path(asset.path).read_bytes())
    return raw.getvalue()


def _object_body(inputs: dict) -> bytes:
    source = inputs.get("source")
    if isinstance(source, pulumi.FileAsset):
        return Path(source.path).read_bytes()
    if isinstance(source, pulumi.AssetArchive):
        return _archive_bytes(source)
    if isinstance(source, pulumi.StringAsset):
        return source.text.encode()
    return (inputs.get("content") or "").encode()


def _bucket_object(ctx: Context, urn: str, logical: str, inputs: dict):
    kwargs = _drop_none({"Bucket": inputs["bucket"], "Key": inputs["key"], "Body": _object_body(inputs),
                         "ServerSideEncryption": inputs.get("serverSideEncryption"),
                         "SSEKMSKeyId": inputs.get("kmsKeyId"), "ContentType": inputs.get("contentType")})
    result = ctx.clients("s3").put_object(**kwargs)
    return inputs["key"], {"bucket": inputs["bucket"], "key": inputs["key"], "etag": result.get("ETag", ""),
                           "versionId": result.get("VersionId", "")}


def _delete_object(ctx: Context, key: str, outputs: Outputs) -> None:
    ctx.clients("s3").delete_object(Bucket=outputs["bucket"], Key=key)


# --- KMS and IAM ----------------------------------------------------------------------------------------

def _kms_key(ctx: Context, urn: str, logical: str, inputs: dict):
    kms = ctx.clients("kms")
    meta = kms.create_key(**_drop_none({"Description": inputs.get("description"), "Policy": inputs.get("policy"),
                                        "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(inputs)]}))
    key_id = meta["KeyMetadata"]["KeyId"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
    return key_id, {"keyId": key_id, "arn": meta["KeyMetadata"]["Arn"]}


def _iam_role(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    role = ctx.clients("iam").create_role(**_drop_none({
        "RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"],
        "Description": inputs.get("description"), "Tags": _tags(inputs) or None}))["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


def _delete_role(ctx: Context, name: str, _: Outputs) -> None:
    iam = ctx.clients("iam")
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)


def _role_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=128)
    ctx.clients("iam").put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {"name": name, "role": inputs["role"]}


# --- Glue ---------------------------------------------------------------------------------------------

def _glue_table_input(inputs: dict) -> dict:
    sd = inputs["storageDescriptor"]
    return {
        "Name": inputs["name"], "TableType": inputs.get("tableType", "EXTERNAL_TABLE"),
        "Parameters": inputs.get("parameters", {}),
        "PartitionKeys": [{"Name": k["name"], "Type": k["type"]} for k in inputs.get("partitionKeys", [])],
        "StorageDescriptor": {
            "Location": sd["location"], "InputFormat": sd["inputFormat"], "OutputFormat": sd["outputFormat"],
            "SerdeInfo": {"SerializationLibrary": sd["serDeInfo"]["serializationLibrary"]},
            "Columns": [_drop_none({"Name": c["name"], "Type": c["type"], "Comment": c.get("comment")})
                        for c in sd["columns"]],
        },
    }


def _glue_job_request(inputs: dict) -> dict:
    command = inputs["command"]
    return _drop_none({
        "Name": inputs["name"], "Role": inputs["roleArn"],
        "Command": _drop_none({"Name": command["name"], "ScriptLocation": command["scriptLocation"],
                               "PythonVersion": command.get("pythonVersion")}),
        "DefaultArguments": inputs.get("defaultArguments"), "Timeout": _int(inputs.get("timeout")),
        "MaxRetries": _int(inputs.get("maxRetries")), "GlueVersion": inputs.get("glueVersion"),
        "ExecutionProperty": {"MaxConcurrentRuns": int(inputs.get("executionProperty", {}).get("maxConcurrentRuns", 1))},
        "MaxCapacity": inputs.get("maxCapacity") if "workerType" not in inputs else None,
        "WorkerType": inputs.get("workerType"), "NumberOfWorkers": _int(inputs.get("numberOfWorkers")), "SecurityConfiguration": inputs.get("securityConfiguration"),
        "Tags": _tag_map(inputs) or None,
    })


def _glue_trigger_request(inputs: dict) -> dict:
    predicate = inputs.get("predicate")
    return _drop_none({
        "Name": inputs["name"], "Type": inputs["type"], "Schedule": inputs.get("schedule"),
        "Actions": [{"JobName": a["jobName"]} for a in inputs["actions"]],
        "Predicate": {"Logical": predicate.get("logical", "AND"), "Conditions": [
            {"LogicalOperator": c.get("logicalOperator", "EQUALS"), "JobName": c["jobName"], "State": c["state"]}
            for c in predicate["conditions"]]} if predicate else None,
        "StartOnCreation": inputs.get("startOnCreation"), "Tags": _tag_map(inputs) or None,
    })


def _glue(kind: str) -> Handler:
    def create(ctx: Context, urn: str, logical: str, inputs: dict):
        glue = ctx.clients("glue")
        arn = f"arn:aws:glue:{ctx.region}:{ctx.account}"
        if kind == "database":
            glue.create_database(DatabaseInput=_drop_none({"Name": inputs["name"],
                                                           "Description": inputs.get("description")}))
            return f"{ctx.account}:{inputs['name']}", {"name": inputs["name"], "arn": f"{arn}:database/{inputs['name']}"}
        if kind == "table":
            glue.create_table(DatabaseName=inputs["databaseName"], TableInput=_glue_table_input(inputs))
            return (f"{inputs['databaseName']}:{inputs['name']}",
                    {"name": inputs["name"], "arn": f"{arn}:table/{inputs['databaseName']}/{inputs['name']}"})
        if kind == "security":
            enc = inputs["encryptionConfiguration"]
            glue.create_security_configuration(Name=inputs["name"], EncryptionConfiguration={
                "S3Encryption": [{"S3EncryptionMode": enc["s3Encryption"]["s3EncryptionMode"],
                                  "KmsKeyArn": enc["s3Encryption"]["kmsKeyArn"]}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": enc["cloudwatchEncryption"]["cloudwatchEncryptionMode"],
                                         "KmsKeyArn": enc["cloudwatchEncryption"]["kmsKeyArn"]},
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": enc["jobBookmarksEncryption"]["jobBookmarksEncryptionMode"],
                    "KmsKeyArn": enc["jobBookmarksEncryption"]["kmsKeyArn"]}})
            return inputs["name"], {"name": inputs["name"]}
        if kind == "job":
            glue.create_job(**_glue_job_request(inputs))
            return inputs["name"], {"name": inputs["name"], "arn": f"{arn}:job/{inputs['name']}"}
        glue.create_trigger(**_glue_trigger_request(inputs))
        return inputs["name"], {"name": inputs["name"], "arn": f"{arn}:trigger/{inputs['name']}"}

    def delete(ctx: Context, ident: str, outputs: Outputs) -> None:
        glue = ctx.clients("glue")
        if kind == "database":
            glue.delete_database(Name=outputs["name"])
        elif kind == "table":
            database, _, table = ident.partition(":")
            glue.delete_table(DatabaseName=database, Name=table)
        elif kind == "security":
            glue.delete_security_configuration(Name=ident)
        elif kind == "job":
            glue.delete_job(JobName=ident)
        else:
            glue.delete_trigger(Name=ident)

    return Handler(create, delete)


# --- CloudWatch, logs, SNS, EventBridge -----------------------------------------------------------------

def _log_group(ctx: Context, urn: str, logical: str, inputs: dict):
    logs = ctx.clients("logs")
    name = inputs.get("name") or ctx.physical(urn, logical, limit=512)
    logs.create_log_group(**_drop_none({"logGroupName": name, "kmsKeyId": inputs.get("kmsKeyId"),
                                        "tags": _tag_map(inputs) or None}))
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    return name, {"name": name, "arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}"}


def _dimensions(dims: dict | None) -> list[dict[str, str]] | None:
    return [{"Name": k, "Value": v} for k, v in sorted(dims.items())] if dims else None


def _metric_query(query: dict) -> dict:
    out = _drop_none({"Id": query["id"], "Expression": query.get("expression"), "Label": query.get("label"),
                      "ReturnData": query.get("returnData")})
    if "metric" in query:
        metric = query["metric"]
        out["MetricStat"] = {"Metric": _drop_none({"Namespace": metric["namespace"], "MetricName": metric["metricName"],
                                                   "Dimensions": _dimensions(metric.get("dimensions"))}),
                             "Period": int(metric["period"]), "Stat": metric["stat"]}
    return out


def alarm_request(name: str, inputs: dict) -> dict:
    """PutMetricAlarm arguments from the alarm's Pulumi inputs."""
    return _drop_none({
        "AlarmName": name, "AlarmDescription": inputs.get("alarmDescription"),
        "Namespace": inputs.get("namespace"), "MetricName": inputs.get("metricName"),
        "Dimensions": _dimensions(inputs.get("dimensions")), "Statistic": inputs.get("statistic"),
        "ExtendedStatistic": inputs.get("extendedStatistic"),
        "Period": int(inputs["period"]) if inputs.get("period") else None,
        "EvaluationPeriods": int(inputs["evaluationPeriods"]),
        "DatapointsToAlarm": int(inputs["datapointsToAlarm"]) if inputs.get("datapointsToAlarm") else None,
        "Threshold": float(inputs["threshold"]) if inputs.get("threshold") is not None else None,
        "ComparisonOperator": inputs["comparisonOperator"], "TreatMissingData": inputs.get("treatMissingData"),
        "AlarmActions": inputs.get("alarmActions"), "OKActions": inputs.get("okActions"),
        "Metrics": [_metric_query(q) for q in inputs["metricQueries"]] if inputs.get("metricQueries") else None,
        "Tags": _tags(inputs) or None,
    })


def _metric_alarm(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=255)
    ctx.clients("cloudwatch").put_metric_alarm(**alarm_request(name, inputs))
    return name, {"name": name, "arn": f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{name}"}


def _dashboard(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["dashboardName"]
    ctx.clients("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=inputs["dashboardBody"])
    return name, {"dashboardName": name, "dashboardArn": f"arn:aws:cloudwatch::{ctx.account}:dashboard/{name}"}


def _topic(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=256)
    attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
    arn = ctx.clients("sns").create_topic(Name=name, Attributes=attributes, Tags=_tags(inputs))["TopicArn"]
    return arn, {"arn": arn, "name": name}


def _topic_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("sns").set_topic_attributes(TopicArn=inputs["arn"], AttributeName="Policy",
                                            AttributeValue=inputs["policy"])
    return inputs["arn"], {"arn": inputs["arn"]}


def _subscription(ctx: Context, urn: str, logical: str, inputs: dict):
    arn = ctx.clients("sns").subscribe(TopicArn=inputs["topic"], Protocol=inputs["protocol"],
                                       Endpoint=inputs["endpoint"])["SubscriptionArn"]
    return arn, {"arn": arn}


def _event_bus(ctx: Context, urn: str, logical: str, inputs: dict):
    arn = ctx.clients("events").create_event_bus(**_drop_none({
        "Name": inputs["name"], "KmsKeyIdentifier": inputs.get("kmsKeyIdentifier"),
        "Tags": _tags(inputs) or None}))["EventBusArn"]
    return inputs["name"], {"name": inputs["name"], "arn": arn}


def _event_rule(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    arn = ctx.clients("events").put_rule(**_drop_none({
        "Name": name, "ScheduleExpression": inputs.get("scheduleExpression"),
        "EventPattern": inputs.get("eventPattern"), "Description": inputs.get("description"),
        "EventBusName": inputs.get("eventBusName"), "State": "ENABLED", "Tags": _tags(inputs) or None}))["RuleArn"]
    return f"{inputs.get('eventBusName') or 'default'}/{name}", {"name": name, "arn": arn}


def _delete_rule(ctx: Context, ident: str, outputs: Outputs) -> None:
    bus, _, name = ident.partition("/")
    events = ctx.clients("events")
    targets = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
    if targets:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=[t["Id"] for t in targets])
    events.delete_rule(Name=name, EventBusName=bus)


def _event_target(ctx: Context, urn: str, logical: str, inputs: dict):
    target_id = inputs.get("targetId") or ctx.physical(urn, logical, limit=64)
    target = _drop_none({"Id": target_id, "Arn": inputs["arn"], "RoleArn": inputs.get("roleArn"),
                         "Input": inputs.get("input")})
    if "sagemakerPipelineTarget" in inputs:
        target["SageMakerPipelineParameters"] = {"PipelineParameterList": [
            {"Name": p["name"], "Value": p["value"]}
            for p in inputs["sagemakerPipelineTarget"].get("pipelineParameterLists", [])]}
    bus = inputs.get("eventBusName") or "default"
    ctx.clients("events").put_targets(Rule=inputs["rule"], EventBusName=bus, Targets=[target])
    return f"{bus}/{inputs['rule']}/{target_id}", {"targetId": target_id}


def _delete_target(ctx: Context, ident: str, _: Outputs) -> None:
    bus, rule, target_id = ident.split("/", 2)
    ctx.clients("events").remove_targets(Rule=rule, EventBusName=bus, Ids=[target_id])


# --- SageMaker and Application Auto Scaling ---------------------------------------------------------------

def _capture_config(capture: dict) -> dict:
    header = capture.get("captureContentTypeHeader") or {}
    return _drop_none({
        "EnableCapture": capture.get("enableCapture", True),
        "InitialSamplingPercentage": int(capture["initialSamplingPercentage"]),
        "DestinationS3Uri": capture["destinationS3Uri"], "KmsKeyId": capture.get("kmsKeyId"),
        "CaptureOptions": [{"CaptureMode": o["captureMode"]} for o in capture["captureOptions"]],
        "CaptureContentTypeHeader": _drop_none({"CsvContentTypes": header.get("csvContentTypes"),
                                                "JsonContentTypes": header.get("jsonContentTypes")}) or None,
    })


def _variant(variant: dict) -> dict:
    out = _drop_none({"VariantName": variant["variantName"], "ModelName": variant["modelName"],
                      "InitialInstanceCount": int(variant["initialInstanceCount"])
                      if variant.get("initialInstanceCount") else None,
                      "InstanceType": variant.get("instanceType"),
                      "InitialVariantWeight": float(variant.get("initialVariantWeight", 1.0))})
    if "serverlessConfig" in variant:
        out["ServerlessConfig"] = {"MaxConcurrency": int(variant["serverlessConfig"]["maxConcurrency"]),
                                   "MemorySizeInMB": int(variant["serverlessConfig"]["memorySizeInMb"])}
    return out


def deployment_config(inputs: dict) -> dict | None:
    """CreateEndpoint's DeploymentConfig from the endpoint's Pulumi inputs."""
    config = inputs.get("deploymentConfig")
    if not config:
        return None
    policy = config["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    out_routing = {"Type": routing["type"], "WaitIntervalInSeconds": int(routing["waitIntervalInSeconds"])}
    if "canarySize" in routing:
        out_routing["CanarySize"] = {"Type": routing["canarySize"]["type"], "Value": int(routing["canarySize"]["value"])}
    return {
        "BlueGreenUpdatePolicy": _drop_none({
            "TrafficRoutingConfiguration": out_routing,
            "TerminationWaitInSeconds": int(policy.get("terminationWaitInSeconds", 0)),
            "MaximumExecutionTimeoutInSeconds": int(policy["maximumExecutionTimeoutInSeconds"])
            if policy.get("maximumExecutionTimeoutInSeconds") else None}),
        "AutoRollbackConfiguration": {"Alarms": [
            {"AlarmName": a["alarmName"]} for a in config.get("autoRollbackConfiguration", {}).get("alarms", [])]},
    }


def _sagemaker(kind: str) -> Handler:
    def create(ctx: Context, urn: str, logical: str, inputs: dict):
        sm = ctx.clients("sagemaker")
        tags = _tags(inputs) or None
        if kind == "group":
            name = inputs["modelPackageGroupName"]
            arn = sm.create_model_package_group(**_drop_none({
                "ModelPackageGroupName": name, "Tags": tags,
                "ModelPackageGroupDescription": inputs.get("modelPackageGroupDescription")}))["ModelPackageGroupArn"]
            return name, {"modelPackageGroupName": name, "arn": arn}
        if kind == "pipeline":
            name = inputs["pipelineName"]
            arn = sm.create_pipeline(**_drop_none({
                "PipelineName": name, "PipelineDisplayName": inputs.get("pipelineDisplayName"),
                "PipelineDefinition": inputs["pipelineDefinition"], "RoleArn": inputs["roleArn"],
                "PipelineDescription": inputs.get("pipelineDescription"), "Tags": tags}))["PipelineArn"]
            return name, {"pipelineName": name, "arn": arn}
        if kind == "model":
            name = inputs.get("name") or ctx.physical(urn, logical, inputs)
            container = inputs["primaryContainer"]
            arn = sm.create_model(**_drop_none({
                "ModelName": name, "ExecutionRoleArn": inputs["executionRoleArn"], "Tags": tags,
                "PrimaryContainer": _drop_none({"ModelPackageName": container.get("modelPackageName"),
                                                "Image": container.get("image"),
                                                "ModelDataUrl": container.get("modelDataUrl")})}))["ModelArn"]
            return name, {"name": name, "arn": arn}
        if kind == "config":
            name = inputs.get("name") or ctx.physical(urn, logical, inputs)
            arn = sm.create_endpoint_config(**_drop_none({
                "EndpointConfigName": name, "ProductionVariants": [_variant(v) for v in inputs["productionVariants"]],
                "DataCaptureConfig": _capture_config(inputs["dataCaptureConfig"])
                if inputs.get("dataCaptureConfig") else None,
                "KmsKeyId": inputs.get("kmsKeyArn"), "Tags": tags}))["EndpointConfigArn"]
            return name, {"name": name, "arn": arn}
        name = inputs["name"]
        arn = sm.create_endpoint(**_drop_none({"EndpointName": name, "EndpointConfigName": inputs["endpointConfigName"],
                                               "DeploymentConfig": deployment_config(inputs), "Tags": tags}))["EndpointArn"]
        return name, {"name": name, "arn": arn}

    def delete(ctx: Context, name: str, _: Outputs) -> None:
        sm = ctx.clients("sagemaker")
        {"group": lambda: _delete_group(sm, name),
         "pipeline": lambda: sm.delete_pipeline(PipelineName=name),
         "model": lambda: sm.delete_model(ModelName=name),
         "config": lambda: sm.delete_endpoint_config(EndpointConfigName=name),
         "endpoint": lambda: sm.delete_endpoint(EndpointName=name)}[kind]()

    return Handler(create, delete, replace_on_change=kind in ("model", "config"))


def _delete_group(sm, name: str) -> None:
    """Delete a model package group; moto has no DeleteModelPackageGroup (HTTP 500), so there it stays
    until the emulator stops."""
    from botocore.exceptions import ClientError

    try:
        sm.delete_model_package_group(ModelPackageGroupName=name)
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
            raise


def _scalable_target(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("application-autoscaling").register_scalable_target(
        ServiceNamespace=inputs["serviceNamespace"], ResourceId=inputs["resourceId"],
        ScalableDimension=inputs["scalableDimension"], MinCapacity=int(inputs["minCapacity"]),
        MaxCapacity=int(inputs["maxCapacity"]))
    return inputs["resourceId"], {k: inputs[k] for k in ("serviceNamespace", "resourceId", "scalableDimension")}


def _delete_scalable_target(ctx: Context, resource_id: str, outputs: Outputs) -> None:
    ctx.clients("application-autoscaling").deregister_scalable_target(
        ServiceNamespace=outputs["serviceNamespace"], ResourceId=resource_id,
        ScalableDimension=outputs["scalableDimension"])


def _scaling_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=255)
    tracking = inputs["targetTrackingScalingPolicyConfiguration"]
    arn = ctx.clients("application-autoscaling").put_scaling_policy(
        PolicyName=name, ServiceNamespace=inputs["serviceNamespace"], ResourceId=inputs["resourceId"],
        ScalableDimension=inputs["scalableDimension"], PolicyType=inputs["policyType"],
        TargetTrackingScalingPolicyConfiguration=_drop_none({
            "TargetValue": float(tracking["targetValue"]),
            "PredefinedMetricSpecification": {"PredefinedMetricType":
                                              tracking["predefinedMetricSpecification"]["predefinedMetricType"]},
            "ScaleInCooldown": int(tracking["scaleInCooldown"]) if tracking.get("scaleInCooldown") else None,
            "ScaleOutCooldown": int(tracking["scaleOutCooldown"]) if tracking.get("scaleOutCooldown") else None,
        }))["PolicyARN"]
    return name, {"name": name, "arn": arn, **{k: inputs[k] for k in ("serviceNamespace", "resourceId",
                                                                         "scalableDimension")}}


def _delete_scaling_policy(ctx: Context, name: str, outputs: Outputs) -> None:
    ctx.clients("application-autoscaling").delete_scaling_policy(
        PolicyName=name, ServiceNamespace=outputs["serviceNamespace"], ResourceId=outputs["resourceId"],
        ScalableDimension=outputs["scalableDimension"])


def _ecr_repository(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=256)
    scanning = inputs.get("imageScanningConfiguration") or {}
    repo = ctx.clients("ecr").create_repository(**_drop_none({
        "repositoryName": name, "imageTagMutability": inputs.get("imageTagMutability"),
        "imageScanningConfiguration": {"scanOnPush": bool(scanning.get("scanOnPush"))} if scanning else None,
        "tags": [{"Key": t["Key"], "Value": t["Value"]} for t in _tags(inputs)] or None}))["repository"]
    return name, {"name": name, "arn": repo["repositoryArn"], "repositoryUrl": repo["repositoryUri"],
                  "registryId": repo["registryId"]}


def _ecr_lifecycle(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("ecr").put_lifecycle_policy(repositoryName=inputs["repository"],
                                            lifecyclePolicyText=inputs["policy"])
    return inputs["repository"], {"repository": inputs["repository"]}


def _kms_alias(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("kms").create_alias(AliasName=inputs["name"], TargetKeyId=inputs["targetKeyId"])
    return inputs["name"], {"name": inputs["name"], "arn": f"arn:aws:kms:{ctx.region}:{ctx.account}:{inputs['name']}"}


HANDLERS: dict[str, Handler] = {
    "aws:s3/bucket:Bucket": Handler(_bucket, _delete_bucket),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]}),
        lambda s3, b: s3.delete_bucket_ownership_controls(Bucket=b)),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_setting(
        lambda s3, b, i: s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicAcls": i["blockPublicAcls"], "IgnorePublicAcls": i["ignorePublicAcls"],
            "BlockPublicPolicy": i["blockPublicPolicy"], "RestrictPublicBuckets": i["restrictPublicBuckets"]}),
        lambda s3, b: s3.delete_public_access_block(Bucket=b)),
    "aws:s3/bucketVersioning:BucketVersioning": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_versioning(
            Bucket=b, VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]})),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": _drop_none({
                "SSEAlgorithm": r["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
                "KMSMasterKeyID": r["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")}),
             "BucketKeyEnabled": bool(r.get("bucketKeyEnabled"))} for r in i["rules"]]}),
        lambda s3, b: s3.delete_bucket_encryption(Bucket=b)),
    "aws:s3/bucketPolicy:BucketPolicy": Handler(
        _bucket_setting(_put_bucket_policy).create, lambda ctx, b, _: ctx.clients("s3").delete_bucket_policy(Bucket=b),
        note=TLS_NOTE),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_lifecycle_configuration(
            Bucket=b, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in i["rules"]]}),
        lambda s3, b: s3.delete_bucket_lifecycle(Bucket=b)),
    "aws:s3/bucketLogging:BucketLogging": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_logging(Bucket=b, BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": i["targetBucket"], "TargetPrefix": i.get("targetPrefix", "")}}),
        lambda s3, b: s3.put_bucket_logging(Bucket=b, BucketLoggingStatus={})),
    "aws:s3/bucketNotification:BucketNotification": _bucket_setting(
        lambda s3, b, i: s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={"EventBridgeConfiguration": {}} if i.get("eventbridge") else {}),
        lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={})),
    "aws:s3/bucketObject:BucketObject": Handler(_bucket_object, _delete_object),
    "aws:kms/key:Key": Handler(_kms_key, lambda ctx, key_id, _: ctx.clients("kms").schedule_key_deletion(
        KeyId=key_id, PendingWindowInDays=7)),
    "aws:kms/alias:Alias": Handler(_kms_alias, lambda ctx, name, _: ctx.clients("kms").delete_alias(AliasName=name)),
    "aws:iam/role:Role": Handler(_iam_role, _delete_role),
    "aws:iam/rolePolicy:RolePolicy": Handler(_role_policy, lambda ctx, ident, o: ctx.clients("iam").delete_role_policy(
        RoleName=o["role"], PolicyName=o["name"])),
    "aws:glue/catalogDatabase:CatalogDatabase": _glue("database"),
    "aws:glue/catalogTable:CatalogTable": _glue("table"),
    "aws:glue/securityConfiguration:SecurityConfiguration": _glue("security"),
    "aws:glue/job:Job": _glue("job"),
    "aws:glue/trigger:Trigger": _glue("trigger"),
    "aws:cloudwatch/logGroup:LogGroup": Handler(_log_group, lambda ctx, name, _: ctx.clients("logs").delete_log_group(
        logGroupName=name)),
    "aws:cloudwatch/metricAlarm:MetricAlarm": Handler(
        _metric_alarm, lambda ctx, name, _: ctx.clients("cloudwatch").delete_alarms(AlarmNames=[name])),
    "aws:cloudwatch/dashboard:Dashboard": Handler(
        _dashboard, lambda ctx, name, _: ctx.clients("cloudwatch").delete_dashboards(DashboardNames=[name])),
    "aws:sns/topic:Topic": Handler(_topic, lambda ctx, arn, _: ctx.clients("sns").delete_topic(TopicArn=arn)),
    "aws:sns/topicPolicy:TopicPolicy": Handler(_topic_policy),
    "aws:sns/topicSubscription:TopicSubscription": Handler(
        _subscription, lambda ctx, arn, _: ctx.clients("sns").unsubscribe(SubscriptionArn=arn)),
    "aws:cloudwatch/eventBus:EventBus": Handler(
        _event_bus, lambda ctx, name, _: ctx.clients("events").delete_event_bus(Name=name)),
    "aws:cloudwatch/eventRule:EventRule": Handler(_event_rule, _delete_rule),
    "aws:cloudwatch/eventTarget:EventTarget": Handler(_event_target, _delete_target),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": _sagemaker("group"),
    "aws:sagemaker/pipeline:Pipeline": _sagemaker("pipeline"),
    "aws:sagemaker/model:Model": _sagemaker("model"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _sagemaker("config"),
    "aws:sagemaker/endpoint:Endpoint": _sagemaker("endpoint"),
    "aws:appautoscaling/target:Target": Handler(_scalable_target, _delete_scalable_target),
    "aws:appautoscaling/policy:Policy": Handler(_scaling_policy, _delete_scaling_policy),
    "aws:ecr/repository:Repository": Handler(
        _ecr_repository, lambda ctx, name, _: ctx.clients("ecr").delete_repository(repositoryName=name, force=True)),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": Handler(_ecr_lifecycle),
}

# Types the sandbox knowingly does not realize (by type-token prefix), with the reason `sandbox status`
# prints. Any other type without a handler is a gap: the mapping test fails until it gets an entry.
DECLARED_ONLY: dict[str, str] = {
    "kubernetes:": "no Kubernetes cluster in the sandbox; `prodline preview --k8s-yaml` renders these objects",
    "pulumi:providers:": "a provider is configuration, not a cloud resource",
}


def declared_only_reason(type_token: str) -> str:
    for prefix, reason in DECLARED_ONLY.items():
        if type_token.startswith(prefix):
            return reason
    return "the sandbox has no mapping for this type yet (add one to HANDLERS)"
