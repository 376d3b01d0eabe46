"""SageMaker Pipelines, locally: execute a pipeline's definition, read back from the emulator, step by step.

Training runs the script-mode bundle in a local container with SageMaker's ``/opt/ml`` layout and
``SM_*`` environment, and uploads ``model.tar.gz`` where SageMaker would; processing mounts its inputs,
runs its entrypoint and uploads its outputs; the condition evaluates ``JsonGet`` on the property file;
register creates the model package in the emulator's registry. Only what the definition says is run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prodline.sandbox.runtimes.containers import (
    download_prefix,
    extract,
    run_container,
    tail,
    tar_directory,
    upload_tree,
)
from prodline.sandbox.runtimes.transform import run_transform_job
from prodline.sandbox.tracking import is_declared_server
from workloads.s3_uri import split_s3
from workloads.training.tracking import TRACKING_URI_ENV

SUCCEEDED, FAILED, EXECUTING = "Succeeded", "Failed", "Executing"
_OUTPUT_REF = re.compile(r"ProcessingOutputConfig\.Outputs\['([^']+)'\]\.S3Output\.S3Uri")


class StepFailed(RuntimeError):
    pass


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = EXECUTING
    started: float = field(default_factory=time.time)
    ended: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class Execution:
    pipeline: str
    execution_id: str
    execution_arn: str
    parameters: dict[str, Any]
    status: str = EXECUTING
    steps: list[StepRecord] = field(default_factory=list)
    model_package_arn: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)
    failure: str = ""
    trigger: str = ""
    transform: dict[str, Any] = field(default_factory=dict)
    """The transform job's outcome (records, requests, contract), for a pipeline with a Transform step."""


