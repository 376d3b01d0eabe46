"""The delivery settings of one stack, read from its stack config with the project's own loader.

Why here and not in each caller: the deploy path needs the same five facts about every stack it touches
(its environment for resource names, where it promotes to, whether it needs a person's approval, and the
smoke gate's bounds), and it needs them for the *next* stack too. Reading them through
``prodline.stack_files`` + ``infra.config.parse_config`` means a bad stack file fails here exactly as it
fails ``pulumi up``. Keys are looked up by their config name in ``infra.config.KEYS``, so this module does
not depend on which settings dataclass declares them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from standards import delivery as names

DEFAULT_SMOKE_ROWS = 20
DEFAULT_SMOKE_LATENCY_MS = 2000
REQUIRE_APPROVAL_ENV = "PRODLINE_REQUIRE_APPROVAL"
"""Set by the deployer's build; it can only add the approval requirement, never take it away."""


@dataclass(frozen=True)
class DeliverySettings:
    stack: str
    environment: str
    region: str
    promote_to: str = ""
    """The stack a green deploy hands the version to; "" for none."""
    require_approval: bool = False
    smoke_rows: int = DEFAULT_SMOKE_ROWS
    smoke_latency_ms: int = DEFAULT_SMOKE_LATENCY_MS
    platform: str = "sagemaker"
    """Where the stack serves: ``sagemaker`` or ``kubernetes`` (whose image canaries the deploy path bakes)."""
    canary_bake_seconds: int = 600

    @property
    def prefix(self) -> str:
        """Every AWS name of the stack starts with it (infra/stack.py): ``prodline-<env>``."""
        return names.prefix(self.environment)

    @property
    def endpoint_name(self) -> str:
        return f"{self.prefix}-churn"

    @property
    def model_package_group(self) -> str:
        return f"{self.prefix}-churn"


def load_settings(stack: str, overrides: Iterable[str] = ()) -> DeliverySettings:
    """The stack's delivery settings; raises infra.config.ConfigError or StackFileError naming the problem."""
    from infra.config import parse_config
    from prodline.stack_files import load

    config = parse_config(load(stack, overrides), stack)
    return DeliverySettings(
        stack=stack,
        environment=config.environment,
        region=config.region,
        promote_to=_setting(config, "deliveryPromoteTo", ""),
        require_approval=bool(_setting(config, "deliveryRequireApproval", config.environment == "prod"))
        or approval_forced(),
        smoke_rows=int(_setting(config, "smokeRows", DEFAULT_SMOKE_ROWS)),
        smoke_latency_ms=int(_setting(config, "smokeLatencyMs", DEFAULT_SMOKE_LATENCY_MS)),
        platform=config.serving.platform,
        canary_bake_seconds=config.serving.canary_bake_seconds,
    )


def approval_forced(env: dict[str, str] | None = None) -> bool:
    """True when the environment (the deployer's build) says this stack's deploys need a recorded approval."""
    value = (os.environ if env is None else env).get(REQUIRE_APPROVAL_ENV, "")
    return value.strip().lower() in ("1", "true", "yes")


def _setting(config: Any, key: str, fallback: Any) -> Any:
    """The parsed value of config key ``key``; ``fallback`` while the key is not declared in infra/config.py.

    The fallbacks are the safe choice: no promotion, approval required in prod, the design's smoke bounds.
    """
    from infra.config import KEYS

    declared = KEYS.get(key)
    if declared is None:
        return fallback
    return getattr(getattr(config, declared.concern), declared.attribute)
