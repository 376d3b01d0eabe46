"""Glue: the catalog (databases, tables), security configurations, jobs and triggers."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, as_int, drop_none, tag_map


def _arn(ctx: Context, rest: str) -> str:
    return f"arn:aws:glue:{ctx.region}:{ctx.account}:{rest}"


def _database(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["name"]
    ctx.clients("glue").create_database(**drop_none({
        "DatabaseInput": drop_none({"Name": name, "Description": inputs.get("description"),
                                    "LocationUri": inputs.get("locationUri"), "Parameters": inputs.get("parameters")}),
        "Tags": tag_map(inputs) or None}))
    return f"{ctx.account}:{name}", {"name": name, "arn": _arn(ctx, f"database/{name}")}


DATABASE = Handler(_database, lambda ctx, ident, outputs: ctx.clients("glue").delete_database(Name=outputs["name"]),
                   carries=("name", "description", "locationUri", "parameters", "tags"))


def _column(column: dict) -> dict:
    return drop_none({"Name": column["name"], "Type": column.get("type"), "Comment": column.get("comment")})


def table_input(inputs: dict) -> dict:
    """CreateTable's TableInput from the table's Pulumi inputs."""
    sd = inputs["storageDescriptor"]
    return drop_none({
        "Name": inputs["name"], "Description": inputs.get("description"),
        "TableType": inputs.get("tableType", "EXTERNAL_TABLE"), "Parameters": inputs.get("parameters", {}),
        "PartitionKeys": [_column(k) for k in inputs.get("partitionKeys", [])],
        "StorageDescriptor": drop_none({
            "Location": sd.get("location"), "InputFormat": sd.get("inputFormat"),
            "OutputFormat": sd.get("outputFormat"), "Compressed": sd.get("compressed"),
            "Parameters": sd.get("parameters"),
            "SerdeInfo": drop_none({"SerializationLibrary": sd["serDeInfo"].get("serializationLibrary"),
                                    "Name": sd["serDeInfo"].get("name"),
                                    "Parameters": sd["serDeInfo"].get("parameters")}) if "serDeInfo" in sd else None,
            "Columns": [_column(c) for c in sd.get("columns", [])],
        }),
    })


def _table(ctx: Context, urn: str, logical: str, inputs: dict):
    database, name = inputs["databaseName"], inputs["name"]
    ctx.clients("glue").create_table(DatabaseName=database, TableInput=table_input(inputs))
    return f"{database}:{name}", {"name": name, "arn": _arn(ctx, f"table/{database}/{name}")}


def _delete_table(ctx: Context, ident: str, _: dict) -> None:
    database, _, table = ident.partition(":")
    ctx.clients("glue").delete_table(DatabaseName=database, Name=table)


TABLE = Handler(_table, _delete_table, carries=(
    "databaseName", "name", "description", "tableType", "parameters", "partitionKeys.name", "partitionKeys.type",
    "partitionKeys.comment", "storageDescriptor.location", "storageDescriptor.inputFormat",
    "storageDescriptor.outputFormat", "storageDescriptor.compressed", "storageDescriptor.parameters",
    "storageDescriptor.serDeInfo.serializationLibrary", "storageDescriptor.serDeInfo.name",
    "storageDescriptor.serDeInfo.parameters", "storageDescriptor.columns.name", "storageDescriptor.columns.type",
    "storageDescriptor.columns.comment"))


def _security_configuration(ctx: Context, urn: str, logical: str, inputs: dict):
    enc = inputs["encryptionConfiguration"]
    s3, logs, bookmarks = enc["s3Encryption"], enc["cloudwatchEncryption"], enc["jobBookmarksEncryption"]
    ctx.clients("glue").create_security_configuration(Name=inputs["name"], EncryptionConfiguration={
        "S3Encryption": [drop_none({"S3EncryptionMode": s3["s3EncryptionMode"], "KmsKeyArn": s3.get("kmsKeyArn")})],
        "CloudWatchEncryption": drop_none({"CloudWatchEncryptionMode": logs["cloudwatchEncryptionMode"],
                                           "KmsKeyArn": logs.get("kmsKeyArn")}),
        "JobBookmarksEncryption": drop_none({"JobBookmarksEncryptionMode": bookmarks["jobBookmarksEncryptionMode"],
                                             "KmsKeyArn": bookmarks.get("kmsKeyArn")})})
    return inputs["name"], {"name": inputs["name"]}


SECURITY_CONFIGURATION = Handler(
    _security_configuration,
    lambda ctx, name, _: ctx.clients("glue").delete_security_configuration(Name=name),
    carries=("name", "encryptionConfiguration.s3Encryption.s3EncryptionMode",
             "encryptionConfiguration.s3Encryption.kmsKeyArn",
             "encryptionConfiguration.cloudwatchEncryption.cloudwatchEncryptionMode",
             "encryptionConfiguration.cloudwatchEncryption.kmsKeyArn",
             "encryptionConfiguration.jobBookmarksEncryption.jobBookmarksEncryptionMode",
             "encryptionConfiguration.jobBookmarksEncryption.kmsKeyArn"))


def job_request(inputs: dict) -> dict:
    """CreateJob arguments from the job's Pulumi inputs."""
    command = inputs["command"]
    return drop_none({
        "Name": inputs["name"], "Role": inputs["roleArn"], "Description": inputs.get("description"),
        "Command": drop_none({"Name": command.get("name"), "ScriptLocation": command["scriptLocation"],
                              "PythonVersion": command.get("pythonVersion"), "Runtime": command.get("runtime")}),
        "DefaultArguments": inputs.get("defaultArguments"),
        "NonOverridableArguments": inputs.get("nonOverridableArguments"),
        "Timeout": as_int(inputs.get("timeout")), "MaxRetries": as_int(inputs.get("maxRetries")),
        "GlueVersion": inputs.get("glueVersion"),
        "ExecutionProperty": {"MaxConcurrentRuns": int((inputs.get("executionProperty") or {})
                                                       .get("maxConcurrentRuns", 1))},
        "MaxCapacity": inputs.get("maxCapacity"), "WorkerType": inputs.get("workerType"),
        "NumberOfWorkers": as_int(inputs.get("numberOfWorkers")),
        "SecurityConfiguration": inputs.get("securityConfiguration"), "Tags": tag_map(inputs) or None,
    })