class PipelineRunner:
    """Runs one execution; ``on_event`` receives the EventBridge events SageMaker would emit."""

    def __init__(self, clients, workdir: Path, env: dict[str, str],
                 on_event: Callable[[dict], None] | None = None, tracking_url: Callable[[], str | None] | None = None):
        self.clients = clients
        self.workdir = workdir
        self.env = env
        self.on_event = on_event or (lambda event: None)
        self.tracking_url = tracking_url or (lambda: None)
        """The local MLflow server standing in for a declared SageMaker tracking server (None: none runs)."""
        self.on_transform_server = None
        """Called with a transform job's model container once it answers (a test stops it there)."""

    def start(self, pipeline_name: str, parameters: dict[str, Any] | None = None, trigger: str = "manual") -> Execution:
        sm = self.clients("sagemaker")
        described = sm.describe_pipeline(PipelineName=pipeline_name)
        definition = json.loads(described["PipelineDefinition"])
        arn = sm.start_pipeline_execution(PipelineName=pipeline_name)["PipelineExecutionArn"]
        values = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
        values.update(parameters or {})
        execution = Execution(pipeline_name, arn.rsplit("/", 1)[-1], arn, values, trigger=trigger)
        self._properties: dict[str, dict[str, Any]] = {}
        try:
            for step in definition["Steps"]:
                self._run_step(execution, step)
            execution.status = SUCCEEDED
        except StepFailed as err:
            execution.status, execution.failure = FAILED, str(err)
        self._save(execution)
        self.on_event({"source": "aws.sagemaker",
                       "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
                       "resources": [described["PipelineArn"]],
                       "detail": {"pipelineArn": described["PipelineArn"], "pipelineExecutionArn": arn,
                                  "currentPipelineExecutionStatus": execution.status}})
        return execution

    # --- steps -------------------------------------------------------------------------------------------

    def _run_step(self, execution: Execution, step: dict) -> None:
        record = StepRecord(step["Name"], step["Type"])
        execution.steps.append(record)
        try:
            runner = {"Training": self._training, "Processing": self._processing, "Condition": self._condition,
                      "RegisterModel": self._register, "Fail": self._fail, "Model": self._model,
                      "Transform": self._transform}.get(step["Type"])
            if runner is None:
                raise StepFailed(f"step {step['Name']}: type {step['Type']} is not run by the sandbox")
            runner(execution, step, record)
            record.status = SUCCEEDED
        except StepFailed as err:
            record.status, record.error = FAILED, str(err)
            raise
        finally:
            record.ended = time.time()

    def _root(self, execution: Execution, step: dict) -> Path:
        return self.workdir / "pipelines" / execution.execution_id / step["Name"]

    def _training(self, execution: Execution, step: dict, record: StepRecord) -> None:
        args = self._resolve(execution, step["Arguments"])
        root = self._root(execution, step)
        s3 = self.clients("s3")
        job_name = f"pipelines-{execution.execution_id[:12]}-{step['Name']}"
        channels = []
        for channel in args.get("InputDataConfig", []):
            name = channel["ChannelName"]
            download_prefix(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], root / "opt/ml/input/data" / name)
            channels.append(name)
        hyper = dict(args.get("HyperParameters", {}))
        program = hyper.pop("sagemaker_program")
        bundle = root / "bundle" / "sourcedir.tar.gz"
        bundle.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(*split_s3(hyper.pop("sagemaker_submit_directory")), str(bundle))
        code = extract(bundle, root / "opt/ml/code")
        (root / "opt/ml/model").mkdir(parents=True, exist_ok=True)
        env = {**self._container_env(args),
               "SM_MODEL_DIR": "/opt/ml/model", "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data",
               "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(hyper), "SM_CURRENT_HOST": "algo-1",
               "SM_TRAINING_ENV": json.dumps({"job_name": job_name})}
        env.update({f"SM_CHANNEL_{c.upper()}": f"/opt/ml/input/data/{c}" for c in channels})
        command = ["python3", program] + [part for k, v in sorted(hyper.items()) for part in (f"--{k}", str(v))]
        result = run_container(command, root=root, env=env, cwd=code, log=root / "training.log",
                               timeout=float(args.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 3600)))
        if result.returncode != 0:
            raise StepFailed(f"training job {job_name} failed:\n{tail(result.log)}")
        output = args["OutputDataConfig"]
        model_tar = tar_directory(root / "opt/ml/model", root / "model.tar.gz")
        model_url = f"{output['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
        s3.upload_file(str(model_tar), *split_s3(model_url),
                       ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output["KmsKeyId"]}
                       if output.get("KmsKeyId") else None)
        self._properties[step["Name"]] = {"ModelArtifacts.S3ModelArtifacts": model_url, "TrainingJobName": job_name}
        record.detail = {"job": job_name, "model": model_url}

    def _processing(self, execution: Execution, step: dict, record: StepRecord) -> None:
        args = self._resolve(execution, step["Arguments"])
        root = self._root(execution, step)
        s3 = self.clients("s3")
        for item in args.get("ProcessingInputs", []):
            source = item["S3Input"]
            download_prefix(s3, source["S3Uri"], root / source["LocalPath"].lstrip("/"))
        outputs = args.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            (root / item["S3Output"]["LocalPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
        app = args["AppSpecification"]
        command = list(app.get("ContainerEntrypoint", [])) + list(app.get("ContainerArguments", []))
        result = run_container(command, root=root, env=self._container_env(args), log=root / "processing.log",
                               cwd=root)
        if result.returncode != 0:
            raise StepFailed(f"processing step {step['Name']} failed:\n{tail(result.log)}")
        properties = {}
        kms = args.get("ProcessingOutputConfig", {}).get("KmsKeyId")
        for item in outputs:
            local, url = root / item["S3Output"]["LocalPath"].lstrip("/"), item["S3Output"]["S3Uri"]
            upload_tree(s3, local, url, kms)
            properties[f"ProcessingOutputConfig.Outputs['{item['OutputName']}'].S3Output.S3Uri"] = url
        files = {}
        for spec in step.get("PropertyFiles", []):
            output = next(o for o in outputs if o["OutputName"] == spec["OutputName"])
            path = root / output["S3Output"]["LocalPath"].lstrip("/") / spec["FilePath"]
            files[spec["PropertyFileName"]] = json.loads(path.read_text())
        properties["PropertyFiles"] = files
        self._properties[step["Name"]] = properties
        if files:
            execution.evaluation = next(iter(files.values()))
        record.detail = {"outputs": [o["S3Output"]["S3Uri"] for o in outputs]}

    def _container_env(self, args: dict) -> dict[str, str]:
        """The job's environment over the sandbox's; a declared tracking server's ARN becomes the local MLflow
        server's URL (waited for here, the first time a job logs), or is dropped when none runs: untracked."""
        env = {**self.env, **args.get("Environment", {})}
        if is_declared_server(env.get(TRACKING_URI_ENV, "")):
            local = self.tracking_url()
            if local is None:
                env.pop(TRACKING_URI_ENV)
            else:
                env[TRACKING_URI_ENV] = local
        return env

    def _condition(self, execution: Execution, step: dict, record: StepRecord) -> None:
        results = [self._compare(execution, c) for c in step["Arguments"]["Conditions"]]
        branch = "IfSteps" if all(results) else "ElseSteps"
        record.detail = {"outcome": all(results), "branch": branch}
        for nested in step["Arguments"].get(branch, []):
            self._run_step(execution, nested)

    def _compare(self, execution: Execution, condition: dict) -> bool:
        left = float(self._resolve(execution, condition["LeftValue"]))
        right = float(self._resolve(execution, condition["RightValue"]))
        operators = {"GreaterThanOrEqualTo": left >= right, "GreaterThan": left > right,
                     "LessThanOrEqualTo": left <= right, "LessThan": left < right, "Equals": left == right}
        if condition["Type"] not in operators:
            raise StepFailed(f"condition type {condition['Type']} is not supported by the sandbox")
        return operators[condition["Type"]]

    def _register(self, execution: Execution, step: dict, record: StepRecord) -> None:
        args = self._resolve(execution, step["Arguments"])
        request = {k: v for k, v in args.items() if k in (
            "ModelPackageGroupName", "ModelApprovalStatus", "InferenceSpecification", "ModelMetrics",
            "ModelPackageDescription", "CustomerMetadataProperties")}
        request.setdefault("ModelPackageDescription", f"registered by {execution.pipeline} {execution.execution_id}")
        arn = self.clients("sagemaker").create_model_package(**request)["ModelPackageArn"]
        execution.model_package_arn = arn
        self._properties[step["Name"]] = {"ModelPackageArn": arn}
        record.detail = {"model_package": arn, "status": request.get("ModelApprovalStatus")}
        self.on_event(package_event(request["ModelPackageGroupName"], arn, request.get("ModelApprovalStatus", "")))

    def _create(self, execution: Execution, step: dict, operation: str, name_field: str) -> tuple[str, dict]:
        """Call the SageMaker API the step stands for with its resolved Arguments and the name the pipeline
        gives it (``pipelines-<execution>-<step>``); returns (name, arguments)."""
        args = self._resolve(execution, step["Arguments"])
        name = f"pipelines-{execution.execution_id[:12]}-{step['Name']}"
        try:
            getattr(self.clients("sagemaker"), operation)(**{name_field: name}, **args)
        except ClientError as error:
            raise StepFailed(f"step {step['Name']}: {operation} failed: {error}") from None
        return name, args

    def _model(self, execution: Execution, step: dict, record: StepRecord) -> None:
        name, args = self._create(execution, step, "create_model", "ModelName")
        self._properties[step["Name"]] = {"ModelName": name}
        record.detail = {"model": name, **args.get("PrimaryContainer", {})}

    def _transform(self, execution: Execution, step: dict, record: StepRecord) -> None:
        """The emulator only stores the job; the transform runtime runs it."""
        name, args = self._create(execution, step, "create_transform_job", "TransformJobName")
        result = run_transform_job(self.clients, name, self.workdir, self.on_transform_server)
        execution.transform = asdict(result)
        record.detail = {"job": name, "records": result.records, "requests": result.requests}
        if result.status != "Completed":
            raise StepFailed(f"transform job {result.failure_reason}")
        self._properties[step["Name"]] = {"TransformJobName": name,
                                          "TransformOutput.S3OutputPath": args["TransformOutput"]["S3OutputPath"]}

    def _fail(self, execution: Execution, step: dict, record: StepRecord) -> None:
        raise StepFailed(str(self._resolve(execution, step["Arguments"].get("ErrorMessage", "failed"))))

    # --- expressions -------------------------------------------------------------------------------------

    def _resolve(self, execution: Execution, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(execution, v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(execution, value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(self._resolve(execution, v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            document = self._resolve(execution, spec["PropertyFile"])
            for part in spec["Path"].split("."):
                document = document[part]
            return document
        return {k: self._resolve(execution, v) for k, v in value.items()}

    def _get(self, execution: Execution, ref: str) -> Any:
        if ref.startswith("Parameters."):
            return execution.parameters[ref.split(".", 1)[1]]
        if ref == "Execution.PipelineExecutionId":
            return execution.execution_id
        if ref == "Execution.PipelineExecutionArn":
            return execution.execution_arn
        _, step, path = ref.split(".", 2)
        properties = self._properties.get(step)
        if properties is None:
            raise StepFailed(f"{ref}: step {step} has not run")
        if path.startswith("PropertyFiles."):
            return properties["PropertyFiles"][path.split(".", 1)[1]]
        if path not in properties:
            raise StepFailed(f"{ref}: step {step} has no property {path}")
        return properties[path]

    def _save(self, execution: Execution) -> None:
        path = self.workdir / "pipelines" / execution.execution_id / "execution.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(execution), indent=1, default=str))


def package_event(group: str, arn: str, status: str) -> dict:
    """The event SageMaker emits when a model package is created or its approval changes."""
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change", "resources": [arn],
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn, "ModelApprovalStatus": status,
                       "ModelPackageVersion": int(arn.rsplit("/", 1)[-1]) if arn.rsplit("/", 1)[-1].isdigit() else 0}}


def scoring_summary(execution: Execution) -> dict:
    """Rows scored, the model version and the job id of a batch scoring execution (its PublishPredictions report
    and its transform job's record)."""
    report, transform = execution.evaluation or {}, execution.transform or {}
    return {"execution": execution.execution_arn, "status": execution.status,
            "partition": f"dt={report['dt']}" if report.get("dt") else None,
            "rows_scored": report.get("rows", 0), "model_package": report.get("model_package_arn"),
            "model_version": report.get("model_version"), "job_id": transform.get("job_name"),
            "requests": transform.get("requests"), "failure": execution.failure or None,
            "steps": [{"name": s.name, "status": s.status} for s in execution.steps]}
