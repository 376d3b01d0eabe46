"""Batch scoring: a features partition scored by the stack's approved model with SageMaker Batch Transform.

A SageMaker pipeline (``components/batch_definition.py``) lists the partition and writes headerless CSV
records with a keys manifest, creates a model from the approved package (the image and handler real-time
serving runs), runs a transform job by the container's batch contract, and publishes the predictions,
each row carrying the input key, the score, the model package ARN and version, and the scoring job's id.
EventBridge starts it on a schedule and when the features Glue job succeeds (a new partition); in prod a
failed execution alerts the stack's topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import pipeline_events as events
from components import policy_documents as docs
from components.batch_definition import BatchSpec, build_batch_definition
from components.code_bundle import write_bundle
from components.data_lake import LakeRefs
from components.pipeline_definition import CODE_ZIP, validate_definition
from components.sagemaker_images import ecr_repository_arn

CODE_PREFIX = "code/batch"
PREDICTIONS_PREFIX = "predictions"
MAX_PAYLOAD_MB = 100
"""SageMaker Batch Transform's own cap on MaxPayloadInMB."""


class BatchScoringArgs(TypedDict):
    pipeline_name: str
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    dataset: str
    database: str
    table: str
    """The Glue table of the predictions (declared with the lake's catalog)."""
    image_uri: str
    """The container of the model package (its image and handler serve real time too)."""
    model_package_arn: pulumi.Input[str]
    model_package_group: str
    code_files: Mapping[str, bytes]
    """The processing steps' bundle: archive path -> content (workloads/batch and what it imports)."""
    schedule: str
    """EventBridge cron() or rate() expression."""
    features_job_name: pulumi.Input[str]
    """The Glue job whose success means a new features partition."""
    instance_type: str
    instance_count: int
    max_payload_mb: int
    max_concurrent_transforms: int
    alert_topic_arn: NotRequired[pulumi.Input[str]]
    """When given, a failed execution notifies this topic (prod)."""
    processing_instance_type: NotRequired[str]


def batch_settings(args: BatchScoringArgs) -> BatchScoringArgs:
    """The args, checked: ValueError naming the field."""
    if not 1 <= args["max_payload_mb"] <= MAX_PAYLOAD_MB:
        raise ValueError(f"max_payload_mb must be from 1 to {MAX_PAYLOAD_MB}, got {args['max_payload_mb']}")
    if args["max_concurrent_transforms"] < 1:
        raise ValueError(f"max_concurrent_transforms must be >= 1, got {args['max_concurrent_transforms']}")
    if args["instance_count"] < 1:
        raise ValueError(f"instance_count must be >= 1, got {args['instance_count']}")
    if not args["schedule"].startswith(("cron(", "rate(")):
        raise ValueError(f"schedule must be a cron() or rate() expression, got {args['schedule']!r}")
    for required in ("workloads/batch/prepare_records.py", "workloads/batch/publish_predictions.py"):
        if required not in args["code_files"]:
            raise ValueError(f"code_files must contain {required}")
    return args


class BatchScoring(pulumi.ComponentResource):
    """prepare records -> model -> batch transform -> publish predictions, on a schedule and on new features."""

    pipeline_arn: pulumi.Output[str]
    pipeline_name: pulumi.Output[str]

    def __init__(self, name: str, args: BatchScoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:batch:BatchScoring", name, None, opts)
        args = batch_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        artifacts, features = lake.bucket_names["artifacts"], lake.bucket_names["features"]
        pipeline_name = args["pipeline_name"]

        bundle = write_bundle(args["code_files"])
        code_prefix = f"{CODE_PREFIX}/{bundle.version}"
        code = aws.s3.BucketObject(
            f"{name}-code", bucket=artifacts, key=f"{code_prefix}/{CODE_ZIP}", source=pulumi.FileAsset(str(bundle.zip)),
            server_side_encryption="aws:kms", kms_key_id=lake.key_arn, opts=child)
        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=docs.sagemaker_trust(args["region"], args["account_id"]),
            description=f"SageMaker pipeline {pipeline_name}: features in, predictions out, its model only",
            opts=child)
        aws.iam.RolePolicy(f"{name}-role-policy", role=self.role.id,
                           policy=docs.document(scoring_statements(args, self.role.arn, code_prefix)), opts=child)

        dataset = args["dataset"]
        spec = BatchSpec(
            image_uri=args["image_uri"], role_arn=self.role.arn, kms_key_arn=lake.key_arn,
            model_package_arn=args["model_package_arn"],
            features_uri=pulumi.Output.concat("s3://", features, f"/{dataset}/"),
            work_uri=pulumi.Output.concat("s3://", artifacts, f"/batch/{pipeline_name}/"),
            predictions_uri=pulumi.Output.concat("s3://", features, f"/{PREDICTIONS_PREFIX}/{dataset}/"),
            code_uri=pulumi.Output.concat("s3://", artifacts, "/", code_prefix, "/"),
            database=args["database"], table=args["table"],
            instance_type=args["instance_type"], instance_count=args["instance_count"],
            processing_instance_type=args.get("processing_instance_type", "ml.m5.large"),
            max_payload_mb=args["max_payload_mb"], max_concurrent_transforms=args["max_concurrent_transforms"])
        definition = build_batch_definition(spec)
        problems = validate_definition(definition)
        if problems:
            raise ValueError("batch scoring definition is malformed: " + "; ".join(problems))
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline", pipeline_name=pipeline_name, pipeline_display_name=pipeline_name,
            pipeline_description="prodline: batch-score a features partition with the approved model",
            pipeline_definition=pulumi.Output.json_dumps(definition), role_arn=self.role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[code]))

        self.schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-schedule", description=f"scheduled batch scoring ({pipeline_name})",
            schedule_expression=args["schedule"], opts=child)
        self.new_features_rule = aws.cloudwatch.EventRule(
            f"{name}-on-new-features", description="batch-score when the features job writes a new partition",
            event_pattern=pulumi.Output.json_dumps(events.glue_job_succeeded(args["features_job_name"])), opts=child)
        starters = {f"{name}-schedule": self.schedule_rule, f"{name}-on-new-features": self.new_features_rule}
        self.events_role = aws.iam.Role(
            f"{name}-events-role", assume_role_policy=docs.events_trust(args["account_id"], list(starters.values())),
            description=f"EventBridge may start pipeline {pipeline_name}", opts=child)
        aws.iam.RolePolicy(f"{name}-events-role-policy", role=self.events_role.id, policy=docs.document([
            docs.allow("StartThisPipeline", ["sagemaker:StartPipelineExecution"], [self.pipeline.arn])]), opts=child)
        for rule_name, rule in starters.items():
            events.start_pipeline_target(rule_name, rule, pipeline_arn=self.pipeline.arn,
                                         role_arn=self.events_role.arn, opts=child)

        if args.get("alert_topic_arn") is not None:
            failed = aws.cloudwatch.EventRule(
                f"{name}-failed", description=f"a batch scoring execution failed ({pipeline_name})",
                event_pattern=pulumi.Output.json_dumps(events.execution_failed(self.pipeline.arn)), opts=child)
            aws.cloudwatch.EventTarget(f"{name}-failed-notify", rule=failed.name, arn=args["alert_topic_arn"],
                                       opts=child)

        self.pipeline_arn = self.pipeline.arn
        self.pipeline_name = self.pipeline.pipeline_name
        self.register_outputs({"pipeline_arn": self.pipeline_arn, "pipeline_name": self.pipeline_name})


