"""The S3 data lake: one bucket per zone, one customer-managed key, and the Glue catalog over it.

One bucket per zone (not one bucket with prefixes) because each zone has its own lifecycle (raw ages
into a cheaper class, artifacts do not), its own blast radius, and IAM grants that name whole buckets
stay short and auditable. Server access logs go to a separate log bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs

ZONES = ("raw", "curated", "features", "artifacts")

# S3 server access logging cannot write to a bucket whose default encryption is SSE-KMS, so the log
# bucket alone uses S3-managed keys (AES256). It holds request metadata, never lake data.
LOG_BUCKET_SSE = "AES256"



@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str
    comment: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A Parquet table partitioned by date, stored under ``prefix`` of a zone's bucket."""

    name: str
    zone: str
    prefix: str
    columns: Sequence[TableColumn]
    partition_column: str = "dt"


@dataclass(frozen=True)
class LakeRefs:
    """What other components need to know about the lake: names and ARNs, never the resources."""

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    key_arn: pulumi.Output[str]
    database_name: pulumi.Output[str]


class DataLakeArgs(TypedDict):
    account_id: pulumi.Input[str]
    """Account that owns the lake; scopes the key policy and log delivery."""
    region: str
    retention_days: int
    """Days a noncurrent object version is kept."""
    raw_transition_days: int
    """Days before raw objects move to STANDARD_IA."""
    database_name: str
    tables: NotRequired[Sequence[TableSpec]]
    force_destroy: NotRequired[bool]
    """Let `pulumi destroy` delete non-empty buckets (dev convenience; False by default)."""
    eventbridge_zones: NotRequired[Sequence[str]]
    """Zones whose object events go to EventBridge (the platform's "data landed" event)."""
    key_alias: NotRequired[str]
    """Alias of the lake key; defaults to ``alias/<name>``. Give each stack its own when stacks share an account."""


def lake_settings(args: DataLakeArgs) -> DataLakeArgs:
    """Validate args; raise ValueError naming the field."""
    if args["retention_days"] < 1:
        raise ValueError(f"retention_days must be >= 1, got {args['retention_days']}")
    if args["raw_transition_days"] < 30:
        raise ValueError(f"raw_transition_days must be >= 30 (S3 minimum for STANDARD_IA), "
                         f"got {args['raw_transition_days']}")
    for zone in args.get("eventbridge_zones", ()):
        if zone not in ZONES:
            raise ValueError(f"eventbridge_zones: zone must be one of {', '.join(ZONES)}, got {zone!r}")
    for table in args.get("tables", ()):
        if table.zone not in ZONES:
            raise ValueError(f"table {table.name}: zone must be one of {', '.join(ZONES)}, got {table.zone!r}")
    return args


