"""Ownership: the tags every AWS resource carries, and which resource types can carry them.

The stack transformation (``infra/tags.py``) puts exactly these tags on every type that takes tags, and the
tagging rules (``policies/rules/tagging.py``) ask exactly that, so both read the keys and the type test here.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache

# The five tags every taggable resource carries (values come from each stack's config).
OWNERSHIP_TAG_KEYS = ("owner", "cost-center", "environment", "project", "managed-by")
MANAGED_BY = "pulumi"


def ownership_tags(*, owner: str, cost_center: str, environment: str, project: str) -> dict[str, str]:
    """The ownership tags of one stack, keyed as ``OWNERSHIP_TAG_KEYS``."""
    values = (owner, cost_center, environment, project, MANAGED_BY)
    return dict(zip(OWNERSHIP_TAG_KEYS, values, strict=True))


@cache
def takes_tags(resource_class: type) -> bool:
    """True when a resource class accepts a ``tags`` map (pulumi-aws declares it on ``_internal_init``)."""
    init = getattr(resource_class, "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters


def class_for(type_token: str) -> type | None:
    """The SDK class of a type token such as ``aws:s3/bucket:Bucket`` (None for non-AWS types)."""
    package, module_path, class_name = type_token.split(":")
    if package != "aws":
        return None
    module = module_path.split("/")[0]
    python_module = "pulumi_aws" if module == "index" else f"pulumi_aws.{module}"
    return getattr(importlib.import_module(python_module), class_name, None)


def type_takes_tags(type_token: str) -> bool:
    """True when resources of this type token accept tags: what the ownership check is owed."""
    cls = class_for(type_token)
    return cls is not None and takes_tags(cls)
