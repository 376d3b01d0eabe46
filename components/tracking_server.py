"""The experiment tracking server: SageMaker's managed MLflow, its artifact store in the lake, its own role.

Training and evaluation log parameters, metrics, the evaluation report, the data manifest and the model to it
(``workloads/training/tracking.py``); the ``sagemaker-mlflow`` plugin turns the server's ARN into a tracking URI
and signs each call with the caller's credentials, so who may log is decided by IAM (``sagemaker-mlflow:*``
actions on this server's ARN) and the server has no network endpoint of its own to open or close. MLflow
clients write artifacts straight to the artifact store, so the store is a prefix of the lake's artifacts zone:
encrypted by that bucket's default (the lake key), private by its public access block, and readable by the
server's role under that prefix only.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.data_lake import LakeRefs
from standards.environments import TRACKING_SERVER_SIZES

ARTIFACT_PREFIX = "mlflow/"
"""Where in the artifacts zone the tracking server keeps run artifacts (one folder per server under it)."""
LOGGING_ACTIONS = (
    "sagemaker-mlflow:CreateExperiment", "sagemaker-mlflow:CreateRun", "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName", "sagemaker-mlflow:GetRun", "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogMetric", "sagemaker-mlflow:LogModel", "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:SearchRuns", "sagemaker-mlflow:SetTag", "sagemaker-mlflow:UpdateRun")
"""What a workload that logs runs may do on the server (no delete, no registry, no UI)."""


class TrackingServerArgs(TypedDict):
    server_name: str
    lake: LakeRefs
    account_id: pulumi.Input[str]
    region: str
    size: str
    """Small, Medium or Large."""
    maintenance_window: NotRequired[str]
    """Weekly maintenance start, ``DDD:HH:MM`` in UTC (SageMaker picks one when it is unset)."""


_WINDOW_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def tracking_settings(args: TrackingServerArgs) -> TrackingServerArgs:
    """The args, checked: ValueError naming the field."""
    if args["size"] not in TRACKING_SERVER_SIZES:
        raise ValueError(f"size must be one of {', '.join(TRACKING_SERVER_SIZES)}, got {args['size']!r}")
    name = args["server_name"]
    if not 1 <= len(name) <= 256 or not all(c.isalnum() or c == "-" for c in name) or name.startswith("-"):
        raise ValueError(f"server_name must be 1-256 letters, digits and hyphens, not starting with one; got {name!r}")
    window = args.get("maintenance_window")
    if window is not None:
        day, _, time = window.partition(":")
        hours, _, minutes = time.partition(":")
        if day not in _WINDOW_DAYS or not (hours.isdigit() and minutes.isdigit()
                                           and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"maintenance_window must be DDD:HH:MM (e.g. SUN:03:00), got {window!r}")
    return args


def artifact_prefix(server_name: str) -> str:
    """The server's folder in the artifacts zone: ``mlflow/<server>/``."""
    return f"{ARTIFACT_PREFIX}{server_name}/"


class TrackingServer(pulumi.ComponentResource):
    """A managed MLflow tracking server whose artifacts stay in the lake, under the lake key."""

    arn: pulumi.Output[str]
    server_name: pulumi.Output[str]
    artifact_prefix: str
    """The server's folder in the artifacts zone, which the workloads that log to it may write."""
    artifact_store_uri: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrackingServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:model:TrackingServer", name, None, opts)
        args = tracking_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        prefix = self.artifact_prefix = artifact_prefix(args["server_name"])

        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=docs.sagemaker_trust(args["region"], args["account_id"]),
            description=f"MLflow tracking server {args['server_name']}: its artifact prefix and the lake key only",
            opts=child)
        policy = aws.iam.RolePolicy(f"{name}-role-policy", role=self.role.id,
                                    policy=docs.document(server_statements(lake, prefix)), opts=child)
        store = pulumi.Output.concat("s3://", lake.bucket_names["artifacts"], "/", prefix)
        self.server = aws.sagemaker.MlflowTrackingServer(
            f"{name}-server", tracking_server_name=args["server_name"], tracking_server_size=args["size"],
            artifact_store_uri=store, role_arn=self.role.arn,
            # Models are registered by the training pipeline (with their evaluation and approval), not by MLflow.
            automatic_model_registration=False,
            weekly_maintenance_window_start=args.get("maintenance_window"),
            # SageMaker checks the role can reach the store when it creates the server.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))

        self.arn = self.server.arn
        self.server_name = self.server.tracking_server_name
        self.artifact_store_uri = store
        self.role_arn = self.role.arn
        self.register_outputs({"arn": self.arn, "server_name": self.server_name,
                               "artifact_store_uri": self.artifact_store_uri, "role_arn": self.role_arn})


def server_statements(lake: LakeRefs, prefix: str) -> list[dict]:
    """The server reads and writes run artifacts under its prefix of the artifacts zone, with the lake key."""
    artifacts_arn = lake.bucket_arns["artifacts"]
    return [
        docs.allow("ReadWriteArtifacts", ["s3:GetObject", "s3:PutObject"], [docs.objects(artifacts_arn, prefix)]),
        docs.list_prefix("ListArtifacts", artifacts_arn, [prefix]),
        docs.allow("UseLakeKey", list(docs.KMS_USE_ACTIONS), [lake.key_arn]),
    ]


def logging_statements(server_arn: pulumi.Input[str], lake: LakeRefs, prefix: str) -> list[dict]:
    """What a workload that logs runs needs: the logging actions on the server, and its artifact prefix
    (MLflow clients upload artifacts to the store themselves)."""
    artifacts_arn = lake.bucket_arns["artifacts"]
    return [
        docs.allow("LogRuns", list(LOGGING_ACTIONS), [server_arn]),
        docs.allow("WriteTrackingArtifacts", ["s3:GetObject", "s3:PutObject"], [docs.objects(artifacts_arn, prefix)]),
        docs.list_prefix("ListTrackingArtifacts", artifacts_arn, [prefix]),
    ]
