"""Batch Transform, locally: the runtime splits, bounds and parallelises requests by the job's contract, scores
through the real server, and fails a job clearly (alerting the topic in prod) when the model cannot answer."""

from __future__ import annotations

import io
import json
import time
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.batch_definition import BatchSpec, build_batch_definition
from components.code_bundle import zip_bytes
from components.pipeline_events import execution_failed
from infra.stack import batch_bundle
from prodline.sandbox.clients import Clients
from prodline.sandbox.emulator import DUMMY_CREDENTIALS
from prodline.sandbox.runtimes.events import EventRouter
from prodline.sandbox.runtimes.pipeline import PipelineRunner, scoring_summary
from prodline.sandbox.runtimes.transform import (
    FAILED,
    MB,
    Contract,
    ModelServer,
    Sender,
    TransformFailed,
    contract_of,
    load,
    payloads,
    run_transform_job,
)
from workloads.etl.features import add_features
from workloads.etl.schema import ID_COLUMN, MODEL_INPUT_COLUMNS
from workloads.ingest.generator import generate_typed
from workloads.training.artifacts import load_model, pack_model, save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

REGION = "eu-west-1"
INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]


def contract(limit: int = 1000, strategy: str = "MultiRecord", concurrency: int = 2) -> Contract:
    return Contract(strategy=strategy, max_payload_bytes=limit, concurrency=concurrency, split="Line",
                    content_type="text/csv", accept="text/csv", assemble="Line")


# --- the contract, pure ---------------------------------------------------------------------------------

def test_multi_record_payloads_hold_whole_lines_within_the_bound():
    lines = [f"{i},{'x' * (i % 37)}" for i in range(500)]
    data = ("\n".join(lines) + "\n").encode()
    chunks = list(payloads(data, contract(limit=1000)))
    assert len(chunks) > 5
    assert all(len(body) <= 1000 and body.endswith(b"\n") for body, _ in chunks), "a request broke the bound or a line"
    assert b"".join(body for body, _ in chunks) == data
    assert sum(records for _, records in chunks) == len(lines)


def test_single_record_sends_one_line_per_request():
    data = b"a,1\nb,2\nc,3"
    assert list(payloads(data, contract(strategy="SingleRecord"))) == [(b"a,1\n", 1), (b"b,2\n", 1), (b"c,3", 1)]


def test_a_record_longer_than_the_payload_bound_fails_the_job():
    with pytest.raises(TransformFailed, match="longer than MaxPayloadInMB"):
        list(payloads(b"short\n" + b"y" * 2000 + b"\n", contract(limit=1000)))


def test_the_job_decides_and_the_container_fills_what_it_leaves_unset():
    job = {"TransformInput": {"SplitType": "Line", "ContentType": "text/csv"},
           "TransformOutput": {"AssembleWith": "Line"}, "MaxPayloadInMB": 2}
    found = contract_of(job, {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 6})
    assert (found.max_payload_bytes, found.concurrency, found.strategy) == (2 * MB, 3, "SingleRecord")


# --- against the emulator and the real server -----------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("batch-model")
    pipeline, metadata, baseline = train(add_features(generate_typed(3000, 5)), None, Hyperparameters(max_iter=30))
    save_model(directory, pipeline, metadata, baseline)
    return directory


@pytest.fixture(scope="module")
def aws(emulator_url, model_dir, tmp_path_factory):
    """The emulator with a lake bucket, the model's artifact and a registered, approved model package."""
    clients = Clients(emulator_url, REGION)
    s3, sm = clients("s3"), clients("sagemaker")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    archive = pack_model(model_dir, tmp_path_factory.mktemp("tar") / "model.tar.gz")
    s3.upload_file(str(archive), bucket, "pipelines/train/model.tar.gz")
    group = f"prodline-prod-churn-{uuid.uuid4().hex[:6]}"  # the emulator may be shared with other modules
    sm.create_model_package_group(ModelPackageGroupName=group)
    package = sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "sklearn", "ModelDataUrl":
                                                f"s3://{bucket}/pipelines/train/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    return clients, bucket, package


def rows_csv(count: int, seed: int) -> tuple[pd.DataFrame, bytes]:
    frame = generate_typed(count, seed)
    return frame, frame[INPUTS].to_csv(header=False, index=False, lineterminator="\n").encode()


