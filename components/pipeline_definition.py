"""A typed builder for the SageMaker pipeline definition: train -> evaluate -> condition -> register.

Built in code (not pasted JSON, not the SageMaker SDK, which uploads code while it builds) so that
``pulumi preview`` can produce it with no cloud, and so a unit test can check it has the structure
SageMaker expects: unique step names, and every ``Get`` pointing at a parameter or an existing step.
The format follows the SDK's output (definition version 2020-12-01).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.sagemaker_images import has_instance_storage

DEFINITION_VERSION = "2020-12-01"
TRAIN, EVALUATE, CHECK, REGISTER, FAIL = "Train", "Evaluate", "CheckQuality", "Register", "QualityTooLow"
LINK_RUN = "LinkRun"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_OUTPUT = "evaluation"
QUALITY_METRIC_PATH = "metrics.auc.value"  # what workloads/training/evaluate.py writes in evaluation.json
# evaluation.json's ``lineage`` (workloads/training/evaluate.py): what the registered package carries as customer
# metadata, so a version leads back to its run and its data without a search.
LINEAGE_PROPERTIES = {"mlflow_run_id": "lineage.mlflow_run_id", "data_manifest": "lineage.data_manifest",
                      "data_sha256": "lineage.data_sha256"}
# The environment the workloads read (workloads/training/tracking.py, data_manifest.py).
TRACKING_URI_ENV, EXPERIMENT_ENV = "MLFLOW_TRACKING_URI", "PRODLINE_MLFLOW_EXPERIMENT"

CODE_DIR = "/opt/ml/processing/input/code"
CODE_ZIP = "sourcedir.zip"
MODEL_DIR = "/opt/ml/processing/model"
TEST_DIR = "/opt/ml/processing/test"
EVALUATION_DIR = "/opt/ml/processing/evaluation"
LINK_DIR = "/opt/ml/processing/link"


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the definition needs; ARNs and bucket names may be Pulumi Inputs."""

    image_uri: str
    role_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    features_uri: pulumi.Input[str]
    """s3:// prefix of the features zone (training and test data)."""
    artifacts_uri: pulumi.Input[str]
    """s3:// prefix under which model artifacts and evaluation reports go."""
    code_uri: pulumi.Input[str]
    """s3:// prefix holding the code bundle (sourcedir.tar.gz for training, sourcedir.zip for evaluation)."""
    model_package_group: pulumi.Input[str]
    training_instance_type: str
    processing_instance_type: str
    quality_threshold: float
    approval_status: str
    inference_instance_types: tuple[str, ...]
    hyperparameters: Mapping[str, str]
    max_runtime_seconds: int = 3600
    tracking_uri: pulumi.Input[str] | None = None
    """The MLflow tracking server's ARN (the sagemaker-mlflow plugin resolves it); None: runs are not tracked."""
    experiment: str = ""
    """The MLflow experiment the runs go to."""
    dataset: str = "churn"


def _tracking_environment(spec: PipelineSpec) -> dict[str, Any]:
    if spec.tracking_uri is None:
        return {}
    return {TRACKING_URI_ENV: spec.tracking_uri, EXPERIMENT_ENV: spec.experiment}


