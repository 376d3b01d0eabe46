"""The account bootstrap's config (``bootstrap/Pulumi.yaml``) -> one frozen, validated dataclass.

Like the stack's config (``infra/config.py``), every problem is collected and reported at once, naming
the key, the bad value and what is allowed, before a single resource is declared.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import ConfigError
from infra.model_version import OFFLINE_ENV
from standards import delivery as names
from standards.environments import ENVIRONMENTS
from standards.ownership import ownership_tags

NAMESPACE = names.BOOTSTRAP_PROJECT
PROJECT_DIR = Path(__file__).resolve().parent.parent / "bootstrap"
KEYS = ("githubRepository", "environments", "owner", "costCenter", "boundaryPolicyName", "activateCostAllocationTags")
# The placeholder the example stack file ships with: a real deploy must name the real repository.
PLACEHOLDER_OWNER = "example-org/"
# The bootstrap guards every stack's deploys, prod's included, so prod's rules judge it and its tags say so.
ENVIRONMENT = "prod"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")


@dataclass(frozen=True)
class BootstrapConfig:
    region: str
    github_repository: str
    """owner/name of the GitHub repository whose deployment environments may assume the deploy roles."""
    environments: tuple[str, ...]
    owner: str
    cost_center: str
    boundary_policy: str
    activate_cost_allocation_tags: bool = False
    """Activate the ownership tags as cost-allocation tags (the stacks' budgets filter on them)."""

    def tags(self) -> dict[str, str]:
        return ownership_tags(owner=self.owner, cost_center=self.cost_center, environment=ENVIRONMENT,
                              project=names.BOOTSTRAP_PROJECT)


def parse_bootstrap_config(raw: Mapping[str, Any]) -> BootstrapConfig:
    """``namespace:key -> value`` (values as the engine hands them) -> BootstrapConfig, or ConfigError."""
    problems: list[str] = []
    values = {key: raw.get(f"{NAMESPACE}:{key}") for key in KEYS}
    for full_key in sorted(raw):
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE and key not in KEYS:
            problems.append(f"{full_key}: unknown key; allowed keys are {', '.join(f'{NAMESPACE}:{k}' for k in KEYS)}")

    def complain(key: str, allowed: str) -> None:
        problems.append(f"{NAMESPACE}:{key}: {values[key]!r} is not allowed; expected {allowed}")

    repository = str(values["githubRepository"] or "")
    if not _REPOSITORY.fullmatch(repository):
        complain("githubRepository", "the GitHub repository as owner/name")
    elif repository.startswith(PLACEHOLDER_OWNER) and not os.environ.get(OFFLINE_ENV):
        complain("githubRepository", "your repository, not the example's placeholder")
    environments = _environments(values["environments"])
    if environments is None:
        complain("environments", f"a non-empty list of distinct environments from {', '.join(ENVIRONMENTS)}")
    for key in ("owner", "costCenter"):
        if not re.fullmatch(r"[\w .:/=+@-]{1,256}", str(values[key] or "")):
            complain(key, "1-256 characters of letters, digits, spaces and + - = . _ : / @")
    if not _POLICY_NAME.fullmatch(str(values["boundaryPolicyName"] or "")):
        complain("boundaryPolicyName", "an IAM policy name")
    activate = str(values["activateCostAllocationTags"] if values["activateCostAllocationTags"] is not None
                   else "false").lower()
    if activate not in ("true", "false"):
        complain("activateCostAllocationTags", "true or false")
    region = str(raw.get("aws:region") or "")
    if not _REGION.fullmatch(region):
        problems.append(f"aws:region: {region!r} is not allowed; expected an AWS region like eu-west-1")
    if problems:
        raise ConfigError(problems)
    return BootstrapConfig(region=region, github_repository=repository, environments=environments,
                           owner=str(values["owner"]), cost_center=str(values["costCenter"]),
                           boundary_policy=str(values["boundaryPolicyName"]),
                           activate_cost_allocation_tags=activate == "true")


def _environments(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or not value or len(set(value)) != len(value):
        return None
    if any(item not in ENVIRONMENTS for item in value):
        return None
    return tuple(value)


def from_pulumi() -> BootstrapConfig:
    """The running bootstrap stack's config, from the Pulumi runtime (real engine or mocks)."""
    from pulumi.runtime import config as runtime_config

    return parse_bootstrap_config({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()})
