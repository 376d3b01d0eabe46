"""Every rule of the pack, in the order reports list them: the one list the pack and the offline runner share."""

from __future__ import annotations

from policies.rule import Rule
from policies.rules import (
    apigateway,
    batch,
    cloudwatch,
    cost,
    delivery,
    glue,
    iam,
    kms,
    kubernetes,
    monitoring,
    s3,
    sagemaker,
    streaming,
    tagging,
    tracking,
)

MODULES = (s3, kms, iam, glue, sagemaker, tracking, monitoring, batch, cloudwatch, streaming, apigateway, tagging,
           cost, kubernetes, delivery)
RULES: tuple[Rule, ...] = tuple(rule for module in MODULES for rule in module.RULES)


def service(rule: Rule) -> str:
    """The module (service) a rule belongs to: ``s3``, ``sagemaker`` ..."""
    return next(module.__name__.rsplit(".", 1)[-1] for module in MODULES if rule in module.RULES)


def by_name(name: str) -> Rule:
    for rule in RULES:
        if rule.name == name:
            return rule
    raise KeyError(f"no rule named {name!r}; rules are: {', '.join(r.name for r in RULES)}")
