"""What every prodline rule shares: the types it judges, its enforcement per environment, its messages.

Pulumi gives a policy one enforcement level; prodline's environments want different ones (a cost cap
blocks a dev deploy but only warns in prod). So each rule carries a level per environment, the pack's
config says which environment a stack is (``environment``, one config key per policy, with the
matching ``enforcementLevel``: see ``policies/pack_config.py``), and rules read that same key when what
they allow depends on it (instance allowlists, capacity floors). ``DISABLED`` means the rule does not
run in that environment at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from standards.environments import ENVIRONMENTS

ADVISORY, MANDATORY, DISABLED = EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY, EnforcementLevel.DISABLED
# With no config (someone runs the pack bare), a rule judges as in prod: the strictest reading.
DEFAULT_ENVIRONMENT = "prod"

Levels = Mapping[str, EnforcementLevel]


def levels(dev: EnforcementLevel, staging: EnforcementLevel, prod: EnforcementLevel) -> Levels:
    return MappingProxyType(dict(zip(ENVIRONMENTS, (dev, staging, prod), strict=True)))


EVERYWHERE = levels(MANDATORY, MANDATORY, MANDATORY)
ADVISORY_IN_DEV = levels(ADVISORY, MANDATORY, MANDATORY)
"""Hygiene a team may skip while experimenting in dev, never in the environments users reach."""
STAGING_AND_PROD = levels(DISABLED, MANDATORY, MANDATORY)
"""Rules that describe what staging and prod are (capture, manual approval); dev is deliberately looser."""
PROD_ONLY = levels(DISABLED, ADVISORY, MANDATORY)
"""High availability: staging is told, prod is held to it."""
COST_CAP = levels(MANDATORY, MANDATORY, ADVISORY)
"""Caps that save money where nobody is served, and only warn in prod, where capacity is availability."""
DEV_ONLY = levels(MANDATORY, ADVISORY, DISABLED)
HELD_IN_PROD = levels(ADVISORY, ADVISORY, MANDATORY)
"""A limit prod is held to and the other environments are told about (the estimate against the budget)."""

ENVIRONMENT_SCHEMA = PolicyConfigSchema(properties={"environment": {
    "type": "string",
    "enum": list(ENVIRONMENTS),
    "default": DEFAULT_ENVIRONMENT,
    "description": "The prodline environment of the stack (its prodline:environment config value).",
}})

TypeFilter = Collection[str] | Callable[[str], bool]


def environment(args: ResourceValidationArgs | StackValidationArgs) -> str:
    """The stack's environment from the policy's config; the strictest when it is missing or unknown."""
    value = args.get_config().get("environment")
    return value if value in ENVIRONMENTS else DEFAULT_ENVIRONMENT


def _accepts(types: TypeFilter) -> Callable[[str], bool]:
    return types if callable(types) else frozenset(types).__contains__


class ResourceRule(ResourceValidationPolicy):
    """A resource rule that looks only at some type tokens (component resources reach every rule too)."""

    def __init__(self, name: str, description: str, validate: Callable[[ResourceValidationArgs, ReportViolation], Any],
                 *, types: TypeFilter, enforcement: Levels = EVERYWHERE):
        accepts = _accepts(types)

        def only_these_types(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if accepts(args.resource_type):
                validate(args, report)

        super().__init__(name, description, validate=only_these_types,
                         enforcement_level=enforcement[DEFAULT_ENVIRONMENT], config_schema=ENVIRONMENT_SCHEMA)
        self.levels = enforcement
        self.applies_to = accepts


class StackRule(StackValidationPolicy):
    """A rule over the whole stack: for what no single resource can show (an endpoint and its alarms)."""

    def __init__(self, name: str, description: str, validate: Callable[[StackValidationArgs, ReportViolation], Any],
                 *, enforcement: Levels = EVERYWHERE):
        super().__init__(name, description, validate=validate,
                         enforcement_level=enforcement[DEFAULT_ENVIRONMENT], config_schema=ENVIRONMENT_SCHEMA)
        self.levels = enforcement


Rule = ResourceRule | StackRule


def message(resource: str, wrong: str, why: str, fix: str) -> str:
    """One violation message: the resource, what is wrong, why it matters, how to fix it."""
    return f"{resource}: {wrong}. Why: {why}. Fix: {fix}."
