"""Ownership tags applied once, at stack level, to every AWS resource that takes tags.

A stack transformation rather than provider ``default_tags``: the tags then sit in each resource's own
inputs, where ``pulumi preview``, the offline preview and the policy pack all see them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from functools import cache

import pulumi


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


def ownership_transformation(tags: Mapping[str, str]):
    """A transformation that merges the ownership tags into a resource's tags; ownership tags win."""
    fixed = dict(tags)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource) or not takes_tags(type(args.resource)):
            return None
        props = dict(args.props)
        own = props.get("tags")
        if own is None:
            props["tags"] = fixed
        else:
            props["tags"] = pulumi.Output.from_input(own).apply(lambda t: {**(t or {}), **fixed})
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def register_ownership_tags(tags: Mapping[str, str]) -> None:
    pulumi.runtime.register_stack_transformation(ownership_transformation(tags))
