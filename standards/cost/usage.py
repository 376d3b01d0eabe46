"""What a stack is expected to do in a month: the assumptions its cost estimate rests on.

Its own module so the program (``infra/config.py``) can build one without importing the estimator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    """What the stack is expected to do in a month; infra/config.py declares a key for each."""

    requests_per_day: int
    request_ms: int
    data_gb_per_day: float
    log_gb_per_day: float
    api_requests_per_day: int
    etl_run_minutes: int
    training_run_minutes: int
    retrainings_per_month: int

    def as_inputs(self) -> dict[str, float]:
        """camelCase, as a component input carries it (the policy pack reads it back with ``from_inputs``)."""
        return {"requestsPerDay": self.requests_per_day, "requestMs": self.request_ms,
                "dataGbPerDay": self.data_gb_per_day, "logGbPerDay": self.log_gb_per_day,
                "apiRequestsPerDay": self.api_requests_per_day, "etlRunMinutes": self.etl_run_minutes,
                "trainingRunMinutes": self.training_run_minutes, "retrainingsPerMonth": self.retrainings_per_month}

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> Usage:
        keys = cls(0, 0, 0, 0, 0, 0, 0, 0).as_inputs()
        missing = [k for k in keys if not isinstance(inputs.get(k), int | float)]
        if missing:
            raise ValueError(f"usage is missing {', '.join(missing)}")
        return cls(int(inputs["requestsPerDay"]), int(inputs["requestMs"]), float(inputs["dataGbPerDay"]),
                   float(inputs["logGbPerDay"]), int(inputs["apiRequestsPerDay"]), int(inputs["etlRunMinutes"]),
                   int(inputs["trainingRunMinutes"]), int(inputs["retrainingsPerMonth"]))
