"""SageMaker: the model registry's group, the training pipeline, and hosting (model, endpoint
configuration, endpoint)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from prodline.sandbox.realizer.base import Context, Handler, drop_none, nested, tag_list


def _group(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["modelPackageGroupName"]
    arn = ctx.clients("sagemaker").create_model_package_group(**drop_none({
        "ModelPackageGroupName": name, "Tags": tag_list(inputs) or None,
        "ModelPackageGroupDescription": inputs.get("modelPackageGroupDescription")}))["ModelPackageGroupArn"]
    return name, {"modelPackageGroupName": name, "arn": arn}


def _delete_group(ctx: Context, name: str, _: dict) -> None:
    """Delete a model package group; moto has no DeleteModelPackageGroup (HTTP 500), so there it stays
    until the emulator stops."""
    try:
        ctx.clients("sagemaker").delete_model_package_group(ModelPackageGroupName=name)
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
            raise


MODEL_PACKAGE_GROUP = Handler(_group, _delete_group,
                              carries=("modelPackageGroupName", "modelPackageGroupDescription", "tags"))


def _pipeline(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["pipelineName"]
    arn = ctx.clients("sagemaker").create_pipeline(**drop_none({
        "PipelineName": name, "PipelineDisplayName": inputs.get("pipelineDisplayName"),
        "PipelineDefinition": inputs["pipelineDefinition"], "RoleArn": inputs["roleArn"],
        "PipelineDescription": inputs.get("pipelineDescription"), "Tags": tag_list(inputs) or None}))["PipelineArn"]
    return name, {"pipelineName": name, "arn": arn}


PIPELINE = Handler(_pipeline, lambda ctx, name, _: ctx.clients("sagemaker").delete_pipeline(PipelineName=name),
                   carries=("pipelineName", "pipelineDisplayName", "pipelineDefinition", "roleArn",
                            "pipelineDescription", "tags"))


# --- model ---------------------------------------------------------------------------------------------

_S3_SOURCE = ("s3Uri", "s3DataType", "compressionType", "modelAccessConfig.acceptEula")
CONTAINER = (
    "image", "modelDataUrl", "modelPackageName", "environment", "containerHostname", "mode",
    "inferenceSpecificationName", "imageConfig.repositoryAccessMode",
    "imageConfig.repositoryAuthConfig.repositoryCredentialsProviderArn", "multiModelConfig.modelCacheSetting",
    *nested("modelDataSource.s3DataSources", _S3_SOURCE), "additionalModelDataSources.channelName",
    *nested("additionalModelDataSources.s3DataSources", _S3_SOURCE))
"""Every member of a container definition, carried for the primary container and each of ``containers``."""


def _s3_source(sources: list[dict] | None) -> dict | None:
    """Pulumi lists S3 data sources; the API takes one (the provider sends the first)."""
    if not sources:
        return None
    source = sources[0]
    access = source.get("modelAccessConfig")
    return drop_none({"S3Uri": source["s3Uri"], "S3DataType": source["s3DataType"],
                      "CompressionType": source["compressionType"],
                      "ModelAccessConfig": {"AcceptEula": bool(access["acceptEula"])} if access else None})


def container_definition(container: dict) -> dict:
    """A ContainerDefinition (CreateModel) from a Pulumi container block: every member, none dropped."""
    image_config = container.get("imageConfig")
    auth = (image_config or {}).get("repositoryAuthConfig")
    return drop_none({
        "Image": container.get("image"), "ModelDataUrl": container.get("modelDataUrl"),
        "ModelPackageName": container.get("modelPackageName"), "Environment": container.get("environment"),
        "ContainerHostname": container.get("containerHostname"), "Mode": container.get("mode"),
        "InferenceSpecificationName": container.get("inferenceSpecificationName"),
        "ImageConfig": drop_none({
            "RepositoryAccessMode": image_config["repositoryAccessMode"],
            "RepositoryAuthConfig": {"RepositoryCredentialsProviderArn": auth["repositoryCredentialsProviderArn"]}
            if auth else None}) if image_config else None,
        "MultiModelConfig": drop_none({"ModelCacheSetting": container["multiModelConfig"].get("modelCacheSetting")})
        if container.get("multiModelConfig") else None,
        "ModelDataSource": {"S3DataSource": _s3_source(container["modelDataSource"].get("s3DataSources"))}
        if container.get("modelDataSource") else None,
        "AdditionalModelDataSources": [
            {"ChannelName": extra["channelName"], "S3DataSource": _s3_source(extra.get("s3DataSources"))}
            for extra in container.get("additionalModelDataSources", [])] or None,
    })


def model_request(name: str, inputs: dict) -> dict:
    """CreateModel arguments from the model's Pulumi inputs."""
    vpc = inputs.get("vpcConfig")
    execution = inputs.get("inferenceExecutionConfig")
    return drop_none({
        "ModelName": name, "ExecutionRoleArn": inputs.get("executionRoleArn"), "Tags": tag_list(inputs) or None,
        "PrimaryContainer": container_definition(inputs["primaryContainer"])
        if inputs.get("primaryContainer") else None,
        "Containers": [container_definition(c) for c in inputs.get("containers", [])] or None,
        "VpcConfig": {"SecurityGroupIds": list(vpc["securityGroupIds"]), "Subnets": list(vpc["subnets"])}
        if vpc else None,
        "EnableNetworkIsolation": inputs.get("enableNetworkIsolation"),
        "InferenceExecutionConfig": {"Mode": execution["mode"]} if execution else None,
    })


