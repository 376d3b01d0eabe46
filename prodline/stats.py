"""Percentiles, defined once: the sandbox's alarm telemetry and the benchmarks must agree on what p99 means."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the smallest value with at least ``q`` % of the values at or below it).

    Nearest rank is what CloudWatch reports for ``pNN`` statistics on raw samples; it never interpolates a
    latency nobody saw. ``q`` is in (0, 100]; an empty sequence is an error rather than a silent 0.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile q must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
