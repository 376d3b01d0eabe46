"""Every resource type the program declares is realized in the sandbox or knowingly declared-only, and
every input the program passes is carried into the emulator or recorded with the reason it cannot be."""

from __future__ import annotations

import pytest

from prodline.sandbox.realizer import HANDLERS, declared_only_reason, is_declared_only
from tests.helpers import STACKS, stack_registrations

PLATFORMS = ((), ("prodline:servingPlatform=kubernetes",))
REGISTRY = "prodline/sandbox/realizer/registry.py"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("overrides", PLATFORMS, ids=["sagemaker", "kubernetes"])
def test_every_declared_type_is_mapped(stack, overrides):
    unmapped = sorted({r.type for r in stack_registrations(stack, *overrides)
                       if r.custom and r.type not in HANDLERS and not is_declared_only(r.type)})
    assert unmapped == [], f"add a handler to HANDLERS in {REGISTRY} (or a declared-only reason) for {unmapped}"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("overrides", PLATFORMS, ids=["sagemaker", "kubernetes"])
def test_every_input_field_is_carried_or_recorded(stack, overrides):
    gaps = sorted({f"{r.type} {r.name}: {field}" for r in stack_registrations(stack, *overrides)
                   if r.custom and r.type in HANDLERS for field in HANDLERS[r.type].unaccounted(r.inputs)})
    assert gaps == [], ("inputs the sandbox would drop; carry each in its handler or list it under `recorded` "
                        f"with the reason: {gaps}")


def test_the_stacks_exercise_both_serving_platforms():
    types = {r.type for r in stack_registrations("prod")}
    k8s_types = {r.type for r in stack_registrations("prod", *PLATFORMS[1])}
    assert "aws:sagemaker/model:Model" in types, "the SageMaker platform declares no model: the check above is empty"
    assert any(t.startswith("kubernetes:") for t in k8s_types), "the kubernetes platform declares no objects"


def test_unknown_types_are_reported_not_dropped():
    assert "no mapping" in declared_only_reason("aws:ec2/instance:Instance")
    assert "Kubernetes" in declared_only_reason("kubernetes:apps/v1:Deployment")
    assert not is_declared_only("aws:ec2/instance:Instance")


@pytest.mark.parametrize("type_token", sorted(HANDLERS))
def test_every_recorded_field_says_why(type_token):
    handler = HANDLERS[type_token]
    assert all(why.strip() for why in handler.recorded.values()), f"{type_token}: a recorded field has no reason"
    assert handler.carries or handler.recorded, f"{type_token}: the handler accounts for no input at all"
