"""The rules under `pulumi preview`'s view of a new stack: whatever a resource computes from another resource's
outputs (ids, ARNs, generated names) is unknown, and the engine reports the property dependencies instead.

Emulated on the shipped stacks: every string that contains a dependency's mock id, ARN, bucket name or key
id becomes unknown, and the properties that held one depend on that dependency. The rules must neither
crash nor report what they cannot know.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from prodline.policy_runner import evaluate
from prodline.preview import to_jsonable
from prodline.program import RecordingMocks
from tests.helpers import stack_registrations
from tests.policies.cases import REGION
from tests.policies.expected import assert_verdict

COMPUTED = ("id", "arn", "bucket", "keyId")
SECRET_KEY = "4dabf18193072939515e22adb298388d"  # a secret's wire signature: left as it is


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []


def as_in_preview(registrations):
    """(registrations with computed values unknown, their property dependencies)."""
    mocks = RecordingMocks(REGION)
    computed = {}
    for r in registrations:
        _, outputs = mocks.new_resource(pulumi.runtime.MockResourceArgs(r.type, r.name, to_jsonable(r.inputs),
                                                                        custom=r.custom))
        computed[r.urn] = {v for k, v in outputs.items() if k in COMPUTED and isinstance(v, str) and len(v) > 6}

    previewed, dependencies = [], {}
    for r in registrations:
        from_deps = {dep: computed.get(dep, set()) for dep in r.dependencies}

        def hides(text: str, from_deps=from_deps) -> bool:
            return any(value in text for values in from_deps.values() for value in values)

        def unknown(value: Any, hides=hides) -> Any:
            if isinstance(value, dict):
                return value if SECRET_KEY in value else {k: unknown(v) for k, v in value.items()}
            if isinstance(value, list):
                return [unknown(v) for v in value]
            return UNKNOWN_STRING_VALUE if isinstance(value, str) and hides(value) else value

        inputs = to_jsonable(r.inputs)
        previewed.append(dataclasses.replace(r, inputs=unknown(inputs)))
        dependencies[r.urn] = {key: [dep for dep, values in from_deps.items()
                                     if any(v in s for s in _strings(value) for v in values)]
                               for key, value in inputs.items()}
    return previewed, dependencies


@pytest.mark.parametrize("overrides", [(), ("prodline:servingPlatform=kubernetes",)], ids=["sagemaker", "kubernetes"])
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_pass_while_computed_values_are_unknown(stack, overrides):
    registrations, dependencies = as_in_preview(stack_registrations(stack, *overrides))
    assert any(UNKNOWN_STRING_VALUE in str(r.inputs) for r in registrations), "the emulation hid nothing"
    report = evaluate(registrations, stack=stack, environment=stack, region=REGION,
                      property_dependencies=dependencies)
    assert_verdict(report.violations, stack, overrides)


def test_what_is_known_is_still_judged():
    registrations, dependencies = as_in_preview([r for r in stack_registrations("prod")
                                                 if r.name not in ("lake-raw-encryption", "lake-raw-versioning")])
    report = evaluate(registrations, stack="prod", environment="prod", region=REGION,
                      property_dependencies=dependencies)
    assert {(v.rule, v.resource) for v in report.violations} == {
        ("s3-bucket-encrypted-with-kms", "lake-raw"), ("s3-bucket-versioning-enabled", "lake-raw")}
