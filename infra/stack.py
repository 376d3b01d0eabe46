"""build_stack(config): the whole prodline stack for one environment, wired from components.

Called by ``infra/__main__.py`` under the real engine and by prodline's runner under mocks, so the
program that CI previews and checks is the program that deploys.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.data_lake import DataLake, TableColumn, TableSpec
from components.etl_job import EtlJob
from infra.config import StackConfig
from infra.tags import register_ownership_tags
from workloads.etl import schema

ROOT = Path(__file__).resolve().parent.parent
ETL_DIR = ROOT / "workloads" / "etl"


def build_stack(config: StackConfig) -> dict[str, pulumi.Output]:
    register_ownership_tags(config.ownership.tags())
    account_id = aws.get_caller_identity_output().account_id
    prefix = f"prodline-{config.environment}"
    database = f"prodline_{config.environment}"
    dataset = schema.DATASET

    lake = DataLake("lake", {
        "account_id": account_id,
        "region": config.region,
        "retention_days": config.lake.retention_days,
        "raw_transition_days": config.lake.raw_transition_days,
        "database_name": database,
        "tables": [
            TableSpec(f"curated_{dataset}", "curated", f"{dataset}/", _columns(schema.CURATED_COLUMNS)),
            TableSpec(f"features_{dataset}", "features", f"{dataset}/", _columns(schema.FEATURES_COLUMNS)),
        ],
        "force_destroy": config.environment == "dev",
    })

    catalog = f"arn:aws:glue:{config.region}:"
    catalog_arns = [
        pulumi.Output.concat(catalog, account_id, ":catalog"),
        pulumi.Output.concat(catalog, account_id, ":database/", database),
        pulumi.Output.concat(catalog, account_id, ":table/", database, f"/curated_{dataset}"),
        pulumi.Output.concat(catalog, account_id, ":table/", database, f"/features_{dataset}"),
    ]
    buckets = lake.refs.bucket_names
    engine = "pandas" if config.etl.job_type == "pythonshell" else "spark"
    common = {
        "job_type": config.etl.job_type,
        "lake": lake.refs,
        "log_retention_days": config.lake.log_retention_days,
        "timeout_minutes": config.etl.timeout_minutes,
        "max_retries": config.etl.max_retries,
        "worker_type": config.etl.worker_type,
        "number_of_workers": config.etl.number_of_workers,
        "library_files": _etl_library(),
        "catalog_arns": catalog_arns,
    }
    validate = EtlJob("validate", {
        **common,
        "job_name": f"{prefix}-validate",
        "script_path": str(ETL_DIR / "validate_job.py"),
        "reads": [("raw", f"{dataset}/")],
        "writes": [("curated", f"{dataset}/"), ("curated", f"quarantine/{dataset}/"),
                   ("curated", f"_runs/{dataset}/"), ("curated", f"_staging/{dataset}/")],
        "arguments": {
            "--source": _s3(buckets["raw"], f"{dataset}/"),
            "--target": _s3(buckets["curated"], f"{dataset}/"),
            "--quarantine": _s3(buckets["curated"], f"quarantine/{dataset}/"),
            "--manifests": _s3(buckets["curated"], f"_runs/{dataset}/"),
            "--dataset": dataset,
            "--database": database,
            "--engine": engine,
        },
        "schedule": config.etl.schedule,
    })
    features = EtlJob("features", {
        **common,
        "job_name": f"{prefix}-features",
        "script_path": str(ETL_DIR / "features_job.py"),
        "reads": [("curated", f"{dataset}/")],
        "writes": [("features", f"{dataset}/"), ("features", f"_runs/{dataset}/"),
                   ("features", f"_staging/{dataset}/")],
        "arguments": {
            "--source": _s3(buckets["curated"], f"{dataset}/"),
            "--target": _s3(buckets["features"], f"{dataset}/"),
            "--manifests": _s3(buckets["features"], f"_runs/{dataset}/"),
            "--dataset": dataset,
            "--database": database,
            "--engine": engine,
        },
        "start_after": validate.job_name,
    })

    outputs = {
        "lakeKeyArn": lake.key_arn,
        "lakeBuckets": lake.bucket_names,
        "catalogDatabase": lake.database_name,
        "etlJobs": {"validate": validate.job_name, "features": features.job_name},
        "etlRoles": {"validate": validate.role_arn, "features": features.role_arn},
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


def _columns(columns) -> list[TableColumn]:
    return [TableColumn(c.name, c.glue_type, c.description) for c in columns]


def _s3(bucket: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("s3://", bucket, "/", prefix)


def _etl_library() -> dict[str, str]:
    """The files a Glue job needs to ``import workloads.etl``: archive path -> local path."""
    files = [ROOT / "workloads" / "__init__.py", *sorted(ETL_DIR.glob("*.py"))]
    return {str(path.relative_to(ROOT)): str(path) for path in files}