def create_job(aws, name: str, model: str, source: str) -> str:
    """A job of 1 MB requests, two at a time, written encrypted."""
    clients, bucket, _ = aws
    clients("sagemaker").create_transform_job(
        TransformJobName=name, ModelName=model, BatchStrategy="MultiRecord", MaxPayloadInMB=1,
        MaxConcurrentTransforms=2,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{bucket}/out/{name}", "AssembleWith": "Line", "Accept": "text/csv",
                         "KmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/lake"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    return name


def test_a_transform_job_scores_every_record_as_the_model_does_within_its_contract(aws, model_dir, tmp_path):
    clients, bucket, package = aws
    s3, sm = clients("s3"), clients("sagemaker")
    frame, body = rows_csv(40_000, 3)
    half = body.index(b"\n", len(body) // 2) + 1
    s3.put_object(Bucket=bucket, Key="in/a/part-0.csv", Body=body[:half])
    s3.put_object(Bucket=bucket, Key="in/a/part-1.csv", Body=body[half:])
    sm.create_model(ModelName="scoring-model", PrimaryContainer={"ModelPackageName": package},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/r")
    job = create_job(aws, "job-ok", "scoring-model", f"s3://{bucket}/in/a/")

    result = run_transform_job(clients, job, tmp_path)

    assert result.status == "Completed", result.failure_reason
    assert result.records == len(frame) and result.requests >= 3, "1 MB requests of ~2 MB of records"
    assert result.largest_request_bytes <= 1 * MB, "a request exceeded MaxPayloadInMB"
    assert result.most_in_flight == 2, "MaxConcurrentTransforms=2: two requests must be in flight together"
    answers = b"".join(s3.get_object(Bucket=bucket, Key=f"out/{job}/part-{i}.csv.out")["Body"].read()
                       for i in (0, 1))
    expected = load_model(model_dir).pipeline.predict_proba(frame[INPUTS])[:, 1]
    assert [float(v) for v in answers.splitlines()] == pytest.approx(expected.tolist())
    head = s3.head_object(Bucket=bucket, Key=f"out/{job}/part-0.csv.out")
    assert head.get("ServerSideEncryption") == "aws:kms", "the output must be written with the job's KMS key"
    assert load(tmp_path, job)["status"] == "Completed"


def test_a_job_whose_model_container_stops_fails_with_a_clear_reason(aws, tmp_path):
    clients, bucket, package = aws
    _, body = rows_csv(500, 4)
    clients("s3").put_object(Bucket=bucket, Key="in/b/part-0.csv", Body=body)
    clients("sagemaker").create_model(ModelName="stopping-model", PrimaryContainer={"ModelPackageName": package},
                                      ExecutionRoleArn="arn:aws:iam::123456789012:role/r")
    job = create_job(aws, "job-stopped", "stopping-model", f"s3://{bucket}/in/b/")

    result = run_transform_job(clients, job, tmp_path, on_server=lambda server: server.stop())

    assert result.status == FAILED and result.outputs == []
    assert "the model container stopped answering" in result.failure_reason
    assert load(tmp_path, job)["failure_reason"] == result.failure_reason


def test_a_job_against_a_missing_model_fails_naming_it(aws, tmp_path):
    clients, bucket, _ = aws
    job = create_job(aws, "job-missing", "no-such-model", f"s3://{bucket}/in/b/")
    result = run_transform_job(clients, job, tmp_path)
    assert result.status == FAILED and "model no-such-model cannot be found" in result.failure_reason


def test_a_kept_alive_connection_the_server_closed_while_idle_is_replaced(model_dir, tmp_path, monkeypatch):
    """Between input objects (or benchmark rounds) the server's keep-alive timeout may close the connection."""
    monkeypatch.setenv("PRODLINE_SERVER_KEEPALIVE_TIMEOUT_SECONDS", "0.2")
    server = ModelServer(model_dir, tmp_path / "serve.log", workers=1, max_payload_mb=1)
    try:
        server.wait_healthy()
        sender = Sender(server.port, contract())
        _, body = rows_csv(20, 1)
        assert len(sender.send(body).splitlines()) == 20
        time.sleep(1.5)  # the server's sweep closes the idle connection
        assert len(sender.send(body).splitlines()) == 20
    finally:
        server.stop()


# --- the batch scoring pipeline, end to end -------------------------------------------------------------

def pipeline_for(aws, name: str, package: str) -> tuple[str, str]:
    """The component's definition, with the test's bucket, in the emulator; features for one partition."""
    clients, bucket, _ = aws
    s3 = clients("s3")
    s3.put_object(Bucket=bucket, Key=f"code/{name}/sourcedir.zip", Body=zip_bytes(batch_bundle()))
    frame = generate_typed(1200, 9)[[ID_COLUMN, *INPUTS]]
    parquet = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet)
    s3.put_object(Bucket=bucket, Key=f"{name}/churn/dt=2026-01-02/part-0.parquet", Body=parquet.getvalue())
    spec = BatchSpec(
        image_uri="sklearn", role_arn="arn:aws:iam::123456789012:role/batch", kms_key_arn="arn:aws:kms:key/lake",
        model_package_arn=package, features_uri=f"s3://{bucket}/{name}/churn/",
        work_uri=f"s3://{bucket}/{name}/work/", predictions_uri=f"s3://{bucket}/{name}/predictions/churn/",
        code_uri=f"s3://{bucket}/code/{name}/", database="prodline_prod", table="predictions_churn",
        instance_type="ml.m5.large", instance_count=1, processing_instance_type="ml.m5.large", max_payload_mb=6,
        max_concurrent_transforms=2)
    arn = clients("sagemaker").create_pipeline(
        PipelineName=name, PipelineDefinition=json.dumps(build_batch_definition(spec)),
        RoleArn="arn:aws:iam::123456789012:role/batch")["PipelineArn"]
    return arn, f"{name}/predictions/churn/"


def runner(aws, emulator_url, tmp_path, router=None) -> PipelineRunner:
    clients = aws[0]
    env = {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": emulator_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
    return PipelineRunner(clients, tmp_path, env, router.emit if router else None)


def test_the_scoring_pipeline_publishes_every_row_with_its_lineage(aws, emulator_url, tmp_path):
    clients, bucket, package = aws
    _, predictions = pipeline_for(aws, "scoring-ok", package)

    execution = runner(aws, emulator_url, tmp_path).start("scoring-ok", None, "test")

    assert execution.status == "Succeeded", execution.failure
    listed = clients("s3").list_objects_v2(Bucket=bucket, Prefix=predictions)["Contents"]
    (key,) = [o["Key"] for o in listed]
    assert key.startswith(f"{predictions}dt=2026-01-02/part-pipelines-")
    table = pq.read_table(io.BytesIO(clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read())).to_pandas()
    assert list(table.columns) == ["customer_id", "score", "model_package_arn", "model_version", "scoring_job_id"]
    assert len(table) == 1200 and table["customer_id"].is_unique
    assert set(table["model_package_arn"]) == {package}
    assert set(table["model_version"]) == {int(package.rsplit("/", 1)[1])}
    assert set(table["scoring_job_id"]) == {execution.transform["job_name"]}
    summary = scoring_summary(execution)
    assert (summary["rows_scored"], summary["partition"], summary["job_id"]) == (
        1200, "dt=2026-01-02", execution.transform["job_name"])
    assert summary["model_version"] == int(package.rsplit("/", 1)[1])


def test_a_scoring_run_against_a_stopped_model_fails_and_alerts_the_topic(aws, emulator_url, tmp_path):
    """In prod the stack routes a failed execution to its alert topic (the component's rule, same pattern)."""
    clients, bucket, package = aws
    pipeline_arn, predictions = pipeline_for(aws, "scoring-stopped", package)
    sns, sqs, events = clients("sns"), clients("sqs"), clients("events")
    topic = sns.create_topic(Name="prodline-prod-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"oncall-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    events.put_rule(Name="batch-failed-test", EventPattern=json.dumps(execution_failed(pipeline_arn)))
    events.put_targets(Rule="batch-failed-test", Targets=[{"Id": "alert", "Arn": topic}])
    router = EventRouter(clients, "123456789012", REGION)
    pipelines = runner(aws, emulator_url, tmp_path, router)
    pipelines.on_transform_server = lambda server: server.stop()  # the model stops once it has started

    execution = pipelines.start("scoring-stopped", None, "test")

    assert execution.status == "Failed"
    assert "stopped answering" in execution.failure and "Transform" in execution.failure
    assert [s.name for s in execution.steps] == ["PrepareRecords", "Model", "Transform"], "nothing is published"
    assert "Contents" not in clients("s3").list_objects_v2(Bucket=bucket, Prefix=predictions)
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert messages and pipeline_arn in messages[0]["Body"] and "Failed" in messages[0]["Body"]
    events.remove_targets(Rule="batch-failed-test", Ids=["alert"])
    events.delete_rule(Name="batch-failed-test")
