"""Every resource type the program declares is realized in the sandbox or knowingly declared-only."""

from __future__ import annotations

import pytest

from prodline.sandbox.handlers import DECLARED_ONLY, HANDLERS, declared_only_reason
from tests.helpers import STACKS, stack_registrations

PLATFORMS = ((), ("prodline:servingPlatform=kubernetes",))


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("overrides", PLATFORMS, ids=["sagemaker", "kubernetes"])
def test_every_declared_type_is_mapped(stack, overrides):
    unmapped = sorted({r.type for r in stack_registrations(stack, *overrides)
                       if r.custom and r.type not in HANDLERS
                       and not any(r.type.startswith(prefix) for prefix in DECLARED_ONLY)})
    assert unmapped == [], f"add a handler (prodline/sandbox/handlers.py HANDLERS) for {unmapped}"


def test_unknown_types_are_reported_not_dropped():
    assert "no mapping" in declared_only_reason("aws:ec2/instance:Instance")
    assert "Kubernetes" in declared_only_reason("kubernetes:apps/v1:Deployment")
