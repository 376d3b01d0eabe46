"""The SageMaker training pipeline, its code, its least-privilege role, and what starts it.

A schedule and the drift alarms start the same pipeline through EventBridge, so "drift -> retrain" is
declared in the stack rather than scripted beside it. A failed execution notifies the alert topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import pipeline_events as events
from components import policy_documents as docs
from components.code_bundle import write_bundle
from components.data_lake import LakeRefs
from components.pipeline_definition import CODE_ZIP, PipelineSpec, build_definition, validate_definition
from components.sagemaker_images import ecr_repository_arn
from components.tracking_server import logging_statements

CODE_PREFIX = "code/training"


class TrackingRefs(TypedDict):
    server_arn: pulumi.Input[str]
    """The MLflow tracking server's ARN: the workloads' tracking URI."""
    artifact_prefix: str
    """The server's artifact folder in the artifacts zone (MLflow clients write artifacts there themselves)."""
    experiment: str


class TrainingPipelineArgs(TypedDict):
    pipeline_name: str
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    image_uri: str
    """Framework container for training, evaluation and the registered model."""
    code_files: Mapping[str, bytes]
    """The code bundle: archive path -> content (train.py and inference.py at the top)."""
    model_package_group: pulumi.Input[str]
    model_package_group_arn: pulumi.Input[str]
    training_instance_type: str
    quality_threshold: float
    approval_status: str
    """PendingManualApproval or Approved."""
    inference_instance_types: Sequence[str]
    schedule: str
    alert_topic_arn: pulumi.Input[str]
    start_on_alarm_arns: NotRequired[Sequence[pulumi.Input[str]]]
    """CloudWatch alarms whose move to ALARM starts a retraining."""
    processing_instance_type: NotRequired[str]
    hyperparameters: NotRequired[Mapping[str, str]]
    tracking: NotRequired[TrackingRefs]
    """When given, training and evaluation log their runs there, and each package carries its run id."""


APPROVAL_STATUSES = ("PendingManualApproval", "Approved")


def training_settings(args: TrainingPipelineArgs) -> TrainingPipelineArgs:
    if args["approval_status"] not in APPROVAL_STATUSES:
        raise ValueError(f"approval_status must be one of {', '.join(APPROVAL_STATUSES)}, "
                         f"got {args['approval_status']!r}")
    if not 0 < args["quality_threshold"] <= 1:
        raise ValueError(f"quality_threshold must be > 0 and <= 1, got {args['quality_threshold']}")
    for required in ("train.py", "inference.py"):
        if required not in args["code_files"]:
            raise ValueError(f"code_files must contain {required} at the top of the bundle")
    if not args["inference_instance_types"]:
        raise ValueError("inference_instance_types must name at least one instance type")
    return args


class TrainingPipeline(pulumi.ComponentResource):
    """train -> evaluate -> condition on AUC -> register, started by a schedule and by drift alarms."""

    pipeline_arn: pulumi.Output[str]
    pipeline_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:model:TrainingPipeline", name, None, opts)
        args = training_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        artifacts = lake.bucket_names["artifacts"]

        bundle = write_bundle(args["code_files"])
        code_prefix = f"{CODE_PREFIX}/{bundle.version}"
        code_objects = [aws.s3.BucketObject(
            f"{name}-{logical}", bucket=artifacts, key=f"{code_prefix}/{key}", source=pulumi.FileAsset(str(path)),
            server_side_encryption="aws:kms", kms_key_id=lake.key_arn, opts=child)
            for logical, key, path in (("sourcedir", "sourcedir.tar.gz", bundle.tar_gz),  # training's script mode
                                       ("sourcedir-zip", CODE_ZIP, bundle.zip))]  # evaluation imports from it

        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=docs.sagemaker_trust(args["region"], args["account_id"]),
            description=f"SageMaker pipeline {args['pipeline_name']}: its data, code, artifacts and registry only",
            opts=child)
        aws.iam.RolePolicy(f"{name}-role-policy", role=self.role.id,
                           policy=docs.document(pipeline_statements(args, self.role.arn, code_prefix)), opts=child)

        processing_type = args.get("processing_instance_type", "ml.m5.large")
        spec = PipelineSpec(
            image_uri=args["image_uri"],
            role_arn=self.role.arn,
            kms_key_arn=lake.key_arn,
            features_uri=pulumi.Output.concat("s3://", lake.bucket_names["features"], "/"),
            artifacts_uri=pulumi.Output.concat("s3://", artifacts, "/pipelines/", args["pipeline_name"], "/"),
            code_uri=pulumi.Output.concat("s3://", artifacts, "/", code_prefix, "/"),
            model_package_group=args["model_package_group"],
            training_instance_type=args["training_instance_type"],
            processing_instance_type=processing_type,
            quality_threshold=args["quality_threshold"],
            approval_status=args["approval_status"],
            inference_instance_types=tuple(args["inference_instance_types"]),
            hyperparameters=args.get("hyperparameters", {}),
            **({"tracking_uri": args["tracking"]["server_arn"], "experiment": args["tracking"]["experiment"]}
               if "tracking" in args else {}),
        )
        definition = build_definition(spec)
        problems = validate_definition(definition)
        if problems:
            raise ValueError("pipeline definition is malformed: " + "; ".join(problems))

        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=args["pipeline_name"],
            pipeline_display_name=args["pipeline_name"],
            pipeline_description="prodline: train, evaluate, check quality, register",
            pipeline_definition=pulumi.Output.json_dumps(definition),
            role_arn=self.role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=code_objects),
        )

        self.schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-schedule", description="scheduled retraining", schedule_expression=args["schedule"], opts=child)
        starters = {f"{name}-schedule": self.schedule_rule}

        alarm_arns = list(args.get("start_on_alarm_arns", []))
        self.retrain_rule = None
        if alarm_arns:
            self.retrain_rule = aws.cloudwatch.EventRule(
                f"{name}-retrain-on-drift",
                description="retrain when a drift alarm goes into ALARM",
                event_pattern=pulumi.Output.json_dumps(events.alarm_in_alarm(alarm_arns)),
                opts=child)
            starters[f"{name}-retrain-on-drift"] = self.retrain_rule

        # EventBridge starts executions with a role of its own, allowed to start this pipeline and no other, and
        # assumable by EventBridge only for the rules above.
        self.events_role = aws.iam.Role(
            f"{name}-events-role", assume_role_policy=docs.events_trust(args["account_id"], list(starters.values())),
            description=f"EventBridge may start pipeline {args['pipeline_name']}", opts=child)
        aws.iam.RolePolicy(f"{name}-events-role-policy", role=self.events_role.id, policy=docs.document([
            docs.allow("StartThisPipeline", ["sagemaker:StartPipelineExecution"], [self.pipeline.arn])]), opts=child)
        for rule_name, rule in starters.items():
            self._start_pipeline_on(rule_name, rule)

        failed = aws.cloudwatch.EventRule(
            f"{name}-failed",
            description="a training pipeline execution failed",
            event_pattern=pulumi.Output.json_dumps(events.execution_failed(self.pipeline.arn)),
            opts=child)
        aws.cloudwatch.EventTarget(f"{name}-failed-notify", rule=failed.name, arn=args["alert_topic_arn"], opts=child)

        self.pipeline_arn = self.pipeline.arn
        self.pipeline_name = self.pipeline.pipeline_name
        self.role_arn = self.role.arn
        self.register_outputs({"pipeline_arn": self.pipeline_arn, "pipeline_name": self.pipeline_name,
                               "role_arn": self.role_arn})

    def _start_pipeline_on(self, name: str, rule: aws.cloudwatch.EventRule) -> None:
        events.start_pipeline_target(name, rule, pipeline_arn=self.pipeline.arn, role_arn=self.events_role.arn,
                                     opts=pulumi.ResourceOptions(parent=self))