def scoring_statements(args: BatchScoringArgs, role_arn: pulumi.Input[str], code_prefix: str) -> list[dict]:
    """Read the dataset's features and the code, write its own work prefix and the predictions, score with
    models made from the stack's registry."""
    lake = args["lake"]
    dataset, pipeline_name = args["dataset"], args["pipeline_name"]
    artifacts_arn, features_arn = lake.bucket_arns["artifacts"], lake.bucket_arns["features"]
    work, predictions = f"batch/{pipeline_name}/", f"{PREDICTIONS_PREFIX}/{dataset}/"
    sagemaker_arn = pulumi.Output.concat("arn:aws:sagemaker:", args["region"], ":", args["account_id"], ":")
    logs_arn = pulumi.Output.concat("arn:aws:logs:", args["region"], ":", args["account_id"],
                                    ":log-group:/aws/sagemaker/")
    group = args["model_package_group"]
    return [
        docs.allow("ReadFeatures", ["s3:GetObject"], [docs.objects(features_arn, f"{dataset}/")]),
        docs.allow("WritePredictions", ["s3:PutObject"], [docs.objects(features_arn, predictions)]),
        docs.list_prefix("ListFeatures", features_arn, [f"{dataset}/", predictions]),
        docs.allow("ReadCode", ["s3:GetObject"], [docs.objects(artifacts_arn, code_prefix + "/")]),
        docs.allow("WriteWork", ["s3:GetObject", "s3:PutObject"], [docs.objects(artifacts_arn, work)]),
        # The package's model data lives under the training pipeline's prefix.
        docs.allow("ReadModelData", ["s3:GetObject"], [docs.objects(artifacts_arn, "pipelines/")]),
        docs.list_prefix("ListArtifacts", artifacts_arn, [code_prefix + "/", work]),
        docs.allow("UseLakeKey", list(docs.KMS_USE_ACTIONS), [lake.key_arn]),
        docs.allow("GrantKeyToJobVolumes", ["kms:CreateGrant"], [lake.key_arn],
                   {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        *docs.image_pull("PullImage", ecr_repository_arn(args["image_uri"])),
        docs.allow("WriteJobLogs", ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                   [pulumi.Output.concat(logs_arn, "ProcessingJobs:*"),
                    pulumi.Output.concat(logs_arn, "TransformJobs:*")]),
        docs.allow("RunScoringJobs", ["sagemaker:AddTags", "sagemaker:CreateProcessingJob",
                                      "sagemaker:CreateTransformJob", "sagemaker:DescribeProcessingJob",
                                      "sagemaker:DescribeTransformJob", "sagemaker:StopProcessingJob",
                                      "sagemaker:StopTransformJob"],
                   [pulumi.Output.concat(sagemaker_arn, "processing-job/pipelines-*"),
                    pulumi.Output.concat(sagemaker_arn, "transform-job/pipelines-*")]),
        docs.allow("CreateModelFromRegistry", ["sagemaker:AddTags", "sagemaker:CreateModel",
                                               "sagemaker:DescribeModel"],
                   [pulumi.Output.concat(sagemaker_arn, "model/pipelines-*")]),
        docs.allow("ReadRegistry", ["sagemaker:DescribeModelPackage"],
                   [pulumi.Output.concat(sagemaker_arn, "model-package/", group, "/*")]),
        docs.pass_own_role_to_jobs(role_arn),
    ]
