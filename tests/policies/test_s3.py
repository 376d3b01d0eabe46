"""S3 rules on a small hand-built lake: a data bucket logging to an access-log bucket, each fully secured."""

from __future__ import annotations

import json

import pytest

from policies.rules import cost, s3
from tests.policies.cases import (
    DELETE,
    KEY_ARN,
    assert_fails,
    assert_passes,
    changed_stack,
    judge,
    resource,
    without,
)

DATA, LOGS = "prodline-data", "prodline-logs"


def _tls_policy(bucket: str, *extra: dict) -> str:
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, *extra]})


def _secured(name: str, bucket: str, encryption: dict) -> list:
    """A bucket and every companion that DataLake gives it."""
    return [
        resource(s3.BUCKET, name, {"bucket": bucket, "tags": {}}),
        resource(s3.ENCRYPTION, f"{name}-encryption", {"bucket": bucket, "rules": [
            {"applyServerSideEncryptionByDefault": encryption, "bucketKeyEnabled": True}]}),
        resource(s3.PUBLIC_ACCESS_BLOCK, f"{name}-public-access-block",
                 {"bucket": bucket, **dict.fromkeys(s3.PUBLIC_ACCESS_FLAGS, True)}),
        resource(s3.BUCKET_POLICY, f"{name}-policy", {"bucket": bucket, "policy": _tls_policy(bucket)}),
        resource(s3.VERSIONING, f"{name}-versioning",
                 {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}}),
        resource(cost.LIFECYCLE, f"{name}-lifecycle", {"bucket": bucket, "rules": [
            {"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
             "noncurrentVersionExpiration": {"noncurrentDays": 30},
             "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]}),
    ]


def lake() -> list:
    return [
        *_secured("data", DATA, {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}),
        *_secured("logs", LOGS, {"sseAlgorithm": "AES256"}),
        resource(s3.LOGGING, "data-logging", {"bucket": DATA, "targetBucket": LOGS, "targetPrefix": "data/"}),
    ]


STACK_RULES = [*s3.RULES, cost.cost_s3_lifecycle]


@pytest.mark.parametrize("rule", STACK_RULES, ids=lambda r: r.name)
def test_a_secured_lake_passes(rule):
    assert_passes(rule, lake())


# --- encryption -------------------------------------------------------------------------------------

KMS_RULE = s3.s3_bucket_encrypted_with_kms
DEFAULT = "rules.0.applyServerSideEncryptionByDefault"


def test_a_bucket_without_encryption_fails():
    assert_fails(KMS_RULE, without(lake(), "data-encryption"), "data", "no default encryption", "kms_master_key_id")


def test_a_data_bucket_with_s3_managed_keys_fails():
    regs = changed_stack(lake(), "data-encryption", DEFAULT, {"sseAlgorithm": "AES256"})
    assert_fails(KMS_RULE, regs, "data", "AES256", "not an access-log bucket")


def test_sse_kms_with_the_aws_managed_key_fails():
    regs = changed_stack(lake(), "data-encryption", f"{DEFAULT}.kmsMasterKeyId", DELETE)
    assert_fails(KMS_RULE, regs, "data", "AWS-managed key")


def test_an_unknown_algorithm_fails():
    regs = changed_stack(lake(), "data-encryption", f"{DEFAULT}.sseAlgorithm", "aws:fancy")
    assert_fails(KMS_RULE, regs, "data", "aws:fancy")


def test_the_access_log_bucket_may_use_aes256_only_because_it_receives_logs():
    assert_passes(KMS_RULE, lake())
    # Without the BucketLogging that names it as target, the same AES256 bucket is an ordinary bucket.
    assert_fails(KMS_RULE, without(lake(), "data-logging"), "logs", "AES256")


def test_an_access_log_bucket_without_encryption_fails_asking_for_aes256():
    violation = assert_fails(KMS_RULE, without(lake(), "logs-encryption"), "logs", "no default encryption")
    assert "sse_algorithm='AES256'" in violation.message


def test_an_access_log_bucket_encrypted_with_kms_fails_because_logs_cannot_be_delivered():
    regs = changed_stack(lake(), "logs-encryption", DEFAULT, {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN})
    assert_fails(KMS_RULE, regs, "logs", "receives S3 server access logs", "AES256")


def test_a_log_target_named_by_a_bucket_inline_logging_may_use_aes256():
    regs = changed_stack(without(lake(), "data-logging"), "data", "logging", {"targetBucket": LOGS})
    assert_passes(KMS_RULE, regs)


def test_inline_bucket_encryption_counts():
    regs = changed_stack(without(lake(), "data-encryption"), "data", "serverSideEncryptionConfiguration",
                         {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                                                          "kmsMasterKeyId": KEY_ARN}}})
    assert_passes(KMS_RULE, regs)


# --- public access ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", s3.PUBLIC_ACCESS_FLAGS)
def test_each_public_access_flag_that_is_off_fails(flag):
    regs = changed_stack(lake(), "data-public-access-block", flag, False)
    assert_fails(s3.s3_public_access_block_all_flags, regs, "data-public-access-block", flag)


def test_a_public_access_flag_left_unset_fails():
    regs = changed_stack(lake(), "data-public-access-block", "ignorePublicAcls", DELETE)
    assert_fails(s3.s3_public_access_block_all_flags, regs, "data-public-access-block", "ignorePublicAcls")


def test_a_bucket_without_public_access_block_fails():
    assert_fails(s3.s3_bucket_public_access_blocked, without(lake(), "data-public-access-block"), "data",
                 "no public access block")


# --- TLS only ---------------------------------------------------------------------------------------

TLS = s3.s3_bucket_tls_only


def test_a_bucket_without_a_policy_fails():
    assert_fails(TLS, without(lake(), "data-policy"), "data", "no bucket policy")


def test_a_policy_that_does_not_deny_plain_http_fails():
    allow_only = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{DATA}/*"}]})
    assert_fails(TLS, changed_stack(lake(), "data-policy", "policy", allow_only), "data", "does not deny")


def test_a_deny_on_the_wrong_condition_fails():
    wrong = _tls_policy(DATA).replace('"aws:SecureTransport": "false"', '"aws:SecureTransport": "true"')
    assert_fails(TLS, changed_stack(lake(), "data-policy", "policy", wrong), "data", "does not deny")


def test_a_deny_for_some_actions_only_fails():
    partial = _tls_policy(DATA).replace('"Action": "s3:*"', '"Action": "s3:GetObject"')
    assert_fails(TLS, changed_stack(lake(), "data-policy", "policy", partial), "data", "does not deny")


def test_an_inline_bucket_policy_counts():
    regs = changed_stack(without(lake(), "data-policy"), "data", "policy", _tls_policy(DATA))
    assert_passes(TLS, regs)


# --- versioning and logging -------------------------------------------------------------------------

def test_a_bucket_without_versioning_fails():
    assert_fails(s3.s3_bucket_versioning_enabled, without(lake(), "data-versioning"), "data", "no versioning")


def test_suspended_versioning_fails():
    regs = changed_stack(lake(), "data-versioning", "versioningConfiguration.status", "Suspended")
    assert_fails(s3.s3_bucket_versioning_enabled, regs, "data", "Suspended")


def test_a_bucket_without_access_logging_fails_but_the_log_bucket_needs_none():
    # Without the BucketLogging, "logs" is no longer a log target either: both buckets lack logging.
    regs = without(lake(), "data-logging")
    found = {v.resource for v in judge(s3.s3_bucket_access_logging, regs)}
    assert found == {"data", "logs"}
    assert_passes(s3.s3_bucket_access_logging, lake())


def test_access_logging_is_advisory_in_dev():
    violation = assert_fails(s3.s3_bucket_access_logging,
                             changed_stack(lake(), "data-logging", "bucket", "another-bucket"), "data",
                             "no server access logging", environment="dev")
    assert violation.enforcement == "advisory"


# --- lifecycle (cost) -------------------------------------------------------------------------------

LIFECYCLE = cost.cost_s3_lifecycle


def test_a_bucket_without_lifecycle_fails_on_both_counts():
    found = judge(LIFECYCLE, without(lake(), "data-lifecycle"))
    assert [v.resource for v in found] == ["data", "data"]
    assert "noncurrent" in found[0].message and "multipart" in found[1].message


def test_a_lifecycle_that_keeps_old_versions_forever_fails():
    regs = changed_stack(lake(), "data-lifecycle", "rules.0.noncurrentVersionExpiration", DELETE)
    assert_fails(LIFECYCLE, regs, "data", "noncurrent object versions", "prodline:lakeRetentionDays")


def test_a_lifecycle_that_never_aborts_uploads_fails():
    regs = changed_stack(lake(), "data-lifecycle", "rules.0.abortIncompleteMultipartUpload", DELETE)
    assert_fails(LIFECYCLE, regs, "data", "multipart uploads")


def test_a_disabled_lifecycle_rule_does_not_count():
    regs = changed_stack(lake(), "data-lifecycle", "rules.0.status", "Disabled")
    assert len(judge(LIFECYCLE, regs)) == 2
