"""How stack rules find the resources that belong together (a bucket and its encryption, an endpoint and
its alarms) from properties alone, as the engine reports them.

A property refers to another resource in one of two ways the engine shows: through the property's
dependencies (``property_dependencies``: what Pulumi records when an Output of one resource is passed to
another, known even while values are not during preview), or by value (a name, id, ARN or bucket name
equal to one of the other resource's). Both are tried; either is enough.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource

from policies.rules.props import get, strings

# Outputs by which other resources name a resource.
IDENTITY_KEYS = ("name", "id", "arn", "bucket", "keyId")


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def identities(resource: PolicyResource) -> set[str]:
    """The strings by which others may refer to a resource: its name, id, ARN or bucket name, where known."""
    found = set()
    for key in IDENTITY_KEYS:
        value = get(resource.props, key)
        if isinstance(value, str) and value:
            found.add(value)
    return found


def refers_to(resource: PolicyResource, key: str, target: PolicyResource, values: Iterable[str] | None = None) -> bool:
    """Whether ``resource.<key>`` points at ``target``: a property dependency, or a value naming it.

    ``values`` narrows the value match to some strings under the property (an alarm's ``EndpointName``
    dimension, say); by default every string under it counts.
    """
    if any(dep.urn == target.urn for dep in _property_dependencies(resource, key)):
        return True
    named = identities(target)
    candidates = strings(get(resource.props, key)) if values is None else values
    return any(value in named for value in candidates)


def referring(resources: Iterable[PolicyResource], types: Iterable[str], key: str,
              target: PolicyResource) -> list[PolicyResource]:
    """Resources of the given types whose ``key`` points at ``target``."""
    return [r for r in of_type(resources, *types) if refers_to(r, key, target)]


def _property_dependencies(resource: PolicyResource, key: str) -> list[Any]:
    deps = getattr(resource, "property_dependencies", None) or {}
    return list(deps.get(key, []))