def build_definition(spec: PipelineSpec) -> dict[str, Any]:
    """The pipeline definition as a dict (with Inputs inside); serialize with Output.json_dumps."""
    parameters = [
        {"Name": "TrainDataUrl", "Type": "String", "DefaultValue": _join(spec.features_uri, "churn/")},
        {"Name": "QualityThreshold", "Type": "Float", "DefaultValue": spec.quality_threshold},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": spec.approval_status},
    ]
    model_data = {"Get": f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"}
    evaluation_uri = {"Get": f"Steps.{EVALUATE}.ProcessingOutputConfig.Outputs['{EVALUATION_OUTPUT}'].S3Output.S3Uri"}

    train = {
        "Name": TRAIN,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": spec.image_uri, "TrainingInputMode": "File"},
            "RoleArn": spec.role_arn,
            "OutputDataConfig": {"S3OutputPath": _join(spec.artifacts_uri, "models/"), "KmsKeyId": spec.kms_key_arn},
            "ResourceConfig": _resources(spec.training_instance_type, spec.kms_key_arn),
            "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
            "EnableInterContainerTrafficEncryption": True,
            # One channel: train.py holds out a stratified, seeded share for validation itself.
            "InputDataConfig": [_channel("train", {"Get": "Parameters.TrainDataUrl"})],
            "HyperParameters": {
                **{k: str(v) for k, v in spec.hyperparameters.items()},
                # SageMaker's framework containers run this script from this bundle (script mode).
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": _join(spec.code_uri, "sourcedir.tar.gz"),
            },
            # The data manifest (workloads/training/data_manifest.py): the channel's S3 origin, the ETL's run
            # manifests that say which run wrote each partition, and where the manifest itself goes.
            "Environment": {"PYTHONPATH": "/opt/ml/code", "PRODLINE_TRAIN_DATA_URL": {"Get": "Parameters.TrainDataUrl"},
                            "PRODLINE_ETL_MANIFESTS": _join(spec.features_uri, f"_runs/{spec.dataset}/"),
                            "PRODLINE_DATA_MANIFESTS": _join(spec.artifacts_uri, "data-manifests/"),
                            **_tracking_environment(spec)},
        },
    }
    evaluate = {
        "Name": EVALUATE,
        "Type": "Processing",
        "Arguments": {
            **_python_job(spec, "workloads.training.evaluate"),
            # The paths evaluate.py uses, spelled out: the same as its defaults in SageMaker, and what a
            # local runtime rewrites when it roots the container elsewhere.
            "Environment": {"PYTHONPATH": f"{CODE_DIR}/{CODE_ZIP}", "PRODLINE_EVAL_MODEL": MODEL_DIR,
                            "PRODLINE_EVAL_TEST": TEST_DIR, "PRODLINE_EVAL_OUTPUT": EVALUATION_DIR,
                            **_tracking_environment(spec)},
            "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
            "ProcessingInputs": [
                _processing_input("model", model_data, MODEL_DIR),
                _processing_input("test", {"Get": "Parameters.TrainDataUrl"}, TEST_DIR),
                _processing_input("code", _join(spec.code_uri, CODE_ZIP), CODE_DIR),
            ],
            "ProcessingOutputConfig": {
                "KmsKeyId": spec.kms_key_arn,
                "Outputs": [{"OutputName": EVALUATION_OUTPUT, "AppManaged": False, "S3Output": {
                    "S3Uri": _join(spec.artifacts_uri, "evaluation/"), "LocalPath": EVALUATION_DIR,
                    "S3UploadMode": "EndOfJob"}}],
            },
        },
        "PropertyFiles": [{"PropertyFileName": EVALUATION_PROPERTY_FILE, "OutputName": EVALUATION_OUTPUT,
                           "FilePath": "evaluation.json"}],
    }
    report = {"Get": f"Steps.{EVALUATE}.PropertyFiles.{EVALUATION_PROPERTY_FILE}"}
    lineage = {name: {"Std:JsonGet": {"PropertyFile": report, "Path": path}}
               for name, path in LINEAGE_PROPERTIES.items() if spec.tracking_uri is not None or name != "mlflow_run_id"}
    register = {
        "Name": REGISTER,
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": spec.model_package_group,
            "CustomerMetadataProperties": lineage,
            "ModelApprovalStatus": {"Get": "Parameters.ModelApprovalStatus"},
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json",
                "S3Uri": {"Std:Join": {"On": "/", "Values": [evaluation_uri, "evaluation.json"]}},
            }}},
            "InferenceSpecification": {
                "Containers": [{
                    "Image": spec.image_uri,
                    "ModelDataUrl": model_data,
                    # The framework container's serving stack loads model_fn/input_fn/... from this script.
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                    "SAGEMAKER_SUBMIT_DIRECTORY": _join(spec.code_uri, "sourcedir.tar.gz")},
                }],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": list(spec.inference_instance_types),
                "SupportedTransformInstanceTypes": [spec.processing_instance_type],
            },
        },
    }
    registered = [register] if spec.tracking_uri is None else [register, _link_run(spec, lineage["mlflow_run_id"])]
    fail = {"Name": FAIL, "Type": "Fail", "Arguments": {
        "ErrorMessage": {"Std:Join": {"On": " ", "Values": [
            "model AUC is below the quality threshold", {"Get": "Parameters.QualityThreshold"}]}}}}
    check = {
        "Name": CHECK,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{
                "Type": "GreaterThanOrEqualTo",
                "LeftValue": {"Std:JsonGet": {
                    "PropertyFile": {"Get": f"Steps.{EVALUATE}.PropertyFiles.{EVALUATION_PROPERTY_FILE}"},
                    "Path": QUALITY_METRIC_PATH}},
                "RightValue": {"Get": "Parameters.QualityThreshold"},
            }],
            "IfSteps": registered,
            "ElseSteps": [fail],
        },
    }
    return {"Version": DEFINITION_VERSION, "Metadata": {}, "Parameters": parameters,
            "Steps": [train, evaluate, check]}


def _python_job(spec: PipelineSpec, module: str) -> dict[str, Any]:
    """A processing job that runs a module of the training bundle, whose files it imports from the zip as they are:
    nothing to unpack before it runs."""
    return {"ProcessingResources": {"ClusterConfig": _resources(spec.processing_instance_type, spec.kms_key_arn)},
            "AppSpecification": {"ImageUri": spec.image_uri, "ContainerEntrypoint": ["python3", "-m", module]},
            "RoleArn": spec.role_arn}


