"""Each pipeline step's Arguments are a valid request for the SageMaker API the step calls, per botocore's model.

SageMaker Pipelines hands a Training step's Arguments to CreateTrainingJob, a Processing step's to
CreateProcessingJob, a RegisterModel step's to CreateModelPackage, and so on, naming the job itself. So the
Arguments are checked with botocore's own ParamValidator against that operation's input shape: an unknown or
misspelled field, a missing required one, a wrong type or a too-short value fails, as it would when the
pipeline runs. botocore does not check enums; that is done here beside it.

Pipeline expressions (`{"Get": ...}`, `{"Std:Join": ...}`, `{"Std:JsonGet": ...}`) are resolved only when the
pipeline runs, so each is replaced by a placeholder before validation: a scalar of the member's type (for a
`Get` of a parameter, a value of the parameter's declared type, so a String parameter in an integer member
still fails). An expression where a structure, list or map belongs is left in place, and fails.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

from components.pipeline_definition import CHECK, EVALUATE, REGISTER, TRAIN, build_definition, iter_steps
from tests.components.test_pipeline_definition import SPEC
from tests.helpers import STACKS, of_type, stack_registrations

STEP_OPERATIONS = {
    "Training": "CreateTrainingJob",
    "Processing": "CreateProcessingJob",
    "RegisterModel": "CreateModelPackage",
    "Model": "CreateModel",
    "Transform": "CreateTransformJob",
    "Tuning": "CreateHyperParameterTuningJob",
}
"""Step type -> the SageMaker API its Arguments are passed to."""
NAMED_BY_THE_PIPELINE = {
    "CreateTrainingJob": "TrainingJobName",
    "CreateProcessingJob": "ProcessingJobName",
    "CreateModel": "ModelName",
    "CreateTransformJob": "TransformJobName",
    "CreateHyperParameterTuningJob": "HyperParameterTuningJobName",
}
"""Required request members the pipeline fills in at run time; a step's Arguments leave them out."""
PIPELINE_ONLY_ARGUMENTS = {
    "Condition": {"Conditions", "IfSteps", "ElseSteps"},
    "Fail": {"ErrorMessage"},
}
"""Step types no SageMaker API backs: the Arguments names the pipeline service itself reads."""
EXPRESSIONS = frozenset({"Get", "Std:Join", "Std:JsonGet"})
SCALARS = frozenset({"string", "integer", "long", "float", "double", "boolean", "timestamp", "blob"})
PARAMETER_TYPES = {
    "String": ({"string"}, "parameter"),
    "Integer": ({"integer", "long", "float", "double"}, 1),
    "Float": ({"float", "double"}, 0.5),
    "Boolean": ({"boolean"}, True),
}
"""A pipeline parameter type -> the member types it may fill, and a sample value that fails anywhere else."""


@cache
def sagemaker_operation(name: str) -> OperationModel:
    return botocore.session.get_session().get_service_model("sagemaker").operation_model(name)


def is_expression(value: Any, shape: Shape) -> bool:
    return (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSIONS
            and not (shape.type_name == "structure" and next(iter(value)) in shape.members))


def wildcard(shape: Shape) -> Any:
    """A value of the member's type that meets its minimum, standing in for an expression."""
    minimum = shape.metadata.get("min", 1)
    return {
        "string": lambda: shape.enum[0] if shape.enum else "x" * max(1, minimum),
        "integer": lambda: int(minimum), "long": lambda: int(minimum),
        "float": lambda: float(minimum), "double": lambda: float(minimum),
        "boolean": lambda: True,
        "timestamp": lambda: dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        "blob": lambda: b"x",
    }[shape.type_name]()


