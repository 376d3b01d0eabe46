"""Building blocks for rule tests: hand-made registrations, one change at a time, and a verdict per rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from policies.rule import Rule
from prodline.policy_runner import Violation, evaluate
from prodline.program import Registration

STACK = "prod"
PROJECT = "prodline"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/lake"
DELETE = object()
"""A change that removes the property instead of setting it."""


def urn(type_token: str, name: str, stack: str = STACK) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_token}::{name}"


def resource(type_token: str, name: str, inputs: dict[str, Any], *, depends_on: Iterable[Registration] = (),
             custom: bool = True) -> Registration:
    """A registration as the recording mocks make it (no parent: the rules never need one)."""
    return Registration(type=type_token, name=name, urn=urn(type_token, name), parent=None, custom=custom,
                        inputs=_copy(inputs), dependencies=[d.urn for d in depends_on])


def change(inputs: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``inputs`` with one property set (or removed, with DELETE).

    ``path`` is dotted, list indexes too; the index just past a list's end appends.
    """
    changed = _copy(inputs)
    *parents, last = path.split(".")
    target: Any = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    if isinstance(target, list):
        index = int(last)
        target[index:index + 1] = [value]
    elif value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return changed


def _copy(value: Any) -> Any:
    """A copy of nested dicts and lists that shares nothing (deepcopy would keep shared sub-dicts shared)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def changed_stack(registrations: Sequence[Registration], name: str, path: str, value: Any) -> list[Registration]:
    """A copy of a whole stack with one property of one resource changed."""
    found = [r for r in registrations if r.name == name]
    assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
    return [dataclasses.replace(r, inputs=change(r.inputs, path, value)) if r.name == name else r
            for r in registrations]


def without(registrations: Sequence[Registration], *names: str) -> list[Registration]:
    missing = set(names) - {r.name for r in registrations}
    assert not missing, f"no resources named {', '.join(sorted(missing))}"
    return [r for r in registrations if r.name not in names]


def judge(rule: Rule, registrations: Sequence[Registration], environment: str = STACK) -> list[Violation]:
    """What one rule reports on some registrations in an environment (nothing when it is disabled there)."""
    return evaluate(list(registrations), stack=environment, environment=environment, region=REGION,
                    rules=[rule]).violations


def assert_passes(rule: Rule, registrations: Sequence[Registration], environment: str = STACK) -> None:
    found = judge(rule, registrations, environment)
    assert not found, f"{rule.name} should pass in {environment}, reported: " + "; ".join(v.message for v in found)


def assert_fails(rule: Rule, registrations: Sequence[Registration], resource_name: str, *words: str,
                 environment: str = STACK) -> Violation:
    """The rule reports exactly one violation, on the named resource, whose message says each of ``words``."""
    found = judge(rule, registrations, environment)
    assert len(found) == 1, f"{rule.name} should report one violation, reported {[v.message for v in found]}"
    violation = found[0]
    assert violation.resource == resource_name, f"{rule.name} blamed {violation.resource}, not {resource_name}"
    for word in (resource_name, "Why:", "Fix:", *words):
        assert word in violation.message, f"{rule.name}'s message lacks {word!r}: {violation.message}"
    return violation
