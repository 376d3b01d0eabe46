"""A delivery world in moto: three stacks' registries, queues, deployers, alert topics and a features lake.

Everything but the engine and the model's answers is moto, in-process: the engine is a FakeEngine that
records its `up` calls (and what it "serves"), and sagemaker-runtime is a StubRuntime whose answers depend
on the version the engine serves, so a bad version fails the smoke gate and the restored one passes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from prodline.delivery.context import DeliveryContext
from prodline.delivery.settings import DeliverySettings
from prodline.delivery.smoke import run_smoke

REGION = "eu-west-1"
STACKS = ("dev", "staging", "prod")
SETTINGS = {
    "dev": DeliverySettings("dev", "dev", REGION, promote_to="staging", require_approval=False),
    "staging": DeliverySettings("staging", "staging", REGION, promote_to="prod", require_approval=False),
    "prod": DeliverySettings("prod", "prod", REGION, promote_to="", require_approval=True),
}
FEATURES_BUCKET = "lake-features-test"
NEWEST_DT, OLDER_DT = "2026-11-30", "2026-11-29"


@dataclass
class FakeEngine:
    """Records every `up` and what the stack then serves; `fail_on` ARNs make `up` itself fail."""

    name: str = "fake"
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    serving: dict[str, str | None] = field(default_factory=dict)
    fail_on: set[str] = field(default_factory=set)
    during_up: Callable[[str, str | None], None] | None = None

    def up(self, stack: str, model_package_arn: str | None) -> None:
        self.calls.append((stack, model_package_arn))
        if self.during_up:
            self.during_up(stack, model_package_arn)
        if model_package_arn in self.fail_on:
            raise RuntimeError(f"update of the endpoint failed\nerror: {model_package_arn} would not start")
        self.serving[stack] = model_package_arn


@dataclass
class StubRuntime:
    """sagemaker-runtime: answers per the served version's behaviour ("good" unless told otherwise)."""

    engine: FakeEngine
    behaviours: dict[str, str] = field(default_factory=dict)
    clock: list[float] = field(default_factory=lambda: [0.0])
    latency_s: float = 0.05
    invocations: list[dict] = field(default_factory=list)

    def now(self) -> float:
        return self.clock[0]

    def invoke_endpoint(self, EndpointName: str, Body: bytes, ContentType: str, Accept: str) -> dict:
        self.invocations.append({"EndpointName": EndpointName, "Body": Body, "ContentType": ContentType})
        stack = EndpointName.split("-")[1]
        behaviour = self.behaviours.get(self.engine.serving.get(stack) or "", "good")
        rows = len([line for line in Body.decode().splitlines() if line.strip()]) - 1  # minus the header
        self.clock[0] += self.latency_s * (100 if behaviour == "slow" else 1)
        if behaviour == "5xx":
            raise ClientError({"Error": {"Code": "ModelError", "Message": "Received server error (500)"},
                               "OriginalStatusCode": 500, "OriginalMessage": "model failed to load",
                               "ResponseMetadata": {"HTTPStatusCode": 424}}, "InvokeEndpoint")
        if behaviour == "503":
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "unavailable"},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "InvokeEndpoint")
        scores = {"good": [0.25] * rows, "slow": [0.25] * rows, "short": [0.25] * (rows - 1),
                  "out-of-range": [0.25] * (rows - 1) + [1.5], "text": ["churn"] * rows}[behaviour]
        return {"Body": io.BytesIO(json.dumps({"predictions": scores}).encode()), "ContentType": "application/json",
                "ResponseMetadata": {"HTTPStatusCode": 200}}


