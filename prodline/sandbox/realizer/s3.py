"""S3: buckets, their per-bucket configuration resources, and objects (with their file assets)."""

from __future__ import annotations

import io
import json
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from prodline.sandbox.realizer.base import Context, Handler, Outputs, drop_none, tag_list

TLS_NOTE = ("statements conditioned on aws:SecureTransport are recorded, not applied: moto evaluates policy "
            "conditions wrongly and would deny every request")


def _bucket(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("bucket") or ctx.physical(urn, logical)
    s3 = ctx.clients("s3")
    kwargs: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    s3.create_bucket(**kwargs)
    if inputs.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(inputs)})
    return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}", "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "region": ctx.region}


def _delete_bucket(ctx: Context, name: str, _: Outputs) -> None:
    s3 = ctx.clients("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=name)


BUCKET = Handler(
    _bucket, _delete_bucket, carries=("bucket", "tags"),
    recorded={"forceDestroy": "the sandbox empties every bucket before deleting it, so `down` never stops "
                              "at a non-empty one"})


def bucket_setting(apply: Callable[[Any, str, dict], None], remove: Callable[[Any, str], None] | None,
                   carries: tuple[str, ...], note: str = "") -> Handler:
    """A handler for a per-bucket configuration resource (versioning, encryption, ...): ``bucket`` plus
    the fields ``apply`` maps."""
    def create(ctx: Context, urn: str, logical: str, inputs: dict):
        apply(ctx.clients("s3"), inputs["bucket"], inputs)
        return inputs["bucket"], {"bucket": inputs["bucket"]}

    def delete(ctx: Context, bucket: str, _: Outputs) -> None:
        if remove:
            remove(ctx.clients("s3"), bucket)

    return Handler(create, delete, carries=("bucket", *carries), note=note)


OWNERSHIP_CONTROLS = bucket_setting(
    lambda s3, b, i: s3.put_bucket_ownership_controls(
        Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]}),
    lambda s3, b: s3.delete_bucket_ownership_controls(Bucket=b),
    carries=("rule.objectOwnership",))

PUBLIC_ACCESS_BLOCK = bucket_setting(
    lambda s3, b, i: s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": bool(i.get("blockPublicAcls")), "IgnorePublicAcls": bool(i.get("ignorePublicAcls")),
        "BlockPublicPolicy": bool(i.get("blockPublicPolicy")),
        "RestrictPublicBuckets": bool(i.get("restrictPublicBuckets"))}),
    lambda s3, b: s3.delete_public_access_block(Bucket=b),
    carries=("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets"))

VERSIONING = bucket_setting(
    lambda s3, b, i: s3.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]}),
    None,  # a versioned bucket cannot be unversioned, only suspended; deleting the bucket removes it
    carries=("versioningConfiguration.status",))


def _encryption_rule(rule: dict) -> dict:
    default = rule["applyServerSideEncryptionByDefault"]
    return {"ApplyServerSideEncryptionByDefault": drop_none({"SSEAlgorithm": default["sseAlgorithm"],
                                                             "KMSMasterKeyID": default.get("kmsMasterKeyId")}),
            "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled"))}


ENCRYPTION = bucket_setting(
    lambda s3, b, i: s3.put_bucket_encryption(
        Bucket=b, ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(r) for r in i["rules"]]}),
    lambda s3, b: s3.delete_bucket_encryption(Bucket=b),
    carries=("rules.applyServerSideEncryptionByDefault.sseAlgorithm",
             "rules.applyServerSideEncryptionByDefault.kmsMasterKeyId", "rules.bucketKeyEnabled"))


