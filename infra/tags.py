"""Ownership tags applied once, at stack level, to every AWS resource that takes tags.

A stack transformation rather than provider ``default_tags``: the tags then sit in each resource's own
inputs, where ``pulumi preview``, the offline preview and the policy pack all see them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from standards.ownership import takes_tags, type_takes_tags

__all__ = ["ownership_transformation", "register_ownership_tags", "takes_tags", "type_takes_tags"]


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
