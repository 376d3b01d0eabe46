"""Routing: which fleet and which variant answers a request, and the blue/green states an endpoint goes through.

Routing is deterministic (smooth weighted round-robin), not random as in AWS: a 10 % canary gets exactly one
request in ten, so tests and the demo are reproducible. The classes here hold no locks and start no processes;
the gateway guards them with its routing lock and does the starting and stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodline.sandbox.gateway.declared import ConfigSpec
from prodline.sandbox.gateway.errors import ControlError, ValidationError
from prodline.sandbox.gateway.servers import VariantServer

BLUE, GREEN = "blue", "green"


class WeightedRotation:
    """Deterministic weighted choice (nginx's smooth weighted round-robin): exact shares, evenly interleaved.

    Zero weights get nothing; if every weight is zero, all share equally (SageMaker would refuse the config).
    """

    def __init__(self, weights: Mapping[str, float]):
        if not weights:
            raise ValueError("no choices to rotate over")
        positive = {k: float(w) for k, w in weights.items() if w > 0}
        self.weights = positive or dict.fromkeys(weights, 1.0)
        self._total = sum(self.weights.values())
        self._current = dict.fromkeys(self.weights, 0.0)

    def next(self) -> str:
        for key, weight in self.weights.items():
            self._current[key] += weight
        best = max(self._current, key=self._current.__getitem__)
        self._current[best] -= self._total
        return best


class Fleet:
    """The serve processes of one endpoint configuration: what a SageMaker blue/green update calls a fleet."""

    def __init__(self, config: ConfigSpec, servers: list[VariantServer]):
        self.config = config
        self.servers = {s.variant.name: s for s in servers}
        self._rotation = WeightedRotation({s.variant.name: s.variant.weight for s in servers})

    def pick(self, target_variant: str | None) -> VariantServer:
        """The variant the weights choose, or the one the caller targets (X-Amzn-SageMaker-Target-Variant)."""
        if target_variant is None:
            return self.servers[self._rotation.next()]
        if target_variant not in self.servers:
            raise ValidationError(f"Target variant {target_variant} is not a production variant of this "
                                  f"endpoint; its variants are {', '.join(sorted(self.servers))}")
        return self.servers[target_variant]

    def in_flight(self) -> int:
        return sum(s.in_flight for s in self.servers.values())

    def describe(self, role: str) -> dict[str, Any]:
        return {"role": role, "endpoint_config": self.config.name,
                "invocations": sum(s.invocations for s in self.servers.values()),
                "variants": [s.describe() for s in self.servers.values()]}


class EndpointRuntime:
    """One endpoint's fleets and how requests are split between them (callers hold the gateway's lock)."""

    def __init__(self, name: str, blue: Fleet):
        self.name = name
        self.blue = blue
        self.green: Fleet | None = None
        self.canary_percent = 0
        self._split = WeightedRotation({BLUE: 1})

    def begin_canary(self, green: Fleet, percent: int) -> None:
        self.green = green
        self.set_canary(percent)

    def set_canary(self, percent: int) -> None:
        self.canary_percent = percent
        self._split = WeightedRotation({BLUE: 100 - percent, GREEN: percent})

    def route(self, target_variant: str | None) -> tuple[str, Fleet, VariantServer]:
        role = self._split.next() if self.green is not None else BLUE
        fleet = self.green if role == GREEN and self.green is not None else self.blue
        return role, fleet, fleet.pick(target_variant)

    def promote(self) -> Fleet:
        """Green becomes the current fleet; returns the old blue fleet, to be drained and stopped."""
        if self.green is None:
            raise ControlError(409, f"endpoint {self.name} has no deployment in progress to promote")
        old, self.blue, self.green = self.blue, self.green, None
        self.set_canary(0)
        return old

    def rollback(self) -> Fleet | None:
        """Every request from now on goes to blue; returns the green fleet to drain and stop (None: no green)."""
        old, self.green = self.green, None
        self.set_canary(0)
        return old

    def fleets(self) -> list[Fleet]:
        return [self.blue] + ([self.green] if self.green is not None else [])

    def describe(self) -> dict[str, Any]:
        fleets = [self.blue.describe(BLUE)] + ([self.green.describe(GREEN)] if self.green else [])
        routing = {BLUE: 100 - self.canary_percent, GREEN: self.canary_percent} if self.green else {BLUE: 100}
        return {"endpoint_config": self.blue.config.name, "fleets": fleets, "routing_percent": routing,
                "deployment": {"endpoint_config": self.green.config.name, "canary_percent": self.canary_percent}
                if self.green else None}
