"""Tracking rules on an MLflow tracking server, its artifact store and its role, as TrackingServer declares them."""

from __future__ import annotations

import json

import pytest

from policies.rules import iam, s3, tracking
from tests.policies.cases import ACCOUNT, DELETE, KEY_ARN, assert_fails, assert_passes, change, resource

BUCKET = "prodline-prod-lake-artifacts"
PREFIX = "mlflow/prodline-prod-tracking/"
SERVER = {"trackingServerName": "prodline-prod-tracking", "trackingServerSize": "Small",
          "artifactStoreUri": f"s3://{BUCKET}/{PREFIX}", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/tracking-role",
          "automaticModelRegistration": False}
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com"]}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]}
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ReadWriteArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": [f"arn:aws:s3:::{BUCKET}/{PREFIX}*"]},
    {"Sid": "ListArtifacts", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{BUCKET}"],
     "Condition": {"StringLike": {"s3:prefix": [f"{PREFIX}*"]}}},
    {"Sid": "UseLakeKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [KEY_ARN]}]}
ENCRYPTION = {"bucket": BUCKET, "rules": [{"applyServerSideEncryptionByDefault": {
    "sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}}]}
BLOCK = {"bucket": BUCKET, **dict.fromkeys(s3.PUBLIC_ACCESS_FLAGS, True)}


def stack(*, server=(), policy=None, trust=None, encryption=(), block=(), extra=()):
    return [
        resource(s3.BUCKET, "lake-artifacts", {"bucket": BUCKET}),
        resource(s3.ENCRYPTION, "lake-artifacts-encryption", change(ENCRYPTION, *encryption) if encryption
                 else ENCRYPTION),
        resource(s3.PUBLIC_ACCESS_BLOCK, "lake-artifacts-block", change(BLOCK, *block) if block else BLOCK),
        resource(iam.ROLE, "tracking-role", {"name": "tracking-role", "assumeRolePolicy": json.dumps(trust or TRUST)}),
        resource(tracking.ROLE_POLICY, "tracking-role-policy", {"role": "tracking-role",
                                                                "policy": json.dumps(policy or POLICY)}),
        resource(tracking.SERVER, "tracking-server", change(SERVER, *server) if server else SERVER),
        *extra,
    ]


@pytest.mark.parametrize("rule", tracking.RULES, ids=lambda r: r.name)
def test_the_declared_server_store_and_role_pass(rule):
    assert_passes(rule, stack())


@pytest.mark.parametrize(("encryption", "words"), [
    (("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"), "not encrypted by default"),
    (("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DELETE), "customer-managed KMS key"),
])
def test_a_store_without_a_customer_key_fails(encryption, words):
    assert_fails(tracking.sagemaker_mlflow_artifacts_encrypted, stack(encryption=encryption), "tracking-server", words)


def test_a_store_in_a_bucket_the_stack_does_not_declare_fails():
    assert_fails(tracking.sagemaker_mlflow_artifacts_encrypted,
                 stack(server=("artifactStoreUri", "s3://someone-elses-bucket/mlflow/")), "tracking-server",
                 "does not declare")


def test_a_store_whose_bucket_lets_public_policies_in_fails():
    assert_fails(tracking.sagemaker_mlflow_tracking_server_private, stack(block=("restrictPublicBuckets", False)),
                 "tracking-server", "public access block")


def test_a_role_another_principal_may_assume_fails():
    trust = change(TRUST, "Statement.0.Principal", {"Service": ["sagemaker.amazonaws.com"], "AWS": "*"})
    assert_fails(tracking.sagemaker_mlflow_tracking_server_private, stack(trust=trust), "tracking-server",
                 "may also assume")


@pytest.mark.parametrize(("path", "value", "words"), [
    ("Statement.0.Resource", [f"arn:aws:s3:::{BUCKET}/*"], "outside the store's prefix"),
    ("Statement.0.Resource", ["*"], "every bucket"),
    ("Statement.1.Condition", DELETE, "whole bucket"),
    ("Statement.1.Condition.StringLike.s3:prefix", ["*"], "whole bucket"),
])
def test_a_role_that_reaches_past_its_prefix_fails(path, value, words):
    assert_fails(tracking.sagemaker_mlflow_role_scoped, stack(policy=change(POLICY, path, value)), "tracking-server",
                 words)


def test_a_role_with_a_managed_policy_fails():
    attachment = resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "tracking-s3",
                          {"role": "tracking-role", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"})
    assert_fails(tracking.sagemaker_mlflow_role_scoped, stack(extra=[attachment]), "tracking-server",
                 "AmazonS3FullAccess")


def test_a_store_at_the_root_of_a_bucket_fails():
    assert_fails(tracking.sagemaker_mlflow_role_scoped, stack(server=("artifactStoreUri", f"s3://{BUCKET}")),
                 "tracking-server", "root of bucket")