def placeholder(expression: dict[str, Any], shape: Shape, parameter_types: Mapping[str, str]) -> Any:
    """What stands in for a pipeline expression in a member of `shape`; the expression itself when it cannot fit."""
    (function, argument), = expression.items()
    if shape.type_name not in SCALARS or (function == "Std:Join" and shape.type_name != "string"):
        return expression
    if function == "Get" and isinstance(argument, str) and argument.startswith("Parameters."):
        declared = parameter_types.get(argument.split(".", 1)[1])
        if declared in PARAMETER_TYPES:
            fits, sample = PARAMETER_TYPES[declared]
            return wildcard(shape) if shape.type_name in fits else sample
    return wildcard(shape)


def substitute(value: Any, shape: Shape, parameter_types: Mapping[str, str]) -> Any:
    """`value` with every pipeline expression replaced by a placeholder fit for where it stands."""
    if is_expression(value, shape):
        return placeholder(value, shape, parameter_types)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {key: substitute(item, shape.members[key], parameter_types) if key in shape.members else item
                for key, item in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [substitute(item, shape.member, parameter_types) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: substitute(item, shape.value, parameter_types) for key, item in value.items()}
    return value


def enum_problems(value: Any, shape: Shape, name: str) -> Iterator[str]:
    """Literal strings outside their member's enum (ParamValidator checks no enums)."""
    if shape.type_name == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        yield f"Invalid value for parameter {name}: {value!r}, must be one of: {', '.join(shape.enum)}"
    elif shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from enum_problems(item, shape.members[key], f"{name}.{key}" if name else key)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from enum_problems(item, shape.member, f"{name}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from enum_problems(item, shape.value, f"{name}.{key}")


def step_problems(step: Mapping[str, Any], parameter_types: Mapping[str, str]) -> list[str]:
    """Why SageMaker would reject this step's Arguments; empty when its API accepts them."""
    step_type, arguments = step.get("Type"), step.get("Arguments", {})
    if step_type in PIPELINE_ONLY_ARGUMENTS:
        unknown = sorted(set(arguments) - PIPELINE_ONLY_ARGUMENTS[step_type])
        return [f"unknown {step_type} argument {name!r}" for name in unknown]
    if step_type not in STEP_OPERATIONS:
        return [f"step type {step_type!r} has no SageMaker API mapped in STEP_OPERATIONS"]
    operation = sagemaker_operation(STEP_OPERATIONS[step_type])
    request = substitute(copy.deepcopy(arguments), operation.input_shape, parameter_types)
    named_member = NAMED_BY_THE_PIPELINE.get(operation.name)
    if named_member and named_member not in request:
        request[named_member] = wildcard(operation.input_shape.members[named_member])
    report = ParamValidator().validate(request, operation.input_shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    return problems + list(enum_problems(request, operation.input_shape, ""))


def definition_problems(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Step name -> its problems, for every step (nested ones too) that has any."""
    parameter_types = {p["Name"]: p.get("Type", "String") for p in definition.get("Parameters", [])}
    found = {step["Name"]: step_problems(step, parameter_types) for step in iter_steps(definition["Steps"])}
    return {name: problems for name, problems in found.items() if problems}


def arguments(definition: dict[str, Any], step_name: str) -> dict[str, Any]:
    return next(s for s in iter_steps(definition["Steps"]) if s["Name"] == step_name)["Arguments"]


@pytest.fixture
def definition() -> dict[str, Any]:
    return build_definition(SPEC)


# --- the definitions prodline emits ---------------------------------------------------------------------

def test_every_step_is_a_valid_request_for_its_sagemaker_api(definition):
    assert definition_problems(definition) == {}
    assert {s["Type"] for s in iter_steps(definition["Steps"])} == {
        "Training", "Processing", "Condition", "RegisterModel", "Fail"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_stacks_pipelines_are_valid_requests(stack):
    pipelines = of_type(stack_registrations(stack), "aws:sagemaker/pipeline:Pipeline")
    assert {p.name for p in pipelines} == {"training-pipeline", "batch-pipeline"}
    for pipeline in pipelines:
        assert definition_problems(json.loads(pipeline.inputs["pipelineDefinition"])) == {}, (
            f"stack {stack}: the {pipeline.name} definition has steps SageMaker would reject")


def test_the_batch_definition_runs_a_model_and_a_transform_by_the_batch_contract():
    (pipeline,) = [p for p in of_type(stack_registrations("dev"), "aws:sagemaker/pipeline:Pipeline")
                   if p.name == "batch-pipeline"]
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    assert [s["Type"] for s in definition["Steps"]] == ["Processing", "Model", "Transform", "Processing"]
    transform = definition["Steps"][2]["Arguments"]
    assert transform["BatchStrategy"] == "MultiRecord" and transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformOutput"]["AssembleWith"] == "Line" and transform["TransformOutput"]["KmsKeyId"]


# --- the check catches each way a step can break ----------------------------------------------------------

def test_a_misspelled_field_fails(definition):
    train = arguments(definition, TRAIN)
    train["AlgorithmSpecificaton"] = train.pop("AlgorithmSpecification")
    (problem,) = definition_problems(definition)[TRAIN]
    assert problem.startswith('Unknown parameter in input: "AlgorithmSpecificaton"')


def test_a_misspelled_nested_field_fails(definition):
    channel = arguments(definition, TRAIN)["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    channel["S3Url"] = channel.pop("S3Uri")
    problems = definition_problems(definition)[TRAIN]
    assert 'Missing required parameter in InputDataConfig[0].DataSource.S3DataSource: "S3Uri"' in problems
    assert any('Unknown parameter in InputDataConfig[0].DataSource.S3DataSource: "S3Url"' in p for p in problems)


def test_a_wrong_type_fails(definition):
    arguments(definition, EVALUATE)["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = "1"
    (problem,) = definition_problems(definition)[EVALUATE]
    assert problem.startswith("Invalid type for parameter ProcessingResources.ClusterConfig.InstanceCount")


def test_a_missing_required_field_fails(definition):
    del arguments(definition, EVALUATE)["AppSpecification"]
    assert definition_problems(definition)[EVALUATE] == ['Missing required parameter in input: "AppSpecification"']


def test_a_value_outside_its_enum_fails(definition):
    arguments(definition, TRAIN)["AlgorithmSpecification"]["TrainingInputMode"] = "file"
    (problem,) = definition_problems(definition)[TRAIN]
    assert "AlgorithmSpecification.TrainingInputMode: 'file'" in problem


def test_an_expression_stands_for_a_scalar_only(definition):
    register = arguments(definition, REGISTER)
    register["InferenceSpecification"]["Containers"] = {"Get": f"Steps.{TRAIN}.Containers"}
    (problem,) = definition_problems(definition)[REGISTER]
    assert problem.startswith("Invalid type for parameter InferenceSpecification.Containers")


def test_a_parameter_of_the_wrong_type_fails(definition):
    arguments(definition, TRAIN)["StoppingCondition"]["MaxRuntimeInSeconds"] = {"Get": "Parameters.TrainDataUrl"}
    (problem,) = definition_problems(definition)[TRAIN]
    assert problem.startswith("Invalid type for parameter StoppingCondition.MaxRuntimeInSeconds")


def test_a_join_stands_for_a_string_only(definition):
    arguments(definition, TRAIN)["StoppingCondition"]["MaxRuntimeInSeconds"] = {
        "Std:Join": {"On": "", "Values": ["36", "00"]}}
    (problem,) = definition_problems(definition)[TRAIN]
    assert problem.startswith("Invalid type for parameter StoppingCondition.MaxRuntimeInSeconds")


def test_a_step_type_without_a_mapped_api_fails(definition):
    definition["Steps"].append({"Name": "Notify", "Type": "Lambda", "Arguments": {}})
    assert definition_problems(definition) == {
        "Notify": ["step type 'Lambda' has no SageMaker API mapped in STEP_OPERATIONS"]}


def test_a_misspelled_condition_argument_fails(definition):
    check = arguments(definition, CHECK)
    check["ElseStep"] = check.pop("ElseSteps")
    assert definition_problems(definition) == {CHECK: ["unknown Condition argument 'ElseStep'"]}
