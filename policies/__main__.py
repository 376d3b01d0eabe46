"""The policy pack the Pulumi CLI runs: ``pulumi preview --policy-pack policies``.

The only place the PolicyPack is constructed: constructing it starts the policy server and never
returns, so rules live in importable modules that tests and ``prodline policy`` use directly.

Enforcement depends on the environment. Pass the environment's config file, which sets each rule's
level and the ``environment`` it judges for::

    pulumi preview --stack prod --policy-pack policies --policy-pack-config policies/config/prod.json

Without one, the pack starts with the levels of ``PRODLINE_ENVIRONMENT``, else of the stack's name when
the CLI passes it (``PULUMI_STACK``) and it names an environment, else of prod, the strictest.
"""

import os

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack_config import initial_config
from policies.registry import RULES

# The CLI runs this folder as a script, so the folder itself is first on the import path. Nothing here may shadow an
# installed module: the folder holds only this entry point and modules with names of their own (pack_config,
# registry, rule), and the rules live in the policies.rules subpackage. The project is installed in the
# virtualenv the pack runs in (PulumiPolicy.yaml), so `policies` and `infra` import as packages from there.
from standards.environments import ENVIRONMENTS


def environment() -> str:
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    return os.environ.get("PRODLINE_ENVIRONMENT") or (stack if stack in ENVIRONMENTS else "prod")


PolicyPack(
    name="prodline",
    description="ML-aware guardrails for the prodline platform: data lake, IAM, Glue, SageMaker, alarms, cost, "
                "Kubernetes serving, continuous delivery.",
    policies=list(RULES),
    enforcement_level=EnforcementLevel.MANDATORY,
    initial_config=initial_config(environment()),
)
