"""The realizer against a moto server: the program's resources appear in the emulator, idempotently."""

from __future__ import annotations

import json

import pytest

from prodline.sandbox import realizer
from prodline.sandbox.clients import Clients
from prodline.sandbox.paths import WORKLOADS_LOG, sandbox_dir
from prodline.sandbox.realizer.s3 import TLS_NOTE
from prodline.sandbox.state import REALIZED, RECORDED

pytestmark = pytest.mark.e2e
NO_MODEL = ["prodline:modelPackageArn=none"]


@pytest.fixture(scope="module")
def first_up(emulator_url, tmp_path_factory):
    """dev brought up once for the file (a realization of ~120 resources costs a few seconds of two processes);
    the tests after the first build on it in file order, as ``--dist loadfile`` runs them: up again, a changed
    value, down. Each also runs alone: then this is its first up."""
    base = tmp_path_factory.mktemp("realizer")
    stale = base / "dev" / "pipelines" / "an-earlier-execution"  # what a realization before the last down left
    stale.mkdir(parents=True)
    (base / "dev" / WORKLOADS_LOG).write_text("an earlier session\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRODLINE_SANDBOX_DIR", str(base))
        patch.setenv("AWS_ENDPOINT_URL", emulator_url)
        _, result = realizer.up("dev", NO_MODEL)
        yield result
        realizer.destroy("dev")


@pytest.fixture
def sandbox(first_up, emulator_url):
    return Clients(emulator_url, "eu-west-1")


def entry(name):
    return next(e for e in realizer.status("dev") if e.name == name)


def test_up_creates_the_declared_resources_with_their_settings(sandbox, first_up):
    assert len(first_up.created) > 60
    s3 = sandbox("s3")
    raw = entry("lake-raw").outputs["bucket"]
    encryption = s3.get_bucket_encryption(Bucket=raw)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert encryption["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == entry("lake-key").outputs["arn"]
    assert s3.get_bucket_versioning(Bucket=raw)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=raw)["PublicAccessBlockConfiguration"].values())
    job = sandbox("glue").get_job(JobName="prodline-dev-validate")["Job"]
    script_bucket, script_key = job["Command"]["ScriptLocation"][5:].split("/", 1)
    assert b"validate" in s3.get_object(Bucket=script_bucket, Key=script_key)["Body"].read()
    role = job["Role"].rsplit("/", 1)[-1]
    policy = sandbox("iam").get_role_policy(RoleName=role, PolicyName=entry("validate-role-policy").outputs["name"])
    assert "s3:GetObject" in json.dumps(policy["PolicyDocument"])
    definition = json.loads(sandbox("sagemaker").describe_pipeline(
        PipelineName="prodline-dev-churn-training")["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Train", "Evaluate", "CheckQuality"]
    assert entry("lake-raw-policy").note == TLS_NOTE


def test_a_stack_realized_from_nothing_starts_without_the_work_of_an_earlier_realization(sandbox):
    directory = sandbox_dir("dev")
    assert not (directory / "pipelines").exists(), "an earlier realization's pipeline steps are stale"
    assert (directory / f"{WORKLOADS_LOG}.1").read_text() == "an earlier session\n"
    assert not (directory / WORKLOADS_LOG).exists()


def test_up_twice_creates_nothing_new(sandbox):
    kept = sandbox_dir("dev") / "glue" / "a-run-of-this-realization"
    kept.mkdir(parents=True)
    _, again = realizer.up("dev", NO_MODEL)
    assert again.created == [] and again.replaced == [] and again.deleted == []
    assert kept.is_dir(), "an up of a realized stack keeps what its runtimes wrote"
    assert len(again.unchanged) == len([e for e in realizer.status("dev") if e.status in (REALIZED, RECORDED)])


def test_a_changed_config_value_replaces_only_what_it_touches(sandbox):
    _, changed = realizer.up("dev", [*NO_MODEL, "prodline:etlTimeoutMinutes=30"])
    assert sorted(changed.replaced) == ["aws:glue/job:Job::features-job", "aws:glue/job:Job::validate-job"]
    assert sandbox("glue").get_job(JobName="prodline-dev-validate")["Job"]["Timeout"] == 30


def test_down_deletes_in_reverse_order(sandbox):
    raw = entry("lake-raw").outputs["bucket"]
    realizer.destroy("dev")
    assert realizer.status("dev") == []
    names = [b["Name"] for b in sandbox("s3").list_buckets()["Buckets"]]
    assert raw not in names