@dataclass
class World:
    ctx: DeliveryContext
    engine: FakeEngine
    runtime: StubRuntime
    published: list[dict]
    progress: list[str]
    arns: list[str]
    """Approved versions 1..3 of prodline-dev-churn; index 3 is PendingManualApproval."""
    alerts: dict[str, str]
    """Stack -> URL of an SQS queue subscribed to its alert topic."""

    def client(self, service: str) -> Any:
        return self.ctx.clients(service)

    def detail_types(self) -> list[str]:
        return [e["detail-type"] for e in self.published]

    def events_of(self, detail_type: str) -> list[dict]:
        return [e for e in self.published if e["detail-type"] == detail_type]

    def alert_messages(self, stack: str) -> list[str]:
        answer = self.client("sqs").receive_message(QueueUrl=self.alerts[stack], MaxNumberOfMessages=10)
        return [json.loads(m["Body"])["Message"] for m in answer.get("Messages", [])]

    def queue_bodies(self, stack: str) -> list[dict]:
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=f"prodline-{stack}-deploy-requests.fifo")["QueueUrl"]
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            if not messages:
                return bodies
            bodies.append(json.loads(messages[0]["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])

    def builds(self, stack: str) -> list[str]:
        return self.client("codebuild").list_builds_for_project(projectName=f"prodline-{stack}-deployer")["ids"]


def features_frame(rows: int, seed: int, id_prefix: str):
    from workloads.etl.features import add_features
    from workloads.ingest.generator import generate_typed

    frame = add_features(generate_typed(rows, seed))
    frame["customer_id"] = [f"{id_prefix}-{n}" for n in range(rows)]
    return frame


def write_features(s3, frame, dt: str) -> None:
    from workloads.etl.parquet_io import parquet_bytes, to_table
    from workloads.etl.schema import FEATURES_COLUMNS

    s3.put_object(Bucket=FEATURES_BUCKET, Key=f"churn/dt={dt}/part-00000.parquet",
                  Body=parquet_bytes(to_table(frame, FEATURES_COLUMNS)))


def _build(clients: Callable[[str], Any]) -> tuple[list[str], dict[str, str]]:
    sagemaker = clients("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="prodline-dev-churn")
    spec = {"Containers": [{"Image": "image", "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]}
    arns = [sagemaker.create_model_package(ModelPackageGroupName="prodline-dev-churn", ModelApprovalStatus=status,
                                           InferenceSpecification=spec)["ModelPackageArn"]
            for status in ("Approved", "Approved", "Approved", "PendingManualApproval")]
    sqs, sns, codebuild = clients("sqs"), clients("sns"), clients("codebuild")
    alerts = {}
    for stack in STACKS:
        sqs.create_queue(QueueName=f"prodline-{stack}-deploy-requests.fifo", Attributes={"FifoQueue": "true"})
        codebuild.create_project(
            name=f"prodline-{stack}-deployer", source={"type": "S3", "location": "artifacts/repository.zip"},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole="arn:aws:iam::123456789012:role/deployer",
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_SMALL"})
        topic = sns.create_topic(Name=f"prodline-{stack}-alerts")["TopicArn"]
        url = sqs.create_queue(QueueName=f"{stack}-alert-inbox")["QueueUrl"]
        inbox = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox)
        alerts[stack] = url
        clients("glue").create_database(DatabaseInput={"Name": f"prodline_{stack}"})
        clients("glue").create_table(DatabaseName=f"prodline_{stack}", TableInput={
            "Name": "features_churn", "StorageDescriptor": {"Location": f"s3://{FEATURES_BUCKET}/churn/"}})
    s3 = clients("s3")
    s3.create_bucket(Bucket=FEATURES_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    write_features(s3, features_frame(300, 1, "old"), OLDER_DT)
    write_features(s3, features_frame(300, 2, "new"), NEWEST_DT)
    return arns, alerts


@pytest.fixture
def world(monkeypatch):
    with mock_aws():
        cache: dict[str, Any] = {}
        engine = FakeEngine()
        runtime = StubRuntime(engine)

        def clients(service: str) -> Any:
            if service == "sagemaker-runtime":
                return runtime
            if service not in cache:
                cache[service] = boto3.client(service, region_name=REGION)
            return cache[service]

        arns, alerts = _build(clients)
        published: list[dict] = []
        progress: list[str] = []
        moments = iter(datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n) for n in range(10_000))
        ctx = DeliveryContext(clients=clients, publish=published.append, engine=engine, on_progress=progress.append,
                              now=lambda: next(moments), settings=SETTINGS.__getitem__, poll_seconds=0)
        # The smoke gate times calls on the stub's clock, so latency is what the stub says a call took.
        def on_stub_clock(ctx_, settings, **kwargs):
            kwargs.setdefault("clock", runtime.now)
            return run_smoke(ctx_, settings, **kwargs)

        monkeypatch.setattr("prodline.delivery.deploy.run_smoke", on_stub_clock)
        yield World(ctx, engine, runtime, published, progress, arns, alerts)