def _job(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("glue").create_job(**job_request(inputs))
    return inputs["name"], {"name": inputs["name"], "arn": _arn(ctx, f"job/{inputs['name']}")}


JOB = Handler(
    _job, lambda ctx, name, _: ctx.clients("glue").delete_job(JobName=name),
    carries=("name", "roleArn", "description", "command.name", "command.scriptLocation", "command.pythonVersion",
             "command.runtime", "defaultArguments", "nonOverridableArguments", "timeout", "maxRetries",
             "glueVersion", "executionProperty.maxConcurrentRuns", "maxCapacity", "workerType", "numberOfWorkers",
             "securityConfiguration", "tags"))


def trigger_request(inputs: dict) -> dict:
    """CreateTrigger arguments from the trigger's Pulumi inputs."""
    predicate = inputs.get("predicate")
    return drop_none({
        "Name": inputs["name"], "Type": inputs["type"], "Schedule": inputs.get("schedule"),
        "Description": inputs.get("description"),
        "Actions": [drop_none({"JobName": a["jobName"], "Arguments": a.get("arguments"),
                               "Timeout": as_int(a.get("timeout"))}) for a in inputs["actions"]],
        "Predicate": {"Logical": predicate.get("logical", "AND"), "Conditions": [
            {"LogicalOperator": c.get("logicalOperator", "EQUALS"), "JobName": c["jobName"], "State": c["state"]}
            for c in predicate["conditions"]]} if predicate else None,
        "StartOnCreation": inputs.get("startOnCreation"), "Tags": tag_map(inputs) or None,
    })


def _trigger(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("glue").create_trigger(**trigger_request(inputs))
    return inputs["name"], {"name": inputs["name"], "arn": _arn(ctx, f"trigger/{inputs['name']}")}


TRIGGER = Handler(
    _trigger, lambda ctx, name, _: ctx.clients("glue").delete_trigger(Name=name),
    carries=("name", "type", "schedule", "description", "actions.jobName", "actions.arguments", "actions.timeout",
             "predicate.logical", "predicate.conditions.logicalOperator", "predicate.conditions.jobName",
             "predicate.conditions.state", "startOnCreation", "tags"))
