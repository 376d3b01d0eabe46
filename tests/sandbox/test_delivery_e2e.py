"""Continuous delivery in the sandbox, end to end: an approval reaches dev's deployer, which deploys, smoke-tests
and promotes to staging; prod waits for a person; a version only the smoke gate catches is restored.

dev, staging and prod are realized in one embedded moto server on a free port (not 4566), with one gateway on
another; the lakes get a features partition and dev's registry a small real model, as ETL and training would
leave them. Every deploy below is started by an event reaching a deployer or by ``promote``, never by the test.
"""

from __future__ import annotations

import io
import json

import pytest

from prodline.delivery import records
from prodline.delivery.promote import promote
from prodline.net import free_port
from prodline.sandbox import shared
from prodline.sandbox.demo_delivery import DEMO_OVERRIDES, LATER_STACK_OVERRIDES, PercentScores, derived_version
from prodline.sandbox.emulator import is_up
from prodline.sandbox.lifecycle import Sandbox, down_all
from prodline.sandbox.runtimes.build import SUCCEEDED
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.training.artifacts import pack_model, save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
STACKS = ("dev", "staging", "prod")
ENDPOINT = "prodline-{}-churn"


def _features(sandbox: Sandbox, seed: int) -> None:
    """A features partition in the stack's lake, where the catalog says the table lives (the smoke gate reads it)."""
    glue = sandbox.clients("glue")
    location = glue.get_table(DatabaseName=f"prodline_{sandbox.stack}", Name="features_churn")["Table"][
        "StorageDescriptor"]["Location"]
    bucket, prefix = location[5:].rstrip("/").split("/", 1)
    body = io.BytesIO()
    add_features(generate_typed(300, seed)).to_parquet(body, index=False)
    sandbox.clients("s3").put_object(Bucket=bucket, Key=f"{prefix}/dt=2026-11-30/part-0.parquet",
                                     Body=body.getvalue())


def _register(sandbox: Sandbox, archive: bytes) -> str:
    """A version in dev's registry, waiting for approval, as the training pipeline registers one."""
    bucket = sandbox.bucket("artifacts")
    key = "pipelines/prodline-dev-churn-training/models/test/output/model.tar.gz"
    sandbox.clients("s3").put_object(Bucket=bucket, Key=key, Body=archive)
    group = sandbox.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").id
    spec = {"Containers": [{"Image": "prodline/serve:test", "ModelDataUrl": f"s3://{bucket}/{key}"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]}
    return sandbox.clients("sagemaker").create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval", InferenceSpecification=spec,
    )["ModelPackageArn"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    pipeline, metadata, baseline = train(add_features(generate_typed(2000, 7)), None, Hyperparameters(max_iter=30))
    save_model(directory, pipeline, metadata, baseline)
    archive = pack_model(directory, tmp_path_factory.mktemp("archive") / "model.tar.gz").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path_factory.mktemp("sandbox")))
        patch.setenv(shared.EMULATOR_PORT_ENV, str(free_port()))
        patch.setenv(shared.GATEWAY_PORT_ENV, str(free_port()))
        patch.setenv("PRODLINE_SANDBOX_TIME_SCALE", "0.001")
        dev = Sandbox("dev", DEMO_OVERRIDES)
        sandboxes = [dev]
        try:
            dev.up()
            for stack in STACKS[1:]:
                sandboxes.append(Sandbox(stack, LATER_STACK_OVERRIDES, parent=dev))
                sandboxes[-1].up()
            assert shared.tracking_url() is None, "up starts no MLflow server: the first job that logs does"
            for seed, sandbox in enumerate(sandboxes, 11):
                _features(sandbox, seed)
            yield dev, _register(dev, archive)
        finally:
            # All three at once: the emulator holding them is discarded, not each resource deleted one by one
            # (stack by stack, the first two downs took ~7 s here; test_shared_emulator covers that path).
            down_all(list(reversed(sandboxes)))
            assert not is_up(dev.emulator.endpoint_url), "the last stack's down must stop the shared emulator"


def _events(dev: Sandbox, mark: int = 0) -> list[tuple[str, str]]:
    return [(r.event["detail"]["stack"], r.event["detail-type"]) for r in dev.router.journal[mark:]
            if r.event.get("source") == "prodline.delivery"]


def test_an_approval_deploys_dev_promotes_to_staging_and_prod_awaits_a_person(world):
    dev, arn = world
    with dev.builds.held():
        dev.approve(arn)
    approval = next(r for r in dev.router.journal if r.event["detail-type"] == "SageMaker Model Package State Change")
    assert {d.kind for d in approval.deliveries} >= {"sqs", "codebuild"}, "the approval must reach the deployer"

    builds = dev.builds.run_pending()

    assert [(b.stack, b.status) for b in builds] == [("dev", SUCCEEDED), ("staging", SUCCEEDED)]
    assert [e for e in _events(dev) if e[1] != "Deployment Started"] == [
        ("dev", "Deployment Succeeded"), ("dev", "Deployment Promoted"), ("staging", "Deployment Succeeded"),
        ("prod", "Deployment Awaiting Approval")]
    ctx = dev.delivery_context()
    assert records.read_version(ctx, "dev").model_package_arn == arn
    assert records.read_version(ctx, "staging").model_package_arn == arn
    assert records.read_version(ctx, "prod") is None, "prod deploys only after a person's approval"
    runtime = ctx.clients("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT.format("staging"), ContentType="text/csv",
                                     Body=b"12,70.5,800.0,one-year,card,dsl,1,2,40", Accept="application/json")
    assert len(json.loads(answer["Body"].read())["predictions"]) == 1


def test_a_person_promotes_to_prod_and_is_recorded(world):
    dev, arn = world
    ctx = dev.delivery_context("prod")
    outcome = promote(ctx, "prod", arn, approver="test-reviewer")
    assert outcome.approved_by == "test-reviewer" and dev.builds.builds[-1].stack == "prod"
    assert dev.builds.builds[-1].status == SUCCEEDED
    record = records.read_version(ctx, "prod")
    assert record.model_package_arn == arn and record.promoted_by == "test-reviewer"


def test_a_version_only_the_smoke_gate_catches_is_restored(world):
    dev, good = world
    percent = derived_version(dev, ENDPOINT.format("dev"), PercentScores, "percent")
    mark = len(dev.router.journal)

    dev.approve(percent)

    failed = [r.event["detail"] for r in dev.router.journal[mark:] if r.event["detail-type"] == "Deployment Failed"]
    assert len(failed) == 1 and "outside [0, 1]" in failed[0]["reason"], failed
    assert failed[0]["restoredTo"] == good
    rollout = dev.rollouts[-2]
    assert rollout.outcome == "promoted", "the canary passes a version whose answers are all 2xx"
    assert dev.rollouts[-1].to_config == rollout.from_config, "the restore rolls the previous config back out"
    assert records.read_version(dev.delivery_context(), "dev").model_package_arn == good
    assert "-percent/" not in dev.served_model_url(ENDPOINT.format("dev"))
    assert ("staging", "Deployment Started") not in _events(dev, mark), "a red version is never promoted"
