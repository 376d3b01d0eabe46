"""DataLake under mocks: every bucket private, encrypted, versioned, TLS-only, logged and self-cleaning."""

from __future__ import annotations

import pytest

from components.data_lake import ZONES, DataLake, TableColumn, TableSpec, lake_settings
from components.policy_documents import KEY_ADMIN_ACTIONS
from tests.helpers import as_list, component_registrations, named, of_type, statements

ARGS = {
    "account_id": "123456789012",
    "region": "eu-west-1",
    "retention_days": 30,
    "raw_transition_days": 45,
    "database_name": "prodline_test",
    "tables": [TableSpec("curated_churn", "curated", "churn/", [TableColumn("age", "bigint")])],
}
BUCKETS = [f"lake-{zone}" for zone in ZONES] + ["lake-access-logs"]


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: DataLake("lake", dict(ARGS)))


def bucket_name(regs, logical: str) -> str:
    return named(regs, logical).outputs["bucket"]


def attached(regs, type_token: str, logical_bucket: str):
    """The one resource of a type attached to a bucket (by its physical name)."""
    bucket = bucket_name(regs, logical_bucket)
    found = [r for r in of_type(regs, type_token) if r.inputs.get("bucket") == bucket]
    assert len(found) == 1, f"{logical_bucket}: expected one {type_token}, found {len(found)}"
    return found[0]


def test_one_bucket_per_zone_plus_access_logs(regs):
    assert sorted(r.name for r in of_type(regs, "aws:s3/bucket:Bucket")) == sorted(BUCKETS)


@pytest.mark.parametrize("zone", ZONES)
def test_zone_buckets_use_the_lake_key(regs, zone):
    sse = attached(regs, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                   f"lake-{zone}")
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms", f"lake-{zone} is not SSE-KMS"
    assert default["kmsMasterKeyId"] == named(regs, "lake-key").outputs["arn"]
    assert sse.inputs["rules"][0]["bucketKeyEnabled"] is True


def test_access_log_bucket_is_encrypted_with_s3_keys(regs):
    sse = attached(regs, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                   "lake-access-logs")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_all_public_access_is_blocked(regs, bucket):
    block = attached(regs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[flag] is True, f"{bucket}: {flag} is not set"
    ownership = attached(regs, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_bucket_policy_denies_requests_without_tls(regs, bucket):
    policy = attached(regs, "aws:s3/bucketPolicy:BucketPolicy", bucket)
    arn = named(regs, bucket).outputs["arn"]
    deny = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Deny"]
    assert len(deny) == 1, f"{bucket}: no TLS deny statement"
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Principal"] == "*"
    assert set(as_list(deny[0]["Resource"])) == {arn, f"{arn}/*"}
    public_block = named(regs, f"{bucket}-public-access-block")
    assert public_block.urn in policy.dependencies, f"{bucket}: policy may land before the public access block"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_versioning_is_enabled(regs, bucket):
    versioning = attached(regs, "aws:s3/bucketVersioning:BucketVersioning", bucket)
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_noncurrent_versions_expire_after_retention(regs, bucket):
    lifecycle = attached(regs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert all(rule["status"] == "Enabled" for rule in rules.values())


def test_raw_zone_transitions_to_infrequent_access(regs):
    lifecycle = attached(regs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-raw")
    transitions = [t for rule in lifecycle.inputs["rules"] for t in rule.get("transitions", [])]
    assert transitions == [{"days": 45, "storageClass": "STANDARD_IA"}]
    for zone in ("curated", "features", "artifacts"):
        other = attached(regs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"lake-{zone}")
        assert not any(rule.get("transitions") for rule in other.inputs["rules"]), zone


@pytest.mark.parametrize("zone", ZONES)
def test_zone_access_is_logged_to_the_log_bucket(regs, zone):
    logging = attached(regs, "aws:s3/bucketLogging:BucketLogging", f"lake-{zone}")
    assert logging.inputs["targetBucket"] == bucket_name(regs, "lake-access-logs")
    assert logging.inputs["targetPrefix"] == f"{zone}/"


def test_log_bucket_accepts_only_s3_log_delivery_for_this_account(regs):
    policy = attached(regs, "aws:s3/bucketPolicy:BucketPolicy", "lake-access-logs")
    allows = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allows[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_key_rotates_and_its_policy_names_every_action(regs):
    key = named(regs, "lake-key")
    assert key.inputs["enableKeyRotation"] is True
    for statement in statements(key.inputs["policy"]):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"key policy statement {statement['Sid']} grants {action}"
    admin = statements(key.inputs["policy"])[0]
    assert "kms:PutKeyPolicy" in admin["Action"], "the account could lock itself out of the key"
    assert set(admin["Action"]) == set(KEY_ADMIN_ACTIONS)


def test_catalog_table_is_parquet_partitioned_by_date(regs):
    table = named(regs, "lake-table-curated_churn")
    assert table.inputs["databaseName"] == "prodline_test"
    assert table.inputs["partitionKeys"] == [{"name": "dt", "type": "string"}]
    descriptor = table.inputs["storageDescriptor"]
    assert "parquet" in descriptor["serDeInfo"]["serializationLibrary"].lower()
    assert descriptor["location"] == f"s3://{bucket_name(regs, 'lake-curated')}/churn/"
    assert descriptor["columns"][0]["name"] == "age"


def test_children_are_parented_to_the_component(regs):
    lake = named(regs, "lake")
    assert all(r.parent == lake.urn for r in regs if r is not lake)


@pytest.mark.parametrize(("change", "message"), [
    ({"retention_days": 0}, "retention_days must be >= 1, got 0"),
    ({"raw_transition_days": 7}, "raw_transition_days must be >= 30"),
    ({"tables": [TableSpec("t", "gold", "t/", [])]}, "zone must be one of raw, curated, features, artifacts"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        lake_settings({**ARGS, **change})


@pytest.mark.parametrize("zone", ZONES)
def test_logging_waits_for_the_log_bucket_policy(regs, zone):
    logging = attached(regs, "aws:s3/bucketLogging:BucketLogging", f"lake-{zone}")
    assert named(regs, "lake-access-logs-policy").urn in logging.dependencies
