"""EtlJob under mocks: its role grants only its prefixes, its code version is in its ScriptLocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import policy_documents as docs
from components.etl_job import EtlJob, content_hash, etl_settings
from tests.helpers import as_list, component_registrations, fake_lake_refs, named, of_type, statements

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "workloads" / "etl" / "validate_job.py")
LIBRARY = {"workloads/__init__.py": str(ROOT / "workloads" / "__init__.py")}


def job_args(**changes):
    args = {
        "job_name": "prodline-test-validate",
        "script_path": SCRIPT,
        "job_type": "pythonshell",
        "lake": None,
        "account_id": "123456789012",
        "reads": [("raw", "churn/")],
        "writes": [("curated", "churn/"), ("curated", "quarantine/churn/")],
        "arguments": {"--source": "s3://bucket-raw/churn/"},
        "log_retention_days": 14,
        "timeout_minutes": 30,
        "max_retries": 1,
        "library_files": LIBRARY,
        "schedule": "cron(0 2 * * ? *)",
        "catalog_arns": ["arn:aws:glue:eu-west-1:123456789012:catalog"],
    }
    args.update(changes)
    return args


def build(**changes):
    def program():
        EtlJob("validate", {**job_args(**changes), "lake": fake_lake_refs()})
    return component_registrations(program)


@pytest.fixture(scope="module")
def shell():
    return build()


@pytest.fixture(scope="module")
def spark():
    return build(job_type="glueetl", worker_type="G.2X", number_of_workers=4, schedule=None,
                 start_after="prodline-test-ingest")


def role_statements(regs):
    return statements(named(regs, "validate-role-policy").inputs["policy"])


def test_role_has_no_wildcard_actions(shell):
    for statement in role_statements(shell):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']} grants {action}"


def test_role_is_assumed_by_glue_only_for_this_account(shell):
    trust = statements(named(shell, "validate-role").inputs["assumeRolePolicy"])
    assert trust == [{"Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": ["glue.amazonaws.com"]},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]


def test_role_reads_raw_prefix_and_writes_only_its_prefixes(shell):
    by_sid = {s["Sid"]: s for s in role_statements(shell)}
    assert by_sid["ReadRaw"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadRaw"]["Resource"] == ["arn:aws:s3:::bucket-raw/churn/*"]
    assert by_sid["ListRaw"]["Condition"] == {"StringLike": {"s3:prefix": ["churn/*"]}}
    assert by_sid["WriteCurated"]["Resource"] == ["arn:aws:s3:::bucket-curated/churn/*",
                                                   "arn:aws:s3:::bucket-curated/quarantine/churn/*"]
    s3_resources = [r for s in role_statements(shell) for r in as_list(s["Resource"]) if r.startswith("arn:aws:s3")]
    assert not any(r.endswith(":::bucket-features/*") or "bucket-features" in r for r in s3_resources), \
        "validate job must not touch the features zone"


def test_role_uses_only_the_lake_key_and_its_own_log_group(shell):
    by_sid = {s["Sid"]: s for s in role_statements(shell)}
    assert by_sid["UseLakeKey"]["Resource"] == ["arn:aws:kms:eu-west-1:123456789012:key/lake"]
    log_group_arn = named(shell, "validate-logs").outputs["arn"]
    assert by_sid["WriteOwnLogs"]["Resource"] == [log_group_arn, f"{log_group_arn}:*"]
    assert by_sid["PublishGlueMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}


def test_script_is_uploaded_encrypted_under_its_content_hash(shell):
    version = content_hash({"validate_job.py": SCRIPT, **LIBRARY})
    script = named(shell, "validate-script")
    assert script.inputs["key"] == f"code/glue/prodline-test-validate/{version}/validate_job.py"
    assert script.inputs["serverSideEncryption"] == "aws:kms"
    job = named(shell, "validate-job")
    assert job.inputs["command"]["scriptLocation"] == f"s3://bucket-artifacts/{script.inputs['key']}"
    library = named(shell, "validate-library")
    assert job.inputs["defaultArguments"]["--extra-py-files"] == f"s3://bucket-artifacts/{library.inputs['key']}"
    assert script.urn in job.dependencies and library.urn in job.dependencies


def test_changing_the_script_changes_the_version(tmp_path):
    first = tmp_path / "job.py"
    first.write_text("print(1)\n")
    before = content_hash({"job.py": str(first)})
    first.write_text("print(2)\n")
    assert content_hash({"job.py": str(first)}) != before


def test_python_shell_job_settings(shell):
    job = named(shell, "validate-job").inputs
    assert job["command"]["name"] == "pythonshell"
    assert job["maxCapacity"] == 1.0
    assert "workerType" not in job
    assert job["timeout"] == 30 and job["maxRetries"] == 1
    assert job["executionProperty"] == {"maxConcurrentRuns": 1}
    assert job["defaultArguments"]["--job-bookmark-option"] == "job-bookmark-enable"
    assert job["defaultArguments"]["--source"] == "s3://bucket-raw/churn/"


def test_spark_job_settings(spark):
    job = named(spark, "validate-job").inputs
    assert job["command"]["name"] == "glueetl"
    assert (job["workerType"], job["numberOfWorkers"]) == ("G.2X", 4)
    assert "maxCapacity" not in job


def test_job_uses_an_encrypting_security_configuration(shell):
    security = named(shell, "validate-security").inputs
    encryption = security["encryptionConfiguration"]
    assert encryption["cloudwatchEncryption"]["cloudwatchEncryptionMode"] == "SSE-KMS"
    assert encryption["jobBookmarksEncryption"]["jobBookmarksEncryptionMode"] == "CSE-KMS"
    assert encryption["s3Encryption"]["s3EncryptionMode"] == "SSE-KMS"
    assert named(shell, "validate-job").inputs["securityConfiguration"] == security["name"]


def test_log_group_has_retention_and_the_lake_key(shell):
    logs = named(shell, "validate-logs").inputs
    assert logs["retentionInDays"] == 14
    assert logs["kmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/lake"
    assert named(shell, "validate-job").inputs["defaultArguments"]["--continuous-log-logGroup"] == logs["name"]


def test_schedule_trigger_starts_the_job(shell):
    (trigger,) = of_type(shell, "aws:glue/trigger:Trigger")
    assert trigger.inputs["type"] == "SCHEDULED"
    assert trigger.inputs["schedule"] == "cron(0 2 * * ? *)"
    assert trigger.inputs["actions"] == [{"jobName": "prodline-test-validate"}]


def test_start_after_makes_a_conditional_trigger(spark):
    (trigger,) = of_type(spark, "aws:glue/trigger:Trigger")
    assert trigger.inputs["type"] == "CONDITIONAL"
    assert trigger.inputs["predicate"] == {"logical": "AND", "conditions": [
        {"jobName": "prodline-test-ingest", "state": "SUCCEEDED", "logicalOperator": "EQUALS"}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"job_type": "lambda"}, "job_type must be one of pythonshell, glueetl"),
    ({"job_type": "glueetl", "worker_type": "G.16X"}, "worker_type must be one of"),
    ({"job_type": "glueetl", "number_of_workers": 1}, "number_of_workers must be >= 2"),
    ({"start_after": "other"}, "either schedule or start_after"),
    ({"max_retries": 5}, "max_retries must be from 0 to 3"),
    ({"timeout_minutes": 0}, "timeout_minutes must be from 1 to 2880"),
    ({"writes": [("gold", "x/")]}, "zone must be one of"),
    ({"script_path": "workloads/etl/missing.py"}, "is not a file"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    args = job_args(**change)
    args["lake"] = type("Refs", (), {"bucket_arns": {"raw": "", "curated": "", "features": "", "artifacts": ""}})()
    with pytest.raises(ValueError, match=message):
        etl_settings(args)


@pytest.mark.parametrize("action", ["*", "s3:*"])
def test_policy_builder_refuses_wildcard_actions(action):
    with pytest.raises(ValueError, match="wildcard action"):
        docs.allow("Bad", [action], ["*"])


@pytest.mark.parametrize("service", ["events.amazonaws.com", "sagemaker.amazonaws.com", "codebuild.amazonaws.com"])
def test_trust_builder_refuses_a_service_that_sends_its_source_arn_without_one(service):
    with pytest.raises(ValueError, match="aws:SourceArn"):
        docs.service_trust(service, "123456789012")


def test_python_shell_installs_its_pinned_modules():
    regs = build(python_modules=["pandas==2.2.3", "pyarrow==17.0.0"])
    arguments = named(regs, "validate-job").inputs["defaultArguments"]
    assert arguments["--additional-python-modules"] == "pandas==2.2.3,pyarrow==17.0.0"


def test_unpinned_python_modules_are_rejected():
    args = job_args(python_modules=["pandas"])
    args["lake"] = type("Refs", (), {"bucket_arns": {"raw": "", "curated": "", "features": "", "artifacts": ""}})()
    with pytest.raises(ValueError, match="pin 'pandas' to one version"):
        etl_settings(args)
