"""Shared test helpers: run programs under the recording mocks and pick registrations apart."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from prodline.program import Registration, record, run_program

STACKS = ("dev", "staging", "prod")
OWNERSHIP_TAGS = ("owner", "cost-center", "environment", "project", "managed-by")
ON_KUBERNETES = "prodline:servingPlatform=kubernetes"
# Shaped like image digests; no registry holds them (the program only checks their format).
IMAGE_DIGEST, CANARY_IMAGE_DIGEST = "sha256:" + "1" * 64, "sha256:" + "2" * 64
# Kubernetes serving with a canary, both images named by digest (overrides for stack_registrations).
PINNED_K8S = (ON_KUBERNETES, f"prodline:k8sImageDigest={IMAGE_DIGEST}", "prodline:k8sIngressHost=churn.example.com",
              "prodline:k8sCanaryImageTag=0.2.0", f"prodline:k8sCanaryImageDigest={CANARY_IMAGE_DIGEST}")


@cache
def _stack(stack: str, overrides: tuple[str, ...]) -> tuple[Registration, ...]:
    return tuple(run_program(stack, overrides))


def stack_registrations(stack: str, *overrides: str) -> list[Registration]:
    """The whole program's registrations for a shipped stack (cached: the program is deterministic)."""
    return list(_stack(stack, overrides))


def component_registrations(build, stack: str = "test") -> list[Registration]:
    """Run a function that declares components under the recording mocks."""
    return record(build, stack=stack)


def of_type(registrations: list[Registration], type_token: str) -> list[Registration]:
    return [r for r in registrations if r.type == type_token]


def named(registrations: list[Registration], name: str) -> Registration:
    matches = [r for r in registrations if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
    return matches[0]


def statements(policy: Any) -> list[dict[str, Any]]:
    """Statements of a policy document given as JSON text or a dict."""
    doc = json.loads(policy) if isinstance(policy, str) else policy
    found = doc["Statement"]
    return found if isinstance(found, list) else [found]


def trust_condition(role: Registration) -> dict[str, Any]:
    """The Condition of a role's one trust statement (the confused-deputy conditions of a service role)."""
    (statement,) = statements(role.inputs["assumeRolePolicy"])
    return statement["Condition"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


LAKE_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/lake"
SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def fake_lake_refs():
    """LakeRefs with fixed names, for components tested without a DataLake (call inside a program)."""
    import pulumi

    from components.data_lake import ZONES, LakeRefs

    return LakeRefs(
        bucket_names={zone: pulumi.Output.from_input(f"bucket-{zone}") for zone in ZONES},
        bucket_arns={zone: pulumi.Output.from_input(f"arn:aws:s3:::bucket-{zone}") for zone in ZONES},
        key_arn=pulumi.Output.from_input(LAKE_KEY_ARN),
        database_name=pulumi.Output.from_input("prodline_test"),
    )


def wildcard_actions(policy) -> list[str]:
    """Every action in a policy document that contains a wildcard."""
    return [a for s in statements(policy) for a in as_list(s.get("Action", [])) if "*" in a]
