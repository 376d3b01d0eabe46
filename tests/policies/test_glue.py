"""Glue rules on one job and its security configuration, as EtlJob declares them."""

from __future__ import annotations

import pytest

from policies.rules import glue
from tests.policies.cases import DELETE, KEY_ARN, assert_fails, assert_passes, change, resource

SECURITY = {"name": "prodline-prod-validate-security", "encryptionConfiguration": {
    "cloudwatchEncryption": {"cloudwatchEncryptionMode": "SSE-KMS", "kmsKeyArn": KEY_ARN},
    "jobBookmarksEncryption": {"jobBookmarksEncryptionMode": "CSE-KMS", "kmsKeyArn": KEY_ARN},
    "s3Encryption": {"s3EncryptionMode": "SSE-KMS", "kmsKeyArn": KEY_ARN}}}
JOB = {"name": "prodline-prod-validate", "command": {"name": "glueetl", "scriptLocation": "s3://b/validate_job.py"},
       "timeout": 60, "maxRetries": 1, "securityConfiguration": "prodline-prod-validate-security"}


def etl(security_change=None, job_change=None):
    security = change(SECURITY, *security_change) if security_change else SECURITY
    job = change(JOB, *job_change) if job_change else JOB
    return [resource(glue.SECURITY_CONFIGURATION, "validate-security", security),
            resource(glue.JOB, "validate-job", job)]


@pytest.mark.parametrize("rule", glue.RULES, ids=lambda r: r.name)
def test_an_encrypted_bounded_job_passes(rule):
    assert_passes(rule, etl())


@pytest.mark.parametrize(("setting", "mode_key", "what"), [(s, m, w) for s, m, _, w in glue.ENCRYPTION_TARGETS])
def test_each_target_left_unencrypted_fails(setting, mode_key, what):
    regs = etl(security_change=(f"encryptionConfiguration.{setting}.{mode_key}", "DISABLED"))
    assert_fails(glue.glue_security_configuration_encrypted, regs, "validate-security", what, "unencrypted")


def test_a_missing_encryption_target_fails():
    regs = etl(security_change=("encryptionConfiguration.jobBookmarksEncryption", DELETE))
    assert_fails(glue.glue_security_configuration_encrypted, regs, "validate-security", "job bookmarks")


def test_s3_managed_output_encryption_fails():
    regs = etl(security_change=("encryptionConfiguration.s3Encryption.s3EncryptionMode", "SSE-S3"))
    assert_fails(glue.glue_security_configuration_encrypted, regs, "validate-security", "SSE-S3")


def test_kms_mode_without_a_key_fails():
    regs = etl(security_change=("encryptionConfiguration.cloudwatchEncryption.kmsKeyArn", DELETE))
    assert_fails(glue.glue_security_configuration_encrypted, regs, "validate-security", "names no KMS key")


def test_a_job_without_security_configuration_fails():
    assert_fails(glue.glue_job_security_configuration, etl(job_change=("securityConfiguration", DELETE)),
                 "validate-job", "without a security configuration")


@pytest.mark.parametrize(("timeout", "words"), [(DELETE, "sets no timeout"), (4000, "4000 minutes"),
                                                (0, "0 minutes")])
def test_a_job_without_a_bounded_timeout_fails(timeout, words):
    assert_fails(glue.glue_job_timeout, etl(job_change=("timeout", timeout)), "validate-job", words,
                 "prodline:etlTimeoutMinutes")


def test_a_streaming_job_needs_no_timeout():
    regs = etl(job_change=("command.name", "gluestreaming"))
    assert_passes(glue.glue_job_timeout, [regs[0], resource(glue.JOB, "stream", change(regs[1].inputs, "timeout",
                                                                                        DELETE))])


def test_too_many_retries_fail():
    assert_fails(glue.glue_job_retries_bounded, etl(job_change=("maxRetries", 10)), "validate-job", "10 times",
                 "prodline:etlMaxRetries")


def test_unset_retries_mean_none():
    assert_passes(glue.glue_job_retries_bounded, etl(job_change=("maxRetries", DELETE)))
