"""A typed builder for the batch scoring pipeline: PrepareRecords -> Model -> Transform -> PublishPredictions.

Built like the training pipeline's (``components/pipeline_definition.py``), in code, so ``pulumi preview``
produces it offline and the same structure check applies. The Transform step is SageMaker Batch Transform
with the container's batch contract: CSV records split by line, several records per request (MultiRecord),
requests of at most ``MaxPayloadInMB``, answers assembled by line and written encrypted with the lake key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.pipeline_definition import (
    CODE_DIR,
    CODE_ZIP,
    DEFINITION_VERSION,
    _join,
    _processing_input,
    _resources,
)

PREPARE, MODEL, TRANSFORM, PUBLISH = "PrepareRecords", "Model", "Transform", "PublishPredictions"
RECORDS_OUTPUT, PREDICTIONS_OUTPUT, REPORT_OUTPUT = "records", "predictions", "report"
REPORT_PROPERTY_FILE = "ScoringReport"
INPUTS_DIR = "inputs"
"""Where PrepareRecords puts the records below its output (keys and the manifest sit beside it)."""
REPORT_DIR = "/opt/ml/processing/report"
RECORDS_DIR = "/opt/ml/processing/records"
TRANSFORMED_DIR = "/opt/ml/processing/transformed"
PREDICTIONS_DIR = "/opt/ml/processing/predictions"
LATEST = "latest"
"""The Partition parameter's default: the newest features partition."""
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
CONTENT_TYPE = "text/csv"


@dataclass(frozen=True)
class BatchSpec:
    """Everything the definition needs; ARNs and bucket names may be Pulumi Inputs."""

    image_uri: str
    role_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    model_package_arn: pulumi.Input[str]
    features_uri: pulumi.Input[str]
    """s3:// prefix of the dataset in the features zone (``.../churn/``)."""
    work_uri: pulumi.Input[str]
    """s3:// prefix for the records and the transform's raw output, per execution below it."""
    predictions_uri: pulumi.Input[str]
    """s3:// prefix of the predictions table (partitioned by dt below it)."""
    code_uri: pulumi.Input[str]
    """s3:// prefix holding sourcedir.zip (the workloads the processing steps run)."""
    database: str
    table: str
    instance_type: str
    instance_count: int
    processing_instance_type: str
    max_payload_mb: int
    max_concurrent_transforms: int
    max_runtime_seconds: int = 3600


def build_batch_definition(spec: BatchSpec) -> dict[str, Any]:
    """The pipeline definition as a dict (with Inputs inside); serialize with Output.json_dumps."""
    parameters = [{"Name": "Partition", "Type": "String", "DefaultValue": LATEST}]
    records_uri = {"Std:Join": {"On": "/", "Values": [_join(spec.work_uri, "records"), EXECUTION_ID]}}
    output_uri = {"Std:Join": {"On": "/", "Values": [_join(spec.work_uri, "transformed"), EXECUTION_ID]}}
    records_ref = {"Get": f"Steps.{PREPARE}.ProcessingOutputConfig.Outputs['{RECORDS_OUTPUT}'].S3Output.S3Uri"}
    code_input = _processing_input("code", _join(spec.code_uri, CODE_ZIP), CODE_DIR)

    def processing(module: str, inputs: list, outputs: list, environment: dict) -> dict[str, Any]:
        return {
            "ProcessingResources": {"ClusterConfig": _resources(spec.processing_instance_type, spec.kms_key_arn)},
            "AppSpecification": {"ImageUri": spec.image_uri, "ContainerEntrypoint": ["python3", "-m", module]},
            "RoleArn": spec.role_arn,
            "Environment": {"PYTHONPATH": f"{CODE_DIR}/{CODE_ZIP}", **environment},
            "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
            "ProcessingInputs": [*inputs, code_input],
            "ProcessingOutputConfig": {"KmsKeyId": spec.kms_key_arn, "Outputs": outputs},
        }

    prepare = {"Name": PREPARE, "Type": "Processing", "Arguments": processing(
        "workloads.batch.prepare_records", [],
        [_output(RECORDS_OUTPUT, records_uri, RECORDS_DIR)],
        # The step lists the partition itself: "latest" is only known when the run starts.
        {"PRODLINE_BATCH_FEATURES": spec.features_uri, "PRODLINE_BATCH_PARTITION": {"Get": "Parameters.Partition"},
         "PRODLINE_BATCH_OUTPUT": RECORDS_DIR})}
    model = {"Name": MODEL, "Type": "Model", "Arguments": {
        "ExecutionRoleArn": spec.role_arn,
        # The approved package: the image, model data and handler that real-time serving runs.
        "PrimaryContainer": {"ModelPackageName": spec.model_package_arn},
    }}
    resources: dict[str, Any] = {"InstanceCount": spec.instance_count, "InstanceType": spec.instance_type}
    if "VolumeKmsKeyId" in _resources(spec.instance_type, spec.kms_key_arn):
        resources["VolumeKmsKeyId"] = spec.kms_key_arn
    transform = {"Name": TRANSFORM, "Type": "Transform", "Arguments": {
        "ModelName": {"Get": f"Steps.{MODEL}.ModelName"},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": spec.max_payload_mb,
        "MaxConcurrentTransforms": spec.max_concurrent_transforms,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": {"Std:Join": {
                               "On": "/", "Values": [records_ref, INPUTS_DIR]}}}},
                           "ContentType": CONTENT_TYPE, "SplitType": "Line", "CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": CONTENT_TYPE, "AssembleWith": "Line",
                            "KmsKeyId": spec.kms_key_arn},
        "TransformResources": resources,
        # Keys travel beside the records (the keys manifest), not through the model: inputs stay the 9 columns.
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
    }}
    publish = {"Name": PUBLISH, "Type": "Processing", "Arguments": processing(
        "workloads.batch.publish_predictions",
        [_processing_input("records", records_ref, f"{RECORDS_DIR}"),
         _processing_input("transformed", {"Get": f"Steps.{TRANSFORM}.TransformOutput.S3OutputPath"},
                           TRANSFORMED_DIR)],
        [_output(PREDICTIONS_OUTPUT, spec.predictions_uri, PREDICTIONS_DIR),
         _output(REPORT_OUTPUT, {"Std:Join": {"On": "/", "Values": [_join(spec.work_uri, "report"), EXECUTION_ID]}},
                 REPORT_DIR)],
        {"PRODLINE_BATCH_RECORDS": RECORDS_DIR, "PRODLINE_BATCH_TRANSFORMED": TRANSFORMED_DIR,
         "PRODLINE_BATCH_REPORT": REPORT_DIR,
         "PRODLINE_BATCH_OUTPUT": PREDICTIONS_DIR, "PRODLINE_MODEL_PACKAGE_ARN": spec.model_package_arn,
         "PRODLINE_SCORING_JOB_ID": {"Get": f"Steps.{TRANSFORM}.TransformJobName"},
         "PRODLINE_PREDICTIONS_DATABASE": spec.database, "PRODLINE_PREDICTIONS_TABLE": spec.table}),
        "PropertyFiles": [{"PropertyFileName": REPORT_PROPERTY_FILE, "OutputName": REPORT_OUTPUT,
                           "FilePath": "report.json"}]}
    return {"Version": DEFINITION_VERSION, "Metadata": {}, "Parameters": parameters,
            "Steps": [prepare, model, transform, publish]}


def _output(name: str, uri: Any, local_path: str) -> dict[str, Any]:
    return {"OutputName": name, "AppManaged": False,
            "S3Output": {"S3Uri": uri, "LocalPath": local_path, "S3UploadMode": "EndOfJob"}}
