"""The demo's versions that must fail, made from the served model: one whose every prediction fails (the canary's
5xx alarm catches it) and one that answers in percent (only the smoke gate's [0, 1] check catches it).

``python -m prodline.sandbox.faulty_models {broken|percent} MODEL_FILE`` rewrites a ``model.joblib`` in place.
The demo runs it as a workload in the sandbox's warm interpreter, where scikit-learn is already imported, so the
demo's own process never imports it (1-1.5 s of its CPU, on the demo's path). The ``serve`` process that hosts
such a version imports this module to unpickle it: it imports nothing of the sandbox.
"""

from __future__ import annotations

import sys
from typing import Any


def broken_transform(frame):
    """The broken version's first step: every prediction fails (HTTP 5xx from the container)."""
    raise RuntimeError("deliberately broken model version")


class PercentScores:
    """A version that answers churn in percent (0-100) instead of a probability: every request succeeds, so
    the canary's latency and 5xx alarms see nothing wrong; the smoke gate's [0, 1] check does."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    def predict_proba(self, frame):
        return self.pipeline.predict_proba(frame) * 100.0


def break_pipeline(pipeline: Any) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("broken", FunctionTransformer(broken_transform)), ("model", pipeline)])


CHANGES = {"broken": break_pipeline, "percent": PercentScores}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in CHANGES:
        print(f"usage: python -m prodline.sandbox.faulty_models {{{'|'.join(CHANGES)}}} MODEL_FILE", file=sys.stderr)
        return 2
    import joblib

    # Run as __main__, this module's classes would be pickled as __main__'s, which no serve process can import:
    # the changes come from the module under its own name.
    from prodline.sandbox.faulty_models import CHANGES as named

    label, path = args
    joblib.dump(named[label](joblib.load(path)), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
