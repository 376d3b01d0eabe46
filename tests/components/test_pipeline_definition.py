"""The pipeline definition has the structure SageMaker expects, and the checker catches each way it can break."""

from __future__ import annotations

import copy

import pytest

from components.pipeline_definition import (
    CHECK,
    EVALUATE,
    QUALITY_METRIC_PATH,
    REGISTER,
    TRAIN,
    PipelineSpec,
    build_definition,
    iter_steps,
    validate_definition,
)
from tests.helpers import SKLEARN_IMAGE

SPEC = PipelineSpec(
    image_uri=SKLEARN_IMAGE,
    role_arn="arn:aws:iam::123456789012:role/pipeline",
    kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/lake",
    features_uri="s3://features/",
    artifacts_uri="s3://artifacts/pipelines/p/",
    code_uri="s3://artifacts/code/training/abc/",
    model_package_group="prodline-dev-churn",
    training_instance_type="ml.m5.large",
    processing_instance_type="ml.m5.large",
    quality_threshold=0.8,
    approval_status="PendingManualApproval",
    inference_instance_types=("ml.m5.large",),
    hyperparameters={"max-iter": "200"},
)


@pytest.fixture
def definition():
    return build_definition(SPEC)


def steps_by_name(definition):
    return {s["Name"]: s for s in iter_steps(definition["Steps"])}


def test_definition_is_well_formed(definition):
    assert validate_definition(definition) == []
    assert definition["Version"] == "2020-12-01"


def test_steps_run_train_evaluate_condition_register(definition):
    assert [s["Type"] for s in definition["Steps"]] == ["Training", "Processing", "Condition"]
    condition = steps_by_name(definition)[CHECK]["Arguments"]
    assert [s["Type"] for s in condition["IfSteps"]] == ["RegisterModel"]
    assert [s["Type"] for s in condition["ElseSteps"]] == ["Fail"]


def test_condition_reads_auc_from_the_evaluation_report(definition):
    condition = steps_by_name(definition)[CHECK]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    json_get = condition["LeftValue"]["Std:JsonGet"]
    assert json_get["Path"] == QUALITY_METRIC_PATH
    assert json_get["PropertyFile"] == {"Get": f"Steps.{EVALUATE}.PropertyFiles.EvaluationReport"}
    assert condition["RightValue"] == {"Get": "Parameters.QualityThreshold"}
    threshold = next(p for p in definition["Parameters"] if p["Name"] == "QualityThreshold")
    assert threshold["DefaultValue"] == 0.8


def test_registered_model_uses_the_trained_artifacts_and_the_approval_status(definition):
    register = steps_by_name(definition)[REGISTER]["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == {"Get": f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"}
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    status = next(p for p in definition["Parameters"] if p["Name"] == "ModelApprovalStatus")
    assert status["DefaultValue"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == "prodline-dev-churn"


def test_everything_is_encrypted_with_the_lake_key(definition):
    steps = steps_by_name(definition)
    train = steps[TRAIN]["Arguments"]
    assert train["OutputDataConfig"]["KmsKeyId"] == SPEC.kms_key_arn
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == SPEC.kms_key_arn
    evaluate = steps[EVALUATE]["Arguments"]
    assert evaluate["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "workloads.training.evaluate"]
    code = next(i for i in evaluate["ProcessingInputs"] if i["InputName"] == "code")
    assert code["S3Input"]["S3Uri"].endswith("/sourcedir.zip")
    assert evaluate["Environment"]["PYTHONPATH"] == f"{code['S3Input']['LocalPath']}/sourcedir.zip"
    assert evaluate["ProcessingOutputConfig"]["KmsKeyId"] == SPEC.kms_key_arn
    assert evaluate["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == SPEC.kms_key_arn


def test_training_runs_the_bundle_in_script_mode(definition):
    hyper = steps_by_name(definition)[TRAIN]["Arguments"]["HyperParameters"]
    assert hyper["sagemaker_program"] == "train.py"
    assert hyper["sagemaker_submit_directory"] == "s3://artifacts/code/training/abc/sourcedir.tar.gz"
    assert hyper["max-iter"] == "200"


def test_duplicate_step_names_are_caught(definition):
    broken = copy.deepcopy(definition)
    broken["Steps"][1]["Name"] = TRAIN
    assert any("used more than once" in p for p in validate_definition(broken))


def test_reference_to_a_missing_step_is_caught(definition):
    broken = copy.deepcopy(definition)
    steps_by_name(broken)[REGISTER]["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = {
        "Get": "Steps.Training.ModelArtifacts.S3ModelArtifacts"}
    assert any("points at no step named 'Training'" in p for p in validate_definition(broken))


def test_reference_to_a_missing_parameter_is_caught(definition):
    broken = copy.deepcopy(definition)
    broken["Parameters"] = [p for p in broken["Parameters"] if p["Name"] != "QualityThreshold"]
    assert any("Parameters.QualityThreshold names no declared parameter" in p for p in validate_definition(broken))


def test_undeclared_property_file_is_caught(definition):
    broken = copy.deepcopy(definition)
    steps_by_name(broken)[EVALUATE]["PropertyFiles"] = []
    assert any("property file Evaluate does not declare" in p for p in validate_definition(broken))


def test_property_file_on_a_missing_output_is_caught(definition):
    broken = copy.deepcopy(definition)
    steps_by_name(broken)[EVALUATE]["PropertyFiles"][0]["OutputName"] = "report"
    assert any("which the step does not produce" in p for p in validate_definition(broken))


def test_instance_storage_types_get_no_volume_key():
    from dataclasses import replace

    definition = build_definition(replace(SPEC, training_instance_type="ml.g4dn.xlarge"))
    resources = steps_by_name(definition)[TRAIN]["Arguments"]["ResourceConfig"]
    assert resources["InstanceType"] == "ml.g4dn.xlarge"
    assert "VolumeKmsKeyId" not in resources
    assert validate_definition(definition) == []
