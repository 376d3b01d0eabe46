"""S3 rules: every bucket encrypted with a customer key, private, TLS-only, versioned and logged.

Since pulumi-aws 7 a bucket's settings are separate resources (``BucketServerSideEncryptionConfiguration``,
``BucketVersioning``, ...) that name the bucket, so most rules here are stack rules: they look for the
companion of each bucket. Inline settings on ``aws:s3/bucket:Bucket`` (still accepted by the provider)
count too.

Access-log buckets are the one exception to KMS: S3 server access logging cannot deliver to a bucket
whose default encryption is SSE-KMS, so a bucket that is the ``targetBucket`` of a ``BucketLogging`` (or
of a bucket's inline ``logging``) must use S3-managed keys (AES256), and needs no access log of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.props import UNKNOWN, get, is_true, items, missing, policy_statements, strings

BUCKET = "aws:s3/bucket:Bucket"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
LOG_BUCKET_ALGORITHM = "AES256"
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SECURE_BUCKET = "the DataLake component secures every bucket it declares (_secure_bucket)"


def companions(stack: StackValidationArgs, type_token: str, bucket: PolicyResource,
               key: str = "bucket") -> list[PolicyResource]:
    """The resources of one type that configure a bucket (their ``bucket`` names it)."""
    return links.referring(stack.resources, [type_token], key, bucket)


def is_log_target(stack: StackValidationArgs, bucket: PolicyResource) -> bool:
    """Whether S3 delivers server access logs into this bucket."""
    if companions(stack, LOGGING, bucket, key="targetBucket"):
        return True
    named = links.identities(bucket)
    return any(get(b.props, "logging.targetBucket") in named for b in links.of_type(stack.resources, BUCKET))


def for_each_bucket(check):
    """A stack validation that runs ``check(stack, bucket)`` on each bucket and reports what it returns."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for bucket in links.of_type(args.resources, BUCKET):
            for text in check(args, bucket):
                report(text, bucket.urn)

    return validate


# --- encryption -------------------------------------------------------------------------------------

def encryption_defaults(stack: StackValidationArgs, bucket: PolicyResource) -> list[Any]:
    found = [get(rule, "applyServerSideEncryptionByDefault")
             for config in companions(stack, ENCRYPTION, bucket) for rule in items(get(config.props, "rules"))]
    found.append(get(bucket.props, "serverSideEncryptionConfiguration.rule.applyServerSideEncryptionByDefault"))
    return [d for d in found if d is not None]


def _check_encryption(stack: StackValidationArgs, bucket: PolicyResource):
    defaults = encryption_defaults(stack, bucket)
    log_target = is_log_target(stack, bucket)
    fix_kms = ("declare aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm='aws:kms' and "
               f"kms_master_key_id=<a customer-managed key ARN>; {SECURE_BUCKET}")
    if not defaults:
        yield message(bucket.name, "has no default encryption configuration",
                      "objects written without an encryption header would be stored with whatever S3 defaults to, "
                      "outside the key policy that guards lake data",
                      fix_kms if not log_target else "give it sse_algorithm='AES256' (S3-managed keys)")
        return
    for default in defaults:
        algorithm = get(default, "sseAlgorithm")
        if algorithm is UNKNOWN:
            continue
        if log_target:
            if algorithm != LOG_BUCKET_ALGORITHM:
                yield message(bucket.name, f"receives S3 server access logs but is encrypted with {algorithm!r}",
                              "S3 server access logging cannot deliver to a bucket whose default encryption is "
                              "SSE-KMS, so the access logs would silently stop",
                              "set sse_algorithm='AES256' (S3-managed keys) on the log bucket; it holds request "
                              "metadata only (DataLake's LOG_BUCKET_SSE)")
        elif algorithm == LOG_BUCKET_ALGORITHM:
            yield message(bucket.name, "is encrypted with S3-managed keys (AES256) but is not an access-log bucket",
                          "with S3-managed keys anyone with s3:GetObject reads the data; a customer-managed key adds "
                          "a key policy and a CloudTrail record of every decrypt", fix_kms)
        elif algorithm not in KMS_ALGORITHMS:
            yield message(bucket.name, f"uses an unknown encryption algorithm {algorithm!r}",
                          "only SSE-KMS with a customer-managed key is accepted for lake data", fix_kms)
        elif missing(get(default, "kmsMasterKeyId")):
            yield message(bucket.name, "uses SSE-KMS with the AWS-managed key aws/s3 (no kms_master_key_id)",
                          "the AWS-managed key's policy cannot be changed, so access to the data cannot be limited by "
                          "key grants and the key cannot be shared with the roles that need it", fix_kms)


s3_bucket_encrypted_with_kms = StackRule(
    "s3-bucket-encrypted-with-kms",
    "Requires every S3 bucket to be encrypted by default with a customer-managed KMS key; a bucket that "
    "receives server access logs must use S3-managed keys (AES256) instead, the only kind S3 logging can write to.",
    for_each_bucket(_check_encryption),
)


# --- public access ----------------------------------------------------------------------------------