def applicable_policy(policy: str) -> str | None:
    """The policy without its TLS-only statements (which moto would enforce on every request)."""
    doc = json.loads(policy)
    kept = [s for s in doc["Statement"] if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    return json.dumps({**doc, "Statement": kept}) if kept else None


def _put_bucket_policy(s3, bucket: str, inputs: dict) -> None:
    applicable = applicable_policy(inputs["policy"])
    if applicable:
        s3.put_bucket_policy(Bucket=bucket, Policy=applicable)


POLICY = bucket_setting(_put_bucket_policy, lambda s3, b: s3.delete_bucket_policy(Bucket=b),
                        carries=("policy",), note=TLS_NOTE)


def _lifecycle_rule(rule: dict) -> dict:
    out: dict[str, Any] = {"ID": rule["id"], "Status": rule["status"],
                           "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")}}
    if "noncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["noncurrentVersionExpiration"]["noncurrentDays"])}
    if "transitions" in rule:
        out["Transitions"] = [{"Days": int(t["days"]), "StorageClass": t["storageClass"]} for t in rule["transitions"]]
    if "expiration" in rule:
        out["Expiration"] = {"Days": int(rule["expiration"]["days"])}
    if "abortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"])}
    return out


LIFECYCLE = bucket_setting(
    lambda s3, b, i: s3.put_bucket_lifecycle_configuration(
        Bucket=b, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in i["rules"]]}),
    lambda s3, b: s3.delete_bucket_lifecycle(Bucket=b),
    carries=("rules.id", "rules.status", "rules.filter.prefix", "rules.noncurrentVersionExpiration.noncurrentDays",
             "rules.transitions.days", "rules.transitions.storageClass", "rules.expiration.days",
             "rules.abortIncompleteMultipartUpload.daysAfterInitiation"))

LOGGING = bucket_setting(
    lambda s3, b, i: s3.put_bucket_logging(Bucket=b, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": i["targetBucket"], "TargetPrefix": i.get("targetPrefix", "")}}),
    lambda s3, b: s3.put_bucket_logging(Bucket=b, BucketLoggingStatus={}),
    carries=("targetBucket", "targetPrefix"))

NOTIFICATION = bucket_setting(
    lambda s3, b, i: s3.put_bucket_notification_configuration(
        Bucket=b, NotificationConfiguration={"EventBridgeConfiguration": {}} if i.get("eventbridge") else {}),
    lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={}),
    carries=("eventbridge",))


def archive_bytes(archive: pulumi.AssetArchive) -> bytes:
    """A deterministic zip of an AssetArchive of FileAssets, as Pulumi uploads archives."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, asset in sorted(archive.assets.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, Path(asset.path).read_bytes())
    return raw.getvalue()


def _object_body(inputs: dict) -> bytes:
    source = inputs.get("source")
    if isinstance(source, pulumi.FileAsset):
        return Path(source.path).read_bytes()
    if isinstance(source, pulumi.AssetArchive):
        return archive_bytes(source)
    if isinstance(source, pulumi.StringAsset):
        return source.text.encode()
    if source is not None:
        raise ValueError(f"object {inputs.get('key')}: the sandbox cannot upload a {type(source).__name__} source "
                         "(FileAsset, StringAsset or an AssetArchive of FileAssets)")
    return (inputs.get("content") or "").encode()


def _bucket_object(ctx: Context, urn: str, logical: str, inputs: dict):
    tags = urllib.parse.urlencode(sorted((inputs.get("tags") or {}).items()))
    result = ctx.clients("s3").put_object(**drop_none({
        "Bucket": inputs["bucket"], "Key": inputs["key"], "Body": _object_body(inputs),
        "ServerSideEncryption": inputs.get("serverSideEncryption"), "SSEKMSKeyId": inputs.get("kmsKeyId"),
        "ContentType": inputs.get("contentType"), "Tagging": tags or None}))
    return inputs["key"], {"bucket": inputs["bucket"], "key": inputs["key"], "etag": result.get("ETag", ""),
                           "versionId": result.get("VersionId", "")}


def _delete_object(ctx: Context, key: str, outputs: Outputs) -> None:
    ctx.clients("s3").delete_object(Bucket=outputs["bucket"], Key=key)


OBJECT = Handler(_bucket_object, _delete_object,
                 carries=("bucket", "key", "source", "content", "serverSideEncryption", "kmsKeyId", "contentType",
                          "tags"))