def pipeline_statements(args: TrainingPipelineArgs, role_arn: pulumi.Input[str], code_prefix: str) -> list[dict]:
    """What the pipeline's jobs need: read features and code, write their artifacts, register models."""
    lake = args["lake"]
    account, region = args["account_id"], args["region"]
    artifacts_arn, features_arn = lake.bucket_arns["artifacts"], lake.bucket_arns["features"]
    run_prefix = f"pipelines/{args['pipeline_name']}/"
    sagemaker_arn = pulumi.Output.concat("arn:aws:sagemaker:", region, ":", account, ":")
    logs_arn = pulumi.Output.concat("arn:aws:logs:", region, ":", account, ":log-group:/aws/sagemaker/")
    tracking = args.get("tracking")
    return [
        # The ETL's run manifests too: the data manifest names the run that wrote each partition.
        docs.allow("ReadFeatures", ["s3:GetObject"], [docs.objects(features_arn, "churn/"),
                                                      docs.objects(features_arn, "_runs/churn/")]),
        docs.list_prefix("ListFeatures", features_arn, ["churn/", "_runs/churn/"]),
        docs.allow("ReadCode", ["s3:GetObject"], [docs.objects(artifacts_arn, code_prefix + "/")]),
        docs.allow("WriteRunArtifacts", ["s3:GetObject", "s3:PutObject"], [docs.objects(artifacts_arn, run_prefix)]),
        docs.list_prefix("ListArtifacts", artifacts_arn, [code_prefix + "/", run_prefix]),
        docs.allow("UseLakeKey", list(docs.KMS_USE_ACTIONS), [lake.key_arn]),
        # Encrypted training volumes: SageMaker creates a grant on the key for the instance it launches.
        docs.allow("GrantKeyToTrainingVolumes", ["kms:CreateGrant"], [lake.key_arn],
                   {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        *docs.image_pull("PullFrameworkImage", ecr_repository_arn(args["image_uri"])),
        docs.allow("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                                    "logs:PutLogEvents"],
                   [pulumi.Output.concat(logs_arn, "TrainingJobs:*"),
                    pulumi.Output.concat(logs_arn, "ProcessingJobs:*")]),
        docs.allow("RunPipelineJobs", ["sagemaker:AddTags", "sagemaker:CreateProcessingJob",
                                       "sagemaker:CreateTrainingJob", "sagemaker:DescribeProcessingJob",
                                       "sagemaker:DescribeTrainingJob", "sagemaker:StopProcessingJob",
                                       "sagemaker:StopTrainingJob"],
                   [pulumi.Output.concat(sagemaker_arn, "training-job/pipelines-*"),
                    pulumi.Output.concat(sagemaker_arn, "processing-job/pipelines-*")]),
        docs.allow("RegisterModels", ["sagemaker:AddTags", "sagemaker:CreateModelPackage",
                                      "sagemaker:DescribeModelPackage"],
                   [args["model_package_group_arn"],
                    pulumi.Output.concat(sagemaker_arn, "model-package/", args["model_package_group"], "/*")]),
        docs.pass_own_role_to_jobs(role_arn),
        *(logging_statements(tracking["server_arn"], lake, tracking["artifact_prefix"]) if tracking else []),
    ]
