"""The stack's side of continuous delivery: its deployer, wired to the registry, the lake and the alerts.

A deploy is always ``pulumi up`` of one stack with one pinned model version, run by the stack's deployer
(``components/deployer.py``) from the repository bundle built here. The names it shares with the other
stacks and with the account bootstrap come from ``standards/delivery.py``.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pulumi

from components.data_lake import DataLake
from components.deployer import Deployer
from components.model_registry import ModelRegistry
from components.observability import Observability
from infra.config import StackConfig
from standards import delivery as names

ROOT = Path(__file__).resolve().parent.parent
# What `pip install .` and `prodline deploy` need in the build; tests, the sandbox's state and virtualenvs stay out.
BUNDLE_FILES = ("pyproject.toml", "README.md")
BUNDLE_PATTERNS = ("Pulumi*.yaml",)
BUNDLE_PACKAGES = ("infra", "components", "workloads", "policies", "prodline", "standards")
SKIPPED_DIRS = ("__pycache__",)
# Key aliases outside the stack's prefix that the deploy role must manage (none: the lake's alias is prefixed).
LAKE_KEY_ALIASES: tuple[str, ...] = ()


def repository_bundle(root: Path = ROOT) -> dict[str, bytes]:
    """Archive path -> content of every file the deployer's build needs, in a stable order."""
    paths = [root / name for name in BUNDLE_FILES]
    paths += sorted(p for pattern in BUNDLE_PATTERNS for p in root.glob(pattern))
    for package in BUNDLE_PACKAGES:
        paths += sorted(p for p in (root / package).rglob("*") if p.is_file() and _shipped(p.relative_to(root)))
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}


def _shipped(relative: Path) -> bool:
    return not any(part.startswith(".") or part in SKIPPED_DIRS for part in relative.parts) and \
        relative.suffix != ".pyc"


def boundary_arn(config: StackConfig, account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:policy/{config.delivery.permissions_boundary}"


def backend(config: StackConfig, account_id: str) -> tuple[str, str]:
    """(backend URL, state bucket): the configured s3:// backend, else the bootstrap's state bucket."""
    url = config.delivery.backend_url or f"s3://{names.state_bucket(account_id)}"
    return url, url.removeprefix("s3://").split("/", 1)[0]


def build_deployer(config: StackConfig, account_id: str, lake: DataLake, observability: Observability,
                   registry: ModelRegistry) -> dict[str, pulumi.Output]:
    """The stack's deployer; returns the stack outputs that name it."""
    url, bucket = backend(config, account_id)
    args = {
        "environment": config.environment,
        "stack": config.stack,
        "account_id": account_id,
        "region": config.region,
        "model_package_group": registry.group_name,
        "artifacts_bucket": lake.bucket_names["artifacts"],
        "artifacts_key_arn": lake.key_arn,
        "queue_key_arn": observability.alerts_key_arn,
        "alert_topic_arn": observability.topic_arn,
        "log_retention_days": config.lake.log_retention_days,
        "boundary_arn": boundary_arn(config, account_id),
        "state_bucket": bucket,
        "backend_url": url,
        "require_approval": config.delivery.require_approval,
        "source_files": repository_bundle(),
        "pulumi_version": metadata.version("pulumi"),
        "extra_key_aliases": LAKE_KEY_ALIASES,
    }
    if config.delivery.promote_to:
        args["promote_to"] = config.delivery.promote_to
    if config.serving.platform == "kubernetes" and config.kubernetes.eks_cluster_name:
        args["eks_cluster"] = config.kubernetes.eks_cluster_name
    deployer = Deployer("deployer", args)
    return {"deployQueueUrl": deployer.queue_url, "deployerProject": deployer.project_name,
            "deployerRoleArn": deployer.role_arn}