class DataLake(pulumi.ComponentResource):
    """Raw / curated / features / artifacts buckets, encrypted with one rotating key, TLS only, private."""

    key_arn: pulumi.Output[str]
    bucket_names: dict[str, pulumi.Output[str]]
    database_name: pulumi.Output[str]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:data:DataLake", name, None, opts)
        args = lake_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        force_destroy = args.get("force_destroy", False)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"prodline data lake key ({name})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=docs.document(_key_policy(args["account_id"], args["region"])),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=args.get("key_alias", f"alias/{name}"),
                      target_key_id=self.key.key_id, opts=child)

        self.log_bucket = aws.s3.Bucket(f"{name}-access-logs", force_destroy=force_destroy, opts=child)
        log_policy = self._secure_bucket(f"{name}-access-logs", self.log_bucket, sse_algorithm=LOG_BUCKET_SSE,
                            extra_statements=[_allow_log_delivery(self.log_bucket.arn, args["account_id"])],
                            lifecycle_rules=[_expire_current("expire-logs", args["retention_days"])],
                            retention_days=args["retention_days"])

        self.buckets: dict[str, aws.s3.Bucket] = {}
        for zone in ZONES:
            bucket = aws.s3.Bucket(f"{name}-{zone}", force_destroy=force_destroy, opts=child)
            rules = [_transition("raw-to-infrequent-access", args["raw_transition_days"])] if zone == "raw" else []
            self._secure_bucket(f"{name}-{zone}", bucket, sse_algorithm="aws:kms", lifecycle_rules=rules,
                                retention_days=args["retention_days"])
            # S3 checks that the log bucket lets its logging service write before it accepts the setting.
            aws.s3.BucketLogging(f"{name}-{zone}-logging", bucket=bucket.id, target_bucket=self.log_bucket.id,
                                 target_prefix=f"{zone}/",
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]))
            if zone in args.get("eventbridge_zones", ()):
                aws.s3.BucketNotification(f"{name}-{zone}-events", bucket=bucket.id, eventbridge=True, opts=child)
            self.buckets[zone] = bucket

        self.database = aws.glue.CatalogDatabase(
            f"{name}-catalog",
            name=args["database_name"],
            description="prodline data lake catalog",
            opts=child,
        )
        self.tables = {
            table.name: self._table(name, table)
            for table in args.get("tables", ())
        }

        self.key_arn = self.key.arn
        self.bucket_names = {zone: bucket.bucket for zone, bucket in self.buckets.items()}
        self.database_name = self.database.name
        self.refs = LakeRefs(
            bucket_names=self.bucket_names,
            bucket_arns={zone: bucket.arn for zone, bucket in self.buckets.items()},
            key_arn=self.key_arn,
            database_name=self.database_name,
        )
        self.register_outputs({
            "key_arn": self.key_arn,
            "bucket_names": self.bucket_names,
            "database_name": self.database_name,
        })

    def _secure_bucket(self, name: str, bucket: aws.s3.Bucket, *, sse_algorithm: str, retention_days: int,
                       lifecycle_rules: list[dict], extra_statements: Sequence[dict] = ()) -> aws.s3.BucketPolicy:
        """Make a bucket private, versioned, encrypted, TLS-only and self-cleaning."""
        child = pulumi.ResourceOptions(parent=self)
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        default = {"sse_algorithm": sse_algorithm}
        if sse_algorithm == "aws:kms":
            default["kms_master_key_id"] = self.key.arn
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": default,
                    "bucket_key_enabled": sse_algorithm == "aws:kms"}],
            opts=child,
        )
        # The policy is attached after the public access block so S3 never sees a window without it.
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=docs.document([docs.deny_insecure_transport(bucket.arn), *extra_statements]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block, ownership]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
                *lifecycle_rules,
            ],
            opts=child,
        )
        return policy

    def _table(self, name: str, table: TableSpec) -> aws.glue.CatalogTable:
        location = pulumi.Output.concat("s3://", self.buckets[table.zone].bucket, "/", table.prefix)
        return aws.glue.CatalogTable(
            f"{name}-table-{table.name}",
            name=table.name,
            database_name=self.database.name,
            table_type="EXTERNAL_TABLE",
            parameters={"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
            partition_keys=[{"name": table.partition_column, "type": "string"}],
            storage_descriptor={
                "location": location,
                "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "ser_de_info": {"serialization_library": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
                "columns": [{"name": c.name, "type": c.type, "comment": c.comment} for c in table.columns],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )


def _key_policy(account_id: pulumi.Input[str], region: str) -> list[dict]:
    """Key policy: the account administers the key through IAM; CloudWatch Logs may use it for log groups."""
    return [
        docs.key_admin_statement(account_id),
        {
            "Sid": "CloudWatchLogsEncryptsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                       "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": pulumi.Output.concat(
                "arn:aws:logs:", region, ":", account_id, ":log-group:*")}},
        },
    ]


def _allow_log_delivery(log_bucket_arn: pulumi.Output[str], account_id: pulumi.Input[str]) -> dict:
    """S3's logging service may write access logs, only on behalf of this account's buckets."""
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(log_bucket_arn, "/*"),
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def _transition(rule_id: str, days: int) -> dict:
    return {"id": rule_id, "status": "Enabled", "filter": {},
            "transitions": [{"days": days, "storage_class": "STANDARD_IA"}]}


def _expire_current(rule_id: str, days: int) -> dict:
    return {"id": rule_id, "status": "Enabled", "filter": {}, "expiration": {"days": days}}
