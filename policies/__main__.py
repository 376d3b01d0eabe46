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
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this folder as a script, so the folder itself is first on sys.path: its modules (s3, iam,
# kubernetes ...) would shadow packages of those names. Import them as the `policies` package instead,
# from the repository root, where the rules also find the project's tables (infra/).
PACK = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != PACK]
sys.path.insert(0, str(PACK.parent))

from infra.environments import ENVIRONMENTS  # noqa: E402 (needs the path above)
from policies.pack_config import initial_config  # noqa: E402
from policies.registry import RULES  # noqa: E402


def environment() -> str:
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    return os.environ.get("PRODLINE_ENVIRONMENT") or (stack if stack in ENVIRONMENTS else "prod")


PolicyPack(
    name="prodline",
    description="ML-aware guardrails for the prodline platform: data lake, IAM, Glue, SageMaker, alarms, cost, "
                "Kubernetes serving.",
    policies=list(RULES),
    enforcement_level=EnforcementLevel.MANDATORY,
    initial_config=initial_config(environment()),
)