def _model(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, inputs)
    arn = ctx.clients("sagemaker").create_model(**model_request(name, inputs))["ModelArn"]
    return name, {"name": name, "arn": arn}


MODEL = Handler(
    _model, lambda ctx, name, _: ctx.clients("sagemaker").delete_model(ModelName=name), replace_on_change=True,
    carries=("name", "executionRoleArn", "tags", *nested("primaryContainer", CONTAINER),
             *nested("containers", CONTAINER), "vpcConfig.securityGroupIds", "vpcConfig.subnets",
             "enableNetworkIsolation", "inferenceExecutionConfig.mode"))


# --- endpoint configuration ----------------------------------------------------------------------------

def _capture_config(capture: dict) -> dict:
    header = capture.get("captureContentTypeHeader") or {}
    return drop_none({
        "EnableCapture": capture.get("enableCapture", True),
        "InitialSamplingPercentage": int(capture["initialSamplingPercentage"]),
        "DestinationS3Uri": capture["destinationS3Uri"], "KmsKeyId": capture.get("kmsKeyId"),
        "CaptureOptions": [{"CaptureMode": o["captureMode"]} for o in capture["captureOptions"]],
        "CaptureContentTypeHeader": drop_none({"CsvContentTypes": header.get("csvContentTypes"),
                                               "JsonContentTypes": header.get("jsonContentTypes")}) or None,
    })


def _variant(variant: dict) -> dict:
    out = drop_none({"VariantName": variant["variantName"], "ModelName": variant["modelName"],
                     "InitialInstanceCount": int(variant["initialInstanceCount"])
                     if variant.get("initialInstanceCount") else None,
                     "InstanceType": variant.get("instanceType"),
                     "InitialVariantWeight": float(variant.get("initialVariantWeight", 1.0)),
                     "VolumeSizeInGB": int(variant["volumeSizeInGb"]) if variant.get("volumeSizeInGb") else None,
                     "ModelDataDownloadTimeoutInSeconds": int(variant["modelDataDownloadTimeoutInSeconds"])
                     if variant.get("modelDataDownloadTimeoutInSeconds") else None,
                     "ContainerStartupHealthCheckTimeoutInSeconds":
                         int(variant["containerStartupHealthCheckTimeoutInSeconds"])
                     if variant.get("containerStartupHealthCheckTimeoutInSeconds") else None})
    if "serverlessConfig" in variant:
        serverless = variant["serverlessConfig"]
        out["ServerlessConfig"] = drop_none({
            "MaxConcurrency": int(serverless["maxConcurrency"]), "MemorySizeInMB": int(serverless["memorySizeInMb"]),
            "ProvisionedConcurrency": int(serverless["provisionedConcurrency"])
            if serverless.get("provisionedConcurrency") else None})
    return out


VARIANT = ("variantName", "modelName", "initialInstanceCount", "instanceType", "initialVariantWeight",
           "volumeSizeInGb", "modelDataDownloadTimeoutInSeconds", "containerStartupHealthCheckTimeoutInSeconds",
           "serverlessConfig.maxConcurrency", "serverlessConfig.memorySizeInMb",
           "serverlessConfig.provisionedConcurrency")
CAPTURE = ("enableCapture", "initialSamplingPercentage", "destinationS3Uri", "kmsKeyId", "captureOptions.captureMode",
           "captureContentTypeHeader.csvContentTypes", "captureContentTypeHeader.jsonContentTypes")