def _validate_flags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    off = [flag for flag in PUBLIC_ACCESS_FLAGS
           if get(args.props, flag) is not UNKNOWN and not is_true(get(args.props, flag))]
    if off:
        report(message(args.name, f"does not set {', '.join(off)} to true",
                       "each flag closes a different path to the internet (public ACLs on upload, existing public "
                       "ACLs, public bucket policies, cross-account access through a public policy); AWS leaves "
                       "every one off unless it is set",
                       "set block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets "
                       f"to True; {SECURE_BUCKET}"))


s3_public_access_block_all_flags = ResourceRule(
    "s3-public-access-block-all-flags",
    "Requires every S3 public access block to turn on all four flags.",
    _validate_flags,
    types=[PUBLIC_ACCESS_BLOCK],
)


def _check_public_access(stack: StackValidationArgs, bucket: PolicyResource):
    if not companions(stack, PUBLIC_ACCESS_BLOCK, bucket):
        yield message(bucket.name, "has no public access block",
                      "without one, a single public ACL or bucket policy statement exposes its objects to the internet",
                      f"declare aws.s3.BucketPublicAccessBlock for it with all four flags True; {SECURE_BUCKET}")


s3_bucket_public_access_blocked = StackRule(
    "s3-bucket-public-access-blocked",
    "Requires every S3 bucket to have a public access block.",
    for_each_bucket(_check_public_access),
)


# --- TLS only ---------------------------------------------------------------------------------------

def denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    """A Deny for every principal and every S3 action when ``aws:SecureTransport`` is false."""
    if get(statement, "Effect") != "Deny" or "*" not in strings(get(statement, "Principal")):
        return False
    if not {"s3:*", "*"} & set(strings(get(statement, "Action"))):
        return False
    secure = strings(get(statement, "Condition.Bool.aws:SecureTransport"))
    return secure == ["false"] or get(statement, "Condition.Bool.aws:SecureTransport") is False


def _check_tls(stack: StackValidationArgs, bucket: PolicyResource):
    documents = [get(p.props, "policy") for p in companions(stack, BUCKET_POLICY, bucket)]
    documents += [d for d in [get(bucket.props, "policy")] if d is not None]
    fix = ("add a Deny statement for Principal '*', Action 's3:*' on the bucket and its objects with Condition "
           "{'Bool': {'aws:SecureTransport': 'false'}} (policy_documents.deny_insecure_transport); " + SECURE_BUCKET)
    if not documents:
        yield message(bucket.name, "has no bucket policy, so nothing denies requests made without TLS",
                      "S3 accepts plain-HTTP requests unless a policy denies them, exposing data and credentials "
                      "in transit", fix)
        return
    parsed = [policy_statements(d) for d in documents]
    if any(statements is None for statements in parsed):
        return  # not known during preview, or not JSON: nothing to judge yet
    if not any(denies_insecure_transport(s) for statements in parsed for s in statements):
        yield message(bucket.name, "has a bucket policy that does not deny requests made without TLS",
                      "S3 accepts plain-HTTP requests unless a policy denies them, exposing data and credentials "
                      "in transit", fix)


s3_bucket_tls_only = StackRule(
    "s3-bucket-tls-only",
    "Requires every S3 bucket policy to deny requests that are not made over TLS.",
    for_each_bucket(_check_tls),
)


# --- versioning -------------------------------------------------------------------------------------

def _check_versioning(stack: StackValidationArgs, bucket: PolicyResource):
    statuses = [get(v.props, "versioningConfiguration.status") for v in companions(stack, VERSIONING, bucket)]
    if is_true(get(bucket.props, "versioning.enabled")) or UNKNOWN in statuses or "Enabled" in statuses:
        return
    wrong = (f"has versioning {statuses[0]!r}" if statuses else "has no versioning")
    yield message(bucket.name, wrong,
                  "an object overwritten or deleted by a faulty job or a person could not be recovered",
                  f"declare aws.s3.BucketVersioning with versioning_configuration status 'Enabled'; {SECURE_BUCKET}")


s3_bucket_versioning_enabled = StackRule(
    "s3-bucket-versioning-enabled",
    "Requires every S3 bucket to have versioning enabled.",
    for_each_bucket(_check_versioning),
)


# --- access logging ---------------------------------------------------------------------------------

def _check_logging(stack: StackValidationArgs, bucket: PolicyResource):
    if is_log_target(stack, bucket) or companions(stack, LOGGING, bucket) or get(bucket.props, "logging"):
        return
    yield message(bucket.name, "has no server access logging",
                  "without access logs nobody can tell who read or changed an object after an incident",
                  "declare aws.s3.BucketLogging with target_bucket=<the access-log bucket>; DataLake logs every "
                  "zone bucket to its access-log bucket")


s3_bucket_access_logging = StackRule(
    "s3-bucket-access-logging",
    "Requires every S3 bucket, other than an access-log bucket, to deliver server access logs.",
    for_each_bucket(_check_logging),
    enforcement=ADVISORY_IN_DEV,
)

RULES = (s3_bucket_encrypted_with_kms, s3_public_access_block_all_flags, s3_bucket_public_access_blocked,
         s3_bucket_tls_only, s3_bucket_versioning_enabled, s3_bucket_access_logging)