def _link_run(spec: PipelineSpec, run_id: dict[str, Any]) -> dict[str, Any]:
    """Tag the run with the package it became: a processing step after Register, the only place both are known."""
    return {
        "Name": LINK_RUN,
        "Type": "Processing",
        "Arguments": {
            **_python_job(spec, "workloads.training.link_run"),
            "Environment": {"PYTHONPATH": f"{CODE_DIR}/{CODE_ZIP}", **_tracking_environment(spec),
                            "PRODLINE_MLFLOW_RUN_ID": run_id,
                            "PRODLINE_MODEL_PACKAGE_ARN": {"Get": f"Steps.{REGISTER}.ModelPackageArn"},
                            "PRODLINE_LINK_OUTPUT": LINK_DIR},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "ProcessingInputs": [_processing_input("code", _join(spec.code_uri, CODE_ZIP), CODE_DIR)],
            # A record of the link beside the evaluation reports: which run became which package.
            "ProcessingOutputConfig": {
                "KmsKeyId": spec.kms_key_arn,
                "Outputs": [{"OutputName": "link", "AppManaged": False, "S3Output": {
                    "S3Uri": {"Std:Join": {"On": "/", "Values": [
                        _join(spec.artifacts_uri, "links"), {"Get": "Execution.PipelineExecutionId"}]}},
                    "LocalPath": LINK_DIR,
                    "S3UploadMode": "EndOfJob"}}],
            },
        },
    }


def _resources(instance_type: str, kms_key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """One instance with an encrypted volume; instance types with local NVMe storage take no volume key
    (SageMaker rejects one there, and encrypts the instance store itself)."""
    resources: dict[str, Any] = {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 30}
    if not has_instance_storage(instance_type):
        resources["VolumeKmsKeyId"] = kms_key_arn
    return resources


def _join(prefix: pulumi.Input[str], suffix: str) -> pulumi.Input[str]:
    if isinstance(prefix, str):
        return prefix.rstrip("/") + "/" + suffix
    return pulumi.Output.concat(prefix, suffix)


def _channel(name: str, uri: Any) -> dict[str, Any]:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}


def _processing_input(name: str, uri: Any, local_path: str) -> dict[str, Any]:
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated"}}


# --- structure checks ---------------------------------------------------------------------------------

EXECUTION_PROPERTIES = frozenset({"Execution.PipelineExecutionId", "Execution.PipelineExecutionArn",
                                  "Execution.StartDateTime"})
"""What SageMaker resolves per run (``{"Get": "Execution.PipelineExecutionId"}``)."""
_STEP_REF = re.compile(r"Steps\.([A-Za-z0-9_-]+)(?:\.(.*))?")
_PROPERTY_FILE_REF = re.compile(r"PropertyFiles\.([A-Za-z0-9_-]+)")


def iter_steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step, including those nested in a condition's If/Else branches."""
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            yield from iter_steps(step["Arguments"].get("IfSteps", []))
            yield from iter_steps(step["Arguments"].get("ElseSteps", []))


def _gets(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Get" and isinstance(value, str):
                yield value
            else:
                yield from _gets(value)
    elif isinstance(node, list):
        for item in node:
            yield from _gets(item)


def validate_definition(definition: Mapping[str, Any]) -> list[str]:
    """Problems that SageMaker would reject the definition for; an empty list means it is well formed."""
    problems = []
    steps = list(iter_steps(definition.get("Steps", [])))
    names = [s.get("Name") for s in steps]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"step name {name!r} is used more than once")
    by_name = {s["Name"]: s for s in steps if "Name" in s}
    parameters = {p["Name"] for p in definition.get("Parameters", [])}
    for step in steps:
        for ref in _gets(step):
            if ref.startswith("Parameters."):
                if ref.split(".", 1)[1] not in parameters:
                    problems.append(f"step {step['Name']}: {ref} names no declared parameter")
                continue
            if ref in EXECUTION_PROPERTIES:
                continue
            match = _STEP_REF.fullmatch(ref)
            if not match:
                problems.append(f"step {step['Name']}: unsupported reference {ref!r}")
                continue
            target, rest = match.group(1), match.group(2) or ""
            if target not in by_name:
                problems.append(f"step {step['Name']}: {ref} points at no step named {target!r}")
                continue
            if target == step["Name"]:
                problems.append(f"step {step['Name']}: refers to itself")
            file_ref = _PROPERTY_FILE_REF.fullmatch(rest)
            if file_ref:
                declared = {p["PropertyFileName"] for p in by_name[target].get("PropertyFiles", [])}
                if file_ref.group(1) not in declared:
                    problems.append(f"step {step['Name']}: {ref} names a property file {target} does not declare")
    for step in steps:
        for spec in step.get("PropertyFiles", []):
            outputs = {o["OutputName"] for o in
                       step["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])}
            if spec["OutputName"] not in outputs:
                problems.append(f"step {step['Name']}: property file {spec['PropertyFileName']} reads output "
                                f"{spec['OutputName']!r}, which the step does not produce")
    return problems