def _endpoint_config(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, inputs)
    arn = ctx.clients("sagemaker").create_endpoint_config(**drop_none({
        "EndpointConfigName": name, "ProductionVariants": [_variant(v) for v in inputs["productionVariants"]],
        "DataCaptureConfig": _capture_config(inputs["dataCaptureConfig"]) if inputs.get("dataCaptureConfig") else None,
        "KmsKeyId": inputs.get("kmsKeyArn"), "Tags": tag_list(inputs) or None}))["EndpointConfigArn"]
    return name, {"name": name, "arn": arn}


ENDPOINT_CONFIGURATION = Handler(
    _endpoint_config,
    lambda ctx, name, _: ctx.clients("sagemaker").delete_endpoint_config(EndpointConfigName=name),
    replace_on_change=True,
    carries=("name", "kmsKeyArn", "tags", *nested("productionVariants", VARIANT),
             *nested("dataCaptureConfig", CAPTURE)))


# --- endpoint ------------------------------------------------------------------------------------------

def deployment_config(inputs: dict) -> dict | None:
    """CreateEndpoint's DeploymentConfig from the endpoint's Pulumi inputs."""
    config = inputs.get("deploymentConfig")
    if not config:
        return None
    policy = config["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    out_routing = {"Type": routing["type"], "WaitIntervalInSeconds": int(routing["waitIntervalInSeconds"])}
    for field, key in (("canarySize", "CanarySize"), ("linearStepSize", "LinearStepSize")):
        if field in routing:
            out_routing[key] = {"Type": routing[field]["type"], "Value": int(routing[field]["value"])}
    return {
        "BlueGreenUpdatePolicy": drop_none({
            "TrafficRoutingConfiguration": out_routing,
            "TerminationWaitInSeconds": int(policy.get("terminationWaitInSeconds", 0)),
            "MaximumExecutionTimeoutInSeconds": int(policy["maximumExecutionTimeoutInSeconds"])
            if policy.get("maximumExecutionTimeoutInSeconds") else None}),
        "AutoRollbackConfiguration": {"Alarms": [
            {"AlarmName": a["alarmName"]} for a in config.get("autoRollbackConfiguration", {}).get("alarms", [])]},
    }


_ROUTING = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"


def _endpoint(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["name"]
    arn = ctx.clients("sagemaker").create_endpoint(**drop_none({
        "EndpointName": name, "EndpointConfigName": inputs["endpointConfigName"],
        "DeploymentConfig": deployment_config(inputs), "Tags": tag_list(inputs) or None}))["EndpointArn"]
    return name, {"name": name, "arn": arn}


ENDPOINT = Handler(
    _endpoint, lambda ctx, name, _: ctx.clients("sagemaker").delete_endpoint(EndpointName=name),
    carries=("name", "endpointConfigName", "tags",
             "deploymentConfig.autoRollbackConfiguration.alarms.alarmName",
             "deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds",
             "deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds",
             f"{_ROUTING}.type", f"{_ROUTING}.waitIntervalInSeconds", f"{_ROUTING}.canarySize.type",
             f"{_ROUTING}.canarySize.value", f"{_ROUTING}.linearStepSize.type", f"{_ROUTING}.linearStepSize.value"))


def _tracking_server(ctx: Context, urn: str, logical: str, inputs: dict):
    """Nothing to create: moto raises NotImplementedError for CreateMlflowTrackingServer. The ARN is the one AWS
    would give it, so the training pipeline's definition names it as in AWS; the sandbox's MLflow server
    (``prodline.sandbox.tracking``) answers for it."""
    name = inputs["trackingServerName"]
    return name, {"arn": f"arn:aws:sagemaker:{ctx.region}:{ctx.account}:mlflow-tracking-server/{name}",
                  "trackingServerName": name}


_STAND_IN = "the sandbox's local MLflow server stands in for the managed one"
MLFLOW_TRACKING_SERVER = Handler(
    _tracking_server, None, in_emulator=False,
    note="moto cannot create a managed MLflow tracking server; a real MLflow server runs on loopback in its place "
         "(`prodline sandbox status` prints its URL)",
    recorded={"trackingServerName": "named in the ARN the pipeline definition carries",
              "trackingServerSize": f"{_STAND_IN}, one process whatever the size",
              "artifactStoreUri": f"{_STAND_IN}; it keeps artifacts under sandbox/.shared/mlflow/",
              "roleArn": "IAM is stored, never enforced, in the sandbox",
              "automaticModelRegistration": "the pipeline registers models; MLflow registers none",
              "weeklyMaintenanceWindowStart": "no maintenance in the sandbox",
              "tags": "kept in the sandbox's state"})
