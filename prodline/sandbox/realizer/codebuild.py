"""CodeBuild: projects (the deployer's build). Builds are run by ``runtimes/build.py``, not by the emulator."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, as_int, drop_none, tag_list

SOURCE = ("type", "location", "buildspec", "gitCloneDepth", "insecureSsl", "reportBuildStatus",
          "gitSubmodulesConfig.fetchSubmodules")
ARTIFACTS = ("type", "location", "name", "namespaceType", "packaging", "path", "encryptionDisabled",
             "overrideArtifactName", "artifactIdentifier", "bucketOwnerAccess")
ENVIRONMENT = ("computeType", "image", "type", "imagePullCredentialsType", "privilegedMode", "certificate",
               "environmentVariables.name", "environmentVariables.value", "environmentVariables.type",
               "registryCredential.credential", "registryCredential.credentialProvider")
LOGS = ("cloudwatchLogs.groupName", "cloudwatchLogs.streamName", "cloudwatchLogs.status", "s3Logs.status",
        "s3Logs.location", "s3Logs.encryptionDisabled", "s3Logs.bucketOwnerAccess")


def _source(source: dict) -> dict:
    submodules = source.get("gitSubmodulesConfig")
    return drop_none({
        "type": source["type"], "location": source.get("location"), "buildspec": source.get("buildspec"),
        "gitCloneDepth": as_int(source.get("gitCloneDepth")), "insecureSsl": source.get("insecureSsl"),
        "reportBuildStatus": source.get("reportBuildStatus"),
        "gitSubmodulesConfig": {"fetchSubmodules": bool(submodules["fetchSubmodules"])} if submodules else None})


def _environment(environment: dict) -> dict:
    credential = environment.get("registryCredential")
    return drop_none({
        "type": environment["type"], "image": environment["image"], "computeType": environment["computeType"],
        "imagePullCredentialsType": environment.get("imagePullCredentialsType"),
        "privilegedMode": environment.get("privilegedMode"), "certificate": environment.get("certificate"),
        "environmentVariables": [drop_none({"name": v["name"], "value": str(v["value"]), "type": v.get("type")})
                                 for v in environment.get("environmentVariables") or []],
        "registryCredential": {"credential": credential["credential"],
                               "credentialProvider": credential["credentialProvider"]} if credential else None})


def _logs(logs: dict) -> dict:
    out = {}
    if logs.get("cloudwatchLogs"):
        out["cloudWatchLogs"] = drop_none({"status": logs["cloudwatchLogs"].get("status", "ENABLED"),
                                           "groupName": logs["cloudwatchLogs"].get("groupName"),
                                           "streamName": logs["cloudwatchLogs"].get("streamName")})
    if logs.get("s3Logs"):
        out["s3Logs"] = drop_none({key: logs["s3Logs"].get(key) for key in
                                   ("status", "location", "encryptionDisabled", "bucketOwnerAccess")})
        out["s3Logs"].setdefault("status", "DISABLED")
    return out


def project_request(name: str, inputs: dict) -> dict:
    """CreateProject arguments from the project's Pulumi inputs."""
    artifacts = inputs.get("artifacts") or {"type": "NO_ARTIFACTS"}
    return drop_none({
        "name": name, "description": inputs.get("description"), "source": _source(inputs["source"]),
        "sourceVersion": inputs.get("sourceVersion"),
        "artifacts": drop_none({key: artifacts.get(key) for key in ARTIFACTS}),
        "environment": _environment(inputs["environment"]), "serviceRole": inputs["serviceRole"],
        "timeoutInMinutes": as_int(inputs.get("buildTimeout")),
        "queuedTimeoutInMinutes": as_int(inputs.get("queuedTimeout")),
        "logsConfig": _logs(inputs["logsConfig"]) if inputs.get("logsConfig") else None,
        "tags": [{"key": t["Key"], "value": t["Value"]} for t in tag_list(inputs)] or None,
    })


def _project(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=150)
    project = ctx.clients("codebuild").create_project(**project_request(name, inputs))["project"]
    outputs = {"name": name, "arn": project["arn"]}
    if inputs.get("concurrentBuildLimit") is not None:
        # The emulator keeps no limit; the sandbox's build runtime runs one build per project at a time.
        outputs["concurrentBuildLimit"] = as_int(inputs["concurrentBuildLimit"])
    return name, outputs


PROJECT = Handler(
    _project, lambda ctx, name, _: ctx.clients("codebuild").delete_project(name=name),
    carries=("name", "description", "sourceVersion", "serviceRole", "buildTimeout", "queuedTimeout", "tags",
             *(f"source.{path}" for path in SOURCE), *(f"artifacts.{path}" for path in ARTIFACTS),
             *(f"environment.{path}" for path in ENVIRONMENT), *(f"logsConfig.{path}" for path in LOGS)),
    recorded={
        "concurrentBuildLimit": "moto keeps no build limit; the value is in this entry's outputs and the build "
                                "runtime runs one build per project at a time, dropping a start while one runs",
        "encryptionKey": "moto replaces a project's key with alias/aws/s3; the build runtime writes no artifacts",
        "badgeEnabled": "no build badges in the emulator",
        "projectVisibility": "no public build pages in the emulator",
    })
